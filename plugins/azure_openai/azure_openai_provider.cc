// Provider "azure-openai": Azure OpenAI behind the unified (OpenAI-format) API. The body is
// OpenAI's already, so the work is in the edges: Azure's URL shape (deployment in the path,
// api-version in the query, or the newer /v1 API), the `api-key` header, always-on stream
// usage, Azure's content-filter annotations in streams, and Azure's error documents.
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <switchyard/sdk.hpp>
#include <switchyard/sse_parser.hpp>
#include <switchyard/text.hpp>
#include <utility>
#include <vector>

#include "azure_errors.h"

namespace switchyard {
namespace azure_openai {
namespace {

using sdk::equalsIgnoreCase;
using sdk::Output;
using sdk::trim;
using sdk::validHeaderName;
using sdk::validHeaderValue;
// ordered_json keeps the client's key order in the body we forward.
using Json = nlohmann::ordered_json;

// The GA data-plane version current when this plugin was written; override per instance.
constexpr const char* kDefaultApiVersion = "2024-10-21";
// A JSON (not SSE) answer to a stream request is buffered whole; bound it.
constexpr size_t kMaxJsonStreamBytes = 16u << 20;

sdk::Error configError(std::string message) {
  return sdk::Error(400, "invalid_request_error", "invalid_config",
                    "azure-openai provider config: " + std::move(message));
}

std::string dumpJson(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

void setError(const Output& out, const ClientError& e) {
  out.setError(e.status, e.type, e.code, e.message);
}

/// RFC 3986 percent-encoding of one path segment (a deployment name is user-chosen text).
std::string encodePathSegment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' || c == '~';
    if (unreserved) {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xF];
    }
  }
  return out;
}

/// api-version goes into the query verbatim, so only the characters Azure's versions use
/// ("2024-10-21", "2025-04-01-preview", "preview") are allowed.
bool validApiVersion(std::string_view v) {
  if (v.empty() || v.size() > 64) return false;
  for (char c : v) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                    c == '-' || c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

/// Azure's usage is OpenAI's, with the cache and reasoning counts nested; the gateway's USAGE
/// event wants them flat.
std::string normalizedUsage(const Json& usage) {
  Json out = Json::object();
  for (const char* key : {"prompt_tokens", "completion_tokens", "total_tokens"}) {
    const auto it = usage.find(key);
    out[key] = it != usage.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
  }
  auto nested = [&](const char* object, const char* key, const char* as) {
    const auto o = usage.find(object);
    if (o == usage.end() || !o->is_object()) return;
    const auto v = o->find(key);
    if (v != o->end() && v->is_number_integer() && v->get<int64_t>() > 0) out[as] = *v;
  };
  nested("prompt_tokens_details", "cached_tokens", "cached_tokens");
  nested("completion_tokens_details", "reasoning_tokens", "reasoning_tokens");
  return dumpJson(out);
}

/// Finds body.stream_options.include_usage: the stream needs only this one flag, and the
/// client's body may be large.
bool clientAskedForUsage(std::string_view body) {
  const Json doc = Json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) return false;
  const auto options = doc.find("stream_options");
  if (options == doc.end() || !options->is_object()) return false;
  const auto flag = options->find("include_usage");
  return flag != options->end() && flag->is_boolean() && flag->get<bool>();
}

/// Translates Azure's chat.completion.chunk stream. It is OpenAI's format plus annotation
/// frames: with content filtering on (the default), the first event has `"choices":[]` and
/// only `prompt_filter_results` (id, model and object empty); in asynchronous filter mode
/// more choices-less annotation frames follow. OpenAI clients index choices[0] and the frame
/// carries nothing a chat client can use, so those frames are dropped. Choices that carry
/// `content_filter_results` next to a delta are forwarded unchanged (an extra field).
class AzureStream : public sdk::ProviderStream {
 public:
  AzureStream(bool client_wants_usage, bool json_body)
      : client_wants_usage_(client_wants_usage), json_body_(json_body) {}

  sy_status onData(std::string_view bytes, const Output& out) override {
    if (failed_) return SY_ERR_UPSTREAM;
    if (done_) return SY_OK;  // anything after [DONE] has no meaning
    if (json_body_) return bufferJson(bytes, out);
    sy_status status = SY_OK;
    const auto result = parser_.feed(bytes, [&](std::string_view data) {
      status = onEvent(data, out);
      return status == SY_OK && !done_;
    });
    if (result == sdk::SseParser::Result::kTooLarge) {
      return fail(out, {502, "upstream_error", "chunk_too_large",
                        "upstream sent a stream event larger than the gateway accepts"});
    }
    return status;
  }

  sy_status onEnd(const Output& out) override {
    if (failed_) return SY_ERR_UPSTREAM;
    if (done_) return SY_OK;
    if (json_body_) return endJsonBody(out);
    // A close right after "data: [DONE]\n" without the blank line is still a complete stream.
    if (trim(parser_.finish()) == "[DONE]") {
      done_ = true;
      out.emit(SY_EVENT_DONE);
      return SY_OK;
    }
    return fail(out, {502, "upstream_error", "stream_truncated",
                      "upstream closed the stream before [DONE]"});
  }

 private:
  sy_status onEvent(std::string_view data, const Output& out) {
    const std::string_view text = trim(data);
    if (text.empty()) return SY_OK;
    if (text == "[DONE]") {
      done_ = true;
      out.emit(SY_EVENT_DONE);
      return SY_OK;
    }
    const Json chunk = Json::parse(text, nullptr, false);
    if (chunk.is_discarded() || !chunk.is_object()) {
      return fail(out, {502, "upstream_error", "malformed_chunk",
                        "upstream sent a stream chunk that is not a JSON object"});
    }
    if (hasError(chunk)) {
      ClientError e = translateError(chunk, inBandStatus(chunk));
      return fail(out, std::move(e));
    }
    const auto usage = chunk.find("usage");
    const bool has_usage = usage != chunk.end() && usage->is_object();
    const auto choices = chunk.find("choices");
    const bool no_choices = choices == chunk.end() || !choices->is_array() || choices->empty();
    // A choices-less chunk is either the include_usage chunk (shown only to clients that
    // asked) or an Azure annotation frame (never shown; see the class comment).
    const bool forward = !no_choices || (has_usage && client_wants_usage_);
    if (forward) {
      // Multi-line data would break the core's one-line "data: <json>" framing.
      if (sdk::findLineBreak(text) == std::string_view::npos) {
        out.emit(SY_EVENT_CHUNK, text);
      } else {
        out.emit(SY_EVENT_CHUNK, dumpJson(chunk));
      }
    }
    if (has_usage) out.emit(SY_EVENT_USAGE, normalizedUsage(*usage));
    return SY_OK;
  }

  sy_status bufferJson(std::string_view bytes, const Output& out) {
    if (body_.size() + bytes.size() > kMaxJsonStreamBytes) {
      return fail(out, {502, "upstream_error", "bad_upstream_response",
                        "upstream answered a stream request with an oversized JSON body"});
    }
    body_.append(bytes);
    return SY_OK;
  }

  /// Azure answers some stream failures (e.g. a filtered prompt) with a JSON error body.
  sy_status endJsonBody(const Output& out) {
    const Json doc = Json::parse(body_, nullptr, false);
    if (!doc.is_discarded() && doc.is_object() && hasError(doc)) {
      return fail(out, translateError(doc, inBandStatus(doc)));
    }
    return fail(out, {502, "upstream_error", "bad_upstream_response",
                      "upstream answered a stream request without an event stream"});
  }

  sy_status fail(const Output& out, const ClientError& e) {
    failed_ = true;
    setError(out, e);
    return SY_ERR_UPSTREAM;
  }

  const bool client_wants_usage_;
  const bool json_body_;
  sdk::SseParser parser_;
  std::string body_;
  bool done_ = false;
  bool failed_ = false;
};

/// Which of Azure's two URL shapes an instance speaks.
enum class ApiStyle {
  kDeployments,  ///< {base}/deployments/{deployment}/chat/completions?api-version=...
  kV1,           ///< {base}/v1/chat/completions, model in the body
};

class AzureOpenAiProvider : public sdk::Provider {
 public:
  explicit AzureOpenAiProvider(std::string_view config_text) {
    if (trim(config_text).empty()) return;
    const Json config = Json::parse(config_text, nullptr, false);
    if (config.is_discarded() || !config.is_object()) throw configError("must be a JSON object");
    for (const auto& [key, value] : config.items()) {
      if (key == "api_version") {
        parseApiVersion(value);
      } else if (key == "api_style") {
        parseApiStyle(value);
      } else if (key == "extra_headers") {
        parseExtraHeaders(value);
      } else {
        throw configError("unknown key \"" + key +
                          "\" (allowed: api_version, api_style, extra_headers)");
      }
    }
  }

  sy_status buildRequest(const sdk::ProviderRequest& request, const Output& out) override {
    const std::string_view endpoint = endpointFor(request);
    Json body = Json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      throw sdk::invalidRequest("the request body must be a JSON object", "invalid_json");
    }
    setModel(body, request);
    if (request.operation == SY_OP_CHAT_COMPLETIONS) setStreamFlags(body, request.stream);

    // Keys read from files often end in a newline; anything else that could break the header
    // line is refused (without echoing the key).
    const std::string_view api_key = trim(request.api_key);
    if (!validHeaderValue(api_key)) {
      throw sdk::Error(500, "internal_error", "invalid_upstream_credential",
                       "the provider's API key contains control characters");
    }
    out.setMethod("POST");
    out.setPath(pathFor(endpoint, request.upstream_model));
    addHeaders(out, api_key, request.stream);
    out.appendBody(dumpJson(body));
    return SY_OK;
  }

  sy_status parseResponse(const sdk::ProviderRequest&, const sdk::UpstreamResponse& response,
                          const Output& out) override {
    const Json doc = Json::parse(response.body, nullptr, false);
    const bool success = response.status >= 200 && response.status <= 299;
    if (doc.is_discarded() || !doc.is_object()) {
      setError(out, {502, "upstream_error", "bad_upstream_response",
                     "upstream answered HTTP " + std::to_string(response.status) +
                         " with a body that is not a JSON object"});
      return SY_ERR_UPSTREAM;
    }
    if (!success) {
      const uint32_t status =
          response.status >= 400 && response.status <= 599 ? response.status : 502;
      setError(out, translateError(doc, status));
      return SY_ERR_UPSTREAM;
    }
    if (hasError(doc)) {
      setError(out, translateError(doc, inBandStatus(doc)));
      return SY_ERR_UPSTREAM;
    }
    // prompt_filter_results / content_filter_results stay in the body: extra fields that
    // OpenAI clients ignore and Azure-aware clients read.
    out.emit(SY_EVENT_RESPONSE, response.body);
    if (auto usage = doc.find("usage"); usage != doc.end() && usage->is_object()) {
      out.emit(SY_EVENT_USAGE, normalizedUsage(*usage));
    }
    return SY_OK;
  }

  std::unique_ptr<sdk::ProviderStream> openStream(const sdk::ProviderRequest& request,
                                                  const sdk::UpstreamResponse& response) override {
    const std::string_view content_type = trim(response.headers.get("content-type"));
    const bool json_body = content_type.size() >= 16 &&
                           equalsIgnoreCase(content_type.substr(0, 16), "application/json");
    return std::make_unique<AzureStream>(clientAskedForUsage(request.body), json_body);
  }

 private:
  static std::string_view endpointFor(const sdk::ProviderRequest& request) {
    switch (request.operation) {
      case SY_OP_CHAT_COMPLETIONS:
        return "/chat/completions";
      case SY_OP_EMBEDDINGS:
        if (request.stream) {
          throw sdk::invalidRequest("embeddings cannot be streamed", "unsupported_stream");
        }
        return "/embeddings";
      default:
        throw sdk::invalidRequest("the azure-openai provider does not support this operation",
                                  "unsupported_operation");
    }
  }

  /// The deployment names the model in the deployments style (Azure ignores a body "model"
  /// there, so the client's public alias is not sent); the v1 API needs it in the body.
  void setModel(Json& body, const sdk::ProviderRequest& request) const {
    if (style_ == ApiStyle::kDeployments) {
      if (request.upstream_model.empty()) {
        throw sdk::invalidRequest("no Azure deployment is configured for this model",
                                  "missing_deployment");
      }
      body.erase("model");
    } else if (!request.upstream_model.empty()) {
      body["model"] = std::string(request.upstream_model);
    }
  }

  static void setStreamFlags(Json& body, bool stream) {
    if (!stream) {
      // The core answers this call as a whole response, whatever the body says.
      if (body.contains("stream")) body["stream"] = false;
      return;
    }
    body["stream"] = true;
    // Always ask for usage so streamed calls are counted; the stream hides the extra chunk
    // again from clients that did not ask.
    auto options = body.find("stream_options");
    if (options == body.end() || options->is_null()) {
      body["stream_options"] = Json{{"include_usage", true}};
    } else if (options->is_object()) {
      (*options)["include_usage"] = true;
    }
    // Any other type is the client's mistake; Azure will say so.
  }

  std::string pathFor(std::string_view endpoint, std::string_view deployment) const {
    std::string path;
    if (style_ == ApiStyle::kDeployments) {
      path = "/deployments/" + encodePathSegment(deployment) + std::string(endpoint) +
             "?api-version=" + api_version_;
    } else {
      path = "/v1" + std::string(endpoint);
      // The GA v1 API takes no api-version; "preview" features need one.
      if (api_version_set_) path += "?api-version=" + api_version_;
    }
    return path;
  }

  void addHeaders(const Output& out, std::string_view api_key, bool stream) const {
    std::vector<std::pair<std::string, std::string>> headers;
    headers.emplace_back("Content-Type", "application/json");
    if (!api_key.empty()) headers.emplace_back("api-key", std::string(api_key));
    if (stream) headers.emplace_back("Accept", "text/event-stream");
    // A configured header replaces a built-in one of the same name rather than doubling it.
    for (const auto& extra : extra_headers_) {
      std::erase_if(headers, [&](const auto& h) { return equalsIgnoreCase(h.first, extra.first); });
    }
    for (const auto& [name, value] : headers) out.addHeader(name, value);
    for (const auto& [name, value] : extra_headers_) out.addHeader(name, value);
  }

  void parseApiVersion(const Json& value) {
    if (!value.is_string() || !validApiVersion(value.get<std::string>())) {
      throw configError("\"api_version\" must be a version string such as \"2024-10-21\"");
    }
    api_version_ = value.get<std::string>();
    api_version_set_ = true;
  }

  void parseApiStyle(const Json& value) {
    const std::string style = value.is_string() ? value.get<std::string>() : "";
    if (style == "deployments") {
      style_ = ApiStyle::kDeployments;
    } else if (style == "v1") {
      style_ = ApiStyle::kV1;
    } else {
      throw configError("\"api_style\" must be \"deployments\" or \"v1\"");
    }
  }

  void parseExtraHeaders(const Json& value) {
    if (!value.is_object()) {
      throw configError("\"extra_headers\" must be an object of header names to strings");
    }
    for (const auto& [name, v] : value.items()) {
      if (!validHeaderName(name)) {
        throw configError("\"extra_headers\" has an invalid header name \"" + name + "\"");
      }
      if (!v.is_string() || !validHeaderValue(v.get<std::string>())) {
        throw configError("\"extra_headers\" value of \"" + name +
                          "\" must be a string without control characters");
      }
      extra_headers_.emplace_back(name, v.get<std::string>());
    }
  }

  ApiStyle style_ = ApiStyle::kDeployments;
  std::string api_version_ = kDefaultApiVersion;
  bool api_version_set_ = false;
  std::vector<std::pair<std::string, std::string>> extra_headers_;
};

}  // namespace
}  // namespace azure_openai
}  // namespace switchyard

SY_PLUGIN("azure-openai", "1.0.0", "Switchyard", "Azure OpenAI provider",
          switchyard::sdk::provider<switchyard::azure_openai::AzureOpenAiProvider>(
              "azure-openai", "Azure OpenAI chat completions and embeddings"))
