// REST services behind managed APIs with the AI services' parity: call records through the
// same dispatcher, a pool of base URLs with retries of idempotent calls, per-service timeouts,
// a fast 503 when nothing is healthy; and subscription decisions that cannot both win a race.
#include <atomic>
#include <set>
#include <thread>

#include "management_fixture.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

class RestServiceTest : public ManagementTest {
 protected:
  /// A REST service of tenant A made from `service` (name, kind added), published at
  /// /apis/<name>/v1 without approval, B's app subscribed, and the snapshot serving it.
  std::string restApi(const World& w, const std::string& name, json service) {
    service["name"] = name;
    service["kind"] = "rest";
    const std::string svc = expect(201, "POST", "/admin/v1/services", service, w.a_admin)["id"];
    const std::string api = expect(201, "POST", "/admin/v1/apis",
                                   {{"name", name},
                                    {"path", "/apis/" + name},
                                    {"service_id", svc},
                                    {"methods", {"GET", "POST", "PUT", "DELETE"}},
                                    {"approval_required", false}},
                                   w.a_admin)["id"];
    expect(200, "POST", "/admin/v1/apis/" + api + "/publish", nullptr, w.a_admin);
    expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", api}},
           w.b_member);
    const std::string mount = "/apis/" + name + "/v1";
    // Probe with a path no mock serves (404 from upstream) until the gateway mounts it.
    EXPECT_TRUE(within([&] {
      HttpResult r = send(w, "GET", mount + "/__probe");
      return r.status != 403 && r.body.find("unknown_url") != std::string::npos &&
             r.body.find("Unknown request URL") != std::string::npos;
    })) << "API "
        << name << " never became callable";
    return mount;
  }
  /// A REST API over a pool of the fixture's upstream and `second`, retrying without backoff.
  std::string poolApi(const World& w, const MockOpenAiUpstream& second, int attempts) {
    return restApi(w, "pool",
                   {{"base_urls", {upstream_.baseUrl(), second.baseUrl()}},
                    {"retry", {{"attempts", attempts}, {"backoff_base_ms", 0}}}});
  }
  /// The GETs of <mount>/v1/models, each answered 200, that took two attempts: the first on
  /// `failing`, ending in `outcome`, the second a success on the fixture's upstream.
  int retriedGets(const std::string& mount, const MockOpenAiUpstream& failing,
                  const char* outcome) {
    int retried = 0;
    for (const auto& rec : restRecords(mount + "/models")) {
      EXPECT_EQ(rec["status"], 200);
      if (rec["attempts"].size() == 2) {
        ++retried;
        EXPECT_EQ(rec["attempts"][0]["target"], failing.baseUrl());
        EXPECT_EQ(rec["attempts"][0]["outcome"], outcome);
        EXPECT_EQ(rec["attempts"][1]["target"], upstream_.baseUrl());
        EXPECT_EQ(rec["attempts"][1]["outcome"], "success");
      }
    }
    return retried;
  }
  HttpResult send(const World& w, const std::string& method, const std::string& path,
                  const std::string& body = "") {
    return httpRequest(gateway_->port(), method, path, body,
                       {{"Authorization", "Bearer " + w.key}});
  }
  /// Call records of REST calls to `path` (the probes left out).
  std::vector<json> restRecords(const std::string& path) {
    std::vector<json> out;
    for (const auto& r : records()) {
      if (r.value("operation", "") == "rest" && r.value("endpoint", "") == path) {
        out.push_back(r);
      }
    }
    return out;
  }
  static json chatBody() {
    return {{"model", "anything"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  }
};

TEST_F(RestServiceTest, RestCallsAreRecordedWithTheApiAndThePrincipal) {
  start();
  World w = world(/*publish=*/false);
  const std::string mount = restApi(w, "raw", {{"base_url", upstream_.baseUrl()}});
  HttpResult r = send(w, "GET", mount + "/models?limit=2");
  ASSERT_EQ(r.status, 200) << r.body;
  HttpResult posted = send(w, "POST", mount + "/chat/completions", chatBody().dump());
  ASSERT_EQ(posted.status, 200) << posted.body;

  auto gets = restRecords(mount + "/models");
  ASSERT_EQ(gets.size(), 1u);
  const json& rec = gets[0];
  EXPECT_EQ(rec["schema"], "switchyard.call.v1");
  EXPECT_EQ(rec["api"], "raw@v1");
  EXPECT_EQ(rec["method"], "GET");
  EXPECT_EQ(rec["provider"], "raw");
  EXPECT_EQ(rec["provider_type"], "rest");
  EXPECT_EQ(rec["principal"]["tenant"], "search");
  EXPECT_EQ(rec["principal"]["app"], "crawler");
  EXPECT_EQ(rec["principal"]["key_id"], w.key_id);
  EXPECT_EQ(rec["status"], 200);
  EXPECT_EQ(rec["upstream_status"], 200);
  EXPECT_FALSE(rec["request_id"].get<std::string>().empty());
  EXPECT_GT(rec["start_unix_ms"].get<int64_t>(), 0);
  EXPECT_GE(rec["end_unix_ms"].get<int64_t>(), rec["start_unix_ms"].get<int64_t>());
  EXPECT_TRUE(rec.contains("ttfb_ms"));
  EXPECT_GE(rec["latency_ms"].get<double>(), rec["ttfb_ms"].get<double>());
  ASSERT_EQ(rec["attempts"].size(), 1u);
  EXPECT_EQ(rec["attempts"][0]["target"], upstream_.baseUrl());
  EXPECT_EQ(rec["attempts"][0]["outcome"], "success");
  EXPECT_FALSE(rec.contains("error"));
  EXPECT_EQ(rec.dump().find(w.key), std::string::npos);  // the app key never reaches a record

  auto posts = restRecords(mount + "/chat/completions");
  ASSERT_EQ(posts.size(), 1u);
  EXPECT_EQ(posts[0]["method"], "POST");
  EXPECT_EQ(posts[0]["api"], "raw@v1");

  // An upstream error is relayed as it is, and counted as an error.
  HttpResult missing = send(w, "GET", mount + "/nothing-here");
  EXPECT_EQ(missing.status, 404);
  EXPECT_EQ(json::parse(missing.body)["error"]["message"],
            "Unknown request URL: GET /v1/nothing-here");
  auto misses = restRecords(mount + "/nothing-here");
  ASSERT_EQ(misses.size(), 1u);
  EXPECT_EQ(misses[0]["status"], 404);
  EXPECT_EQ(misses[0]["error"]["code"], "http_404");
}

TEST_F(RestServiceTest, ManagedAiCallRecordsCarryTheApiName) {
  start();
  World w = world(/*publish=*/true, /*approval=*/false);
  expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", w.api}},
         w.b_member);
  ASSERT_TRUE(within([&] { return managedChat(w.mount, w.key).status == 200; }));
  bool seen = false;
  for (const auto& r : records()) {
    if (r.value("status", 0) == 200 && r.value("operation", "") == "chat.completions") {
      seen = true;
      EXPECT_EQ(r["api"], "support@v1");
      EXPECT_EQ(r["endpoint"], w.mount + "/v1/chat/completions");
      EXPECT_EQ(r["principal"]["tenant"], "search");
      EXPECT_EQ(r["principal"]["app"], "crawler");
      EXPECT_EQ(r["principal"]["key_id"], w.key_id);
    }
  }
  EXPECT_TRUE(seen);
}

TEST_F(RestServiceTest, APoolKeepsServingWhileOneTargetIsDown) {
  start();
  World w = world(/*publish=*/false);
  MockOpenAiUpstream down;
  const std::string mount = poolApi(w, down, 2);
  down.setDown(true);
  upstream_.clearRequests();
  for (int i = 0; i < 6; ++i) {
    HttpResult r = send(w, "GET", mount + "/models");
    EXPECT_EQ(r.status, 200) << i << ": " << r.body;
  }
  // A POST is retried after a connect failure too: nothing reached the dead target.
  for (int i = 0; i < 2; ++i) {
    HttpResult r = send(w, "POST", mount + "/chat/completions", chatBody().dump());
    EXPECT_EQ(r.status, 200) << r.body;
  }
  EXPECT_EQ(upstream_.requestCount(), 8u);
  const int retried = retriedGets(mount, down, "connect_failure");
  for (const auto& rec : restRecords(mount + "/models")) {
    if (rec["attempts"].size() == 2) {
      EXPECT_NE(rec["response_flags"].dump().find("UF"), std::string::npos);
    }
  }
  EXPECT_GE(retried, 1);
  // Three connect failures in a row eject the dead target: later calls do not knock on it.
  EXPECT_LE(retried, 3);
}

TEST_F(RestServiceTest, OnlyIdempotentCallsAreRetriedOnceTheyReachedATarget) {
  start();
  World w = world(/*publish=*/false);
  MockOpenAiUpstream other;
  const std::string mount = poolApi(w, other, 3);
  // Both targets answer 503 once: the POST reached one of them, so it is not sent again.
  upstream_.injectFault(Fault::httpStatus(503, R"({"error":"busy"})"), 1);
  other.injectFault(Fault::httpStatus(503, R"({"error":"busy"})"), 1);
  upstream_.clearRequests();
  other.clearRequests();
  HttpResult post = send(w, "POST", mount + "/chat/completions", chatBody().dump());
  EXPECT_EQ(post.status, 503);
  EXPECT_EQ(post.body, R"({"error":"busy"})");  // the service's own answer, relayed
  EXPECT_EQ(upstream_.requestCount() + other.requestCount(), 1u);

  // One target keeps answering 503: GETs that land on it move on to the other.
  upstream_.clearFaults();
  other.injectFault(Fault::httpStatus(503, R"({"error":"busy"})"), -1);
  for (int i = 0; i < 4; ++i) {
    HttpResult get = send(w, "GET", mount + "/models");
    EXPECT_EQ(get.status, 200) << get.body;
  }
  const int retried = retriedGets(mount, other, "server_error");
  EXPECT_GE(retried, 1);  // two targets in turn: the failing one came first at least once

  // A POST whose connection broke after it was sent is not tried on another target either.
  upstream_.injectFault(Fault::resetBeforeHeaders(), -1);
  other.injectFault(Fault::resetBeforeHeaders(), -1);
  upstream_.clearRequests();
  other.clearRequests();
  HttpResult reset = send(w, "POST", mount + "/chat/completions", chatBody().dump());
  EXPECT_EQ(reset.status, 502);
  EXPECT_EQ(json::parse(reset.body)["error"]["code"], "upstream_connection_reset");
  EXPECT_TRUE((upstream_.requestCount() == 0) != (other.requestCount() == 0))
      << upstream_.requestCount() << " and " << other.requestCount();

  auto posts = restRecords(mount + "/chat/completions");
  ASSERT_EQ(posts.size(), 2u);
  EXPECT_EQ(posts[0]["status"], 503);
  EXPECT_EQ(posts[0]["upstream_status"], 503);
  EXPECT_EQ(posts[0]["attempts"].size(), 1u);
  EXPECT_EQ(posts[0]["error"]["type"], "upstream_error");
  EXPECT_EQ(posts[1]["status"], 502);
  EXPECT_EQ(posts[1]["attempts"].size(), 1u);
  EXPECT_EQ(posts[1]["attempts"][0]["outcome"], "connection_reset");
}

TEST_F(RestServiceTest, AServiceFirstByteTimeoutAnswers504AndIsRecorded) {
  start();
  World w = world(/*publish=*/false);
  const std::string mount = restApi(w, "slow",
                                    {{"base_url", upstream_.baseUrl()},
                                     {"timeouts", {{"first_byte_ms", 300}}},
                                     {"retry", {{"attempts", 1}}}});
  upstream_.injectFault(Fault::slowFirstByte(std::chrono::milliseconds(3000)), 1);
  const auto start = Clock::now();
  HttpResult r = send(w, "GET", mount + "/models");
  const auto took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
  EXPECT_EQ(r.status, 504);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_timeout");
  EXPECT_LT(took.count(), 2500) << "the service's 300 ms first-byte timeout was not applied";
  auto recs = restRecords(mount + "/models");
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["status"], 504);
  EXPECT_EQ(recs[0]["error"]["code"], "upstream_timeout");
  EXPECT_EQ(recs[0]["attempts"][0]["outcome"], "timeout");
  EXPECT_NE(recs[0]["response_flags"].dump().find("UT"), std::string::npos);
  EXPECT_EQ(recs[0]["api"], "slow@v1");
}

TEST_F(RestServiceTest, NothingHealthyAnswers503AtOnceWithRetryAfter) {
  start();
  World w = world(/*publish=*/false);
  MockOpenAiUpstream a, b;
  const std::string mount =
      restApi(w, "gone", {{"base_urls", {a.baseUrl(), b.baseUrl()}}, {"retry", {{"attempts", 2}}}});
  a.setDown(true);
  b.setDown(true);
  // Each call fails on both targets; three in a row eject both.
  HttpResult first;
  for (int i = 0; i < 3; ++i) {
    HttpResult r = send(w, "GET", mount + "/models");
    EXPECT_EQ(r.status, 502) << r.body;
    EXPECT_EQ(json::parse(r.body)["error"]["code"], "upstream_unreachable");
    if (i == 0) {
      first = r;
    }
  }
  const auto start = Clock::now();
  HttpResult r = send(w, "GET", mount + "/models");
  EXPECT_LT(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count(),
            1000);
  EXPECT_EQ(r.status, 503);
  json e = json::parse(r.body, nullptr, false);
  EXPECT_EQ(e["error"]["type"], "no_healthy_upstream");
  EXPECT_EQ(e["error"]["code"], "no_healthy_upstream");
  ASSERT_TRUE(r.headers.count("retry-after"));
  EXPECT_GE(std::stoi(r.headers["retry-after"]), 1);
  auto recs = restRecords(mount + "/models");
  ASSERT_EQ(recs.size(), 4u);
  // The immediate 503 may overtake the last 502's record: each is found by its request id.
  const json tried = recordFor(recs, first);
  const json refused = recordFor(recs, r);
  EXPECT_EQ(tried["attempts"].size(), 2u);
  EXPECT_NE(tried["response_flags"].dump().find("URX"), std::string::npos);
  EXPECT_EQ(refused["status"], 503);
  EXPECT_FALSE(refused.contains("attempts"));
  EXPECT_NE(refused["response_flags"].dump().find("UH"), std::string::npos);
}

TEST_F(RestServiceTest, ServicesTakeTargetsTimeoutsAndRetriesWithClearErrors) {
  start();
  World w = world(/*publish=*/false);
  auto create = [&](int status, json body) {
    body["kind"] = "rest";
    if (!body.contains("name")) {
      body["name"] = "svc";
    }
    return expect(status, "POST", "/admin/v1/services", body, w.a_admin);
  };
  json svc = create(201, {{"base_urls", {"http://a.example", "https://b.example/api"}},
                          {"timeouts", {{"connect_ms", 1000}, {"first_byte_ms", 5000}}},
                          {"retry", {{"attempts", 2}, {"backoff_base_ms", 10}}}});
  EXPECT_EQ(svc["base_url"], "http://a.example");
  EXPECT_EQ(svc["base_urls"], json({"http://a.example", "https://b.example/api"}));
  EXPECT_EQ(svc["timeouts"]["first_byte_ms"], 5000);
  EXPECT_EQ(svc["retry"]["attempts"], 2);
  const std::string id = svc["id"];
  json read = expect(200, "GET", "/admin/v1/services/" + id, nullptr, w.a_admin);
  EXPECT_EQ(read["base_urls"], svc["base_urls"]);
  EXPECT_EQ(read["timeouts"], svc["timeouts"]);
  // One base_url replaces the pool; settings not given are kept.
  json patched = expect(200, "PATCH", "/admin/v1/services/" + id,
                        {{"base_url", "http://c.example"}}, w.a_admin);
  EXPECT_EQ(patched["base_urls"], json({"http://c.example"}));
  EXPECT_EQ(patched["retry"]["attempts"], 2);

  struct Bad {
    json body;
    const char* says;
  };
  for (const Bad& bad : {
           Bad{{{"base_url", "http://x"}, {"base_urls", {"http://y"}}}, "not both"},
           Bad{{{"base_urls", json::array()}}, "base_urls"},
           Bad{{{"base_urls", {"http://x", "ftp://y"}}}, "ftp://y"},
           Bad{{{"base_urls", {"http://x", "http://x"}}}, "twice"},
           Bad{{{"base_url", "http://x"}, {"timeouts", {{"first_byte", 5}}}}, "first_byte"},
           Bad{{{"base_url", "http://x"}, {"timeouts", {{"idle_ms", -1}}}}, "timeouts.idle_ms"},
           Bad{{{"base_url", "http://x"}, {"timeouts", "fast"}}, "timeouts"},
           Bad{{{"base_url", "http://x"}, {"retry", {{"attempts", 0}}}}, "retry.attempts"},
           Bad{{{"base_url", "http://x"}, {"retry", {{"attempts", "3"}}}}, "retry.attempts"},
       }) {
    json e = create(400, bad.body);
    EXPECT_EQ(e["error"]["type"], "invalid_request_error") << bad.body;
    EXPECT_NE(e["error"]["message"].get<std::string>().find(bad.says), std::string::npos)
        << bad.body << " → " << e;
  }
}

TEST_F(RestServiceTest, ConcurrentApproveAndRejectHaveExactlyOneWinner) {
  start();
  World w = world(/*publish=*/true, /*approval=*/true);
  // Several admins' approvals and rejections of one pending subscription at once.
  constexpr int kPerSide = 4;
  for (int round = 0; round < 8; ++round) {
    const std::string app = expect(201, "POST", "/admin/v1/apps",
                                   {{"name", "racer-" + std::to_string(round)}}, w.b_member)["id"];
    const std::string sub = expect(201, "POST", "/admin/v1/subscriptions",
                                   {{"app_id", app}, {"api_id", w.api}}, w.b_member)["id"];
    std::atomic<bool> go{false};
    std::vector<int> statuses(2 * kPerSide, 0);
    std::vector<std::thread> deciders;
    for (int i = 0; i < 2 * kPerSide; ++i) {
      deciders.emplace_back([&, i] {
        while (!go.load()) {
          std::this_thread::yield();
        }
        const char* action = i % 2 == 0 ? "approve" : "reject";
        statuses[i] =
            call("POST", "/admin/v1/subscriptions/" + sub + "/" + action, nullptr, w.a_admin)
                .status;
      });
    }
    go = true;
    for (auto& t : deciders) {
      t.join();
    }
    int winner = -1;
    for (int i = 0; i < 2 * kPerSide; ++i) {
      if (statuses[i] == 200) {
        EXPECT_EQ(winner, -1) << "round " << round << ": two decisions won";
        winner = i;
      } else {
        EXPECT_EQ(statuses[i], 409) << "round " << round;
      }
    }
    ASSERT_NE(winner, -1) << "round " << round << ": nobody won";
    json final = expect(200, "GET", "/admin/v1/subscriptions/" + sub, nullptr, w.a_admin);
    EXPECT_EQ(final["state"], winner % 2 == 0 ? "approved" : "rejected");
    // Exactly one decision is in the audit log.
    int decisions = 0;
    const json audit = expect(200, "GET", "/admin/v1/audit?limit=100", nullptr, w.a_admin);
    for (const auto& e : audit["data"]) {
      if (e["object_id"] == sub &&
          (e["action"] == "subscription.approve" || e["action"] == "subscription.reject")) {
        ++decisions;
      }
    }
    EXPECT_EQ(decisions, 1) << "round " << round;
  }
}

}  // namespace
}  // namespace switchyard::testing
