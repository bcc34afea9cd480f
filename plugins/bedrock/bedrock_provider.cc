// Provider "bedrock": the unified (OpenAI) chat API on AWS Bedrock Runtime's Converse and
// ConverseStream, every request signed with AWS Signature Version 4.
//
// Credentials: the host hands one api_key string per call; this plugin reads it as
// "ACCESS_KEY_ID:SECRET_ACCESS_KEY" or "ACCESS_KEY_ID:SECRET_ACCESS_KEY:SESSION_TOKEN".
#include <memory>
#include <string>
#include <string_view>
#include <switchyard/sdk.hpp>
#include <switchyard/text.hpp>

#include "converse.h"
#include "converse_stream.h"
#include "sigv4.h"

namespace switchyard::bedrock {
namespace {

using sdk::trim;
using sdk::validHeaderValue;

using sdk::Output;

constexpr std::string_view kService = "bedrock";

sdk::Error configError(std::string message) {
  return sdk::Error(400, "invalid_request_error", "invalid_config",
                    "bedrock provider config: " + std::move(message));
}

bool validRegion(std::string_view region) {
  if (region.empty() || region.size() > 64) return false;
  for (char c : region) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

/// Parses "ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]". Errors never echo the key.
sigv4::Credentials parseCredentials(std::string_view api_key) {
  const auto bad = [] {
    return sdk::Error(500, "internal_error", "invalid_upstream_credential",
                      "the bedrock provider's credential must be "
                      "ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]");
  };
  api_key = trim(api_key);
  if (!validHeaderValue(api_key)) throw bad();
  const size_t first = api_key.find(':');
  if (first == std::string_view::npos) throw bad();
  const size_t second = api_key.find(':', first + 1);
  sigv4::Credentials c;
  c.access_key_id = std::string(api_key.substr(0, first));
  c.secret_access_key = std::string(api_key.substr(
      first + 1, second == std::string_view::npos ? std::string_view::npos : second - first - 1));
  if (second != std::string_view::npos) c.session_token = std::string(api_key.substr(second + 1));
  if (c.access_key_id.empty() || c.secret_access_key.empty() ||
      (second != std::string_view::npos && c.session_token.empty())) {
    throw bad();
  }
  return c;
}

/// What the signature needs from the base URL: the Host header the core will send and the
/// path prefix it puts before our path.
struct Target {
  std::string host;    ///< as the Host header carries it
  std::string prefix;  ///< base URL path without a trailing '/'
  std::string hostname;
};

Target parseBaseUrl(std::string_view base_url) {
  const auto bad = [] {
    return sdk::Error(500, "internal_error", "invalid_base_url",
                      "the bedrock provider's base_url must be http(s)://host[:port][/path]");
  };
  const size_t scheme_end = base_url.find("://");
  if (scheme_end == std::string_view::npos) throw bad();
  const std::string_view scheme = base_url.substr(0, scheme_end);
  if (scheme != "https" && scheme != "http") throw bad();
  std::string_view rest = base_url.substr(scheme_end + 3);
  const size_t slash = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, slash);
  Target t;
  if (slash != std::string_view::npos && rest[slash] == '/') {
    std::string_view path = rest.substr(slash);
    path = path.substr(0, path.find_first_of("?#"));
    while (!path.empty() && path.back() == '/') path.remove_suffix(1);
    t.prefix = std::string(path);
  }
  if (const size_t at = authority.rfind('@'); at != std::string_view::npos) {
    authority = authority.substr(at + 1);
  }
  std::string_view host = authority;
  std::string_view port;
  if (!authority.empty() && authority.front() == '[') {  // IPv6 literal
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) throw bad();
    host = authority.substr(0, close + 1);
    if (close + 1 < authority.size() && authority[close + 1] == ':') {
      port = authority.substr(close + 2);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  if (host.empty()) throw bad();
  t.hostname = std::string(host);
  t.host = t.hostname;
  // The core's HTTP client (Poco HTTPRequest::setHost) writes the port unless it is 80 or
  // 443, whatever the scheme; the signed Host must be byte-identical to the sent one.
  if (!port.empty() && port != "80" && port != "443") t.host += ":" + std::string(port);
  return t;
}

/// "bedrock-runtime.us-east-1.amazonaws.com" (also -fips) -> "us-east-1".
std::string regionFromHost(std::string_view hostname) {
  const size_t dot = hostname.find('.');
  if (dot == std::string_view::npos) return {};
  const std::string_view first = hostname.substr(0, dot);
  if (first.rfind("bedrock-runtime", 0) != 0) return {};
  std::string_view rest = hostname.substr(dot + 1);
  const std::string region(rest.substr(0, rest.find('.')));
  return validRegion(region) ? region : std::string{};
}

std::string dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

class BedrockProvider : public sdk::Provider {
 public:
  explicit BedrockProvider(std::string_view config_text) {
    if (trim(config_text).empty()) return;
    const Json config = Json::parse(config_text, nullptr, false);
    if (config.is_discarded() || !config.is_object()) throw configError("must be a JSON object");
    for (const auto& [key, value] : config.items()) {
      if (key == "region") {
        if (!value.is_string() || !validRegion(value.get<std::string>())) {
          throw configError("\"region\" must be an AWS region name such as \"us-east-1\"");
        }
        region_ = value.get<std::string>();
      } else {
        throw configError("unknown key \"" + key + "\" (allowed: region)");
      }
    }
  }

  sy_status buildRequest(const sdk::ProviderRequest& request, const Output& out) override {
    if (request.operation != SY_OP_CHAT_COMPLETIONS) {
      out.setError(400, "invalid_request_error", "unsupported_operation",
                   "the bedrock provider supports chat completions only (no embeddings yet)");
      return SY_ERR_UNSUPPORTED;
    }
    const Json body = Json::parse(request.body, nullptr, false);
    if (body.is_discarded()) {
      throw sdk::invalidRequest("the request body is not valid JSON", "invalid_json");
    }
    const Json converse = toConverseRequest(body);
    for (const auto& name : droppedParams(body)) out.noteDroppedParam(name);
    std::string model(request.upstream_model);
    if (model.empty() && body.contains("model") && body["model"].is_string()) {
      model = body["model"].get<std::string>();
    }
    if (model.empty()) throw sdk::invalidRequest("a model is required", "missing_model");

    const sigv4::Credentials credentials = parseCredentials(request.api_key);
    const Target target = parseBaseUrl(request.base_url);
    const std::string region = region_.empty() ? regionFromHost(target.hostname) : region_;
    if (region.empty()) {
      throw sdk::Error(500, "internal_error", "invalid_config",
                       "the bedrock provider needs a region: set config.region or use a "
                       "bedrock-runtime.<region>.amazonaws.com base_url");
    }

    // The model id is one path segment: ':' and '/' (ARNs, versions) are percent-encoded once
    // here; the signer encodes the segment a second time for the canonical URI.
    const std::string path =
        "/model/" + sigv4::uriEncode(model) + (request.stream ? "/converse-stream" : "/converse");
    const std::string payload = dump(converse);
    const std::string payload_hash = sigv4::sha256Hex(payload);
    const std::string amz_date = sigv4::amzDate(sdk::Host::nowUnixMs());

    sigv4::Request to_sign{"POST", target.prefix + path, "", {}, payload_hash};
    to_sign.headers = {
        {"host", target.host}, {"x-amz-content-sha256", payload_hash}, {"x-amz-date", amz_date}};
    if (!credentials.session_token.empty()) {
      to_sign.headers.emplace_back("x-amz-security-token", credentials.session_token);
    }
    const sigv4::Signed signed_request =
        sigv4::sign(to_sign, {region, std::string(kService), amz_date}, credentials);

    out.setMethod("POST");
    out.setPath(path);
    out.addHeader("Content-Type", "application/json");
    out.addHeader("Accept",
                  request.stream ? "application/vnd.amazon.eventstream" : "application/json");
    out.addHeader("X-Amz-Date", amz_date);
    out.addHeader("X-Amz-Content-Sha256", payload_hash);
    if (!credentials.session_token.empty()) {
      out.addHeader("X-Amz-Security-Token", credentials.session_token);
    }
    out.addHeader("Authorization", signed_request.authorization);
    out.appendBody(payload);
    return SY_OK;
  }

  sy_status parseResponse(const sdk::ProviderRequest& request,
                          const sdk::UpstreamResponse& response, const Output& out) override {
    const Json doc = Json::parse(response.body, nullptr, false);
    if (response.status < 200 || response.status > 299) {
      setUpstreamError(doc, response, out);
      return SY_ERR_UPSTREAM;
    }
    if (doc.is_discarded() || !doc.is_object()) {
      out.setError(502, "upstream_error", "bad_upstream_response",
                   "Bedrock answered with a body that is not a JSON object");
      return SY_ERR_UPSTREAM;
    }
    const Json completion = toChatCompletion(doc, meta(request, response));
    out.emit(SY_EVENT_RESPONSE, dump(completion));
    if (doc.contains("usage") && doc["usage"].is_object()) {
      out.emit(SY_EVENT_USAGE, dump(usageEvent(doc["usage"])));
    }
    return SY_OK;
  }

  std::unique_ptr<sdk::ProviderStream> openStream(const sdk::ProviderRequest& request,
                                                  const sdk::UpstreamResponse& response) override {
    // Only stream_options matters here; the body was validated by buildRequest.
    const ChatOptions options = chatOptions(Json::parse(request.body, nullptr, false));
    return std::make_unique<ConverseStream>(meta(request, response), options);
  }

 private:
  static ResponseMeta meta(const sdk::ProviderRequest& request,
                           const sdk::UpstreamResponse& response) {
    ResponseMeta m;
    const std::string_view aws_id = trim(response.headers.get("x-amzn-requestid"));
    m.id = "chatcmpl-" + std::string(aws_id.empty() ? request.request_id : aws_id);
    m.created = sdk::Host::nowUnixMs() / 1000;
    m.model =
        std::string(request.public_model.empty() ? request.upstream_model : request.public_model);
    return m;
  }

  /// Bedrock errors: {"message": "..."} and the exception name in x-amzn-ErrorType (or
  /// "__type" in the body).
  static void setUpstreamError(const Json& doc, const sdk::UpstreamResponse& response,
                               const Output& out) {
    std::string name(trim(response.headers.get("x-amzn-errortype")));
    std::string message;
    if (doc.is_object()) {
      for (const char* key : {"message", "Message"}) {
        if (doc.contains(key) && doc[key].is_string()) {
          message = doc[key].get<std::string>();
          break;
        }
      }
      if (name.empty() && doc.contains("__type") && doc["__type"].is_string()) {
        name = doc["__type"].get<std::string>();
      }
    }
    const uint32_t status =
        response.status >= 400 && response.status <= 599 ? response.status : 502;
    const MappedError e = mapBedrockError(name, status, std::move(message));
    out.setError(e.status, e.type, e.code, e.message);
  }

  std::string region_;
};

}  // namespace
}  // namespace switchyard::bedrock

SY_PLUGIN("bedrock", "1.0.0", "Switchyard", "AWS Bedrock Runtime (Converse) provider",
          switchyard::sdk::provider<switchyard::bedrock::BedrockProvider>(
              "bedrock", "AWS Bedrock Converse and ConverseStream, SigV4-signed"))
