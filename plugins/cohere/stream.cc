#include "stream.h"

#include <switchyard/text.hpp>

#include "response.h"

namespace switchyard::cohere {
namespace {

// A JSON (not SSE) answer to a stream request is buffered whole; bound it.
constexpr size_t kMaxJsonStreamBytes = 1u << 20;

/// event.delta.message, or an empty object.
Json deltaMessage(const Json& event) {
  const auto delta = event.find("delta");
  if (delta == event.end() || !delta->is_object()) return Json::object();
  return delta->value("message", Json::object());
}

}  // namespace

CohereStream::CohereStream(std::string model, int64_t created, bool client_wants_usage,
                           bool json_body)
    : model_(std::move(model)),
      created_(created),
      client_wants_usage_(client_wants_usage),
      json_body_(json_body) {}

sy_status CohereStream::onData(std::string_view bytes, const sdk::Output& out) {
  if (failed_) return SY_ERR_UPSTREAM;
  if (done_) return SY_OK;
  if (json_body_) {
    if (body_.size() + bytes.size() > kMaxJsonStreamBytes) {
      return fail(out, 502, "upstream_error", "bad_upstream_response",
                  "upstream answered a stream request with an oversized JSON body");
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
                "upstream sent a stream event larger than the gateway accepts");
  }
  return status;
}

sy_status CohereStream::onEnd(const sdk::Output& out) {
  if (failed_) return SY_ERR_UPSTREAM;
  if (done_) return SY_OK;
  if (json_body_) {
    const Json doc = Json::parse(body_, nullptr, false);
    if (!doc.is_discarded() && doc.is_object()) {
      const ClientError e = translateError(doc, 502);
      return fail(out, e.status, e.type, e.code, e.message);
    }
    return fail(out, 502, "upstream_error", "bad_upstream_response",
                "upstream answered a stream request without an event stream");
  }
  // An event that lacked only its final blank line still counts; a cut-off one does not.
  const std::string rest = parser_.finish();
  const Json last = Json::parse(sdk::trim(rest), nullptr, false);
  if (!last.is_discarded() && last.is_object()) {
    const sy_status s = onEvent(rest, out);
    if (s != SY_OK || done_) return s;
  }
  return fail(out, 502, "upstream_error", "stream_truncated",
              "upstream closed the stream before message-end");
}

sy_status CohereStream::onEvent(std::string_view data, const sdk::Output& out) {
  const std::string_view text = sdk::trim(data);
  if (text.empty()) return SY_OK;
  const Json event = Json::parse(text, nullptr, false);
  if (event.is_discarded() || !event.is_object()) {
    return fail(out, 502, "upstream_error", "malformed_chunk",
                "upstream sent a stream event that is not a JSON object");
  }
  const std::string type = event.value("type", "");
  if (type.empty()) {
    // Not an event: an error document written into the stream.
    const ClientError e = translateError(event, 502);
    return fail(out, e.status, e.type, e.code, e.message);
  }
  if (type == "message-start") {
    id_ = event.value("id", "");
    emitDelta(out, {{"role", "assistant"}, {"content", ""}});
  } else if (type == "content-start" || type == "content-delta") {
    const Json content = deltaMessage(event).value("content", Json::object());
    const std::string piece = content.is_object() ? content.value("text", "") : "";
    if (!piece.empty()) emitDelta(out, {{"content", piece}});
  } else if (type == "tool-plan-delta") {
    const std::string plan = deltaMessage(event).value("tool_plan", "");
    if (!plan.empty()) emitDelta(out, {{"content", plan}});
  } else if (type == "tool-call-start") {
    onToolCallStart(event, out);
  } else if (type == "tool-call-delta") {
    onToolCallDelta(event, out);
  } else if (type == "message-end") {
    onMessageEnd(event, out);
  }
  // content-end, tool-call-end, citation-start/-end and future types carry nothing an OpenAI
  // chunk can express.
  return SY_OK;
}

void CohereStream::emitDelta(const sdk::Output& out, Json delta, const Json& finish) {
  const Json chunk = {
      {"id", id_},
      {"object", "chat.completion.chunk"},
      {"created", created_},
      {"model", model_},
      {"choices",
       Json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", finish}}})}};
  out.emit(SY_EVENT_CHUNK, dumpJson(chunk));
}

void CohereStream::onToolCallStart(const Json& event, const sdk::Output& out) {
  const int64_t cohere_index = event.value("index", static_cast<int64_t>(tool_index_.size()));
  const int index = static_cast<int>(tool_index_.size());
  tool_index_[cohere_index] = index;
  current_tool_ = index;
  const Json call = deltaMessage(event).value("tool_calls", Json::object());
  const Json fn = call.is_object() ? call.value("function", Json::object()) : Json::object();
  emitDelta(out, {{"tool_calls", Json::array({{{"index", index},
                                               {"id", call.value("id", "")},
                                               {"type", "function"},
                                               {"function",
                                                {{"name", fn.value("name", "")},
                                                 {"arguments", fn.value("arguments", "")}}}}})}});
}

void CohereStream::onToolCallDelta(const Json& event, const sdk::Output& out) {
  int index = current_tool_;
  if (const auto it = event.find("index"); it != event.end() && it->is_number_integer()) {
    if (const auto known = tool_index_.find(it->get<int64_t>()); known != tool_index_.end()) {
      index = known->second;
    }
  }
  if (index < 0) return;  // a delta without a start has no call to belong to
  const Json call = deltaMessage(event).value("tool_calls", Json::object());
  const Json fn = call.is_object() ? call.value("function", Json::object()) : Json::object();
  const std::string args = fn.is_object() ? fn.value("arguments", "") : "";
  if (args.empty()) return;
  emitDelta(out, {{"tool_calls",
                   Json::array({{{"index", index}, {"function", {{"arguments", args}}}}})}});
}

void CohereStream::onMessageEnd(const Json& event, const sdk::Output& out) {
  const Json delta = event.value("delta", Json::object());
  emitDelta(out, Json::object(), finishReason(delta.value("finish_reason", Json())));
  if (const auto usage = delta.find("usage"); usage != delta.end() && usage->is_object()) {
    const Json u = usageFromCohere(*usage);
    if (client_wants_usage_) {
      const Json chunk = {
          {"id", id_},       {"object", "chat.completion.chunk"}, {"created", created_},
          {"model", model_}, {"choices", Json::array()},          {"usage", u}};
      out.emit(SY_EVENT_CHUNK, dumpJson(chunk));
    }
    out.emit(SY_EVENT_USAGE, dumpJson(u));
  }
  done_ = true;
  out.emit(SY_EVENT_DONE);
}

sy_status CohereStream::fail(const sdk::Output& out, uint32_t status, std::string_view type,
                             std::string_view code, std::string_view message) {
  failed_ = true;
  out.setError(status, type, code, message);
  return SY_ERR_UPSTREAM;
}

}  // namespace switchyard::cohere
