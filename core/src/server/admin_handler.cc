#include "admin_handler.h"

#include "metrics_exposition.h"

#include <Poco/URI.h>

#include <nlohmann/json.hpp>

namespace switchyard {
namespace {

using nlohmann::json;

json pluginsJson(const PluginSet& set) {
  json plugins = json::array();
  for (const auto& gen : set.plugins) {
    json components = json::array();
    for (const auto& c : gen->components()) {
      components.push_back({{"kind", kindName(c.kind)}, {"name", c.name}, {"description", c.description}});
    }
    plugins.push_back({{"name", gen->name()},
                       {"version", gen->version()},
                       {"vendor", gen->vendor()},
                       {"description", gen->description()},
                       {"path", gen->sourcePath().string()},
                       {"sha256", gen->sha256()},
                       {"generation", gen->id()},
                       {"components", components}});
  }
  json errors = json::array();
  for (const auto& e : set.errors) {
    errors.push_back({{"path", e.path}, {"error", e.error}});
  }
  return {{"plugins", plugins}, {"errors", errors}, {"live_generations", PluginLoader::liveGenerations()}};
}

int64_t msUntil(SteadyClock::time_point t, SteadyClock::time_point now) {
  return t > now ? std::chrono::ceil<std::chrono::milliseconds>(t - now).count() : 0;
}

json targetHealthJson(const TargetHealth::View& v, SteadyClock::time_point now) {
  return {{"state", v.ejected ? "ejected" : v.cooling ? "rate_limited" : "available"},
          {"available_in_ms", msUntil(v.available_at, now)},
          {"ejection_remaining_ms", msUntil(v.ejected_until, now)},
          {"cooldown_remaining_ms", msUntil(v.cooling_until, now)},
          {"consecutive_failures", v.consecutive_failures},
          {"ejections", v.ejections},
          {"successes", v.successes},
          {"failures", v.failures},
          {"rate_limited", v.rate_limited},
          {"in_flight", v.in_flight},
          {"ewma_ttfb_ms", v.ewma_ttfb_ms}};
}

/// Each route's pool as it balances now: its targets' health, and their circuit breakers
/// (max_requests_per_target is per route, so the same target can be full for one and not another).
json poolsJson(const Runtime& rt, SteadyClock::time_point now) {
  json pools = json::object();
  for (const auto& [name, pool] : rt.pools) {
    json targets = json::array();
    for (size_t i = 0; i < pool->size(); ++i) {
      const auto& t = pool->target(i);
      const auto v = pool->health(i).view(now);
      json j = targetHealthJson(v, now);
      j["target"] = TargetPool::key(t);
      j["weight"] = t.weight;
      j["provider_probe"] = pool->probeHealthy(i) ? "healthy" : "unhealthy";
      j["circuit_breaker"] = {{"in_flight", v.in_flight},
                              {"max_requests", pool->maxRequestsPerTarget()},
                              {"state", v.in_flight >= static_cast<int>(pool->maxRequestsPerTarget()) ? "open" : "closed"}};
      targets.push_back(std::move(j));
    }
    const BalanceStrategy st = pool->strategy();
    pools[name] = {{"strategy", st == BalanceStrategy::kLeastRequest ? "least_request"
                                : st == BalanceStrategy::kLatency    ? "latency"
                                                                     : "weighted_round_robin"},
                   {"panic_threshold_percent", pool->panicThresholdPercent()},
                   {"targets", std::move(targets)}};
  }
  return pools;
}

} // namespace

void AdminHandler::handle(const HttpRequest& request, HttpResponseWriter& response) {
  auto reply = [&](int status, const json& body) {
    response.send(status, "application/json", body.dump(-1, ' ', false, json::error_handler_t::replace));
  };
  if (state_.management && state_.management(request, response)) {
    return;
  }
  const std::string& path = request.path;
  const std::string prefix = "/admin/analytics/";
  const bool analytics = path.rfind(prefix, 0) == 0;
  // Analytics queries also come as a JSON body (arrays, nested filters), hence POST there.
  if (request.method != "GET" && !(analytics && request.method == "POST")) {
    reply(405, json::parse(ApiError{405, "invalid_request_error", "method_not_allowed",
                                    analytics ? "Analytics queries are GET or POST" : "Admin endpoints are GET"}
                               .toJson()));
    return;
  }
  if (path == "/metrics") {
    response.send(200, "text/plain; version=0.0.4; charset=utf-8", renderMetrics(state_));
    return;
  }
  if (path == "/healthz") {
    reply(200, {{"status", "ok"}});
    return;
  }
  if (path == "/admin/plugins") {
    reply(200, pluginsJson(*state_.plugins()));
    return;
  }
  if (path == "/admin/runtime") {
    RuntimeSharedPtr rt = state_.runtime();
    json providers = json::object();
    for (const auto& [name, t] : rt->providers) {
      providers[name] = {{"type", t->config.type},
                         {"base_url", t->config.base_url},
                         {"api_key_env", t->config.api_key_env},
                         {"api_key_set", !t->api_key.empty()},
                         {"plugin_generation", t->provider->generation().id()}};
    }
    json models = json::object();
    for (const auto& [name, r] : rt->config->models) {
      json targets = json::array();
      for (const auto& t : r.targets) {
        targets.push_back({{"provider", t.provider}, {"upstream_model", t.upstream_model}, {"weight", t.weight}});
      }
      models[name] = {{"targets", targets}, {"fallbacks", r.fallbacks}};
    }
    json sinks = json::array();
    for (const auto& s : state_.records->stats()) {
      sinks.push_back({{"name", s.name},
                       {"kind", s.kind},
                       {"delivered", s.delivered},
                       {"dropped", s.dropped},
                       {"failed_batches", s.failed_batches},
                       {"queued", s.queued},
                       {"spooled", s.spooled},
                       {"spool_bytes", s.spool_bytes},
                       {"last_error", s.last_error}});
    }
    reply(200, {{"providers", providers},
                {"models", models},
                {"record_consumers", sinks},
                {"connections",
                 {{"open", state_.open_connections()},
                  {"active", state_.active_requests()},
                  {"refused", state_.refused_connections()}}},
                {"last_reload_error", state_.last_reload_error()}});
    return;
  }
  if (path == "/admin/health") {
    const auto now = SteadyClock::now();
    json targets = json::object();
    for (const auto& [key, v] : state_.health->views(now)) {
      targets[key] = targetHealthJson(v, now);
    }
    json probes = json::object();
    for (const auto& [provider, healthy] : state_.health->probes()) {
      probes[provider] = healthy ? "healthy" : "unhealthy";
    }
    reply(200, {{"targets", targets}, {"providers", probes}, {"pools", poolsJson(*state_.runtime(), now)}});
    return;
  }
  if (analytics) {
    const std::string name = path.substr(prefix.size());
    RuntimeSharedPtr rt = state_.runtime();
    for (const auto& a : rt->analytics) {
      if (a.config.name != name) {
        continue;
      }
      json query = json::object();
      if (request.method == "POST" && !request.body.empty()) {
        query = json::parse(request.body, nullptr, false);
        if (query.is_discarded() || !query.is_object()) {
          reply(400, json::parse(ApiError::invalidRequest("The query body must be a JSON object", "invalid_json").toJson()));
          return;
        }
      }
      try {
        for (const auto& [k, v] : Poco::URI("/?" + request.query).getQueryParameters()) {
          query[k] = v;
        }
      } catch (...) {
        reply(400, json::parse(ApiError::invalidRequest("Malformed query string").toJson()));
        return;
      }
      std::string answer;
      if (auto e = queryAnalytics(a, query.dump(), &answer)) {
        response.send(e->status, "application/json", e->toJson());
        return;
      }
      // A module may answer exposition text ({"format":"prometheus"}) as well as JSON.
      response.send(200, !answer.empty() && answer[0] == '#' ? "text/plain; version=0.0.4; charset=utf-8" : "application/json",
                    answer);
      return;
    }
    reply(404, json::parse(ApiError::notFound("No analytics module named " + name, "not_found").toJson()));
    return;
  }
  reply(404, json::parse(ApiError::notFound("Unknown admin endpoint " + path, "unknown_url").toJson()));
}

} // namespace switchyard
