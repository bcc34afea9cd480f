#include "switchyard/config/config.h"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "switchyard/catalog/model_catalog.h"
#include "switchyard/log/body_log.h"
#include "switchyard/store/database.h"

namespace switchyard {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw ConfigError(where + ": " + what);
}

void rejectUnknownKeys(const json& obj, const std::string& where,
                       std::initializer_list<const char*> allowed) {
  std::set<std::string> known(allowed.begin(), allowed.end());
  for (const auto& [key, value] : obj.items()) {
    if (known.count(key) == 0) {
      fail(where, "unknown field \"" + key + "\"");
    }
  }
}

const json& objectAt(const json& parent, const char* key, const std::string& where) {
  static const json kEmpty = json::object();
  auto it = parent.find(key);
  if (it == parent.end()) {
    return kEmpty;
  }
  if (!it->is_object()) {
    fail(where + "." + key, "must be an object");
  }
  return *it;
}

std::string stringAt(const json& obj, const char* key, const std::string& where,
                     const std::string& fallback, bool required = false) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required) {
      fail(where + "." + key, "is required");
    }
    return fallback;
  }
  if (!it->is_string()) {
    fail(where + "." + key, "must be a string");
  }
  return it->get<std::string>();
}

int64_t intAt(const json& obj, const char* key, const std::string& where, int64_t fallback,
              int64_t min, int64_t max) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    return fallback;
  }
  if (!it->is_number_integer()) {
    fail(where + "." + key, "must be an integer");
  }
  int64_t v = it->get<int64_t>();
  if (v < min || v > max) {
    fail(where + "." + key, "must be between " + std::to_string(min) + " and " + std::to_string(max));
  }
  return v;
}

bool boolAt(const json& obj, const char* key, const std::string& where, bool fallback) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    return fallback;
  }
  if (!it->is_boolean()) {
    fail(where + "." + key, "must be a boolean");
  }
  return it->get<bool>();
}

ListenAddress parseListen(const std::string& text, const std::string& where) {
  auto colon = text.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    fail(where, "must be host:port, got \"" + text + "\"");
  }
  ListenAddress out;
  out.host = text.substr(0, colon);
  if (out.host.size() > 2 && out.host.front() == '[' && out.host.back() == ']') {
    out.host = out.host.substr(1, out.host.size() - 2);
  }
  const std::string port = text.substr(colon + 1);
  if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != std::string::npos ||
      std::stoi(port) > 65535) {
    fail(where, "bad port in \"" + text + "\"");
  }
  out.port = static_cast<uint16_t>(std::stoi(port));
  return out;
}

fs::path resolve(const fs::path& base, const std::string& p) {
  fs::path path(p);
  return (path.is_absolute() ? path : base / path).lexically_normal();
}

bool isValidName(const std::string& s) {
  if (s.empty() || s.size() > 128) {
    return false;
  }
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == '/' || c == ':' || c == '@')) {
      return false;
    }
  }
  return true;
}

/// Replaces "${data_dir}" in every string of a component's config, so a plugin can keep its
/// files where the gateway keeps its state without knowing where that is.
void expandDataDir(json& value, const std::string& data_dir) {
  static const std::string kVar = "${data_dir}";
  if (value.is_string()) {
    std::string s = value.get<std::string>();
    for (size_t at = s.find(kVar); at != std::string::npos;
         at = s.find(kVar, at + data_dir.size())) {
      s.replace(at, kVar.size(), data_dir);
    }
    value = s;
  } else if (value.is_structured()) {
    for (auto& child : value) {
      expandDataDir(child, data_dir);
    }
  }
}

std::vector<ComponentConfig> parseComponents(const json& root, const char* key, bool names_required,
                                             const fs::path& data_dir) {
  std::vector<ComponentConfig> out;
  auto it = root.find(key);
  if (it == root.end()) {
    return out;
  }
  if (!it->is_array()) {
    fail(key, "must be an array");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < it->size(); ++i) {
    const json& item = (*it)[i];
    const std::string where = std::string(key) + "[" + std::to_string(i) + "]";
    if (!item.is_object()) {
      fail(where, "must be an object");
    }
    rejectUnknownKeys(item, where, {"name", "type", "config"});
    ComponentConfig c;
    c.type = stringAt(item, "type", where, "", true);
    c.name = stringAt(item, "name", where, c.type, names_required);
    if (!isValidName(c.name)) {
      fail(where + ".name", "must be 1-128 characters of [A-Za-z0-9-_.]");
    }
    if (!names.insert(c.name).second) {
      fail(where + ".name", "duplicate name \"" + c.name + "\"");
    }
    if (item.contains("config")) {
      if (!item["config"].is_object()) {
        fail(where + ".config", "must be an object");
      }
      json config = item["config"];
      expandDataDir(config, data_dir.string());
      c.config_json = config.dump();
    }
    out.push_back(std::move(c));
  }
  return out;
}

/// Only the fields given are set: a route's block overrides its providers' field by field.
RouteTimeouts parseTimeouts(const json& t, const std::string& where) {
  rejectUnknownKeys(t, where, {"connect_ms", "first_byte_ms", "idle_ms", "total_ms"});
  RouteTimeouts out;
  auto field = [&](const char* key, int64_t max, std::optional<std::chrono::milliseconds>* into) {
    if (t.contains(key)) {
      *into = std::chrono::milliseconds(intAt(t, key, where, 0, 1, max));
    }
  };
  field("connect_ms", 3600000, &out.connect);
  field("first_byte_ms", 86400000, &out.first_byte);
  field("idle_ms", 86400000, &out.idle);
  field("total_ms", 86400000, &out.total);
  return out;
}

uint32_t parseFallbackOn(const json& m, const std::string& where) {
  static const std::map<std::string, FallbackClass> kClasses = {
      {"server_error", FallbackClass::kServerError},
      {"timeout", FallbackClass::kTimeout},
      {"connection_reset", FallbackClass::kConnectionReset},
      {"context_length_exceeded", FallbackClass::kContextLengthExceeded},
      {"content_filter", FallbackClass::kContentFilter}};
  static const std::set<std::string> kAlways = {"rate_limited", "connect_failure", "overloaded",
                                                "no_healthy_upstream"};
  auto it = m.find("fallback_on");
  if (it == m.end()) {
    return 0;
  }
  const std::string fw = where + ".fallback_on";
  if (!it->is_array()) {
    fail(fw, "must be an array of error classes");
  }
  uint32_t bits = 0;
  for (const auto& c : *it) {
    const std::string name = c.is_string() ? c.get<std::string>() : c.dump();
    auto known = kClasses.find(name);
    if (known != kClasses.end()) {
      bits |= static_cast<uint32_t>(known->second);
    } else if (kAlways.count(name) != 0) {
      fail(fw, "\"" + name + "\" always falls back once the pool is exhausted; list only server_error, timeout, "
               "connection_reset, context_length_exceeded or content_filter");
    } else {
      fail(fw, "unknown error class \"" + name + "\" (server_error, timeout, connection_reset, "
               "context_length_exceeded, content_filter)");
    }
  }
  return bits;
}

} // namespace

fs::path executableDir() {
  std::error_code ec;
  fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? fs::current_path() : self.parent_path();
}

static void parseStore(const json& root, const fs::path& base_dir, GatewayConfig& cfg) {
  if (!root.contains("store")) {
    return;
  }
  const json& store = objectAt(root, "store", "config");
  rejectUnknownKeys(store, "store", {"driver", "path", "url", "password_env", "session_ttl_s"});
  cfg.store.enabled = true;
  cfg.store.driver = stringAt(store, "driver", "store", "sqlite");
  if (cfg.store.driver == "sqlite") {
    for (const char* key : {"url", "password_env"}) {
      if (store.contains(key)) {
        fail(std::string("store.") + key, "belongs to the postgresql driver; sqlite takes a path");
      }
    }
    cfg.store.path = store.contains("path")
                         ? resolve(base_dir, stringAt(store, "path", "store", ""))
                         : cfg.data_dir / "switchyard.db";
  } else if (cfg.store.driver == "postgresql") {
    if (store.contains("path")) {
      fail("store.path", "belongs to the sqlite driver; postgresql takes a url");
    }
    cfg.store.url = stringAt(store, "url", "store", "", /*required=*/true);
    if (std::string problem = postgresUrlProblem(cfg.store.url); !problem.empty()) {
      fail("store.url", problem);
    }
    cfg.store.password_env = stringAt(store, "password_env", "store", "");
  } else {
    fail("store.driver", "must be \"sqlite\" or \"postgresql\"");
  }
  cfg.store.session_ttl_s = static_cast<int>(intAt(store, "session_ttl_s", "store", 12 * 3600, 60, 30 * 86400));
}

std::string storePassword(const StoreConfig& store) {
  if (store.password_env.empty()) {
    return "";
  }
  const char* password = std::getenv(store.password_env.c_str());
  if (password == nullptr || *password == '\0') {
    throw ConfigError("store.password_env: environment variable " + store.password_env +
                      " is not set");
  }
  return password;
}

GatewayConfig parseConfig(const std::string& text, const fs::path& base_dir, const fs::path& exe_dir) {
  json root = json::parse(text, nullptr, false, /*ignore_comments=*/true);
  if (root.is_discarded()) {
    throw ConfigError("config is not valid JSON");
  }
  if (!root.is_object()) {
    throw ConfigError("config must be a JSON object");
  }
  rejectUnknownKeys(root, "config",
                    {"server", "admin", "plugins", "providers", "models", "auth", "log_sinks",
                     "analytics", "logging", "data_dir", "delivery", "catalog", "store", "$schema", "_comment"});
  GatewayConfig cfg;

  const json& server = objectAt(root, "server", "config");
  rejectUnknownKeys(server, "server",
                    {"listen", "max_connections", "keep_alive_timeout_s", "max_keep_alive_requests",
                     "max_body_bytes", "thread_stack_kb", "min_threads", "worker_nice", "listen_backlog",
                     "reuse_port", "drain_timeout_s"});
  cfg.server.listen = parseListen(stringAt(server, "listen", "server", "127.0.0.1:8080"), "server.listen");
  cfg.server.max_connections = static_cast<int>(intAt(server, "max_connections", "server", 12000, 1, 1000000));
  cfg.server.keep_alive_timeout_s = static_cast<int>(intAt(server, "keep_alive_timeout_s", "server", 5, 1, 3600));
  cfg.server.max_keep_alive_requests =
      static_cast<int>(intAt(server, "max_keep_alive_requests", "server", 10000, 0, 100000000));
  cfg.server.max_body_bytes = static_cast<size_t>(
      intAt(server, "max_body_bytes", "server", 32ll * 1024 * 1024, 1024, 4ll * 1024 * 1024 * 1024));
  cfg.server.thread_stack_kb = static_cast<int>(intAt(server, "thread_stack_kb", "server", 256, 64, 65536));
  cfg.server.worker_nice = static_cast<int>(intAt(server, "worker_nice", "server", 5, 0, 19));
  cfg.server.min_threads = static_cast<int>(intAt(server, "min_threads", "server", 16, 1, 1000000));
  if (cfg.server.min_threads > cfg.server.max_connections) {
    if (server.contains("min_threads")) {
      fail("server.min_threads", "must not exceed max_connections");
    }
    cfg.server.min_threads = cfg.server.max_connections;
  }
  cfg.server.listen_backlog = static_cast<int>(intAt(server, "listen_backlog", "server", 4096, 16, 1000000));
  cfg.server.reuse_port = boolAt(server, "reuse_port", "server", false);
  cfg.server.drain_timeout_s = static_cast<int>(intAt(server, "drain_timeout_s", "server", 30, 0, 86400));

  const json& admin = objectAt(root, "admin", "config");
  rejectUnknownKeys(admin, "admin", {"listen"});
  cfg.admin.listen = parseListen(stringAt(admin, "listen", "admin", "127.0.0.1:8081"), "admin.listen");

  const json& plugins = objectAt(root, "plugins", "config");
  rejectUnknownKeys(plugins, "plugins", {"dirs", "cache_dir", "poll_interval_ms", "drain_timeout_s"});
  if (plugins.contains("dirs")) {
    if (!plugins["dirs"].is_array()) {
      fail("plugins.dirs", "must be an array of paths");
    }
    for (const auto& d : plugins["dirs"]) {
      if (!d.is_string()) {
        fail("plugins.dirs", "must be an array of paths");
      }
      cfg.plugins.dirs.push_back(resolve(base_dir, d.get<std::string>()));
    }
  } else {
    // Beside the binary (a build tree), then where the package installs them.
    cfg.plugins.dirs.push_back(exe_dir / "plugins");
    cfg.plugins.dirs.push_back((exe_dir / ".." / SWITCHYARD_PLUGIN_INSTALL_DIR).lexically_normal());
  }
  if (plugins.contains("cache_dir")) {
    cfg.plugins.cache_dir = resolve(base_dir, stringAt(plugins, "cache_dir", "plugins", ""));
  } else {
    const char* xdg = std::getenv("XDG_CACHE_HOME");
    const char* home = std::getenv("HOME");
    cfg.plugins.cache_dir = xdg != nullptr && *xdg != '\0' ? fs::path(xdg) / "switchyard" / "plugin-cache"
                            : home != nullptr && *home != '\0'
                                ? fs::path(home) / ".cache" / "switchyard" / "plugin-cache"
                                : fs::path("/var/cache/switchyard/plugin-cache");
  }
  cfg.plugins.poll_interval_ms =
      static_cast<int>(intAt(plugins, "poll_interval_ms", "plugins", 1000, 50, 3600000));
  cfg.plugins.drain_timeout_s = static_cast<int>(intAt(plugins, "drain_timeout_s", "plugins", 600, 0, 86400));

  const json& providers = objectAt(root, "providers", "config");
  for (const auto& [name, p] : providers.items()) {
    const std::string where = "providers." + name;
    if (!isValidName(name)) {
      fail(where, "provider names are 1-128 characters of [A-Za-z0-9-_.]");
    }
    if (!p.is_object()) {
      fail(where, "must be an object");
    }
    if (p.contains("api_key")) {
      fail(where, "inline api_key is not accepted; name an environment variable in api_key_env");
    }
    rejectUnknownKeys(p, where, {"type", "base_url", "api_key_env", "timeouts", "max_idle_connections",
                                 "health_check", "config", "catalog_provider"});
    ProviderConfig pc;
    pc.name = name;
    pc.type = stringAt(p, "type", where, "", true);
    pc.base_url = stringAt(p, "base_url", where, "", true);
    if (pc.base_url.rfind("http://", 0) != 0 && pc.base_url.rfind("https://", 0) != 0) {
      fail(where + ".base_url", "must start with http:// or https://");
    }
    while (!pc.base_url.empty() && pc.base_url.back() == '/') {
      pc.base_url.pop_back();
    }
    pc.api_key_env = stringAt(p, "api_key_env", where, "");
    pc.timeouts = parseTimeouts(objectAt(p, "timeouts", where), where + ".timeouts").over(UpstreamTimeouts{});
    pc.max_idle_connections = static_cast<int>(intAt(p, "max_idle_connections", where, 64, 0, 100000));
    if (p.contains("health_check")) {
      const json& h = objectAt(p, "health_check", where);
      const std::string hw = where + ".health_check";
      rejectUnknownKeys(h, hw, {"enabled", "method", "path", "interval_ms", "jitter_ms", "timeout_ms",
                                "healthy_threshold", "unhealthy_threshold", "auth"});
      HealthCheckConfig& hc = pc.health_check;
      hc.enabled = boolAt(h, "enabled", hw, true);
      hc.method = stringAt(h, "method", hw, "GET");
      hc.path = stringAt(h, "path", hw, "/models");
      if (hc.path.empty() || hc.path.front() != '/') {
        fail(hw + ".path", "must start with /");
      }
      hc.interval = std::chrono::milliseconds(intAt(h, "interval_ms", hw, 10000, 50, 3600000));
      hc.jitter = std::chrono::milliseconds(intAt(h, "jitter_ms", hw, 1000, 0, 3600000));
      hc.timeout = std::chrono::milliseconds(intAt(h, "timeout_ms", hw, 2000, 1, 600000));
      hc.healthy_threshold = static_cast<uint32_t>(intAt(h, "healthy_threshold", hw, 2, 1, 100));
      hc.unhealthy_threshold = static_cast<uint32_t>(intAt(h, "unhealthy_threshold", hw, 3, 1, 100));
      hc.auth = stringAt(h, "auth", hw, "none");
      if (hc.auth != "none" && hc.auth != "bearer" && hc.auth.rfind("header:", 0) != 0) {
        fail(hw + ".auth", "must be none, bearer or header:<name>");
      }
    }
    if (p.contains("config")) {
      if (!p["config"].is_object()) {
        fail(where + ".config", "must be an object");
      }
      pc.config_json = p["config"].dump();
    }
    const json preset = p.contains("config") && pc.type == "openai" ? p["config"].value("preset", json()) : json();
    pc.catalog_provider = stringAt(p, "catalog_provider", where, preset.is_string() ? preset.get<std::string>() : pc.type);
    cfg.providers.emplace(name, std::move(pc));
  }

  const json& models = objectAt(root, "models", "config");
  for (const auto& [name, m] : models.items()) {
    const std::string where = "models." + name;
    if (name.empty() || name.size() > 256) {
      fail(where, "model names are 1-256 characters");
    }
    if (!m.is_object()) {
      fail(where, "must be an object");
    }
    rejectUnknownKeys(m, where, {"provider", "upstream_model", "targets", "retry", "outlier", "fallbacks",
                                 "panic_threshold_percent", "strategy", "max_requests_per_target", "timeouts",
                                 "fallback_on", "failover_within_ms", "log_bodies"});
    ModelRoute r;
    r.name = name;
    auto checkProvider = [&](const std::string& provider, const std::string& at) {
      if (cfg.providers.count(provider) == 0) {
        fail(at, "names unknown provider \"" + provider + "\"");
      }
    };
    if (m.contains("targets")) {
      if (m.contains("provider") || m.contains("upstream_model")) {
        fail(where, "give either provider/upstream_model or targets, not both");
      }
      if (!m["targets"].is_array() || m["targets"].empty()) {
        fail(where + ".targets", "must be a non-empty array");
      }
      for (size_t i = 0; i < m["targets"].size(); ++i) {
        const json& t = m["targets"][i];
        const std::string tw = where + ".targets[" + std::to_string(i) + "]";
        if (!t.is_object()) {
          fail(tw, "must be an object");
        }
        rejectUnknownKeys(t, tw, {"provider", "upstream_model", "weight"});
        RouteTarget target;
        target.provider = stringAt(t, "provider", tw, "", true);
        checkProvider(target.provider, tw + ".provider");
        target.upstream_model = stringAt(t, "upstream_model", tw, name);
        target.weight = static_cast<uint32_t>(intAt(t, "weight", tw, 1, 1, 1000000));
        r.targets.push_back(std::move(target));
      }
    } else {
      RouteTarget target;
      target.provider = stringAt(m, "provider", where, "", true);
      checkProvider(target.provider, where + ".provider");
      target.upstream_model = stringAt(m, "upstream_model", where, name);
      r.targets.push_back(std::move(target));
    }
    const json& retry = objectAt(m, "retry", where);
    const std::string rw = where + ".retry";
    rejectUnknownKeys(retry, rw, {"attempts", "backoff_base_ms", "backoff_max_ms", "retry_unsafe", "budget_percent",
                                  "min_retry_concurrency"});
    r.retry.budget_percent = static_cast<uint32_t>(intAt(retry, "budget_percent", rw, 20, 0, 100));
    r.retry.min_retry_concurrency = static_cast<uint32_t>(intAt(retry, "min_retry_concurrency", rw, 3, 0, 100000));
    r.retry.attempts = static_cast<uint32_t>(intAt(retry, "attempts", rw, 3, 1, 10));
    r.retry.backoff_base = std::chrono::milliseconds(intAt(retry, "backoff_base_ms", rw, 25, 0, 60000));
    r.retry.backoff_max = std::chrono::milliseconds(intAt(retry, "backoff_max_ms", rw, 250, 0, 600000));
    r.retry.retry_unsafe = boolAt(retry, "retry_unsafe", rw, r.retry.retry_unsafe);
    const json& outlier = objectAt(m, "outlier", where);
    const std::string ow = where + ".outlier";
    rejectUnknownKeys(outlier, ow, {"consecutive_failures", "base_ejection_ms", "max_ejection_ms",
                                    "max_ejection_percent"});
    r.outlier.consecutive_failures = static_cast<uint32_t>(intAt(outlier, "consecutive_failures", ow, 3, 1, 1000));
    r.outlier.base_ejection = std::chrono::milliseconds(intAt(outlier, "base_ejection_ms", ow, 5000, 1, 86400000));
    r.outlier.max_ejection = std::chrono::milliseconds(intAt(outlier, "max_ejection_ms", ow, 300000, 1, 86400000));
    r.outlier.max_ejection_percent = static_cast<uint32_t>(intAt(outlier, "max_ejection_percent", ow, 100, 0, 100));
    r.panic_threshold_percent = static_cast<uint32_t>(intAt(m, "panic_threshold_percent", where, 0, 0, 100));
    r.max_requests_per_target =
        static_cast<uint32_t>(intAt(m, "max_requests_per_target", where, 100000, 1, 10000000));
    const std::string strategy = stringAt(m, "strategy", where, "weighted_round_robin");
    if (strategy == "least_request") {
      r.strategy = BalanceStrategy::kLeastRequest;
    } else if (strategy == "latency") {
      r.strategy = BalanceStrategy::kLatency;
    } else if (strategy != "weighted_round_robin") {
      fail(where + ".strategy", "must be weighted_round_robin, least_request or latency");
    }
    r.timeouts = parseTimeouts(objectAt(m, "timeouts", where), where + ".timeouts");
    r.failover_within = std::chrono::milliseconds(intAt(m, "failover_within_ms", where, 0, 0, 86400000));
    r.fallback_on = parseFallbackOn(m, where);
    if (m.contains("fallbacks")) {
      if (!m["fallbacks"].is_array()) {
        fail(where + ".fallbacks", "must be an array of model names");
      }
      for (const auto& f : m["fallbacks"]) {
        if (!f.is_string() || f.get<std::string>() == name) {
          fail(where + ".fallbacks", "must name other models");
        }
        r.fallbacks.push_back(f.get<std::string>());
      }
    }
    if (m.contains("log_bodies")) {
      r.log_bodies = BodyLogPolicy::parse(m["log_bodies"], where + ".log_bodies");
    }
    cfg.models.emplace(name, std::move(r));
  }
  for (const auto& [name, r] : cfg.models) {
    for (const auto& f : r.fallbacks) {
      if (cfg.models.count(f) == 0) {
        fail("models." + name + ".fallbacks", "names unknown model \"" + f + "\"");
      }
    }
  }

  if (root.contains("data_dir")) {
    cfg.data_dir = resolve(base_dir, stringAt(root, "data_dir", "config", "", true));
  } else {
    const char* xdg = std::getenv("XDG_STATE_HOME");
    const char* home = std::getenv("HOME");
    cfg.data_dir = xdg != nullptr && *xdg != '\0' ? fs::path(xdg) / "switchyard"
                   : home != nullptr && *home != '\0'
                       ? fs::path(home) / ".local" / "state" / "switchyard"
                       : fs::path("/var/lib/switchyard");
  }
  cfg.auth = parseComponents(root, "auth", false, cfg.data_dir);
  cfg.log_sinks = parseComponents(root, "log_sinks", false, cfg.data_dir);
  cfg.analytics = parseComponents(root, "analytics", false, cfg.data_dir);

  const json& delivery = objectAt(root, "delivery", "config");
  rejectUnknownKeys(
      delivery, "delivery",
      {"queue_capacity", "batch_size", "flush_interval_ms", "stop_deadline_ms", "spool"});
  DeliveryConfig& dc = cfg.delivery;
  dc.queue_capacity =
      static_cast<size_t>(intAt(delivery, "queue_capacity", "delivery", 100000, 1, 100000000));
  dc.batch_size = static_cast<size_t>(intAt(delivery, "batch_size", "delivery", 256, 1, 100000));
  dc.flush_interval =
      std::chrono::milliseconds(intAt(delivery, "flush_interval_ms", "delivery", 100, 1, 60000));
  dc.stop_deadline =
      std::chrono::milliseconds(intAt(delivery, "stop_deadline_ms", "delivery", 5000, 0, 600000));
  const json& spool = objectAt(delivery, "spool", "delivery");
  rejectUnknownKeys(spool, "delivery.spool", {"enabled", "dir", "max_bytes", "high_water"});
  dc.spool = boolAt(spool, "enabled", "delivery.spool", dc.spool);
  dc.spool_dir = spool.contains("dir")
                     ? resolve(base_dir, stringAt(spool, "dir", "delivery.spool", "", true))
                     : cfg.data_dir / "spool";
  dc.spool_max_bytes = static_cast<uint64_t>(
      intAt(spool, "max_bytes", "delivery.spool", 1ll << 30, 1024 * 1024, 1ll << 50));
  dc.spool_high_water =
      static_cast<size_t>(intAt(spool, "high_water", "delivery.spool",
                                std::min<int64_t>(10000, dc.queue_capacity), 1, 100000000));

  const json& logging = objectAt(root, "logging", "config");
  rejectUnknownKeys(logging, "logging", {"level"});
  cfg.log_level = stringAt(logging, "level", "logging", "info");
  static const std::set<std::string> kLevels = {"trace", "debug", "info", "warn", "error", "off"};
  if (kLevels.count(cfg.log_level) == 0) {
    fail("logging.level", "must be one of trace, debug, info, warn, error, off");
  }

  cfg.catalog = root.contains("catalog") ? ModelCatalog::load(resolve(base_dir, stringAt(root, "catalog", "config", "")))
                                         : ModelCatalog::builtIn();
  parseStore(root, base_dir, cfg);
  return cfg;
}

GatewayConfig loadConfigFile(const fs::path& file, const fs::path& exe_dir) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw ConfigError("cannot read config file " + file.string());
  }
  std::stringstream ss;
  ss << in.rdbuf();
  fs::path absolute = fs::absolute(file);
  GatewayConfig cfg = parseConfig(ss.str(), absolute.parent_path(), exe_dir);
  cfg.source = absolute;
  return cfg;
}

} // namespace switchyard
