// Log sink "http": POSTs each batch of call records to a webhook, as one JSON array or as
// NDJSON. A 2xx answer means delivered; any other answer or a network error reports the batch
// as not delivered, so the host keeps it and retries. Delivery is therefore at-least-once per
// batch: every record carries its request_id, and every request carries an idempotency key
// derived from the batch's request ids, so a receiver can drop what it has already seen.
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <switchyard/http_export.hpp>
#include <switchyard/sdk.hpp>
#include <vector>

namespace switchyard {
namespace http_sink {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kSource = "http_sink";
constexpr size_t kErrorBodyExcerpt = 200;

sdk::Error configError(std::string message) {
  return sdk::Error(400, "invalid_request_error", "invalid_config",
                    "http sink config: " + std::move(message));
}

enum class Format { kJsonArray, kNdjson };

class HttpSink : public sdk::LogSink {
 public:
  explicit HttpSink(std::string_view config_text) {
    const Json config = Json::parse(config_text, nullptr, false);
    if (config.is_discarded() || !config.is_object()) {
      throw configError("must be a JSON object with at least \"url\"");
    }
    for (const auto& [key, value] : config.items()) {
      if (key == "format") {
        const std::string f = value.is_string() ? value.get<std::string>() : "";
        if (f == "json") {
          format_ = Format::kJsonArray;
        } else if (f == "ndjson") {
          format_ = Format::kNdjson;
        } else {
          throw configError("\"format\" must be \"json\" or \"ndjson\"");
        }
      } else if (key == "idempotency_header") {
        if (!value.is_string()) {
          throw configError("\"idempotency_header\" must be a string (empty turns it off)");
        }
        idempotency_header_ = value.get<std::string>();
      } else if (key != "url" && key != "headers" && key != "timeout_ms" && key != "gzip" &&
                 key != "ca_file") {
        throw configError("unknown key \"" + key +
                          "\" (allowed: url, format, headers, timeout_ms, gzip, ca_file, "
                          "idempotency_header)");
      }
    }
    std::string error;
    if (!sdk::targetFromConfig(config, target_, error)) {
      throw configError(error);
    }
  }

  sy_status writeBatch(const std::vector<std::string_view>& records,
                       const sdk::Output& out) override {
    std::string body;
    std::string ids;
    size_t kept = 0;
    if (format_ == Format::kJsonArray) {
      body.push_back('[');
    }
    for (std::string_view record : records) {
      const Json parsed = Json::parse(record, nullptr, false);
      if (parsed.is_discarded() || !parsed.is_object()) {
        // It can never become valid JSON on the wire; retrying it would stall the sink.
        sdk::Host::log(SY_LOG_ERROR, kSource, "skipping a record that is not a JSON object");
        sdk::Host::metric(SY_METRIC_COUNTER, "http_sink_invalid_records", 1);
        continue;
      }
      if (format_ == Format::kJsonArray && kept > 0) {
        body.push_back(',');
      }
      // Re-serialized so that a record with embedded newlines cannot split an NDJSON line.
      body += parsed.dump(-1, ' ', false, Json::error_handler_t::replace);
      if (format_ == Format::kNdjson) {
        body.push_back('\n');
      }
      const auto id = parsed.find("request_id");
      ids += id != parsed.end() && id->is_string() ? id->get<std::string>() : parsed.dump();
      ids.push_back('\n');
      ++kept;
    }
    if (kept == 0) {
      return SY_OK;
    }
    if (format_ == Format::kJsonArray) {
      body.push_back(']');
    }
    sdk::PostTarget target = target_;
    if (!idempotency_header_.empty()) {
      target.headers.emplace_back(idempotency_header_, sdk::sha256Hex(ids));
    }
    const sdk::PostResult result = sdk::post(
        target, format_ == Format::kJsonArray ? "application/json" : "application/x-ndjson", body);
    if (result.success()) {
      return SY_OK;
    }
    std::string why;
    if (result.sent) {
      why = "the receiver answered " + std::to_string(result.status);
      if (!result.body.empty()) {
        why += ": " + result.body.substr(0, kErrorBodyExcerpt);
      }
    } else {
      why =
          "cannot reach " + target_.host + ":" + std::to_string(target_.port) + ": " + result.error;
    }
    sdk::Host::log(SY_LOG_WARN, kSource, why);
    sdk::Host::metric(SY_METRIC_COUNTER, "http_sink_failed_batches", 1);
    out.setError(502, "upstream_error", "sink_unavailable", why);
    return SY_ERR_UPSTREAM;
  }

 private:
  sdk::SslScope ssl_;
  sdk::PostTarget target_;
  Format format_ = Format::kJsonArray;
  std::string idempotency_header_ = "Idempotency-Key";
};

}  // namespace
}  // namespace http_sink
}  // namespace switchyard

SY_PLUGIN("http_sink", "1.0.0", "Switchyard", "Call records POSTed in batches to a webhook",
          switchyard::sdk::logSink<switchyard::http_sink::HttpSink>(
              "http", "POSTs batches of call records as JSON or NDJSON to a webhook URL"))
