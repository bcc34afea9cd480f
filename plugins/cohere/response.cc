#include "response.h"

#include <algorithm>
#include <cctype>

namespace switchyard::cohere {
namespace {

// Upstream error messages are passed to clients; bound them.
constexpr size_t kMaxMessageBytes = 8 * 1024;

int64_t intAt(const Json& obj, const char* outer, const char* key) {
  const auto o = obj.find(outer);
  if (o == obj.end() || !o->is_object()) return -1;
  const auto v = o->find(key);
  return v != o->end() && v->is_number_integer() ? v->get<int64_t>() : -1;
}

std::string typeForStatus(uint32_t status) {
  switch (status) {
    case 400:
    case 422:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 429:
      return "rate_limit_error";
    case 499:
      return "invalid_request_error";
    case 503:
      return "service_unavailable_error";
    case 504:
      return "timeout_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

std::string codeForStatus(uint32_t status, const std::string& message) {
  switch (status) {
    case 401:
      return "invalid_api_key";
    case 403:
      return "permission_denied";
    case 404:
      return "not_found";
    case 429:
      return "rate_limit_exceeded";
    default:
      break;
  }
  if (status == 400 && message.find("too many tokens") != std::string::npos) {
    return "context_length_exceeded";
  }
  return status >= 500 ? "upstream_error" : "invalid_request";
}

}  // namespace

std::string clip(std::string s) {
  if (s.size() <= kMaxMessageBytes) return s;
  s.resize(kMaxMessageBytes);
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
  if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80) != 0) s.pop_back();
  return s + "...";
}

std::string finishReason(const Json& reason) {
  if (!reason.is_string()) return "stop";
  const std::string r = reason;
  if (r == "COMPLETE" || r == "STOP_SEQUENCE") return "stop";
  if (r == "MAX_TOKENS") return "length";
  if (r == "TOOL_CALL") return "tool_calls";
  if (r == "ERROR") return "error";
  std::string lower = r;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

Json usageFromCohere(const Json& usage) {
  int64_t in = intAt(usage, "tokens", "input_tokens");
  int64_t out = intAt(usage, "tokens", "output_tokens");
  if (in < 0) in = intAt(usage, "billed_units", "input_tokens");
  if (out < 0) out = intAt(usage, "billed_units", "output_tokens");
  in = std::max<int64_t>(in, 0);
  out = std::max<int64_t>(out, 0);
  return {{"prompt_tokens", in}, {"completion_tokens", out}, {"total_tokens", in + out}};
}

Json translateChatResponse(const Json& cohere, std::string_view model, int64_t created) {
  const Json message = cohere.value("message", Json::object());
  std::string text;
  for (const auto& part : message.value("content", Json::array())) {
    if (part.is_object() && part.value("type", "text") == "text") text += part.value("text", "");
  }
  Json out_message = {{"role", "assistant"}};
  const Json calls = message.value("tool_calls", Json::array());
  // With tool calls Cohere explains itself in tool_plan rather than in content; it is the
  // assistant's text for an OpenAI client.
  if (text.empty() && !calls.empty()) text = message.value("tool_plan", "");
  out_message["content"] = text.empty() && !calls.empty() ? Json() : Json(text);
  if (calls.is_array() && !calls.empty()) {
    Json tool_calls = Json::array();
    for (const auto& call : calls) {
      const Json fn = call.value("function", Json::object());
      tool_calls.push_back(
          {{"id", call.value("id", "")},
           {"type", "function"},
           {"function",
            {{"name", fn.value("name", "")}, {"arguments", fn.value("arguments", "{}")}}}});
    }
    out_message["tool_calls"] = tool_calls;
  }
  Json out = {
      {"id", cohere.value("id", "")},
      {"object", "chat.completion"},
      {"created", created},
      {"model", std::string(model)},
      {"choices",
       Json::array({{{"index", 0},
                     {"message", out_message},
                     {"finish_reason", finishReason(cohere.value("finish_reason", Json()))}}})}};
  if (const auto usage = cohere.find("usage"); usage != cohere.end() && usage->is_object()) {
    out["usage"] = usageFromCohere(*usage);
  }
  return out;
}

Json translateEmbedResponse(const Json& cohere, std::string_view model) {
  const Json embeddings = cohere.value("embeddings", Json::object());
  // embedding_types ["float"] gives {"float": [[...], ...]}; the legacy shape is a bare array.
  const Json vectors =
      embeddings.is_array() ? embeddings : embeddings.value("float", Json::array());
  Json data = Json::array();
  for (size_t i = 0; i < vectors.size(); ++i) {
    data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", vectors[i]}});
  }
  int64_t tokens = intAt(cohere.value("meta", Json::object()), "billed_units", "input_tokens");
  tokens = std::max<int64_t>(tokens, 0);
  return {{"object", "list"},
          {"data", data},
          {"model", std::string(model)},
          {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
}

ClientError translateError(const Json& doc, uint32_t status) {
  std::string message;
  if (const auto m = doc.find("message"); m != doc.end() && m->is_string()) {
    message = m->get<std::string>();
  } else if (const auto e = doc.find("error"); e != doc.end()) {
    if (e->is_string()) {
      message = e->get<std::string>();
    } else if (e->is_object()) {
      message = e->value("message", "");
    }
  }
  if (message.empty()) message = "upstream returned an error";
  std::string code = codeForStatus(status, message);
  return {status, typeForStatus(status), std::move(code), clip(std::move(message))};
}

}  // namespace switchyard::cohere
