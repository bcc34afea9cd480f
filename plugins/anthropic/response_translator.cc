#include "response_translator.h"

#include <utility>

namespace switchyard {
namespace anthropic {
namespace {

// Upstream error messages are passed to clients; bound them so a hostile upstream cannot
// make us relay megabytes.
constexpr size_t kMaxMessageBytes = 8 * 1024;

std::string clip(std::string s) {
  if (s.size() <= kMaxMessageBytes) {
    return s;
  }
  s.resize(kMaxMessageBytes);
  // Do not leave half a UTF-8 sequence at the cut.
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) {
    s.pop_back();
  }
  if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80) != 0) {
    s.pop_back();
  }
  return s + "...";
}

/// An OpenAI-style code for an Anthropic error type, so clients written against OpenAI can
/// branch on the usual values.
std::string codeFor(std::string_view type, std::string_view message) {
  if (type == "invalid_request_error") {
    // Anthropic signals an over-long prompt only through the message text.
    return message.find("prompt is too long") != std::string_view::npos ? "context_length_exceeded"
                                                                        : "invalid_request";
  }
  if (type == "authentication_error") return "invalid_api_key";
  if (type == "permission_error") return "permission_denied";
  if (type == "not_found_error") return "not_found";
  if (type == "rate_limit_error") return "rate_limit_exceeded";
  if (type == "overloaded_error") return "overloaded";
  return std::string(type);
}

}  // namespace

Json finishReason(const Json& stop_reason) {
  if (!stop_reason.is_string()) {
    return nullptr;
  }
  const std::string& r = stop_reason.get_ref<const std::string&>();
  if (r == "max_tokens" || r == "model_context_window_exceeded") return "length";
  if (r == "tool_use") return "tool_calls";
  if (r == "refusal") return "content_filter";
  // end_turn, stop_sequence, pause_turn (a server tool loop paused: the turn is over for
  // an OpenAI client) and any future reason.
  return "stop";
}

void Usage::merge(const Json& usage) {
  if (!usage.is_object()) {
    return;
  }
  const auto take = [&](const char* key, int64_t& field) {
    const auto it = usage.find(key);
    if (it != usage.end() && it->is_number_integer()) {
      field = it->get<int64_t>();
      seen = true;
    }
  };
  take("input_tokens", input);
  take("output_tokens", output);
  take("cache_read_input_tokens", cache_read);
  take("cache_creation_input_tokens", cache_creation);
}

Json Usage::openAi() const {
  return {{"prompt_tokens", promptTokens()},
          {"completion_tokens", output},
          {"total_tokens", promptTokens() + output},
          {"prompt_tokens_details", {{"cached_tokens", cache_read}}}};
}

Json Usage::event() const {
  return {{"prompt_tokens", promptTokens()},
          {"completion_tokens", output},
          {"total_tokens", promptTokens() + output},
          {"cached_tokens", cache_read},
          {"cache_creation_tokens", cache_creation}};
}

Json toChatCompletion(const Json& message, int64_t created) {
  std::string text;
  bool has_text = false;
  Json tool_calls = Json::array();
  const auto content = message.find("content");
  if (content != message.end() && content->is_array()) {
    for (const auto& block : *content) {
      const std::string type = block.is_object() ? block.value("type", "") : "";
      if (type == "text" && block.contains("text") && block["text"].is_string()) {
        text += block["text"].get<std::string>();
        has_text = true;
      } else if (type == "tool_use") {
        tool_calls.push_back(
            {{"id", block.value("id", "")},
             {"type", "function"},
             {"function",
              {{"name", block.value("name", "")},
               {"arguments",
                dumpJson(block.contains("input") ? block["input"] : Json::object())}}}});
      }
      // thinking, redacted_thinking and server tool blocks have no OpenAI counterpart.
    }
  }
  Json msg = {{"role", "assistant"}, {"content", has_text ? Json(text) : Json(nullptr)}};
  if (!tool_calls.empty()) {
    msg["tool_calls"] = std::move(tool_calls);
  }
  msg["refusal"] = nullptr;
  Usage usage;
  usage.merge(message.contains("usage") ? message["usage"] : Json());
  return {{"id", message.value("id", "")},
          {"object", "chat.completion"},
          {"created", created},
          {"model", message.value("model", "")},
          {"choices", Json::array({{{"index", 0},
                                    {"message", std::move(msg)},
                                    {"logprobs", nullptr},
                                    {"finish_reason", finishReason(message.contains("stop_reason")
                                                                       ? message["stop_reason"]
                                                                       : Json())}}})},
          {"usage", usage.openAi()}};
}

uint32_t statusForErrorType(std::string_view type) {
  if (type == "invalid_request_error") return 400;
  if (type == "authentication_error") return 401;
  if (type == "billing_error") return 402;
  if (type == "permission_error") return 403;
  if (type == "not_found_error") return 404;
  if (type == "request_too_large") return 413;
  if (type == "rate_limit_error") return 429;
  if (type == "api_error") return 500;
  if (type == "timeout_error") return 504;
  if (type == "overloaded_error") return 529;
  return 502;
}

ClientError mapError(const Json& doc, uint32_t status) {
  ClientError e;
  e.status = status;
  e.type = "upstream_error";
  const auto err = doc.is_object() ? doc.find("error") : doc.end();
  if (err != doc.end() && err->is_object()) {
    if (auto t = err->find("type"); t != err->end() && t->is_string() && !t->empty()) {
      e.type = t->get<std::string>();
    }
    if (auto m = err->find("message"); m != err->end()) {
      e.message = m->is_string() ? m->get<std::string>() : dumpJson(*m);
    }
  }
  if (e.message.empty()) {
    e.message = "Anthropic returned an error";
  }
  e.code = e.type == "upstream_error" ? "" : codeFor(e.type, e.message);
  e.message = clip(std::move(e.message));
  return e;
}

}  // namespace anthropic
}  // namespace switchyard
