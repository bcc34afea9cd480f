#include "switchyard/server/gateway.h"

#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <condition_variable>
#include <fstream>
#include <sstream>
#include <thread>

#include "admin_handler.h"
#include "ai_proxy.h"
#include "switchyard/http/http_server.h"
#include "switchyard/log/record_dispatcher.h"
#include "switchyard/management/management.h"
#include "switchyard/plugin/plugin_manager.h"
#include "switchyard/upstream/health_checker.h"
#include "switchyard/upstream/upstream_client.h"

namespace switchyard {
namespace fs = std::filesystem;

namespace {

std::string readFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void applyLogLevel(const std::string& level) { spdlog::set_level(spdlog::level::from_str(level)); }

std::vector<ProbeTarget> probeTargetsOf(const Runtime& rt) {
  std::vector<ProbeTarget> out;
  for (const auto& [name, t] : rt.providers) {
    out.push_back(ProbeTarget{name, t->config.base_url, t->api_key, 4, t->config.health_check});
  }
  return out;
}

std::vector<RecordConsumer> consumersOf(const Runtime& rt) {
  std::vector<RecordConsumer> out;
  for (const auto* list : {&rt.log_sinks, &rt.analytics}) {
    for (const auto& n : *list) {
      out.push_back(RecordConsumer{n.config.name, n.instance, {}});
    }
  }
  return out;
}

/// Delivery settings take effect at start; a reload keeps the running dispatcher.
RecordDispatcher::Options dispatcherOptions(const DeliveryConfig& d) {
  RecordDispatcher::Options o;
  o.queue_capacity = d.queue_capacity;
  o.batch_size = d.batch_size;
  o.flush_interval = d.flush_interval;
  o.stop_deadline = d.stop_deadline;
  if (d.spool) {
    o.spool_dir = d.spool_dir;
  }
  o.spool_max_bytes = d.spool_max_bytes;
  o.spool_segment_bytes = std::clamp<uint64_t>(d.spool_max_bytes / 8, 1 << 20, 64ull << 20);
  o.spool_high_water = d.spool_high_water;
  return o;
}

} // namespace

struct Gateway::Impl {
  fs::path config_file;
  std::string config_text;
  GatewayConfigSharedPtr config;
  std::unique_ptr<PluginManager> plugins;
  std::unique_ptr<RecordDispatcher> records;  // made from the config at construction
  UpstreamClientSharedPtr upstream = makeUpstreamClient();
  HealthRegistry health; // outlives runtimes: a reload keeps what is known about targets
  std::unique_ptr<HealthChecker> checker;
  std::atomic<bool> draining{false};

  mutable std::mutex runtime_mutex;
  RuntimeSharedPtr runtime;
  std::string last_reload_error;

  std::unique_ptr<ManagementPlane> management; // when a store is configured
  std::unique_ptr<AiProxy> proxy;
  std::unique_ptr<AdminHandler> admin;
  std::unique_ptr<HttpServer> data_server;
  std::unique_ptr<HttpServer> admin_server;

  std::mutex watcher_mutex; // one watcher pass at a time (the loader thread's work)
  std::condition_variable watcher_cv;
  bool stopping = false;
  std::thread watcher;
  bool shut_down = false;

  RuntimeSharedPtr currentRuntime() const {
    std::lock_guard lock(runtime_mutex);
    return runtime;
  }

  void setReloadError(std::string e) {
    std::lock_guard lock(runtime_mutex);
    last_reload_error = std::move(e);
  }

  /// Builds and publishes a runtime from the current config and plugins. Control plane.
  bool rebuild() {
    std::string error;
    RuntimeSharedPtr previous = currentRuntime();
    RuntimeSharedPtr next = buildRuntime(config, plugins->current(), previous.get(), health, &error);
    if (!next) {
      spdlog::error("reload refused, the previous configuration keeps serving: {}", error);
      setReloadError(error);
      return false;
    }
    {
      std::lock_guard lock(runtime_mutex);
      runtime = next;
      last_reload_error.clear();
    }
    records->setConsumers(consumersOf(*next));
    checker->setTargets(probeTargetsOf(*next));
    return true;
  }

  void pollOnce() {
    std::lock_guard pass(watcher_mutex);
    bool changed = false;
    std::string text = readFile(config_file);
    if (!text.empty() && text != config_text) {
      config_text = text;
      try {
        auto next = std::make_shared<GatewayConfig>(loadConfigFile(config_file, executableDir()));
        if (next->server.listen.toString() != config->server.listen.toString() ||
            next->admin.listen.toString() != config->admin.listen.toString()) {
          spdlog::warn("listen addresses changed in {}; they take effect at the next restart", config_file.string());
        }
        applyLogLevel(next->log_level);
        plugins->setDirectories(next->plugins.dirs, next->plugins.cache_dir);
        config = std::move(next);
        changed = true;
        spdlog::info("configuration {} changed; reloading", config_file.string());
      } catch (const std::exception& e) {
        spdlog::error("configuration {} is invalid, the previous one keeps serving: {}", config_file.string(),
                      e.what());
        setReloadError(e.what());
      }
    }
    changed = plugins->scan() || changed;
    if (changed) {
      rebuild();
    }
    PluginLoader::reapDeferred();
  }

  void watch() {
    std::unique_lock lock(watcher_mutex);
    while (!stopping) {
      watcher_cv.wait_for(lock, std::chrono::milliseconds(config->plugins.poll_interval_ms));
      if (stopping) {
        break;
      }
      lock.unlock();
      try {
        pollOnce();
      } catch (const std::exception& e) {
        spdlog::error("watcher pass failed: {}", e.what());
      }
      lock.lock();
    }
  }
};

Gateway::Gateway(const fs::path& config_file) : impl_(std::make_unique<Impl>()) {
  impl_->config_file = fs::absolute(config_file);
  impl_->config_text = readFile(impl_->config_file);
  impl_->config = std::make_shared<GatewayConfig>(loadConfigFile(impl_->config_file, executableDir()));
  applyLogLevel(impl_->config->log_level);
  impl_->records = std::make_unique<RecordDispatcher>(dispatcherOptions(impl_->config->delivery));
}

Gateway::~Gateway() {
  shutdown();
  impl_->records->setConsumers({});
  impl_->runtime.reset();
  impl_->plugins.reset();
  PluginLoader::reapDeferred();
}

void Gateway::start() {
  Impl& m = *impl_;
  m.plugins = std::make_unique<PluginManager>(m.config->plugins.dirs, m.config->plugins.cache_dir);
  m.plugins->scan(/*initial=*/true);
  std::string error;
  m.runtime = buildRuntime(m.config, m.plugins->current(), nullptr, m.health, &error);
  if (!m.runtime) {
    throw std::runtime_error(error);
  }
  m.records->setConsumers(consumersOf(*m.runtime));
  m.checker = std::make_unique<HealthChecker>(*m.upstream, m.health);
  m.checker->setTargets(probeTargetsOf(*m.runtime));

  m.proxy = std::make_unique<AiProxy>([&m] { return m.currentRuntime(); }, *m.upstream, *m.records,
                                      m.draining);
  if (m.config->store.enabled) {
    m.management = std::make_unique<ManagementPlane>(*m.config, [&m](const std::string& model) {
      // The running config, not the one at start: reloads add and remove routes.
      RuntimeSharedPtr rt = m.currentRuntime();
      return rt != nullptr && rt->config->models.count(model) != 0;
    });
    m.proxy->setManagement(m.management.get());
  }
  AdminState state;
  state.runtime = [&m] { return m.currentRuntime(); };
  state.plugins = [&m] { return m.plugins->current(); };
  state.last_reload_error = [&m] {
    std::lock_guard lock(m.runtime_mutex);
    return m.last_reload_error;
  };
  state.open_connections = [&m] { return m.data_server->openConnections(); };
  state.refused_connections = [&m] { return m.data_server->refusedConnections(); };
  state.active_requests = [&m] { return m.data_server->activeRequests(); };
  state.records = m.records.get();
  state.health = &m.health;
  if (m.management) {
    state.management = [&m](const HttpRequest& req, HttpResponseWriter& resp) {
      return m.management->handleAdmin(req, resp);
    };
  }
  m.admin = std::make_unique<AdminHandler>(std::move(state));

  const ServerConfig& s = m.config->server;
  HttpServerOptions data{.name = "sy-http",
                         .listen = s.listen,
                         .max_connections = s.max_connections,
                         .keep_alive_timeout_s = s.keep_alive_timeout_s,
                         .max_keep_alive_requests = s.max_keep_alive_requests,
                         .thread_stack_kb = s.thread_stack_kb,
                         .listen_backlog = s.listen_backlog,
                         .min_threads = s.min_threads,
                         .worker_nice = s.worker_nice,
                         .reuse_port = s.reuse_port,
                         .max_body_bytes = s.max_body_bytes};
  HttpServerOptions admin{.name = "sy-admin",
                          .listen = m.config->admin.listen,
                          .max_connections = 64,
                          .request_timeout_s = 30,
                          .listen_backlog = 64,
                          .max_body_bytes = 1024 * 1024};
  m.data_server = std::make_unique<HttpServer>(data, *m.proxy);
  m.admin_server = std::make_unique<HttpServer>(admin, *m.admin);
  m.data_server->start();
  if (m.management) {
    m.management->setDataPort(m.data_server->port());
  }
  m.admin_server->start();
  m.watcher = std::thread([&m] { m.watch(); });
  spdlog::info("switchyard listening on {}:{} (admin {}:{}), {} providers, {} models, {} plugins",
               s.listen.host, m.data_server->port(), m.config->admin.listen.host, m.admin_server->port(),
               m.runtime->providers.size(), m.config->models.size(), m.plugins->current()->plugins.size());
}

uint16_t Gateway::port() const { return impl_->data_server->port(); }
uint16_t Gateway::adminPort() const { return impl_->admin_server->port(); }
RuntimeSharedPtr Gateway::runtime() const { return impl_->currentRuntime(); }
void Gateway::pollNowForTest() { impl_->pollOnce(); }

void Gateway::shutdown() {
  Impl& m = *impl_;
  if (m.shut_down) {
    return;
  }
  m.shut_down = true;
  m.draining = true;
  if (m.data_server) {
    m.data_server->stopAccepting();
    const auto deadline = std::chrono::seconds(m.config->server.drain_timeout_s);
    if (!m.data_server->waitIdle(deadline)) {
      spdlog::warn("drain deadline of {} s passed with {} connections open; closing them",
                   m.config->server.drain_timeout_s, m.data_server->openConnections());
    }
    m.data_server.reset();
  }
  {
    std::lock_guard lock(m.watcher_mutex);
    m.stopping = true;
  }
  m.watcher_cv.notify_all();
  if (m.watcher.joinable()) {
    m.watcher.join();
  }
  m.admin_server.reset();
  m.management.reset();
  if (m.checker) {
    m.checker->stop();
  }
  if (!m.records->flush(std::chrono::seconds(10))) {
    spdlog::warn("some call records could not be delivered before shutdown");
  }
}

std::string checkConfigFile(const fs::path& config_file) {
  try {
    GatewayConfig cfg = loadConfigFile(config_file, executableDir());
    if (cfg.store.enabled) {
      storePassword(cfg.store);  // the variable it names must be set where the gateway runs
    }
    char tmpl[] = "/tmp/switchyard-check-XXXXXX";
    const char* dir = ::mkdtemp(tmpl);
    if (dir == nullptr) {
      return "cannot create a scratch directory";
    }
    std::string error;
    {
      PluginManager plugins(cfg.plugins.dirs, dir);
      plugins.scan(/*initial=*/true);
      auto config = std::make_shared<GatewayConfig>(cfg);
      HealthRegistry health;
      RuntimeSharedPtr rt = buildRuntime(config, plugins.current(), nullptr, health, &error);
      for (const auto& e : plugins.current()->errors) {
        spdlog::warn("plugin {} refused: {}", e.path, e.error);
      }
    }
    PluginLoader::reapDeferred();
    std::error_code ec;
    fs::remove_all(dir, ec);
    return error;
  } catch (const std::exception& e) {
    return e.what();
  }
}

} // namespace switchyard
