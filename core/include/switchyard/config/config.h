/// @file switchyard/config/config.h
/// @brief The gateway configuration: its model, loading and validation.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace switchyard {

class ModelCatalog;
struct BodyLogPolicy;

/// Thrown while loading configuration (control plane only).
class ConfigError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

struct ListenAddress {
  std::string host = "127.0.0.1";
  uint16_t port = 8080;
  std::string toString() const { return host + ":" + std::to_string(port); }
};

struct ServerConfig {
  ListenAddress listen{"127.0.0.1", 8080};
  int max_connections = 12000;
  int keep_alive_timeout_s = 5;
  int max_keep_alive_requests = 10000;
  size_t max_body_bytes = 32u * 1024 * 1024;
  int thread_stack_kb = 256;
  int min_threads = 16; ///< started up front; raise it where thousands of streams open at once
  /// Handler threads run this much nicer than the event loop, so that accepting and reading
  /// requests never starve behind thousands of threads relaying streams (0: same priority).
  int worker_nice = 5;
  int listen_backlog = 4096;
  /// SO_REUSEPORT on the data-plane listener: several gateway processes on one machine share
  /// its port and the kernel spreads new connections over them (each has its own fd table).
  bool reuse_port = false;
  int drain_timeout_s = 30;
};

struct AdminConfig {
  ListenAddress listen{"127.0.0.1", 8081};
};

struct PluginsConfig {
  std::vector<std::filesystem::path> dirs; ///< absolute after loading
  std::filesystem::path cache_dir;         ///< absolute after loading
  int poll_interval_ms = 1000;
  int drain_timeout_s = 600;
};

struct UpstreamTimeouts {
  std::chrono::milliseconds connect{5000};
  std::chrono::milliseconds first_byte{60000};
  std::chrono::milliseconds idle{60000};
  std::chrono::milliseconds total{600000};
};

/// A route's own timeouts: each one given replaces its providers' value for the route's attempts.
struct RouteTimeouts {
  std::optional<std::chrono::milliseconds> connect;
  std::optional<std::chrono::milliseconds> first_byte;
  std::optional<std::chrono::milliseconds> idle;
  std::optional<std::chrono::milliseconds> total;

  UpstreamTimeouts over(UpstreamTimeouts provider) const {
    provider.connect = connect.value_or(provider.connect);
    provider.first_byte = first_byte.value_or(provider.first_byte);
    provider.idle = idle.value_or(provider.idle);
    provider.total = total.value_or(provider.total);
    return provider;
  }
};

/// Errors a route's retries return to the client as they are, but which can be told to move
/// the call on to the route's fallbacks (`fallback_on`). An exhausted pool always falls back.
enum class FallbackClass : uint32_t {
  kServerError = 1u << 0,           ///< a 5xx the pool does not retry (500, 504, ...)
  kTimeout = 1u << 1,               ///< connect, first byte, idle or total timeout
  kConnectionReset = 1u << 2,       ///< the connection broke, or the answer was malformed
  kContextLengthExceeded = 1u << 3, ///< the prompt is too long for the model
  kContentFilter = 1u << 4,         ///< the provider's content filter refused the call
};

/// Active health checking of a provider instance. Off by default: some providers bill probes.
struct HealthCheckConfig {
  bool enabled = false;
  std::string method = "GET";
  std::string path = "/models"; ///< relative to the provider's base URL
  std::chrono::milliseconds interval{10000};
  std::chrono::milliseconds jitter{1000};
  std::chrono::milliseconds timeout{2000};
  uint32_t healthy_threshold = 2;   ///< passing probes in a row to be healthy again
  uint32_t unhealthy_threshold = 3; ///< failing probes in a row to be taken out
  /// How the probe carries the provider's key: "none", "bearer" or "header:<name>".
  std::string auth = "none";
};

struct ProviderConfig {
  std::string name;
  std::string type;
  std::string base_url;
  std::string api_key_env; ///< the key itself is read from the environment, never stored here
  UpstreamTimeouts timeouts;
  int max_idle_connections = 64;
  HealthCheckConfig health_check;
  std::string config_json = "{}";
  /// The catalog's name for this provider, which prices its models: "catalog_provider" if
  /// given, else the openai plugin's "preset", else the type.
  std::string catalog_provider;
};

/// One upstream target of a route: a provider instance and the model name it knows.
struct RouteTarget {
  std::string provider;
  std::string upstream_model;
  uint32_t weight = 1;
};

/// Passive outlier detection: a target failing `consecutive_failures` times in a row is ejected
/// for base_ejection x (times ejected so far), capped, never more than max_ejection_percent of
/// the pool at once.
struct OutlierPolicy {
  uint32_t consecutive_failures = 3;
  std::chrono::milliseconds base_ejection{5000};
  std::chrono::milliseconds max_ejection{300000};
  uint32_t max_ejection_percent = 100;
};

/// When a failed attempt is tried again, on another target where one exists.
struct RetryPolicy {
  uint32_t attempts = 3; ///< attempts per route, the first included
  std::chrono::milliseconds backoff_base{25};
  std::chrono::milliseconds backoff_max{250};
  /// Chat calls are not idempotent (and cost money): by default only failures that prove the
  /// upstream did not process the request are retried (connect failure, 429, 502, 503).
  /// This adds timeouts, resets, 500 and 504.
  bool retry_unsafe = false;
  /// Retries in flight may be at most this share of the route's active requests (but always
  /// min_retry_concurrency), so an outage never turns into a retry storm.
  uint32_t budget_percent = 20;
  uint32_t min_retry_concurrency = 3;
};

enum class BalanceStrategy {
  kWeightedRoundRobin,
  kLeastRequest, ///< power of two choices on requests in flight, weighted
  kLatency,      ///< power of two choices on EWMA time to first byte x requests in flight
};

struct ModelRoute {
  std::string name;
  std::vector<RouteTarget> targets;
  OutlierPolicy outlier;
  RetryPolicy retry;
  std::vector<std::string> fallbacks; ///< other routes, tried in order when this one fails
  /// FallbackClass bits: final errors that fall back too (0: only an exhausted pool does).
  uint32_t fallback_on = 0;
  /// Retries and fallbacks start only within this long after the call began (0: always);
  /// after a slow failure the client gets the error rather than a second long wait.
  std::chrono::milliseconds failover_within{0};
  RouteTimeouts timeouts;
  BalanceStrategy strategy = BalanceStrategy::kWeightedRoundRobin;
  /// Circuit breaker: requests in flight per target; a full target is skipped, never queued.
  /// LLM streams stay open for minutes, so the default is effectively unbounded (Envoy's 1024
  /// would refuse the 1025th concurrent stream); set it to a provider's concurrency limit.
  uint32_t max_requests_per_target = 100000;
  /// Below this share of available targets the pool uses all of them (Envoy's panic mode);
  /// 0 (the default) fails fast with 503 no_healthy_upstream instead.
  uint32_t panic_threshold_percent = 0;
  /// Request/response bodies in this route's call records (docs/call-record.md); null = off.
  std::shared_ptr<const BodyLogPolicy> log_bodies;
};

/// A component block of a list ("auth", "log_sinks", "analytics").
struct ComponentConfig {
  std::string name;
  std::string type;
  std::string config_json = "{}";
};

/// How call records reach log sinks and analytics (RecordDispatcher); see docs/logging.md.
struct DeliveryConfig {
  size_t queue_capacity = 100000;  ///< per consumer, in memory
  size_t batch_size = 256;
  std::chrono::milliseconds flush_interval{100};
  std::chrono::milliseconds stop_deadline{5000};  ///< at shutdown, then the rest is spooled
  bool spool = true;
  std::filesystem::path spool_dir;        ///< absolute; default <data_dir>/spool
  uint64_t spool_max_bytes = 1ull << 30;  ///< per consumer; beyond it records are dropped
  size_t spool_high_water = 10000;        ///< queued records beyond which they go to disk
};

/// The management store (tenants, apps, keys, APIs, subscriptions). Off unless configured.
struct StoreConfig {
  bool enabled = false;
  std::string driver = "sqlite";  ///< "sqlite" or "postgresql"
  std::filesystem::path path;  ///< sqlite: absolute after loading; default <data_dir>/switchyard.db
  std::string url;             ///< postgresql: libpq conninfo or postgresql:// URI, no password
  std::string password_env;  ///< postgresql: the variable holding the password (never stored here)
  int session_ttl_s = 12 * 3600;
};

/// The store's password from store.password_env ("" when none is named).
/// @throw ConfigError when the variable is named but not set.
std::string storePassword(const StoreConfig& store);

struct GatewayConfig {
  std::filesystem::path source; ///< the file it came from, if any
  ServerConfig server;
  AdminConfig admin;
  PluginsConfig plugins;
  std::map<std::string, ProviderConfig> providers;
  std::map<std::string, ModelRoute> models;
  std::vector<ComponentConfig> auth;
  std::vector<ComponentConfig> log_sinks;
  std::vector<ComponentConfig> analytics;
  std::string log_level = "info";
  /// Where the gateway keeps state (spools; plugins get it as ${data_dir} in their config).
  std::filesystem::path data_dir;
  DeliveryConfig delivery;
  /// Prices calls ("catalog": a file relative to the config; the built-in one otherwise).
  std::shared_ptr<const ModelCatalog> catalog;
  StoreConfig store;
};
using GatewayConfigSharedPtr = std::shared_ptr<const GatewayConfig>;

/**
 * Parses and validates a configuration document.
 * @param text the JSON text.
 * @param base_dir relative paths in the document resolve against it.
 * @param exe_dir the binary's folder, for the default plugin directories.
 * @throw ConfigError naming the offending field.
 */
GatewayConfig parseConfig(const std::string& text, const std::filesystem::path& base_dir,
                          const std::filesystem::path& exe_dir);

/// Reads and parses a configuration file. @throw ConfigError.
GatewayConfig loadConfigFile(const std::filesystem::path& file, const std::filesystem::path& exe_dir);

/// The folder the running binary lives in.
std::filesystem::path executableDir();

} // namespace switchyard
