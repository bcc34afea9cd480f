// OpenAI Responses API ⇄ unified chat, following
// https://platform.openai.com/docs/api-reference/responses and its streaming events. The gateway
// keeps no response state, so everything that refers to a stored response or runs a hosted tool is
// refused with a 400 naming it.
#include "switchyard/ingress/openai_responses.h"

#include <chrono>
#include <string_view>
#include <utility>

#include "json_access.h"

namespace switchyard::ingress {
namespace {

using namespace detail;

constexpr const char* kApi = "/v1/responses";

ApiError unsupportedHere(const std::string& param, const std::string& why) {
  return unsupported(kApi, param, why);
}

/// Text of a string or of an array of text parts (input_text, output_text, text).
std::optional<ApiError> joinedText(const Json& content, std::string& text, const char* where) {
  if (content.is_string()) {
    text = content.get<std::string>();
    return std::nullopt;
  }
  if (!content.is_array()) {
    return badRequest(std::string(where) + " must be a string or an array of parts",
                      "invalid_input");
  }
  for (const Json& part : content) {
    const std::string type = stringOr(part, "type");
    if (type == "input_text" || type == "output_text" || type == "text") {
      text += stringOr(part, "text");
    } else if (type == "refusal") {
      text += stringOr(part, "refusal");
    } else {
      return unsupportedHere(std::string(where) + " part type '" + type + "'",
                             "only text parts are translated here");
    }
  }
  return std::nullopt;
}

std::optional<ApiError> userContent(const Json& content, Json& out) {
  if (content.is_string()) {
    out = content;
    return std::nullopt;
  }
  if (!content.is_array()) {
    return badRequest("input[].content must be a string or an array of parts", "invalid_input");
  }
  out = Json::array();
  for (const Json& part : content) {
    const std::string type = stringOr(part, "type");
    if (type == "input_text") {
      out.push_back({{"type", "text"}, {"text", stringOr(part, "text")}});
    } else if (type == "input_image") {
      const std::string url = stringOr(part, "image_url");
      if (url.empty()) {
        return unsupportedHere("input_image without image_url",
                               "file_id images need OpenAI's file store");
      }
      Json image = {{"url", url}};
      if (const Json* detail = given(part, "detail"); detail != nullptr && detail->is_string()) {
        image["detail"] = *detail;
      }
      out.push_back({{"type", "image_url"}, {"image_url", std::move(image)}});
    } else {
      return unsupportedHere("input[].content part type '" + type + "'",
                             "input_text and input_image are translated");
    }
  }
  return std::nullopt;
}

/// An assistant message to add tool calls to: the last message when it is the assistant's.
Json& assistantFor(Json& messages) {
  if (messages.empty() || messages.back()["role"] != "assistant") {
    messages.push_back({{"role", "assistant"}, {"content", nullptr}});
  }
  return messages.back();
}

std::optional<ApiError> inputItems(const Json& input, Json& messages) {
  if (input.is_string()) {
    messages.push_back({{"role", "user"}, {"content", input}});
    return std::nullopt;
  }
  if (!input.is_array()) {
    return badRequest("'input' must be a string or an array of items", "invalid_input");
  }
  for (const Json& item : input) {
    const std::string type =
        stringOr(item, "type", member(item, "role") != nullptr ? "message" : "");
    if (type == "message") {
      const std::string role = stringOr(item, "role");
      const Json* content = member(item, "content");
      if (content == nullptr) {
        return badRequest("input[].content is required for message items", "invalid_input");
      }
      if (role == "user") {
        Json c;
        if (auto e = userContent(*content, c)) {
          return e;
        }
        messages.push_back({{"role", "user"}, {"content", std::move(c)}});
      } else if (role == "system" || role == "developer" || role == "assistant") {
        std::string text;
        if (auto e = joinedText(*content, text, "input[].content")) {
          return e;
        }
        // "developer" is OpenAI's newer name for system; not every provider knows it.
        messages.push_back(
            {{"role", role == "assistant" ? "assistant" : "system"}, {"content", text}});
      } else {
        return badRequest("input[].role must be user, assistant, system or developer",
                          "invalid_input");
      }
    } else if (type == "function_call") {
      const std::string call_id = stringOr(item, "call_id");
      const std::string name = stringOr(item, "name");
      if (call_id.empty() || name.empty()) {
        return badRequest("function_call items need call_id and name", "invalid_input");
      }
      Json& assistant = assistantFor(messages);
      if (!assistant.contains("tool_calls")) {
        assistant["tool_calls"] = Json::array();
      }
      assistant["tool_calls"].push_back(
          {{"id", call_id},
           {"type", "function"},
           {"function", {{"name", name}, {"arguments", stringOr(item, "arguments", "{}")}}}});
    } else if (type == "function_call_output") {
      const std::string call_id = stringOr(item, "call_id");
      const Json* output = member(item, "output");
      if (call_id.empty() || output == nullptr) {
        return badRequest("function_call_output items need call_id and output", "invalid_input");
      }
      std::string text;
      if (auto e = joinedText(*output, text, "function_call_output.output")) {
        return e;
      }
      messages.push_back({{"role", "tool"}, {"tool_call_id", call_id}, {"content", text}});
    } else if (type == "reasoning") {
      continue;  // a reasoning model's own earlier state; the unified format has no place for it
    } else {
      return unsupportedHere(
          "input item type '" + type + "'",
          "message, function_call and function_call_output items are translated; "
          "the gateway stores no items to reference");
    }
  }
  return std::nullopt;
}

std::optional<ApiError> tools(const Json& in, Json& chat) {
  if (!in.is_array()) {
    return badRequest("'tools' must be an array", "invalid_type");
  }
  Json out = Json::array();
  for (const Json& tool : in) {
    const std::string type = stringOr(tool, "type");
    if (type != "function") {
      return unsupportedHere(
          "tools[].type '" + type + "'",
          "built-in tools (web_search, file_search, code_interpreter, …) run only on OpenAI; "
          "function tools are translated");
    }
    const std::string name = stringOr(tool, "name");
    if (name.empty()) {
      return badRequest("tools[].name is required", "invalid_tools");
    }
    Json fn = {{"name", name}};
    for (const char* key : {"description", "parameters", "strict"}) {
      if (const Json* v = given(tool, key)) {
        fn[key] = *v;
      }
    }
    out.push_back({{"type", "function"}, {"function", std::move(fn)}});
  }
  chat["tools"] = std::move(out);
  return std::nullopt;
}

std::optional<ApiError> toolChoice(const Json& in, Json& chat) {
  if (in.is_string() && (in == "auto" || in == "none" || in == "required")) {
    chat["tool_choice"] = in;
    return std::nullopt;
  }
  if (stringOr(in, "type") == "function" && !stringOr(in, "name").empty()) {
    chat["tool_choice"] = {{"type", "function"}, {"function", {{"name", stringOr(in, "name")}}}};
    return std::nullopt;
  }
  return badRequest(
      "'tool_choice' must be \"auto\", \"none\", \"required\" or "
      "{\"type\":\"function\",\"name\":…}",
      "invalid_tool_choice");
}

std::optional<ApiError> textFormat(const Json& text, Json& chat) {
  for (const auto& [key, value] : text.items()) {
    if (key != "format" && !value.is_null()) {
      return unsupportedHere("text." + key, "only text.format is translated");
    }
  }
  const Json* format = given(text, "format");
  if (format == nullptr) {
    return std::nullopt;
  }
  const std::string type = stringOr(*format, "type");
  if (type == "text") {
    return std::nullopt;
  }
  if (type == "json_object") {
    chat["response_format"] = {{"type", "json_object"}};
    return std::nullopt;
  }
  if (type == "json_schema") {
    Json schema = Json::object();
    for (const char* key : {"name", "description", "schema", "strict"}) {
      if (const Json* v = given(*format, key)) {
        schema[key] = *v;
      }
    }
    chat["response_format"] = {{"type", "json_schema"}, {"json_schema", std::move(schema)}};
    return std::nullopt;
  }
  return badRequest("text.format.type must be text, json_object or json_schema", "invalid_type");
}

Json responsesUsage(const Json& unified) {
  const UnifiedUsage u = UnifiedUsage::of(unified);
  return {{"input_tokens", u.prompt},
          {"input_tokens_details", {{"cached_tokens", u.cached}}},
          {"output_tokens", u.completion},
          {"output_tokens_details", {{"reasoning_tokens", u.reasoning}}},
          {"total_tokens", u.prompt + u.completion}};
}

/// The id of an output item made from a unified one (tool call ids become fc_…).
std::string itemId(const char* prefix, const std::string& from) {
  std::string id = from;
  if (id.rfind("call_", 0) == 0) {
    id.erase(0, 5);
  }
  return prefixedId(prefix, id);
}

Json messageItem(const std::string& id, const std::string& text, bool refusal, const char* status) {
  Json part = refusal
                  ? Json{{"type", "refusal"}, {"refusal", text}}
                  : Json{{"type", "output_text"}, {"text", text}, {"annotations", Json::array()}};
  return {{"id", id},
          {"type", "message"},
          {"status", status},
          {"role", "assistant"},
          {"content", Json::array({part})}};
}

/// The response object around `output`, with the request's echoed parameters.
Json responseObject(const std::string& id, int64_t created_at, const char* status,
                    const std::string& finish, const Json& echo, Json output, const Json& usage) {
  Json r = {{"id", id},
            {"object", "response"},
            {"created_at", created_at},
            {"status", status},
            {"error", nullptr}};
  Json incomplete = nullptr;
  if (std::string_view(status) == "incomplete") {
    incomplete = {{"reason", finish == "length" ? "max_output_tokens" : "content_filter"}};
  }
  r["incomplete_details"] = std::move(incomplete);
  for (const auto& [key, value] : echo.items()) {
    r[key] = value;
  }
  r["output"] = std::move(output);
  r["usage"] = usage.is_null() ? Json(nullptr) : responsesUsage(usage);
  return r;
}

const char* statusFor(const std::string& finish) {
  return finish == "length" || finish == "content_filter" ? "incomplete" : "completed";
}

int64_t nowSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::optional<ApiError> responsesRequestToChat(const Json& in, Json& chat, Json& echo) {
  if (!in.is_object()) {
    return badRequest("The request body must be a JSON object", "invalid_json");
  }
  static constexpr std::string_view kKnown[] = {"model",
                                                "input",
                                                "instructions",
                                                "tools",
                                                "tool_choice",
                                                "max_output_tokens",
                                                "temperature",
                                                "top_p",
                                                "stream",
                                                "parallel_tool_calls",
                                                "user",
                                                "metadata",
                                                "store",
                                                "previous_response_id",
                                                "conversation",
                                                "background",
                                                "include",
                                                "reasoning",
                                                "text",
                                                "truncation",
                                                "service_tier",
                                                "prompt_cache_key",
                                                "safety_identifier",
                                                "max_tool_calls",
                                                "top_logprobs",
                                                "stream_options",
                                                "prompt"};
  if (auto key = unknownKey(in, kKnown)) {
    return unsupportedHere(*key, "the parameter is not part of the translated Responses API");
  }
  for (const char* key : {"previous_response_id", "conversation", "prompt"}) {
    if (given(in, key) != nullptr) {
      return unsupportedHere(key,
                             "the gateway keeps no stored responses, conversations or prompts; "
                             "send the whole conversation in 'input'");
    }
  }
  if (const Json* store = given(in, "store");
      store != nullptr && !(store->is_boolean() && !store->get<bool>())) {
    return unsupportedHere(
        "store", "responses are not stored by the gateway; send \"store\": false or omit it");
  }
  if (const Json* bg = given(in, "background");
      bg != nullptr && !(bg->is_boolean() && !bg->get<bool>())) {
    return unsupportedHere("background", "background responses need stored state");
  }
  if (const Json* include = given(in, "include");
      include != nullptr && !(include->is_array() && include->empty())) {
    return unsupportedHere(
        "include", "the extra output data it asks for does not exist in the unified format");
  }
  if (const Json* t = given(in, "truncation"); t != nullptr && *t != "disabled") {
    return unsupportedHere("truncation", "only \"disabled\" is possible without stored context");
  }
  if (given(in, "max_tool_calls") != nullptr) {
    return unsupportedHere("max_tool_calls", "it limits hosted tools, which are not translated");
  }
  if (const Json* lp = given(in, "top_logprobs"); lp != nullptr && *lp != 0) {
    return unsupportedHere("top_logprobs", "log probabilities are not translated");
  }
  const std::string model = stringOr(in, "model");
  if (model.empty()) {
    return badRequest("You must provide a model parameter", "missing_model");
  }
  chat = Json::object();
  chat["model"] = model;
  echo = Json::object();
  echo["model"] = model;

  Json messages = Json::array();
  if (const Json* instructions = given(in, "instructions")) {
    if (!instructions->is_string()) {
      return badRequest("'instructions' must be a string", "invalid_type");
    }
    messages.push_back({{"role", "system"}, {"content", *instructions}});
  }
  const Json* input = given(in, "input");
  if (input == nullptr) {
    return badRequest("You must provide an input parameter", "missing_input");
  }
  if (auto e = inputItems(*input, messages)) {
    return e;
  }
  if (messages.empty() || (messages.size() == 1 && given(in, "instructions") != nullptr)) {
    return badRequest("'input' must contain at least one item", "invalid_input");
  }
  chat["messages"] = std::move(messages);

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
  if (const Json* p = given(in, "parallel_tool_calls")) {
    if (!p->is_boolean()) {
      return badRequest("'parallel_tool_calls' must be a boolean", "invalid_type");
    }
    chat["parallel_tool_calls"] = *p;
  }
  if (const Json* m = given(in, "max_output_tokens")) {
    if (!m->is_number_integer() || m->get<int64_t>() < 1) {
      return badRequest("'max_output_tokens' must be a positive integer", "invalid_type");
    }
    chat["max_tokens"] = *m;
  }
  if (auto e = copySampling(in, chat)) {
    return e;
  }
  if (const Json* r = given(in, "reasoning")) {
    for (const auto& [key, value] : r->items()) {
      if (key != "effort" && !value.is_null()) {
        return unsupportedHere("reasoning." + key,
                               "only reasoning.effort is translated (to reasoning_effort)");
      }
    }
    if (const Json* effort = given(*r, "effort")) {
      chat["reasoning_effort"] = *effort;
    }
  }
  if (const Json* text = given(in, "text")) {
    if (auto e = textFormat(*text, chat)) {
      return e;
    }
  }
  if (const Json* tier = given(in, "service_tier")) {
    chat["service_tier"] = *tier;
  }
  const Json* user = given(in, "user");
  if (user == nullptr) {
    user = given(in, "safety_identifier");
  }
  if (user != nullptr) {
    chat["user"] = *user;
  }
  if (auto e = copyStream(in, chat)) {
    return e;
  }

  // What a response object repeats from its request (prompt_cache_key is only a cache
  // routing hint and changes no output, so it is accepted and not forwarded).
  echo["instructions"] = in.contains("instructions") ? in["instructions"] : Json(nullptr);
  echo["max_output_tokens"] =
      in.contains("max_output_tokens") ? in["max_output_tokens"] : Json(nullptr);
  echo["parallel_tool_calls"] =
      in.contains("parallel_tool_calls") ? in["parallel_tool_calls"] : Json(true);
  echo["previous_response_id"] = nullptr;
  echo["store"] = false;
  echo["temperature"] = in.contains("temperature") ? in["temperature"] : Json(nullptr);
  echo["tool_choice"] = in.contains("tool_choice") ? in["tool_choice"] : Json("auto");
  echo["tools"] = in.contains("tools") && in["tools"].is_array() ? in["tools"] : Json::array();
  echo["top_p"] = in.contains("top_p") ? in["top_p"] : Json(nullptr);
  echo["truncation"] = "disabled";
  echo["metadata"] =
      in.contains("metadata") && in["metadata"].is_object() ? in["metadata"] : Json::object();
  return std::nullopt;
}

Json chatToResponse(const Json& completion, const Json& echo, int64_t created_at) {
  const Json& choice = firstChoice(completion);
  const Json* message = member(choice, "message");
  Json output = Json::array();
  const std::string base = stringOr(completion, "id");
  if (message != nullptr) {
    const std::string text = stringOr(*message, "content");
    const std::string refusal = stringOr(*message, "refusal");
    if (!text.empty() || !refusal.empty()) {
      output.push_back(messageItem(prefixedId("msg_", base), text.empty() ? refusal : text,
                                   text.empty(), "completed"));
    }
    if (const Json* calls = member(*message, "tool_calls"); calls != nullptr && calls->is_array()) {
      for (const Json& call : *calls) {
        const Json* fn = member(call, "function");
        const std::string call_id = stringOr(call, "id");
        output.push_back({{"id", itemId("fc_", call_id)},
                          {"type", "function_call"},
                          {"status", "completed"},
                          {"arguments", fn != nullptr ? stringOr(*fn, "arguments") : ""},
                          {"call_id", call_id},
                          {"name", fn != nullptr ? stringOr(*fn, "name") : ""}});
      }
    }
  }
  const std::string finish = stringOr(choice, "finish_reason", "stop");
  const Json* usage = member(completion, "usage");
  return responseObject(prefixedId("resp_", base), created_at, statusFor(finish), finish, echo,
                        std::move(output), usage != nullptr ? *usage : Json());
}

// --- stream ---------------------------------------------------------------------------------

void ResponsesStreamEncoder::emit(std::string& out, const char* type, Json event) {
  Json e = {{"type", type}};
  for (auto& [key, value] : event.items()) {
    e[key] = std::move(value);
  }
  e["sequence_number"] = seq_++;
  appendEvent(out, type, e);
}

Json ResponsesStreamEncoder::response(const char* status) const {
  return responseObject(id_, created_at_, status, finish_, echo_, output_, usage_);
}

void ResponsesStreamEncoder::closeItem(std::string& out) {
  if (open_item_ < 0) {
    return;
  }
  Json& item = output_[static_cast<size_t>(open_item_)];
  item["status"] = "completed";
  const std::string id = item["id"].get<std::string>();
  if (item["type"] == "message") {
    Json& part = item["content"][0];
    emit(out, "response.output_text.done",
         {{"item_id", id},
          {"output_index", open_item_},
          {"content_index", 0},
          {"text", part["text"]},
          {"logprobs", Json::array()}});
    emit(out, "response.content_part.done",
         {{"item_id", id}, {"output_index", open_item_}, {"content_index", 0}, {"part", part}});
  } else {
    emit(out, "response.function_call_arguments.done",
         {{"item_id", id}, {"output_index", open_item_}, {"arguments", item["arguments"]}});
  }
  emit(out, "response.output_item.done", {{"output_index", open_item_}, {"item", item}});
  open_item_ = -1;
}

void ResponsesStreamEncoder::openItem(Json item, std::string& out) {
  closeItem(out);
  open_item_ = static_cast<int>(output_.size());
  output_.push_back(item);
  if (item["type"] == "message") {
    // The item opens empty; its one output_text part is announced on its own.
    Json part = item["content"][0];
    output_.back()["content"] = Json::array({part});
    item["content"] = Json::array();
    emit(out, "response.output_item.added",
         {{"output_index", open_item_}, {"item", std::move(item)}});
    emit(out, "response.content_part.added",
         {{"item_id", output_.back()["id"]},
          {"output_index", open_item_},
          {"content_index", 0},
          {"part", part}});
  } else {
    emit(out, "response.output_item.added",
         {{"output_index", open_item_}, {"item", std::move(item)}});
  }
}

std::string ResponsesStreamEncoder::chunk(const Json& chunk) {
  std::string out;
  if (finished_) {
    return out;
  }
  if (!started_) {
    started_ = true;
    id_ = prefixedId("resp_", stringOr(chunk, "id"));
    emit(out, "response.created", {{"response", response("in_progress")}});
    emit(out, "response.in_progress", {{"response", response("in_progress")}});
  }
  if (const Json* usage = given(chunk, "usage")) {
    usage_ = *usage;
  }
  const Json& choice = firstChoice(chunk);
  if (const Json* delta = member(choice, "delta")) {
    const std::string text = stringOr(*delta, "content");
    if (!text.empty()) {
      if (open_item_ < 0 || output_[static_cast<size_t>(open_item_)]["type"] != "message") {
        openItem(
            messageItem(prefixedId("msg_", id_.substr(5) + "_" + std::to_string(output_.size())),
                        "", false, "in_progress"),
            out);
      }
      Json& part = output_[static_cast<size_t>(open_item_)]["content"][0];
      part["text"] = part["text"].get<std::string>() + text;
      emit(out, "response.output_text.delta",
           {{"item_id", output_[static_cast<size_t>(open_item_)]["id"]},
            {"output_index", open_item_},
            {"content_index", 0},
            {"delta", text},
            {"logprobs", Json::array()}});
    }
    if (const Json* calls = member(*delta, "tool_calls"); calls != nullptr && calls->is_array()) {
      for (const Json& call : *calls) {
        const int64_t index = intOr(call, "index", 0);
        const Json* fn = member(call, "function");
        auto it = tool_items_.find(index);
        if (it == tool_items_.end()) {
          const std::string call_id = stringOr(call, "id");
          openItem({{"id", itemId("fc_", call_id)},
                    {"type", "function_call"},
                    {"status", "in_progress"},
                    {"arguments", ""},
                    {"call_id", call_id},
                    {"name", fn != nullptr ? stringOr(*fn, "name") : ""}},
                   out);
          it = tool_items_.emplace(index, open_item_).first;
        }
        const std::string args = fn != nullptr ? stringOr(*fn, "arguments") : "";
        if (!args.empty()) {
          Json& item = output_[static_cast<size_t>(it->second)];
          item["arguments"] = item["arguments"].get<std::string>() + args;
          emit(out, "response.function_call_arguments.delta",
               {{"item_id", item["id"]}, {"output_index", it->second}, {"delta", args}});
        }
      }
    }
  }
  if (const Json* finish = given(choice, "finish_reason");
      finish != nullptr && finish->is_string()) {
    closeItem(out);
    finish_ = finish->get<std::string>();
  }
  return out;
}

std::string ResponsesStreamEncoder::done() {
  std::string out;
  if (finished_) {
    return out;
  }
  if (!started_) {
    // An empty unified stream still ends like a Responses stream.
    Json empty = Json::object();
    out = chunk(empty);
  }
  closeItem(out);
  finished_ = true;
  const char* status = statusFor(finish_);
  emit(out, std::string_view(status) == "completed" ? "response.completed" : "response.incomplete",
       {{"response", response(status)}});
  return out;
}

std::string ResponsesStreamEncoder::error(const ApiError& error) {
  std::string out;
  if (finished_) {
    return out;
  }
  finished_ = true;
  const std::string code = error.code.empty() ? error.type : error.code;
  emit(out, "error", {{"code", code}, {"message", error.message}, {"param", nullptr}});
  Json failed = response("failed");
  failed["error"] = {{"code", code}, {"message", error.message}};
  emit(out, "response.failed", {{"response", std::move(failed)}});
  return out;
}

// --- adapter --------------------------------------------------------------------------------

std::optional<ApiError> OpenAiResponsesAdapter::toUnified(std::string_view body,
                                                          std::string& unified) {
  const Json in = Json::parse(body, nullptr, false);
  if (in.is_discarded()) {
    return badRequest("The request body is not valid JSON", "invalid_json");
  }
  Json chat;
  if (auto e = responsesRequestToChat(in, chat, echo_)) {
    return e;
  }
  unified = dump(chat);
  return std::nullopt;
}

void OpenAiResponsesAdapter::answer(int& status, std::string& body) {
  if (status < 200 || status >= 300) {
    return;  // gateway and provider errors are already OpenAI's shape
  }
  if (const auto completion = parseCompletion(status, body)) {
    body = dump(chatToResponse(*completion, echo_, nowSeconds()));
  }
}

StreamEncoderPtr OpenAiResponsesAdapter::streamEncoder() {
  return std::make_unique<ResponsesStreamEncoder>(echo_, nowSeconds());
}

}  // namespace switchyard::ingress
