#include "converse_stream.h"

namespace switchyard::bedrock {

sy_status ConverseStream::onData(std::string_view bytes, const sdk::Output& out) {
  if (failed_) return SY_ERR_UPSTREAM;
  if (done_) return SY_OK;
  sy_status status = SY_OK;
  const bool ok = decoder_.feed(bytes, [&](eventstream::Message&& message) {
    status = onMessage(message, out);
    return status == SY_OK && !done_;
  });
  if (!ok) {
    return fail(out, 502, "upstream_error", "bad_event_stream",
                "Bedrock sent a malformed event stream: " + decoder_.error());
  }
  return status;
}

sy_status ConverseStream::onEnd(const sdk::Output& out) {
  if (failed_) return SY_ERR_UPSTREAM;
  if (done_) return SY_OK;
  if (stopped_ && decoder_.idle()) {
    // messageStop arrived but no metadata event: the answer is complete, its usage unknown.
    sdk::Host::log(SY_LOG_WARN, "bedrock", "ConverseStream ended without a metadata event");
    done_ = true;
    out.emit(SY_EVENT_DONE);
    return SY_OK;
  }
  return fail(out, 502, "upstream_error", "stream_truncated",
              "Bedrock closed the stream before messageStop");
}

sy_status ConverseStream::onMessage(const eventstream::Message& message, const sdk::Output& out) {
  const std::string_view kind = message.header(":message-type");
  if (kind == "exception") {
    // In-band failure: {"message": "..."} with the exception's name in :exception-type.
    const Json payload = Json::parse(message.payload, nullptr, false);
    std::string text;
    if (payload.is_object() && payload.contains("message") && payload["message"].is_string()) {
      text = payload["message"].get<std::string>();
    }
    const MappedError e = mapBedrockError(message.header(":exception-type"), 0, std::move(text));
    return fail(out, e.status, e.type, e.code, e.message);
  }
  if (kind == "error") {
    const MappedError e = mapBedrockError(message.header(":error-code"), 0,
                                          std::string(message.header(":error-message")));
    return fail(out, e.status, e.type, e.code, e.message);
  }
  if (kind != "event") return SY_OK;  // nothing else is defined; ignore rather than fail
  const Json payload = Json::parse(message.payload, nullptr, false);
  if (!payload.is_object()) {
    return fail(out, 502, "upstream_error", "malformed_event",
                "Bedrock sent a stream event whose payload is not a JSON object");
  }
  return onEvent(message.header(":event-type"), payload, out);
}

sy_status ConverseStream::onEvent(std::string_view type, const Json& payload,
                                  const sdk::Output& out) {
  if (type == "messageStart") {
    emitDelta({{"role", "assistant"}, {"content", ""}}, out);
  } else if (type == "contentBlockStart") {
    return onBlockStart(payload, out);
  } else if (type == "contentBlockDelta") {
    return onBlockDelta(payload, out);
  } else if (type == "messageStop") {
    stopped_ = true;
    const std::string reason = finishReason(payload.value("stopReason", ""));
    emitDelta(Json::object(), out, reason.c_str());
    finishIfComplete(out);
  } else if (type == "metadata") {
    return onMetadata(payload, out);
  }
  // contentBlockStop carries nothing OpenAI needs; unknown events are skipped.
  return SY_OK;
}

sy_status ConverseStream::onBlockStart(const Json& payload, const sdk::Output& out) {
  const auto start = payload.find("start");
  if (start == payload.end() || !start->is_object() || !start->contains("toolUse")) {
    return SY_OK;
  }
  const Json& use = (*start)["toolUse"];
  const int64_t block = payload.value("contentBlockIndex", int64_t{-1});
  const int index = next_tool_index_++;
  tool_index_[block] = index;
  emitDelta({{"tool_calls",
              Json::array({{{"index", index},
                            {"id", use.value("toolUseId", "")},
                            {"type", "function"},
                            {"function", {{"name", use.value("name", "")}, {"arguments", ""}}}}})}},
            out);
  return SY_OK;
}

sy_status ConverseStream::onBlockDelta(const Json& payload, const sdk::Output& out) {
  const auto delta = payload.find("delta");
  if (delta == payload.end() || !delta->is_object()) return SY_OK;
  if (delta->contains("text") && (*delta)["text"].is_string()) {
    emitDelta({{"content", (*delta)["text"]}}, out);
  } else if (delta->contains("toolUse") && (*delta)["toolUse"].is_object()) {
    const int64_t block = payload.value("contentBlockIndex", int64_t{-1});
    const auto it = tool_index_.find(block);
    if (it == tool_index_.end()) {
      return fail(out, 502, "upstream_error", "malformed_event",
                  "Bedrock sent tool input for a content block that never started");
    }
    const std::string fragment = (*delta)["toolUse"].value("input", "");
    emitDelta({{"tool_calls",
                Json::array({{{"index", it->second}, {"function", {{"arguments", fragment}}}}})}},
              out);
  } else if (delta->contains("reasoningContent") && (*delta)["reasoningContent"].is_object()) {
    const Json& rc = (*delta)["reasoningContent"];
    if (rc.contains("text") && rc["text"].is_string()) {
      emitDelta({{"reasoning_content", rc["text"]}}, out);
    }
  }
  return SY_OK;
}

sy_status ConverseStream::onMetadata(const Json& payload, const sdk::Output& out) {
  metadata_ = true;
  if (payload.contains("usage") && payload["usage"].is_object()) {
    const Json& usage = payload["usage"];
    // The client sees a usage chunk only when it asked (stream_options.include_usage); the
    // host always gets the usage for accounting.
    if (options_.include_usage) {
      Json chunk = {{"id", meta_.id},           {"object", "chat.completion.chunk"},
                    {"created", meta_.created}, {"model", meta_.model},
                    {"choices", Json::array()}, {"usage", openAiUsage(usage)}};
      out.emit(SY_EVENT_CHUNK, chunk.dump());
    }
    out.emit(SY_EVENT_USAGE, usageEvent(usage).dump());
  }
  finishIfComplete(out);
  return SY_OK;
}

void ConverseStream::emitDelta(Json delta, const sdk::Output& out, const char* finish_reason) {
  Json chunk = {{"id", meta_.id},
                {"object", "chat.completion.chunk"},
                {"created", meta_.created},
                {"model", meta_.model}};
  chunk["choices"] =
      Json::array({{{"index", 0},
                    {"delta", std::move(delta)},
                    {"finish_reason", finish_reason ? Json(finish_reason) : Json()}}});
  out.emit(SY_EVENT_CHUNK, chunk.dump(-1, ' ', false, Json::error_handler_t::replace));
}

void ConverseStream::finishIfComplete(const sdk::Output& out) {
  if (stopped_ && metadata_ && !done_) {
    done_ = true;
    out.emit(SY_EVENT_DONE);
  }
}

sy_status ConverseStream::fail(const sdk::Output& out, uint32_t status, std::string_view type,
                               std::string_view code, std::string_view message) {
  failed_ = true;
  out.setError(status, type, code, message);
  return SY_ERR_UPSTREAM;
}

}  // namespace switchyard::bedrock
