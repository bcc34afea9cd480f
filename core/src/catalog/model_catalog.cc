#include "switchyard/catalog/model_catalog.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "catalog_data.h"
#include "switchyard/config/config.h"

namespace switchyard {
namespace {

using nlohmann::json;

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw ConfigError(where + ": " + what);
}

std::string requiredString(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string() || it->get_ref<const std::string&>().empty()) {
    fail(where + "." + key, "must be a non-empty string");
  }
  return it->get<std::string>();
}

/// A price: a non-negative number; null (or absent) only where `nullable`.
std::optional<double> price(const json& prices, const char* key, const std::string& where, bool nullable) {
  auto it = prices.find(key);
  if (it == prices.end() || it->is_null()) {
    if (!nullable) {
      fail(where + "." + key, "is required");
    }
    return std::nullopt;
  }
  if (!it->is_number() || it->get<double>() < 0) {
    fail(where + "." + key, "must be a non-negative number (USD per million tokens)");
  }
  return it->get<double>();
}

int64_t count(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    return 0;
  }
  if (!it->is_number_integer() || it->get<int64_t>() < 0) {
    fail(where + "." + key, "must be a non-negative integer");
  }
  return it->get<int64_t>();
}

bool validDate(const std::string& s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') {
    return false;
  }
  for (size_t i : {0, 1, 2, 3, 5, 6, 8, 9}) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
  }
  const int y = std::stoi(s.substr(0, 4));
  const int m = std::stoi(s.substr(5, 2));
  const int d = std::stoi(s.substr(8, 2));
  static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return m >= 1 && m <= 12 && d >= 1 && d <= kDays[m - 1] - (m == 2 && !leap ? 1 : 0);
}

std::string key(std::string_view provider, std::string_view model) {
  std::string k;
  k.reserve(provider.size() + model.size() + 1);
  k.append(provider).push_back('\n');
  k.append(model);
  return k;
}

} // namespace

ModelCatalogSharedPtr ModelCatalog::parse(std::string_view text, const std::string& origin) {
  json root = json::parse(text, nullptr, false);
  if (root.is_discarded() || !root.is_object()) {
    fail(origin, "is not a JSON object");
  }
  if (root.value("schema", "") != "switchyard.catalog.v1") {
    fail(origin + ".schema", "must be \"switchyard.catalog.v1\"");
  }
  if (root.contains("currency") && root["currency"] != "USD") {
    fail(origin + ".currency", "must be \"USD\"");
  }
  auto models = root.find("models");
  if (models == root.end() || !models->is_array()) {
    fail(origin + ".models", "must be an array");
  }
  std::shared_ptr<ModelCatalog> catalog(new ModelCatalog());
  catalog->origin_ = origin;
  std::set<std::string> names; // ids and aliases are unique across the whole file
  for (size_t i = 0; i < models->size(); ++i) {
    const json& m = (*models)[i];
    std::string where = origin + ".models[" + std::to_string(i) + "]";
    if (!m.is_object()) {
      fail(where, "must be an object");
    }
    CatalogModel entry;
    entry.id = requiredString(m, "id", where);
    where += " (" + entry.id + ")";
    entry.provider = requiredString(m, "provider", where);
    entry.upstream_model = requiredString(m, "upstream_model", where);
    if (m.contains("aliases")) {
      if (!m["aliases"].is_array()) {
        fail(where + ".aliases", "must be an array of strings");
      }
      for (const auto& a : m["aliases"]) {
        if (!a.is_string() || a.get_ref<const std::string&>().empty()) {
          fail(where + ".aliases", "must be an array of non-empty strings");
        }
        entry.aliases.push_back(a.get<std::string>());
      }
    }
    entry.context_window = count(m, "context_window", where);
    entry.max_output_tokens = count(m, "max_output_tokens", where);
    if (auto caps = m.find("capabilities"); caps != m.end()) {
      if (!caps->is_object()) {
        fail(where + ".capabilities", "must be an object of booleans");
      }
      for (const auto& [name, on] : caps->items()) {
        if (!on.is_boolean()) {
          fail(where + ".capabilities." + name, "must be true or false");
        }
        entry.capabilities.emplace_back(name, on.get<bool>());
      }
    }
    auto prices = m.find("price_per_million");
    if (prices == m.end() || !prices->is_object()) {
      fail(where + ".price_per_million", "must be an object");
    }
    const std::string pw = where + ".price_per_million";
    entry.price.input = *price(*prices, "input", pw, false);
    // Embedding models have no output; the catalog writes 0 or null for them.
    entry.price.output = price(*prices, "output", pw, true).value_or(0);
    entry.price.cached_input = price(*prices, "cached_input", pw, true);
    entry.price.cache_write = price(*prices, "cache_write", pw, true);
    if (m.contains("prices_as_of")) {
      if (!m["prices_as_of"].is_string() || !validDate(m["prices_as_of"].get<std::string>())) {
        fail(where + ".prices_as_of", "must be a date YYYY-MM-DD");
      }
      entry.prices_as_of = m["prices_as_of"].get<std::string>();
    }

    const size_t index = catalog->models_.size();
    if (!names.insert(entry.id).second) {
      fail(where + ".id", "\"" + entry.id + "\" is already the id or alias of another model");
    }
    for (const auto& a : entry.aliases) {
      if (!names.insert(a).second) {
        fail(where + ".aliases", "\"" + a + "\" is already the id or alias of another model");
      }
    }
    if (!catalog->by_upstream_.emplace(key(entry.provider, entry.upstream_model), index).second) {
      fail(where + ".upstream_model", "another " + entry.provider + " model already has upstream_model \"" +
                                          entry.upstream_model + "\", so its price would be ambiguous");
    }
    catalog->by_name_.emplace(key(entry.provider, entry.id), index);
    for (const auto& a : entry.aliases) {
      catalog->by_name_.emplace(key(entry.provider, a), index);
    }
    catalog->models_.push_back(std::move(entry));
  }
  return catalog;
}

ModelCatalogSharedPtr ModelCatalog::load(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    throw ConfigError("cannot read model catalog " + file.string());
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return parse(ss.str(), file.string());
}

ModelCatalogSharedPtr ModelCatalog::builtIn() {
  // Parsed once: every config load (and reload) would otherwise parse the same text again.
  static const ModelCatalogSharedPtr kBuiltIn = parse(kBuiltInCatalogJson, "built-in catalog");
  return kBuiltIn;
}

const CatalogModel* ModelCatalog::find(std::string_view provider, std::string_view model) const {
  const std::string k = key(provider, model);
  auto it = by_upstream_.find(k);
  if (it == by_upstream_.end()) {
    it = by_name_.find(k);
    if (it == by_name_.end()) {
      return nullptr;
    }
  }
  return &models_[it->second];
}

CallCost priceUsage(const CatalogModel& model, const TokenUsage& usage) {
  constexpr double kPerToken = 1.0 / 1000000.0;
  const ModelPrice& p = model.price;
  const int64_t cached = std::max<int64_t>(0, usage.cached_tokens);
  const int64_t written = std::max<int64_t>(0, usage.cache_creation_tokens);
  const int64_t uncached = std::max<int64_t>(0, usage.prompt_tokens - cached - written);
  CallCost c;
  c.input_usd = static_cast<double>(uncached) * p.input * kPerToken;
  c.cached_usd = static_cast<double>(cached) * p.cached_input.value_or(p.input) * kPerToken;
  c.cache_creation_usd = static_cast<double>(written) * p.cache_write.value_or(p.input) * kPerToken;
  c.output_usd = static_cast<double>(std::max<int64_t>(0, usage.completion_tokens)) * p.output * kPerToken;
  c.total_usd = c.input_usd + c.cached_usd + c.cache_creation_usd + c.output_usd;
  c.price_date = model.prices_as_of;
  c.catalog_id = model.id;
  return c;
}

} // namespace switchyard
