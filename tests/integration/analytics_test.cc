// The analytics plugin in a real gateway: the query API on the admin port (GET and POST, its
// errors), history across a restart, /metrics as strict Prometheus exposition, and the
// `switchyard stats` command against the running gateway.
#include <stdio.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "exposition_checker.h"
#include "gateway_fixture.h"

namespace switchyard::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

class AnalyticsGatewayTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    installFirstPartyPlugins();
    installPlugin(fs::path(SY_PLUGIN_BUILD_DIR) / "libswitchyard_analytics.so");
    start_ms_ = nowMs();
  }

  static int64_t nowMs() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  json config() const {
    json c = baseConfig();
    c["analytics"] =
        json::array({{{"name", "stats"}, {"type", "stats"}},
                     {{"name", "analytics"},
                      {"type", "analytics"},
                      {"config", {{"path", (dir_ / "var" / "analytics.db").string()}}}}});
    return c;
  }

  HttpResult adminRequest(const std::string& method, const std::string& path,
                          const std::string& body = {}) {
    return httpRequest(gateway_->adminPort(), method, path, body);
  }

  /// Waits until the analytics module has seen `n` calls (records arrive off the request path).
  bool waitForCalls(int n) {
    for (int i = 0; i < 1000; ++i) {
      const json answer =
          admin("/admin/analytics/analytics?interval=all&metrics=requests&from=-1d");
      if (answer.is_object() && answer["total"]["requests"] == n) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  /// Three chats, two streams, one embedding and one call the upstream refuses.
  void makeCalls() {
    for (int i = 0; i < 3; ++i) {
      ASSERT_EQ(chat({{"model", "gpt-test"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}})
                    .status,
                200);
    }
    upstream_.setChunkDelay(20);
    for (int i = 0; i < 2; ++i) {
      const json body = {{"model", "gpt-test"},
                         {"stream", true},
                         {"stream_options", {{"include_usage", true}}},
                         {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
      ASSERT_EQ(chat(body).status, 200);
    }
    upstream_.setChunkDelay(0);
    ASSERT_EQ(post("/v1/embeddings", json({{"model", "embed-test"}, {"input", "x"}}).dump(),
                   authHeaders())
                  .status,
              200);
    upstream_.failNext(
        400, R"({"error":{"message":"bad","type":"invalid_request_error","code":"bad"}})");
    ASSERT_EQ(
        chat({{"model", "gpt-test"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}).status,
        400);
    ASSERT_TRUE(waitForCalls(7));
  }

  int64_t start_ms_ = 0;
};

const json* seriesFor(const json& answer, const std::string& model) {
  for (const auto& s : answer["series"]) {
    if (s["group"]["model"] == model) {
      return &s;
    }
  }
  return nullptr;
}

TEST_F(AnalyticsGatewayTest, QueryApiGroupsCallsAndAnswersTheSameAfterRestart) {
  startGateway(config());
  makeCalls();
  const std::string range =
      "from=" + std::to_string(start_ms_ - 60'000) + "&to=" + std::to_string(nowMs() + 60'000);
  const std::string path = "/admin/analytics/analytics?group_by=model&interval=minute&" + range;
  HttpResult r = adminRequest("GET", path);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"], "application/json");
  const json answer = json::parse(r.body);
  EXPECT_EQ(answer["group_by"], json({"model"}));
  ASSERT_EQ(answer["series"].size(), 2u) << r.body;
  const json* chat = seriesFor(answer, "gpt-test");
  ASSERT_NE(chat, nullptr);
  const json& t = (*chat)["total"];
  EXPECT_EQ(t["requests"], 6);
  EXPECT_EQ(t["errors"], 1);
  ASSERT_EQ(t["errors_by_type"].size(), 1u) << t.dump();
  EXPECT_EQ(t["errors_by_type"].begin().value(), 1);
  // The mock's usage: 11 + 7 per chat, 11 + 3 per stream of three chunks.
  EXPECT_EQ(t["prompt_tokens"], 5 * 11);
  EXPECT_EQ(t["completion_tokens"], 3 * 7 + 2 * 3);
  EXPECT_TRUE(t["p95_latency_ms"].is_number());
  EXPECT_TRUE(t["p50_ttft_ms"].is_number());
  // Columns line up with the timestamps, and add up to the total.
  const auto& requests = (*chat)["values"]["requests"];
  ASSERT_EQ(requests.size(), answer["timestamps"].size());
  int sum = 0;
  for (const auto& v : requests) {
    sum += v.get<int>();
  }
  EXPECT_EQ(sum, 6);
  ASSERT_NE(seriesFor(answer, "embed-test"), nullptr);
  EXPECT_EQ((*seriesFor(answer, "embed-test"))["total"]["requests"], 1);

  // The same query as a POST body.
  const json body = {{"group_by", {"model"}},
                     {"interval", "minute"},
                     {"from", start_ms_ - 60'000},
                     {"to", answer["to"]}};
  HttpResult posted = adminRequest("POST", "/admin/analytics/analytics", body.dump());
  ASSERT_EQ(posted.status, 200) << posted.body;
  EXPECT_EQ(json::parse(posted.body)["series"], answer["series"]);

  // Restart: a new gateway process state on the same database answers the same.
  gateway_->shutdown();
  gateway_.reset();
  startGateway(config());
  HttpResult again = adminRequest("GET", path);
  ASSERT_EQ(again.status, 200) << again.body;
  EXPECT_EQ(json::parse(again.body), answer);
}

TEST_F(AnalyticsGatewayTest, BadQueriesGetOpenAiShaped400s) {
  startGateway(config());
  const auto expect = [&](const HttpResult& r, int status, const std::string& code) {
    EXPECT_EQ(r.status, status) << r.body;
    const json e = json::parse(r.body, nullptr, false);
    ASSERT_TRUE(e.is_object()) << r.body;
    EXPECT_EQ(e["error"]["code"], code) << r.body;
    EXPECT_TRUE(e["error"]["message"].is_string());
    EXPECT_TRUE(e["error"]["type"].is_string());
  };
  expect(adminRequest("GET", "/admin/analytics/analytics?interval=fortnight"), 400,
         "invalid_interval");
  expect(adminRequest("GET", "/admin/analytics/analytics?group_by=colour"), 400,
         "invalid_group_by");
  expect(adminRequest("GET", "/admin/analytics/analytics?metrics=p42_latency_ms"), 400,
         "invalid_metrics");
  expect(adminRequest("GET", "/admin/analytics/analytics?from=tomorrow"), 400, "invalid_time");
  expect(adminRequest("GET", "/admin/analytics/analytics?from=now&to=-1h"), 400,
         "invalid_time_range");
  expect(adminRequest("POST", "/admin/analytics/analytics", "{not json"), 400, "invalid_json");
  expect(adminRequest("GET", "/admin/analytics/nope"), 404, "not_found");
  expect(adminRequest("DELETE", "/admin/analytics/analytics"), 405, "method_not_allowed");
  expect(adminRequest("POST", "/metrics", "{}"), 405, "method_not_allowed");
}

TEST_F(AnalyticsGatewayTest, MetricsIsStrictlyValidExposition) {
  startGateway(config());
  makeCalls();
  HttpResult r = adminRequest("GET", "/metrics");
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "text/plain; version=0.0.4; charset=utf-8");
  const Exposition e = checkExposition(r.body);
  for (const auto& error : e.errors) {
    ADD_FAILURE() << error;
  }
  ASSERT_TRUE(e.errors.empty()) << r.body;

  EXPECT_EQ(e.types.at("gen_ai_client_token_usage"), "histogram");
  EXPECT_EQ(e.types.at("gen_ai_client_operation_duration_seconds"), "histogram");
  EXPECT_EQ(e.types.at("gen_ai_server_time_to_first_token_seconds"), "histogram");
  EXPECT_EQ(e.types.at("gen_ai_server_time_per_output_token_seconds"), "histogram");
  const std::map<std::string, std::string> chat = {{"gen_ai_system", "openai"},
                                                   {"gen_ai_request_model", "gpt-test"},
                                                   {"gen_ai_operation_name", "chat"}};
  auto input = chat;
  input["gen_ai_token_type"] = "input";
  auto tokens = e.find("gen_ai_client_token_usage_sum", input);
  ASSERT_EQ(tokens.size(), 1u) << r.body;
  EXPECT_EQ(tokens[0].value, 5 * 11);
  auto output = chat;
  output["gen_ai_token_type"] = "output";
  EXPECT_EQ(e.find("gen_ai_client_token_usage_sum", output).at(0).value, 3 * 7 + 2 * 3);
  // Six calls: five successes and one error, told apart by error_type.
  double calls = 0;
  for (const auto& s : e.find("gen_ai_client_operation_duration_seconds_count", chat)) {
    calls += s.value;
  }
  EXPECT_EQ(calls, 6);
  EXPECT_EQ(e.find("gen_ai_server_time_per_output_token_seconds_count", chat).at(0).value, 2)
      << "two streams";
  EXPECT_EQ(
      e.find("gen_ai_client_operation_duration_seconds_count",
             {{"gen_ai_operation_name", "embeddings"}, {"gen_ai_request_model", "embed-test"}})
          .at(0)
          .value,
      1);

  // The core's own series: upstream health and record delivery.
  const auto state = e.find("switchyard_upstream_target_state",
                            {{"target", "mock/upstream-gpt"}, {"state", "available"}});
  ASSERT_EQ(state.size(), 1u) << r.body;
  EXPECT_EQ(state[0].value, 1);
  EXPECT_EQ(
      e.find("switchyard_upstream_target_in_flight", {{"target", "mock/upstream-gpt"}}).at(0).value,
      0);
  EXPECT_EQ(e.types.at("switchyard_upstream_target_ejections_total"), "counter");
  const auto dropped = e.find("switchyard_record_consumer_dropped_total");
  ASSERT_EQ(dropped.size(), 3u) << "calls, stats and analytics";
  for (const auto& s : dropped) {
    EXPECT_EQ(s.value, 0) << s.labels.at("consumer");
  }
  EXPECT_GE(
      e.find("switchyard_record_consumer_delivered_total", {{"consumer", "analytics"}}).at(0).value,
      7);
}

TEST(ExpositionChecker, RejectsWhatPrometheusWouldReject) {
  const auto errors = [](const std::string& text) { return checkExposition(text).errors.size(); };
  EXPECT_EQ(errors("# HELP a_total x\n# TYPE a_total counter\na_total{l=\"v\"} 1\n"), 0u);
  EXPECT_GT(errors("a_total 1\n"), 0u) << "no TYPE";
  EXPECT_GT(errors("# TYPE a counter\na{l=\"v\\q\"} 1\n"), 0u) << "bad escape";
  EXPECT_GT(errors("# TYPE a counter\na{l=v} 1\n"), 0u) << "unquoted";
  EXPECT_GT(errors("# TYPE a gauge\na{l=\"1\",l=\"2\"} 1\n"), 0u) << "duplicate label";
  EXPECT_GT(errors("# TYPE a gauge\na one\n"), 0u) << "bad value";
  EXPECT_GT(errors("# TYPE a gauge\na 1"), 0u) << "no final line feed";
  EXPECT_GT(errors("# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n"), 0u) << "family split";
  EXPECT_GT(errors("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"2\"} "
                   "1\nh_bucket{le=\"+Inf\"} 2\n"
                   "h_sum 1\nh_count 2\n"),
            0u)
      << "decreasing buckets";
  EXPECT_GT(errors("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_sum 1\nh_count 2\n"), 0u)
      << "no +Inf";
  EXPECT_GT(errors("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n"), 0u)
      << "count mismatch";
  EXPECT_GT(errors("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n"), 0u) << "no sum";
}

std::pair<int, std::string> run(const std::string& command) {
  std::string out;
  FILE* p = ::popen((command + " 2>&1").c_str(), "r");
  if (p == nullptr) {
    return {-1, "popen failed"};
  }
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) {
    out.append(buf, n);
  }
  const int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST_F(AnalyticsGatewayTest, StatsCommandPrintsATable) {
  startGateway(config());
  makeCalls();
  const std::string admin = "http://127.0.0.1:" + std::to_string(gateway_->adminPort());
  auto [code, out] =
      run(std::string(SWITCHYARD_BINARY) + " stats --admin " + admin + " --by model --last 1h");
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("MODEL"), std::string::npos) << out;
  EXPECT_NE(out.find("REQUESTS"), std::string::npos) << out;
  EXPECT_NE(out.find("P95 MS"), std::string::npos) << out;
  // The busiest model first, then the other, then the total.
  const size_t chat_row = out.find("\ngpt-test ");
  const size_t embed_row = out.find("\nembed-test ");
  const size_t total_row = out.find("\nTOTAL ");
  ASSERT_NE(chat_row, std::string::npos) << out;
  ASSERT_NE(embed_row, std::string::npos) << out;
  ASSERT_NE(total_row, std::string::npos) << out;
  EXPECT_LT(chat_row, embed_row);
  EXPECT_LT(embed_row, total_row);
  const std::string chat_line =
      out.substr(chat_row + 1, out.find('\n', chat_row + 1) - chat_row - 1);
  std::istringstream cells(chat_line);
  std::string model, requests, errors, rate;
  cells >> model >> requests >> errors >> rate;
  EXPECT_EQ(requests, "6") << chat_line;
  EXPECT_EQ(errors, "1") << chat_line;
  EXPECT_EQ(rate, "16.7%") << chat_line;

  // Per-hour rows, grouped by two dimensions.
  auto [code2, out2] = run(std::string(SWITCHYARD_BINARY) + " stats --admin " + admin +
                           " --by tenant,model --interval hour --last 2h");
  ASSERT_EQ(code2, 0) << out2;
  EXPECT_NE(out2.find("TIME (UTC)"), std::string::npos) << out2;
  EXPECT_NE(out2.find("team-a"), std::string::npos) << out2;

  // No grouping: one row, the total.
  auto [code5, out5] = run(std::string(SWITCHYARD_BINARY) + " stats --admin " + admin + " --by '' --last 1h");
  ASSERT_EQ(code5, 0) << out5;
  EXPECT_NE(out5.find("REQUESTS"), std::string::npos) << out5;
  EXPECT_EQ(out5.find("TOTAL"), std::string::npos) << out5;
  // A module that answers something else is named, not printed as an empty table.
  auto [code6, out6] = run(std::string(SWITCHYARD_BINARY) + " stats --admin " + admin + " --name stats");
  EXPECT_EQ(code6, 1) << out6;
  EXPECT_NE(out6.find("does not answer time-series queries"), std::string::npos) << out6;

  // A bad query is the server's 400 message on stderr and exit code 1.
  auto [code3, out3] =
      run(std::string(SWITCHYARD_BINARY) + " stats --admin " + admin + " --by colour");
  EXPECT_EQ(code3, 1) << out3;
  EXPECT_NE(out3.find("cannot group by \"colour\""), std::string::npos) << out3;
  // Nothing listening.
  auto [code4, out4] = run(std::string(SWITCHYARD_BINARY) + " stats --admin http://127.0.0.1:1");
  EXPECT_EQ(code4, 1) << out4;
}

}  // namespace
}  // namespace switchyard::testing
