#include "metrics_exposition.h"

#include <set>
#include <sstream>
#include <switchyard/prometheus.hpp>

namespace switchyard {
namespace {

using prometheus::Labels;

/// The family a "# HELP name …" or "# TYPE name …" line declares, or empty.
std::string declaredFamily(std::string_view line) {
  for (std::string_view prefix : {"# HELP ", "# TYPE "}) {
    if (line.rfind(prefix, 0) == 0) {
      line.remove_prefix(prefix.size());
      return std::string(line.substr(0, line.find(' ')));
    }
  }
  return {};
}

/// Appends a module's exposition, leaving out families already present.
void appendModule(std::string& out, const std::string& text, std::set<std::string>& families) {
  std::istringstream lines(text);
  bool skipping = false;
  std::string current;
  std::set<std::string> mine;
  for (std::string line; std::getline(lines, line);) {
    if (const std::string family = declaredFamily(line); !family.empty() && family != current) {
      current = family;
      skipping = families.count(family) != 0 && mine.count(family) == 0;
      mine.insert(family);
    }
    if (!skipping && !line.empty()) {
      out += line;
      out += '\n';
    }
  }
  families.insert(mine.begin(), mine.end());
}

void writeHealth(prometheus::Writer& w, const HealthRegistry& health) {
  const auto now = SteadyClock::now();
  const auto views = health.views(now);
  const auto targetLabels = [](const std::string& key) {
    const size_t slash = key.find('/');
    return Labels{
        {"target", key},
        {"provider", key.substr(0, slash)},
        {"upstream_model", slash == std::string::npos ? std::string() : key.substr(slash + 1)}};
  };
  w.family("switchyard_upstream_target_state", "gauge",
           "1 for the state an upstream target is in (available, ejected, rate_limited), 0 for the "
           "others.");
  for (const auto& [key, v] : views) {
    const std::string state = v.ejected ? "ejected" : v.cooling ? "rate_limited" : "available";
    for (const char* s : {"available", "ejected", "rate_limited"}) {
      w.sample("switchyard_upstream_target_state", targetLabels(key), state == s ? 1 : 0,
               {"state", s});
    }
  }
  w.family("switchyard_upstream_target_in_flight", "gauge",
           "Requests in flight on an upstream target.");
  for (const auto& [key, v] : views) {
    w.sample("switchyard_upstream_target_in_flight", targetLabels(key), v.in_flight);
  }
  w.family("switchyard_upstream_target_consecutive_failures", "gauge",
           "Failures in a row of an upstream target.");
  for (const auto& [key, v] : views) {
    w.sample("switchyard_upstream_target_consecutive_failures", targetLabels(key),
             v.consecutive_failures);
  }
  w.family("switchyard_upstream_target_ejections_total", "counter",
           "Times outlier detection ejected an upstream target.");
  for (const auto& [key, v] : views) {
    w.sample("switchyard_upstream_target_ejections_total", targetLabels(key), v.ejections);
  }
  w.family("switchyard_upstream_target_attempts_total", "counter",
           "Attempts on an upstream target by outcome (success, failure, rate_limited).");
  for (const auto& [key, v] : views) {
    w.sample("switchyard_upstream_target_attempts_total", targetLabels(key),
             static_cast<double>(v.successes), {"outcome", "success"});
    w.sample("switchyard_upstream_target_attempts_total", targetLabels(key),
             static_cast<double>(v.failures), {"outcome", "failure"});
    w.sample("switchyard_upstream_target_attempts_total", targetLabels(key),
             static_cast<double>(v.rate_limited), {"outcome", "rate_limited"});
  }
  w.family("switchyard_upstream_provider_healthy", "gauge",
           "1 when active health checks find a provider instance healthy.");
  for (const auto& [provider, healthy] : health.probes()) {
    w.sample("switchyard_upstream_provider_healthy", {{"provider", provider}}, healthy ? 1 : 0);
  }
}

void writeRecords(prometheus::Writer& w, const RecordDispatcher& records) {
  const auto stats = records.stats();
  const auto labels = [](const ConsumerStats& s) {
    return Labels{{"consumer", s.name}, {"kind", s.kind}};
  };
  w.family("switchyard_record_consumer_delivered_total", "counter",
           "Call records delivered to a log sink or analytics module.");
  for (const auto& s : stats) {
    w.sample("switchyard_record_consumer_delivered_total", labels(s),
             static_cast<double>(s.delivered));
  }
  w.family("switchyard_record_consumer_dropped_total", "counter",
           "Call records a consumer lost because its queue was full.");
  for (const auto& s : stats) {
    w.sample("switchyard_record_consumer_dropped_total", labels(s), static_cast<double>(s.dropped));
  }
  w.family("switchyard_record_consumer_failed_batches_total", "counter",
           "Batches a consumer refused (retried later).");
  for (const auto& s : stats) {
    w.sample("switchyard_record_consumer_failed_batches_total", labels(s),
             static_cast<double>(s.failed_batches));
  }
  w.family("switchyard_record_consumer_queued", "gauge", "Call records waiting for a consumer.");
  for (const auto& s : stats) {
    w.sample("switchyard_record_consumer_queued", labels(s), static_cast<double>(s.queued));
  }
}

/// Metrics plugins report through the host API: counters get _total, histograms are
/// exposed as summaries without quantiles (_sum and _count).
void writePluginMetrics(prometheus::Writer& w, const std::set<std::string>& families) {
  std::set<std::string> written;
  for (const auto& [name, m] : pluginMetricsSnapshot()) {
    std::string family = "switchyard_plugin_" + prometheus::sanitizeName(name);
    const char* type = m.type == SY_METRIC_COUNTER ? "counter"
                       : m.type == SY_METRIC_GAUGE ? "gauge"
                                                   : "summary";
    if (m.type == SY_METRIC_COUNTER && family.size() >= 6 &&
        family.compare(family.size() - 6, 6, "_total") != 0) {
      family += "_total";
    }
    if (families.count(family) != 0 || !written.insert(family).second) {
      continue;
    }
    w.family(family, type, "Reported by a plugin as \"" + name + "\".");
    if (m.type == SY_METRIC_HISTOGRAM) {
      w.sample(family + "_sum", {}, m.value);
      w.sample(family + "_count", {}, static_cast<double>(m.count));
    } else {
      w.sample(family, {}, m.value);
    }
  }
}

}  // namespace

std::optional<ApiError> queryAnalytics(const NamedInstance& module, const std::string& query,
                                       std::string* answer) {
  std::vector<PluginEvent> events;
  sy_out_host_t out;
  out.events = &events;
  const auto& inst = *module.instance;
  const sy_status st = inst.table<sy_analytics_vtable>().query(
      inst.handle(), sy_str{query.data(), query.size()}, &out);
  if (st != SY_OK || out.error) {
    return out.error.value_or(ApiError::internal("analytics query failed"));
  }
  for (auto& e : events) {
    if (e.kind == SY_EVENT_QUERY_RESULT) {
      *answer = std::move(e.payload);
      return std::nullopt;
    }
  }
  return ApiError::internal("analytics module returned no result");
}

std::string renderMetrics(const AdminState& state) {
  std::string out;
  std::set<std::string> families;
  RuntimeSharedPtr rt = state.runtime();
  for (const auto& module : rt->analytics) {
    std::string text;
    // A module that ignores "format" answers JSON; only exposition text is taken.
    if (!queryAnalytics(module, R"({"format":"prometheus"})", &text) &&
        (text.empty() || text[0] == '#')) {
      appendModule(out, text, families);
    }
  }
  prometheus::Writer w;
  writeHealth(w, *state.health);
  writeRecords(w, *state.records);
  w.family("switchyard_connections_open", "gauge", "Open client connections on the data port.");
  w.sample("switchyard_connections_open", {}, state.open_connections());
  w.family("switchyard_requests_active", "gauge", "Requests on the data port whose answer is not complete yet.");
  w.sample("switchyard_requests_active", {}, state.active_requests());
  w.family("switchyard_connections_refused_total", "counter",
           "Client connections refused at the connection cap.");
  w.sample("switchyard_connections_refused_total", {},
           static_cast<double>(state.refused_connections()));
  writePluginMetrics(w, families);
  appendModule(out, w.text(), families);
  return out;
}

}  // namespace switchyard
