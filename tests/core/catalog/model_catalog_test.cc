// The model catalog as the core loads it: strict validation, lookup by upstream name, id and
// alias per provider, and the price of a call by its usage.
#include "switchyard/catalog/model_catalog.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "switchyard/config/config.h"

namespace switchyard {
namespace {

using nlohmann::json;

json entry(const std::string& id, const std::string& provider, const std::string& upstream) {
  return {{"id", id},
          {"provider", provider},
          {"upstream_model", upstream},
          {"aliases", json::array()},
          {"price_per_million", {{"input", 3.0}, {"output", 15.0}, {"cached_input", 0.3}, {"cache_write", 3.75}}},
          {"prices_as_of", "2026-11-26"}};
}

json doc(json models) { return {{"schema", "switchyard.catalog.v1"}, {"currency", "USD"}, {"models", models}}; }

std::string parseError(const json& d) {
  try {
    ModelCatalog::parse(d.dump(), "test");
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ModelCatalog, TheBuiltInCatalogLoadsAndPricesShippedModels) {
  ModelCatalogSharedPtr c = ModelCatalog::builtIn();
  ASSERT_NE(c, nullptr);
  EXPECT_GT(c->models().size(), 50u);
  const CatalogModel* mini = c->find("openai", "gpt-4o-mini");
  ASSERT_NE(mini, nullptr);
  EXPECT_EQ(mini->price.input, 0.15);
  EXPECT_EQ(mini->price.output, 0.6);
  // By alias (a dated snapshot) and by id when the upstream name differs from the id.
  EXPECT_EQ(c->find("openai", "gpt-4o-mini-2024-07-18"), mini);
  const CatalogModel* sonnet = c->find("anthropic", "claude-sonnet-4-5");
  ASSERT_NE(sonnet, nullptr);
  EXPECT_EQ(sonnet->upstream_model, "claude-sonnet-4-5-20250929");
  EXPECT_EQ(c->find("anthropic", "claude-sonnet-4-5-20250929"), sonnet);
  // Prices are per provider: the same name elsewhere is not priced.
  EXPECT_EQ(c->find("groq", "gpt-4o-mini"), nullptr);
  EXPECT_EQ(c->find("openai", "no-such-model"), nullptr);
  EXPECT_EQ(ModelCatalog::builtIn(), c); // parsed once
}

TEST(ModelCatalog, UpstreamNameWinsOverAnotherEntrysId) {
  json a = entry("fast", "p", "fast-2");
  json b = entry("fast-2", "p", "fast-2-real");
  auto c = ModelCatalog::parse(doc({a, b}).dump(), "test");
  EXPECT_EQ(c->find("p", "fast-2")->id, "fast");
  EXPECT_EQ(c->find("p", "fast-2-real")->id, "fast-2");
}

TEST(ModelCatalog, RejectsWhatWouldPriceWrong) {
  EXPECT_NE(parseError({{"schema", "other"}, {"models", json::array()}}).find("schema"), std::string::npos);
  EXPECT_NE(parseError({{"schema", "switchyard.catalog.v1"}}).find("models"), std::string::npos);
  json negative = entry("m", "p", "m");
  negative["price_per_million"]["output"] = -1;
  EXPECT_NE(parseError(doc({negative})).find("models[0] (m).price_per_million.output"), std::string::npos);
  json no_input = entry("m", "p", "m");
  no_input["price_per_million"].erase("input");
  EXPECT_NE(parseError(doc({no_input})).find("input"), std::string::npos);
  json text_price = entry("m", "p", "m");
  text_price["price_per_million"]["cached_input"] = "0.3";
  EXPECT_NE(parseError(doc({text_price})).find("cached_input"), std::string::npos);
  json bad_date = entry("m", "p", "m");
  bad_date["prices_as_of"] = "2026-02-30";
  EXPECT_NE(parseError(doc({bad_date})).find("prices_as_of"), std::string::npos);
  json alias = entry("n", "p", "n");
  alias["aliases"] = {"m"};
  EXPECT_NE(parseError(doc({entry("m", "p", "m"), alias})).find("already"), std::string::npos);
  EXPECT_NE(parseError(doc({entry("m", "p", "x"), entry("n", "p", "x")})).find("ambiguous"), std::string::npos);
  // The same upstream name under two providers is fine: they are priced separately.
  EXPECT_EQ(parseError(doc({entry("m", "p", "x"), entry("n", "q", "x")})), "");
  EXPECT_NE(parseError(doc({json{{"id", "m"}, {"provider", "p"}}})).find("upstream_model"), std::string::npos);
  EXPECT_THROW(ModelCatalog::parse("{not json", "test"), ConfigError);
}

TEST(ModelCatalog, PricesCachedAndCacheWriteTokensAtTheirRates) {
  auto c = ModelCatalog::parse(doc({entry("m", "p", "m")}).dump(), "test");
  const CatalogModel& m = *c->find("p", "m");
  TokenUsage u;
  u.prompt_tokens = 1000; // includes 600 read from and 200 written to the cache
  u.cached_tokens = 600;
  u.cache_creation_tokens = 200;
  u.completion_tokens = 100;
  CallCost cost = priceUsage(m, u);
  EXPECT_DOUBLE_EQ(cost.input_usd, 200 * 3.0 / 1e6);
  EXPECT_DOUBLE_EQ(cost.cached_usd, 600 * 0.3 / 1e6);
  EXPECT_DOUBLE_EQ(cost.cache_creation_usd, 200 * 3.75 / 1e6);
  EXPECT_DOUBLE_EQ(cost.output_usd, 100 * 15.0 / 1e6);
  EXPECT_DOUBLE_EQ(cost.total_usd, (200 * 3.0 + 600 * 0.3 + 200 * 3.75 + 100 * 15.0) / 1e6);
  EXPECT_EQ(cost.price_date, "2026-11-26");
  EXPECT_EQ(cost.catalog_id, "m");
}

TEST(ModelCatalog, UnknownCachePricesChargeTheInputRate) {
  json e = entry("m", "p", "m");
  e["price_per_million"]["cached_input"] = nullptr;
  e["price_per_million"].erase("cache_write");
  e["price_per_million"]["output"] = nullptr; // an embedding model
  auto c = ModelCatalog::parse(doc({e}).dump(), "test");
  TokenUsage u;
  u.prompt_tokens = 100;
  u.cached_tokens = 40;
  u.cache_creation_tokens = 10;
  u.completion_tokens = 5;
  CallCost cost = priceUsage(*c->find("p", "m"), u);
  EXPECT_DOUBLE_EQ(cost.total_usd, 100 * 3.0 / 1e6);
  EXPECT_DOUBLE_EQ(cost.output_usd, 0);
}

class CatalogConfigTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("sy-catalog-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "prices");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  GatewayConfig parse(json config) { return parseConfig(config.dump(), dir_, dir_); }

  std::filesystem::path dir_;
};

TEST_F(CatalogConfigTest, CatalogFileIsRelativeToTheConfigAndDefaultsToTheBuiltIn) {
  std::ofstream(dir_ / "prices" / "mine.json") << doc({entry("m", "openai", "m")}).dump();
  GatewayConfig own = parse({{"catalog", "prices/mine.json"}});
  ASSERT_NE(own.catalog, nullptr);
  EXPECT_EQ(own.catalog->models().size(), 1u);
  EXPECT_EQ(parse(json::object()).catalog, ModelCatalog::builtIn());
  EXPECT_THROW(parse({{"catalog", "prices/missing.json"}}), ConfigError);
  std::ofstream(dir_ / "prices" / "bad.json") << R"({"schema":"switchyard.catalog.v1","models":[{"id":1}]})";
  EXPECT_THROW(parse({{"catalog", "prices/bad.json"}}), ConfigError);
  EXPECT_THROW(parse({{"catalog", 7}}), ConfigError);
}

TEST_F(CatalogConfigTest, ProvidersArePricedUnderTheirTypePresetOrExplicitName) {
  json config = {{"providers",
                  {{"a", {{"type", "anthropic"}, {"base_url", "https://a.example"}}},
                   {"g", {{"type", "openai"}, {"base_url", "https://g.example"}, {"config", {{"preset", "groq"}}}}},
                   {"z", {{"type", "azure-openai"}, {"base_url", "https://z.example"}, {"catalog_provider", "openai"}}}}}};
  GatewayConfig cfg = parse(config);
  EXPECT_EQ(cfg.providers.at("a").catalog_provider, "anthropic");
  EXPECT_EQ(cfg.providers.at("g").catalog_provider, "groq");
  EXPECT_EQ(cfg.providers.at("z").catalog_provider, "openai");
}

} // namespace
} // namespace switchyard
