/// @file switchyard/plugin/plugin_types.h
/// @brief Core-side values that plugin hooks produce: upstream requests, events, principals.
#pragma once

#include <switchyard/abi.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "switchyard/common/api_error.h"

namespace switchyard {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

/// The upstream HTTP request a provider built; the path is relative to the target's base URL.
struct UpstreamRequestSpec {
  std::string method = "POST";
  std::string path;
  HeaderList headers;
  std::string body;
};

/// One event a plugin handed back through emit().
struct PluginEvent {
  sy_event kind = 0;
  std::string payload;
};

/// Who the caller is, as an auth scheme decided.
struct Principal {
  bool authenticated = false;
  std::string scheme;
  std::string tenant;
  std::string app;
  std::string key_id;
  HeaderList metadata;
};

} // namespace switchyard

/// The output channel of one hook call. Each destination is set only for the hooks that may
/// write to it, so a plugin writing where it should not is ignored rather than trusted.
struct sy_out_host {
  std::optional<switchyard::ApiError> error;
  switchyard::UpstreamRequestSpec* request = nullptr;
  std::vector<switchyard::PluginEvent>* events = nullptr;
  switchyard::Principal* principal = nullptr;
  /// build_request only: request parameters the provider did not honour (ABI 1.1), deduplicated.
  std::vector<std::string>* dropped_params = nullptr;
};

namespace switchyard {

/// The response header that lists the parameters a provider dropped, comma-separated.
inline constexpr const char* kDroppedParamsHeader = "x-switchyard-dropped-params";

/// "a,b,c" for the header; empty when nothing was dropped.
std::string joinDroppedParams(const std::vector<std::string>& names);

/// The services table the core hands every plugin (static storage, valid for the process).
const sy_host_api* hostApi();

/// Metrics reported by plugins through the host API, by name.
struct PluginMetric {
  uint32_t type = 0;
  double value = 0;
  uint64_t count = 0;
};
std::vector<std::pair<std::string, PluginMetric>> pluginMetricsSnapshot();

} // namespace switchyard
