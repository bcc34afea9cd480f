// streamGenerateContent?alt=sse → chat.completion.chunk events, as they arrive.
//
// Each SSE event carries a whole GenerateContentResponse: text deltas and complete
// functionCall parts. Gemini sends no terminator: the stream is complete when the upstream
// closes after a candidate reported a finishReason (or the prompt was blocked).
#include <map>
#include <string>
#include <string_view>
#include <switchyard/sse_parser.hpp>
#include <switchyard/text.hpp>
#include <utility>

#include "gemini.h"

namespace switchyard {
namespace gemini {
namespace {

using sdk::trim;

using sdk::Output;

// A JSON (not SSE) answer to a stream request is buffered whole; bound it.
constexpr size_t kMaxJsonStreamBytes = 16u << 20;

class GeminiStream : public sdk::ProviderStream {
 public:
  GeminiStream(CompletionMeta meta, bool include_usage, bool json_body)
      : meta_(std::move(meta)), include_usage_(include_usage), json_body_(json_body) {}

  sy_status onData(std::string_view bytes, const Output& out) override {
    if (failed_) {
      return SY_ERR_UPSTREAM;
    }
    if (json_body_) {
      if (body_.size() + bytes.size() > kMaxJsonStreamBytes) {
        return fail(out, sdk::Error(502, "upstream_error", "bad_upstream_response",
                                    "gemini answered a stream request with an oversized body"));
      }
      body_.append(bytes);
      return SY_OK;
    }
    sy_status status = SY_OK;
    const auto result = parser_.feed(bytes, [&](std::string_view data) {
      status = onEvent(data, out);
      return status == SY_OK;
    });
    if (result == sdk::SseParser::Result::kTooLarge) {
      return fail(out, sdk::Error(502, "upstream_error", "chunk_too_large",
                                  "gemini sent a stream event larger than the gateway accepts"));
    }
    return status;
  }

  sy_status onEnd(const Output& out) override {
    if (failed_) {
      return SY_ERR_UPSTREAM;
    }
    if (json_body_) {
      return endJsonBody(out);
    }
    // The last event may lack its blank line when the upstream closes right after it; a
    // half-received event is not malformed but cut off, which the check below reports.
    if (const std::string rest = parser_.finish(); !trim(rest).empty()) {
      if (Json::accept(trim(rest))) {
        if (const sy_status s = onEvent(rest, out); s != SY_OK) {
          return s;
        }
      } else {
        finished_ = false;
      }
    }
    if (!finished_) {
      return fail(out, sdk::Error(502, "upstream_error", "stream_truncated",
                                  "gemini closed the stream before a finishReason"));
    }
    if (!usage_.is_null()) {
      if (include_usage_) {
        out.emit(SY_EVENT_CHUNK, dumpJson(chunk(Json::array(), openAiUsage(usage_))));
      }
      out.emit(SY_EVENT_USAGE, dumpJson(usageEvent(usage_)));
    }
    out.emit(SY_EVENT_DONE);
    return SY_OK;
  }

 private:
  struct ChoiceState {
    bool started = false;  // the role was sent
    int tool_calls = 0;    // OpenAI tool_calls[].index of the next call
  };

  sy_status onEvent(std::string_view data, const Output& out) {
    const std::string_view trimmed = trim(data);
    if (trimmed.empty()) {
      return SY_OK;
    }
    const Json doc = Json::parse(trimmed, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      return fail(out, sdk::Error(502, "upstream_error", "malformed_chunk",
                                  "gemini sent a stream event that is not a JSON object"));
    }
    if (hasError(doc)) {
      return fail(out, upstreamError(doc, inBandStatus(doc)));
    }
    if (!identified_) {
      // The first event names the response; every chunk repeats that identity.
      const CompletionMeta named = completionMeta(doc, "", meta_.model, meta_.created);
      if (doc.contains("responseId")) meta_.id = named.id;
      meta_.model = named.model;
      identified_ = true;
    }
    if (const auto um = doc.find("usageMetadata"); um != doc.end() && um->is_object()) {
      usage_ = *um;  // cumulative: the last one is the total
    }
    const auto candidates = doc.find("candidates");
    if (candidates != doc.end() && candidates->is_array() && !candidates->empty()) {
      for (size_t pos = 0; pos < candidates->size(); ++pos) {
        emitCandidate((*candidates)[pos], pos, out);
      }
    } else if (const auto fb = doc.find("promptFeedback");
               fb != doc.end() && fb->is_object() && fb->contains("blockReason")) {
      emitChoice(0, Json{{"role", "assistant"}, {"content", nullptr}}, Json("content_filter"), out);
      finished_ = true;
    }
    return SY_OK;
  }

  void emitCandidate(const Json& cand, size_t pos, const Output& out) {
    if (!cand.is_object()) {
      return;
    }
    const int64_t index = cand.value("index", static_cast<int64_t>(pos));
    ChoiceState& state = choices_[index];
    Json delta = Json::object();
    if (!state.started) {
      delta["role"] = "assistant";
    }
    std::string text;
    bool has_text = false;
    Json tool_calls = Json::array();
    if (cand.contains("content") && cand["content"].is_object() &&
        cand["content"].contains("parts") && cand["content"]["parts"].is_array()) {
      for (const auto& part : cand["content"]["parts"]) {
        if (!part.is_object() || part.value("thought", false)) {
          continue;
        }
        if (part.contains("text") && part["text"].is_string()) {
          text += part["text"].get<std::string>();
          has_text = true;
        } else if (part.contains("functionCall") && part["functionCall"].is_object()) {
          // Gemini sends each call whole: one delta carries its id, name and all arguments.
          const Json& fc = part["functionCall"];
          tool_calls.push_back(
              {{"index", state.tool_calls++},
               {"id", "call_" + std::to_string(next_call_++)},
               {"type", "function"},
               {"function",
                {{"name", fc.value("name", "")},
                 {"arguments", dumpJson(fc.contains("args") ? fc["args"] : Json::object())}}}});
        }
      }
    }
    if (has_text) {
      delta["content"] = text;
    }
    if (!tool_calls.empty()) {
      delta["tool_calls"] = std::move(tool_calls);
    }
    Json finish;  // null until the candidate says why it stopped
    if (cand.contains("finishReason") && cand["finishReason"].is_string()) {
      std::string reason = mapFinishReason(cand["finishReason"].get<std::string>());
      if (reason == "stop" && state.tool_calls > 0) {
        reason = "tool_calls";
      }
      finish = reason;
      finished_ = true;
    }
    if (delta.size() == (state.started ? 0u : 1u) && finish.is_null()) {
      return;  // nothing new for this choice (e.g. a usage-only event)
    }
    state.started = true;
    emitChoice(index, std::move(delta), std::move(finish), out);
  }

  void emitChoice(int64_t index, Json delta, Json finish, const Output& out) {
    Json choice = {{"index", index},
                   {"delta", std::move(delta)},
                   {"logprobs", nullptr},
                   {"finish_reason", std::move(finish)}};
    out.emit(SY_EVENT_CHUNK, dumpJson(chunk(Json::array({std::move(choice)}), Json())));
  }

  Json chunk(Json choices, Json usage) const {
    Json c = {{"id", meta_.id},
              {"object", "chat.completion.chunk"},
              {"created", meta_.created},
              {"model", meta_.model},
              {"choices", std::move(choices)}};
    if (!usage.is_null()) {
      c["usage"] = std::move(usage);
    }
    return c;
  }

  sy_status endJsonBody(const Output& out) {
    const Json doc = Json::parse(body_, nullptr, false);
    if (!doc.is_discarded() && doc.is_object() && hasError(doc)) {
      return fail(out, upstreamError(doc, inBandStatus(doc)));
    }
    return fail(out, sdk::Error(502, "upstream_error", "bad_upstream_response",
                                "gemini answered a stream request without an event stream"));
  }

  sy_status fail(const Output& out, const sdk::Error& e) {
    failed_ = true;
    out.setError(e);
    return SY_ERR_UPSTREAM;
  }

  CompletionMeta meta_;
  const bool include_usage_;
  const bool json_body_;
  sdk::SseParser parser_;
  std::string body_;
  std::map<int64_t, ChoiceState> choices_;
  Json usage_;
  int next_call_ = 0;
  bool identified_ = false;
  bool finished_ = false;
  bool failed_ = false;
};

}  // namespace

std::unique_ptr<sdk::ProviderStream> makeChatStream(CompletionMeta meta, bool include_usage,
                                                    bool json_body) {
  return std::make_unique<GeminiStream>(std::move(meta), include_usage, json_body);
}

}  // namespace gemini
}  // namespace switchyard
