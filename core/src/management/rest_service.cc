#include "switchyard/management/rest_service.h"

#include <optional>
#include <set>
#include <tuple>

namespace switchyard {
namespace {

using nlohmann::json;

constexpr size_t kMaxTargets = 16;
constexpr int64_t kMaxTimeoutMs = 24LL * 3600 * 1000;

/// A millisecond count in [min, max] under `key` of `obj`, or nothing when absent.
std::string readMs(const json& obj, const char* where, const char* key, int64_t min, int64_t max,
                   std::optional<int64_t>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) {
    return "";
  }
  if (!it->is_number_integer() || it->get<int64_t>() < min || it->get<int64_t>() > max) {
    return std::string("'") + where + "." + key + "' must be an integer from " +
           std::to_string(min) + " to " + std::to_string(max);
  }
  *out = it->get<int64_t>();
  return "";
}

std::string onlyKeys(const json& obj, const char* where, std::initializer_list<const char*> keys) {
  if (!obj.is_object()) {
    return std::string("'") + where + "' must be an object";
  }
  for (const auto& [k, v] : obj.items()) {
    bool known = false;
    for (const char* allowed : keys) {
      known = known || k == allowed;
    }
    if (!known) {
      std::string list;
      for (const char* allowed : keys) {
        list += (list.empty() ? "" : ", ") + std::string(allowed);
      }
      return std::string("'") + where + "' has an unknown field '" + k + "' (known: " + list + ")";
    }
  }
  return "";
}

}  // namespace

std::string parseRestSettings(const Service& service, RestServiceSettings* out) {
  RestServiceSettings s;
  if (service.base_urls.empty() || service.base_urls.size() > kMaxTargets) {
    return "a REST service needs 1 to " + std::to_string(kMaxTargets) +
           " base URLs ('base_url' or 'base_urls')";
  }
  std::set<std::string> seen;
  for (const auto& url : service.base_urls) {
    if ((url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) ||
        url.find_first_of(" \t\r\n") != std::string::npos) {
      return "'base_url' must be an http:// or https:// URL (got '" + url + "')";
    }
    if (!seen.insert(url).second) {
      return "'base_urls' lists " + url + " twice";
    }
  }
  s.base_urls = service.base_urls;

  if (auto e = onlyKeys(service.timeouts, "timeouts",
                        {"connect_ms", "first_byte_ms", "idle_ms", "total_ms"});
      !e.empty()) {
    return e;
  }
  struct Field {
    const char* key;
    std::optional<std::chrono::milliseconds>* into;
  };
  for (const Field& f :
       {Field{"connect_ms", &s.timeouts.connect}, Field{"first_byte_ms", &s.timeouts.first_byte},
        Field{"idle_ms", &s.timeouts.idle}, Field{"total_ms", &s.timeouts.total}}) {
    std::optional<int64_t> ms;
    if (auto e = readMs(service.timeouts, "timeouts", f.key, 1, kMaxTimeoutMs, &ms); !e.empty()) {
      return e;
    }
    if (ms) {
      *f.into = std::chrono::milliseconds(*ms);
    }
  }

  if (auto e = onlyKeys(service.retry, "retry", {"attempts", "backoff_base_ms", "backoff_max_ms"});
      !e.empty()) {
    return e;
  }
  std::optional<int64_t> attempts, base, max;
  for (auto [key, lo, hi, into] :
       {std::tuple{"attempts", int64_t{1}, int64_t{10}, &attempts},
        std::tuple{"backoff_base_ms", int64_t{0}, int64_t{60000}, &base},
        std::tuple{"backoff_max_ms", int64_t{0}, int64_t{600000}, &max}}) {
    if (auto e = readMs(service.retry, "retry", key, lo, hi, into); !e.empty()) {
      return e;
    }
  }
  s.retry.attempts = static_cast<uint32_t>(attempts.value_or(s.retry.attempts));
  s.retry.backoff_base = std::chrono::milliseconds(base.value_or(s.retry.backoff_base.count()));
  s.retry.backoff_max = std::chrono::milliseconds(max.value_or(s.retry.backoff_max.count()));
  *out = std::move(s);
  return "";
}

RestUpstreamSharedPtr makeRestUpstream(const Service& service, const RestServiceSettings& settings,
                                       HealthRegistry& health) {
  auto u = std::make_shared<RestUpstream>();
  u->service_id = service.id;
  u->service_name = service.name;
  u->settings = settings;
  u->fingerprint = toJson(service).dump();
  ModelRoute route;
  route.name = service.name;
  for (const auto& url : settings.base_urls) {
    route.targets.push_back(RouteTarget{service.id, url, 1});
  }
  route.retry = settings.retry;
  route.timeouts = settings.timeouts;
  u->pool = std::make_shared<TargetPool>(route, health);
  return u;
}

}  // namespace switchyard
