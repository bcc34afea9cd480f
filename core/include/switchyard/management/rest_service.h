/// @file switchyard/management/rest_service.h
/// @brief A REST service as the data plane serves it: its base URLs as a target pool, with
/// the service's own timeouts and retries.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/store/store.h"
#include "switchyard/upstream/target_pool.h"

namespace switchyard {

/// A REST service's settings, read from its store record.
struct RestServiceSettings {
  std::vector<std::string> base_urls;
  RouteTimeouts timeouts;  ///< each one given replaces the upstream client's default
  RetryPolicy retry;       ///< attempts and backoff; only idempotent calls are retried
};

/**
 * Reads and checks a REST service's `base_urls`, `timeouts` and `retry`.
 * @return "" when they are valid, else a sentence saying what is wrong (the admin API's 400).
 */
std::string parseRestSettings(const Service& service, RestServiceSettings* out);

/// One REST service with its pool, shared by every call while the snapshot holding it lives.
struct RestUpstream {
  std::string service_id;
  std::string service_name;
  RestServiceSettings settings;
  std::string fingerprint;   ///< the settings as stored: an unchanged service keeps its pool
  TargetPoolSharedPtr pool;  ///< targets: provider = service id, upstream_model = base URL
};
using RestUpstreamSharedPtr = std::shared_ptr<RestUpstream>;

/// Builds the pool of a REST service. Target health lives in `health` under
/// "<service id>/<base URL>", so a rebuilt pool remembers what it knew about a URL it keeps.
RestUpstreamSharedPtr makeRestUpstream(const Service& service, const RestServiceSettings& settings,
                                       HealthRegistry& health);

}  // namespace switchyard
