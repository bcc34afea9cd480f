// Provider "anthropic": translates the unified (OpenAI-format) chat completions API to
// Anthropic's Messages API (POST {base_url}/messages) and Anthropic's answers, whole or
// streamed, back. The translation itself lives in request_translator, response_translator
// and stream_translator; this file holds the config, headers and the SDK wiring.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <switchyard/sdk.hpp>
#include <switchyard/text.hpp>
#include <utility>
#include <vector>

#include "common.h"
#include "request_translator.h"
#include "response_translator.h"
#include "stream_translator.h"

namespace switchyard {
namespace anthropic {
namespace {

using sdk::equalsIgnoreCase;
using sdk::isTokenChar;
using sdk::trim;
using sdk::validHeaderName;
using sdk::validHeaderValue;

using sdk::Output;

constexpr const char* kDefaultVersion = "2023-06-01";
constexpr int64_t kDefaultMaxTokens = 4096;

sdk::Error configError(std::string message) {
  return sdk::Error(400, "invalid_request_error", "invalid_config",
                    "anthropic provider config: " + std::move(message));
}

bool isJsonContentType(std::string_view content_type) {
  content_type = trim(content_type);
  return content_type.size() >= 16 &&
         equalsIgnoreCase(content_type.substr(0, 16), "application/json");
}

/// Reads stream_options.include_usage from the client's body. A stream request body was
/// already parsed once by build_request; this second parse happens once per stream.
bool clientAskedForUsage(std::string_view body) {
  const Json doc = Json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) {
    return false;
  }
  const auto options = doc.find("stream_options");
  if (options == doc.end() || !options->is_object()) {
    return false;
  }
  const auto include = options->find("include_usage");
  return include != options->end() && include->is_boolean() && include->get<bool>();
}

int64_t createdNow() {
  return sdk::Host::nowUnixMs() / 1000;
}

class AnthropicProvider : public sdk::Provider {
 public:
  explicit AnthropicProvider(std::string_view config_text) {
    if (trim(config_text).empty()) {
      return;
    }
    const Json config = Json::parse(config_text, nullptr, false);
    if (config.is_discarded() || !config.is_object()) {
      throw configError("must be a JSON object");
    }
    for (const auto& [key, value] : config.items()) {
      if (key == "anthropic_version") {
        if (!value.is_string() || value.get_ref<const std::string&>().empty() ||
            !validHeaderValue(value.get_ref<const std::string&>())) {
          throw configError("\"anthropic_version\" must be a non-empty string like \"" +
                            std::string(kDefaultVersion) + "\"");
        }
        version_ = value.get<std::string>();
      } else if (key == "default_max_tokens") {
        if (!value.is_number_integer() || value.get<int64_t>() < 1) {
          throw configError("\"default_max_tokens\" must be a positive integer");
        }
        default_max_tokens_ = value.get<int64_t>();
      } else if (key == "extra_headers") {
        parseExtraHeaders(value);
      } else {
        throw configError("unknown key \"" + key +
                          "\" (allowed: anthropic_version, default_max_tokens, extra_headers)");
      }
    }
  }

  sy_status buildRequest(const sdk::ProviderRequest& request, const Output& out) override {
    if (request.operation != SY_OP_CHAT_COMPLETIONS) {
      out.setError(400, "invalid_request_error", "unsupported_operation",
                   request.operation == SY_OP_EMBEDDINGS
                       ? "Anthropic has no embeddings API; route embeddings to another provider"
                       : "the anthropic provider does not support this operation");
      return SY_ERR_UNSUPPORTED;
    }
    const Json body = Json::parse(request.body, nullptr, false);
    if (body.is_discarded() || !body.is_object()) {
      out.setError(400, "invalid_request_error", "invalid_json",
                   "the request body must be a JSON object");
      return SY_ERR_INVALID_ARG;
    }
    // Keys read from files often end in a newline; anything else that could break the
    // header line is refused (without echoing the key).
    const std::string_view api_key = trim(request.api_key);
    if (!validHeaderValue(api_key)) {
      out.setError(500, "internal_error", "invalid_upstream_credential",
                   "the provider's API key contains control characters");
      return SY_ERR_INVALID_ARG;
    }
    std::vector<std::string> dropped;
    const Json upstream =
        toAnthropicRequest(body, RequestOptions{std::string(request.upstream_model), request.stream,
                                                default_max_tokens_, &dropped});
    for (const auto& name : dropped) {
      out.noteDroppedParam(name);
    }

    out.setMethod("POST");
    out.setPath("/messages");
    for (const auto& [name, value] : headers(api_key, request.stream)) {
      out.addHeader(name, value);
    }
    out.appendBody(dumpJson(upstream));
    return SY_OK;
  }

  sy_status parseResponse(const sdk::ProviderRequest&, const sdk::UpstreamResponse& response,
                          const Output& out) override {
    const Json doc = Json::parse(response.body, nullptr, false);
    const bool is_object = !doc.is_discarded() && doc.is_object();
    const bool success = response.status >= 200 && response.status <= 299;
    if (!success) {
      // Keep the status class (429, 529, 413, ...) so retries and clients can act on it,
      // even when a proxy in front of Anthropic answered with HTML.
      const uint32_t status =
          response.status >= 400 && response.status <= 599 ? response.status : 502;
      if (!is_object) {
        out.setError(status, "upstream_error", "bad_upstream_response",
                     "Anthropic answered HTTP " + std::to_string(response.status) +
                         " with a body that is not a JSON object");
        return SY_ERR_UPSTREAM;
      }
      const ClientError e = mapError(doc, status);
      out.setError(e.status, e.type, e.code, e.message);
      return SY_ERR_UPSTREAM;
    }
    if (!is_object || doc.value("type", "") != "message") {
      if (is_object && doc.value("type", "") == "error") {
        const ClientError e = mapError(doc, 502);
        out.setError(e.status, e.type, e.code, e.message);
        return SY_ERR_UPSTREAM;
      }
      out.setError(502, "upstream_error", "bad_upstream_response",
                   "Anthropic answered HTTP " + std::to_string(response.status) +
                       " without a message object");
      return SY_ERR_UPSTREAM;
    }
    const Json completion = toChatCompletion(doc, createdNow());
    out.emit(SY_EVENT_RESPONSE, dumpJson(completion));
    Usage usage;
    usage.merge(doc.contains("usage") ? doc["usage"] : Json());
    if (usage.seen) {
      out.emit(SY_EVENT_USAGE, dumpJson(usage.event()));
    }
    return SY_OK;
  }

  std::unique_ptr<sdk::ProviderStream> openStream(const sdk::ProviderRequest& request,
                                                  const sdk::UpstreamResponse& response) override {
    return std::make_unique<StreamTranslator>(
        clientAskedForUsage(request.body), isJsonContentType(response.headers.get("content-type")),
        createdNow());
  }

 private:
  std::vector<std::pair<std::string, std::string>> headers(std::string_view api_key,
                                                           bool stream) const {
    std::vector<std::pair<std::string, std::string>> list;
    list.emplace_back("Content-Type", "application/json");
    if (!api_key.empty()) {
      list.emplace_back("x-api-key", std::string(api_key));
    }
    list.emplace_back("anthropic-version", version_);
    if (stream) {
      list.emplace_back("Accept", "text/event-stream");
    }
    // A configured header (e.g. anthropic-beta) replaces a built-in one of the same name
    // rather than doubling it.
    for (const auto& extra : extra_headers_) {
      std::erase_if(list, [&](const auto& h) { return equalsIgnoreCase(h.first, extra.first); });
    }
    list.insert(list.end(), extra_headers_.begin(), extra_headers_.end());
    return list;
  }

  void parseExtraHeaders(const Json& value) {
    if (!value.is_object()) {
      throw configError("\"extra_headers\" must be an object of header names to strings");
    }
    for (const auto& [name, v] : value.items()) {
      if (!validHeaderName(name)) {
        throw configError("\"extra_headers\" has an invalid header name \"" + name + "\"");
      }
      if (equalsIgnoreCase(name, "x-api-key")) {
        // The key comes from the provider's api_key_env, never from plain config.
        throw configError("\"extra_headers\" may not set x-api-key");
      }
      if (!v.is_string() || !validHeaderValue(v.get_ref<const std::string&>())) {
        throw configError("\"extra_headers\" value of \"" + name +
                          "\" must be a string without control characters");
      }
      extra_headers_.emplace_back(name, v.get<std::string>());
    }
  }

  std::string version_ = kDefaultVersion;
  int64_t default_max_tokens_ = kDefaultMaxTokens;
  std::vector<std::pair<std::string, std::string>> extra_headers_;
};

}  // namespace
}  // namespace anthropic
}  // namespace switchyard

SY_PLUGIN("anthropic", "1.0.0", "Switchyard", "Anthropic Messages API provider",
          switchyard::sdk::provider<switchyard::anthropic::AnthropicProvider>(
              "anthropic", "Anthropic Messages API behind the OpenAI chat completions API"))
