#include "switchyard/upstream/health_checker.h"

#include <spdlog/spdlog.h>

#include <random>

namespace switchyard {

HealthChecker::HealthChecker(UpstreamClient& client, HealthRegistry& registry)
    : client_(client), registry_(registry), thread_([this] { run(); }) {}

HealthChecker::~HealthChecker() { stop(); }

void HealthChecker::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  }
}

void HealthChecker::setTargets(std::vector<ProbeTarget> targets) {
  std::lock_guard lock(mutex_);
  std::vector<Probe> next;
  for (auto& t : targets) {
    if (!t.check.enabled) {
      continue;
    }
    Probe p;
    for (const auto& old : probes_) {
      if (old.target.provider == t.provider) {
        p = old; // keep counters and schedule across reloads
      }
    }
    p.target = std::move(t);
    p.health = registry_.probe(p.target.provider);
    next.push_back(std::move(p));
  }
  // A provider no longer probed is no longer held out by an old verdict.
  for (const auto& old : probes_) {
    bool kept = false;
    for (const auto& n : next) {
      kept = kept || n.target.provider == old.target.provider;
    }
    if (!kept) {
      old.health->set(true);
    }
  }
  probes_ = std::move(next);
  cv_.notify_all();
}

bool HealthChecker::probeOnce(const ProbeTarget& target) {
  UpstreamCall call;
  call.method = target.check.method;
  call.path = target.check.path;
  const std::string& auth = target.check.auth;
  if (!target.api_key.empty() && auth == "bearer") {
    call.headers.emplace_back("Authorization", "Bearer " + target.api_key);
  } else if (!target.api_key.empty() && auth.rfind("header:", 0) == 0) {
    call.headers.emplace_back(auth.substr(7), target.api_key);
  }
  call.timeouts.connect = target.check.timeout;
  call.timeouts.first_byte = target.check.timeout;
  call.timeouts.idle = target.check.timeout;
  call.timeouts.total = target.check.timeout;
  UpstreamStartResult r = client_.start(target.base_url, target.max_idle_connections, call);
  if (!r.exchange) {
    return false;
  }
  std::string body;
  const bool read = r.exchange->readAll(body, 1u << 20) == UpstreamExchange::Read::kEnd;
  return read && r.exchange->status() >= 200 && r.exchange->status() < 300;
}

void HealthChecker::record(Probe& probe, bool passed) {
  const bool was_healthy = probe.health->healthy();
  if (passed) {
    probe.failures = 0;
    if (!was_healthy && ++probe.passes >= probe.target.check.healthy_threshold) {
      probe.health->set(true);
      registry_.clearEjections(probe.target.provider);
      spdlog::info("health check: provider {} is healthy again", probe.target.provider);
    }
  } else {
    probe.passes = 0;
    if (was_healthy && ++probe.failures >= probe.target.check.unhealthy_threshold) {
      probe.health->set(false);
      spdlog::warn("health check: provider {} failed {} probes in a row; taken out of service",
                   probe.target.provider, probe.failures);
    }
  }
}

void HealthChecker::run() {
  std::mt19937_64 rng{std::random_device{}()};
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const auto now = SteadyClock::now();
    auto wake = now + std::chrono::seconds(1);
    for (size_t i = 0; i < probes_.size() && !stopping_; ++i) {
      if (probes_[i].next > now) {
        wake = std::min(wake, probes_[i].next);
        continue;
      }
      ProbeTarget target = probes_[i].target;
      lock.unlock(); // probes do network I/O; setTargets may run meanwhile
      const bool passed = probeOnce(target);
      lock.lock();
      // The list may have changed while probing; find this provider again.
      for (auto& p : probes_) {
        if (p.target.provider == target.provider) {
          record(p, passed);
          const auto jitter = p.target.check.jitter.count();
          p.next = SteadyClock::now() + p.target.check.interval +
                   std::chrono::milliseconds(jitter > 0 ? std::uniform_int_distribution<int64_t>(0, jitter)(rng) : 0);
          wake = std::min(wake, p.next);
        }
      }
      break; // the list may have changed: start the scan over
    }
    cv_.wait_until(lock, wake);
  }
}

} // namespace switchyard
