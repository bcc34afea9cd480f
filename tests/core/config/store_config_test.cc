#include <gtest/gtest.h>

#include "switchyard/config/config.h"

namespace switchyard {
namespace {

GatewayConfig parse(const std::string& text) { return parseConfig(text, "/etc/sy", "/opt/sy/bin"); }

TEST(StoreConfig, OffUnlessConfigured) { EXPECT_FALSE(parse("{}").store.enabled); }

TEST(StoreConfig, DefaultsToSqliteUnderTheDataDir) {
  GatewayConfig c = parse(R"({"data_dir": "state", "store": {}})");
  EXPECT_TRUE(c.store.enabled);
  EXPECT_EQ(c.store.driver, "sqlite");
  EXPECT_EQ(c.data_dir, "/etc/sy/state");
  EXPECT_EQ(c.store.path, "/etc/sy/state/switchyard.db");
  EXPECT_EQ(c.store.session_ttl_s, 12 * 3600);
}

TEST(StoreConfig, PathResolvesAgainstTheConfigAndBadFieldsAreNamed) {
  EXPECT_EQ(parse(R"({"store": {"path": "db/x.db"}})").store.path, "/etc/sy/db/x.db");
  try {
    parse(R"({"store": {"driver": "mysql"}})");
    FAIL() << "accepted an unknown driver";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("store.driver"), std::string::npos);
  }
  EXPECT_THROW(parse(R"({"store": {"session_ttl_s": 1}})"), ConfigError);
  EXPECT_THROW(parse(R"({"store": {"nope": 1}})"), ConfigError);
}

} // namespace
} // namespace switchyard
