/// @file switchyard/testing/fake_host.hpp
/// @brief A fake gateway host for plugin tests: loads a plugin library, drives its hooks and
/// records everything it hands back.
///
/// Header-only C++17 (POSIX dlopen); link the test with ${CMAKE_DL_LIBS}. Typical use:
///
///   switchyard::testing::FakeHost host;
///   switchyard::testing::LoadedPlugin plugin(PATH_TO_SO, host);
///   auto created = plugin.createProvider("openai", "{}");
///   ASSERT_TRUE(created.ok()) << created.output.error.message;
///   switchyard::testing::FakeOutput out;
///   created.instance->buildRequest(call, out);
///
/// Lifetimes: the FakeHost must outlive the LoadedPlugin, which must outlive every instance
/// and stream it created. The host callbacks `log`, `metric` and the clocks carry no context
/// pointer, so they reach the most recently constructed live FakeHost: use one at a time.
#pragma once

#include <dlfcn.h>
#include <strings.h>
#include <switchyard/abi.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard {
namespace testing {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

inline std::string_view toView(sy_str s) {
  return s.len == 0 ? std::string_view{} : std::string_view{s.ptr, s.len};
}
inline std::string toString(sy_str s) {
  return std::string(toView(s));
}
inline sy_str toStr(std::string_view v) {
  return sy_str{v.data(), v.size()};
}

inline bool equalsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && (a.empty() || strncasecmp(a.data(), b.data(), a.size()) == 0);
}

/// What set_error recorded (the last call wins; `count` tells how many there were).
struct FakeError {
  uint32_t status = 0;
  std::string type;
  std::string code;
  std::string message;
  bool set = false;
  int count = 0;
};

struct FakeEvent {
  sy_event type = 0;
  std::string payload;
};

struct FakePrincipal {
  std::string tenant;
  std::string app;
  std::string key_id;
  bool set = false;
};

/// The output channel of one hook call. The `sy_out_host_t*` a hook receives is a pointer to
/// one of these. Not synchronized: use one FakeOutput per concurrent call.
struct FakeOutput {
  FakeError error;
  std::string method;
  std::string path;
  HeaderList headers;
  std::string body;
  std::vector<FakeEvent> events;
  FakePrincipal principal;
  HeaderList metadata;
  /// Events emit() refuses with SY_ERR_INVALID_ARG, to test how a plugin copes.
  std::vector<sy_event> refused_events;
  /// Parameters the plugin reported through note_dropped_param (ABI 1.1), in call order.
  std::vector<std::string> dropped_params;

  sy_out_host_t* handle() { return reinterpret_cast<sy_out_host_t*>(this); }
  static FakeOutput& from(sy_out_host_t* out) { return *reinterpret_cast<FakeOutput*>(out); }

  /// Values of every request header with this name (case-insensitive), in order.
  std::vector<std::string> headerValues(std::string_view name) const {
    std::vector<std::string> values;
    for (const auto& [n, v] : headers) {
      if (equalsIgnoreCase(n, name)) values.push_back(v);
    }
    return values;
  }
  /// The first request header with this name, if any.
  std::optional<std::string> header(std::string_view name) const {
    auto values = headerValues(name);
    if (values.empty()) return std::nullopt;
    return values.front();
  }
  /// Payloads of the emitted events of one type, in order.
  std::vector<std::string> payloads(sy_event type) const {
    std::vector<std::string> out;
    for (const auto& e : events) {
      if (e.type == type) out.push_back(e.payload);
    }
    return out;
  }
  size_t count(sy_event type) const {
    size_t n = 0;
    for (const auto& e : events) n += e.type == type ? 1 : 0;
    return n;
  }
  /// True when `needle` appears in anything recorded here (for "no secret leaks" checks).
  bool contains(std::string_view needle) const {
    auto has = [&](std::string_view hay) { return hay.find(needle) != std::string_view::npos; };
    if (has(error.type) || has(error.code) || has(error.message) || has(method) || has(path) ||
        has(body) || has(principal.tenant) || has(principal.app) || has(principal.key_id)) {
      return true;
    }
    for (const auto& [n, v] : metadata) {
      if (has(n) || has(v)) return true;
    }
    for (const auto& e : events) {
      if (has(e.payload)) return true;
    }
    return false;
  }
  void clear() { *this = FakeOutput{}; }
};

struct LogLine {
  uint32_t level = 0;
  std::string source;
  std::string message;
};

struct MetricSample {
  uint32_t type = 0;
  std::string name;
  double value = 0;
};

/// A complete sy_host_api whose callbacks record into FakeOutput objects and into this host.
class FakeHost {
 public:
  FakeHost() : previous_(current()) {
    api_.struct_size = sizeof(sy_host_api);
    api_.abi_major = SY_ABI_MAJOR;
    api_.abi_minor = SY_ABI_MINOR;
    api_.log = &FakeHost::onLog;
    api_.log_enabled = &FakeHost::onLogEnabled;
    api_.now_unix_ms = &FakeHost::onNowUnixMs;
    api_.monotonic_ns = &FakeHost::onMonotonicNs;
    api_.metric = &FakeHost::onMetric;
    api_.set_error = &FakeHost::onSetError;
    api_.request_set_method = &FakeHost::onSetMethod;
    api_.request_set_path = &FakeHost::onSetPath;
    api_.request_add_header = &FakeHost::onAddHeader;
    api_.request_append_body = &FakeHost::onAppendBody;
    api_.emit = &FakeHost::onEmit;
    api_.principal_set = &FakeHost::onPrincipalSet;
    api_.principal_add_metadata = &FakeHost::onAddMetadata;
    api_.note_dropped_param = &FakeHost::onNoteDroppedParam;
    current() = this;
  }
  ~FakeHost() { current() = previous_; }
  FakeHost(const FakeHost&) = delete;
  FakeHost& operator=(const FakeHost&) = delete;

  const sy_host_api* api() const { return &api_; }

  /// Messages below this level are dropped and log_enabled() says false. Default: all.
  void setLogLevel(uint32_t level) {
    std::lock_guard<std::mutex> lock(mutex_);
    log_level_ = level;
  }
  /// Pins the wall clock (otherwise the real clock).
  void setNowUnixMs(int64_t ms) {
    std::lock_guard<std::mutex> lock(mutex_);
    now_unix_ms_ = ms;
  }

  std::vector<LogLine> logs() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return logs_;
  }
  std::vector<MetricSample> metrics() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return metrics_;
  }
  /// True when any log line's source or message contains `needle`.
  bool logsContain(std::string_view needle) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& l : logs_) {
      if (l.message.find(needle) != std::string::npos ||
          l.source.find(needle) != std::string::npos) {
        return true;
      }
    }
    return false;
  }
  void clearRecords() {
    std::lock_guard<std::mutex> lock(mutex_);
    logs_.clear();
    metrics_.clear();
  }

 private:
  static FakeHost*& current() {
    static FakeHost* host = nullptr;
    return host;
  }

  static void onLog(uint32_t level, sy_str source, sy_str message) {
    if (FakeHost* h = current()) {
      std::lock_guard<std::mutex> lock(h->mutex_);
      if (level >= h->log_level_) {
        h->logs_.push_back(LogLine{level, toString(source), toString(message)});
      }
    }
  }
  static bool onLogEnabled(uint32_t level) {
    FakeHost* h = current();
    if (h == nullptr) return false;
    std::lock_guard<std::mutex> lock(h->mutex_);
    return level >= h->log_level_;
  }
  static int64_t onNowUnixMs() {
    if (FakeHost* h = current()) {
      std::lock_guard<std::mutex> lock(h->mutex_);
      if (h->now_unix_ms_) return *h->now_unix_ms_;
    }
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
  static uint64_t onMonotonicNs() {
    return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  }
  static void onMetric(uint32_t type, sy_str name, double value) {
    if (FakeHost* h = current()) {
      std::lock_guard<std::mutex> lock(h->mutex_);
      h->metrics_.push_back(MetricSample{type, toString(name), value});
    }
  }
  static void onSetError(sy_out_host_t* out, uint32_t status, sy_str type, sy_str code,
                         sy_str message) {
    FakeError& e = FakeOutput::from(out).error;
    e.status = status;
    e.type = toString(type);
    e.code = toString(code);
    e.message = toString(message);
    e.set = true;
    ++e.count;
  }
  static void onSetMethod(sy_out_host_t* out, sy_str method) {
    FakeOutput::from(out).method = toString(method);
  }
  static void onSetPath(sy_out_host_t* out, sy_str path) {
    FakeOutput::from(out).path = toString(path);
  }
  static void onAddHeader(sy_out_host_t* out, sy_str name, sy_str value) {
    FakeOutput::from(out).headers.emplace_back(toString(name), toString(value));
  }
  static void onAppendBody(sy_out_host_t* out, sy_str bytes) {
    FakeOutput::from(out).body.append(toView(bytes));
  }
  static sy_status onEmit(sy_out_host_t* out, sy_event event, sy_str payload) {
    FakeOutput& o = FakeOutput::from(out);
    for (sy_event refused : o.refused_events) {
      if (refused == event) return SY_ERR_INVALID_ARG;
    }
    o.events.push_back(FakeEvent{event, toString(payload)});
    return SY_OK;
  }
  static void onPrincipalSet(sy_out_host_t* out, sy_str tenant, sy_str app, sy_str key_id) {
    FakePrincipal& p = FakeOutput::from(out).principal;
    p.tenant = toString(tenant);
    p.app = toString(app);
    p.key_id = toString(key_id);
    p.set = true;
  }
  static void onAddMetadata(sy_out_host_t* out, sy_str key, sy_str value) {
    FakeOutput::from(out).metadata.emplace_back(toString(key), toString(value));
  }
  static void onNoteDroppedParam(sy_out_host_t* out, sy_str name) {
    FakeOutput::from(out).dropped_params.push_back(toString(name));
  }

  sy_host_api api_{};
  FakeHost* previous_;
  mutable std::mutex mutex_;
  uint32_t log_level_ = SY_LOG_TRACE;
  std::optional<int64_t> now_unix_ms_;
  std::vector<LogLine> logs_;
  std::vector<MetricSample> metrics_;
};

namespace detail {

/// The hook `member` of a component table, or nullptr when the table is too short to hold it
/// (the ABI's rule: fields beyond struct_size read as NULL).
template <class Table, class Fn>
Fn hook(const Table* table, Fn Table::*member) {
  if (table == nullptr) return nullptr;
  const auto offset = static_cast<size_t>(reinterpret_cast<const char*>(&(table->*member)) -
                                          reinterpret_cast<const char*>(table));
  return offset + sizeof(Fn) <= table->struct_size ? table->*member : nullptr;
}

/// sy_header views over an owning list; valid while the list lives unchanged.
inline std::vector<sy_header> headerViews(const HeaderList& headers) {
  std::vector<sy_header> views;
  views.reserve(headers.size());
  for (const auto& [n, v] : headers) views.push_back(sy_header{toStr(n), toStr(v)});
  return views;
}

}  // namespace detail

/// An owning sy_provider_request.
struct ProviderCall {
  sy_operation operation = SY_OP_CHAT_COMPLETIONS;
  bool stream = false;
  std::string request_id = "req-test-1";
  std::string body;
  std::string public_model;
  std::string upstream_model;
  std::string base_url = "http://127.0.0.1:9/v1";
  std::string api_key;

  sy_provider_request view() const {
    sy_provider_request r{};
    r.struct_size = sizeof(r);
    r.operation = operation;
    r.stream = stream;
    r.request_id = toStr(request_id);
    r.body = toStr(body);
    r.public_model = toStr(public_model);
    r.upstream_model = toStr(upstream_model);
    r.base_url = toStr(base_url);
    r.api_key = toStr(api_key);
    return r;
  }
};

/// An owning sy_upstream_response.
struct UpstreamAnswer {
  uint32_t status = 200;
  HeaderList headers;
  std::string body;
};

/// An owning sy_http_request.
struct HttpCall {
  std::string method = "POST";
  std::string path = "/v1/chat/completions";
  std::string peer_address = "127.0.0.1:5555";
  HeaderList headers;
};

/// A plugin-owned instance handle, destroyed through the plugin's destroy hook.
template <class Table>
class Instance {
 public:
  Instance(const Table* table, void* handle) : table_(table), handle_(handle) {}
  ~Instance() {
    if (auto destroy = detail::hook(table_, &Table::destroy); destroy && handle_) destroy(handle_);
  }
  Instance(const Instance&) = delete;
  Instance& operator=(const Instance&) = delete;

  const Table& table() const { return *table_; }
  void* handle() const { return handle_; }

 protected:
  const Table* table_;
  void* handle_;
};

/// One provider stream; stream_destroy runs in the destructor.
class ProviderStreamHandle {
 public:
  ProviderStreamHandle(const sy_provider_vtable* table, void* stream)
      : table_(table), stream_(stream) {}
  ~ProviderStreamHandle() {
    if (auto destroy = detail::hook(table_, &sy_provider_vtable::stream_destroy);
        destroy && stream_) {
      destroy(stream_);
    }
  }
  ProviderStreamHandle(const ProviderStreamHandle&) = delete;
  ProviderStreamHandle& operator=(const ProviderStreamHandle&) = delete;

  sy_status data(std::string_view bytes, FakeOutput& out) {
    auto fn = detail::hook(table_, &sy_provider_vtable::stream_data);
    return fn ? fn(stream_, toStr(bytes), out.handle()) : SY_ERR_UNSUPPORTED;
  }
  sy_status end(FakeOutput& out) {
    auto fn = detail::hook(table_, &sy_provider_vtable::stream_end);
    return fn ? fn(stream_, out.handle()) : SY_ERR_UNSUPPORTED;
  }

 private:
  const sy_provider_vtable* table_;
  void* stream_;
};

class ProviderInstance : public Instance<sy_provider_vtable> {
 public:
  using Instance::Instance;

  sy_status buildRequest(const ProviderCall& call, FakeOutput& out) const {
    auto fn = detail::hook(table_, &sy_provider_vtable::build_request);
    const sy_provider_request r = call.view();
    return fn ? fn(handle_, &r, out.handle()) : SY_ERR_UNSUPPORTED;
  }
  sy_status parseResponse(const ProviderCall& call, const UpstreamAnswer& answer,
                          FakeOutput& out) const {
    auto fn = detail::hook(table_, &sy_provider_vtable::parse_response);
    const sy_provider_request r = call.view();
    const auto headers = detail::headerViews(answer.headers);
    const sy_upstream_response resp = response(answer, headers, true);
    return fn ? fn(handle_, &r, &resp, out.handle()) : SY_ERR_UNSUPPORTED;
  }
  /// stream_open; on failure returns nullptr and stores the status in `*status` if given.
  std::unique_ptr<ProviderStreamHandle> openStream(const ProviderCall& call,
                                                   const UpstreamAnswer& answer,
                                                   sy_status* status = nullptr) const {
    auto fn = detail::hook(table_, &sy_provider_vtable::stream_open);
    const sy_provider_request r = call.view();
    const auto headers = detail::headerViews(answer.headers);
    const sy_upstream_response resp = response(answer, headers, false);
    void* stream = nullptr;
    const sy_status s = fn ? fn(handle_, &r, &resp, &stream) : SY_ERR_UNSUPPORTED;
    if (status != nullptr) *status = s;
    if (s != SY_OK || stream == nullptr) return nullptr;
    return std::make_unique<ProviderStreamHandle>(table_, stream);
  }

 private:
  static sy_upstream_response response(const UpstreamAnswer& answer,
                                       const std::vector<sy_header>& headers, bool with_body) {
    sy_upstream_response resp{};
    resp.struct_size = sizeof(resp);
    resp.status = answer.status;
    resp.headers = headers.data();
    resp.header_count = headers.size();
    resp.body = with_body ? toStr(answer.body) : sy_str{nullptr, 0};
    return resp;
  }
};

class AuthInstance : public Instance<sy_auth_vtable> {
 public:
  using Instance::Instance;

  sy_status authenticate(const HttpCall& call, FakeOutput& out) const {
    auto fn = detail::hook(table_, &sy_auth_vtable::authenticate);
    const auto headers = detail::headerViews(call.headers);
    sy_http_request r{};
    r.struct_size = sizeof(r);
    r.method = toStr(call.method);
    r.path = toStr(call.path);
    r.peer_address = toStr(call.peer_address);
    r.headers = headers.data();
    r.header_count = headers.size();
    return fn ? fn(handle_, &r, out.handle()) : SY_ERR_UNSUPPORTED;
  }
};

class LogSinkInstance : public Instance<sy_log_sink_vtable> {
 public:
  using Instance::Instance;

  sy_status writeBatch(const std::vector<std::string>& records, FakeOutput& out) const {
    auto fn = detail::hook(table_, &sy_log_sink_vtable::write_batch);
    std::vector<sy_str> views;
    views.reserve(records.size());
    for (const auto& r : records) views.push_back(toStr(r));
    return fn ? fn(handle_, views.data(), views.size(), out.handle()) : SY_ERR_UNSUPPORTED;
  }
  sy_status flush() const {
    auto fn = detail::hook(table_, &sy_log_sink_vtable::flush);
    return fn ? fn(handle_) : SY_ERR_UNSUPPORTED;
  }
};

class AnalyticsInstance : public Instance<sy_analytics_vtable> {
 public:
  using Instance::Instance;

  void observe(const std::vector<std::string>& records) const {
    auto fn = detail::hook(table_, &sy_analytics_vtable::observe);
    std::vector<sy_str> views;
    views.reserve(records.size());
    for (const auto& r : records) views.push_back(toStr(r));
    if (fn) fn(handle_, views.data(), views.size());
  }
  sy_status query(std::string_view query_json, FakeOutput& out) const {
    auto fn = detail::hook(table_, &sy_analytics_vtable::query);
    return fn ? fn(handle_, toStr(query_json), out.handle()) : SY_ERR_UNSUPPORTED;
  }
};

/// What create() produced: the instance on success, otherwise the status and recorded error.
template <class T>
struct Created {
  sy_status status = SY_ERR_INTERNAL;
  FakeOutput output;
  std::unique_ptr<T> instance;

  bool ok() const { return status == SY_OK && instance != nullptr; }
};

/// A plugin library loaded the way the gateway loads it, initialized against a FakeHost.
class LoadedPlugin {
 public:
  /// Throws std::runtime_error when the library cannot be loaded or refuses this ABI.
  LoadedPlugin(const std::string& path, FakeHost& host) : host_(host) {
    handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle_ == nullptr) {
      const char* why = dlerror();
      throw std::runtime_error("dlopen " + path + ": " + (why ? why : "unknown error"));
    }
    entry_ = reinterpret_cast<sy_plugin_entry_fn>(dlsym(handle_, SY_PLUGIN_ENTRY_SYMBOL));
    if (entry_ == nullptr) {
      fail("no " SY_PLUGIN_ENTRY_SYMBOL " symbol in " + path);
    }
    info_ = entry_(SY_ABI_MAJOR, SY_ABI_MINOR);
    if (info_ == nullptr) {
      fail(path + " refused ABI " + std::to_string(SY_ABI_MAJOR) + "." +
           std::to_string(SY_ABI_MINOR));
    }
    if (info_->abi_major != SY_ABI_MAJOR || info_->abi_minor > SY_ABI_MINOR) {
      fail(path + " was built for an incompatible ABI");
    }
    if (info_->init != nullptr) {
      const sy_status s = info_->init(host_.api(), &state_);
      if (s != SY_OK) fail(path + " init failed with status " + std::to_string(s));
    }
  }
  ~LoadedPlugin() {
    if (info_ != nullptr && info_->shutdown != nullptr) info_->shutdown(state_);
    if (handle_ != nullptr) dlclose(handle_);
  }
  LoadedPlugin(const LoadedPlugin&) = delete;
  LoadedPlugin& operator=(const LoadedPlugin&) = delete;

  const sy_plugin_info& info() const { return *info_; }
  sy_plugin_entry_fn entry() const { return entry_; }
  void* state() const { return state_; }

  /// The component of this kind and name, or nullptr.
  const sy_component* find(sy_kind kind, std::string_view name) const {
    for (size_t i = 0; i < info_->component_count; ++i) {
      const sy_component& c = info_->components[i];
      if (c.kind == kind && toView(c.name) == name) return &c;
    }
    return nullptr;
  }

  Created<ProviderInstance> createProvider(std::string_view name, std::string_view config) {
    return create<ProviderInstance, sy_provider_vtable>(SY_KIND_PROVIDER, name, config);
  }
  Created<AuthInstance> createAuth(std::string_view name, std::string_view config) {
    return create<AuthInstance, sy_auth_vtable>(SY_KIND_AUTH, name, config);
  }
  Created<LogSinkInstance> createLogSink(std::string_view name, std::string_view config) {
    return create<LogSinkInstance, sy_log_sink_vtable>(SY_KIND_LOG_SINK, name, config);
  }
  Created<AnalyticsInstance> createAnalytics(std::string_view name, std::string_view config) {
    return create<AnalyticsInstance, sy_analytics_vtable>(SY_KIND_ANALYTICS, name, config);
  }

 private:
  [[noreturn]] void fail(const std::string& why) {
    dlclose(handle_);
    handle_ = nullptr;
    throw std::runtime_error(why);
  }

  template <class T, class Table>
  Created<T> create(sy_kind kind, std::string_view name, std::string_view config) {
    Created<T> result;
    const sy_component* component = find(kind, name);
    if (component == nullptr || component->vtable == nullptr) {
      result.status = SY_ERR_UNSUPPORTED;
      result.output.error.message = "no such component: " + std::string(name);
      return result;
    }
    const auto* table = static_cast<const Table*>(component->vtable);
    auto fn = detail::hook(table, &Table::create);
    if (fn == nullptr) {
      result.status = SY_ERR_UNSUPPORTED;
      result.output.error.message = "component has no create hook";
      return result;
    }
    void* handle = nullptr;
    result.status = fn(state_, toStr(config), result.output.handle(), &handle);
    if (handle != nullptr) {
      // Owned even on failure, so a plugin that returns both an error and an instance does not
      // leak it.
      result.instance = std::make_unique<T>(table, handle);
      if (result.status != SY_OK) result.instance.reset();
    }
    return result;
  }

  FakeHost& host_;
  void* handle_ = nullptr;
  sy_plugin_entry_fn entry_ = nullptr;
  const sy_plugin_info* info_ = nullptr;
  void* state_ = nullptr;
};

}  // namespace testing
}  // namespace switchyard
