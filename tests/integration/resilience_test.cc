// "No healthy upstream is the last resort": scenario tests with several mock upstreams, some
// of them dead or failing, behind one gateway.
#include <Poco/Net/ServerSocket.h>

#include <strings.h>

#include <atomic>
#include <chrono>
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

  /// A streaming chat to `model`; the bytes the client received.
  std::string streamChat(const std::string& model, HttpResult* result = nullptr) {
    std::string received;
    HttpResult r = httpStream(gateway_->port(), "/v1/chat/completions", userChat(model, true).dump(), authHeaders(),
                              [&](std::string_view b) { received.append(b); });
    if (result != nullptr) {
      *result = r;
    }
    return received;
  }

  /// "flaky" (the second mock) serves `model`, which falls back to gpt-test (the first mock).
  json flakyWithFallback(const std::string& model, const json& route_extra = json::object()) {
    json config = baseConfig();
    config["providers"]["flaky"] = provider(second_.baseUrl());
    json route = {{"provider", "flaky"}, {"fallbacks", {"gpt-test"}}};
    route.update(route_extra);
    config["models"][model] = route;
    return config;
  }

  static bool hasFlag(const json& record, const std::string& flag) {
    if (!record.contains("response_flags")) {
      return false;
    }
    const auto& flags = record["response_flags"];
    return std::find(flags.begin(), flags.end(), flag) != flags.end();
  }

  MockOpenAiUpstream second_;
  MockOpenAiUpstream third_;
};

using Clock = std::chrono::steady_clock;

int64_t msSince(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count();
}

/// A full, correct answer: every token of the mock's stream and the [DONE], no error event.
void expectCompleteStream(const std::string& received) {
  EXPECT_NE(received.find("tok0"), std::string::npos) << received;
  EXPECT_NE(received.find("tok2"), std::string::npos) << received;
  EXPECT_NE(received.find("data: [DONE]"), std::string::npos) << received;
  EXPECT_EQ(received.find(R"("error")"), std::string::npos) << received;
}

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
  // The immediate 503s may overtake the first call's record: it is found by its request id.
  const json tried = recordFor(recs, first);
  EXPECT_EQ(tried["attempts"].size(), 2u);
  EXPECT_NE(std::find(tried["response_flags"].begin(), tried["response_flags"].end(), "URX"),
            tried["response_flags"].end());
  for (const json& rec : recs) {
    if (rec["request_id"] == tried["request_id"]) {
      continue;
    }
    EXPECT_FALSE(rec.contains("attempts")) << "no upstream was tried"; // fails fast
    EXPECT_EQ(rec["response_flags"][0], "UH");
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

// Each fault hits before the gateway has sent the client a byte: the stream falls back to the
// other route and the client sees one complete answer, nothing of the failure.
TEST_F(ResilienceTest, StreamFaultsBeforeTheFirstByteFallBackInvisibly) {
  struct Case {
    const char* name;
    Fault fault;
  };
  const Case cases[] = {
      {"reset after the head", Fault::resetMidStream(0)},
      {"stall before the first token", Fault::stallMidStream(0)},
      {"malformed first chunk", Fault::malformedChunk(0)},
  };
  // The route's first-byte timeout (300 ms) overrides the provider's 5 s for the stall.
  startGateway(flakyWithFallback("streamy", {{"timeouts", {{"first_byte_ms", 300}}}}));
  size_t calls = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    second_.injectFault(c.fault, 1);
    HttpResult r;
    const auto start = Clock::now();
    const std::string received = streamChat("streamy", &r);
    EXPECT_EQ(r.status, 200);
    EXPECT_LT(msSince(start), 4000);
    expectCompleteStream(received);
    EXPECT_EQ(r.headers["x-switchyard-target"], "mock/upstream-gpt");
    second_.clearFaults(); // ends the stalled handler
    auto recs = records();
    ASSERT_EQ(recs.size(), ++calls);
    const json& rec = recs.back();
    ASSERT_EQ(rec["attempts"].size(), 2u);
    EXPECT_EQ(rec["attempts"][0]["target"], "flaky/streamy");
    EXPECT_NE(rec["attempts"][0]["outcome"], "success");
    EXPECT_EQ(rec["attempts"][1]["outcome"], "success");
    EXPECT_FALSE(rec.value("partial", false));
  }
  EXPECT_EQ(second_.faultsInjected(), 3);
}

// After bytes reached the client nothing can be taken back: the stream ends with an in-band
// error event and a closed connection, never a [DONE], and the record says it was partial.
TEST_F(ResilienceTest, StreamFaultsAfterTheFirstByteEndWithAnInBandError) {
  struct Case {
    const char* name;
    Fault fault;
    const char* code;
    const char* flag;
  };
  const Case cases[] = {
      {"reset mid-stream", Fault::resetMidStream(2), "upstream_connection_reset", "UC"},
      {"malformed chunk mid-stream", Fault::malformedChunk(2), "malformed_chunk", "PS"},
      // The route's idle limit (300 ms) overrides the provider's 5 s.
      {"stall mid-stream", Fault::stallMidStream(2), "upstream_timeout", "UT"},
  };
  startGateway(flakyWithFallback("streamy", {{"timeouts", {{"idle_ms", 300}}}}));
  size_t calls = 0;
  for (const auto& c : cases) {
    SCOPED_TRACE(c.name);
    second_.injectFault(c.fault, 1);
    HttpResult r;
    const auto start = Clock::now();
    const std::string received = streamChat("streamy", &r);
    EXPECT_LT(msSince(start), 4000);
    second_.clearFaults();
    EXPECT_EQ(r.status, 200);
    EXPECT_NE(received.find("tok0"), std::string::npos) << received; // the first bytes were sent
    const auto error_at = received.find(R"(data: {"error":)");
    ASSERT_NE(error_at, std::string::npos) << received;
    EXPECT_NE(received.find(c.code, error_at), std::string::npos) << received;
    EXPECT_EQ(received.find("[DONE]"), std::string::npos) << received;
    EXPECT_EQ(received.find("tok2"), std::string::npos) << received;
    EXPECT_EQ(strcasecmp(r.headers["connection"].c_str(), "close"), 0) << r.headers["connection"];
    auto recs = records();
    ASSERT_EQ(recs.size(), ++calls);
    const json& rec = recs.back();
    EXPECT_TRUE(rec["partial"].get<bool>());
    EXPECT_TRUE(hasFlag(rec, "PS"));
    EXPECT_TRUE(hasFlag(rec, c.flag));
    EXPECT_EQ(rec["attempts"].size(), 1u); // no fallback once bytes were committed
  }
  EXPECT_EQ(upstream_.requestCount(), 0u);
}

TEST_F(ResilienceTest, ADeadTargetThatRecoversGetsTrafficWithinTheHealthCheckInterval) {
  json config = baseConfig();
  json probed = provider(second_.baseUrl());
  probed["health_check"] = {{"path", "/models"}, {"interval_ms", 200}, {"jitter_ms", 0}, {"timeout_ms", 300},
                            {"unhealthy_threshold", 1}, {"healthy_threshold", 1}};
  config["providers"]["probed"] = probed;
  // A long passive ejection: only the health check can bring the target back this soon.
  config["models"]["pair"] = {{"targets", {{{"provider", "probed"}}, {{"provider", "mock"}}}},
                              {"outlier", {{"consecutive_failures", 1}, {"base_ejection_ms", 60000}}}};
  startGateway(config);
  second_.setDown(true);
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(chat(userChat("pair")).status, 200); // the dead one's calls move to the other
  }
  ASSERT_TRUE(pollUntil([&] { return admin("/admin/health")["providers"]["probed"] == "unhealthy"; }, 100));

  second_.setDown(false);
  const auto up = Clock::now();
  bool served = false;
  while (!served && msSince(up) < 5000) {
    ASSERT_EQ(chat(userChat("pair")).status, 200);
    for (const auto& r : second_.requests()) {
      served = served || r.path == "/v1/chat/completions";
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(served);
  // One interval (200 ms) plus a wide margin for a loaded machine.
  EXPECT_LT(msSince(up), 2500);
  EXPECT_EQ(admin("/admin/health")["targets"]["probed/pair"]["state"], "available");
}

TEST_F(ResilienceTest, ARateLimitStormOnOneKeyMovesTrafficUntilRetryAfter) {
  json config = baseConfig();
  config["providers"]["key1"] = provider(upstream_.baseUrl());
  config["providers"]["key2"] = provider(second_.baseUrl());
  config["providers"]["key3"] = provider(third_.baseUrl());
  config["models"]["shared"] = {{"targets", {{{"provider", "key1"}}, {{"provider", "key2"}}, {{"provider", "key3"}}}}};
  startGateway(config);
  upstream_.injectFault(Fault::rateLimited("2"), -1); // key1 answers every call with 429
  const auto storm = Clock::now();
  for (int i = 0; i < 12; ++i) {
    ASSERT_EQ(chat(userChat("shared")).status, 200);
  }
  EXPECT_EQ(upstream_.requestCount(), 1u); // one 429, then key1 rests for the 2 s it asked
  EXPECT_EQ(second_.requestCount() + third_.requestCount(), 12u);
  EXPECT_GE(second_.requestCount(), 4u); // spread over the keys left, not piled on one
  EXPECT_GE(third_.requestCount(), 4u);
  json key1 = admin("/admin/health")["targets"]["key1/shared"];
  EXPECT_EQ(key1["state"], "rate_limited");
  EXPECT_GT(key1["cooldown_remaining_ms"].get<int64_t>(), 0);
  EXPECT_LE(key1["cooldown_remaining_ms"].get<int64_t>(), 2000);
  EXPECT_EQ(key1["failures"], 0);
  EXPECT_EQ(key1["ejections"], 0);

  upstream_.clearFaults(); // the key's window resets
  std::this_thread::sleep_for(std::chrono::milliseconds(2000) - (Clock::now() - storm) + std::chrono::milliseconds(200));
  for (int i = 0; i < 6; ++i) {
    ASSERT_EQ(chat(userChat("shared")).status, 200);
  }
  EXPECT_GE(upstream_.requestCount(), 2u); // back in rotation
}

TEST_F(ResilienceTest, ARateLimitedSingleTargetCoolsDownAndFallsBack) {
  startGateway(flakyWithFallback("solo"));
  // OpenAI's headers: the token limit ran out and resets in six minutes.
  second_.injectFault(Fault::httpStatus(429, "",
                                        {{"x-ratelimit-remaining-requests", "59"},
                                         {"x-ratelimit-reset-requests", "1s"},
                                         {"x-ratelimit-remaining-tokens", "0"},
                                         {"x-ratelimit-reset-tokens", "6m0s"}}),
                      -1);
  HttpResult first = chat(userChat("solo"));
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.headers["x-switchyard-attempts"], "2");
  for (int i = 0; i < 3; ++i) {
    HttpResult r = chat(userChat("solo"));
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["x-switchyard-attempts"], "1"); // straight to the fallback while cooling
    EXPECT_EQ(r.headers["x-switchyard-target"], "mock/upstream-gpt");
  }
  EXPECT_EQ(second_.requestCount(), 1u);
  json solo = admin("/admin/health")["targets"]["flaky/solo"];
  EXPECT_EQ(solo["state"], "rate_limited");
  EXPECT_GT(solo["cooldown_remaining_ms"].get<int64_t>(), 350000);
  EXPECT_LE(solo["cooldown_remaining_ms"].get<int64_t>(), 360000);
}

TEST_F(ResilienceTest, FallbackByErrorClass) {
  json config = flakyWithFallback("small", {{"fallback_on", {"context_length_exceeded"}}});
  config["providers"]["strict"] = provider(second_.baseUrl());
  config["models"]["strict"] = {{"provider", "strict"}, {"fallbacks", {"gpt-test"}}};
  config["models"]["filtered"] = {{"provider", "strict"}, {"fallbacks", {"gpt-test"}}, {"fallback_on", {"content_filter"}}};
  startGateway(config);
  const std::string too_long =
      R"({"error":{"message":"This model's maximum context length is 8192 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}})";

  second_.failNext(400, too_long, 1);
  const HttpResult fell_back = chat(userChat("small"));
  HttpResult r = fell_back;
  ASSERT_EQ(r.status, 200) << r.body; // the larger-context route answered
  EXPECT_EQ(r.headers["x-switchyard-target"], "mock/upstream-gpt");
  EXPECT_EQ(json::parse(r.body)["choices"][0]["message"]["content"], "echo: ping");

  // Without fallback_on, the same error is the caller's to see, and no fallback is paid for.
  second_.failNext(400, too_long, 1);
  r = chat(userChat("strict"));
  const HttpResult strict = r;
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "context_length_exceeded");

  // A content filter refusal is not a context-length error: "small" does not fall back on it.
  const std::string filtered =
      R"({"error":{"message":"The response was filtered","type":"invalid_request_error","param":"prompt","code":"content_filter"}})";
  second_.failNext(400, filtered, 1);
  EXPECT_EQ(chat(userChat("small")).status, 400);
  second_.failNext(400, filtered, 1);
  EXPECT_EQ(chat(userChat("filtered")).status, 200);
  EXPECT_EQ(upstream_.requestCount(), 2u);

  auto recs = records();
  ASSERT_EQ(recs.size(), 4u);
  EXPECT_EQ(recordFor(recs, fell_back)["attempts"].size(), 2u);
  EXPECT_EQ(recordFor(recs, fell_back)["attempts"][0]["outcome"], "client_error");
  EXPECT_EQ(recordFor(recs, strict)["attempts"].size(), 1u);
}

TEST_F(ResilienceTest, ARouteTimeoutOverridesItsProviders) {
  // The provider waits 5 s for a first byte; "quick" waits 300 ms, then falls back.
  json config = flakyWithFallback("quick", {{"timeouts", {{"first_byte_ms", 300}}}, {"fallback_on", {"timeout"}}});
  config["models"]["patient"] = {{"provider", "flaky"}};
  startGateway(config);
  second_.injectFault(Fault::slowFirstByte(std::chrono::milliseconds(1200)), 2);
  auto start = Clock::now();
  HttpResult r = chat(userChat("quick"));
  const HttpResult quick = r;
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["x-switchyard-target"], "mock/upstream-gpt");
  EXPECT_LT(msSince(start), 1100); // did not wait for the slow answer
  start = Clock::now();
  r = chat(userChat("patient")); // the provider's own 5 s applies
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["x-switchyard-target"], "flaky/patient");
  EXPECT_GE(msSince(start), 1100);
  auto recs = records();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recordFor(recs, quick)["attempts"][0]["outcome"], "timeout");
  EXPECT_TRUE(hasFlag(recordFor(recs, quick), "UT"));
}

TEST_F(ResilienceTest, AFastFailureOnlyRouteDoesNotFallBackAfterASlowOne) {
  json config = flakyWithFallback(
      "eager", {{"failover_within_ms", 700}, {"fallback_on", {"timeout"}}, {"timeouts", {{"first_byte_ms", 1500}}}});
  startGateway(config);
  // A fast failure (an immediate 503) falls back.
  second_.failNext(503, "", 1);
  HttpResult r = chat(userChat("eager"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["x-switchyard-target"], "mock/upstream-gpt");
  // A slow one (a 1.5 s timeout, past the 700 ms window) is returned as it is.
  second_.injectFault(Fault::slowFirstByte(std::chrono::milliseconds(4000)), 1);
  r = chat(userChat("eager"));
  EXPECT_EQ(r.status, 504) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_timeout");
  EXPECT_EQ(upstream_.requestCount(), 1u);
  auto recs = records();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recordFor(recs, r)["attempts"].size(), 1u);
}

TEST_F(ResilienceTest, ResetBeforeHeadersFallsBackOnlyWhenTheRouteSaysSo) {
  // A reset after the request left may mean it was processed (and billed): not resent unless
  // the route lists connection_reset.
  json config = flakyWithFallback("careful");
  config["models"]["bold"] = {{"provider", "flaky"}, {"fallbacks", {"gpt-test"}}, {"fallback_on", {"connection_reset"}}};
  startGateway(config);
  second_.injectFault(Fault::resetBeforeHeaders(), -1);
  HttpResult r = chat(userChat("careful"));
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_connection_reset");
  r = chat(userChat("bold"));
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["x-switchyard-target"], "mock/upstream-gpt");
}

TEST_F(ResilienceTest, AdminHealthShowsPoolsTargetsAndCircuitBreakers) {
  json config = baseConfig();
  config["providers"]["b"] = provider(second_.baseUrl());
  config["models"]["narrow"] = {{"targets", {{{"provider", "mock"}, {"weight", 2}}, {{"provider", "b"}}}},
                                {"max_requests_per_target", 1},
                                {"strategy", "least_request"}};
  startGateway(config);
  ASSERT_EQ(chat(userChat("narrow")).status, 200);
  ASSERT_EQ(chat(userChat("narrow")).status, 200);
  upstream_.holdStreams(true);
  second_.holdStreams(true);
  std::thread holder([&] { streamChat("narrow"); });
  ASSERT_TRUE(pollUntil([&] { return upstream_.openStreams() + second_.openStreams() == 1; }, 300));

  json pool = admin("/admin/health")["pools"]["narrow"];
  EXPECT_EQ(pool["strategy"], "least_request");
  ASSERT_EQ(pool["targets"].size(), 2u);
  int open = 0;
  int successes = 0;
  for (const auto& t : pool["targets"]) {
    successes += t["successes"].get<int>();
    if (t["successes"].get<int>() > 0) {
      EXPECT_GT(t["ewma_ttfb_ms"].get<double>(), 0); // measured on every answer
    }
    EXPECT_EQ(t["state"], "available");
    EXPECT_EQ(t["provider_probe"], "healthy");
    EXPECT_EQ(t["circuit_breaker"]["max_requests"], 1);
    EXPECT_EQ(t["circuit_breaker"]["in_flight"], t["in_flight"]);
    EXPECT_EQ(t["ejections"], 0);
    EXPECT_EQ(t["cooldown_remaining_ms"], 0);
    open += t["circuit_breaker"]["state"] == "open" ? 1 : 0;
  }
  EXPECT_EQ(open, 1); // the held stream fills one target's only slot
  EXPECT_EQ(successes, 2);
  EXPECT_EQ(pool["targets"][0]["target"], "mock/narrow");
  EXPECT_EQ(pool["targets"][0]["weight"], 2);
  upstream_.releaseStreams();
  second_.releaseStreams();
  holder.join();
  pool = admin("/admin/health")["pools"]["narrow"];
  for (const auto& t : pool["targets"]) {
    EXPECT_EQ(t["circuit_breaker"]["state"], "closed");
    EXPECT_EQ(t["in_flight"], 0);
  }
  json target = admin("/admin/health")["targets"]["mock/narrow"];
  for (const char* field : {"state", "available_in_ms", "ejection_remaining_ms", "cooldown_remaining_ms",
                            "consecutive_failures", "ejections", "in_flight", "ewma_ttfb_ms"}) {
    EXPECT_TRUE(target.contains(field)) << field;
  }
}

} // namespace
} // namespace switchyard::testing
