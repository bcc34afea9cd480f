// Analytics "analytics": time-bucketed aggregates (minute, hour, day) per tenant, app, API,
// model and provider, persisted in SQLite so that history survives a restart, a query API for
// charts, and Prometheus series named after the OpenTelemetry GenAI semantic conventions.
#include <cmath>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <switchyard/sdk.hpp>
#include <variant>
#include <vector>

#include "exposition.h"
#include "query.h"
#include "record.h"
#include "store.h"

namespace switchyard::analytics {
namespace {

using Json = nlohmann::json;

constexpr const char* kSource = "analytics";
/// Cells kept in memory while the database refuses writes (disk full, locked), after which
/// the oldest batch is given up and counted.
constexpr size_t kMaxPendingCells = 200'000;
constexpr int64_t kPruneEveryMs = 60'000;

sdk::Error configError(std::string message) {
  return sdk::Error(400, "invalid_request_error", "invalid_config",
                    "analytics config: " + std::move(message));
}

struct Config {
  std::string path = "var/analytics.db";
  Retention retention;
  size_t max_series = 1000;
};

Config parseConfig(std::string_view text) {
  Config c;
  if (text.empty()) {
    return c;
  }
  const Json j = Json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    throw configError("must be a JSON object");
  }
  for (const auto& [key, value] : j.items()) {
    if (key == "path") {
      if (!value.is_string() || value.get<std::string>().empty()) {
        throw configError("\"path\" must be a non-empty string");
      }
      c.path = value.get<std::string>();
    } else if (key == "retention_days") {
      if (!value.is_object()) {
        throw configError("\"retention_days\" must be an object {\"minute\", \"hour\", \"day\"}");
      }
      for (const auto& [g, days] : value.items()) {
        if (!days.is_number() || !(days.get<double>() > 0) || days.get<double>() > 36500) {
          throw configError("\"retention_days." + g + "\" must be a number of days in (0, 36500]");
        }
        const auto ms = static_cast<int64_t>(std::llround(days.get<double>() * 86'400'000.0));
        if (g == "minute") {
          c.retention.minute_ms = ms;
        } else if (g == "hour") {
          c.retention.hour_ms = ms;
        } else if (g == "day") {
          c.retention.day_ms = ms;
        } else {
          throw configError("unknown granularity \"" + g +
                            "\" in retention_days (allowed: minute, hour, day)");
        }
      }
    } else if (key == "max_series") {
      if (!value.is_number_integer() || value.get<int64_t>() < 1) {
        throw configError("\"max_series\" must be a positive integer");
      }
      c.max_series = value.get<size_t>();
    } else {
      throw configError("unknown key \"" + key + "\" (allowed: path, retention_days, max_series)");
    }
  }
  return c;
}

std::unique_ptr<Store> openStore(const std::string& path) {
  const std::filesystem::path p(path);
  if (p.has_parent_path()) {
    std::error_code ec;
    std::filesystem::create_directories(p.parent_path(), ec);
    if (ec) {
      throw configError("cannot create directory " + p.parent_path().string() + ": " +
                        ec.message());
    }
  }
  try {
    return std::make_unique<Store>(path);
  } catch (const std::exception& e) {
    throw configError(e.what());
  }
}

class AnalyticsModule : public sdk::AnalyticsModule {
 public:
  explicit AnalyticsModule(std::string_view config_text)
      : config_(parseConfig(config_text)),
        store_(openStore(config_.path)),
        exposition_(config_.max_series) {
    prune(sdk::Host::nowUnixMs());
  }

  // Runs on the host's record thread: the batch is folded into cells in memory and merged into
  // the database in one transaction, so a batch costs one write per distinct cell.
  void observe(const std::vector<std::string_view>& records) override {
    const int64_t now = sdk::Host::nowUnixMs();
    for (std::string_view text : records) {
      auto o = readRecord(text);
      if (!o) {
        sdk::Host::metric(SY_METRIC_COUNTER, "analytics_unreadable_records", 1);
        continue;
      }
      exposition_.add(*o);
      const int64_t at = o->start_unix_ms.value_or(now);
      for (Granularity g : kGranularities) {
        pending_[CellKey{g, bucketStart(at, g), o->dims}].add(*o);
      }
    }
    if (pending_.empty()) {
      return;
    }
    const std::string error = store_->merge(pending_);
    if (error.empty()) {
      pending_.clear();
    } else {
      sdk::Host::log(SY_LOG_WARN, kSource,
                     "cannot write aggregates, keeping them for the next batch: " + error);
      if (pending_.size() > kMaxPendingCells) {
        sdk::Host::metric(SY_METRIC_COUNTER, "analytics_dropped_cells",
                          static_cast<double>(pending_.size()));
        sdk::Host::log(SY_LOG_ERROR, kSource,
                       "giving up " + std::to_string(pending_.size()) + " unwritten cells");
        pending_.clear();
      }
    }
    if (now - last_prune_ms_ >= kPruneEveryMs) {
      prune(now);
    }
  }

  sy_status query(std::string_view query_json, const sdk::Output& out) override {
    Json q = query_json.empty() ? Json::object() : Json::parse(query_json, nullptr, false);
    if (q.is_discarded() || !q.is_object()) {
      out.setError(400, "invalid_request_error", "invalid_query",
                   "the query must be a JSON object");
      return SY_ERR_INVALID_ARG;
    }
    if (auto f = q.find("format"); f != q.end() && *f == "prometheus") {
      out.emit(SY_EVENT_QUERY_RESULT, exposition_.render());
      return SY_OK;
    }
    auto parsed = parseQuery(q, sdk::Host::nowUnixMs(), config_.retention);
    if (auto* e = std::get_if<QueryError>(&parsed)) {
      out.setError(400, "invalid_request_error", e->code, e->message);
      return SY_ERR_INVALID_ARG;
    }
    std::string error;
    Json answer = runQuery(std::get<QueryPlan>(parsed), *store_, &error);
    if (!error.empty()) {
      out.setError(500, "internal_error", "analytics_store_error",
                   "cannot read the analytics store: " + error);
      return SY_ERR_INTERNAL;
    }
    out.emit(SY_EVENT_QUERY_RESULT, answer.dump(-1, ' ', false, Json::error_handler_t::replace));
    return SY_OK;
  }

 private:
  void prune(int64_t now) {
    last_prune_ms_ = now;
    for (Granularity g : kGranularities) {
      if (std::string e = store_->prune(g, now - config_.retention.of(g)); !e.empty()) {
        sdk::Host::log(SY_LOG_WARN, kSource, "cannot apply retention: " + e);
      }
    }
  }

  Config config_;
  std::unique_ptr<Store> store_;
  Exposition exposition_;
  std::map<CellKey, Aggregate> pending_;  // observe is serialized per instance
  int64_t last_prune_ms_ = 0;
};

}  // namespace
}  // namespace switchyard::analytics

SY_PLUGIN(
    "analytics", "1.0.0", "Switchyard", "Persisted call analytics and Prometheus series",
    switchyard::sdk::analytics<switchyard::analytics::AnalyticsModule>(
        "analytics",
        "Minute, hour and day aggregates per tenant, app, API, model and provider, in SQLite; "
        "GenAI Prometheus series"))
