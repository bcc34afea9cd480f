// Quotas of managed APIs through a real gateway: RPM, TPM from real usage, budgets that survive a
// restart, shadow mode, app and subscription quotas together, 50 concurrent calls against a small
// TPM limit, refunds on upstream errors, and RPM on REST services. The mock upstream reports
// {prompt 11, completion 7, total 18} for every chat call.
#include <ctime>
#include <fstream>
#include <set>
#include <thread>

#include "management_fixture.h"

namespace switchyard::testing {
namespace {

/// A chat call the gateway reserves 28 tokens for: "hi" (1 token) + one message's framing (4)
/// + the reply's (3) + max_tokens 20. Its real usage is 18.
constexpr int64_t kReserved = 28;
constexpr int64_t kUsed = 18;

class QuotaTest : public ManagementTest {
 protected:
  void SetUp() override {
    ManagementTest::SetUp();
    start();
    w_ = world(true, /*approval=*/false);
    sub_ = expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w_.app}, {"api_id", w_.api}},
                  w_.b_member)["id"];
    app_quota_ = "/admin/v1/apps/" + w_.app + "/quota";
    sub_quota_ = "/admin/v1/subscriptions/" + sub_ + "/quota";
  }

  /// Sets a quota and waits until this node's data plane has it (its GET shows usage).
  json setQuota(const std::string& path, const json& body, const std::string& token) {
    json q = expect(200, "PUT", path, body, token);
    EXPECT_TRUE(within([&] {
      return call("GET", path, nullptr, token).body.find("\"usage\"") != std::string::npos;
    })) << path;
    return q;
  }
  json usage(const std::string& path, const std::string& token) {
    return expect(200, "GET", path, nullptr, token)["usage"];
  }

  HttpResult chat(int max_tokens = 20) {
    return post(w_.mount + "/v1/chat/completions",
                json{{"model", "gpt-test"},
                     {"messages", {{{"role", "user"}, {"content", "hi"}}}},
                     {"max_tokens", max_tokens}}
                    .dump(),
                {{"Authorization", "Bearer " + w_.key}});
  }
  static json error(const HttpResult& r) {
    json j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"] : json();
  }
  json recordOf(const HttpResult& r) {
    for (const json& rec : records()) {
      if (rec.value("request_id", "") == r.headers.at("x-request-id")) {
        return rec;
      }
    }
    ADD_FAILURE() << "no record for " << r.headers.at("x-request-id");
    return json();
  }

  World w_;
  std::string sub_, app_quota_, sub_quota_;
};

TEST_F(QuotaTest, RequestsPerMinuteAreEnforcedWithOpenAiRateLimitHeaders) {
  // Only an admin of the app's tenant sets it; the other tenant does not even see it.
  expect(403, "PUT", app_quota_, {{"rpm", 3}}, w_.b_member);
  expect(404, "PUT", app_quota_, {{"rpm", 3}}, w_.a_admin);
  expect(400, "PUT", app_quota_, {{"requests_per_minute", 3}}, w_.b_admin);
  expect(400, "PUT", app_quota_, json::object(), w_.b_admin);
  json q = setQuota(app_quota_, {{"rpm", 3}}, w_.b_admin);
  EXPECT_EQ(q["rpm"], 3);
  EXPECT_TRUE(q["tpm"].is_null());
  expect(200, "GET", app_quota_, nullptr, w_.b_member);
  expect(404, "GET", app_quota_, nullptr, w_.a_admin);

  for (int i = 0; i < 3; ++i) {
    HttpResult r = chat();
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.headers["x-ratelimit-limit-requests"], "3");
    EXPECT_EQ(r.headers["x-ratelimit-remaining-requests"], std::to_string(2 - i));
    EXPECT_FALSE(r.headers["x-ratelimit-reset-requests"].empty());
    EXPECT_EQ(r.headers.count("x-ratelimit-limit-tokens"), 0u);  // no TPM limit set
  }
  HttpResult refused = chat();
  ASSERT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(error(refused)["code"], "rpm_exceeded");
  EXPECT_EQ(error(refused)["type"], "rate_limit_error");
  EXPECT_EQ(refused.headers["x-switchyard-quota-scope"], "app");
  const int retry_after = std::stoi(refused.headers["retry-after"]);
  EXPECT_GE(retry_after, 1);
  EXPECT_LE(retry_after, 60);
  EXPECT_EQ(refused.headers["x-ratelimit-remaining-requests"], "0");
  EXPECT_EQ(upstream_.requestCount(), 3u);  // the refused call never left the gateway

  json rec = recordOf(refused);
  EXPECT_EQ(rec["status"], 429);
  EXPECT_EQ(rec["error"]["code"], "rpm_exceeded");
  EXPECT_EQ(rec["response_flags"], json({"QL"}));
  EXPECT_EQ(usage(app_quota_, w_.b_admin)["requests_last_minute"], 3);

  json audit = expect(200, "GET", "/admin/v1/audit?limit=5", nullptr, w_.b_admin);
  ASSERT_FALSE(audit["data"].empty());
  EXPECT_EQ(audit["data"][0]["action"], "quota.set");
  EXPECT_EQ(audit["data"][0]["object_id"], w_.app);
  EXPECT_EQ(audit["data"][0]["after"]["rpm"], 3);
}

TEST_F(QuotaTest, TokensPerMinuteCountRealUsageOnceACallEnds) {
  // 50 holds one reservation of 28 beside one call's real 18, not two reservations.
  setQuota(sub_quota_, {{"tpm", 50}}, w_.a_admin);
  HttpResult first = chat();
  ASSERT_EQ(first.status, 200) << first.body;
  EXPECT_EQ(first.headers["x-ratelimit-limit-tokens"], "50");
  EXPECT_EQ(first.headers["x-ratelimit-remaining-tokens"], std::to_string(50 - kReserved));
  HttpResult second = chat();
  ASSERT_EQ(second.status, 200) << second.body;  // fits only because the first was refunded
  EXPECT_EQ(second.headers["x-ratelimit-remaining-tokens"], std::to_string(50 - kUsed - kReserved));
  HttpResult third = chat();
  ASSERT_EQ(third.status, 429) << third.body;
  EXPECT_EQ(error(third)["code"], "tpm_exceeded");
  EXPECT_EQ(third.headers["x-switchyard-quota-scope"], "subscription");
  EXPECT_FALSE(third.headers["retry-after"].empty());
  EXPECT_EQ(usage(sub_quota_, w_.a_admin)["tokens_last_minute"], 2 * kUsed);

  // A call whose worst case is larger than the whole limit can never fit.
  HttpResult huge = chat(1000);
  ASSERT_EQ(huge.status, 429);
  EXPECT_EQ(error(huge)["code"], "tpm_exceeded");
  EXPECT_EQ(huge.headers.count("retry-after"), 0u);
}

TEST_F(QuotaTest, FiftyConcurrentCallsNeverSpendMoreThanTheTokenLimit) {
  constexpr int64_t kLimit = 200;
  setQuota(sub_quota_, {{"tpm", kLimit}}, w_.a_admin);
  upstream_.setChunkDelay(0);
  std::vector<HttpResult> results(50);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < results.size(); ++i) {
    threads.emplace_back([&, i] { results[i] = chat(); });
  }
  for (auto& t : threads) {
    t.join();
  }
  int ok = 0;
  int refused = 0;
  std::set<std::string> ok_ids;
  for (const HttpResult& r : results) {
    if (r.status == 200) {
      ++ok;
      ok_ids.insert(r.headers.at("x-request-id"));
    } else {
      ASSERT_EQ(r.status, 429) << r.body;
      EXPECT_EQ(error(r)["code"], "tpm_exceeded");
      ++refused;
    }
  }
  int64_t spent = 0;
  for (const json& rec : records()) {
    if (ok_ids.count(rec.value("request_id", "")) != 0) {
      spent += rec["usage"]["total_tokens"].get<int64_t>();
    }
  }
  EXPECT_GE(ok, 1);
  EXPECT_GE(refused, 1);
  EXPECT_EQ(spent, ok * kUsed);
  EXPECT_LE(spent, kLimit) << ok << " calls went through";
  EXPECT_EQ(static_cast<int64_t>(upstream_.requestCount()), ok);
}

TEST_F(QuotaTest, TheSubscriptionAndTheAppQuotaBothApplyAndTheTighterWins) {
  setQuota(app_quota_, {{"rpm", 5}}, w_.b_admin);
  // The API's owner decides what this consumer may use; the consumer may only read it.
  expect(403, "PUT", sub_quota_, {{"rpm", 2}}, w_.b_admin);
  setQuota(sub_quota_, {{"rpm", 2}}, w_.a_admin);
  EXPECT_EQ(expect(200, "GET", sub_quota_, nullptr, w_.b_member)["rpm"], 2);

  for (int i = 0; i < 2; ++i) {
    HttpResult r = chat();
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(r.headers["x-ratelimit-limit-requests"], "2");
  }
  HttpResult refused = chat();
  ASSERT_EQ(refused.status, 429);
  EXPECT_EQ(refused.headers["x-switchyard-quota-scope"], "subscription");

  // Cleared: within a second only the app's five (two used) hold.
  expect(200, "DELETE", sub_quota_, nullptr, w_.a_admin);
  expect(404, "GET", sub_quota_, nullptr, w_.a_admin);
  HttpResult r;
  ASSERT_TRUE(within([&] {
    r = chat();
    return r.status == 200;
  }));
  EXPECT_EQ(r.headers["x-ratelimit-limit-requests"], "5");
  ASSERT_EQ(chat().status, 200);
  ASSERT_EQ(chat().status, 200);
  refused = chat();
  ASSERT_EQ(refused.status, 429);
  EXPECT_EQ(refused.headers["x-switchyard-quota-scope"], "app");
}

TEST_F(QuotaTest, ShadowModeNeverRefusesButReportsTheBreach) {
  setQuota(app_quota_, {{"rpm", 1}, {"tpm", 10}, {"shadow", {"rpm"}}}, w_.b_admin);
  // tpm is enforced: the worst case of 28 > 10 refuses whatever the shadow rpm says.
  EXPECT_EQ(chat().status, 429);
  expect(200, "DELETE", app_quota_, nullptr, w_.b_admin);
  setQuota(sub_quota_, {{"rpm", 1}, {"shadow", true}}, w_.a_admin);
  std::vector<HttpResult> calls;
  for (int i = 0; i < 3; ++i) {
    calls.push_back(chat());
    ASSERT_EQ(calls.back().status, 200) << calls.back().body;
  }
  EXPECT_EQ(calls[0].headers.count("x-switchyard-quota-shadow"), 0u);
  for (size_t i : {1, 2}) {
    EXPECT_EQ(calls[i].headers["x-switchyard-quota-shadow"], "rpm_exceeded (subscription)");
    EXPECT_EQ(calls[i].headers["x-ratelimit-remaining-requests"], "0");
    EXPECT_EQ(recordOf(calls[i])["response_flags"], json({"QS"}));
  }
  EXPECT_FALSE(recordOf(calls[0]).contains("response_flags"));
}

TEST_F(QuotaTest, AnUpstreamErrorWithoutUsageRefundsTheWholeReservation) {
  setQuota(sub_quota_, {{"tpm", 50}}, w_.a_admin);
  upstream_.failNext(400, R"({"error":{"message":"bad value","type":"invalid_request_error"}})");
  HttpResult failed = chat();
  ASSERT_EQ(failed.status, 400) << failed.body;
  EXPECT_EQ(usage(sub_quota_, w_.a_admin)["tokens_last_minute"], 0);
  // Had the failed call kept its 28, the second of these would not fit in 50.
  ASSERT_EQ(chat().status, 200);
  ASSERT_EQ(chat().status, 200);
  EXPECT_EQ(usage(sub_quota_, w_.a_admin)["tokens_last_minute"], 2 * kUsed);
}

TEST_F(QuotaTest, RestServicesCountAgainstRequestsPerMinute) {
  json svc =
      expect(201, "POST", "/admin/v1/services",
             {{"name", "rest"}, {"kind", "rest"}, {"base_url", upstream_.baseUrl()}}, w_.a_admin);
  json api = expect(201, "POST", "/admin/v1/apis",
                    {{"name", "models"},
                     {"path", "/apis/models"},
                     {"version", "v1"},
                     {"methods", {"GET"}},
                     {"service_id", svc["id"]},
                     {"approval_required", false}},
                    w_.a_admin);
  expect(200, "POST", "/admin/v1/apis/" + api["id"].get<std::string>() + "/publish", nullptr,
         w_.a_admin);
  const std::string sub = expect(201, "POST", "/admin/v1/subscriptions",
                                 {{"app_id", w_.app}, {"api_id", api["id"]}}, w_.b_admin)["id"];
  setQuota("/admin/v1/subscriptions/" + sub + "/quota", {{"rpm", 1}, {"tpm", 1}}, w_.a_admin);
  auto get = [&] {
    return httpRequest(gateway_->port(), "GET", api["mount"].get<std::string>() + "/models", "",
                       {{"Authorization", "Bearer " + w_.key}});
  };
  HttpResult first;
  ASSERT_TRUE(within([&] {
    first = get();
    return first.status != 404;
  }));
  ASSERT_EQ(first.status, 200) << first.body;  // tokens do not apply to REST calls
  EXPECT_EQ(first.headers["x-ratelimit-remaining-requests"], "0");
  HttpResult second = get();
  ASSERT_EQ(second.status, 429) << second.body;
  EXPECT_EQ(error(second)["code"], "rpm_exceeded");
}

/// Budgets need prices: a catalog prices the mock's model at $1000 / $2000 per million tokens,
/// so one call (11 + 7 tokens) costs $0.025 and reserves (8 × 1000 + 20 × 2000) µ$ = $0.048.
class BudgetTest : public QuotaTest {
 protected:
  void SetUp() override {
    ManagementTest::SetUp();
    std::ofstream(dir_ / "catalog.json")
        << json{{"schema", "switchyard.catalog.v1"},
                {"models",
                 {{{"id", "upstream-gpt"},
                   {"provider", "openai"},
                   {"upstream_model", "upstream-gpt"},
                   {"context_window", 1000},
                   {"max_output_tokens", 500},
                   {"price_per_million", {{"input", 1000}, {"output", 2000}}}}}}};
    json c = managedConfig();
    c["catalog"] = (dir_ / "catalog.json").string();
    config_ = c;
    startGateway(config_);
    w_ = world(true, false);
    sub_ = expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w_.app}, {"api_id", w_.api}},
                  w_.b_member)["id"];
    app_quota_ = "/admin/v1/apps/" + w_.app + "/quota";
    sub_quota_ = "/admin/v1/subscriptions/" + sub_ + "/quota";
  }
  json config_;
};

TEST_F(BudgetTest, AnExhaustedBudgetRefusesUntilThePeriodEndsAndSurvivesARestart) {
  json q = setQuota(app_quota_, {{"budget_usd", 0.1}, {"budget_period", "day"}}, w_.b_admin);
  EXPECT_DOUBLE_EQ(q["budget_usd"].get<double>(), 0.1);
  for (int i = 0; i < 3; ++i) {  // 0.048 reserved each time, 0.025 charged: 3 fit, not 4
    HttpResult r = chat();
    ASSERT_EQ(r.status, 200) << i << " " << r.body;
    EXPECT_EQ(r.headers["x-switchyard-budget-limit-usd"], "0.100000");
  }
  HttpResult refused = chat();
  ASSERT_EQ(refused.status, 429) << refused.body;
  EXPECT_EQ(error(refused)["code"], "budget_exhausted");
  EXPECT_EQ(error(refused)["type"], "insufficient_quota");
  EXPECT_EQ(refused.headers["x-switchyard-budget-remaining-usd"], "0.025000");
  const int64_t now = std::time(nullptr);
  const int64_t midnight = now - now % 86400 + 86400;
  EXPECT_NEAR(std::stoll(refused.headers["retry-after"]), midnight - now, 5);
  EXPECT_NEAR(usage(app_quota_, w_.b_admin)["budget_spent_usd"].get<double>(), 0.075, 1e-9);

  gateway_->shutdown();
  gateway_.reset();
  startGateway(config_);
  EXPECT_NEAR(usage(app_quota_, w_.b_admin)["budget_spent_usd"].get<double>(), 0.075, 1e-9);
  HttpResult after = chat();
  ASSERT_EQ(after.status, 429) << after.body;
  EXPECT_EQ(error(after)["code"], "budget_exhausted");
  // A smaller worst case still fits in what is left: 8 × 1000 + 5 × 2000 µ$ = $0.018.
  EXPECT_EQ(chat(5).status, 200);
}

}  // namespace
}  // namespace switchyard::testing
