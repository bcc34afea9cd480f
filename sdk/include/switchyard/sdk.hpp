/// @file switchyard/sdk.hpp
/// @brief Header-only C++ layer over the C plugin ABI: base classes, a panic barrier, and
/// the SY_PLUGIN registration macro.
///
/// Everything here is compiled into the plugin, never into the core, so none of these C++
/// types crosses the boundary. Every entry point the host calls is wrapped in try/catch:
/// an exception becomes an error result, never an unwind into the host.
#pragma once

#include <switchyard/abi.h>

#include <cstddef>
#include <cstring>
#include <strings.h>
#include <exception>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

// Hidden visibility keeps each plugin's copy of these inline variables private to its own
// library (no STB_GNU_UNIQUE sharing between plugins, so dlclose really unloads).
namespace switchyard {
namespace sdk __attribute__((visibility("hidden"))) {

inline std::string_view view(sy_str s) noexcept {
  return s.len == 0 ? std::string_view{} : std::string_view{s.ptr, s.len};
}
inline sy_str str(std::string_view v) noexcept { return sy_str{v.data(), v.size()}; }

/// Thrown inside a plugin to fail the current call with a client-visible OpenAI error.
struct Error : std::exception {
  Error(uint32_t status_in, std::string type_in, std::string code_in, std::string message_in)
      : status(status_in), type(std::move(type_in)), code(std::move(code_in)),
        message(std::move(message_in)) {}
  const char* what() const noexcept override { return message.c_str(); }
  uint32_t status;
  std::string type;
  std::string code;
  std::string message;
};

/// A 400 invalid_request_error, the common case for bad input.
inline Error invalidRequest(std::string message, std::string code = "invalid_request") {
  return Error(400, "invalid_request_error", std::move(code), std::move(message));
}

/// The host services, set once per loaded copy of the plugin by init.
class Host {
public:
  static const sy_host_api* api() noexcept { return api_; }
  static void setApi(const sy_host_api* api) noexcept { api_ = api; }

  static void log(uint32_t level, std::string_view source, std::string_view message) noexcept {
    if (api_ != nullptr && api_->log != nullptr) {
      api_->log(level, str(source), str(message));
    }
  }
  static bool logEnabled(uint32_t level) noexcept {
    return api_ != nullptr && api_->log_enabled != nullptr && api_->log_enabled(level);
  }
  static int64_t nowUnixMs() noexcept {
    return api_ != nullptr && api_->now_unix_ms != nullptr ? api_->now_unix_ms() : 0;
  }
  static uint64_t monotonicNs() noexcept {
    return api_ != nullptr && api_->monotonic_ns != nullptr ? api_->monotonic_ns() : 0;
  }
  static void metric(uint32_t type, std::string_view name, double value) noexcept {
    if (api_ != nullptr && api_->metric != nullptr) {
      api_->metric(type, str(name), value);
    }
  }

private:
  static inline const sy_host_api* api_ = nullptr;
};

/// The output channel of one hook call; every method copies on the host side.
class Output {
public:
  explicit Output(sy_out_host_t* out) noexcept : out_(out) {}

  void setError(uint32_t status, std::string_view type, std::string_view code,
                std::string_view message) const noexcept {
    if (auto* a = Host::api(); a != nullptr && a->set_error != nullptr) {
      a->set_error(out_, status, str(type), str(code), str(message));
    }
  }
  void setError(const Error& e) const noexcept { setError(e.status, e.type, e.code, e.message); }
  void setMethod(std::string_view method) const noexcept { call(&sy_host_api::request_set_method, method); }
  void setPath(std::string_view path) const noexcept { call(&sy_host_api::request_set_path, path); }
  void appendBody(std::string_view bytes) const noexcept {
    call(&sy_host_api::request_append_body, bytes);
  }
  void addHeader(std::string_view name, std::string_view value) const noexcept {
    if (auto* a = Host::api(); a != nullptr && a->request_add_header != nullptr) {
      a->request_add_header(out_, str(name), str(value));
    }
  }
  bool emit(sy_event event, std::string_view payload = {}) const noexcept {
    auto* a = Host::api();
    return a != nullptr && a->emit != nullptr && a->emit(out_, event, str(payload)) == SY_OK;
  }
  void setPrincipal(std::string_view tenant, std::string_view app,
                    std::string_view key_id) const noexcept {
    if (auto* a = Host::api(); a != nullptr && a->principal_set != nullptr) {
      a->principal_set(out_, str(tenant), str(app), str(key_id));
    }
  }
  void addMetadata(std::string_view key, std::string_view value) const noexcept {
    if (auto* a = Host::api(); a != nullptr && a->principal_add_metadata != nullptr) {
      a->principal_add_metadata(out_, str(key), str(value));
    }
  }
  /// build_request: the client's parameter `name` is not honoured by the request built (ABI 1.1).
  /// The gateway lists it in the `x-switchyard-dropped-params` response header. On a 1.0 host,
  /// which has no such service, this does nothing.
  void noteDroppedParam(std::string_view name) const noexcept {
    if (auto fn = hostFunction<&sy_host_api::note_dropped_param>(
            offsetof(sy_host_api, note_dropped_param));
        fn != nullptr) {
      fn(out_, str(name));
    }
  }
  sy_out_host_t* raw() const noexcept { return out_; }

private:
 // A host function added in a minor release: present only when the host's table is long
 // enough to hold it (the ABI's struct_size rule) and the host filled it in.
 template <auto Member>
 static auto hostFunction(size_t offset) noexcept
     -> std::remove_reference_t<decltype(std::declval<sy_host_api>().*Member)> {
   const sy_host_api* a = Host::api();
   if (a == nullptr || a->struct_size < offset + sizeof(void*)) {
     return nullptr;
   }
   return a->*Member;
 }
  void call(void (*sy_host_api::*fn)(sy_out_host_t*, sy_str), std::string_view v) const noexcept {
    if (auto* a = Host::api(); a != nullptr && a->*fn != nullptr) {
      (a->*fn)(out_, str(v));
    }
  }
  sy_out_host_t* out_;
};

/// Headers as a plugin reads them (views valid for the call).
struct Headers {
  const sy_header* items = nullptr;
  size_t count = 0;
  /// Case-insensitive lookup of the first header with this name.
  std::string_view get(std::string_view name) const noexcept {
    for (size_t i = 0; i < count; ++i) {
      std::string_view n = view(items[i].name);
      if (n.size() == name.size() && strncasecmp(n.data(), name.data(), n.size()) == 0) {
        return view(items[i].value);
      }
    }
    return {};
  }
};

struct ProviderRequest {
  explicit ProviderRequest(const sy_provider_request& r) noexcept
      : operation(r.operation), stream(r.stream), request_id(view(r.request_id)),
        body(view(r.body)), public_model(view(r.public_model)),
        upstream_model(view(r.upstream_model)), base_url(view(r.base_url)),
        api_key(view(r.api_key)) {}
  sy_operation operation;
  bool stream;
  std::string_view request_id;
  std::string_view body;
  std::string_view public_model;
  std::string_view upstream_model;
  std::string_view base_url;
  std::string_view api_key; ///< SECRET: never log it.
};

struct UpstreamResponse {
  explicit UpstreamResponse(const sy_upstream_response& r) noexcept
      : status(r.status), headers{r.headers, r.header_count}, body(view(r.body)) {}
  uint32_t status;
  Headers headers;
  std::string_view body;
};

struct HttpRequest {
  explicit HttpRequest(const sy_http_request& r) noexcept
      : method(view(r.method)), path(view(r.path)), peer_address(view(r.peer_address)),
        headers{r.headers, r.header_count} {}
  std::string_view method;
  std::string_view path;
  std::string_view peer_address;
  Headers headers;
};

/// Per-request streaming translator state; destroyed by the host exactly once.
class ProviderStream {
public:
  virtual ~ProviderStream() = default;
  virtual sy_status onData(std::string_view bytes, const Output& out) = 0;
  virtual sy_status onEnd(const Output& out) = 0;
};

/// Base class of a provider. Constructed from its JSON config (throw to refuse it).
class Provider {
public:
  virtual ~Provider() = default;
  virtual sy_status buildRequest(const ProviderRequest& request, const Output& out) = 0;
  virtual sy_status parseResponse(const ProviderRequest& request, const UpstreamResponse& response,
                                  const Output& out) = 0;
  virtual std::unique_ptr<ProviderStream> openStream(const ProviderRequest& request,
                                                     const UpstreamResponse& response) = 0;
};

/// Base class of an auth scheme.
class AuthScheme {
public:
  virtual ~AuthScheme() = default;
  virtual sy_status authenticate(const HttpRequest& request, const Output& out) = 0;
};

/// Base class of a log sink. Return non-OK from writeBatch to have the host retry later.
class LogSink {
public:
  virtual ~LogSink() = default;
  virtual sy_status writeBatch(const std::vector<std::string_view>& records, const Output& out) = 0;
  virtual sy_status flush() { return SY_OK; }
};

/// Base class of an analytics module.
class AnalyticsModule {
public:
  virtual ~AnalyticsModule() = default;
  virtual void observe(const std::vector<std::string_view>& records) = 0;
  virtual sy_status query(std::string_view query_json, const Output& out) = 0;
};

namespace detail {

/// The panic barrier: runs `fn`, turning any exception into an error result.
template <class Fn> sy_status guarded(sy_out_host_t* out, std::string_view where, Fn&& fn) noexcept {
  try {
    return fn();
  } catch (const Error& e) {
    if (out != nullptr) {
      Output(out).setError(e);
    }
    if (e.status == 401 || e.status == 403) {
      return SY_ERR_DENIED;
    }
    return e.status >= 500 ? SY_ERR_INTERNAL : SY_ERR_INVALID_ARG;
  } catch (const std::exception& e) {
    if (out != nullptr) {
      Output(out).setError(500, "internal_error", "plugin_exception", e.what());
    }
    Host::log(SY_LOG_ERROR, where, e.what());
    return SY_ERR_INTERNAL;
  } catch (...) {
    if (out != nullptr) {
      Output(out).setError(500, "internal_error", "plugin_exception", "unknown exception");
    }
    Host::log(SY_LOG_ERROR, where, "unknown exception");
    return SY_ERR_INTERNAL;
  }
}

inline std::vector<std::string_view> views(const sy_str* records, size_t count) {
  std::vector<std::string_view> out;
  out.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    out.push_back(view(records[i]));
  }
  return out;
}

template <class T>
sy_status create(void*, sy_str config, sy_out_host_t* out, void** instance) noexcept {
  *instance = nullptr;
  return guarded(out, "create", [&] {
    *instance = new T(view(config));
    return SY_OK;
  });
}

template <class T> void destroy(void* instance) noexcept {
  try {
    delete static_cast<T*>(instance);
  } catch (...) {
    Host::log(SY_LOG_ERROR, "destroy", "exception in destructor");
  }
}

template <class T> struct ProviderTable {
  static sy_status build(void* i, const sy_provider_request* r, sy_out_host_t* out) noexcept {
    return guarded(out, "build_request", [&] {
      return static_cast<T*>(i)->buildRequest(ProviderRequest(*r), Output(out));
    });
  }
  static sy_status parse(void* i, const sy_provider_request* r, const sy_upstream_response* resp,
                         sy_out_host_t* out) noexcept {
    return guarded(out, "parse_response", [&] {
      return static_cast<T*>(i)->parseResponse(ProviderRequest(*r), UpstreamResponse(*resp),
                                               Output(out));
    });
  }
  static sy_status open(void* i, const sy_provider_request* r, const sy_upstream_response* resp,
                        void** stream) noexcept {
    *stream = nullptr;
    return guarded(nullptr, "stream_open", [&] {
      *stream = static_cast<T*>(i)->openStream(ProviderRequest(*r), UpstreamResponse(*resp)).release();
      return *stream != nullptr ? SY_OK : SY_ERR_UNSUPPORTED;
    });
  }
  static sy_status data(void* s, sy_str bytes, sy_out_host_t* out) noexcept {
    return guarded(out, "stream_data", [&] {
      return static_cast<ProviderStream*>(s)->onData(view(bytes), Output(out));
    });
  }
  static sy_status end(void* s, sy_out_host_t* out) noexcept {
    return guarded(out, "stream_end", [&] { return static_cast<ProviderStream*>(s)->onEnd(Output(out)); });
  }
  static void destroyStream(void* s) noexcept { destroy<ProviderStream>(s); }

  static constexpr sy_provider_vtable table{sizeof(sy_provider_vtable), &create<T>, &destroy<T>,
                                            &build, &parse, &open, &data, &end, &destroyStream,
                                            {}};
};

template <class T> struct AuthTable {
  static sy_status authenticate(void* i, const sy_http_request* r, sy_out_host_t* out) noexcept {
    return guarded(out, "authenticate",
                   [&] { return static_cast<T*>(i)->authenticate(HttpRequest(*r), Output(out)); });
  }
  static constexpr sy_auth_vtable table{sizeof(sy_auth_vtable), &create<T>, &destroy<T>,
                                        &authenticate, {}};
};

template <class T> struct LogSinkTable {
  static sy_status write(void* i, const sy_str* records, size_t count, sy_out_host_t* out) noexcept {
    return guarded(out, "write_batch", [&] {
      return static_cast<T*>(i)->writeBatch(views(records, count), Output(out));
    });
  }
  static sy_status flush(void* i) noexcept {
    return guarded(nullptr, "flush", [&] { return static_cast<T*>(i)->flush(); });
  }
  static constexpr sy_log_sink_vtable table{sizeof(sy_log_sink_vtable), &create<T>, &destroy<T>,
                                            &write, &flush, {}};
};

template <class T> struct AnalyticsTable {
  static void observe(void* i, const sy_str* records, size_t count) noexcept {
    guarded(nullptr, "observe", [&] {
      static_cast<T*>(i)->observe(views(records, count));
      return SY_OK;
    });
  }
  static sy_status query(void* i, sy_str q, sy_out_host_t* out) noexcept {
    return guarded(out, "query", [&] { return static_cast<T*>(i)->query(view(q), Output(out)); });
  }
  static constexpr sy_analytics_vtable table{sizeof(sy_analytics_vtable), &create<T>, &destroy<T>,
                                             &observe, &query, {}};
};

constexpr sy_str lit(const char* s) noexcept {
  return sy_str{s, std::char_traits<char>::length(s)};
}

inline sy_status init(const sy_host_api* host, void** state) noexcept {
  Host::setApi(host);
  *state = nullptr;
  return SY_OK;
}
inline void shutdown(void*) noexcept { Host::setApi(nullptr); }

} // namespace detail

template <class T> constexpr sy_component provider(const char* name, const char* description) {
  return sy_component{sizeof(sy_component), SY_KIND_PROVIDER, detail::lit(name),
                      detail::lit(description), &detail::ProviderTable<T>::table, sy_str{}};
}
template <class T> constexpr sy_component authScheme(const char* name, const char* description) {
  return sy_component{sizeof(sy_component), SY_KIND_AUTH, detail::lit(name),
                      detail::lit(description), &detail::AuthTable<T>::table, sy_str{}};
}
template <class T> constexpr sy_component logSink(const char* name, const char* description) {
  return sy_component{sizeof(sy_component), SY_KIND_LOG_SINK, detail::lit(name),
                      detail::lit(description), &detail::LogSinkTable<T>::table, sy_str{}};
}
template <class T> constexpr sy_component analytics(const char* name, const char* description) {
  return sy_component{sizeof(sy_component), SY_KIND_ANALYTICS, detail::lit(name),
                      detail::lit(description), &detail::AnalyticsTable<T>::table, sy_str{}};
}

} // namespace sdk
} // namespace switchyard

/// The ABI minor a plugin declares it needs. Everything ABI 1.1 added is optional and guarded
/// by the C++ layer, so by default a plugin built with this SDK still loads on a 1.0 host;
/// define SY_PLUGIN_ABI_MINOR before including sdk.hpp if the plugin cannot work without a
/// newer host.
#ifndef SY_PLUGIN_ABI_MINOR
#define SY_PLUGIN_ABI_MINOR 0
#endif

/// Declares the plugin and its components; use once per library, in one .cpp file.
///   SY_PLUGIN("openai", "1.0.0", "Switchyard", "OpenAI provider",
///             switchyard::sdk::provider<OpenAiProvider>("openai", "OpenAI and compatible APIs"))
#define SY_PLUGIN(NAME, VERSION, VENDOR, DESCRIPTION, ...)                                    \
  namespace {                                                                                 \
  const sy_component sy_plugin_components_[] = {__VA_ARGS__};                                 \
  const sy_plugin_info sy_plugin_info_ = {                                                    \
      sizeof(sy_plugin_info),                                                                 \
      SY_ABI_MAJOR,                                                                           \
      SY_PLUGIN_ABI_MINOR,                                                                    \
      ::switchyard::sdk::detail::lit(NAME),                                                   \
      ::switchyard::sdk::detail::lit(VERSION),                                                \
      ::switchyard::sdk::detail::lit(VENDOR),                                                 \
      ::switchyard::sdk::detail::lit(DESCRIPTION),                                            \
      0,                                                                                      \
      sy_plugin_components_,                                                                  \
      sizeof(sy_plugin_components_) / sizeof(sy_plugin_components_[0]),                       \
      &::switchyard::sdk::detail::init,                                                       \
      &::switchyard::sdk::detail::shutdown,                                                   \
      {}};                                                                                    \
  }                                                                                           \
  extern "C" SY_EXPORT const sy_plugin_info* sy_plugin_entry(uint32_t host_major, uint32_t) { \
    return host_major == SY_ABI_MAJOR ? &sy_plugin_info_ : nullptr;                           \
  }
