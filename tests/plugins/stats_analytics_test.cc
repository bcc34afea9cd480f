// Behaviour of the "stats" analytics plugin, loaded from its built library.
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <switchyard/testing/fake_host.hpp>
#include <thread>
#include <vector>

namespace switchyard {
namespace {

using nlohmann::json;
using testing::AnalyticsInstance;
using testing::FakeHost;
using testing::FakeOutput;
using testing::LoadedPlugin;

struct Rec {
  std::string model = "gpt-4o-mini";
  std::string tenant = "default";
  std::string app = "demo";
  std::string key_id = "dev";
  int status = 200;
  double latency_ms = 100;
  std::optional<double> ttfb_ms;
  std::optional<json> usage =
      json{{"prompt_tokens", 11}, {"completion_tokens", 7}, {"total_tokens", 18}};
};

std::string record(const Rec& r) {
  json j = {{"schema", "switchyard.call.v1"},
            {"request_id", "req-1"},
            {"start_unix_ms", 1732600000000},
            {"latency_ms", r.latency_ms},
            {"principal", {{"tenant", r.tenant}, {"app", r.app}, {"key_id", r.key_id}}},
            {"client_address", "127.0.0.1:5555"},
            {"endpoint", "/v1/chat/completions"},
            {"operation", "chat.completions"},
            {"model", r.model},
            {"provider", "openai"},
            {"provider_type", "openai"},
            {"upstream_model", r.model},
            {"stream", false},
            {"status", r.status},
            {"upstream_status", r.status}};
  if (r.ttfb_ms) {
    j["ttfb_ms"] = *r.ttfb_ms;
  }
  if (r.usage) {
    j["usage"] = *r.usage;
  }
  if (r.status >= 400) {
    j["error"] = {{"type", "upstream_error"}, {"code", "x"}, {"message", "failed"}};
  }
  return j.dump();
}

class StatsAnalyticsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.setNowUnixMs(1732600000123);
    plugin_ = std::make_unique<LoadedPlugin>(SY_TEST_PLUGIN_PATH, host_);
    auto created = plugin_->createAnalytics("stats", "{}");
    ASSERT_TRUE(created.ok()) << created.output.error.message;
    stats_ = std::move(created.instance);
  }
  void TearDown() override {
    stats_.reset();
    plugin_.reset();
  }

  json query(const std::string& q) {
    FakeOutput out;
    EXPECT_EQ(stats_->query(q, out), SY_OK) << out.error.message;
    EXPECT_EQ(out.count(SY_EVENT_QUERY_RESULT), 1u);
    if (out.events.empty()) {
      return json();
    }
    return json::parse(out.events.front().payload);
  }

  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
  std::unique_ptr<AnalyticsInstance> stats_;
};

TEST_F(StatsAnalyticsTest, AggregatesPerModelAndPrincipal) {
  Rec a;
  Rec b;
  b.model = "text-embedding-3-small";
  b.key_id = "ops";
  b.usage = json{{"prompt_tokens", 5}, {"total_tokens", 5}};
  Rec failed;
  failed.status = 429;
  failed.usage.reset();
  Rec anonymous;
  anonymous.tenant = anonymous.app = anonymous.key_id = "";
  anonymous.status = 401;
  anonymous.usage.reset();
  stats_->observe({record(a), record(a), record(b)});
  stats_->observe({record(failed), record(anonymous), "not json", "[1]"});

  const json answer = query("{}");
  EXPECT_EQ(answer["since_unix_ms"], 1732600000123);
  const json& models = answer["models"];
  ASSERT_EQ(models.size(), 2u) << models.dump();
  const json& mini = models["gpt-4o-mini"];
  EXPECT_EQ(mini["requests"], 4);
  EXPECT_EQ(mini["errors"], 2);
  EXPECT_EQ(mini["prompt_tokens"], 22);
  EXPECT_EQ(mini["completion_tokens"], 14);
  EXPECT_EQ(mini["total_tokens"], 36);
  const json& embed = models["text-embedding-3-small"];
  EXPECT_EQ(embed["requests"], 1);
  EXPECT_EQ(embed["errors"], 0);
  EXPECT_EQ(embed["prompt_tokens"], 5);
  EXPECT_EQ(embed["completion_tokens"], 0);
  EXPECT_EQ(embed["total_tokens"], 5);

  const json& principals = answer["principals"];
  ASSERT_EQ(principals.size(), 3u) << principals.dump();
  EXPECT_EQ(principals["default/demo/dev"]["requests"], 3);
  EXPECT_EQ(principals["default/demo/dev"]["errors"], 1);
  EXPECT_EQ(principals["default/demo/dev"]["total_tokens"], 36);
  EXPECT_EQ(principals["default/demo/ops"]["requests"], 1);
  EXPECT_EQ(principals["anonymous"]["requests"], 1);
  EXPECT_EQ(principals["anonymous"]["errors"], 1);
}

TEST_F(StatsAnalyticsTest, ReportsPercentilesWithinTwoPercent) {
  std::vector<std::string> batch;
  for (int i = 1; i <= 1000; ++i) {
    Rec r;
    r.latency_ms = i;
    r.ttfb_ms = i / 10.0;
    batch.push_back(record(r));
  }
  stats_->observe(batch);
  const json mini = query(R"({"group_by":"model"})")["models"]["gpt-4o-mini"];
  const auto near = [](const json& value, double expected) {
    EXPECT_TRUE(value.is_number()) << value.dump();
    EXPECT_NEAR(value.get<double>(), expected, expected * 0.02) << value.dump();
  };
  near(mini["latency_ms"]["p50"], 500);
  near(mini["latency_ms"]["p90"], 900);
  near(mini["latency_ms"]["p99"], 990);
  near(mini["ttfb_ms"]["p50"], 50);
  near(mini["ttfb_ms"]["p90"], 90);
  near(mini["ttfb_ms"]["p99"], 99);
}

TEST_F(StatsAnalyticsTest, SingleSampleIsExactAndMissingTtfbIsNull) {
  Rec r;
  r.latency_ms = 12.5;
  stats_->observe({record(r)});
  const json mini = query("{}")["models"]["gpt-4o-mini"];
  EXPECT_EQ(mini["latency_ms"], json({{"p50", 12.5}, {"p90", 12.5}, {"p99", 12.5}}));
  EXPECT_EQ(mini["ttfb_ms"], json({{"p50", nullptr}, {"p90", nullptr}, {"p99", nullptr}}));
}

TEST_F(StatsAnalyticsTest, ToleratesExtremeDurations) {
  std::vector<std::string> batch;
  for (double ms : {0.0, 1e-6, 3e9, -5.0}) {
    Rec r;
    r.latency_ms = ms;
    batch.push_back(record(r));
  }
  stats_->observe(batch);
  const json mini = query("{}")["models"]["gpt-4o-mini"];
  EXPECT_EQ(mini["requests"], 4);
  EXPECT_GE(mini["latency_ms"]["p50"].get<double>(), 0.0);
  EXPECT_EQ(mini["latency_ms"]["p99"].get<double>(), 3e9);
}

// Records the core writes are plain ASCII; escapes, non-ASCII text, other spacing or a broken
// tail must be read (or rejected) exactly as before, whichever parser path takes them.
TEST_F(StatsAnalyticsTest, ReadsEscapedUnicodeAndSpacedRecordsAlike) {
  Rec plain;
  plain.model = "m\xc3\xa9-1";
  plain.tenant = "t\"q";
  plain.ttfb_ms = 2.5;
  const std::string compact = record(plain);
  const std::string spaced = json::parse(compact).dump(2);
  Rec escaped = plain;
  escaped.model = "m\xc3\xa9-1";
  std::string with_escape = record(escaped);
  // "\u00e9" is the same model name spelled with an escape.
  const auto at = with_escape.find("m\xc3\xa9-1");
  ASSERT_NE(at, std::string::npos);
  with_escape.replace(at, 5, "m\\u00e9-1");
  stats_->observe({compact, spaced, with_escape, compact + " x", R"({"model":"a","status":1e400})",
                   R"({"model":"b","usage":{"prompt_tokens":-0,"total_tokens":12345678901234}})"});
  const json models = query(R"({"group_by":"model"})")["models"];
  ASSERT_TRUE(models.contains("m\xc3\xa9-1")) << models.dump();
  EXPECT_EQ(models["m\xc3\xa9-1"]["requests"], 3);
  EXPECT_EQ(models["m\xc3\xa9-1"]["prompt_tokens"], 33);
  EXPECT_EQ(models["m\xc3\xa9-1"]["ttfb_ms"]["p50"], 2.5);
  EXPECT_FALSE(models.contains("a"));  // 1e400 overflows: nlohmann rejects the record
  ASSERT_TRUE(models.contains("b"));
  EXPECT_EQ(models["b"]["total_tokens"], 12345678901234);
  const json principals = query(R"({"group_by":"principal"})")["principals"];
  EXPECT_TRUE(principals.contains("t\"q/demo/dev")) << principals.dump();
}

TEST_F(StatsAnalyticsTest, GroupBySelectsOneSection) {
  stats_->observe({record(Rec{})});
  const json by_model = query(R"({"group_by":"model"})");
  EXPECT_TRUE(by_model.contains("models"));
  EXPECT_FALSE(by_model.contains("principals"));
  const json by_principal = query(R"({"group_by":"principal","other":"ignored"})");
  EXPECT_FALSE(by_principal.contains("models"));
  EXPECT_TRUE(by_principal.contains("principals"));
  const json both = query("");
  EXPECT_TRUE(both.contains("models"));
  EXPECT_TRUE(both.contains("principals"));
}

TEST_F(StatsAnalyticsTest, RejectsBadQueries) {
  for (const char* q : {R"({"group_by":"tenant"})", "not json", "[]"}) {
    FakeOutput out;
    EXPECT_EQ(stats_->query(q, out), SY_ERR_INVALID_ARG) << q;
    EXPECT_EQ(out.error.status, 400u) << q;
    EXPECT_EQ(out.error.type, "invalid_request_error");
    EXPECT_TRUE(out.events.empty());
  }
}

TEST_F(StatsAnalyticsTest, RejectsUnknownConfig) {
  auto created = plugin_->createAnalytics("stats", R"({"window":"1h"})");
  EXPECT_FALSE(created.ok());
  EXPECT_NE(created.output.error.message.find("window"), std::string::npos);
}

TEST_F(StatsAnalyticsTest, BoundsTheNumberOfGroups) {
  auto created = plugin_->createAnalytics("stats", R"({"max_groups":2})");
  ASSERT_TRUE(created.ok()) << created.output.error.message;
  std::vector<std::string> batch;
  for (const char* model : {"a", "b", "c", "d", "a"}) {
    Rec r;
    r.model = model;
    batch.push_back(record(r));
  }
  created.instance->observe(batch);
  FakeOutput out;
  ASSERT_EQ(created.instance->query(R"({"group_by":"model"})", out), SY_OK);
  const json models = json::parse(out.events.at(0).payload)["models"];
  EXPECT_EQ(models["a"]["requests"], 2);
  EXPECT_EQ(models["b"]["requests"], 1);
  EXPECT_EQ(models["(other)"]["requests"], 2);
  EXPECT_EQ(models.size(), 3u);
}

TEST_F(StatsAnalyticsTest, ObserveAndQueryRunConcurrently) {
  constexpr int kBatches = 200;
  constexpr int kPerBatch = 10;
  std::atomic<bool> writing{true};
  std::thread writer([&] {
    for (int b = 0; b < kBatches; ++b) {
      std::vector<std::string> batch;
      for (int i = 0; i < kPerBatch; ++i) {
        Rec r;
        r.latency_ms = 1 + (b * kPerBatch + i) % 100;
        r.model = i % 2 == 0 ? "even" : "odd";
        batch.push_back(record(r));
      }
      stats_->observe(batch);
    }
    writing = false;
  });
  // Every answer seen while writing is a consistent snapshot: requests never go backwards.
  int64_t last = 0;
  while (writing) {
    FakeOutput out;
    ASSERT_EQ(stats_->query(R"({"group_by":"principal"})", out), SY_OK);
    const json answer = json::parse(out.events.at(0).payload);
    const auto& principals = answer["principals"];
    const int64_t requests = principals.contains("default/demo/dev")
                                 ? principals["default/demo/dev"]["requests"].get<int64_t>()
                                 : 0;
    EXPECT_GE(requests, last);
    EXPECT_EQ(requests % kPerBatch, 0) << "a batch is applied atomically";
    last = requests;
  }
  writer.join();
  const json answer = query("{}");
  EXPECT_EQ(answer["models"]["even"]["requests"], kBatches * kPerBatch / 2);
  EXPECT_EQ(answer["models"]["odd"]["requests"], kBatches * kPerBatch / 2);
  EXPECT_EQ(answer["principals"]["default/demo/dev"]["requests"], kBatches * kPerBatch);
}

}  // namespace
}  // namespace switchyard
