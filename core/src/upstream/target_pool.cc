#include "switchyard/upstream/target_pool.h"

#include <algorithm>
#include <random>
#include <thread>

namespace switchyard {

const char* outcomeName(AttemptOutcome outcome) {
  switch (outcome) {
  case AttemptOutcome::kSuccess: return "success";
  case AttemptOutcome::kConnectFailure: return "connect_failure";
  case AttemptOutcome::kTimeout: return "timeout";
  case AttemptOutcome::kReset: return "connection_reset";
  case AttemptOutcome::kServerError: return "server_error";
  case AttemptOutcome::kRateLimited: return "rate_limited";
  case AttemptOutcome::kClientError: return "client_error";
  }
  return "unknown";
}

TargetHealth::View TargetHealth::view(SteadyClock::time_point now) const {
  std::lock_guard lock(mutex_);
  View v;
  v.ejected = ejected_until_ > now;
  v.cooling = cooling_until_ > now;
  v.available_at = std::max(ejected_until_, cooling_until_);
  v.ejected_until = ejected_until_;
  v.cooling_until = cooling_until_;
  v.consecutive_failures = consecutive_failures_;
  v.ejections = ejections_;
  v.successes = successes_;
  v.failures = failures_;
  v.rate_limited = rate_limited_;
  v.in_flight = inFlight();
  v.ewma_ttfb_ms = ewma_ttfb_ms_;
  return v;
}

void TargetHealth::clearEjection() {
  std::lock_guard lock(mutex_);
  ejected_until_ = SteadyClock::time_point{};
  consecutive_failures_ = 0;
}

bool TargetHealth::available(SteadyClock::time_point now) const {
  std::lock_guard lock(mutex_);
  return ejected_until_ <= now && cooling_until_ <= now;
}

double TargetHealth::ewmaTtfbMs() const {
  std::lock_guard lock(mutex_);
  return ewma_ttfb_ms_;
}

bool TargetHealth::report(AttemptOutcome outcome, std::optional<std::chrono::milliseconds> retry_after,
                          const OutlierPolicy& policy, bool may_eject, SteadyClock::time_point now,
                          std::optional<double> ttfb_ms) {
  std::lock_guard lock(mutex_);
  switch (outcome) {
  case AttemptOutcome::kSuccess:
    successes_++;
    if (ttfb_ms) {
      // Weight 0.2: follows a shift within a handful of answers without chasing every outlier.
      ewma_ttfb_ms_ = ewma_ttfb_ms_ == 0 ? *ttfb_ms : 0.8 * ewma_ttfb_ms_ + 0.2 * *ttfb_ms;
    }
    consecutive_failures_ = 0;
    // Healthy again: the next ejection starts from the base time.
    if (ejected_until_ <= now) {
      ejections_ = 0;
    }
    return false;
  case AttemptOutcome::kClientError:
    return false;
  case AttemptOutcome::kRateLimited:
    rate_limited_++;
    cooling_until_ = std::max(cooling_until_, now + retry_after.value_or(std::chrono::milliseconds(1000)));
    return false;
  default:
    break;
  }
  failures_++;
  if (++consecutive_failures_ < policy.consecutive_failures || ejected_until_ > now || !may_eject) {
    return false;
  }
  ejections_++;
  consecutive_failures_ = 0;
  const auto length = std::min(policy.base_ejection * ejections_, policy.max_ejection);
  ejected_until_ = now + length;
  return true;
}

TargetHealthSharedPtr HealthRegistry::get(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto& slot = targets_[key];
  if (!slot) {
    slot = std::make_shared<TargetHealth>();
  }
  return slot;
}

ProbeHealthSharedPtr HealthRegistry::probe(const std::string& provider) {
  std::lock_guard lock(mutex_);
  auto& slot = probes_[provider];
  if (!slot) {
    slot = std::make_shared<ProbeHealth>();
  }
  return slot;
}

void HealthRegistry::clearEjections(const std::string& provider) {
  std::lock_guard lock(mutex_);
  const std::string prefix = provider + "/";
  for (auto& [key, health] : targets_) {
    if (key.rfind(prefix, 0) == 0) {
      health->clearEjection();
    }
  }
}

std::vector<std::pair<std::string, bool>> HealthRegistry::probes() const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, bool>> out;
  for (const auto& [provider, probe] : probes_) {
    out.emplace_back(provider, probe->healthy());
  }
  return out;
}

std::vector<std::pair<std::string, TargetHealth::View>> HealthRegistry::views(SteadyClock::time_point now) const {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::string, TargetHealth::View>> out;
  for (const auto& [key, health] : targets_) {
    out.emplace_back(key, health->view(now));
  }
  return out;
}

TargetPool::TargetPool(const ModelRoute& route, HealthRegistry& registry)
    : targets_(route.targets), outlier_(route.outlier), retry_(route.retry), strategy_(route.strategy),
      max_requests_per_target_(route.max_requests_per_target),
      panic_threshold_percent_(route.panic_threshold_percent), current_weight_(route.targets.size(), 0) {
  for (const auto& t : targets_) {
    health_.push_back(registry.get(key(t)));
    probes_.push_back(registry.probe(t.provider));
  }
}

std::optional<TargetPool::Pick> TargetPool::pick(const std::vector<size_t>& tried, SteadyClock::time_point now,
                                                 Empty* why) {
  std::vector<bool> healthy(targets_.size(), false);
  size_t available = 0;
  for (size_t i = 0; i < targets_.size(); ++i) {
    healthy[i] = health_[i]->available(now) && probes_[i]->healthy();
    available += healthy[i] ? 1 : 0;
  }
  const bool panic = panic_threshold_percent_ > 0 && available * 100 < targets_.size() * panic_threshold_percent_;
  std::vector<size_t> candidates;
  bool untried_healthy = false;
  for (size_t i = 0; i < targets_.size(); ++i) {
    if (std::find(tried.begin(), tried.end(), i) != tried.end() || !(healthy[i] || panic)) {
      continue;
    }
    untried_healthy = true;
    // The circuit breaker: a full target is skipped, never queued behind.
    if (health_[i]->inFlight() >= static_cast<int>(max_requests_per_target_)) {
      continue;
    }
    candidates.push_back(i);
  }
  if (candidates.empty()) {
    if (why != nullptr) {
      *why = untried_healthy ? Empty::kOverflow : tried.empty() ? Empty::kUnhealthy : Empty::kExhausted;
    }
    return std::nullopt;
  }
  if (strategy_ != BalanceStrategy::kWeightedRoundRobin && candidates.size() > 1) {
    // Power of two choices: two random candidates, the one with less load per weight wins.
    // Cheap, and it avoids the herd a global minimum would attract. For `latency`, load is
    // requests in flight times the EWMA time to first byte; a target not measured yet counts
    // as fastest, so it gets measured.
    thread_local std::mt19937_64 rng{std::random_device{}()};
    std::uniform_int_distribution<size_t> dist(0, candidates.size() - 1);
    const size_t a = candidates[dist(rng)];
    size_t b = candidates[dist(rng)];
    if (a == b) {
      b = candidates[(std::find(candidates.begin(), candidates.end(), a) - candidates.begin() + 1) % candidates.size()];
    }
    const auto load = [&](size_t i) {
      double l = static_cast<double>(health_[i]->inFlight() + 1) / targets_[i].weight;
      if (strategy_ == BalanceStrategy::kLatency) {
        l *= std::max(health_[i]->ewmaTtfbMs(), 0.001);
      }
      return l;
    };
    return Pick{load(a) <= load(b) ? a : b, panic};
  }
  // Smooth weighted round robin (as nginx): every candidate gains its weight, the richest is
  // chosen and pays the total back, which spreads picks evenly in proportion to weight.
  std::lock_guard lock(mutex_);
  int64_t total = 0;
  size_t best = candidates.front();
  for (size_t i : candidates) {
    current_weight_[i] += targets_[i].weight;
    total += targets_[i].weight;
    if (current_weight_[i] > current_weight_[best]) {
      best = i;
    }
  }
  current_weight_[best] -= total;
  return Pick{best, panic};
}

bool TargetPool::tryBeginRetry() {
  const int allowed = std::max<int>(static_cast<int>(retry_.min_retry_concurrency),
                                    active_requests_.load() * static_cast<int>(retry_.budget_percent) / 100);
  int current = active_retries_.load();
  while (current < allowed) {
    if (active_retries_.compare_exchange_weak(current, current + 1)) {
      return true;
    }
  }
  return false;
}

SteadyClock::time_point TargetPool::soonestRecovery(SteadyClock::time_point now) const {
  std::optional<SteadyClock::time_point> soonest;
  for (const auto& h : health_) {
    const auto v = h->view(now);
    if (v.available_at > now && (!soonest || v.available_at < *soonest)) {
      soonest = v.available_at;
    }
  }
  return soonest.value_or(now);
}

void TargetPool::report(size_t index, AttemptOutcome outcome, std::optional<std::chrono::milliseconds> retry_after,
                        SteadyClock::time_point now, std::optional<double> ttfb_ms) {
  // Never eject more than the allowed share of the pool (a single-target pool at 100% may).
  size_t ejected = 0;
  for (const auto& h : health_) {
    ejected += h->view(now).ejected ? 1 : 0;
  }
  const bool may_eject = (ejected + 1) * 100 <= targets_.size() * outlier_.max_ejection_percent;
  health_[index]->report(outcome, retry_after, outlier_, may_eject, now, ttfb_ms);
}

void backoffBeforeRetry(const RetryPolicy& policy, uint32_t retry) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  const int64_t base = policy.backoff_base.count();
  const int64_t cap = std::min<int64_t>(policy.backoff_max.count(), base << std::min<uint32_t>(retry - 1, 20));
  if (cap <= 0) {
    return;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(0, cap)(rng)));
}

} // namespace switchyard
