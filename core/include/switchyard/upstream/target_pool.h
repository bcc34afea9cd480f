/// @file switchyard/upstream/target_pool.h
/// @brief Chooses the upstream target of each attempt and keeps every target's health.
#pragma once

#include <chrono>
#include <cstdint>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "switchyard/config/config.h"

namespace switchyard {

using SteadyClock = std::chrono::steady_clock;

/// How an attempt on a target ended, as far as the target's health is concerned.
enum class AttemptOutcome {
  kSuccess,
  kConnectFailure, ///< the request never reached the upstream
  kTimeout,
  kReset,
  kServerError,  ///< a 5xx answer
  kRateLimited,  ///< a 429: the target (its key) cools down; not a failure of the provider
  kClientError,  ///< a 4xx other than 429: the request's fault, not the target's
};
const char* outcomeName(AttemptOutcome outcome);

/**
 * Health of one target (provider instance + upstream model). Shared by every runtime, so a
 * config reload does not forget that a target is down. Thread-safe.
 */
class TargetHealth {
public:
  struct View {
    bool ejected = false;
    bool cooling = false; ///< rate-limited until available_at
    SteadyClock::time_point available_at{};
    SteadyClock::time_point ejected_until{};
    SteadyClock::time_point cooling_until{};
    uint32_t consecutive_failures = 0;
    uint32_t ejections = 0;
    uint64_t successes = 0;
    uint64_t failures = 0;
    uint64_t rate_limited = 0;
    int in_flight = 0;
    double ewma_ttfb_ms = 0; ///< 0 until the first successful answer
  };

  View view(SteadyClock::time_point now) const;
  /// Ends an ejection early (an active health check saw the target's provider recover).
  void clearEjection();
  int inFlight() const { return in_flight_.load(std::memory_order_relaxed); }
  /// Counts a request in flight on this target until the returned guard ends.
  struct InFlight {
    explicit InFlight(TargetHealth& h) : health(&h) { h.in_flight_.fetch_add(1, std::memory_order_relaxed); }
    InFlight(const InFlight&) = delete;
    InFlight& operator=(const InFlight&) = delete;
    ~InFlight() { health->in_flight_.fetch_sub(1, std::memory_order_relaxed); }
    TargetHealth* health;
  };
  bool available(SteadyClock::time_point now) const;
  /// @param ttfb_ms time to the response head, folded into the EWMA on success.
  /// @return true when this report ejected the target.
  bool report(AttemptOutcome outcome, std::optional<std::chrono::milliseconds> retry_after,
              const OutlierPolicy& policy, bool may_eject, SteadyClock::time_point now,
              std::optional<double> ttfb_ms = std::nullopt);
  double ewmaTtfbMs() const;

private:
  mutable std::mutex mutex_;
  uint32_t consecutive_failures_ = 0;
  uint32_t ejections_ = 0;
  SteadyClock::time_point ejected_until_{};
  SteadyClock::time_point cooling_until_{};
  uint64_t successes_ = 0;
  uint64_t failures_ = 0;
  uint64_t rate_limited_ = 0;
  double ewma_ttfb_ms_ = 0;
  std::atomic<int> in_flight_{0};
};
using TargetHealthSharedPtr = std::shared_ptr<TargetHealth>;

/// What active health checks last concluded about a provider instance (healthy until told).
class ProbeHealth {
public:
  bool healthy() const { return healthy_.load(std::memory_order_relaxed); }
  void set(bool healthy) { healthy_.store(healthy, std::memory_order_relaxed); }

private:
  std::atomic<bool> healthy_{true};
};
using ProbeHealthSharedPtr = std::shared_ptr<ProbeHealth>;

/// The health of every target the gateway has routed to, by "provider/upstream_model", and
/// of every provider instance it probes.
class HealthRegistry {
public:
  TargetHealthSharedPtr get(const std::string& key);
  ProbeHealthSharedPtr probe(const std::string& provider);
  /// Ends the ejections of every target of this provider.
  void clearEjections(const std::string& provider);
  std::vector<std::pair<std::string, TargetHealth::View>> views(SteadyClock::time_point now) const;
  std::vector<std::pair<std::string, bool>> probes() const;

private:
  mutable std::mutex mutex_;
  std::map<std::string, TargetHealthSharedPtr> targets_;
  std::map<std::string, ProbeHealthSharedPtr> probes_;
};

/// The targets of one route with smooth weighted round robin over the available ones.
class TargetPool {
public:
  TargetPool(const ModelRoute& route, HealthRegistry& registry);

  struct Pick {
    size_t index = 0;
    bool panic = false; ///< chosen while below the panic threshold, health ignored
  };
  /// Why pick() found nothing.
  enum class Empty { kExhausted, kUnhealthy, kOverflow };
  /// The target of the next attempt, skipping those already `tried`, ejected, cooling down or
  /// at their circuit breaker's limit.
  std::optional<Pick> pick(const std::vector<size_t>& tried, SteadyClock::time_point now, Empty* why = nullptr);

  /// Counts an active request on the route while it lives (the retry budget's base).
  struct ActiveRequest {
    explicit ActiveRequest(TargetPool& p) : pool(&p) { p.active_requests_.fetch_add(1); }
    ActiveRequest(const ActiveRequest&) = delete;
    ActiveRequest& operator=(const ActiveRequest&) = delete;
    ~ActiveRequest() { pool->active_requests_.fetch_sub(1); }
    TargetPool* pool;
  };
  /// Takes a retry from the budget; false when retries in flight are at the budget.
  bool tryBeginRetry();
  void endRetry() { active_retries_.fetch_sub(1); }
  /// When the first unavailable target is expected back (for Retry-After).
  SteadyClock::time_point soonestRecovery(SteadyClock::time_point now) const;
  void report(size_t index, AttemptOutcome outcome, std::optional<std::chrono::milliseconds> retry_after,
              SteadyClock::time_point now, std::optional<double> ttfb_ms = std::nullopt);

  size_t size() const { return targets_.size(); }
  uint32_t maxRequestsPerTarget() const { return max_requests_per_target_; }
  uint32_t panicThresholdPercent() const { return panic_threshold_percent_; }
  BalanceStrategy strategy() const { return strategy_; }
  /// What active health checks say about the target's provider (true when not probed).
  bool probeHealthy(size_t index) const { return probes_[index]->healthy(); }
  const RouteTarget& target(size_t index) const { return targets_[index]; }
  const TargetHealth& health(size_t index) const { return *health_[index]; }
  TargetHealth& health(size_t index) { return *health_[index]; }
  static std::string key(const RouteTarget& target) { return target.provider + "/" + target.upstream_model; }

private:
  std::vector<RouteTarget> targets_;
  std::vector<TargetHealthSharedPtr> health_;
  std::vector<ProbeHealthSharedPtr> probes_;
  OutlierPolicy outlier_;
  RetryPolicy retry_;
  BalanceStrategy strategy_;
  uint32_t max_requests_per_target_;
  uint32_t panic_threshold_percent_;
  std::atomic<int> active_requests_{0};
  std::atomic<int> active_retries_{0};
  std::mutex mutex_;
  std::vector<int64_t> current_weight_;
};
using TargetPoolSharedPtr = std::shared_ptr<TargetPool>;

/// Sleeps before the `retry`-th retry of a call (1 = the first): fully jittered exponential
/// backoff, uniform in [0, min(backoff_max, backoff_base * 2^(retry-1))].
void backoffBeforeRetry(const RetryPolicy& policy, uint32_t retry);

} // namespace switchyard
