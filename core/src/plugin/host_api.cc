#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>

#include "switchyard/plugin/plugin_types.h"

namespace switchyard {
namespace {

std::string_view view(sy_str s) { return s.len == 0 ? std::string_view{} : std::string_view{s.ptr, s.len}; }
std::string copy(sy_str s) { return std::string(view(s)); }

spdlog::level::level_enum toSpdlog(uint32_t level) {
  switch (level) {
  case SY_LOG_TRACE: return spdlog::level::trace;
  case SY_LOG_DEBUG: return spdlog::level::debug;
  case SY_LOG_INFO: return spdlog::level::info;
  case SY_LOG_WARN: return spdlog::level::warn;
  default: return spdlog::level::err;
  }
}

std::mutex& metricsMutex() {
  static std::mutex m;
  return m;
}
std::map<std::string, PluginMetric>& metrics() {
  static auto* m = new std::map<std::string, PluginMetric>(); // never destroyed: plugins may report late
  return *m;
}

void hostLog(uint32_t level, sy_str source, sy_str message) {
  spdlog::log(toSpdlog(level), "[plugin:{}] {}", view(source), view(message));
}
bool hostLogEnabled(uint32_t level) { return spdlog::should_log(toSpdlog(level)); }
int64_t hostNowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
uint64_t hostMonotonicNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
void hostMetric(uint32_t type, sy_str name, double value) {
  if (name.len == 0 || name.len > 200 || type < SY_METRIC_COUNTER || type > SY_METRIC_HISTOGRAM) {
    return;
  }
  std::lock_guard lock(metricsMutex());
  PluginMetric& m = metrics()[copy(name)];
  m.type = type;
  m.count++;
  m.value = type == SY_METRIC_GAUGE ? value : m.value + value;
}

void hostSetError(sy_out_host_t* out, uint32_t status, sy_str type, sy_str code, sy_str message) {
  if (out == nullptr) {
    return;
  }
  int http = (status >= 400 && status <= 599) ? static_cast<int>(status) : 500;
  out->error = ApiError{http, type.len ? copy(type) : "upstream_error", copy(code), copy(message)};
}
void hostRequestSetMethod(sy_out_host_t* out, sy_str method) {
  if (out != nullptr && out->request != nullptr && method.len > 0) {
    out->request->method = copy(method);
  }
}
void hostRequestSetPath(sy_out_host_t* out, sy_str path) {
  if (out != nullptr && out->request != nullptr) {
    out->request->path = copy(path);
  }
}
void hostRequestAddHeader(sy_out_host_t* out, sy_str name, sy_str value) {
  if (out != nullptr && out->request != nullptr && name.len > 0) {
    out->request->headers.emplace_back(copy(name), copy(value));
  }
}
void hostRequestAppendBody(sy_out_host_t* out, sy_str bytes) {
  if (out != nullptr && out->request != nullptr) {
    out->request->body.append(view(bytes));
  }
}
sy_status hostEmit(sy_out_host_t* out, sy_event event, sy_str payload) {
  if (out == nullptr || out->events == nullptr || event < SY_EVENT_RESPONSE ||
      event > SY_EVENT_QUERY_RESULT) {
    return SY_ERR_INVALID_ARG;
  }
  out->events->push_back(PluginEvent{event, copy(payload)});
  return SY_OK;
}
void hostPrincipalSet(sy_out_host_t* out, sy_str tenant, sy_str app, sy_str key_id) {
  if (out != nullptr && out->principal != nullptr) {
    out->principal->authenticated = true;
    out->principal->tenant = copy(tenant);
    out->principal->app = copy(app);
    out->principal->key_id = copy(key_id);
  }
}
void hostPrincipalAddMetadata(sy_out_host_t* out, sy_str key, sy_str value) {
  if (out != nullptr && out->principal != nullptr && key.len > 0) {
    out->principal->metadata.emplace_back(copy(key), copy(value));
  }
}
// A name ends up in a response header: only a short token of safe characters is kept, so a
// plugin can never inject header syntax, and the list stays bounded.
constexpr size_t kMaxDroppedName = 64;
constexpr size_t kMaxDroppedParams = 32;

bool validParamName(std::string_view name) {
  if (name.empty() || name.size() > kMaxDroppedName) {
    return false;
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '.' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

void hostNoteDroppedParam(sy_out_host_t* out, sy_str name) {
  if (out == nullptr || out->dropped_params == nullptr || !validParamName(view(name))) {
    return;
  }
  auto& list = *out->dropped_params;
  if (list.size() >= kMaxDroppedParams ||
      std::find(list.begin(), list.end(), view(name)) != list.end()) {
    return;
  }
  list.emplace_back(view(name));
}

const sy_host_api kHostApi = {
    sizeof(sy_host_api), SY_ABI_MAJOR,          SY_ABI_MINOR,       &hostLog,
    &hostLogEnabled,     &hostNowUnixMs,        &hostMonotonicNs,   &hostMetric,
    &hostSetError,       &hostRequestSetMethod, &hostRequestSetPath, &hostRequestAddHeader,
    &hostRequestAppendBody, &hostEmit,          &hostPrincipalSet,  &hostPrincipalAddMetadata,
    &hostNoteDroppedParam, {}};

} // namespace

const sy_host_api* hostApi() { return &kHostApi; }

std::string joinDroppedParams(const std::vector<std::string>& names) {
  std::string joined;
  for (const auto& n : names) {
    if (!joined.empty()) {
      joined += ',';
    }
    joined += n;
  }
  return joined;
}

std::vector<std::pair<std::string, PluginMetric>> pluginMetricsSnapshot() {
  std::lock_guard lock(metricsMutex());
  return {metrics().begin(), metrics().end()};
}

} // namespace switchyard
