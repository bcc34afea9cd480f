#include <gtest/gtest.h>
#include <stdlib.h>

#include "parse_config.h"
#include "switchyard/config/config.h"

namespace switchyard {
namespace {

using config_testing::errorOf;
using config_testing::parse;

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

TEST(StoreConfig, PostgresqlTakesAUrlAndThePasswordFromTheEnvironment) {
  GatewayConfig c = parse(R"({"store": {"driver": "postgresql",
      "url": "postgresql://switchyard@db.internal:5432/switchyard?sslmode=require",
      "password_env": "SY_STORE_PW"}})");
  EXPECT_EQ(c.store.driver, "postgresql");
  EXPECT_EQ(c.store.url, "postgresql://switchyard@db.internal:5432/switchyard?sslmode=require");
  EXPECT_EQ(c.store.password_env, "SY_STORE_PW");
  ::unsetenv("SY_STORE_PW");
  try {
    storePassword(c.store);
    FAIL() << "an unset password variable was accepted";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("SY_STORE_PW"), std::string::npos);
  }
  ::setenv("SY_STORE_PW", "s3cret-pw", 1);
  EXPECT_EQ(storePassword(c.store), "s3cret-pw");
  ::unsetenv("SY_STORE_PW");
  EXPECT_EQ(parse(R"({"store": {"driver": "postgresql", "url": "host=db dbname=sy"}})").store.url,
            "host=db dbname=sy");
}

TEST(StoreConfig, PostgresqlRefusesAnInlinePasswordAMissingUrlAndSqliteFields) {
  for (const char* bad :
       {R"({"store": {"driver": "postgresql", "url": "host=db password=hunter2"}})",
        R"({"store": {"driver": "postgresql", "url": "postgresql://sy:hunter2@db/sy"}})",
        R"({"store": {"driver": "postgresql", "url": "host=db bogus"}})"}) {
    const std::string error = errorOf(bad);
    EXPECT_NE(error.find("store.url"), std::string::npos) << bad << ": " << error;
    EXPECT_EQ(error.find("hunter2"), std::string::npos) << error;
  }
  EXPECT_NE(errorOf(R"({"store": {"driver": "postgresql"}})").find("store.url"), std::string::npos);
  EXPECT_NE(errorOf(R"({"store": {"driver": "postgresql", "url": "host=db", "path": "x.db"}})")
                .find("store.path"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"store": {"url": "host=db"}})").find("store.url"), std::string::npos);
  EXPECT_NE(errorOf(R"({"store": {"password_env": "X"}})").find("store.password_env"),
            std::string::npos);
}

} // namespace
} // namespace switchyard
