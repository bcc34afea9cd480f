#include "converse.h"

#include <array>
#include <switchyard/sdk.hpp>

namespace switchyard::bedrock {
namespace {

// Upstream error messages are passed to clients; bound them.
constexpr size_t kMaxMessageBytes = 8 * 1024;

sdk::Error unsupported(const std::string& param, const std::string& why) {
  return sdk::Error(400, "invalid_request_error", "unsupported_parameter",
                    "bedrock provider: parameter '" + param + "' is not supported: " + why);
}

sdk::Error invalid(const std::string& message) {
  return sdk::invalidRequest("bedrock provider: " + message);
}

bool present(const Json& body, const char* key) {
  const auto it = body.find(key);
  return it != body.end() && !it->is_null();
}

/// Text of an OpenAI content value: a string, or an array of {"type":"text"} parts.
std::string textOnly(const Json& content, const std::string& where) {
  if (content.is_null()) return {};
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) throw invalid(where + " must be a string or an array of parts");
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      throw unsupported(where + "[" + std::to_string(i) + "]", "only text parts are accepted here");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

/// {"image": {...}} from an OpenAI image_url part; only base64 data URLs (Converse takes image
/// bytes or S3 locations, never web URLs).
Json imageBlock(const Json& part, const std::string& where) {
  const auto url_it = part.find("image_url");
  std::string url;
  if (url_it != part.end() && url_it->is_object() && url_it->contains("url") &&
      (*url_it)["url"].is_string()) {
    url = (*url_it)["url"].get<std::string>();
  } else if (url_it != part.end() && url_it->is_string()) {
    url = url_it->get<std::string>();
  } else {
    throw invalid(where + ".image_url.url is required");
  }
  constexpr std::string_view kPrefix = "data:image/";
  const size_t comma = url.find(',');
  if (url.rfind(kPrefix, 0) != 0 || comma == std::string::npos) {
    throw unsupported(where + ".image_url.url",
                      "Bedrock Converse accepts images only as base64 data URLs "
                      "(data:image/<png|jpeg|gif|webp>;base64,...)");
  }
  const std::string_view meta =
      std::string_view(url).substr(kPrefix.size(), comma - kPrefix.size());
  const size_t semi = meta.find(';');
  std::string format(meta.substr(0, semi));
  if (semi == std::string_view::npos || meta.substr(semi) != ";base64") {
    throw unsupported(where + ".image_url.url", "the data URL must be base64-encoded");
  }
  if (format == "jpg") format = "jpeg";
  if (format != "png" && format != "jpeg" && format != "gif" && format != "webp") {
    throw unsupported(where + ".image_url.url",
                      "image format '" + format + "' (Bedrock takes png, jpeg, gif, webp)");
  }
  Json block;
  block["image"] = {{"format", format}, {"source", {{"bytes", url.substr(comma + 1)}}}};
  return block;
}

Json userContent(const Json& content, const std::string& where) {
  Json blocks = Json::array();
  if (content.is_string()) {
    blocks.push_back({{"text", content.get<std::string>()}});
    return blocks;
  }
  if (!content.is_array()) throw invalid(where + " must be a string or an array of parts");
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    const std::string part_where = where + "[" + std::to_string(i) + "]";
    const std::string type = part.is_object() ? part.value("type", "") : "";
    if (type == "text" && part.contains("text") && part["text"].is_string()) {
      blocks.push_back({{"text", part["text"]}});
    } else if (type == "image_url") {
      blocks.push_back(imageBlock(part, part_where));
    } else {
      throw unsupported(part_where, "content part type '" + type + "'");
    }
  }
  return blocks;
}

Json assistantContent(const Json& message, const std::string& where) {
  Json blocks = Json::array();
  const std::string text = textOnly(message.value("content", Json()), where + ".content");
  // Converse refuses blank text blocks; an assistant turn that only calls tools has none.
  if (!text.empty()) blocks.push_back({{"text", text}});
  const auto calls = message.find("tool_calls");
  if (calls == message.end() || calls->is_null()) return blocks;
  if (!calls->is_array()) throw invalid(where + ".tool_calls must be an array");
  for (size_t i = 0; i < calls->size(); ++i) {
    const Json& call = (*calls)[i];
    const std::string call_where = where + ".tool_calls[" + std::to_string(i) + "]";
    if (!call.is_object() || !call.contains("id") || !call["id"].is_string() ||
        !call.contains("function") || !call["function"].is_object() ||
        !call["function"].contains("name") || !call["function"]["name"].is_string()) {
      throw invalid(call_where + " needs an id and a function name");
    }
    const Json& fn = call["function"];
    Json input = Json::object();
    if (fn.contains("arguments") && fn["arguments"].is_string() &&
        !fn["arguments"].get<std::string>().empty()) {
      input = Json::parse(fn["arguments"].get<std::string>(), nullptr, false);
      if (input.is_discarded() || !input.is_object()) {
        throw invalid(call_where + ".function.arguments must be a JSON object (as a string)");
      }
    }
    blocks.push_back(
        {{"toolUse", {{"toolUseId", call["id"]}, {"name", fn["name"]}, {"input", input}}}});
  }
  return blocks;
}

Json toolResultBlock(const Json& message, const std::string& where) {
  if (!message.contains("tool_call_id") || !message["tool_call_id"].is_string()) {
    throw invalid(where + ".tool_call_id is required");
  }
  const std::string text = textOnly(message.value("content", Json()), where + ".content");
  return {{"toolResult",
           {{"toolUseId", message["tool_call_id"]}, {"content", Json::array({{{"text", text}}})}}}};
}

/// Appends blocks as a turn of `role`, merging into the previous turn of the same role
/// (Converse wants user and assistant turns to alternate; OpenAI sends one message per tool
/// result).
void appendTurn(Json& messages, const std::string& role, Json blocks) {
  if (blocks.empty()) return;
  if (!messages.empty() && messages.back()["role"] == role) {
    for (auto& b : blocks) messages.back()["content"].push_back(std::move(b));
    return;
  }
  messages.push_back({{"role", role}, {"content", std::move(blocks)}});
}

void translateMessages(const Json& in, Json& out) {
  if (!in.is_array() || in.empty()) throw invalid("'messages' must be a non-empty array");
  Json messages = Json::array();
  Json system = Json::array();
  for (size_t i = 0; i < in.size(); ++i) {
    const Json& m = in[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      throw invalid(where + " needs a role");
    }
    const std::string role = m["role"].get<std::string>();
    if (role == "system" || role == "developer") {
      const std::string text = textOnly(m.value("content", Json()), where + ".content");
      if (!text.empty()) system.push_back({{"text", text}});
    } else if (role == "user") {
      appendTurn(messages, "user", userContent(m.value("content", Json()), where + ".content"));
    } else if (role == "assistant") {
      appendTurn(messages, "assistant", assistantContent(m, where));
    } else if (role == "tool") {
      appendTurn(messages, "user", Json::array({toolResultBlock(m, where)}));
    } else {
      throw unsupported(where + ".role", "role '" + role + "'");
    }
  }
  out["messages"] = std::move(messages);
  if (!system.empty()) out["system"] = std::move(system);
}

Json inferenceConfig(const Json& body) {
  Json config = Json::object();
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    if (present(body, key)) {
      if (!body[key].is_number_integer() || body[key].get<int64_t>() < 1) {
        throw invalid(std::string("'") + key + "' must be a positive integer");
      }
      config["maxTokens"] = body[key];
      break;  // max_completion_tokens (the newer name) wins
    }
  }
  if (present(body, "temperature")) {
    if (!body["temperature"].is_number()) throw invalid("'temperature' must be a number");
    config["temperature"] = body["temperature"];
  }
  if (present(body, "top_p")) {
    if (!body["top_p"].is_number()) throw invalid("'top_p' must be a number");
    config["topP"] = body["top_p"];
  }
  if (present(body, "stop")) {
    const Json& stop = body["stop"];
    Json sequences = Json::array();
    if (stop.is_string()) {
      sequences.push_back(stop);
    } else if (stop.is_array()) {
      for (const auto& s : stop) {
        if (!s.is_string()) throw invalid("'stop' must be a string or an array of strings");
        sequences.push_back(s);
      }
    } else {
      throw invalid("'stop' must be a string or an array of strings");
    }
    if (!sequences.empty()) config["stopSequences"] = std::move(sequences);
  }
  return config;
}

Json toolSpec(const Json& tool, size_t i) {
  const std::string where = "tools[" + std::to_string(i) + "]";
  if (!tool.is_object() || tool.value("type", "") != "function" || !tool.contains("function") ||
      !tool["function"].is_object()) {
    throw unsupported(where, "only {\"type\":\"function\"} tools are supported");
  }
  const Json& fn = tool["function"];
  if (!fn.contains("name") || !fn["name"].is_string()) {
    throw invalid(where + ".function.name is required");
  }
  if (fn.contains("strict") && fn["strict"].is_boolean() && fn["strict"].get<bool>()) {
    throw unsupported(where + ".function.strict",
                      "Converse has no strict schema mode; send strict:false or omit it");
  }
  Json spec;
  spec["name"] = fn["name"];
  if (fn.contains("description") && fn["description"].is_string()) {
    spec["description"] = fn["description"];
  }
  Json schema = fn.contains("parameters") && fn["parameters"].is_object()
                    ? fn["parameters"]
                    : Json{{"type", "object"}, {"properties", Json::object()}};
  spec["inputSchema"] = {{"json", std::move(schema)}};
  return {{"toolSpec", std::move(spec)}};
}

Json toolChoice(const Json& choice) {
  if (choice.is_string()) {
    const auto s = choice.get<std::string>();
    if (s == "auto") return {{"auto", Json::object()}};
    if (s == "required") return {{"any", Json::object()}};
    if (s == "none") {
      throw unsupported("tool_choice", "\"none\" has no Converse equivalent; omit the tools");
    }
  } else if (choice.is_object() && choice.value("type", "") == "function" &&
             choice.contains("function") && choice["function"].is_object() &&
             choice["function"].contains("name") && choice["function"]["name"].is_string()) {
    return {{"tool", {{"name", choice["function"]["name"]}}}};
  }
  throw invalid("'tool_choice' must be \"auto\", \"required\" or a function choice");
}

void translateTools(const Json& body, Json& out) {
  if (!present(body, "tools")) {
    if (present(body, "tool_choice")) throw invalid("'tool_choice' needs 'tools'");
    return;
  }
  const Json& tools = body["tools"];
  if (!tools.is_array()) throw invalid("'tools' must be an array");
  if (tools.empty()) return;
  Json config;
  config["tools"] = Json::array();
  for (size_t i = 0; i < tools.size(); ++i) config["tools"].push_back(toolSpec(tools[i], i));
  if (present(body, "tool_choice")) config["toolChoice"] = toolChoice(body["tool_choice"]);
  out["toolConfig"] = std::move(config);
}

/// Parameters accepted only at a value that changes nothing; anything else is refused.
void checkNoOpParameters(const Json& body) {
  auto require = [&](const char* key, auto&& ok, const char* why) {
    if (present(body, key) && !ok(body[key])) throw unsupported(key, why);
  };
  require(
      "n", [](const Json& v) { return v == 1; }, "Converse returns one choice; n must be 1");
  require(
      "parallel_tool_calls", [](const Json& v) { return v == true; },
      "Converse cannot forbid parallel tool calls");
  require(
      "frequency_penalty", [](const Json& v) { return v.is_number() && v == 0; },
      "no Converse equivalent (0 is accepted)");
  require(
      "presence_penalty", [](const Json& v) { return v.is_number() && v == 0; },
      "no Converse equivalent (0 is accepted)");
  require(
      "response_format",
      [](const Json& v) { return v.is_object() && v.value("type", "") == "text"; },
      "only {\"type\":\"text\"} (Converse has no JSON mode)");
}

// Keys of the OpenAI request this plugin understands. Every other key is refused rather than
// silently dropped (README.md has the per-parameter table).
constexpr std::array<std::string_view, 21> kKnownKeys = {"model",
                                                         "messages",
                                                         "stream",
                                                         "stream_options",
                                                         "max_tokens",
                                                         "max_completion_tokens",
                                                         "temperature",
                                                         "top_p",
                                                         "stop",
                                                         "tools",
                                                         "tool_choice",
                                                         "parallel_tool_calls",
                                                         "n",
                                                         "user",
                                                         "frequency_penalty",
                                                         "presence_penalty",
                                                         "logprobs",
                                                         "store",
                                                         "metadata",
                                                         "service_tier",
                                                         "response_format"};

void checkKnownKeys(const Json& body) {
  for (const auto& [key, value] : body.items()) {
    bool known = false;
    for (auto k : kKnownKeys) known = known || k == key;
    if (!known && !value.is_null()) {
      throw unsupported(key, "no Converse equivalent");
    }
  }
}

int64_t integerAt(const Json& obj, const char* key) {
  const auto it = obj.find(key);
  return it != obj.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

}  // namespace

std::string clip(std::string s) {
  if (s.size() > kMaxMessageBytes) {
    s.resize(kMaxMessageBytes);
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
    if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80) != 0) s.pop_back();
    s += "...";
  }
  return s;
}

std::vector<std::string> droppedParams(const Json& body) {
  std::vector<std::string> dropped;
  if (!body.is_object()) return dropped;
  if (present(body, "logprobs") && body["logprobs"] != false) dropped.emplace_back("logprobs");
  if (present(body, "store") && body["store"] != false) dropped.emplace_back("store");
  if (present(body, "user")) dropped.emplace_back("user");
  if (present(body, "metadata")) dropped.emplace_back("metadata");
  if (present(body, "service_tier") && body["service_tier"] != "auto" &&
      body["service_tier"] != "default") {
    dropped.emplace_back("service_tier");
  }
  return dropped;
}

Json toConverseRequest(const Json& body) {
  if (!body.is_object()) throw invalid("the request body must be a JSON object");
  checkKnownKeys(body);
  checkNoOpParameters(body);
  Json out;
  translateMessages(body.value("messages", Json()), out);
  if (Json config = inferenceConfig(body); !config.empty()) {
    out["inferenceConfig"] = std::move(config);
  }
  translateTools(body, out);
  return out;
}

ChatOptions chatOptions(const Json& body) {
  ChatOptions options;
  if (!body.is_object()) return options;
  const auto so = body.find("stream_options");
  options.include_usage =
      so != body.end() && so->is_object() && so->value("include_usage", false) == true;
  return options;
}

std::string finishReason(std::string_view stop_reason) {
  if (stop_reason == "max_tokens" || stop_reason == "model_context_window_exceeded") {
    return "length";
  }
  if (stop_reason == "tool_use") return "tool_calls";
  if (stop_reason == "guardrail_intervened" || stop_reason == "content_filtered") {
    return "content_filter";
  }
  return "stop";  // end_turn, stop_sequence, and anything newer
}

Json usageEvent(const Json& usage) {
  const int64_t input = integerAt(usage, "inputTokens");
  const int64_t output = integerAt(usage, "outputTokens");
  const int64_t cache_read = integerAt(usage, "cacheReadInputTokens");
  const int64_t cache_write = integerAt(usage, "cacheWriteInputTokens");
  // Bedrock's inputTokens leaves out cache reads and writes; OpenAI's prompt_tokens counts them.
  const int64_t prompt = input + cache_read + cache_write;
  Json u = {
      {"prompt_tokens", prompt}, {"completion_tokens", output}, {"total_tokens", prompt + output}};
  if (cache_read > 0) u["cached_tokens"] = cache_read;
  if (cache_write > 0) u["cache_creation_tokens"] = cache_write;
  return u;
}

Json openAiUsage(const Json& usage) {
  Json e = usageEvent(usage);
  Json u = {{"prompt_tokens", e["prompt_tokens"]},
            {"completion_tokens", e["completion_tokens"]},
            {"total_tokens", e["total_tokens"]}};
  if (e.contains("cached_tokens")) {
    u["prompt_tokens_details"] = {{"cached_tokens", e["cached_tokens"]}};
  }
  return u;
}

Json toChatCompletion(const Json& converse, const ResponseMeta& meta) {
  const auto bad = [] {
    return sdk::Error(502, "upstream_error", "bad_upstream_response",
                      "Bedrock answered without output.message.content");
  };
  if (!converse.is_object() || !converse.contains("output") || !converse["output"].is_object()) {
    throw bad();
  }
  const Json& message = converse["output"].value("message", Json());
  if (!message.is_object() || !message.contains("content") || !message["content"].is_array()) {
    throw bad();
  }
  std::string text;
  std::string reasoning;
  Json tool_calls = Json::array();
  for (const auto& block : message["content"]) {
    if (!block.is_object()) continue;
    if (block.contains("text") && block["text"].is_string()) {
      text += block["text"].get<std::string>();
    } else if (block.contains("toolUse") && block["toolUse"].is_object()) {
      const Json& use = block["toolUse"];
      tool_calls.push_back({{"id", use.value("toolUseId", "")},
                            {"type", "function"},
                            {"function",
                             {{"name", use.value("name", "")},
                              {"arguments", use.value("input", Json::object()).dump()}}}});
    } else if (block.contains("reasoningContent") && block["reasoningContent"].is_object()) {
      const Json& rc = block["reasoningContent"];
      if (rc.contains("reasoningText") && rc["reasoningText"].is_object()) {
        reasoning += rc["reasoningText"].value("text", "");
      }
    }
  }
  Json msg = {{"role", "assistant"}};
  msg["content"] = text.empty() && !tool_calls.empty() ? Json() : Json(text);
  if (!reasoning.empty()) msg["reasoning_content"] = reasoning;
  if (!tool_calls.empty()) msg["tool_calls"] = std::move(tool_calls);

  Json out = {{"id", meta.id},
              {"object", "chat.completion"},
              {"created", meta.created},
              {"model", meta.model}};
  out["choices"] =
      Json::array({{{"index", 0},
                    {"message", std::move(msg)},
                    {"finish_reason", finishReason(converse.value("stopReason", ""))}}});
  if (converse.contains("usage") && converse["usage"].is_object()) {
    out["usage"] = openAiUsage(converse["usage"]);
  }
  return out;
}

MappedError mapBedrockError(std::string_view name, uint32_t upstream_status, std::string message) {
  // "ValidationException:http://internal.amazon.com/..." and "aws.protocols#ValidationException"
  // both occur; keep the bare name, first letter upper (stream exceptions are lowerCamel).
  if (const size_t colon = name.find(':'); colon != std::string_view::npos) {
    name = name.substr(0, colon);
  }
  if (const size_t hash = name.rfind('#'); hash != std::string_view::npos) {
    name = name.substr(hash + 1);
  }
  std::string exception(name);
  if (!exception.empty() && exception[0] >= 'a' && exception[0] <= 'z') {
    exception[0] = static_cast<char>(exception[0] - 'a' + 'A');
  }
  if (message.empty()) message = "Bedrock returned " + (exception.empty() ? "an error" : exception);
  message = clip(std::move(message));

  struct Row {
    const char* exception;
    uint32_t status;  // used when the upstream status is unknown (in-band) or not an error
    const char* type;
    const char* code;
  };
  static constexpr Row kTable[] = {
      {"ThrottlingException", 429, "rate_limit_error", "rate_limit_exceeded"},
      {"ServiceQuotaExceededException", 429, "rate_limit_error", "quota_exceeded"},
      {"ModelNotReadyException", 429, "rate_limit_error", "model_not_ready"},
      {"ValidationException", 400, "invalid_request_error", "invalid_request"},
      {"AccessDeniedException", 403, "permission_error", "access_denied"},
      {"UnrecognizedClientException", 401, "authentication_error", "invalid_api_key"},
      {"InvalidSignatureException", 403, "authentication_error", "invalid_signature"},
      {"ExpiredTokenException", 403, "authentication_error", "expired_token"},
      {"ResourceNotFoundException", 404, "invalid_request_error", "model_not_found"},
      {"ModelTimeoutException", 408, "timeout_error", "model_timeout"},
      {"ServiceUnavailableException", 503, "overloaded_error", "service_unavailable"},
      {"InternalServerException", 500, "api_error", "internal_server_error"},
      {"ModelErrorException", 424, "upstream_error", "model_error"},
      {"ModelStreamErrorException", 424, "upstream_error", "model_stream_error"},
  };
  const bool upstream_is_error = upstream_status >= 400 && upstream_status <= 599;
  for (const Row& row : kTable) {
    if (exception == row.exception) {
      std::string code = row.code;
      // Bedrock says "Input is too long for requested model" / "too many input tokens".
      if (exception == "ValidationException" &&
          (message.find("too long") != std::string::npos ||
           message.find("too many input tokens") != std::string::npos ||
           message.find("context window") != std::string::npos)) {
        code = "context_length_exceeded";
      }
      return {upstream_is_error ? upstream_status : row.status, row.type, code, message};
    }
  }
  return {upstream_is_error ? upstream_status : 502, "upstream_error",
          exception.empty() ? "upstream_error" : exception, message};
}

}  // namespace switchyard::bedrock
