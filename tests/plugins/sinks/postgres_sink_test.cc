// Behaviour of the "postgres" log sink plugin against a private PostgreSQL server that the
// test creates (initdb), starts, stops and removes. Without the server binaries the tests
// fail with the reason: CI installs them (packaging/install-deps.sh).
#include <gtest/gtest.h>
#include <stdlib.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <switchyard/testing/fake_host.hpp>
#include <vector>

#include "postgres_cluster.h"

namespace switchyard {
namespace {

using nlohmann::json;
using testing::FakeHost;
using testing::FakeOutput;
using testing::LoadedPlugin;
using testing::LogSinkInstance;
using testing::PostgresCluster;

constexpr const char* kPasswordEnv = "SY_TEST_PG_PASSWORD";

std::string record(int i) {
  return json{{"schema", "switchyard.call.v1"},
              {"request_id", "req-" + std::to_string(1000 + i)},
              {"start_unix_ms", 1764150000000 + i},
              {"latency_ms", 120.5},
              {"ttft_ms", 40.0},
              {"principal", {{"tenant", "team-a"}, {"app", "checkout"}, {"key_id", "k1"}}},
              {"endpoint", "/v1/chat/completions"},
              {"model", "gpt-test"},
              {"provider", "mock"},
              {"upstream_model", "upstream-gpt"},
              {"stream", i % 2 == 0},
              {"status", 200},
              {"usage",
               {{"prompt_tokens", 11},
                {"completion_tokens", 7},
                {"total_tokens", 18},
                {"cached_tokens", 3}}},
              {"cost_usd", 0.25},
              {"response_flags", json::array()}}
      .dump();
}

std::vector<std::string> batch(int from, int count) {
  std::vector<std::string> out;
  for (int i = from; i < from + count; ++i) {
    out.push_back(record(i));
  }
  return out;
}

class PostgresSinkTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    try {
      cluster_ = new PostgresCluster();
    } catch (const std::exception& e) {
      setup_error_ = e.what();
    }
  }
  static void TearDownTestSuite() {
    delete cluster_;
    cluster_ = nullptr;
  }

  void SetUp() override {
    ASSERT_NE(cluster_, nullptr) << "cannot run a PostgreSQL server for this test: "
                                 << setup_error_;
    cluster_->start();
    ::setenv(kPasswordEnv, cluster_->password().c_str(), 1);
    plugin_ = std::make_unique<LoadedPlugin>(SY_TEST_PLUGIN_PATH, host_);
    // Every test gets a table of its own on the shared server.
    table_ =
        std::string("calls_") + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    for (auto& c : table_) {
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  void TearDown() override { plugin_.reset(); }

  json config() const {
    return {{"conninfo", cluster_->conninfo()},
            {"password_env", kPasswordEnv},
            {"table", table_},
            {"connect_timeout_s", 5}};
  }
  std::unique_ptr<LogSinkInstance> create(const json& c) {
    auto created = plugin_->createLogSink("postgres", c.dump());
    EXPECT_TRUE(created.ok()) << created.output.error.message;
    return std::move(created.instance);
  }
  std::string scalar(const std::string& sql) {
    const auto rows = cluster_->query(sql);
    return rows.empty() || rows[0].empty() ? "" : rows[0][0];
  }
  int rowCount() { return std::stoi(scalar("SELECT count(*) FROM " + table_)); }

  static PostgresCluster* cluster_;
  static std::string setup_error_;
  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
  std::string table_;
};

PostgresCluster* PostgresSinkTest::cluster_ = nullptr;
std::string PostgresSinkTest::setup_error_;

TEST_F(PostgresSinkTest, CreatesTheVersionedSchemaAndWritesEveryColumn) {
  auto sink = create(config());
  ASSERT_TRUE(sink);
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch(batch(0, 3), out), SY_OK) << out.error.message;
  EXPECT_EQ(rowCount(), 3);
  EXPECT_EQ(scalar("SELECT version FROM switchyard_schema WHERE name = '" + table_ + "'"), "4");

  const auto rows = cluster_->query(
      "SELECT request_id, (extract(epoch from start_time)*1000)::bigint, tenant, app, api, model, "
      "provider,"
      " upstream_model, status, error_type, prompt_tokens, completion_tokens, total_tokens,"
      " cached_tokens, reasoning_tokens, cost_usd, latency_ms, ttft_ms, stream, flags,"
      " record->>'schema' FROM " +
      table_ + " WHERE request_id = 'req-1000'");
  ASSERT_EQ(rows.size(), 1u);
  const std::vector<std::string> expected = {"req-1000",
                                             "1764150000000",
                                             "team-a",
                                             "checkout",
                                             "/v1/chat/completions",
                                             "gpt-test",
                                             "mock",
                                             "upstream-gpt",
                                             "200",
                                             "<null>",
                                             "11",
                                             "7",
                                             "18",
                                             "3",
                                             "<null>",
                                             "0.25",
                                             "120.5",
                                             "40",
                                             "t",
                                             "{}",
                                             "switchyard.call.v1"};
  EXPECT_EQ(rows[0], expected);
}

TEST_F(PostgresSinkTest, RedeliveryNeverDuplicatesARow) {
  auto sink = create(config());
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch(batch(0, 5), out), SY_OK);
  ASSERT_EQ(sink->writeBatch(batch(0, 5), out), SY_OK);  // the host retried after a lost answer
  ASSERT_EQ(sink->writeBatch(batch(3, 5), out), SY_OK);  // overlapping batch
  auto twice = batch(8, 1);
  twice.push_back(twice.front());  // the same record twice in one batch
  ASSERT_EQ(sink->writeBatch(twice, out), SY_OK);
  EXPECT_EQ(rowCount(), 9);
}

TEST_F(PostgresSinkTest, ServerDownFailsTheBatchAndTheSinkReconnectsWhenItIsBack) {
  auto sink = create(config());
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch(batch(0, 2), out), SY_OK);

  cluster_->stop();
  FakeOutput down;
  EXPECT_NE(sink->writeBatch(batch(2, 2), down), SY_OK);
  EXPECT_TRUE(down.error.set);
  EXPECT_FALSE(down.error.message.empty());

  cluster_->start();
  FakeOutput up;
  ASSERT_EQ(sink->writeBatch(batch(2, 2), up), SY_OK) << up.error.message;
  EXPECT_EQ(rowCount(), 4);
}

TEST_F(PostgresSinkTest, StartsWhileTheServerIsDownAndCatchesUp) {
  cluster_->stop();
  auto sink = create(config());  // the gateway must come up without its database
  ASSERT_TRUE(sink);
  FakeOutput down;
  EXPECT_NE(sink->writeBatch(batch(0, 3), down), SY_OK);
  cluster_->start();
  FakeOutput up;
  ASSERT_EQ(sink->writeBatch(batch(0, 3), up), SY_OK) << up.error.message;
  EXPECT_EQ(rowCount(), 3);
}

TEST_F(PostgresSinkTest, AWrongPasswordIsAFailureThatNeverShowsThePassword) {
  ::setenv(kPasswordEnv, "wrong-password-77aa", 1);
  auto sink = create(config());
  ASSERT_TRUE(sink);
  FakeOutput out;
  EXPECT_NE(sink->writeBatch(batch(0, 1), out), SY_OK);
  EXPECT_NE(out.error.message.find("password"), std::string::npos) << out.error.message;
  EXPECT_FALSE(out.contains("wrong-password-77aa"));
  EXPECT_FALSE(host_.logsContain("wrong-password-77aa"));
}

TEST_F(PostgresSinkTest, OddFieldValuesBecomeNullInsteadOfBlockingTheSink) {
  auto sink = create(config());
  json odd = json::parse(record(0));
  odd["status"] = "two hundred";
  odd["usage"] = "none";
  odd["model"] = std::string("nul\0here", 8);
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({odd.dump(), "not json", R"({"no_id":1})"}, out), SY_OK)
      << out.error.message;
  EXPECT_EQ(rowCount(), 1);
  EXPECT_EQ(scalar("SELECT coalesce(status::text, 'null') FROM " + table_), "null");
}

TEST_F(PostgresSinkTest, ANewerSchemaThanThePluginKnowsIsRefused) {
  cluster_->query(
      "CREATE TABLE IF NOT EXISTS switchyard_schema (name text PRIMARY KEY,"
      " version integer NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())");
  cluster_->query("INSERT INTO switchyard_schema (name, version) VALUES ('" + table_ + "', 99)");
  auto sink = create(config());
  FakeOutput out;
  EXPECT_NE(sink->writeBatch(batch(0, 1), out), SY_OK);
  EXPECT_NE(out.error.message.find("newer"), std::string::npos) << out.error.message;
}

TEST_F(PostgresSinkTest, RejectsBadConfig) {
  auto bad = [&](json c) { return !plugin_->createLogSink("postgres", c.dump()).ok(); };
  EXPECT_TRUE(bad(json::object()));
  EXPECT_TRUE(bad({{"conninfo", cluster_->conninfo() + " password=inline"}}));
  EXPECT_TRUE(bad({{"conninfo", "host=127.0.0.1 nonsense_key=1"}}));
  EXPECT_TRUE(bad({{"conninfo", cluster_->conninfo()}, {"table", "Calls; DROP TABLE x"}}));
  EXPECT_TRUE(bad({{"conninfo", cluster_->conninfo()}, {"password_env", "SY_TEST_UNSET_VAR_X"}}));
  EXPECT_TRUE(bad({{"conninfo", cluster_->conninfo()}, {"pool", 4}}));
}

}  // namespace
}  // namespace switchyard
