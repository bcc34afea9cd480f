#include "stream_translator.h"

#include <utility>

namespace switchyard {
namespace anthropic {
namespace {

// A JSON (not SSE) answer to a stream request is buffered whole; bound it.
constexpr size_t kMaxJsonBodyBytes = 16u << 20;

int64_t intAt(const Json& j, const char* key, int64_t fallback) {
  const auto it = j.find(key);
  return it != j.end() && it->is_number_integer() ? it->get<int64_t>() : fallback;
}

}  // namespace

sy_status StreamTranslator::onData(std::string_view bytes, const sdk::Output& out) {
  if (failed_) {
    return SY_ERR_UPSTREAM;
  }
  if (done_) {
    return SY_OK;  // nothing after message_stop has a meaning
  }
  if (json_body_) {
    if (body_.size() + bytes.size() > kMaxJsonBodyBytes) {
      return fail(out, 502, "upstream_error", "bad_upstream_response",
                  "Anthropic answered a stream request with an oversized JSON body");
    }
    body_.append(bytes);
    return SY_OK;
  }
  sy_status status = SY_OK;
  const auto result = parser_.feed(bytes, [&](std::string_view data) {
    status = onEvent(data, out);
    return status == SY_OK && !done_;
  });
  if (result == sdk::SseParser::Result::kTooLarge) {
    return fail(out, 502, "upstream_error", "chunk_too_large",
                "Anthropic sent a stream event larger than the gateway accepts");
  }
  return status;
}

sy_status StreamTranslator::onEnd(const sdk::Output& out) {
  if (failed_) {
    return SY_ERR_UPSTREAM;
  }
  if (done_) {
    return SY_OK;
  }
  if (json_body_) {
    return onJsonBodyEnd(out);
  }
  // A final event without its blank line is still a complete event; a cut-off one (not
  // valid JSON) is the truncation reported below, not a malformed event.
  const std::string rest = parser_.finish();
  if (!rest.empty() && Json::accept(rest)) {
    const sy_status s = onEvent(rest, out);
    if (s != SY_OK || done_) {
      return s;
    }
  }
  return fail(out, 502, "upstream_error", "stream_truncated",
              "Anthropic closed the stream before message_stop");
}

sy_status StreamTranslator::onEvent(std::string_view data, const sdk::Output& out) {
  const Json event = Json::parse(data, nullptr, false);
  if (event.is_discarded() || !event.is_object()) {
    return fail(out, 502, "upstream_error", "malformed_chunk",
                "Anthropic sent a stream event that is not a JSON object");
  }
  const std::string type = event.value("type", "");
  if (type == "error") {
    return failInBand(event, out);
  }
  if (type == "message_start") {
    onMessageStart(event, out);
  } else if (!started_ && type != "ping") {
    // Every Anthropic stream opens with message_start; without it nothing else can be
    // attributed to a message.
    return fail(out, 502, "upstream_error", "malformed_chunk",
                "Anthropic sent '" + type + "' before message_start");
  } else if (type == "content_block_start") {
    onBlockStart(event, out);
  } else if (type == "content_block_delta") {
    onBlockDelta(event, out);
  } else if (type == "message_delta") {
    onMessageDelta(event, out);
  } else if (type == "message_stop") {
    onMessageStop(out);
  }
  // ping, content_block_stop and event types added later carry nothing for an OpenAI client.
  return SY_OK;
}

void StreamTranslator::onMessageStart(const Json& event, const sdk::Output& out) {
  const Json message = event.contains("message") ? event["message"] : Json::object();
  id_ = message.is_object() ? message.value("id", "") : "";
  model_ = message.is_object() ? message.value("model", "") : "";
  if (message.is_object() && message.contains("usage")) {
    usage_.merge(message["usage"]);
  }
  started_ = true;
  emitChunk({{"role", "assistant"}, {"content", ""}}, nullptr, out);
}

void StreamTranslator::onBlockStart(const Json& event, const sdk::Output& out) {
  const Json block = event.contains("content_block") ? event["content_block"] : Json::object();
  const std::string type = block.is_object() ? block.value("type", "") : "";
  if (type == "text") {
    // The start normally carries "", but nothing says it must.
    const std::string text = block.value("text", "");
    if (!text.empty()) {
      emitChunk({{"content", text}}, nullptr, out);
    }
  } else if (type == "tool_use") {
    const int index = next_tool_index_++;
    tool_index_[intAt(event, "index", -1)] = index;
    // Arguments follow as input_json_delta; the start's "input" is an empty placeholder.
    emitChunk(
        {{"tool_calls",
          Json::array({{{"index", index},
                        {"id", block.value("id", "")},
                        {"type", "function"},
                        {"function", {{"name", block.value("name", "")}, {"arguments", ""}}}}})}},
        nullptr, out);
  }
}

void StreamTranslator::onBlockDelta(const Json& event, const sdk::Output& out) {
  const Json delta = event.contains("delta") ? event["delta"] : Json::object();
  const std::string type = delta.is_object() ? delta.value("type", "") : "";
  if (type == "text_delta") {
    const std::string text = delta.value("text", "");
    if (!text.empty()) {
      emitChunk({{"content", text}}, nullptr, out);
    }
  } else if (type == "input_json_delta") {
    const auto tool = tool_index_.find(intAt(event, "index", -1));
    const std::string part = delta.value("partial_json", "");
    // Anthropic often opens with an empty partial_json; an empty delta tells the client
    // nothing.
    if (tool != tool_index_.end() && !part.empty()) {
      emitChunk({{"tool_calls",
                  Json::array({{{"index", tool->second}, {"function", {{"arguments", part}}}}})}},
                nullptr, out);
    }
  }
  // thinking_delta, signature_delta and citations_delta have no OpenAI counterpart.
}

void StreamTranslator::onMessageDelta(const Json& event, const sdk::Output& out) {
  if (event.contains("usage")) {
    usage_.merge(event["usage"]);
  }
  const Json delta = event.contains("delta") ? event["delta"] : Json::object();
  const Json reason = finishReason(
      delta.is_object() && delta.contains("stop_reason") ? delta["stop_reason"] : Json());
  if (!reason.is_null()) {
    emitChunk(Json::object(), reason, out);
  }
}

void StreamTranslator::onMessageStop(const sdk::Output& out) {
  if (client_wants_usage_) {
    Json chunk = chunkHead();
    chunk["choices"] = Json::array();
    chunk["usage"] = usage_.openAi();
    out.emit(SY_EVENT_CHUNK, dumpJson(chunk));
  }
  // message_start's input counts and message_delta's output count are running totals:
  // reported once here, never summed.
  if (usage_.seen) {
    out.emit(SY_EVENT_USAGE, dumpJson(usage_.event()));
  }
  done_ = true;
  out.emit(SY_EVENT_DONE);
}

sy_status StreamTranslator::onJsonBodyEnd(const sdk::Output& out) {
  const Json doc = Json::parse(body_, nullptr, false);
  if (!doc.is_discarded() && doc.is_object() && doc.value("type", "") == "error") {
    return failInBand(doc, out);
  }
  return fail(out, 502, "upstream_error", "bad_upstream_response",
              "Anthropic answered a stream request without an event stream");
}

Json StreamTranslator::chunkHead() const {
  return {
      {"id", id_}, {"object", "chat.completion.chunk"}, {"created", created_}, {"model", model_}};
}

void StreamTranslator::emitChunk(Json delta, Json finish_reason, const sdk::Output& out) const {
  Json chunk = chunkHead();
  chunk["choices"] = Json::array({{{"index", 0},
                                   {"delta", std::move(delta)},
                                   {"logprobs", nullptr},
                                   {"finish_reason", std::move(finish_reason)}}});
  out.emit(SY_EVENT_CHUNK, dumpJson(chunk));
}

sy_status StreamTranslator::failInBand(const Json& doc, const sdk::Output& out) {
  // No HTTP status came with it (the stream had answered 200): use the one Anthropic
  // documents for the error type, e.g. 529 for overloaded_error.
  const auto err = doc.find("error");
  const std::string type = err != doc.end() && err->is_object() ? err->value("type", "") : "";
  const ClientError e = mapError(doc, statusForErrorType(type));
  return fail(out, e.status, e.type, e.code, e.message);
}

sy_status StreamTranslator::fail(const sdk::Output& out, uint32_t status, std::string_view type,
                                 std::string_view code, std::string_view message) {
  failed_ = true;
  out.setError(status, type, code, message);
  return SY_ERR_UPSTREAM;
}

}  // namespace anthropic
}  // namespace switchyard
