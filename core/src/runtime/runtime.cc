#include "switchyard/runtime/runtime.h"

#include "switchyard/catalog/model_catalog.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <optional>
#include <nlohmann/json.hpp>

namespace switchyard {
namespace {

ComponentInstanceSharedPtr findReusable(const Runtime* previous, const ComponentRef& ref,
                                        const std::string& config_json) {
  if (previous == nullptr) {
    return nullptr;
  }
  auto matches = [&](const ComponentInstanceSharedPtr& inst, const std::string& json) {
    return inst && inst->kind() == ref.info->kind && inst->type() == ref.info->name &&
           inst->generation().id() == ref.generation->id() && json == config_json;
  };
  for (const auto& [name, target] : previous->providers) {
    if (matches(target->provider, target->config.config_json)) {
      return target->provider;
    }
  }
  for (const auto* list : {&previous->auth, &previous->log_sinks, &previous->analytics}) {
    for (const auto& n : *list) {
      if (matches(n.instance, n.config.config_json)) {
        return n.instance;
      }
    }
  }
  return nullptr;
}

ComponentInstanceSharedPtr instantiate(const PluginSet& plugins, const Runtime* previous, sy_kind kind,
                                       const std::string& type, const std::string& config_json,
                                       const std::string& where, std::string* error) {
  auto ref = plugins.find(kind, type);
  if (!ref) {
    *error = where + ": no loaded plugin provides " + kindName(kind) + " \"" + type + "\"";
    return nullptr;
  }
  if (auto reused = findReusable(previous, *ref, config_json)) {
    return reused;
  }
  std::string why;
  auto inst = ComponentInstance::create(*ref, config_json, &why);
  if (!inst) {
    *error = where + ": " + why;
  }
  return inst;
}

bool instantiateList(const PluginSet& plugins, const Runtime* previous, sy_kind kind,
                     const std::vector<ComponentConfig>& configs, const char* section,
                     std::vector<NamedInstance>* out, std::string* error) {
  for (const auto& c : configs) {
    auto inst = instantiate(plugins, previous, kind, c.type, c.config_json,
                            std::string(section) + " \"" + c.name + "\"", error);
    if (!inst) {
      return false;
    }
    out->push_back(NamedInstance{c, std::move(inst)});
  }
  return true;
}

/// What /v1/models tells a client about a route: the catalog facts of its first target, so
/// tools can size prompts and pick capabilities without a second source of truth.
std::optional<nlohmann::json> catalogMetadata(const GatewayConfig& config, const ModelRoute& route) {
  const RouteTarget& primary = route.targets.front();
  const CatalogModel* m =
      config.catalog ? config.catalog->find(config.providers.at(primary.provider).catalog_provider,
                                            primary.upstream_model)
                     : nullptr;
  if (m == nullptr) {
    return std::nullopt;
  }
  nlohmann::json caps = nlohmann::json::object();
  for (const auto& [name, on] : m->capabilities) {
    caps[name] = on;
  }
  nlohmann::json price = {{"input", m->price.input}, {"output", m->price.output}};
  if (m->price.cached_input) {
    price["cached_input"] = *m->price.cached_input;
  }
  if (m->price.cache_write) {
    price["cache_write"] = *m->price.cache_write;
  }
  nlohmann::json meta = {{"catalog_id", m->id},
                         {"provider", primary.provider},
                         {"upstream_model", primary.upstream_model},
                         {"targets", route.targets.size()},
                         {"context_window", m->context_window},
                         {"max_output_tokens", m->max_output_tokens},
                         {"capabilities", std::move(caps)},
                         {"price_per_million_usd", std::move(price)}};
  if (!m->prices_as_of.empty()) {
    meta["prices_as_of"] = m->prices_as_of;
  }
  return meta;
}

} // namespace

RuntimeSharedPtr buildRuntime(GatewayConfigSharedPtr config, PluginSetSharedPtr plugins,
                              const Runtime* previous, HealthRegistry& health, std::string* error) {
  auto rt = std::make_shared<Runtime>();
  rt->config = config;
  rt->plugins = plugins;
  for (const auto& [name, pc] : config->providers) {
    auto inst = instantiate(*plugins, previous, SY_KIND_PROVIDER, pc.type, pc.config_json,
                            "provider \"" + name + "\"", error);
    if (!inst) {
      return nullptr;
    }
    auto target = std::make_shared<ProviderTarget>();
    target->config = pc;
    target->provider = std::move(inst);
    if (!pc.api_key_env.empty()) {
      const char* key = std::getenv(pc.api_key_env.c_str());
      if (key == nullptr || *key == '\0') {
        spdlog::warn("provider {}: environment variable {} is not set; calls go out without a key", name,
                     pc.api_key_env);
      } else {
        target->api_key = key;
      }
    }
    rt->providers.emplace(name, std::move(target));
  }
  if (!instantiateList(*plugins, previous, SY_KIND_AUTH, config->auth, "auth", &rt->auth, error) ||
      !instantiateList(*plugins, previous, SY_KIND_LOG_SINK, config->log_sinks, "log sink", &rt->log_sinks,
                       error) ||
      !instantiateList(*plugins, previous, SY_KIND_ANALYTICS, config->analytics, "analytics", &rt->analytics,
                       error)) {
    return nullptr;
  }
  for (const auto& [name, route] : config->models) {
    rt->pools.emplace(name, std::make_shared<TargetPool>(route, health));
    for (const auto& t : route.targets) {
      const std::string& catalog_name = config->providers.at(t.provider).catalog_provider;
      if (config->catalog && config->catalog->find(catalog_name, t.upstream_model) == nullptr) {
        spdlog::info("model {}: {} \"{}\" has no price in the catalog; its calls are recorded without a cost",
                     name, catalog_name, t.upstream_model);
      }
    }
  }
  nlohmann::json data = nlohmann::json::array();
  for (const auto& [name, route] : config->models) {
    nlohmann::json entry = {{"id", name}, {"object", "model"}, {"created", 0}, {"owned_by", route.targets.front().provider}};
    if (auto meta = catalogMetadata(*config, route)) {
      entry["switchyard"] = std::move(*meta);
    }
    data.push_back(std::move(entry));
  }
  rt->models_json = nlohmann::json{{"object", "list"}, {"data", data}}.dump();
  return rt;
}

} // namespace switchyard
