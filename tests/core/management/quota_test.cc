// The quota ledger on its own: windows, reservations and refunds, budgets and their periods,
// shadow mode, two scopes at once, concurrency, and spend kept in the store.
#include "switchyard/management/quota.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <thread>

namespace switchyard {
namespace {

namespace fs = std::filesystem;

// 2026-11-26T12:00:00Z; tests move it forward.
std::atomic<int64_t> g_now_ms{1795694400000};
int64_t testClock() {
  return g_now_ms.load();
}

Quota appQuota(int64_t rpm, int64_t tpm, int64_t budget_micros = 0,
               std::vector<std::string> shadow = {}) {
  Quota q;
  q.scope = "app";
  q.owner_id = "app_1";
  q.tenant_id = "ten_b";
  q.rpm = rpm;
  q.tpm = tpm;
  q.budget_micros = budget_micros;
  q.shadow = std::move(shadow);
  return q;
}

std::string header(const QuotaDecision& d, const std::string& name) {
  for (const auto& [n, v] : d.headers) {
    if (n == name) {
      return v;
    }
  }
  return "";
}

QuotaDemand tokens(int64_t t, int64_t micros = 0) {
  return QuotaDemand{true, t, micros};
}

class QuotaLedgerTest : public ::testing::Test {
 protected:
  void SetUp() override { g_now_ms = 1795694400000; }
  QuotaLedger ledger_{testClock};
};

TEST_F(QuotaLedgerTest, RequestsPerMinuteRefuseTheNextCallUntilTheOldestLeavesTheWindow) {
  ledger_.setQuotas({appQuota(3, 0)});
  for (int i = 0; i < 3; ++i) {
    QuotaReservation r;
    QuotaDecision d = ledger_.admit("app_1", "sub_1", QuotaDemand{}, &r);
    ASSERT_FALSE(d.refusal) << i;
    EXPECT_EQ(header(d, "x-ratelimit-limit-requests"), "3");
    EXPECT_EQ(header(d, "x-ratelimit-remaining-requests"), std::to_string(2 - i));
    g_now_ms += 10000;  // calls at 0 s, 10 s and 20 s
  }
  QuotaReservation r;
  QuotaDecision d = ledger_.admit("app_1", "sub_1", QuotaDemand{}, &r);  // at 30 s
  ASSERT_TRUE(d.refusal);
  EXPECT_EQ(d.refusal->status, 429);
  EXPECT_EQ(d.refusal->code, "rpm_exceeded");
  EXPECT_EQ(d.refusal->type, "rate_limit_error");
  EXPECT_EQ(header(d, "Retry-After"), "30");  // the call at 0 s leaves the window at 60 s
  EXPECT_EQ(header(d, "x-switchyard-quota-scope"), "app");
  EXPECT_EQ(header(d, "x-ratelimit-remaining-requests"), "0");
  g_now_ms += 30000;
  EXPECT_FALSE(ledger_.admit("app_1", "sub_1", QuotaDemand{}, &r).refusal);
}

TEST_F(QuotaLedgerTest, SettlingRefundsTheReservationDownToRealUsage) {
  ledger_.setQuotas({appQuota(0, 100)});
  QuotaReservation first;
  QuotaDecision d = ledger_.admit("app_1", "", tokens(60), &first);
  ASSERT_FALSE(d.refusal);
  EXPECT_EQ(header(d, "x-ratelimit-remaining-tokens"), "40");
  QuotaReservation second;
  d = ledger_.admit("app_1", "", tokens(60), &second);
  ASSERT_TRUE(d.refusal);
  EXPECT_EQ(d.refusal->code, "tpm_exceeded");
  first.settle(18, 0);
  d = ledger_.admit("app_1", "", tokens(60), &second);
  ASSERT_FALSE(d.refusal);
  EXPECT_EQ(header(d, "x-ratelimit-remaining-tokens"), "22");  // 100 − 18 − 60
  EXPECT_EQ(ledger_.usage("app", "app_1")->tokens, 78);
}

TEST_F(QuotaLedgerTest, AnUnsettledReservationIsGivenBackWhole) {
  ledger_.setQuotas({appQuota(0, 100, 1000)});
  {
    QuotaReservation r;
    ASSERT_FALSE(ledger_.admit("app_1", "", tokens(90, 900), &r).refusal);
    EXPECT_EQ(ledger_.usage("app", "app_1")->reserved_micros, 900);
  }  // an upstream error with no usage: never settled
  const QuotaUsage u = *ledger_.usage("app", "app_1");
  EXPECT_EQ(u.tokens, 0);
  EXPECT_EQ(u.reserved_micros, 0);
  EXPECT_EQ(u.spent_micros, 0);
}

TEST_F(QuotaLedgerTest, ACallLargerThanTheWholeLimitIsRefusedWithoutRetryAfter) {
  ledger_.setQuotas({appQuota(0, 100)});
  QuotaReservation r;
  QuotaDecision d = ledger_.admit("app_1", "", tokens(101), &r);
  ASSERT_TRUE(d.refusal);
  EXPECT_EQ(d.refusal->code, "tpm_exceeded");
  EXPECT_NE(d.refusal->message.find("lower max_tokens"), std::string::npos);
  EXPECT_EQ(header(d, "Retry-After"), "");
}

TEST_F(QuotaLedgerTest, AnExhaustedBudgetRefusesUntilThePeriodEnds) {
  Quota q = appQuota(0, 0, 1000);
  q.budget_period = "day";
  ledger_.setQuotas({q});
  QuotaReservation first;
  ASSERT_FALSE(ledger_.admit("app_1", "", tokens(10, 600), &first).refusal);
  QuotaReservation second;
  QuotaDecision d = ledger_.admit("app_1", "", tokens(10, 600), &second);
  ASSERT_TRUE(d.refusal);  // 600 reserved + 600 > 1000: in-flight calls count
  EXPECT_EQ(d.refusal->code, "budget_exhausted");
  EXPECT_EQ(d.refusal->type, "insufficient_quota");
  EXPECT_EQ(header(d, "Retry-After"), std::to_string(12 * 3600));  // noon → midnight UTC
  first.settle(10, 300);
  ASSERT_FALSE(ledger_.admit("app_1", "", tokens(10, 600), &second).refusal);
  second.settle(10, 650);
  d = ledger_.admit("app_1", "", tokens(1, 100), &first);
  ASSERT_TRUE(d.refusal);  // 950 spent
  EXPECT_EQ(header(d, "x-switchyard-budget-remaining-usd"), "0.000050");
  g_now_ms += int64_t{12} * 3600 * 1000;  // the next day
  EXPECT_FALSE(ledger_.admit("app_1", "", tokens(1, 100), &first).refusal);
}

TEST_F(QuotaLedgerTest, ShadowLimitsNeverRefuseButReportTheBreach) {
  ledger_.setQuotas({appQuota(1, 10, 0, {"rpm", "tpm"})});
  for (int i = 0; i < 3; ++i) {
    QuotaReservation r;
    QuotaDecision d = ledger_.admit("app_1", "", tokens(20), &r);
    EXPECT_FALSE(d.refusal);
    if (i == 0) {
      ASSERT_EQ(d.shadow_breaches.size(), 1u);  // 20 tokens > 10 at once; one request is fine
      EXPECT_EQ(d.shadow_breaches[0], "tpm_exceeded (app)");
    } else {
      EXPECT_EQ(d.shadow_breaches,
                (std::vector<std::string>{"rpm_exceeded (app)", "tpm_exceeded (app)"}));
    }
  }
  EXPECT_EQ(ledger_.usage("app", "app_1")->requests, 3);  // counted all the same
}

TEST_F(QuotaLedgerTest, TheAppAndTheSubscriptionQuotaBothApplyAndTheTighterWins) {
  Quota sub = appQuota(2, 0);
  sub.scope = "subscription";
  sub.owner_id = "sub_1";
  ledger_.setQuotas({appQuota(5, 0), sub});
  QuotaReservation r;
  for (int i = 0; i < 2; ++i) {
    QuotaDecision d = ledger_.admit("app_1", "sub_1", QuotaDemand{}, &r);
    ASSERT_FALSE(d.refusal);
    EXPECT_EQ(header(d, "x-ratelimit-limit-requests"), "2");  // the tighter speaks
  }
  QuotaDecision d = ledger_.admit("app_1", "sub_1", QuotaDemand{}, &r);
  ASSERT_TRUE(d.refusal);
  EXPECT_EQ(header(d, "x-switchyard-quota-scope"), "subscription");
  // A refused call reserves nothing anywhere: the app's window still holds two.
  EXPECT_EQ(ledger_.usage("app", "app_1")->requests, 2);
  // Another subscription of the same app is held only by the app's five.
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(ledger_.admit("app_1", "sub_2", QuotaDemand{}, &r).refusal) << i;
  }
  d = ledger_.admit("app_1", "sub_2", QuotaDemand{}, &r);
  ASSERT_TRUE(d.refusal);
  EXPECT_EQ(header(d, "x-switchyard-quota-scope"), "app");
}

TEST_F(QuotaLedgerTest, ConcurrentCallsNeverReserveMoreThanTheLimit) {
  Quota sub = appQuota(0, 250);
  sub.scope = "subscription";
  sub.owner_id = "sub_1";
  ledger_.setQuotas({appQuota(0, 1000), sub});
  std::atomic<int> admitted{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 50; ++i) {
    threads.emplace_back([&] {
      QuotaReservation r;
      if (!ledger_.admit("app_1", "sub_1", tokens(20), &r).refusal) {
        ++admitted;
        r.settle(20, 0);
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(admitted.load(), 12);  // 12 × 20 ≤ 250 < 13 × 20
  EXPECT_EQ(ledger_.usage("subscription", "sub_1")->tokens, 240);
  EXPECT_EQ(ledger_.usage("app", "app_1")->tokens, 240);
}

TEST_F(QuotaLedgerTest, ChangedLimitsKeepTheCountersAndRemovedOnesStopApplying) {
  ledger_.setQuotas({appQuota(2, 0)});
  QuotaReservation r;
  ASSERT_FALSE(ledger_.admit("app_1", "", QuotaDemand{}, &r).refusal);
  ASSERT_FALSE(ledger_.admit("app_1", "", QuotaDemand{}, &r).refusal);
  ledger_.setQuotas({appQuota(3, 0)});
  ASSERT_FALSE(ledger_.admit("app_1", "", QuotaDemand{}, &r).refusal);
  ASSERT_TRUE(ledger_.admit("app_1", "", QuotaDemand{}, &r).refusal);
  ledger_.setQuotas({});
  EXPECT_FALSE(ledger_.applies("app_1", ""));
  QuotaDecision d = ledger_.admit("app_1", "", QuotaDemand{}, &r);
  EXPECT_FALSE(d.refusal);
  EXPECT_TRUE(d.headers.empty());
}

TEST(QuotaPeriod, DaysAndMonthsAreUtcAndDecemberEndsInJanuary) {
  EXPECT_EQ(QuotaLedger::periodOf("day", 1795694400),
            (std::pair<int64_t, int64_t>{1795651200, 1795737600}));
  // 2026-12-15T00:00:00Z → [2026-12-01, 2027-01-01)
  EXPECT_EQ(QuotaLedger::periodOf("month", 1797292800),
            (std::pair<int64_t, int64_t>{1796083200, 1798761600}));
}

class QuotaSpendTest : public QuotaLedgerTest {
 protected:
  void SetUp() override {
    QuotaLedgerTest::SetUp();
    char tmpl[] = "/tmp/sy-quota-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    store_ = openStore("sqlite", (dir_ / "switchyard.db").string());
  }
  void TearDown() override {
    store_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
  StorePtr store_;
};

TEST_F(QuotaSpendTest, SpendSurvivesARestartAndIsSharedByNodesOnOneStore) {
  const Quota q = appQuota(0, 0, 1000);
  {
    QuotaLedger node(testClock);
    node.setQuotas({q});
    node.flush(*store_);
    QuotaReservation r;
    ASSERT_FALSE(node.admit("app_1", "", tokens(1, 500), &r).refusal);
    r.settle(1, 700);
    node.flush(*store_);
  }
  QuotaLedger restarted(testClock);
  restarted.setQuotas({q});
  restarted.flush(*store_);  // what the gateway does at start
  EXPECT_EQ(restarted.usage("app", "app_1")->spent_micros, 700);
  QuotaReservation r;
  EXPECT_TRUE(restarted.admit("app_1", "", tokens(1, 400), &r).refusal);

  // A second node on the same store sees the first one's spend after a flush.
  QuotaLedger other(testClock);
  other.setQuotas({q});
  other.flush(*store_);
  ASSERT_FALSE(other.admit("app_1", "", tokens(1, 200), &r).refusal);
  r.settle(1, 200);
  other.flush(*store_);
  restarted.flush(*store_);
  EXPECT_EQ(restarted.usage("app", "app_1")->spent_micros, 900);
  // Spend of an earlier month is not this month's.
  g_now_ms += int64_t{40} * 86400 * 1000;
  restarted.flush(*store_);
  EXPECT_EQ(restarted.usage("app", "app_1")->spent_micros, 0);
}

}  // namespace
}  // namespace switchyard
