// Provider "cohere": Cohere's v2 Chat (POST /chat) and Embed (POST /embed) APIs behind the
// unified (OpenAI-format) API. Request translation is in request.cc, whole answers and errors
// in response.cc, streams in stream.cc; this file holds the provider and its config.
#include <memory>
#include <string>
#include <string_view>
#include <switchyard/sdk.hpp>
#include <switchyard/text.hpp>

#include "common.h"
#include "request.h"
#include "response.h"
#include "stream.h"

namespace switchyard::cohere {
namespace {

using sdk::Output;

sdk::Error configError(std::string message) {
  return sdk::Error(400, "invalid_request_error", "invalid_config",
                    "cohere provider config: " + std::move(message));
}

// Cohere's documented embed input types.
bool validInputType(const std::string& t) {
  return t == "search_document" || t == "search_query" || t == "classification" ||
         t == "clustering" || t == "image";
}

bool clientAskedForUsage(const Json& body) {
  const auto options = body.find("stream_options");
  if (options == body.end() || !options->is_object()) return false;
  const auto flag = options->find("include_usage");
  return flag != options->end() && flag->is_boolean() && flag->get<bool>();
}

Json parseObject(std::string_view text) {
  Json body = Json::parse(text, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    throw sdk::invalidRequest("the request body must be a JSON object", "invalid_json");
  }
  return body;
}

int64_t nowSeconds() {
  return sdk::Host::nowUnixMs() / 1000;
}

class CohereProvider : public sdk::Provider {
 public:
  explicit CohereProvider(std::string_view config_text) {
    if (sdk::trim(config_text).empty()) return;
    const Json config = Json::parse(config_text, nullptr, false);
    if (config.is_discarded() || !config.is_object()) throw configError("must be a JSON object");
    for (const auto& [key, value] : config.items()) {
      if (key == "embed_input_type") {
        if (!value.is_string() || !validInputType(value.get<std::string>())) {
          throw configError(
              "\"embed_input_type\" must be one of search_document, search_query, "
              "classification, clustering, image");
        }
        settings_.embed_input_type = value.get<std::string>();
      } else {
        throw configError("unknown key \"" + key + "\" (allowed: embed_input_type)");
      }
    }
  }

  sy_status buildRequest(const sdk::ProviderRequest& request, const Output& out) override {
    const Json in = parseObject(request.body);
    Json body;
    std::string_view path;
    switch (request.operation) {
      case SY_OP_CHAT_COMPLETIONS:
        path = "/chat";
        {
          std::vector<std::string> dropped;
          body = translateChatRequest(in, request.upstream_model, request.stream, &dropped);
          for (const auto& name : dropped) out.noteDroppedParam(name);
          break;
        }
      case SY_OP_EMBEDDINGS:
        if (request.stream) {
          throw sdk::invalidRequest("embeddings cannot be streamed", "unsupported_stream");
        }
        path = "/embed";
        body = translateEmbedRequest(in, request.upstream_model, settings_);
        if (in.contains("user") && !in["user"].is_null()) out.noteDroppedParam("user");
        break;
      default:
        throw sdk::invalidRequest("the cohere provider does not support this operation",
                                  "unsupported_operation");
    }
    // Keys read from files often end in a newline; anything else that could break the header
    // line is refused (without echoing the key).
    const std::string_view api_key = sdk::trim(request.api_key);
    if (!sdk::validHeaderValue(api_key)) {
      throw sdk::Error(500, "internal_error", "invalid_upstream_credential",
                       "the provider's API key contains control characters");
    }
    out.setMethod("POST");
    out.setPath(path);
    out.addHeader("Content-Type", "application/json");
    if (!api_key.empty()) out.addHeader("Authorization", "Bearer " + std::string(api_key));
    if (request.stream) out.addHeader("Accept", "text/event-stream");
    out.appendBody(dumpJson(body));
    return SY_OK;
  }

  sy_status parseResponse(const sdk::ProviderRequest& request,
                          const sdk::UpstreamResponse& response, const Output& out) override {
    const Json doc = Json::parse(response.body, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      out.setError(502, "upstream_error", "bad_upstream_response",
                   "upstream answered HTTP " + std::to_string(response.status) +
                       " with a body that is not a JSON object");
      return SY_ERR_UPSTREAM;
    }
    if (response.status < 200 || response.status > 299) {
      const uint32_t status =
          response.status >= 400 && response.status <= 599 ? response.status : 502;
      const ClientError e = translateError(doc, status);
      out.setError(e.status, e.type, e.code, e.message);
      return SY_ERR_UPSTREAM;
    }
    const Json answer = request.operation == SY_OP_EMBEDDINGS
                            ? translateEmbedResponse(doc, request.upstream_model)
                            : translateChatResponse(doc, request.upstream_model, nowSeconds());
    out.emit(SY_EVENT_RESPONSE, dumpJson(answer));
    if (const auto usage = answer.find("usage"); usage != answer.end()) {
      Json u = *usage;
      if (!u.contains("completion_tokens")) u["completion_tokens"] = 0;
      out.emit(SY_EVENT_USAGE, dumpJson(u));
    }
    return SY_OK;
  }

  std::unique_ptr<sdk::ProviderStream> openStream(const sdk::ProviderRequest& request,
                                                  const sdk::UpstreamResponse& response) override {
    const std::string_view content_type = sdk::trim(response.headers.get("content-type"));
    const bool json_body = content_type.size() >= 16 &&
                           sdk::equalsIgnoreCase(content_type.substr(0, 16), "application/json");
    const Json body = Json::parse(request.body, nullptr, false);
    const bool wants_usage = body.is_object() && clientAskedForUsage(body);
    return std::make_unique<CohereStream>(std::string(request.upstream_model), nowSeconds(),
                                          wants_usage, json_body);
  }

 private:
  Settings settings_;
};

}  // namespace
}  // namespace switchyard::cohere

SY_PLUGIN("cohere", "1.0.0", "Switchyard", "Cohere provider",
          switchyard::sdk::provider<switchyard::cohere::CohereProvider>("cohere",
                                                                        "Cohere v2 Chat and Embed"))
