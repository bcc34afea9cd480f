#include "switchyard/upstream/target_pool.h"

#include <gtest/gtest.h>

#include <map>

namespace switchyard {
namespace {

using std::chrono::milliseconds;

ModelRoute route(std::vector<RouteTarget> targets) {
  ModelRoute r;
  r.name = "m";
  r.targets = std::move(targets);
  r.outlier.consecutive_failures = 2;
  r.outlier.base_ejection = milliseconds(1000);
  r.outlier.max_ejection = milliseconds(5000);
  return r;
}

TEST(TargetPool, WeightedRoundRobinIsProportionalAndSmooth) {
  HealthRegistry registry;
  TargetPool pool(route({{"a", "m", 3}, {"b", "m", 1}}), registry);
  const auto now = SteadyClock::now();
  std::map<size_t, int> picks;
  std::string order;
  for (int i = 0; i < 8; ++i) {
    auto p = pool.pick({}, now);
    ASSERT_TRUE(p);
    picks[p->index]++;
    order += pool.target(p->index).provider;
  }
  EXPECT_EQ(picks[0], 6);
  EXPECT_EQ(picks[1], 2);
  EXPECT_EQ(order, "aabaaaba"); // interleaved, not "aaaaaabb"
}

TEST(TargetPool, TriedTargetsAreSkipped) {
  HealthRegistry registry;
  TargetPool pool(route({{"a", "m", 1}, {"b", "m", 1}}), registry);
  const auto now = SteadyClock::now();
  auto first = pool.pick({}, now);
  auto second = pool.pick({first->index}, now);
  ASSERT_TRUE(second);
  EXPECT_NE(first->index, second->index);
  EXPECT_FALSE(pool.pick({0, 1}, now));
}

TEST(TargetPool, ConsecutiveFailuresEjectWithGrowingTime) {
  HealthRegistry registry;
  TargetPool pool(route({{"a", "m", 1}, {"b", "m", 1}}), registry);
  auto now = SteadyClock::now();
  pool.report(0, AttemptOutcome::kServerError, std::nullopt, now);
  EXPECT_TRUE(pool.health(0).available(now)); // one failure is not enough
  pool.report(0, AttemptOutcome::kConnectFailure, std::nullopt, now);
  EXPECT_FALSE(pool.health(0).available(now));
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(pool.pick({}, now)->index, 1u); // traffic goes to the other target
  }
  EXPECT_EQ(pool.soonestRecovery(now), now + milliseconds(1000));
  now += milliseconds(1001);
  EXPECT_TRUE(pool.health(0).available(now)); // back after base ejection time
  pool.report(0, AttemptOutcome::kTimeout, std::nullopt, now);
  pool.report(0, AttemptOutcome::kTimeout, std::nullopt, now);
  EXPECT_EQ(pool.health(0).view(now).ejections, 2u);
  EXPECT_EQ(pool.soonestRecovery(now), now + milliseconds(2000)); // base x ejections
}

TEST(TargetPool, RateLimitCoolsDownWithoutCountingAsFailure) {
  HealthRegistry registry;
  TargetPool pool(route({{"a", "m", 1}}), registry);
  const auto now = SteadyClock::now();
  pool.report(0, AttemptOutcome::kRateLimited, milliseconds(1500), now);
  auto v = pool.health(0).view(now);
  EXPECT_TRUE(v.cooling);
  EXPECT_FALSE(v.ejected);
  EXPECT_EQ(v.consecutive_failures, 0u);
  EXPECT_FALSE(pool.pick({}, now));
  EXPECT_TRUE(pool.pick({}, now + milliseconds(1501)));
}

TEST(TargetPool, EjectionNeverExceedsTheAllowedShare) {
  HealthRegistry registry;
  ModelRoute r = route({{"a", "m", 1}, {"b", "m", 1}});
  r.outlier.max_ejection_percent = 50;
  TargetPool pool(r, registry);
  const auto now = SteadyClock::now();
  for (int i = 0; i < 2; ++i) {
    pool.report(0, AttemptOutcome::kServerError, std::nullopt, now);
    pool.report(1, AttemptOutcome::kServerError, std::nullopt, now);
  }
  EXPECT_FALSE(pool.health(0).available(now));
  EXPECT_TRUE(pool.health(1).available(now)); // ejecting it too would leave nothing
}

TEST(TargetPool, PanicThresholdUsesEveryTarget) {
  HealthRegistry registry;
  ModelRoute r = route({{"a", "m", 1}});
  r.panic_threshold_percent = 50;
  TargetPool pool(r, registry);
  const auto now = SteadyClock::now();
  pool.report(0, AttemptOutcome::kServerError, std::nullopt, now);
  pool.report(0, AttemptOutcome::kServerError, std::nullopt, now);
  auto p = pool.pick({}, now);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->panic);
}

TEST(TargetPool, HealthOutlivesThePoolThroughTheRegistry) {
  HealthRegistry registry;
  const auto now = SteadyClock::now();
  {
    TargetPool pool(route({{"a", "m", 1}}), registry);
    pool.report(0, AttemptOutcome::kServerError, std::nullopt, now);
    pool.report(0, AttemptOutcome::kServerError, std::nullopt, now);
  }
  TargetPool reloaded(route({{"a", "m", 1}}), registry); // as after a config reload
  EXPECT_FALSE(reloaded.pick({}, now));
}

} // namespace
} // namespace switchyard

namespace switchyard {
namespace {

TEST(TargetPool, LeastRequestPrefersTheLessLoadedTarget) {
  HealthRegistry registry;
  ModelRoute r = route({{"a", "m", 1}, {"b", "m", 1}});
  r.strategy = BalanceStrategy::kLeastRequest;
  TargetPool pool(r, registry);
  TargetHealth::InFlight busy1(pool.health(0));
  TargetHealth::InFlight busy2(pool.health(0));
  const auto now = SteadyClock::now();
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(pool.pick({}, now)->index, 1u);
  }
}

TEST(TargetPool, AFullTargetIsSkippedAndOverflowIsToldApart) {
  HealthRegistry registry;
  ModelRoute r = route({{"a", "m", 1}, {"b", "m", 1}});
  r.max_requests_per_target = 1;
  TargetPool pool(r, registry);
  const auto now = SteadyClock::now();
  TargetHealth::InFlight a(pool.health(0));
  EXPECT_EQ(pool.pick({}, now)->index, 1u);
  TargetHealth::InFlight b(pool.health(1));
  TargetPool::Empty why = TargetPool::Empty::kExhausted;
  EXPECT_FALSE(pool.pick({}, now, &why));
  EXPECT_EQ(why, TargetPool::Empty::kOverflow);
}

TEST(TargetPool, RetryBudgetIsAShareOfActiveRequests) {
  HealthRegistry registry;
  ModelRoute r = route({{"a", "m", 1}});
  r.retry.budget_percent = 50;
  r.retry.min_retry_concurrency = 1;
  TargetPool pool(r, registry);
  std::vector<std::unique_ptr<TargetPool::ActiveRequest>> active;
  for (int i = 0; i < 4; ++i) {
    active.push_back(std::make_unique<TargetPool::ActiveRequest>(pool));
  }
  EXPECT_TRUE(pool.tryBeginRetry());
  EXPECT_TRUE(pool.tryBeginRetry());
  EXPECT_FALSE(pool.tryBeginRetry()); // 50% of 4 active requests
  pool.endRetry();
  EXPECT_TRUE(pool.tryBeginRetry());
  active.clear();
  pool.endRetry();
  pool.endRetry();
  EXPECT_TRUE(pool.tryBeginRetry()); // the floor: min_retry_concurrency
  EXPECT_FALSE(pool.tryBeginRetry());
}

} // namespace
} // namespace switchyard

namespace switchyard {
namespace {

TEST(TargetPool, LatencyStrategyPrefersTheFasterTarget) {
  HealthRegistry registry;
  ModelRoute r = route({{"slow", "m", 1}, {"fast", "m", 1}});
  r.strategy = BalanceStrategy::kLatency;
  TargetPool pool(r, registry);
  const auto now = SteadyClock::now();
  for (int i = 0; i < 5; ++i) {
    pool.report(0, AttemptOutcome::kSuccess, std::nullopt, now, 400.0);
    pool.report(1, AttemptOutcome::kSuccess, std::nullopt, now, 40.0);
  }
  EXPECT_NEAR(pool.health(1).ewmaTtfbMs(), 40.0, 0.01);
  int fast = 0;
  for (int i = 0; i < 50; ++i) {
    fast += pool.pick({}, now)->index == 1 ? 1 : 0;
  }
  EXPECT_EQ(fast, 50); // two candidates: the faster always wins the comparison
}

} // namespace
} // namespace switchyard
