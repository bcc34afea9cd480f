// Gemini GenerateContentResponse / embeddings / errors → the unified (OpenAI-format) answers.
#include <cmath>
#include <cstring>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "gemini.h"

namespace switchyard {
namespace gemini {
namespace {

// Upstream error messages are passed to clients; bound them so a hostile upstream cannot.
constexpr size_t kMaxMessageBytes = 8 * 1024;

std::string clip(std::string s) {
  if (s.size() > kMaxMessageBytes) {
    s.resize(kMaxMessageBytes);
    // Do not leave half a UTF-8 sequence at the cut.
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) {
      s.pop_back();
    }
    if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80) != 0) {
      s.pop_back();
    }
    s += "...";
  }
  return s;
}

int64_t count(const Json& usage, const char* key) {
  const auto it = usage.find(key);
  return it != usage.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

/// The OpenAI error type for a google.rpc status name.
std::string errorType(std::string_view status_name, uint32_t http_status) {
  if (status_name == "INVALID_ARGUMENT" || status_name == "FAILED_PRECONDITION" ||
      status_name == "OUT_OF_RANGE") {
    return "invalid_request_error";
  }
  if (status_name == "UNAUTHENTICATED") return "authentication_error";
  if (status_name == "PERMISSION_DENIED") return "permission_error";
  if (status_name == "NOT_FOUND") return "not_found_error";
  if (status_name == "RESOURCE_EXHAUSTED") return "rate_limit_error";
  if (status_name == "UNAVAILABLE") return "service_unavailable_error";
  if (status_name == "DEADLINE_EXCEEDED") return "timeout_error";
  if (http_status >= 500) return "server_error";
  if (http_status == 429) return "rate_limit_error";
  if (http_status >= 400) return "invalid_request_error";
  return "upstream_error";
}

/// Gemini answers a bad key with 400 INVALID_ARGUMENT; clients and the resilience layer need
/// to see an auth failure.
bool isInvalidKey(const Json& error, std::string_view message) {
  if (const auto details = error.find("details"); details != error.end() && details->is_array()) {
    for (const auto& d : *details) {
      if (d.is_object() && d.value("reason", "") == "API_KEY_INVALID") {
        return true;
      }
    }
  }
  return message.find("API key not valid") != std::string_view::npos;
}

std::string base64Floats(const Json& values) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  // OpenAI's base64 embeddings are little-endian float32s.
  std::string bytes;
  bytes.reserve(values.size() * 4);
  for (const auto& v : values) {
    const float f = v.is_number() ? v.get<float>() : 0.0f;
    uint32_t bits = 0;
    std::memcpy(&bits, &f, sizeof bits);
    for (int i = 0; i < 4; ++i) {
      bytes.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
    }
  }
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  for (size_t i = 0; i < bytes.size(); i += 3) {
    const size_t n = std::min<size_t>(3, bytes.size() - i);
    uint32_t chunk = 0;
    for (size_t k = 0; k < 3; ++k) {
      chunk = (chunk << 8) | (k < n ? static_cast<unsigned char>(bytes[i + k]) : 0);
    }
    for (size_t k = 0; k < 4; ++k) {
      out.push_back(k <= n ? kAlphabet[(chunk >> (18 - 6 * k)) & 0x3F] : '=');
    }
  }
  return out;
}

/// About four bytes per token: Gemini's embed answers carry no usage, so it is estimated.
int64_t estimateTokens(const Json& input) {
  int64_t bytes = 0;
  if (input.is_string()) {
    bytes = static_cast<int64_t>(input.get_ref<const std::string&>().size());
  } else if (input.is_array()) {
    for (const auto& s : input) {
      bytes += s.is_string() ? static_cast<int64_t>(s.get_ref<const std::string&>().size()) : 0;
    }
  }
  return (bytes + 3) / 4;
}

}  // namespace

std::string mapFinishReason(std::string_view reason) {
  if (reason == "MAX_TOKENS") {
    return "length";
  }
  static const std::set<std::string_view> kFiltered = {
      "SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY"};
  if (kFiltered.count(reason) > 0) {
    return "content_filter";
  }
  // STOP, and the reasons OpenAI has no word for (OTHER, LANGUAGE, MALFORMED_FUNCTION_CALL).
  return "stop";
}

Json openAiUsage(const Json& um) {
  const int64_t prompt = count(um, "promptTokenCount") + count(um, "toolUsePromptTokenCount");
  // OpenAI counts reasoning inside completion_tokens; Gemini counts thoughts separately.
  const int64_t thoughts = count(um, "thoughtsTokenCount");
  const int64_t completion = count(um, "candidatesTokenCount") + thoughts;
  const int64_t total =
      um.contains("totalTokenCount") ? count(um, "totalTokenCount") : prompt + completion;
  Json usage = {
      {"prompt_tokens", prompt}, {"completion_tokens", completion}, {"total_tokens", total}};
  if (um.contains("cachedContentTokenCount")) {
    usage["prompt_tokens_details"] = {{"cached_tokens", count(um, "cachedContentTokenCount")}};
  }
  if (um.contains("thoughtsTokenCount")) {
    usage["completion_tokens_details"] = {{"reasoning_tokens", thoughts}};
  }
  return usage;
}

Json usageEvent(const Json& um) {
  Json usage = openAiUsage(um);
  Json flat = {{"prompt_tokens", usage["prompt_tokens"]},
               {"completion_tokens", usage["completion_tokens"]},
               {"total_tokens", usage["total_tokens"]}};
  if (um.contains("cachedContentTokenCount")) {
    flat["cached_tokens"] = count(um, "cachedContentTokenCount");
  }
  if (um.contains("thoughtsTokenCount")) {
    flat["reasoning_tokens"] = count(um, "thoughtsTokenCount");
  }
  return flat;
}

CompletionMeta completionMeta(const Json& doc, std::string_view request_id,
                              std::string_view upstream_model, int64_t created) {
  CompletionMeta meta;
  const auto rid = doc.find("responseId");
  meta.id = "chatcmpl-" + (rid != doc.end() && rid->is_string() ? rid->get<std::string>()
                                                                : std::string(request_id));
  const auto version = doc.find("modelVersion");
  meta.model = version != doc.end() && version->is_string() ? version->get<std::string>()
                                                            : std::string(upstream_model);
  meta.created = created;
  return meta;
}

Json translateCompletion(const Json& doc, const CompletionMeta& meta) {
  Json choices = Json::array();
  int next_call = 0;
  const auto candidates = doc.find("candidates");
  if (candidates != doc.end() && candidates->is_array() && !candidates->empty()) {
    for (size_t pos = 0; pos < candidates->size(); ++pos) {
      const Json& cand = (*candidates)[pos];
      std::string text;
      bool has_text = false;
      Json tool_calls = Json::array();
      const Json* parts = nullptr;
      if (cand.contains("content") && cand["content"].is_object() &&
          cand["content"].contains("parts") && cand["content"]["parts"].is_array()) {
        parts = &cand["content"]["parts"];
      }
      for (const auto& part : parts != nullptr ? *parts : Json::array()) {
        if (!part.is_object() || part.value("thought", false)) {
          continue;  // thought summaries are not part of the answer
        }
        if (part.contains("text") && part["text"].is_string()) {
          text += part["text"].get<std::string>();
          has_text = true;
        } else if (part.contains("functionCall") && part["functionCall"].is_object()) {
          const Json& fc = part["functionCall"];
          tool_calls.push_back(
              {{"id", "call_" + std::to_string(next_call++)},
               {"type", "function"},
               {"function",
                {{"name", fc.value("name", "")},
                 {"arguments", dumpJson(fc.contains("args") ? fc["args"] : Json::object())}}}});
        }
      }
      Json message = {{"role", "assistant"}, {"content", has_text ? Json(text) : Json()}};
      const auto reason = cand.find("finishReason");
      std::string finish = mapFinishReason(
          reason != cand.end() && reason->is_string() ? reason->get<std::string>() : "STOP");
      if (!tool_calls.empty()) {
        message["tool_calls"] = std::move(tool_calls);
        if (finish == "stop") {
          finish = "tool_calls";
        }
      }
      choices.push_back({{"index", cand.value("index", static_cast<int64_t>(pos))},
                         {"message", std::move(message)},
                         {"logprobs", nullptr},
                         {"finish_reason", finish}});
    }
  } else {
    const auto feedback = doc.find("promptFeedback");
    if (feedback == doc.end() || !feedback->is_object() || !feedback->contains("blockReason")) {
      throw sdk::Error(502, "upstream_error", "bad_upstream_response",
                       "gemini answered without candidates or a block reason");
    }
    // The prompt itself was blocked: an empty answer the client can recognise as filtered.
    choices.push_back({{"index", 0},
                       {"message", {{"role", "assistant"}, {"content", nullptr}}},
                       {"logprobs", nullptr},
                       {"finish_reason", "content_filter"}});
  }
  Json out = {{"id", meta.id},
              {"object", "chat.completion"},
              {"created", meta.created},
              {"model", meta.model},
              {"choices", std::move(choices)}};
  if (const auto um = doc.find("usageMetadata"); um != doc.end() && um->is_object()) {
    out["usage"] = openAiUsage(*um);
  }
  return out;
}

Json translateEmbeddings(const Json& doc, const Json& request, const std::string& model) {
  std::vector<const Json*> vectors;
  if (const auto one = doc.find("embedding"); one != doc.end() && one->is_object()) {
    vectors.push_back(&*one);
  } else if (const auto many = doc.find("embeddings"); many != doc.end() && many->is_array()) {
    for (const auto& e : *many) {
      vectors.push_back(&e);
    }
  } else {
    throw sdk::Error(502, "upstream_error", "bad_upstream_response",
                     "gemini answered an embeddings request without embeddings");
  }
  const bool base64 = request.value("encoding_format", "float") == "base64";
  Json data = Json::array();
  for (size_t i = 0; i < vectors.size(); ++i) {
    const Json& values = vectors[i]->contains("values") ? (*vectors[i])["values"] : Json::array();
    if (!values.is_array()) {
      throw sdk::Error(502, "upstream_error", "bad_upstream_response",
                       "gemini sent an embedding without values");
    }
    data.push_back({{"object", "embedding"},
                    {"index", i},
                    {"embedding", base64 ? Json(base64Floats(values)) : values}});
  }
  const int64_t tokens = estimateTokens(request.contains("input") ? request["input"] : Json());
  return Json{{"object", "list"},
              {"data", std::move(data)},
              {"model", model},
              {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
}

bool hasError(const Json& doc) {
  const auto err = doc.find("error");
  return err != doc.end() && !err->is_null();
}

uint32_t inBandStatus(const Json& doc) {
  const auto err = doc.find("error");
  if (err != doc.end() && err->is_object()) {
    if (const auto code = err->find("code"); code != err->end() && code->is_number_integer()) {
      const auto n = code->get<int64_t>();
      if (n >= 400 && n <= 599) {
        return static_cast<uint32_t>(n);
      }
    }
  }
  return 502;
}

sdk::Error upstreamError(const Json& doc, uint32_t http_status) {
  const auto err = doc.find("error");
  const Json error = err != doc.end() && err->is_object() ? *err : Json::object();
  std::string status_name = error.value("status", "");
  std::string message = error.contains("message") && error["message"].is_string()
                            ? error["message"].get<std::string>()
                            : std::string();
  if (message.empty() && err != doc.end() && err->is_string()) {
    message = err->get<std::string>();
  }
  if (message.empty()) {
    message = "gemini returned an error";
  }
  if (isInvalidKey(error, message)) {
    return sdk::Error(401, "authentication_error", "invalid_api_key", clip(std::move(message)));
  }
  std::string code = status_name;
  if (message.find("exceeds the maximum number of tokens") != std::string::npos) {
    code = "context_length_exceeded";
  }
  return sdk::Error(http_status, errorType(status_name, http_status), code,
                    clip(std::move(message)));
}

}  // namespace gemini
}  // namespace switchyard
