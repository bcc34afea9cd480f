#include "query.h"

#include <time.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <map>
#include <optional>

namespace switchyard::analytics {
namespace {

using Json = nlohmann::json;

constexpr size_t kMaxPoints = 5000;

std::string asText(const Json& v) {
  return v.is_string() ? v.get<std::string>() : v.dump();
}

std::optional<int64_t> parseInteger(std::string_view s) {
  int64_t v = 0;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (r.ec != std::errc() || r.ptr != s.data() + s.size()) {
    return std::nullopt;
  }
  return v;
}

/// "90s", "15m", "1h", "7d", "2w" in milliseconds.
std::optional<int64_t> parseDuration(std::string_view s) {
  if (s.size() < 2) {
    return std::nullopt;
  }
  const auto n = parseInteger(s.substr(0, s.size() - 1));
  if (!n || *n < 0 || *n > 100'000'000) {
    return std::nullopt;
  }
  switch (s.back()) {
    case 's':
      return *n * 1000;
    case 'm':
      return *n * 60'000;
    case 'h':
      return *n * 3'600'000;
    case 'd':
      return *n * 86'400'000;
    case 'w':
      return *n * 7 * 86'400'000;
    default:
      return std::nullopt;
  }
}

/// RFC 3339 in UTC or with an offset: 2026-11-26T11:00:00Z, 2026-11-26T11:00:00.250+01:00.
std::optional<int64_t> parseRfc3339(std::string_view s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, se = 0;
  if (s.size() < 20 || s[4] != '-' || s[7] != '-' ||
      (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':') {
    return std::nullopt;
  }
  const auto field = [&](size_t at, size_t len, int& out) {
    const auto v = parseInteger(s.substr(at, len));
    out = v ? static_cast<int>(*v) : -1;
    return v.has_value() && *v >= 0;
  };
  if (!field(0, 4, y) || !field(5, 2, mo) || !field(8, 2, d) || !field(11, 2, h) ||
      !field(14, 2, mi) || !field(17, 2, se) || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
      mi > 59 || se > 60) {
    return std::nullopt;
  }
  std::string_view rest = s.substr(19);
  int64_t ms = 0;
  if (!rest.empty() && rest[0] == '.') {
    size_t i = 1;
    int64_t scale = 100;
    for (; i < rest.size() && rest[i] >= '0' && rest[i] <= '9'; ++i) {
      ms += (rest[i] - '0') * scale;
      scale /= 10;
    }
    if (i == 1) {
      return std::nullopt;
    }
    rest.remove_prefix(i);
  }
  int64_t offset_ms = 0;
  if (rest == "Z" || rest == "z") {
  } else if (rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':') {
    int oh = 0, om = 0;
    std::string_view r = rest;
    s = r;  // reuse field() on the offset
    if (!field(1, 2, oh) || !field(4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_ms = (oh * 60 + om) * 60'000LL * (rest[0] == '+' ? 1 : -1);
  } else {
    return std::nullopt;
  }
  tm t{};
  t.tm_year = y - 1900;
  t.tm_mon = mo - 1;
  t.tm_mday = d;
  t.tm_hour = h;
  t.tm_min = mi;
  t.tm_sec = se;
  return static_cast<int64_t>(timegm(&t)) * 1000 + ms - offset_ms;
}

/// A point in time: unix milliseconds (number or digits), "now", "now-1h" / "-1h", or RFC 3339.
std::optional<int64_t> parseTime(const Json& v, int64_t now_ms) {
  if (v.is_number_integer()) {
    return v.get<int64_t>();
  }
  if (v.is_number_float()) {
    return static_cast<int64_t>(v.get<double>());
  }
  if (!v.is_string()) {
    return std::nullopt;
  }
  std::string_view s = v.get_ref<const std::string&>();
  if (auto n = parseInteger(s)) {
    return n;
  }
  if (s == "now") {
    return now_ms;
  }
  if (s.rfind("now-", 0) == 0) {
    s.remove_prefix(3);
  }
  if (!s.empty() && s[0] == '-') {
    if (auto d = parseDuration(s.substr(1))) {
      return now_ms - *d;
    }
    return std::nullopt;
  }
  return parseRfc3339(s);
}

/// A list given as a JSON array of strings or as one comma-separated string.
std::optional<std::vector<std::string>> parseList(const Json& v) {
  std::vector<std::string> out;
  if (v.is_array()) {
    for (const auto& item : v) {
      if (!item.is_string()) {
        return std::nullopt;
      }
      out.push_back(item.get<std::string>());
    }
    return out;
  }
  if (!v.is_string()) {
    return std::nullopt;
  }
  const std::string& s = v.get_ref<const std::string&>();
  size_t start = 0;
  while (start <= s.size()) {
    size_t comma = s.find(',', start);
    if (comma == std::string::npos) {
      comma = s.size();
    }
    std::string item = s.substr(start, comma - start);
    item.erase(0, item.find_first_not_of(' '));
    item.erase(item.find_last_not_of(' ') + 1);
    if (!item.empty()) {
      out.push_back(std::move(item));
    }
    start = comma + 1;
  }
  return out;
}

bool contains(const std::vector<std::string>& list, const std::string& item) {
  return std::find(list.begin(), list.end(), item) != list.end();
}

std::string joined(const std::vector<std::string>& list) {
  std::string out;
  for (const auto& s : list) {
    out += (out.empty() ? "" : ", ") + s;
  }
  return out;
}

Json rounded(double v, double scale = 1000) {
  return std::round(v * scale) / scale;
}

Json quantile(const Histogram& h, double q) {
  const auto v = h.quantile(q);
  return v ? rounded(*v) : Json(nullptr);
}

Json metricValue(const Aggregate& a, const std::string& name) {
  if (name == "requests") return a.requests;
  if (name == "errors") return a.errors;
  if (name == "error_rate")
    return a.requests == 0 ? Json(nullptr) : rounded(double(a.errors) / double(a.requests), 1e6);
  if (name == "errors_by_type") return Json(a.errors_by_type);
  if (name == "prompt_tokens") return a.prompt_tokens;
  if (name == "completion_tokens") return a.completion_tokens;
  if (name == "cached_tokens") return a.cached_tokens;
  if (name == "total_tokens") return a.prompt_tokens + a.completion_tokens;
  if (name == "cost_usd") return rounded(a.cost_usd, 1e9);
  if (name == "avg_latency_ms")
    return a.latency_ms.empty() ? Json(nullptr)
                                : rounded(a.latency_ms.sum() / double(a.latency_ms.count()));
  if (name == "p50_latency_ms") return quantile(a.latency_ms, 0.50);
  if (name == "p95_latency_ms") return quantile(a.latency_ms, 0.95);
  if (name == "p99_latency_ms") return quantile(a.latency_ms, 0.99);
  if (name == "avg_ttft_ms")
    return a.ttft_ms.empty() ? Json(nullptr) : rounded(a.ttft_ms.sum() / double(a.ttft_ms.count()));
  if (name == "p50_ttft_ms") return quantile(a.ttft_ms, 0.50);
  if (name == "p95_ttft_ms") return quantile(a.ttft_ms, 0.95);
  if (name == "p99_ttft_ms") return quantile(a.ttft_ms, 0.99);
  return nullptr;
}

Json describe(const Aggregate& a, const std::vector<std::string>& metrics) {
  Json out = Json::object();
  for (const auto& m : metrics) {
    out[m] = metricValue(a, m);
  }
  return out;
}

std::optional<Granularity> granularityNamed(const std::string& name) {
  for (Granularity g : kGranularities) {
    if (name == granularityName(g)) {
      return g;
    }
  }
  return std::nullopt;
}

}  // namespace

const std::vector<std::string>& dimensionNames() {
  static const std::vector<std::string> names{"tenant", "app", "api", "model", "provider"};
  return names;
}

const std::vector<std::string>& metricNames() {
  static const std::vector<std::string> names{
      "requests",          "errors",         "error_rate",     "errors_by_type", "prompt_tokens",
      "completion_tokens", "cached_tokens",  "total_tokens",   "cost_usd",       "avg_latency_ms",
      "p50_latency_ms",    "p95_latency_ms", "p99_latency_ms", "avg_ttft_ms",    "p50_ttft_ms",
      "p95_ttft_ms",       "p99_ttft_ms"};
  return names;
}

std::variant<QueryPlan, QueryError> parseQuery(const Json& q, int64_t now_ms,
                                               const Retention& retention) {
  if (!q.is_object()) {
    return QueryError{"invalid_query", "the query must be a JSON object"};
  }
  QueryPlan plan;
  std::optional<int64_t> from;
  std::optional<int64_t> to;
  std::string interval;
  for (const auto& [key, value] : q.items()) {
    if (key == "from" || key == "to") {
      auto t = parseTime(value, now_ms);
      if (!t) {
        return QueryError{
            "invalid_time",
            "\"" + key +
                "\" must be unix milliseconds, \"now\", a relative time such as \"-1h\" or "
                "\"now-7d\", or an RFC 3339 time such as \"2026-11-26T11:00:00Z\"; got " +
                asText(value)};
      }
      (key == "from" ? from : to) = t;
    } else if (key == "interval") {
      interval = asText(value);
      if (interval != "all" && !granularityNamed(interval)) {
        return QueryError{"invalid_interval",
                          "\"interval\" must be one of minute, hour, day, all; got " + interval};
      }
    } else if (key == "group_by") {
      auto list = parseList(value);
      if (!list) {
        return QueryError{"invalid_group_by",
                          "\"group_by\" must be a comma-separated string or an array of strings"};
      }
      for (const auto& d : *list) {
        if (!contains(dimensionNames(), d)) {
          return QueryError{"invalid_group_by", "cannot group by \"" + d +
                                                    "\"; dimensions: " + joined(dimensionNames())};
        }
        if (!contains(plan.group_by, d)) {
          plan.group_by.push_back(d);
        }
      }
    } else if (key == "metrics") {
      auto list = parseList(value);
      if (!list) {
        return QueryError{"invalid_metrics",
                          "\"metrics\" must be a comma-separated string or an array of strings"};
      }
      for (const auto& m : *list) {
        if (!contains(metricNames(), m)) {
          return QueryError{"invalid_metrics",
                            "unknown metric \"" + m + "\"; metrics: " + joined(metricNames())};
        }
        if (!contains(plan.metrics, m)) {
          plan.metrics.push_back(m);
        }
      }
    } else if (contains(dimensionNames(), key)) {
      std::vector<std::string> values;
      if (value.is_string()) {
        values.push_back(value.get<std::string>());
      } else if (auto list = parseList(value); list && value.is_array()) {
        values = *list;
      }
      if (values.empty()) {
        return QueryError{
            "invalid_filter",
            "filter \"" + key + "\" must be a string or a non-empty array of strings"};
      }
      plan.filter[key] = std::move(values);
    } else if (key == "limit") {
      const auto n = value.is_number_unsigned() ? std::optional<int64_t>(value.get<int64_t>())
                     : value.is_string()        ? parseInteger(value.get<std::string>())
                                                : std::nullopt;
      if (!n || *n < 1) {
        return QueryError{"invalid_limit", "\"limit\" must be a positive integer"};
      }
      plan.limit = static_cast<size_t>(*n);
    } else if (key == "format") {
      if (asText(value) != "json") {
        return QueryError{"invalid_format", "\"format\" must be \"json\" or \"prometheus\""};
      }
    } else {
      return QueryError{"unknown_parameter",
                        "unknown query parameter \"" + key +
                            "\"; allowed: from, to, interval, group_by, metrics, limit, format, " +
                            joined(dimensionNames())};
    }
  }
  const int64_t to_ms = to.value_or(now_ms);
  const int64_t from_ms = from.value_or(to_ms - 3'600'000);
  if (from_ms >= to_ms) {
    return QueryError{"invalid_time_range", "\"from\" must be before \"to\""};
  }
  const int64_t span = to_ms - from_ms;
  if (interval.empty()) {
    // Roughly a chart's width of points.
    interval = span <= 6 * 3'600'000LL ? "minute" : span <= 14 * 86'400'000LL ? "hour" : "day";
  }
  if (interval == "all") {
    plan.total_only = true;
    // The finest granularity still kept for the whole range, within a sane number of cells.
    const int64_t age = now_ms - from_ms;
    plan.source = age <= retention.minute_ms && span <= 2 * 86'400'000LL   ? Granularity::kMinute
                  : age <= retention.hour_ms && span <= 120 * 86'400'000LL ? Granularity::kHour
                                                                           : Granularity::kDay;
  } else {
    plan.source = *granularityNamed(interval);
  }
  const int64_t size = granularityMs(plan.source);
  plan.from_ms = bucketStart(from_ms, plan.source);
  plan.to_ms = bucketStart(to_ms - 1, plan.source) + size;
  if (!plan.total_only && static_cast<size_t>((plan.to_ms - plan.from_ms) / size) > kMaxPoints) {
    return QueryError{"too_many_points", "the range holds more than " + std::to_string(kMaxPoints) +
                                             " " + interval +
                                             " points; use a coarser interval or a shorter range"};
  }
  if (plan.metrics.empty()) {
    plan.metrics = metricNames();
  }
  return plan;
}

Json runQuery(const QueryPlan& plan, Store& store, std::string* error) {
  const int64_t size = granularityMs(plan.source);
  const size_t points =
      plan.total_only ? 0 : static_cast<size_t>((plan.to_ms - plan.from_ms) / size);
  struct Series {
    std::vector<Aggregate> points;
    Aggregate total;
  };
  std::map<std::vector<std::string>, Series> groups;
  Aggregate total;
  const auto dimValue = [](const Dimensions& d, const std::string& name) -> const std::string& {
    return name == "tenant"  ? d.tenant
           : name == "app"   ? d.app
           : name == "api"   ? d.api
           : name == "model" ? d.model
                             : d.provider;
  };
  *error = store.scan(plan.source, plan.from_ms, plan.to_ms, plan.filter,
                      [&](const CellKey& key, const Aggregate& a) {
                        std::vector<std::string> group;
                        for (const auto& d : plan.group_by) {
                          group.push_back(dimValue(key.dims, d));
                        }
                        Series& s = groups[group];
                        if (!plan.total_only) {
                          s.points.resize(points);
                          const auto i = static_cast<size_t>((key.start_ms - plan.from_ms) / size);
                          if (i < points) {
                            s.points[i].merge(a);
                          }
                        }
                        s.total.merge(a);
                        total.merge(a);
                      });
  if (!error->empty()) {
    return nullptr;
  }
  std::vector<std::pair<const std::vector<std::string>*, const Series*>> order;
  for (const auto& [g, s] : groups) {
    order.emplace_back(&g, &s);
  }
  // Busiest first, so a table or a chart legend starts with what matters; ties by name.
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.second->total.requests > b.second->total.requests;
  });
  if (plan.limit > 0 && order.size() > plan.limit) {
    order.resize(plan.limit);
  }
  Json series = Json::array();
  for (const auto& [g, s] : order) {
    Json group = Json::object();
    for (size_t i = 0; i < plan.group_by.size(); ++i) {
      group[plan.group_by[i]] = (*g)[i];
    }
    Json entry = {{"group", group}, {"total", describe(s->total, plan.metrics)}};
    if (!plan.total_only) {
      Json values = Json::object();
      for (const auto& m : plan.metrics) {
        Json column = Json::array();
        for (size_t i = 0; i < points; ++i) {
          column.push_back(i < s->points.size() ? metricValue(s->points[i], m)
                                                : metricValue(Aggregate{}, m));
        }
        values[m] = std::move(column);
      }
      entry["values"] = std::move(values);
    }
    series.push_back(std::move(entry));
  }
  Json answer = {{"object", "analytics.query"},
                 {"from", plan.from_ms},
                 {"to", plan.to_ms},
                 {"interval", plan.total_only ? "all" : granularityName(plan.source)},
                 {"granularity", granularityName(plan.source)},
                 {"group_by", plan.group_by},
                 {"metrics", plan.metrics},
                 {"series", std::move(series)},
                 {"total", describe(total, plan.metrics)}};
  if (!plan.total_only) {
    Json timestamps = Json::array();
    for (size_t i = 0; i < points; ++i) {
      timestamps.push_back(plan.from_ms + static_cast<int64_t>(i) * size);
    }
    answer["timestamps"] = std::move(timestamps);
  }
  return answer;
}

}  // namespace switchyard::analytics
