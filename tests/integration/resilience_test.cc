// "No healthy upstream is the last resort": scenario tests with several mock upstreams, some
// of them dead or failing, behind one gateway.
#include <Poco/Net/ServerSocket.h>

#include <strings.h>

#include <atomic>
#include <thread>

#include "gateway_fixture.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

json userChat(const std::string& model, bool stream = false) {
  json j = {{"model", model}, {"messages", {{{"role", "user"}, {"content", "ping"}}}}};
  if (stream) {
    j["stream"] = true;
  }
  return j;
}

/// A port with nothing listening on it.
uint16_t deadPort() {
  Poco::Net::ServerSocket s(Poco::Net::SocketAddress("127.0.0.1", 0));
  return s.address().port();
}

class ResilienceTest : public GatewayTest {
protected:
  void SetUp() override {
    GatewayTest::SetUp();
    installFirstPartyPlugins();
  }

  static json provider(const std::string& base_url) {
    return {{"type", "openai"},
            {"base_url", base_url},
            {"timeouts", {{"connect_ms", 1000}, {"first_byte_ms", 5000}, {"idle_ms", 5000}, {"total_ms", 10000}}}};
  }

  MockOpenAiUpstream second_;
  MockOpenAiUpstream third_;
};

TEST_F(ResilienceTest, OneOfThreeTargetsDyingFailsNoClientRequest) {
  json config = baseConfig();
  config["providers"]["a"] = provider(upstream_.baseUrl());
  config["providers"]["b"] = provider(second_.baseUrl());
  config["providers"]["dead"] = provider("http://127.0.0.1:" + std::to_string(deadPort()) + "/v1");
  config["models"]["pooled"] = {
      {"targets", {{{"provider", "a"}}, {{"provider", "b"}}, {{"provider", "dead"}}}}};
  startGateway(config);
  std::atomic<int> failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&] {
      for (int i = 0; i < 25; ++i) {
        if (chat(userChat("pooled")).status != 200) {
          failed++;
        }
      }
    });
  }
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_EQ(failed, 0);
  EXPECT_GT(upstream_.requestCount(), 0u);
  EXPECT_GT(second_.requestCount(), 0u);
  // The dead target was ejected: it stopped being tried long before the 100 requests ended.
  json health = admin("/admin/health");
  EXPECT_GE(health["targets"]["dead/pooled"]["ejections"].get<int>(), 1);
  auto recs = records();
  size_t retried = 0;
  for (const auto& r : recs) {
    retried += r["attempts"].size() > 1 ? 1 : 0;
  }
  EXPECT_LE(retried, 10u);
}

TEST_F(ResilienceTest, WhenEveryTargetIsDownTheAnswerIsAnImmediate503) {
  json config = baseConfig();
  config["providers"]["dead1"] = provider("http://127.0.0.1:" + std::to_string(deadPort()) + "/v1");
  config["providers"]["dead2"] = provider("http://127.0.0.1:" + std::to_string(deadPort()) + "/v1");
  config["models"]["doomed"] = {{"targets", {{{"provider", "dead1"}}, {{"provider", "dead2"}}}},
                                {"outlier", {{"consecutive_failures", 1}, {"base_ejection_ms", 30000}}}};
  startGateway(config);
  HttpResult first = chat(userChat("doomed"));
  EXPECT_EQ(first.status, 502); // both tried, both refused
  for (int i = 0; i < 5; ++i) {
    HttpResult r = chat(userChat("doomed"));
    ASSERT_EQ(r.status, 503) << r.body;
    json body = json::parse(r.body);
    EXPECT_EQ(body["error"]["type"], "no_healthy_upstream");
    EXPECT_NE(body["error"]["message"].get<std::string>().find("doomed"), std::string::npos);
    const int retry_after = std::stoi(r.headers["retry-after"]);
    EXPECT_GE(retry_after, 1);
    EXPECT_LE(retry_after, 30);
  }
  auto recs = records();
  ASSERT_EQ(recs.size(), 6u);
  EXPECT_EQ(recs[0]["attempts"].size(), 2u);
  EXPECT_NE(std::find(recs[0]["response_flags"].begin(), recs[0]["response_flags"].end(), "URX"),
            recs[0]["response_flags"].end());
  for (size_t i = 1; i < recs.size(); ++i) {
    EXPECT_FALSE(recs[i].contains("attempts")) << "no upstream was tried"; // fails fast
    EXPECT_EQ(recs[i]["response_flags"][0], "UH");
  }
}

TEST_F(ResilienceTest, RateLimitedKeyCoolsDownAndTrafficMovesToTheOther) {
  json config = baseConfig();
  config["providers"]["key1"] = provider(upstream_.baseUrl());
  config["providers"]["key2"] = provider(second_.baseUrl());
  config["models"]["shared"] = {{"targets", {{{"provider", "key1"}}, {{"provider", "key2"}}}}};
  startGateway(config);
  upstream_.failNext(429, R"({"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit_exceeded"}})");
  // key1 answers 429 to its first request; that call is retried on key2.
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(chat(userChat("shared")).status, 200);
  }
  EXPECT_EQ(upstream_.requestCount(), 1u); // only the rate-limited one: key1 is cooling down
  EXPECT_EQ(second_.requestCount(), 6u);
  json health = admin("/admin/health");
  EXPECT_EQ(health["targets"]["key1/shared"]["state"], "rate_limited");
  EXPECT_EQ(health["targets"]["key1/shared"]["failures"], 0); // a 429 is not a failure
  // With no Retry-After the cooldown is one second; then key1 serves again.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(chat(userChat("shared")).status, 200);
  }
  EXPECT_GT(upstream_.requestCount(), 1u);
}

TEST_F(ResilienceTest, ASingleDeadTargetFallsBackOnTheFirstFailure) {
  json config = baseConfig();
  config["providers"]["dead"] = provider("http://127.0.0.1:" + std::to_string(deadPort()) + "/v1");
  config["models"]["primary"] = {{"provider", "dead"}, {"fallbacks", {"gpt-test"}}};
  startGateway(config);
  HttpResult r = chat(userChat("primary"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["x-switchyard-attempts"], "2");
  EXPECT_EQ(r.headers["x-switchyard-target"], "mock/upstream-gpt");
  auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  ASSERT_EQ(recs[0]["attempts"].size(), 2u); // one try on the dead target, not a row of retries
  EXPECT_EQ(recs[0]["attempts"][0]["outcome"], "connect_failure");
  EXPECT_EQ(recs[0]["attempts"][1]["outcome"], "success");
}

TEST_F(ResilienceTest, AStreamThatFailsBeforeItsFirstByteFallsBackInvisibly) {
  json config = baseConfig();
  config["providers"]["flaky"] = provider(second_.baseUrl());
  config["models"]["streamy"] = {{"provider", "flaky"}, {"fallbacks", {"gpt-test"}}};
  startGateway(config);
  second_.failNext(503, R"({"error":{"message":"overloaded","type":"server_error","code":null}})");
  std::string received;
  HttpResult r = httpStream(gateway_->port(), "/v1/chat/completions", userChat("streamy", true).dump(), authHeaders(),
                            [&](std::string_view b) { received.append(b); });
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(received.find("tok0"), std::string::npos);
  EXPECT_NE(received.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(received.find("overloaded"), std::string::npos);
  EXPECT_EQ(upstream_.requestCount(), 1u);
}

TEST_F(ResilienceTest, AFullTargetOverflowsInsteadOfQueueing) {
  json config = baseConfig();
  config["models"]["narrow"] = {{"provider", "mock"}, {"max_requests_per_target", 1}};
  startGateway(config);
  upstream_.holdStreams(true);
  std::string received;
  std::thread holder([&] {
    httpStream(gateway_->port(), "/v1/chat/completions", userChat("narrow", true).dump(), authHeaders(),
               [&](std::string_view b) { received.append(b); });
  });
  ASSERT_TRUE(upstream_.waitForOpenStreams(1));
  HttpResult r = chat(userChat("narrow"));
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "upstream_overflow");
  EXPECT_FALSE(r.headers["retry-after"].empty());
  upstream_.releaseStreams();
  holder.join();
  EXPECT_NE(received.find("data: [DONE]"), std::string::npos);
  EXPECT_EQ(chat(userChat("narrow")).status, 200); // the slot is free again
  auto recs = records();
  bool saw_overflow = false;
  for (const auto& rec : recs) {
    saw_overflow = saw_overflow || (rec.contains("response_flags") && rec["response_flags"][0] == "UO");
  }
  EXPECT_TRUE(saw_overflow);
}

TEST_F(ResilienceTest, ATotalOutageStaysWithinTheRetryBudget) {
  json config = baseConfig();
  config["providers"]["b"] = provider(second_.baseUrl());
  config["providers"]["c"] = provider(third_.baseUrl());
  config["models"]["outage"] = {
      {"targets", {{{"provider", "mock"}}, {{"provider", "b"}}, {{"provider", "c"}}}},
      {"retry", {{"attempts", 3}, {"budget_percent", 0}, {"min_retry_concurrency", 1},
                 {"backoff_base_ms", 200}, {"backoff_max_ms", 200}}},
      {"outlier", {{"consecutive_failures", 1000}}}};
  startGateway(config);
  const std::string down = R"({"error":{"message":"down","type":"server_error","code":null}})";
  upstream_.failNext(503, down, 1000);
  second_.failNext(503, down, 1000);
  third_.failNext(503, down, 1000);
  constexpr int kClients = 16;
  std::vector<std::thread> clients;
  std::atomic<int> failed{0};
  for (int c = 0; c < kClients; ++c) {
    clients.emplace_back([&] { failed += chat(userChat("outage")).status == 503 ? 1 : 0; });
  }
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_EQ(failed, kClients);
  const size_t attempts = upstream_.requestCount() + second_.requestCount() + third_.requestCount();
  // Without a budget every call would try all three targets (48 attempts); with one retry
  // allowed in flight at a time, most calls give up after their first attempt.
  EXPECT_GE(attempts, static_cast<size_t>(kClients));
  EXPECT_LT(attempts, static_cast<size_t>(kClients) * 2);
}

TEST_F(ResilienceTest, AStallAfterTheFirstByteEndsWithAnInBandErrorAndNoDone) {
  json config = baseConfig();
  json stalling = provider(upstream_.baseUrl());
  stalling["timeouts"]["idle_ms"] = 300;
  config["providers"]["stalling"] = stalling;
  config["models"]["stall"] = {{"provider", "stalling"}, {"fallbacks", {"embed-test"}}};
  startGateway(config);
  upstream_.holdStreams(true); // the mock stops after its first content chunk
  std::string received;
  HttpResult r = httpStream(gateway_->port(), "/v1/chat/completions", userChat("stall", true).dump(), authHeaders(),
                            [&](std::string_view b) { received.append(b); });
  upstream_.releaseStreams();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(received.find("tok0"), std::string::npos);
  // Bytes were committed, so no fallback: a terminal error event, and never a [DONE].
  EXPECT_NE(received.find(R"(data: {"error":)"), std::string::npos) << received;
  EXPECT_NE(received.find("upstream_timeout"), std::string::npos);
  EXPECT_EQ(received.find("[DONE]"), std::string::npos);
  EXPECT_TRUE(strcasecmp(r.headers["connection"].c_str(), "close") == 0) << r.headers["connection"];
  auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs[0]["partial"].get<bool>());
  const auto& flags = recs[0]["response_flags"];
  EXPECT_NE(std::find(flags.begin(), flags.end(), "UT"), flags.end());
  EXPECT_NE(std::find(flags.begin(), flags.end(), "PS"), flags.end());
}

TEST_F(ResilienceTest, ActiveHealthChecksTakeAProviderOutAndBringItBack) {
  json config = baseConfig();
  json probed = provider(upstream_.baseUrl());
  probed["health_check"] = {{"path", "/models"}, {"interval_ms", 100}, {"jitter_ms", 0}, {"timeout_ms", 500},
                            {"unhealthy_threshold", 2}, {"healthy_threshold", 1}};
  config["providers"]["probed"] = probed;
  config["providers"]["b"] = provider(second_.baseUrl());
  config["models"]["watched"] = {{"targets", {{{"provider", "probed"}}, {{"provider", "b"}}}}};
  startGateway(config);
  auto providerState = [&] { return admin("/admin/health")["providers"]["probed"]; };
  upstream_.failNext(503, R"({"error":{"message":"down","type":"server_error","code":null}})", 1000000);
  ASSERT_TRUE(pollUntil([&] { return providerState() == "unhealthy"; }, 200));
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(chat(userChat("watched")).status, 200);
  }
  EXPECT_EQ(second_.requestCount(), 6u); // no call went to the provider out of service

  upstream_.failNext(503, "", 0); // it recovers
  ASSERT_TRUE(pollUntil([&] { return providerState() == "healthy"; }, 200));
  upstream_.clearRequests();
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(chat(userChat("watched")).status, 200);
  }
  size_t chats = 0;
  for (const auto& r : upstream_.requests()) {
    chats += r.path == "/v1/chat/completions" ? 1 : 0;
  }
  EXPECT_GE(chats, 1u); // back in rotation
}

TEST_F(ResilienceTest, ClientErrorsAreNotRetried) {
  json config = baseConfig();
  config["providers"]["b"] = provider(second_.baseUrl());
  config["models"]["pair"] = {{"targets", {{{"provider", "mock"}}, {{"provider", "b"}}}}};
  startGateway(config);
  upstream_.failNext(400, R"({"error":{"message":"bad request","type":"invalid_request_error","code":null}})", 2);
  second_.failNext(400, R"({"error":{"message":"bad request","type":"invalid_request_error","code":null}})", 2);
  HttpResult r = chat(userChat("pair"));
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(upstream_.requestCount() + second_.requestCount(), 1u);
}

} // namespace
} // namespace switchyard::testing
