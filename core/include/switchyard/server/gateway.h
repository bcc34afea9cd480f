/// @file switchyard/server/gateway.h
/// @brief The whole gateway: data and admin listeners, plugins, live reload and drain.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>

#include "switchyard/config/config.h"
#include "switchyard/runtime/runtime.h"

namespace switchyard {

/**
 * Owns everything a running gateway needs. Start-up may throw (bad config, a configured
 * component missing, a port in use); once started, nothing on the request path throws.
 */
class Gateway {
public:
  /// Loads the config file. @throw ConfigError.
  explicit Gateway(const std::filesystem::path& config_file);
  ~Gateway();

  /// Loads plugins, builds the runtime and starts both listeners. @throw std::runtime_error.
  void start();
  uint16_t port() const;
  uint16_t adminPort() const;

  /// Stops accepting, lets in-flight requests and streams finish up to the drain deadline,
  /// flushes call records. Idempotent.
  void shutdown();

  /// The snapshot new requests use.
  RuntimeSharedPtr runtime() const;
  /// Runs one watcher pass now (config and plugin changes) instead of waiting for the poll.
  void pollNowForTest();

  struct Impl;

private:
  std::unique_ptr<Impl> impl_;
};

/**
 * Validates a config file the way start() would, loading plugins from a scratch cache.
 * @return an empty string when valid, else the reason.
 */
std::string checkConfigFile(const std::filesystem::path& config_file);

} // namespace switchyard
