// Log sink "otlp": exports each call record as one OpenTelemetry span over OTLP/HTTP with the
// JSON encoding (POST <endpoint>/v1/traces), following the GenAI semantic conventions. Span
// and trace ids are derived from the request id, so a batch the host redelivers carries the
// same ids and a backend can tell the copies apart.
//
// Outcomes, as the OTLP specification asks: 2xx is delivered (a partialSuccess with rejected
// spans is counted and logged, not retried: the accepted spans would be duplicated); 400 means
// the payload itself was refused and a retry cannot succeed, so it is counted as rejected and
// dropped; every other answer or a network error reports the batch as not delivered and the
// host retries it.
#include <cmath>
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <switchyard/http_export.hpp>
#include <switchyard/sdk.hpp>
#include <vector>

namespace switchyard {
namespace otlp {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kSource = "otlp";
constexpr const char* kScopeName = "switchyard.gateway";
constexpr const char* kScopeVersion = "1.0.0";
constexpr int kSpanKindClient = 3;  // SPAN_KIND_CLIENT
constexpr int kStatusError = 2;     // STATUS_CODE_ERROR

sdk::Error configError(std::string message) {
  return sdk::Error(400, "invalid_request_error", "invalid_config",
                    "otlp sink config: " + std::move(message));
}

// OTLP/JSON: every attribute is {"key", "value": AnyValue}; 64-bit integers travel as strings.
Json stringAttr(std::string_view key, std::string_view value) {
  return Json{{"key", key}, {"value", {{"stringValue", value}}}};
}
Json intAttr(std::string_view key, int64_t value) {
  return Json{{"key", key}, {"value", {{"intValue", std::to_string(value)}}}};
}
Json doubleAttr(std::string_view key, double value) {
  return Json{{"key", key}, {"value", {{"doubleValue", value}}}};
}
Json boolAttr(std::string_view key, bool value) {
  return Json{{"key", key}, {"value", {{"boolValue", value}}}};
}
Json stringArrayAttr(std::string_view key, const std::vector<std::string>& values) {
  Json list = Json::array();
  for (const auto& v : values) {
    list.push_back({{"stringValue", v}});
  }
  return Json{{"key", key}, {"value", {{"arrayValue", {{"values", list}}}}}};
}

std::string str(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : std::string();
}
const Json* number(const Json& object, const char* key) {
  const auto it = object.find(key);
  return it != object.end() && it->is_number() ? &*it : nullptr;
}

/// gen_ai.operation.name from the record's operation.
std::string operationName(const std::string& operation) {
  if (operation == "embeddings") {
    return "embeddings";
  }
  if (operation == "completions") {
    return "text_completion";
  }
  return "chat";
}

/// gen_ai.provider.name well-known values for the first-party provider types.
std::string providerName(const std::string& provider_type) {
  static const std::map<std::string, std::string, std::less<>> kKnown = {
      {"openai", "openai"},
      {"azure_openai", "azure.ai.openai"},
      {"anthropic", "anthropic"},
      {"bedrock", "aws.bedrock"},
      {"gemini", "gcp.gemini"},
      {"vertex", "gcp.vertex_ai"},
      {"cohere", "cohere"},
      {"mistral", "mistral_ai"},
      {"groq", "groq"},
      {"deepseek", "deepseek"},
      {"xai", "x_ai"},
      {"perplexity", "perplexity"}};
  const auto it = kKnown.find(provider_type);
  return it != kKnown.end() ? it->second : provider_type;
}

struct ServerAddress {
  std::string host;
  int64_t port = 0;
};

class OtlpSink : public sdk::LogSink {
 public:
  explicit OtlpSink(std::string_view config_text) {
    const Json config = Json::parse(config_text, nullptr, false);
    if (config.is_discarded() || !config.is_object()) {
      throw configError("must be a JSON object with at least \"url\"");
    }
    Json resource_attributes = Json::array();
    std::string service_name = "switchyard";
    for (const auto& [key, value] : config.items()) {
      if (key == "service_name") {
        if (!value.is_string() || value.get<std::string>().empty()) {
          throw configError("\"service_name\" must be a non-empty string");
        }
        service_name = value.get<std::string>();
      } else if (key == "resource_attributes") {
        if (!value.is_object()) {
          throw configError("\"resource_attributes\" must be an object of name: string");
        }
        for (const auto& [name, v] : value.items()) {
          if (!v.is_string()) {
            throw configError("resource attribute \"" + name + "\" must be a string");
          }
          if (name != "service.name") {
            resource_attributes.push_back(stringAttr(name, v.get<std::string>()));
          }
        }
      } else if (key == "server_addresses") {
        parseServerAddresses(value);
      } else if (key != "url" && key != "headers" && key != "timeout_ms" && key != "gzip" &&
                 key != "ca_file") {
        throw configError("unknown key \"" + key +
                          "\" (allowed: url, headers, timeout_ms, gzip, ca_file, service_name, "
                          "resource_attributes, server_addresses)");
      }
    }
    std::string error;
    if (!sdk::targetFromConfig(config, target_, error)) {
      throw configError(error);
    }
    // A bare collector endpoint ("http://collector:4318") gets the signal path appended, as
    // OTEL_EXPORTER_OTLP_ENDPOINT does; a URL with a path is used as given.
    if (target_.path_and_query == "/") {
      target_.path_and_query = "/v1/traces";
    }
    resource_attributes.insert(resource_attributes.begin(),
                               stringAttr("service.name", service_name));
    resource_ = Json{{"attributes", std::move(resource_attributes)}};
  }

  sy_status writeBatch(const std::vector<std::string_view>& records,
                       const sdk::Output& out) override {
    Json spans = Json::array();
    for (std::string_view text : records) {
      const Json record = Json::parse(text, nullptr, false);
      if (record.is_discarded() || !record.is_object() || str(record, "request_id").empty()) {
        sdk::Host::log(SY_LOG_ERROR, kSource, "skipping a record without a request_id");
        sdk::Host::metric(SY_METRIC_COUNTER, "otlp_invalid_records", 1);
        continue;
      }
      spans.push_back(span(record));
    }
    if (spans.empty()) {
      return SY_OK;
    }
    const size_t count = spans.size();
    const Json request = {
        {"resourceSpans",
         Json::array({{{"resource", resource_},
                       {"scopeSpans",
                        Json::array({{{"scope", {{"name", kScopeName}, {"version", kScopeVersion}}},
                                      {"spans", std::move(spans)}}})}}})}};
    const sdk::PostResult result = sdk::post(
        target_, "application/json", request.dump(-1, ' ', false, Json::error_handler_t::replace));
    if (result.success()) {
      notePartialSuccess(result.body);
      return SY_OK;
    }
    if (result.sent && result.status == 400) {
      sdk::Host::log(SY_LOG_ERROR, kSource,
                     "the collector refused a batch of " + std::to_string(count) +
                         " spans as malformed (400), dropping it: " + result.body.substr(0, 200));
      sdk::Host::metric(SY_METRIC_COUNTER, "otlp_rejected_spans", static_cast<double>(count));
      return SY_OK;
    }
    const std::string why = result.sent ? "the collector answered " + std::to_string(result.status)
                                        : "cannot reach " + target_.host + ":" +
                                              std::to_string(target_.port) + ": " + result.error;
    sdk::Host::log(SY_LOG_WARN, kSource, why);
    sdk::Host::metric(SY_METRIC_COUNTER, "otlp_failed_batches", 1);
    out.setError(502, "upstream_error", "sink_unavailable", why);
    return SY_ERR_UPSTREAM;
  }

 private:
  void parseServerAddresses(const Json& value) {
    if (!value.is_object()) {
      throw configError("\"server_addresses\" must map provider names to \"host[:port]\"");
    }
    for (const auto& [provider, v] : value.items()) {
      if (!v.is_string() || v.get<std::string>().empty()) {
        throw configError("server_addresses." + provider + " must be \"host[:port]\"");
      }
      std::string address = v.get<std::string>();
      ServerAddress parsed;
      // "host", "host:port" or "[v6]:port".
      const auto colon = address.rfind(':');
      const auto bracket = address.rfind(']');
      if (colon != std::string::npos && (bracket == std::string::npos || colon > bracket)) {
        const std::string port = address.substr(colon + 1);
        if (port.empty() || port.size() > 5 ||
            port.find_first_not_of("0123456789") != std::string::npos) {
          throw configError("server_addresses." + provider + ": bad port \"" + port + "\"");
        }
        parsed.port = std::stoll(port);
        address.resize(colon);
      }
      parsed.host = address;
      server_addresses_[provider] = parsed;
    }
  }

  Json span(const Json& record) const {
    const std::string request_id = str(record, "request_id");
    const std::string model = str(record, "model");
    const std::string upstream_model = str(record, "upstream_model");
    const std::string provider = str(record, "provider");
    const std::string operation = operationName(str(record, "operation"));
    const Json principal = record.value("principal", Json::object());

    Json attributes = Json::array();
    attributes.push_back(stringAttr("gen_ai.operation.name", operation));
    const std::string provider_type = str(record, "provider_type");
    if (!provider_type.empty()) {
      const std::string name = providerName(provider_type);
      attributes.push_back(stringAttr("gen_ai.provider.name", name));
      // The name before semantic conventions 1.37; many backends still read it.
      attributes.push_back(stringAttr("gen_ai.system", name));
    }
    if (!model.empty()) {
      attributes.push_back(stringAttr("gen_ai.request.model", model));
    }
    if (!upstream_model.empty()) {
      attributes.push_back(stringAttr("gen_ai.response.model", upstream_model));
    }
    if (const auto usage = record.find("usage"); usage != record.end() && usage->is_object()) {
      if (const Json* in = number(*usage, "prompt_tokens")) {
        attributes.push_back(intAttr("gen_ai.usage.input_tokens", in->get<int64_t>()));
      }
      if (const Json* out = number(*usage, "completion_tokens")) {
        attributes.push_back(intAttr("gen_ai.usage.output_tokens", out->get<int64_t>()));
      }
      if (const Json* cached = number(*usage, "cached_tokens")) {
        attributes.push_back(
            intAttr("gen_ai.usage.cache_read.input_tokens", cached->get<int64_t>()));
      }
    }
    if (const auto it = server_addresses_.find(provider); it != server_addresses_.end()) {
      attributes.push_back(stringAttr("server.address", it->second.host));
      if (it->second.port > 0) {
        attributes.push_back(intAttr("server.port", it->second.port));
      }
    }
    const Json* status = number(record, "status");
    if (status != nullptr) {
      attributes.push_back(intAttr("http.response.status_code", status->get<int64_t>()));
    }
    const auto error = record.find("error");
    const bool failed = (error != record.end() && error->is_object()) ||
                        (status != nullptr && status->get<int64_t>() >= 400);
    std::string error_type;
    std::string error_message;
    if (failed) {
      if (error != record.end() && error->is_object()) {
        error_type = str(*error, "type");
        error_message = str(*error, "message");
      }
      if (error_type.empty()) {
        error_type = status != nullptr ? std::to_string(status->get<int64_t>()) : "_OTHER";
      }
      attributes.push_back(stringAttr("error.type", error_type));
    }

    attributes.push_back(stringAttr("switchyard.request_id", request_id));
    for (const char* key : {"tenant", "app", "key_id"}) {
      const std::string v = principal.is_object() ? str(principal, key) : std::string();
      if (!v.empty()) {
        attributes.push_back(stringAttr(std::string("switchyard.") + key, v));
      }
    }
    std::string api = str(record, "api");
    if (api.empty()) {
      api = str(record, "endpoint");
    }
    if (!api.empty()) {
      attributes.push_back(stringAttr("switchyard.api", api));
    }
    if (!provider.empty()) {
      attributes.push_back(stringAttr("switchyard.provider", provider));
    }
    if (const auto it = record.find("stream"); it != record.end() && it->is_boolean()) {
      attributes.push_back(boolAttr("switchyard.stream", it->get<bool>()));
    }
    for (const char* key :
         {"cost_usd", "latency_ms", "ttft_ms", "ttfb_ms", "upstream_ms", "gateway_overhead_ms"}) {
      if (const Json* v = number(record, key)) {
        attributes.push_back(doubleAttr(std::string("switchyard.") + key, v->get<double>()));
      }
    }
    if (const auto attempts = record.find("attempts");
        attempts != record.end() && attempts->is_array()) {
      attributes.push_back(intAttr("switchyard.attempts", static_cast<int64_t>(attempts->size())));
    }
    if (const auto flags = record.find("response_flags");
        flags != record.end() && flags->is_array()) {
      std::vector<std::string> values;
      for (const auto& f : *flags) {
        if (f.is_string()) {
          values.push_back(f.get<std::string>());
        }
      }
      attributes.push_back(stringArrayAttr("switchyard.response_flags", values));
    }

    const int64_t start_ms = number(record, "start_unix_ms") != nullptr
                                 ? number(record, "start_unix_ms")->get<int64_t>()
                                 : sdk::Host::nowUnixMs();
    const double latency_ms =
        number(record, "latency_ms") != nullptr ? number(record, "latency_ms")->get<double>() : 0;
    const int64_t start_ns = start_ms * 1000000;
    const int64_t end_ns =
        start_ns + static_cast<int64_t>(std::llround(std::max(0.0, latency_ms) * 1e6));

    const std::string digest = sdk::sha256Hex(request_id);
    Json span = {{"traceId", digest.substr(0, 32)},
                 {"spanId", digest.substr(32, 16)},
                 {"name", model.empty() ? operation : operation + " " + model},
                 {"kind", kSpanKindClient},
                 {"startTimeUnixNano", std::to_string(start_ns)},
                 {"endTimeUnixNano", std::to_string(end_ns)},
                 {"attributes", std::move(attributes)}};
    if (failed) {
      span["status"] = {{"code", kStatusError},
                        {"message", error_message.empty() ? error_type : error_message}};
    }
    return span;
  }

  void notePartialSuccess(const std::string& body) const {
    if (body.empty()) {
      return;
    }
    const Json answer = Json::parse(body, nullptr, false);
    if (answer.is_discarded() || !answer.is_object()) {
      return;
    }
    const auto partial = answer.find("partialSuccess");
    if (partial == answer.end() || !partial->is_object()) {
      return;
    }
    int64_t rejected = 0;
    if (const auto r = partial->find("rejectedSpans"); r != partial->end()) {
      // int64 fields arrive as strings in OTLP/JSON, but numbers are accepted too.
      if (r->is_number_integer()) {
        rejected = r->get<int64_t>();
      } else if (r->is_string()) {
        rejected = std::strtoll(r->get<std::string>().c_str(), nullptr, 10);
      }
    }
    const std::string message = str(*partial, "errorMessage");
    if (rejected > 0) {
      sdk::Host::log(
          SY_LOG_WARN, kSource,
          "the collector rejected " + std::to_string(rejected) + " spans of a batch: " + message);
      sdk::Host::metric(SY_METRIC_COUNTER, "otlp_rejected_spans", static_cast<double>(rejected));
    } else if (!message.empty()) {
      sdk::Host::log(SY_LOG_INFO, kSource, "collector: " + message);
    }
  }

  sdk::SslScope ssl_;
  sdk::PostTarget target_;
  Json resource_;
  std::map<std::string, ServerAddress, std::less<>> server_addresses_;
};

}  // namespace
}  // namespace otlp
}  // namespace switchyard

SY_PLUGIN("otlp", "1.0.0", "Switchyard", "Call records as OpenTelemetry GenAI spans over OTLP/HTTP",
          switchyard::sdk::logSink<switchyard::otlp::OtlpSink>(
              "otlp", "Exports one span per call to an OTLP/HTTP (JSON) traces endpoint"))
