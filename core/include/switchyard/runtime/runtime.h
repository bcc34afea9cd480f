/// @file switchyard/runtime/runtime.h
/// @brief An immutable snapshot of everything the data plane serves with.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/plugin/plugin_manager.h"
#include "switchyard/upstream/target_pool.h"

namespace switchyard {

/// A provider instance bound to its upstream.
struct ProviderTarget {
  ProviderConfig config;
  std::string api_key; ///< SECRET, read from config.api_key_env; never logged
  ComponentInstanceSharedPtr provider;
};
using ProviderTargetSharedPtr = std::shared_ptr<const ProviderTarget>;

struct NamedInstance {
  ComponentConfig config;
  ComponentInstanceSharedPtr instance;
};

/**
 * What requests run against. Published by pointer swap; a request captures the snapshot it
 * started with, which keeps the plugin generations it uses loaded until it finishes.
 */
struct Runtime {
  GatewayConfigSharedPtr config;
  PluginSetSharedPtr plugins;
  std::map<std::string, ProviderTargetSharedPtr> providers;
  std::map<std::string, TargetPoolSharedPtr> pools; ///< by route (public model name)
  std::vector<NamedInstance> auth;
  std::vector<NamedInstance> log_sinks;
  std::vector<NamedInstance> analytics;
  std::string models_json; ///< the /v1/models body
};
using RuntimeSharedPtr = std::shared_ptr<const Runtime>;

/**
 * Builds a runtime, reusing the instances of `previous` whose component generation and config
 * are unchanged (so analytics keep their state and sinks their files across reloads).
 * @return null with `error` set when a configured component is missing or refuses its config.
 */
RuntimeSharedPtr buildRuntime(GatewayConfigSharedPtr config, PluginSetSharedPtr plugins,
                              const Runtime* previous, HealthRegistry& health, std::string* error);

} // namespace switchyard
