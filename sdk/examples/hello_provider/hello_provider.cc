/// @file hello_provider.cc
/// @brief The SDK tutorial's example: provider "hello", a passthrough to any OpenAI-compatible
/// upstream (OpenAI, vLLM, llama.cpp server, Ollama's /v1, ...). See docs/sdk.md.
///
/// What it does, and nothing more:
///  - build_request: swaps the client's public model name for the target's upstream model,
///    fills in "user" from the config when the client sent none, and sets path and auth header;
///  - parse_response: passes a 2xx body through and reports its usage; maps an upstream error
///    body to the same OpenAI-style error for the client;
///  - streams: splits the upstream's server-sent events into chunks, reports usage, ends at
///    [DONE].
///
/// A provider never opens a socket. The gateway core owns connections, TLS, timeouts and
/// retries; the plugin only translates bytes. That is why this file has no I/O at all.
///
/// Config block (all optional):  { "user": "hello-example" }
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <switchyard/sdk.hpp>

namespace {

using nlohmann::json;
namespace sdk = switchyard::sdk;

/// Turns an upstream error answer into the client's error. OpenAI-compatible servers send
/// {"error":{"message","type","code"}}; anything else is passed on as the message.
sy_status upstreamError(uint32_t status, std::string_view body, const sdk::Output& out) {
  std::string type = "upstream_error", code, message(body);
  const json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    if (e.contains("type") && e["type"].is_string()) type = e["type"];
    if (e.contains("code") && e["code"].is_string()) code = e["code"];
    if (e.contains("message") && e["message"].is_string()) message = e["message"];
  }
  out.setError(status, type, code, message);
  return SY_ERR_UPSTREAM;  // "the upstream said no": the core may retry another target.
}

/// Translates one streamed answer. The host creates one per stream and feeds it the bytes
/// exactly as they came off the socket: an event may arrive split across calls, or several
/// events in one call, so we buffer until a blank line ends an event.
/// THREADING: the host serializes all calls for one stream, so no locking is needed here.
class HelloStream : public sdk::ProviderStream {
 public:
  sy_status onData(std::string_view bytes, const sdk::Output& out) override {
    buffer_.append(bytes);
    size_t start = 0;
    size_t end;
    while (!done_ && (end = buffer_.find("\n\n", start)) != std::string::npos) {
      if (sy_status s = onEvent(std::string_view(buffer_).substr(start, end - start), out);
          s != SY_OK) {
        return s;
      }
      start = end + 2;
    }
    buffer_.erase(0, start);
    return SY_OK;
  }

  /// The upstream closed the connection. A stream that ends without [DONE] was cut short;
  /// say so, so the client sees an error rather than a silently truncated answer.
  sy_status onEnd(const sdk::Output& out) override {
    if (!done_ && !buffer_.empty()) {
      const std::string rest = std::move(buffer_);
      buffer_.clear();
      if (sy_status s = onEvent(rest, out); s != SY_OK) return s;
    }
    if (!done_) {
      out.setError(502, "upstream_error", "stream_truncated",
                   "the upstream closed the stream before [DONE]");
      return SY_ERR_UPSTREAM;
    }
    return SY_OK;
  }

 private:
  /// One SSE event: "data: <json>" lines (a \r before the \n is tolerated). Comment lines
  /// (": keep-alive") and other fields are ignored.
  sy_status onEvent(std::string_view event, const sdk::Output& out) {
    std::string data;
    bool has_data = false;
    while (!event.empty()) {
      const size_t nl = event.find('\n');
      std::string_view line = event.substr(0, nl);
      event = nl == std::string_view::npos ? std::string_view{} : event.substr(nl + 1);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.substr(0, 5) != "data:") continue;
      line.remove_prefix(5);
      if (!line.empty() && line.front() == ' ') line.remove_prefix(1);
      if (has_data) data += '\n';
      data.append(line);
      has_data = true;
    }
    if (!has_data) return SY_OK;

    if (data == "[DONE]") {
      done_ = true;
      out.emit(SY_EVENT_DONE);
      return SY_OK;
    }
    const json chunk = json::parse(data, nullptr, /*allow_exceptions=*/false);
    if (!chunk.is_object()) {
      out.setError(502, "upstream_error", "bad_stream_chunk", "the upstream sent a non-JSON event");
      return SY_ERR_UPSTREAM;
    }
    if (chunk.contains("error")) {  // Some servers report failures in-band, mid-stream.
      return upstreamError(502, data, out);
    }
    // The chunk is already in the unified format: hand over the JSON object only; the core
    // writes the "data: ...\n\n" framing to the client itself.
    out.emit(SY_EVENT_CHUNK, data);
    // With stream_options.include_usage the last chunk carries the usage; other chunks
    // have "usage": null.
    if (chunk.contains("usage") && chunk["usage"].is_object()) {
      out.emit(SY_EVENT_USAGE, chunk["usage"].dump());
    }
    return SY_OK;
  }

  std::string buffer_;
  bool done_ = false;
};

/// One configured instance. The host constructs it from the instance's "config" block (the
/// constructor may throw: the SDK turns that into a refused config) and may then call
/// buildRequest/parseResponse from many threads at once, so members are read-only after
/// construction.
class HelloProvider : public sdk::Provider {
 public:
  explicit HelloProvider(std::string_view config) {
    const json c = config.empty() ? json::object() : json::parse(config);  // Throws if invalid.
    if (!c.is_object()) {
      throw sdk::invalidRequest("hello: config must be a JSON object", "invalid_config");
    }
    user_ = c.value("user", std::string("hello-example"));
  }

  sy_status buildRequest(const sdk::ProviderRequest& request, const sdk::Output& out) override {
    json body = json::parse(request.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) {
      // Thrown sdk::Error becomes the client's error (here a 400) via the panic barrier.
      throw sdk::invalidRequest("the request body is not a JSON object", "invalid_json");
    }
    // The client names the model by its public name; the target may know it by another.
    body["model"] = std::string(request.upstream_model);
    if (!body.contains("user") && !user_.empty()) {
      body["user"] = user_;
    }

    switch (request.operation) {
      case SY_OP_CHAT_COMPLETIONS:
        out.setPath("/chat/completions");  // Relative to the target's base_url.
        break;
      case SY_OP_EMBEDDINGS:
        out.setPath("/embeddings");
        break;
      default:
        out.setError(400, "invalid_request_error", "unsupported_operation",
                     "the hello provider does not support this operation");
        return SY_ERR_UNSUPPORTED;
    }
    out.setMethod("POST");
    out.addHeader("Content-Type", "application/json");
    // The key arrives per call, so key rotation needs no plugin reload. Never log it.
    if (!request.api_key.empty()) {
      out.addHeader("Authorization", "Bearer " + std::string(request.api_key));
    }
    out.appendBody(body.dump());
    return SY_OK;
  }

  sy_status parseResponse(const sdk::ProviderRequest&, const sdk::UpstreamResponse& response,
                          const sdk::Output& out) override {
    if (response.status < 200 || response.status >= 300) {
      return upstreamError(response.status, response.body, out);
    }
    const json body = json::parse(response.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) {
      out.setError(502, "upstream_error", "bad_response", "the upstream answer is not JSON");
      return SY_ERR_UPSTREAM;
    }
    // Already the unified format: pass the bytes through untouched. emit() copies them.
    out.emit(SY_EVENT_RESPONSE, response.body);
    if (body.contains("usage") && body["usage"].is_object()) {
      out.emit(SY_EVENT_USAGE, body["usage"].dump());
    }
    return SY_OK;
  }

  /// Called once the upstream answered a stream with 2xx; non-2xx answers go to
  /// parseResponse instead. The returned object is owned by the host from here on.
  std::unique_ptr<sdk::ProviderStream> openStream(const sdk::ProviderRequest&,
                                                  const sdk::UpstreamResponse&) override {
    return std::make_unique<HelloStream>();
  }

 private:
  std::string user_;
};

}  // namespace

// The one exported symbol, sy_plugin_entry, and the static table it returns. The first four
// arguments describe the library (shown by GET /admin/plugins); then one entry per component.
// "hello" is the name a gateway config uses: "providers": {"x": {"type": "hello", ...}}.
SY_PLUGIN("hello_provider", "1.0.0", "Example Vendor",
          "SDK tutorial: a provider for any OpenAI-compatible upstream",
          switchyard::sdk::provider<HelloProvider>("hello",
                                                   "Any OpenAI-compatible upstream (example)"))
