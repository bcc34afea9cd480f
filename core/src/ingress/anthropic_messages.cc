// Anthropic Messages API ⇄ unified chat. Request fields follow
// https://docs.anthropic.com/en/api/messages, the stream follows
// https://docs.anthropic.com/en/docs/build-with-claude/streaming, errors
// https://docs.anthropic.com/en/api/errors. Every read of client or upstream JSON goes through
// the non-throwing accessors: bad input becomes a 400, never an exception.
#include "switchyard/ingress/anthropic_messages.h"

#include <algorithm>
#include <string_view>
#include <utility>
#include <vector>

#include "json_access.h"

namespace switchyard::ingress {
namespace {

using namespace detail;

constexpr const char* kApi = "/v1/messages";

ApiError unsupportedHere(const std::string& param, const std::string& why) {
  return unsupported(kApi, param, why);
}

/// image block → an OpenAI image_url part (base64 sources become data URLs).
std::optional<ApiError> imagePart(const Json& block, Json& part) {
  const Json* source = member(block, "source");
  const std::string type = source != nullptr ? stringOr(*source, "type") : "";
  if (type == "base64") {
    const std::string media = stringOr(*source, "media_type");
    const Json* data = member(*source, "data");
    if (media.empty() || data == nullptr || !data->is_string()) {
      return badRequest("an image source of type base64 needs media_type and data",
                        "invalid_messages");
    }
    part = {{"type", "image_url"},
            {"image_url", {{"url", "data:" + media + ";base64," + data->get<std::string>()}}}};
    return std::nullopt;
  }
  if (type == "url") {
    const std::string url = stringOr(*source, "url");
    if (url.empty()) {
      return badRequest("an image source of type url needs a url", "invalid_messages");
    }
    part = {{"type", "image_url"}, {"image_url", {{"url", url}}}};
    return std::nullopt;
  }
  return unsupportedHere("image.source.type",
                         "only base64 and url image sources are translated (not '" + type + "')");
}

/// The text of a tool_result's content: a string or text blocks.
std::optional<ApiError> toolResultText(const Json& block, std::string& text) {
  const Json* content = given(block, "content");
  if (content == nullptr) {
    return std::nullopt;
  }
  if (content->is_string()) {
    text = content->get<std::string>();
    return std::nullopt;
  }
  if (!content->is_array()) {
    return badRequest("tool_result.content must be a string or an array of blocks",
                      "invalid_messages");
  }
  for (const Json& b : *content) {
    const std::string type = stringOr(b, "type");
    if (type != "text") {
      return unsupportedHere(
          "tool_result content of type '" + type + "'",
          "tool results are passed on as text; the unified format has no images in tool messages");
    }
    if (!text.empty()) {
      text += "\n";
    }
    text += stringOr(b, "text");
  }
  return std::nullopt;
}

std::optional<ApiError> userTurn(const Json& content, Json& messages) {
  if (content.is_string()) {
    messages.push_back({{"role", "user"}, {"content", content}});
    return std::nullopt;
  }
  if (!content.is_array()) {
    return badRequest("messages[].content must be a string or an array of content blocks",
                      "invalid_messages");
  }
  // Tool results answer the previous assistant turn, so they come first, as tool messages;
  // the rest of the turn follows as one user message.
  Json parts = Json::array();
  for (const Json& block : content) {
    const std::string type = stringOr(block, "type");
    if (type == "text") {
      parts.push_back({{"type", "text"}, {"text", stringOr(block, "text")}});
    } else if (type == "image") {
      Json part;
      if (auto e = imagePart(block, part)) {
        return e;
      }
      parts.push_back(std::move(part));
    } else if (type == "tool_result") {
      const std::string id = stringOr(block, "tool_use_id");
      if (id.empty()) {
        return badRequest("tool_result blocks need a tool_use_id", "invalid_messages");
      }
      std::string text;
      if (auto e = toolResultText(block, text)) {
        return e;
      }
      const Json* is_error = member(block, "is_error");
      if (is_error != nullptr && is_error->is_boolean() && is_error->get<bool>()) {
        // The unified tool message has no error flag; the model still has to know.
        text = "Error: " + text;
      }
      messages.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", text}});
    } else {
      return unsupportedHere("content block type '" + type + "'",
                             "user turns may hold text, image and tool_result blocks");
    }
  }
  if (!parts.empty()) {
    // A single text block is sent as a plain string, which every provider accepts.
    if (parts.size() == 1 && parts[0]["type"] == "text") {
      messages.push_back({{"role", "user"}, {"content", parts[0]["text"]}});
    } else {
      messages.push_back({{"role", "user"}, {"content", std::move(parts)}});
    }
  }
  return std::nullopt;
}

std::optional<ApiError> assistantTurn(const Json& content, Json& messages) {
  if (content.is_string()) {
    messages.push_back({{"role", "assistant"}, {"content", content}});
    return std::nullopt;
  }
  if (!content.is_array()) {
    return badRequest("messages[].content must be a string or an array of content blocks",
                      "invalid_messages");
  }
  std::string text;
  Json calls = Json::array();
  for (const Json& block : content) {
    const std::string type = stringOr(block, "type");
    if (type == "text") {
      text += stringOr(block, "text");
    } else if (type == "tool_use") {
      const std::string id = stringOr(block, "id");
      const std::string name = stringOr(block, "name");
      if (id.empty() || name.empty()) {
        return badRequest("tool_use blocks need an id and a name", "invalid_messages");
      }
      const Json* input = member(block, "input");
      calls.push_back(
          {{"id", id},
           {"type", "function"},
           {"function", {{"name", name}, {"arguments", input != nullptr ? dump(*input) : "{}"}}}});
    } else if (type == "thinking" || type == "redacted_thinking") {
      // Earlier turns' reasoning: thinking is not requested through this ingress (see
      // "thinking" below), so there is nothing for a model to continue from.
      continue;
    } else {
      return unsupportedHere("content block type '" + type + "'",
                             "assistant turns may hold text and tool_use blocks");
    }
  }
  Json m = {{"role", "assistant"},
            {"content", text.empty() && !calls.empty() ? Json() : Json(text)}};
  if (!calls.empty()) {
    m["tool_calls"] = std::move(calls);
  }
  messages.push_back(std::move(m));
  return std::nullopt;
}

std::optional<ApiError> systemMessages(const Json& system, Json& messages) {
  if (system.is_string()) {
    messages.push_back({{"role", "system"}, {"content", system}});
    return std::nullopt;
  }
  if (!system.is_array()) {
    return badRequest("'system' must be a string or an array of text blocks", "invalid_type");
  }
  // One system message per block: the anthropic provider turns them back into the same blocks.
  for (const Json& block : system) {
    if (stringOr(block, "type") != "text") {
      return badRequest("'system' blocks must be text blocks", "invalid_type");
    }
    messages.push_back({{"role", "system"}, {"content", stringOr(block, "text")}});
  }
  return std::nullopt;
}

std::optional<ApiError> tools(const Json& in, Json& chat) {
  if (!in.is_array()) {
    return badRequest("'tools' must be an array", "invalid_type");
  }
  Json out = Json::array();
  for (const Json& tool : in) {
    const std::string type = stringOr(tool, "type", "custom");
    if (type != "custom") {
      return unsupportedHere("tools[].type '" + type + "'",
                             "Anthropic's server and built-in tools run only on Anthropic's API; "
                             "custom tools are translated");
    }
    const std::string name = stringOr(tool, "name");
    if (name.empty()) {
      return badRequest("tools[].name is required", "invalid_tools");
    }
    Json fn = {{"name", name}};
    if (const Json* d = member(tool, "description"); d != nullptr && d->is_string()) {
      fn["description"] = *d;
    }
    const Json* schema = member(tool, "input_schema");
    if (schema == nullptr || !schema->is_object()) {
      return badRequest("tools[].input_schema is required and must be an object", "invalid_tools");
    }
    fn["parameters"] = *schema;
    out.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  chat["tools"] = std::move(out);
  return std::nullopt;
}

std::optional<ApiError> toolChoice(const Json& in, Json& chat) {
  const std::string type = stringOr(in, "type");
  if (type == "auto") {
    chat["tool_choice"] = "auto";
  } else if (type == "any") {
    chat["tool_choice"] = "required";
  } else if (type == "none") {
    chat["tool_choice"] = "none";
  } else if (type == "tool" && !stringOr(in, "name").empty()) {
    chat["tool_choice"] = {{"type", "function"}, {"function", {{"name", stringOr(in, "name")}}}};
  } else {
    return badRequest(
        "'tool_choice' must be {\"type\":\"auto\"|\"any\"|\"none\"} or "
        "{\"type\":\"tool\",\"name\":…}",
        "invalid_tool_choice");
  }
  const Json* no_parallel = member(in, "disable_parallel_tool_use");
  if (no_parallel != nullptr && no_parallel->is_boolean() && no_parallel->get<bool>() &&
      type != "none") {
    chat["parallel_tool_calls"] = false;
  }
  return std::nullopt;
}

std::string stopReason(const Json& finish) {
  const std::string f = finish.is_string() ? finish.get<std::string>() : "stop";
  if (f == "length") return "max_tokens";
  if (f == "tool_calls" || f == "function_call") return "tool_use";
  if (f == "content_filter") return "refusal";
  return "end_turn";
}

Json anthropicUsage(const Json& unified) {
  const UnifiedUsage u = UnifiedUsage::of(unified);
  // OpenAI's prompt_tokens include cached input; Anthropic's input_tokens do not.
  const int64_t input = std::max<int64_t>(0, u.prompt - u.cached - u.cache_creation);
  return {{"input_tokens", input},
          {"cache_creation_input_tokens", u.cache_creation},
          {"cache_read_input_tokens", u.cached},
          {"output_tokens", u.completion}};
}

Json toolInput(const std::string& arguments) {
  Json input = Json::parse(arguments, nullptr, false);
  // Anthropic's input is always an object; a model's malformed arguments are kept, not lost.
  if (input.is_discarded() || !input.is_object()) {
    return arguments.find_first_not_of(" \t\r\n") == std::string::npos
               ? Json::object()
               : Json{{"_raw_arguments", arguments}};
  }
  return input;
}

}  // namespace

std::optional<ApiError> anthropicRequestToChat(const Json& in, Json& chat) {
  if (!in.is_object()) {
    return badRequest("The request body must be a JSON object", "invalid_json");
  }
  static constexpr std::string_view kKnown[] = {"model",
                                                "messages",
                                                "max_tokens",
                                                "system",
                                                "stop_sequences",
                                                "temperature",
                                                "top_p",
                                                "top_k",
                                                "stream",
                                                "metadata",
                                                "tools",
                                                "tool_choice",
                                                "thinking",
                                                "service_tier",
                                                "container",
                                                "mcp_servers",
                                                "context_management"};
  if (auto key = unknownKey(in, kKnown)) {
    return unsupportedHere(*key, "the parameter is not part of the translated Messages API");
  }
  for (const char* key : {"container", "mcp_servers", "context_management"}) {
    if (given(in, key) != nullptr) {
      return unsupportedHere(key, "it needs Anthropic's own API; use a native client");
    }
  }
  if (const Json* thinking = given(in, "thinking");
      thinking != nullptr && stringOr(*thinking, "type") != "disabled") {
    return unsupportedHere("thinking",
                           "extended thinking has no counterpart in the unified chat format");
  }
  const std::string model = stringOr(in, "model");
  if (model.empty()) {
    return badRequest("model: Field required", "missing_model");
  }
  chat = Json::object();
  chat["model"] = model;
  const Json* max_tokens = member(in, "max_tokens");
  if (max_tokens == nullptr || !max_tokens->is_number_integer() || max_tokens->get<int64_t>() < 1) {
    return badRequest("max_tokens: Field required and must be a positive integer",
                      "invalid_max_tokens");
  }

  Json messages = Json::array();
  if (const Json* system = given(in, "system")) {
    if (auto e = systemMessages(*system, messages)) {
      return e;
    }
  }
  const Json* turns = member(in, "messages");
  if (turns == nullptr || !turns->is_array() || turns->empty()) {
    return badRequest("messages: Field required and must be a non-empty array", "invalid_messages");
  }
  for (const Json& turn : *turns) {
    const std::string role = stringOr(turn, "role");
    const Json* content = member(turn, "content");
    if (content == nullptr) {
      return badRequest("messages[].content is required", "invalid_messages");
    }
    std::optional<ApiError> e;
    if (role == "user") {
      e = userTurn(*content, messages);
    } else if (role == "assistant") {
      e = assistantTurn(*content, messages);
    } else {
      e = badRequest("messages[].role must be \"user\" or \"assistant\"", "invalid_messages");
    }
    if (e) {
      return e;
    }
  }
  chat["messages"] = std::move(messages);
  chat["max_tokens"] = *max_tokens;

  if (const Json* t = given(in, "tools")) {
    if (auto e = tools(*t, chat)) {
      return e;
    }
  }
  if (const Json* c = given(in, "tool_choice")) {
    if (auto e = toolChoice(*c, chat)) {
      return e;
    }
  }
  if (const Json* stop = given(in, "stop_sequences")) {
    if (!stop->is_array()) {
      return badRequest("'stop_sequences' must be an array of strings", "invalid_type");
    }
    for (const Json& s : *stop) {
      if (!s.is_string()) {
        return badRequest("'stop_sequences' must be an array of strings", "invalid_type");
      }
    }
    if (!stop->empty()) {
      chat["stop"] = *stop;
    }
  }
  if (auto e = copySampling(in, chat)) {
    return e;
  }
  if (const Json* k = given(in, "top_k")) {
    if (!k->is_number_integer() || k->get<int64_t>() < 1) {
      return badRequest("'top_k' must be a positive integer", "invalid_type");
    }
    // Not an OpenAI parameter: passed on by name, so a provider either maps it (anthropic),
    // forwards it (OpenAI-compatible servers that know it) or refuses it with a 400 naming it.
    chat["top_k"] = *k;
  }
  if (const Json* metadata = given(in, "metadata")) {
    if (const Json* user = given(*metadata, "user_id"); user != nullptr && user->is_string()) {
      chat["user"] = *user;
    }
  }
  if (auto e = copyStream(in, chat)) {
    return e;
  }
  return std::nullopt;
}

Json chatToAnthropicMessage(const Json& completion, const std::string& model) {
  const Json& choice = firstChoice(completion);
  const Json* message = member(choice, "message");
  Json content = Json::array();
  if (message != nullptr) {
    std::string text = stringOr(*message, "content");
    if (text.empty()) {
      text = stringOr(*message, "refusal");
    }
    if (!text.empty()) {
      content.push_back({{"type", "text"}, {"text", text}});
    }
    if (const Json* calls = member(*message, "tool_calls"); calls != nullptr && calls->is_array()) {
      for (const Json& call : *calls) {
        const Json* fn = member(call, "function");
        content.push_back({{"type", "tool_use"},
                           {"id", prefixedId("toolu_", stringOr(call, "id"))},
                           {"name", fn != nullptr ? stringOr(*fn, "name") : ""},
                           {"input", toolInput(fn != nullptr ? stringOr(*fn, "arguments") : "")}});
      }
    }
  }
  const Json* finish = member(choice, "finish_reason");
  const Json* usage = member(completion, "usage");
  return {{"id", prefixedId("msg_", stringOr(completion, "id"))},
          {"type", "message"},
          {"role", "assistant"},
          {"model", model.empty() ? stringOr(completion, "model") : model},
          {"content", std::move(content)},
          {"stop_reason", stopReason(finish != nullptr ? *finish : Json())},
          {"stop_sequence", nullptr},
          {"usage", anthropicUsage(usage != nullptr ? *usage : Json())}};
}

int anthropicErrorStatus(const ApiError& error) {
  return error.status;
}

std::string anthropicErrorBody(const ApiError& error) {
  // An Anthropic upstream's own type says more than its status. invalid_request_error is not
  // among them: OpenAI-shaped errors use it for every 4xx (a 404 is still not_found_error).
  static constexpr std::string_view kAnthropicTypes[] = {
      "authentication_error", "billing_error",    "permission_error", "not_found_error",
      "request_too_large",    "rate_limit_error", "api_error",        "timeout_error",
      "overloaded_error"};
  std::string type;
  for (std::string_view t : kAnthropicTypes) {
    if (error.type == t) {
      type = t;  // already one of Anthropic's (a provider error passed through)
    }
  }
  switch (type.empty() ? error.status : 0) {
    case 0:
      break;
    case 400:
      type = "invalid_request_error";
      break;
    case 401:
      type = "authentication_error";
      break;
    case 402:
      type = "billing_error";
      break;
    case 403:
      type = "permission_error";
      break;
    case 404:
      type = "not_found_error";
      break;
    case 413:
      type = "request_too_large";
      break;
    case 429:
      type = "rate_limit_error";
      break;
    case 504:
      type = "timeout_error";
      break;
    case 503:
    case 529:
      type = "overloaded_error";
      break;
    default:
      type = error.status >= 500 ? "api_error" : "invalid_request_error";
  }
  return dump(Json{{"type", "error"}, {"error", {{"type", type}, {"message", error.message}}}});
}

// --- stream ---------------------------------------------------------------------------------

void AnthropicStreamEncoder::start(const Json& chunk, std::string& out) {
  started_ = true;
  const Json* usage = member(chunk, "usage");
  Json u = anthropicUsage(usage != nullptr ? *usage : Json());
  u["output_tokens"] = 0;
  appendEvent(out, "message_start",
              {{"type", "message_start"},
               {"message",
                {{"id", prefixedId("msg_", stringOr(chunk, "id"))},
                 {"type", "message"},
                 {"role", "assistant"},
                 {"model", model_.empty() ? stringOr(chunk, "model") : model_},
                 {"content", Json::array()},
                 {"stop_reason", nullptr},
                 {"stop_sequence", nullptr},
                 {"usage", std::move(u)}}}});
}

void AnthropicStreamEncoder::closeBlock(std::string& out) {
  if (open_block_ >= 0) {
    appendEvent(out, "content_block_stop",
                {{"type", "content_block_stop"}, {"index", open_block_}});
    open_block_ = -1;
  }
}

void AnthropicStreamEncoder::openBlock(Json block, std::string& out) {
  closeBlock(out);
  open_block_ = next_block_++;
  open_is_text_ = block["type"] == "text";
  appendEvent(out, "content_block_start",
              {{"type", "content_block_start"},
               {"index", open_block_},
               {"content_block", std::move(block)}});
}

std::string AnthropicStreamEncoder::chunk(const Json& chunk) {
  std::string out;
  if (finished_) {
    return out;
  }
  if (!started_) {
    start(chunk, out);
  }
  if (const Json* usage = given(chunk, "usage")) {
    usage_ = *usage;
  }
  const Json& choice = firstChoice(chunk);
  const Json* delta = member(choice, "delta");
  if (delta != nullptr) {
    std::string text = stringOr(*delta, "content");
    if (text.empty()) {
      text = stringOr(*delta, "refusal");
    }
    if (!text.empty()) {
      if (open_block_ < 0 || !open_is_text_) {
        openBlock({{"type", "text"}, {"text", ""}}, out);
      }
      appendEvent(out, "content_block_delta",
                  {{"type", "content_block_delta"},
                   {"index", open_block_},
                   {"delta", {{"type", "text_delta"}, {"text", text}}}});
    }
    if (const Json* calls = member(*delta, "tool_calls"); calls != nullptr && calls->is_array()) {
      for (const Json& call : *calls) {
        const int64_t index = intOr(call, "index", 0);
        const Json* fn = member(call, "function");
        auto block = tool_blocks_.find(index);
        if (block == tool_blocks_.end()) {
          openBlock({{"type", "tool_use"},
                     {"id", prefixedId("toolu_", stringOr(call, "id"))},
                     {"name", fn != nullptr ? stringOr(*fn, "name") : ""},
                     {"input", Json::object()}},
                    out);
          block = tool_blocks_.emplace(index, open_block_).first;
        }
        const std::string args = fn != nullptr ? stringOr(*fn, "arguments") : "";
        if (!args.empty()) {
          // Unified streams send one call's arguments before the next call starts; a late
          // fragment still names its own block, which is how Anthropic's SDKs assemble input.
          appendEvent(out, "content_block_delta",
                      {{"type", "content_block_delta"},
                       {"index", block->second},
                       {"delta", {{"type", "input_json_delta"}, {"partial_json", args}}}});
        }
      }
    }
  }
  if (const Json* finish = given(choice, "finish_reason")) {
    closeBlock(out);
    stop_reason_ = stopReason(*finish);
  }
  return out;
}

std::string AnthropicStreamEncoder::done() {
  std::string out;
  if (finished_) {
    return out;
  }
  if (!started_) {
    start(Json::object(), out);
  }
  closeBlock(out);
  finished_ = true;
  appendEvent(out, "message_delta",
              {{"type", "message_delta"},
               {"delta", {{"stop_reason", stop_reason_}, {"stop_sequence", nullptr}}},
               {"usage", anthropicUsage(usage_)}});
  appendEvent(out, "message_stop", {{"type", "message_stop"}});
  return out;
}

std::string AnthropicStreamEncoder::error(const ApiError& error) {
  finished_ = true;
  return "event: error\ndata: " + anthropicErrorBody(error) + "\n\n";
}

// --- adapter --------------------------------------------------------------------------------

std::optional<ApiError> AnthropicMessagesAdapter::toUnified(std::string_view body,
                                                            std::string& unified) {
  const Json in = Json::parse(body, nullptr, false);
  if (in.is_discarded()) {
    return badRequest("The request body is not valid JSON", "invalid_json");
  }
  Json chat;
  if (auto e = anthropicRequestToChat(in, chat)) {
    return e;
  }
  model_ = stringOr(chat, "model");
  unified = dump(chat);
  return std::nullopt;
}

void AnthropicMessagesAdapter::answer(int& status, std::string& body) {
  if (status >= 200 && status < 300) {
    const Json completion = Json::parse(body, nullptr, false);
    if (!completion.is_discarded() && completion.is_object()) {
      body = dump(chatToAnthropicMessage(completion, model_));
      return;
    }
    status = 502;
    body = anthropicErrorBody(
        ApiError::upstream(502, "bad_upstream_response", "The provider's answer was not JSON"));
    return;
  }
  const ApiError e = parseOpenAiError(status, body);
  status = anthropicErrorStatus(e);
  body = anthropicErrorBody(e);
}

}  // namespace switchyard::ingress
