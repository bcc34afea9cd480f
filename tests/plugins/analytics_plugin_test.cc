// Behaviour of the "analytics" plugin, loaded from its built library against a fake host:
// bucketing, percentiles, grouping and filters, persistence across instances, retention,
// query errors and its Prometheus answer.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <switchyard/testing/fake_host.hpp>
#include <vector>

// Records are written as Rec{.field = …} naming only what a test cares about; the rest keep
// their defaults on purpose.
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

namespace switchyard {
namespace {

using nlohmann::json;
using testing::AnalyticsInstance;
using testing::FakeHost;
using testing::FakeOutput;
using testing::LoadedPlugin;

// 2026-11-26T10:00:00Z, the start of an hour (and 10 h into a UTC day).
constexpr int64_t kT0 = 1795687200000;
constexpr int64_t kMinute = 60'000;
constexpr int64_t kHour = 3'600'000;

struct Rec {
  int64_t start = kT0;
  std::string tenant = "acme";
  std::string app = "web";
  std::string model = "gpt-4o-mini";
  std::string provider = "openai";
  std::optional<std::string> api = "/v1/chat/completions";
  double latency_ms = 100;
  std::optional<double> ttft_ms;
  std::optional<double> ttfb_ms;
  bool stream = false;
  int status = 200;
  std::string error_type;
  uint64_t prompt = 10;
  uint64_t completion = 5;
  uint64_t cached = 0;
  std::optional<double> cost;
};

std::string record(const Rec& r) {
  json j = {{"schema", "switchyard.call.v1"},
            {"request_id", "req"},
            {"start_unix_ms", r.start},
            {"latency_ms", r.latency_ms},
            {"principal", {{"tenant", r.tenant}, {"app", r.app}, {"key_id", "k"}}},
            {"endpoint", "/v1/chat/completions"},
            {"operation", "chat.completions"},
            {"model", r.model},
            {"provider", r.provider},
            {"provider_type", "openai"},
            {"stream", r.stream},
            {"status", r.status},
            {"attempts", {{{"target", "openai/x"}, {"outcome", "success"}, {"ms", 3}}}},
            {"usage",
             {{"prompt_tokens", r.prompt},
              {"completion_tokens", r.completion},
              {"cached_tokens", r.cached}}}};
  if (r.api) {
    j["api"] = *r.api;
  }
  if (r.ttft_ms) {
    j["ttft_ms"] = *r.ttft_ms;
  }
  if (r.ttfb_ms) {
    j["ttfb_ms"] = *r.ttfb_ms;
  }
  if (r.cost) {
    j["cost_usd"] = *r.cost;
  }
  if (!r.error_type.empty()) {
    j["error"] = {{"type", r.error_type}, {"code", "c"}, {"message", "m"}};
  }
  return j.dump();
}

class AnalyticsPluginTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sy-analytics-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    host_.setNowUnixMs(kT0 + 2 * kHour);
    plugin_ = std::make_unique<LoadedPlugin>(SY_TEST_PLUGIN_PATH, host_);
    open();
  }
  void TearDown() override {
    module_.reset();
    plugin_.reset();
    std::filesystem::remove_all(dir_);
  }

  json config() const { return {{"path", (dir_ / "db" / "analytics.db").string()}}; }

  void open(const json& cfg = json()) {
    module_.reset();
    auto created = plugin_->createAnalytics("analytics", (cfg.is_null() ? config() : cfg).dump());
    ASSERT_TRUE(created.ok()) << created.output.error.message;
    module_ = std::move(created.instance);
  }

  json query(const json& q) {
    FakeOutput out;
    EXPECT_EQ(module_->query(q.dump(), out), SY_OK) << out.error.message;
    EXPECT_EQ(out.count(SY_EVENT_QUERY_RESULT), 1u);
    return out.events.empty() ? json() : json::parse(out.events.front().payload);
  }

  /// The error a bad query produces.
  testing::FakeError queryError(const json& q) {
    FakeOutput out;
    EXPECT_EQ(module_->query(q.dump(), out), SY_ERR_INVALID_ARG);
    EXPECT_EQ(out.count(SY_EVENT_QUERY_RESULT), 0u);
    return out.error;
  }

  const json& seriesOf(const json& answer, const json& group) {
    for (const auto& s : answer["series"]) {
      if (s["group"] == group) {
        return s;
      }
    }
    ADD_FAILURE() << "no series " << group.dump() << " in " << answer.dump();
    static const json none;
    return none;
  }

  std::filesystem::path dir_;
  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
  std::unique_ptr<AnalyticsInstance> module_;
};

TEST_F(AnalyticsPluginTest, BucketsByMinuteHourAndDay) {
  std::vector<std::string> batch;
  for (int64_t offset : {0LL, 10'000LL, 59'999LL}) {  // three calls in the first minute
    batch.push_back(record(Rec{.start = kT0 + offset}));
  }
  batch.push_back(record(Rec{.start = kT0 + kMinute}));       // one in the next minute
  batch.push_back(record(Rec{.start = kT0 + kHour + 5000}));  // one in the next hour
  module_->observe(batch);

  const json minutes = query(
      {{"from", kT0}, {"to", kT0 + 3 * kMinute}, {"interval", "minute"}, {"metrics", "requests"}});
  EXPECT_EQ(minutes["granularity"], "minute");
  EXPECT_EQ(minutes["timestamps"], json({kT0, kT0 + kMinute, kT0 + 2 * kMinute}));
  ASSERT_EQ(minutes["series"].size(), 1u);
  EXPECT_EQ(minutes["series"][0]["values"]["requests"], json({3, 1, 0}));
  EXPECT_EQ(minutes["total"]["requests"], 4);

  const json hours = query(
      {{"from", kT0}, {"to", kT0 + 2 * kHour}, {"interval", "hour"}, {"metrics", {"requests"}}});
  EXPECT_EQ(hours["timestamps"], json({kT0, kT0 + kHour}));
  EXPECT_EQ(hours["series"][0]["values"]["requests"], json({4, 1}));

  // The UTC day holding kT0 starts 10 h earlier; "from" is aligned down to it.
  const json days =
      query({{"from", kT0}, {"to", kT0 + kHour}, {"interval", "day"}, {"metrics", "requests"}});
  EXPECT_EQ(days["from"], kT0 - 10 * kHour);
  EXPECT_EQ(days["timestamps"], json({kT0 - 10 * kHour}));
  EXPECT_EQ(days["series"][0]["values"]["requests"], json({5}));

  // A second batch into the same cells adds to them.
  module_->observe({record(Rec{.start = kT0 + 1})});
  EXPECT_EQ(
      query({{"from", kT0}, {"to", kT0 + kMinute}, {"interval", "minute"}})["total"]["requests"],
      4);
}

TEST_F(AnalyticsPluginTest, PercentilesWithinHistogramError) {
  std::mt19937 rng(42);
  std::lognormal_distribution<double> dist(5.0, 0.8);  // median ~150 ms, long tail
  std::vector<double> latencies;
  std::vector<double> ttfts;
  std::vector<std::string> batch;
  for (int i = 0; i < 2000; ++i) {
    Rec r{.start = kT0 + (i % 120) * 1000};  // spread over two minutes, merged by the query
    r.latency_ms = dist(rng);
    r.ttfb_ms = r.latency_ms / 3;  // no ttft_ms: falls back to ttfb_ms
    latencies.push_back(r.latency_ms);
    ttfts.push_back(*r.ttfb_ms);
    batch.push_back(record(r));
  }
  module_->observe(batch);
  const auto exact = [](std::vector<double> v, double q) {
    std::sort(v.begin(), v.end());
    return v[static_cast<size_t>(std::ceil(q * v.size())) - 1];
  };
  const json total = query({{"from", kT0}, {"to", kT0 + kHour}, {"interval", "all"}})["total"];
  for (const auto& [name, q] : {std::pair{"p50", 0.50}, {"p95", 0.95}, {"p99", 0.99}}) {
    const double want = exact(latencies, q);
    EXPECT_NEAR(total[std::string(name) + "_latency_ms"].get<double>(), want, want * 0.025) << name;
    const double want_ttft = exact(ttfts, q);
    EXPECT_NEAR(total[std::string(name) + "_ttft_ms"].get<double>(), want_ttft, want_ttft * 0.025)
        << name;
  }
  double sum = 0;
  for (double v : latencies) {
    sum += v;
  }
  EXPECT_NEAR(total["avg_latency_ms"].get<double>(), sum / latencies.size(), 0.01);
}

TEST_F(AnalyticsPluginTest, GroupsFiltersTokensCostAndErrorClasses) {
  module_->observe({
      record(Rec{.tenant = "acme",
                 .model = "gpt-4o",
                 .latency_ms = 100,
                 .ttft_ms = 40,
                 .prompt = 100,
                 .completion = 50,
                 .cached = 20,
                 .cost = 0.25}),
      record(Rec{.tenant = "acme",
                 .model = "gpt-4o",
                 .latency_ms = 300,
                 .status = 429,
                 .error_type = "rate_limit_error",
                 .prompt = 0,
                 .completion = 0}),
      record(
          Rec{.tenant = "acme", .model = "gpt-4o", .status = 502, .error_type = "upstream_error"}),
      record(Rec{.tenant = "globex", .model = "gpt-4o", .cost = 0.5}),
      record(
          Rec{.tenant = "globex", .model = "claude", .provider = "anthropic", .api = std::nullopt}),
      "not json",
      "[1,2]",
  });
  const json by = query(
      {{"from", kT0}, {"to", kT0 + kMinute}, {"interval", "all"}, {"group_by", "model,tenant"}});
  EXPECT_EQ(by["group_by"], json({"model", "tenant"}));
  ASSERT_EQ(by["series"].size(), 3u) << by.dump();
  EXPECT_EQ(by["series"][0]["group"], json({{"model", "gpt-4o"}, {"tenant", "acme"}}))
      << "busiest first";
  const json& acme = seriesOf(by, {{"model", "gpt-4o"}, {"tenant", "acme"}})["total"];
  EXPECT_EQ(acme["requests"], 3);
  EXPECT_EQ(acme["errors"], 2);
  EXPECT_EQ(acme["errors_by_type"], json({{"rate_limit_error", 1}, {"upstream_error", 1}}));
  EXPECT_NEAR(acme["error_rate"].get<double>(), 2.0 / 3, 1e-6);
  EXPECT_EQ(acme["prompt_tokens"], 110);
  EXPECT_EQ(acme["completion_tokens"], 55);
  EXPECT_EQ(acme["cached_tokens"], 20);
  EXPECT_EQ(acme["total_tokens"], 165);
  EXPECT_DOUBLE_EQ(acme["cost_usd"].get<double>(), 0.25);
  EXPECT_NEAR(acme["p50_ttft_ms"].get<double>(), 40, 1);
  EXPECT_EQ(by["total"]["requests"], 5);
  EXPECT_DOUBLE_EQ(by["total"]["cost_usd"].get<double>(), 0.75);

  // api falls back to the endpoint when the record has none.
  const json apis = query({{"from", kT0},
                           {"to", kT0 + kMinute},
                           {"interval", "all"},
                           {"group_by", {"api", "provider"}}});
  ASSERT_EQ(apis["series"].size(), 2u);
  EXPECT_EQ(seriesOf(apis, {{"api", "/v1/chat/completions"},
                            {"provider", "anthropic"}})["total"]["requests"],
            1);

  // Filters by dimension value; a list means any of them.
  const json globex = query({{"from", kT0},
                             {"to", kT0 + kMinute},
                             {"interval", "all"},
                             {"tenant", "globex"},
                             {"group_by", "model"},
                             {"metrics", "requests,cost_usd"}});
  EXPECT_EQ(globex["total"], json({{"requests", 2}, {"cost_usd", 0.5}}));
  const json any = query(
      {{"from", kT0}, {"to", kT0 + kMinute}, {"interval", "all"}, {"model", {"claude", "nope"}}});
  EXPECT_EQ(any["total"]["requests"], 1);

  // limit keeps the busiest groups.
  const json top = query({{"from", kT0},
                          {"to", kT0 + kMinute},
                          {"interval", "all"},
                          {"group_by", "tenant"},
                          {"limit", "1"}});
  ASSERT_EQ(top["series"].size(), 1u);
  EXPECT_EQ(top["series"][0]["group"]["tenant"], "acme");
}

TEST_F(AnalyticsPluginTest, HistorySurvivesReopening) {
  std::vector<std::string> batch;
  for (int i = 0; i < 50; ++i) {
    batch.push_back(record(
        Rec{.start = kT0 + i * 7000, .model = i % 3 == 0 ? "a" : "b", .latency_ms = 10.0 + i}));
  }
  module_->observe(batch);
  const json q = {
      {"from", kT0}, {"to", kT0 + kHour}, {"interval", "minute"}, {"group_by", "model"}};
  const json before = query(q);
  ASSERT_EQ(before["total"]["requests"], 50);

  open();  // a new instance on the same file, as after a gateway restart
  EXPECT_EQ(query(q), before);
  // and it keeps adding to the same cells
  module_->observe({record(Rec{.start = kT0, .model = "a"})});
  EXPECT_EQ(query(q)["total"]["requests"], 51);
}

TEST_F(AnalyticsPluginTest, RetentionDropsOldCellsPerGranularity) {
  module_->observe({record(Rec{.start = kT0})});
  // Three days later minute cells (kept 1 day) are gone, hour cells (kept 30 days) remain.
  host_.setNowUnixMs(kT0 + 3 * 24 * kHour);
  open({{"path", config()["path"]},
        {"retention_days", {{"minute", 1}, {"hour", 30}, {"day", 365}}}});
  EXPECT_EQ(
      query({{"from", kT0}, {"to", kT0 + kHour}, {"interval", "minute"}})["total"]["requests"], 0);
  EXPECT_EQ(query({{"from", kT0}, {"to", kT0 + kHour}, {"interval", "hour"}})["total"]["requests"],
            1);
}

TEST_F(AnalyticsPluginTest, RelativeAndRfc3339Times) {
  module_->observe({record(Rec{.start = kT0 + 90 * kMinute})});
  // now = kT0 + 2h
  EXPECT_EQ(query({{"from", "-1h"}, {"interval", "all"}})["total"]["requests"], 1);
  EXPECT_EQ(query({{"from", "now-20m"}, {"to", "now"}, {"interval", "all"}})["total"]["requests"],
            0);
  const json q = query({{"from", "2026-11-26T11:00:00Z"},
                        {"to", "2026-11-26T13:00:00+01:00"},
                        {"interval", "hour"}});
  EXPECT_EQ(q["from"], kT0 + kHour);
  EXPECT_EQ(q["to"], kT0 + 2 * kHour);
  EXPECT_EQ(q["total"]["requests"], 1);
  // Query-string values arrive as strings.
  EXPECT_EQ(query({{"from", std::to_string(kT0)},
                   {"to", std::to_string(kT0 + 2 * kHour)},
                   {"limit", "5"}})["interval"],
            "minute");
}

TEST_F(AnalyticsPluginTest, BadQueriesAreClear400s) {
  const auto expect = [&](const json& q, const std::string& code) {
    const auto e = queryError(q);
    EXPECT_EQ(e.status, 400u) << q.dump();
    EXPECT_EQ(e.type, "invalid_request_error") << q.dump();
    EXPECT_EQ(e.code, code) << q.dump() << " → " << e.message;
    EXPECT_FALSE(e.message.empty());
  };
  expect({{"interval", "week"}}, "invalid_interval");
  expect({{"group_by", "region"}}, "invalid_group_by");
  expect({{"group_by", 5}}, "invalid_group_by");
  expect({{"metrics", "requests,p42_latency_ms"}}, "invalid_metrics");
  expect({{"from", "yesterday"}}, "invalid_time");
  expect({{"from", "2026-13-01T00:00:00Z"}}, "invalid_time");
  expect({{"from", kT0}, {"to", kT0}}, "invalid_time_range");
  expect({{"from", 0}, {"to", kT0}, {"interval", "minute"}}, "too_many_points");
  expect({{"limit", "0"}}, "invalid_limit");
  expect({{"model", json::array()}}, "invalid_filter");
  expect({{"fromm", kT0}}, "unknown_parameter");
  expect({{"format", "csv"}}, "invalid_format");
  FakeOutput out;
  EXPECT_EQ(module_->query("[1]", out), SY_ERR_INVALID_ARG);
  EXPECT_EQ(out.error.code, "invalid_query");
}

TEST_F(AnalyticsPluginTest, PrometheusAnswerUsesGenAiNames) {
  module_->observe({record(Rec{.model = "m\"1",
                               .latency_ms = 1300,
                               .ttft_ms = 300,
                               .stream = true,
                               .completion = 9,
                               .cost = 0.01}),
                    record(Rec{.status = 500, .error_type = "upstream_error"})});
  FakeOutput out;
  ASSERT_EQ(module_->query(R"({"format":"prometheus"})", out), SY_OK);
  ASSERT_EQ(out.events.size(), 1u);
  const std::string& text = out.events[0].payload;
  EXPECT_NE(text.find("# TYPE gen_ai_client_operation_duration_seconds histogram\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE gen_ai_client_token_usage histogram\n"), std::string::npos);
  EXPECT_NE(text.find("# TYPE gen_ai_server_time_to_first_token_seconds histogram\n"),
            std::string::npos);
  EXPECT_NE(text.find("# TYPE gen_ai_server_time_per_output_token_seconds histogram\n"),
            std::string::npos);
  // The quote in the model name is escaped.
  EXPECT_NE(text.find("gen_ai_client_token_usage_count{gen_ai_system=\"openai\",gen_ai_request_"
                      "model=\"m\\\"1\","
                      "gen_ai_operation_name=\"chat\",gen_ai_token_type=\"output\"} 1\n"),
            std::string::npos)
      << text;
  // (1300 - 300) ms over 8 tokens after the first = 0.125 s.
  EXPECT_NE(text.find("gen_ai_server_time_per_output_token_seconds_sum{gen_ai_system=\"openai\","
                      "gen_ai_request_model="
                      "\"m\\\"1\",gen_ai_operation_name=\"chat\"} 0.125\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("switchyard_gen_ai_requests_total{gen_ai_system=\"openai\",gen_ai_request_"
                      "model=\"gpt-4o-mini\","
                      "gen_ai_operation_name=\"chat\",error_type=\"upstream_error\"} 1\n"),
            std::string::npos)
      << text;
}

TEST_F(AnalyticsPluginTest, RefusesBadConfig) {
  for (const char* bad : {R"([])", R"({"path":""})", R"({"retention_days":{"minute":0}})",
                          R"({"retention_days":{"week":1}})", R"({"max_series":0})",
                          R"({"colour":"red"})", R"({"path":"/proc/nope/analytics.db"})"}) {
    auto created = plugin_->createAnalytics("analytics", bad);
    EXPECT_FALSE(created.ok()) << bad;
    EXPECT_EQ(created.output.error.code, "invalid_config") << bad;
  }
}

}  // namespace
}  // namespace switchyard
