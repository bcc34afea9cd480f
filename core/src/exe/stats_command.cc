#include "stats_command.h"

#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <ctime>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

namespace switchyard {
namespace {

using nlohmann::json;

void usage(std::ostream& out) {
  out << "usage: switchyard stats [options]\n"
         "  --admin URL        admin port of the gateway (default http://127.0.0.1:8081)\n"
         "  --name NAME        analytics module to ask (default analytics)\n"
         "  --by DIMS          group by tenant, app, api, model, provider; comma-separated "
         "(default model)\n"
         "  --last DURATION    the range up to now, e.g. 15m, 1h, 7d (default 1h)\n"
         "  --from T --to T    the range instead: unix ms, RFC 3339 or relative (-2h)\n"
         "  --interval I       one row per minute, hour or day (default: one row per group)\n"
         "  --where DIM=VALUE  only calls with this tenant, app, api, model or provider "
         "(repeatable)\n"
         "  --limit N          the N busiest groups\n"
         "  --json             print the module's JSON answer instead of a table\n";
}

std::string number(const json& v, int decimals = 0) {
  if (v.is_null()) {
    return "-";
  }
  if (!v.is_number()) {
    return v.dump();
  }
  std::ostringstream s;
  s << std::fixed << std::setprecision(decimals) << v.get<double>();
  return s.str();
}

std::string percent(const json& rate) {
  return rate.is_number() ? number(rate.get<double>() * 100, 1) + "%" : "-";
}

std::string utc(int64_t unix_ms) {
  const std::time_t t = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", &tm);
  return buf;
}

struct Table {
  std::vector<std::string> header;
  size_t text_columns = 0;  ///< the first columns are left-aligned text, the rest numbers
  std::vector<std::vector<std::string>> rows;

  void print(std::ostream& out) const {
    std::vector<size_t> width(header.size(), 0);
    for (size_t i = 0; i < header.size(); ++i) {
      width[i] = header[i].size();
      for (const auto& r : rows) {
        width[i] = std::max(width[i], r[i].size());
      }
    }
    const auto line = [&](const std::vector<std::string>& cells) {
      for (size_t i = 0; i < cells.size(); ++i) {
        out << (i == 0 ? "" : "  ") << (i < text_columns ? std::left : std::right)
            << std::setw(static_cast<int>(width[i])) << cells[i];
      }
      out << "\n";
    };
    line(header);
    for (const auto& r : rows) {
      line(r);
    }
  }
};

const std::vector<std::string> kMetrics{
    "requests",       "errors",      "error_rate",    "p50_latency_ms",    "p95_latency_ms",
    "p99_latency_ms", "p95_ttft_ms", "prompt_tokens", "completion_tokens", "cost_usd"};

std::vector<std::string> metricCells(const json& m) {
  return {number(m["requests"]),          number(m["errors"]),
          percent(m["error_rate"]),       number(m["p50_latency_ms"], 1),
          number(m["p95_latency_ms"], 1), number(m["p99_latency_ms"], 1),
          number(m["p95_ttft_ms"], 1),    number(m["prompt_tokens"]),
          number(m["completion_tokens"]), number(m["cost_usd"], 4)};
}

}  // namespace

int runStatsCommand(int argc, char** argv) {
  std::string admin = "http://127.0.0.1:8081";
  std::string name = "analytics";
  std::string by = "model";
  std::string from = "-1h";
  std::string to;
  std::string interval;
  std::string limit;
  std::vector<std::pair<std::string, std::string>> where;
  bool raw = false;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        throw std::invalid_argument(arg + " needs a value");
      }
      return argv[++i];
    };
    try {
      if (arg == "--admin") {
        admin = value();
      } else if (arg == "--name") {
        name = value();
      } else if (arg == "--by") {
        by = value();
      } else if (arg == "--last") {
        from = "-" + value();
      } else if (arg == "--from") {
        from = value();
      } else if (arg == "--to") {
        to = value();
      } else if (arg == "--interval") {
        interval = value();
      } else if (arg == "--limit") {
        limit = value();
      } else if (arg == "--where") {
        const std::string w = value();
        const size_t eq = w.find('=');
        if (eq == std::string::npos || eq == 0) {
          throw std::invalid_argument("--where needs DIM=VALUE");
        }
        where.emplace_back(w.substr(0, eq), w.substr(eq + 1));
      } else if (arg == "--json") {
        raw = true;
      } else if (arg == "--help" || arg == "-h") {
        usage(std::cout);
        return 0;
      } else {
        throw std::invalid_argument("unknown option " + arg);
      }
    } catch (const std::invalid_argument& e) {
      std::cerr << "switchyard stats: " << e.what() << "\n";
      usage(std::cerr);
      return 2;
    }
  }

  json query = {
      {"from", from}, {"group_by", by}, {"interval", interval.empty() ? "all" : interval}};
  if (!to.empty()) {
    query["to"] = to;
  }
  if (!limit.empty()) {
    query["limit"] = limit;
  }
  if (!raw) {
    std::string metrics;
    for (const auto& m : kMetrics) {
      metrics += (metrics.empty() ? "" : ",") + m;
    }
    query["metrics"] = metrics;
  }
  for (const auto& [dim, v] : where) {
    query[dim] = v;
  }

  json answer;
  try {
    const Poco::URI uri(admin);
    Poco::Net::HTTPClientSession session(uri.getHost(), uri.getPort());
    session.setTimeout(Poco::Timespan(30, 0));
    const std::string body = query.dump();
    Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, "/admin/analytics/" + name,
                                   Poco::Net::HTTPMessage::HTTP_1_1);
    request.setContentType("application/json");
    request.setContentLength(static_cast<std::streamsize>(body.size()));
    session.sendRequest(request) << body;
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    std::string text;
    Poco::StreamCopier::copyToString(in, text);
    answer = json::parse(text, nullptr, false);
    if (static_cast<int>(response.getStatus()) != 200) {
      const std::string message = answer.is_object() && answer.contains("error")
                                      ? answer["error"].value("message", text)
                                      : text;
      std::cerr << "switchyard stats: " << admin << " answered "
                << static_cast<int>(response.getStatus()) << ": " << message << "\n";
      return 1;
    }
    if (!answer.is_object()) {
      std::cerr << "switchyard stats: " << admin << " answered something that is not JSON\n";
      return 1;
    }
  } catch (const std::exception& e) {
    std::cerr << "switchyard stats: cannot query " << admin << ": " << e.what() << "\n";
    return 1;
  }
  if (raw) {
    std::cout << answer.dump(2) << "\n";
    return 0;
  }
  if (!answer["series"].is_array() || !answer["group_by"].is_array()) {
    std::cerr << "switchyard stats: module " << name
              << " does not answer time-series queries; --json prints what it answered\n";
    return 1;
  }

  std::cout << name << ": " << utc(answer.value("from", int64_t{0})) << " to "
            << utc(answer.value("to", int64_t{0})) << " UTC, "
            << answer.value("granularity", std::string()) << " data\n\n";
  Table table;
  const bool per_time = answer.contains("timestamps");
  if (per_time) {
    table.header.push_back("TIME (UTC)");
  }
  for (const auto& d : answer["group_by"]) {
    std::string h = d.get<std::string>();
    for (auto& c : h) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    table.header.push_back(h);
  }
  table.text_columns = table.header.size();
  for (const char* h : {"REQUESTS", "ERRORS", "ERR%", "P50 MS", "P95 MS", "P99 MS", "TTFT P95",
                        "TOKENS IN", "TOKENS OUT", "COST USD"}) {
    table.header.emplace_back(h);
  }
  const auto groupCells = [&](const json& series) {
    std::vector<std::string> cells;
    for (const auto& d : answer["group_by"]) {
      const std::string v = series["group"].value(d.get<std::string>(), std::string());
      cells.push_back(v.empty() ? "(none)" : v);
    }
    return cells;
  };
  for (const auto& series : answer["series"]) {
    if (!per_time) {
      auto row = groupCells(series);
      for (auto& c : metricCells(series["total"])) {
        row.push_back(std::move(c));
      }
      table.rows.push_back(std::move(row));
      continue;
    }
    const auto& ts = answer["timestamps"];
    for (size_t i = 0; i < ts.size(); ++i) {
      json point = json::object();
      for (const auto& m : kMetrics) {
        point[m] = series["values"][m][i];
      }
      if (point["requests"] == 0) {
        continue;
      }
      std::vector<std::string> row{utc(ts[i].get<int64_t>())};
      for (auto& c : groupCells(series)) {
        row.push_back(std::move(c));
      }
      for (auto& c : metricCells(point)) {
        row.push_back(std::move(c));
      }
      table.rows.push_back(std::move(row));
    }
  }
  if (table.rows.empty()) {
    std::cout << "no calls in this range\n";
    return 0;
  }
  // Without a group or a time column the one row already is the total.
  if (table.text_columns > 0) {
    std::vector<std::string> total(table.text_columns, "");
    total[0] = "TOTAL";
    for (auto& c : metricCells(answer["total"])) {
      total.push_back(std::move(c));
    }
    table.rows.push_back(std::move(total));
  }
  table.print(std::cout);
  return 0;
}

}  // namespace switchyard
