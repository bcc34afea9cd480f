#include "switchyard/ingress/ingress_adapter.h"

#include "json_access.h"
#include "switchyard/ingress/anthropic_messages.h"
#include "switchyard/ingress/openai_responses.h"

namespace switchyard::ingress {
namespace {

using namespace detail;

// The proxy writes whole SSE events, but nothing in the writer contract promises it: a partial
// event waits here for its end. Bounded so a runaway event cannot grow without limit.
constexpr size_t kMaxPendingEventBytes = 16u << 20;

/// Receives what the proxy writes for the unified API and sends the client API's shape instead.
/// Because the proxy only writes through this object, retries and fallbacks before the first
/// byte stay invisible, and a failure after it arrives as the in-band error written below.
class TranslatingWriter : public HttpResponseWriter {
 public:
  TranslatingWriter(IngressAdapter& adapter, HttpResponseWriter& client)
      : adapter_(adapter), client_(client) {}

  void setHeader(const std::string& name, const std::string& value) override {
    client_.setHeader(name, value);
  }

  bool send(int status, std::string_view content_type, std::string_view body) override {
    std::string translated(body);
    if (content_type.rfind("application/json", 0) == 0) {
      adapter_.answer(status, translated);
    }
    return client_.send(status, content_type, translated);
  }

  bool beginStream(int status, std::string_view content_type) override {
    encoder_ = adapter_.streamEncoder();
    return client_.beginStream(status, content_type);
  }

  bool write(std::string_view bytes) override {
    if (!encoder_) {
      return client_.write(bytes);
    }
    pending_.append(bytes);
    std::string out;
    size_t at = 0;
    for (size_t end; (end = pending_.find("\n\n", at)) != std::string::npos; at = end + 2) {
      event(std::string_view(pending_).substr(at, end - at), out);
    }
    pending_.erase(0, at);
    if (pending_.size() > kMaxPendingEventBytes) {
      pending_.clear();
      out += encoder_->error(ApiError::upstream(
          502, "chunk_too_large", "A stream event was larger than the gateway accepts"));
    }
    return out.empty() || client_.write(out);
  }

  void closeAfter() override { client_.closeAfter(); }
  bool started() const override { return client_.started(); }

 private:
  /// One unified SSE event: "data: <chunk>", "data: [DONE]" or "data: {"error":…}".
  void event(std::string_view event, std::string& out) {
    constexpr std::string_view kData = "data: ";
    if (event.rfind(kData, 0) != 0) {
      return;
    }
    const std::string_view data = event.substr(kData.size());
    if (data == "[DONE]") {
      out += encoder_->done();
      return;
    }
    const Json doc = Json::parse(data, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      out += encoder_->error(
          ApiError::upstream(502, "malformed_chunk", "The provider sent a malformed stream chunk"));
    } else if (given(doc, "error") != nullptr) {
      // The unified in-band error carries no status; the error's type still says what happened.
      const ApiError e = parseOpenAiError(500, data);
      out += encoder_->error(e);
    } else {
      out += encoder_->chunk(doc);
    }
  }

  IngressAdapter& adapter_;
  HttpResponseWriter& client_;
  StreamEncoderPtr encoder_;
  std::string pending_;
};

}  // namespace

std::unique_ptr<HttpResponseWriter> IngressAdapter::wrap(HttpResponseWriter& client) {
  return std::make_unique<TranslatingWriter>(*this, client);
}

IngressAdapterPtr adapterForPath(std::string_view path) {
  if (path == "/v1/messages" || path == "/messages") {
    return std::make_unique<AnthropicMessagesAdapter>();
  }
  if (path == "/v1/responses" || path == "/responses") {
    return std::make_unique<OpenAiResponsesAdapter>();
  }
  return nullptr;
}

std::optional<Json> parseCompletion(int& status, std::string& body) {
  Json completion = Json::parse(body, nullptr, false);
  if (completion.is_discarded() || !completion.is_object()) {
    status = 502;
    body = ApiError::upstream(502, "bad_upstream_response", "The provider's answer was not JSON")
               .toJson();
    return std::nullopt;
  }
  return completion;
}

ApiError parseOpenAiError(int status, std::string_view body) {
  ApiError e{status, status >= 500 ? "api_error" : "invalid_request_error", "", ""};
  const Json doc = Json::parse(body, nullptr, false);
  const Json* error = member(doc, "error");
  if (error != nullptr && error->is_object()) {
    e.message = stringOr(*error, "message");
    e.type = stringOr(*error, "type", e.type);
    e.code = stringOr(*error, "code");
  } else if (error != nullptr && error->is_string()) {
    e.message = error->get<std::string>();
  }
  if (e.message.empty()) {
    e.message = "The request failed with HTTP status " + std::to_string(status);
  }
  return e;
}

}  // namespace switchyard::ingress
