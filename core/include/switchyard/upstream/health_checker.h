/// @file switchyard/upstream/health_checker.h
/// @brief Active health checks: probes provider instances and marks them in or out of service.
#pragma once

#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/upstream/target_pool.h"
#include "switchyard/upstream/upstream_client.h"

namespace switchyard {

/// One provider instance to probe.
struct ProbeTarget {
  std::string provider;
  std::string base_url;
  std::string api_key; ///< SECRET: sent only as the probe's auth asks
  int max_idle_connections = 4;
  HealthCheckConfig check;
};

/**
 * Probes every provider instance with health checks enabled, each on its own jittered
 * interval, from one thread. `unhealthy_threshold` failures in a row take the provider out of
 * every pool; `healthy_threshold` passes bring it back and end its targets' ejections, so a
 * recovered target receives traffic again within one interval.
 */
class HealthChecker {
public:
  HealthChecker(UpstreamClient& client, HealthRegistry& registry);
  ~HealthChecker();

  /// Replaces what is probed (after a config reload); state of unchanged providers is kept.
  void setTargets(std::vector<ProbeTarget> targets);
  void stop();

private:
  struct Probe {
    ProbeTarget target;
    ProbeHealthSharedPtr health;
    SteadyClock::time_point next{};
    uint32_t passes = 0;
    uint32_t failures = 0;
  };
  void run();
  bool probeOnce(const ProbeTarget& target);
  void record(Probe& probe, bool passed);

  UpstreamClient& client_;
  HealthRegistry& registry_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<Probe> probes_;
  bool stopping_ = false;
  std::thread thread_;
};

} // namespace switchyard
