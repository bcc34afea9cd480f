// Provider "gemini": the unified (OpenAI-format) API in front of the Google AI Gemini API.
// The translations live in request.cc, response.cc and stream.cc; this file owns the config,
// the headers and the mapping of every upstream answer onto the plugin hooks.
#include <memory>
#include <string>
#include <string_view>
#include <switchyard/sdk.hpp>
#include <switchyard/text.hpp>

#include "gemini.h"

namespace switchyard {
namespace gemini {
namespace {

using sdk::trim;
using sdk::validHeaderValue;

using sdk::Output;

sdk::Error configError(std::string message) {
  return sdk::Error(400, "invalid_request_error", "invalid_config",
                    "gemini provider config: " + std::move(message));
}

bool startsWithIgnoreCase(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) {
    return false;
  }
  for (size_t i = 0; i < prefix.size(); ++i) {
    const auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c; };
    if (lower(s[i]) != lower(prefix[i])) {
      return false;
    }
  }
  return true;
}

Json parseBody(std::string_view text) {
  Json body = Json::parse(text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    throw sdk::Error(400, "invalid_request_error", "invalid_json",
                     "the request body must be a JSON object");
  }
  return body;
}

bool clientAskedForUsage(const Json& body) {
  const auto options = body.find("stream_options");
  return options != body.end() && options->is_object() &&
         options->value("include_usage", false) == true;
}

class GeminiProvider : public sdk::Provider {
 public:
  explicit GeminiProvider(std::string_view config_text) {
    if (trim(config_text).empty()) {
      return;
    }
    const Json config = Json::parse(config_text, nullptr, false);
    if (config.is_discarded() || !config.is_object()) {
      throw configError("must be a JSON object");
    }
    for (const auto& [key, value] : config.items()) {
      if (key == "safety_settings") {
        if (!value.is_array()) {
          throw configError("\"safety_settings\" must be an array of Gemini SafetySetting objects");
        }
        safety_settings_ = value;
      } else {
        throw configError("unknown key \"" + key + "\" (allowed: safety_settings)");
      }
    }
  }

  sy_status buildRequest(const sdk::ProviderRequest& request, const Output& out) override {
    const Json body = parseBody(request.body);
    const std::string model =
        modelId(request.upstream_model.empty() ? request.public_model : request.upstream_model);
    UpstreamRequest upstream;
    switch (request.operation) {
      case SY_OP_CHAT_COMPLETIONS:
        upstream = buildChatRequest(body, model, request.stream, safety_settings_);
        for (const auto& name : droppedChatParams(body)) out.noteDroppedParam(name);
        break;
      case SY_OP_EMBEDDINGS:
        if (request.stream) {
          throw sdk::Error(400, "invalid_request_error", "unsupported_stream",
                           "embeddings cannot be streamed");
        }
        upstream = buildEmbeddingsRequest(body, model);
        if (body.contains("user") && !body["user"].is_null()) out.noteDroppedParam("user");
        break;
      default:
        out.setError(400, "invalid_request_error", "unsupported_operation",
                     "the gemini provider does not support this operation");
        return SY_ERR_UNSUPPORTED;
    }

    // Keys read from files often end in a newline; anything else that could break the header
    // line is refused (without echoing the key).
    const std::string_view api_key = trim(request.api_key);
    if (!validHeaderValue(api_key)) {
      out.setError(500, "internal_error", "invalid_upstream_credential",
                   "the provider's API key contains control characters");
      return SY_ERR_INVALID_ARG;
    }
    out.setMethod("POST");
    out.setPath(upstream.path);
    out.addHeader("Content-Type", "application/json");
    if (!api_key.empty()) {
      out.addHeader("x-goog-api-key", api_key);
    }
    if (request.stream) {
      out.addHeader("Accept", "text/event-stream");
    }
    out.appendBody(dumpJson(upstream.body));
    return SY_OK;
  }

  sy_status parseResponse(const sdk::ProviderRequest& request,
                          const sdk::UpstreamResponse& response, const Output& out) override {
    const Json doc = Json::parse(response.body, nullptr, false);
    const bool success = response.status >= 200 && response.status <= 299;
    const bool error_status = response.status >= 400 && response.status <= 599;
    if (doc.is_discarded() || !doc.is_object()) {
      // An HTML error page from a proxy still says "rate limited" or "unavailable" by status.
      out.setError(error_status ? response.status : 502, "upstream_error", "bad_upstream_response",
                   "gemini answered HTTP " + std::to_string(response.status) +
                       " with a body that is not a JSON object");
      return SY_ERR_UPSTREAM;
    }
    if (!success || hasError(doc)) {
      out.setError(upstreamError(doc, error_status ? response.status : inBandStatus(doc)));
      return SY_ERR_UPSTREAM;
    }
    const std::string model(request.upstream_model.empty() ? request.public_model
                                                           : request.upstream_model);
    if (request.operation == SY_OP_EMBEDDINGS) {
      const Json answer = translateEmbeddings(doc, parseBody(request.body), model);
      out.emit(SY_EVENT_RESPONSE, dumpJson(answer));
      Json usage = answer["usage"];
      usage["completion_tokens"] = 0;
      usage["estimated"] = true;
      out.emit(SY_EVENT_USAGE, dumpJson(usage));
      return SY_OK;
    }
    const Json answer = translateCompletion(
        doc, completionMeta(doc, request.request_id, model, sdk::Host::nowUnixMs() / 1000));
    out.emit(SY_EVENT_RESPONSE, dumpJson(answer));
    if (const auto um = doc.find("usageMetadata"); um != doc.end() && um->is_object()) {
      out.emit(SY_EVENT_USAGE, dumpJson(usageEvent(*um)));
    }
    return SY_OK;
  }

  std::unique_ptr<sdk::ProviderStream> openStream(const sdk::ProviderRequest& request,
                                                  const sdk::UpstreamResponse& response) override {
    const Json body = Json::parse(request.body, nullptr, false);
    const bool include_usage = body.is_object() && clientAskedForUsage(body);
    const bool json_body =
        startsWithIgnoreCase(trim(response.headers.get("content-type")), "application/json");
    const std::string model(request.upstream_model.empty() ? request.public_model
                                                           : request.upstream_model);
    CompletionMeta meta =
        completionMeta(Json::object(), request.request_id, model, sdk::Host::nowUnixMs() / 1000);
    return makeChatStream(std::move(meta), include_usage, json_body);
  }

 private:
  Json safety_settings_;  // null unless configured
};

}  // namespace
}  // namespace gemini
}  // namespace switchyard

SY_PLUGIN("gemini", "1.0.0", "Switchyard", "Google AI Gemini API provider",
          switchyard::sdk::provider<switchyard::gemini::GeminiProvider>(
              "gemini", "Gemini generateContent, streamGenerateContent and embeddings"))
