// The management store on every driver: SQLite in a temp file, PostgreSQL in a fresh database
// on the test process's private server (support/postgres_cluster.h).
#include "switchyard/store/store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <thread>

#include "support/postgres_cluster.h"

namespace switchyard {
namespace {

namespace fs = std::filesystem;
using testing::PostgresCluster;
using testing::sharedPostgresCluster;

/// A temp directory per test (the SQLite file lives there).
class StoreDir : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sy-store-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::string dbPath() const { return (dir_ / "data" / "switchyard.db").string(); }
  fs::path dir_;
};

/// The same tests for each driver; the parameter is the driver's name.
class StoreTest : public StoreDir, public ::testing::WithParamInterface<std::string> {
 protected:
  void SetUp() override {
    StoreDir::SetUp();
    if (GetParam() == "postgresql") {
      database_ = sharedPostgresCluster().createDatabase();
    }
  }
  /// A new connection to this test's database, not migrated.
  DatabasePtr connect() const {
    if (GetParam() == "postgresql") {
      PostgresCluster& pg = sharedPostgresCluster();
      return openPostgresDatabase(pg.conninfo(database_), pg.password());
    }
    return openSqliteDatabase(dbPath());
  }
  /// A store on a new connection, migrated.
  StorePtr open() const {
    if (GetParam() == "postgresql") {
      PostgresCluster& pg = sharedPostgresCluster();
      return openStore("postgresql", pg.conninfo(database_), pg.password());
    }
    return openStore("sqlite", dbPath());
  }
  std::string database_;
};

/// Runs `body` on `threads` threads at once, as that many gateway nodes would.
/// @return how many of them threw (each one is reported as a failure).
int concurrently(int threads, const std::function<void()>& body) {
  std::atomic<int> failed{0};
  std::vector<std::thread> nodes;
  for (int i = 0; i < threads; ++i) {
    nodes.emplace_back([&] {
      try {
        body();
      } catch (const std::exception& e) {
        ADD_FAILURE() << e.what();
        ++failed;
      }
    });
  }
  for (auto& t : nodes) {
    t.join();
  }
  return failed;
}

INSTANTIATE_TEST_SUITE_P(Drivers, StoreTest, ::testing::Values("sqlite", "postgresql"),
                         [](const auto& info) { return info.param; });

TEST_F(StoreDir, SqliteCreatesTheFileAndItsDirectoryOwnerOnlyOnFirstOpen) {
  auto store = openStore("sqlite", dbPath());
  EXPECT_TRUE(fs::exists(dbPath()));
  EXPECT_GE(store->schemaVersion(), 1);
  const auto perms = fs::status(dbPath()).permissions();
  EXPECT_EQ(perms & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
}

TEST_P(StoreTest, MigrationsApplyOnceAndReopeningKeepsTheData) {
  int version = 0;
  {
    Store store(connect());
    EXPECT_GE(store.migrate(), 1);
    EXPECT_EQ(store.migrate(), 0);
    version = store.schemaVersion();
    store.write([&](auto&) { store.insertTenant(Tenant{"ten_1", "payments", 1}); });
  }
  Store again(connect());
  EXPECT_EQ(again.migrate(), 0);
  EXPECT_EQ(again.schemaVersion(), version);
  ASSERT_EQ(again.tenants().size(), 1u);
  EXPECT_EQ(again.tenants()[0].name, "payments");
}

TEST_P(StoreTest, TwoNodesMigratingAtOnceApplyEachMigrationOnce) {
  std::atomic<int> applied{0};
  EXPECT_EQ(concurrently(4, [&] { applied += Store(connect()).migrate(); }), 0);
  // Together they applied each migration once: as many as one store applies alone.
  const int all = Store(openSqliteDatabase((dir_ / "alone.db").string())).migrate();
  EXPECT_EQ(applied, all);
  EXPECT_EQ(open()->migrate(), 0);
}

TEST_P(StoreTest, EveryWriteBumpsTheChangeCounterAndRecordsItsAudit) {
  auto store = open();
  const int64_t before = store->changeSeq();
  store->write([&](std::vector<AuditEntry>& log) {
    store->insertTenant(Tenant{"ten_1", "payments", 1});
    log.push_back(AuditEntry{"", 0, "usr_1", "root@example.com", "ten_1", "tenant.create", "tenant",
                             "ten_1", nullptr, nlohmann::json{{"name", "payments"}}});
  });
  EXPECT_EQ(store->changeSeq(), before + 1);
  auto audit = store->audit("ten_1", 10);
  ASSERT_EQ(audit.size(), 1u);
  EXPECT_EQ(audit[0].action, "tenant.create");
  EXPECT_EQ(audit[0].actor_email, "root@example.com");
  EXPECT_TRUE(audit[0].before.is_null());
  EXPECT_EQ(audit[0].after["name"], "payments");
}

TEST_P(StoreTest, AFailedWriteLeavesNothingBehind) {
  auto store = open();
  store->write([&](auto&) { store->insertTenant(Tenant{"ten_1", "payments", 1}); });
  const int64_t seq = store->changeSeq();
  EXPECT_THROW(store->write([&](std::vector<AuditEntry>& log) {
    store->insertTenant(Tenant{"ten_2", "search", 1});
    log.push_back(
        AuditEntry{"", 0, "u", "e", "ten_2", "tenant.create", "tenant", "ten_2", nullptr, nullptr});
    store->insertTenant(Tenant{"ten_3", "payments", 1});  // name taken
  }),
               StoreConflict);
  EXPECT_EQ(store->tenants().size(), 1u);
  EXPECT_EQ(store->changeSeq(), seq);
  EXPECT_TRUE(store->audit("ten_2", 10).empty());
  // A reference to nothing is a conflict too (foreign key), and the store goes on working.
  EXPECT_THROW(store->write([&](auto&) {
    store->insertApp(App{"app_1", "ten_x", "a", "", 1});
  }),
               StoreConflict);
  store->write([&](auto&) { store->insertApp(App{"app_1", "ten_1", "a", "", 1}); });
  EXPECT_EQ(store->apps("ten_1").size(), 1u);
}

TEST_P(StoreTest, EntitiesRoundTrip) {
  auto store = open();
  store->write([&](auto&) {
    store->insertTenant(Tenant{"ten_a", "a", 1});
    store->insertTenant(Tenant{"ten_b", "b", 1});
    store->insertUser(
        User{"usr_1", "admin@a", "ten_a", Role::kTenantAdmin, "pbkdf2-sha256$1$00$00", 2});
    store->insertUser(User{"usr_0", "root@x", "", Role::kSystemAdmin, "h", 2});
    store->insertApp(App{"app_1", "ten_b", "checkout", "d 'quoted' ?", 3});
    store->insertKey(AppKey{"key_1", "app_1", "ten_b", "default", "sy-1234", "hash1", 100, 0, 3});
    store->insertService(
        Service{"svc_1", "ten_a", "llm", "ai", {"gpt-test", "embed-test"}, "", 4, nullptr});
    Api api;
    api.id = "api_1";
    api.tenant_id = "ten_a";
    api.name = "support";
    api.path = "/apis/support";
    api.version = "v1";
    api.methods = {"POST"};
    api.service_id = "svc_1";
    api.sunset_at = 4102444800;  // beyond 32 bits
    store->insertApi(api);
    store->insertSubscription(Subscription{"sub_1", "app_1", "ten_b", "api_1", "ten_a",
                                           SubscriptionState::kPending, "usr_1", "", 0, "", 5});
  });
  EXPECT_EQ(store->userByEmail("admin@a")->role, Role::kTenantAdmin);
  EXPECT_EQ(store->userByEmail("root@x")->tenant_id, "");  // NULL reads back as empty
  EXPECT_EQ(store->userCount(), 2);
  EXPECT_EQ(store->app("app_1")->description, "d 'quoted' ?");
  EXPECT_EQ(store->service("svc_1")->models, (std::vector<std::string>{"gpt-test", "embed-test"}));
  EXPECT_TRUE(store->service("svc_1")->prompt.is_null());
  // A prompt service keeps its spec as one document.
  const nlohmann::json spec = {{"model", "gpt-test"},
                               {"messages", {{{"role", "user"}, {"content", "{{text}}"}}}},
                               {"variables", {{"text", {{"type", "string"}}}}}};
  Service prompt{"svc_2", "ten_a", "summarise", "prompt", {}, "", 6, spec};
  store->write([&](auto&) { store->insertService(prompt); });
  EXPECT_EQ(store->service("svc_2")->prompt, spec);
  prompt.prompt["parameters"] = {{"temperature", 0}};
  store->write([&](auto&) { store->updateService(prompt); });
  EXPECT_EQ(store->service("svc_2")->prompt["parameters"]["temperature"], 0);
  EXPECT_EQ(store->api("api_1")->mount(), "/apis/support/v1");
  EXPECT_EQ(store->api("api_1")->state, ApiState::kDraft);
  EXPECT_EQ(store->api("api_1")->sunset_at, 4102444800);
  EXPECT_EQ(store->apisUsingService("svc_1"), 1);
  // A subscription shows on both sides and nowhere else.
  EXPECT_EQ(store->subscriptions("ten_a").size(), 1u);
  EXPECT_EQ(store->subscriptions("ten_b").size(), 1u);
  EXPECT_EQ(store->subscriptions("ten_c").size(), 0u);
  auto snap = store->snapshot();
  EXPECT_EQ(snap.keys.size(), 1u);
  EXPECT_EQ(snap.change_seq, store->changeSeq());
  // Two versions of one path may coexist, the same version twice may not.
  Api v2 = *store->api("api_1");
  v2.id = "api_2";
  v2.version = "v2";
  EXPECT_NO_THROW(store->write([&](auto&) { store->insertApi(v2); }));
  v2.id = "api_3";
  EXPECT_THROW(store->write([&](auto&) { store->insertApi(v2); }), StoreConflict);
  store->write([&](auto&) { store->deleteApp("app_1"); });
  EXPECT_FALSE(store->key("key_1"));
  EXPECT_FALSE(store->subscription("sub_1"));
}

// Two gateways share one database: a write that reads before it writes (the next tenant's
// name from the count) must never interleave with another node's, or names would clash.
TEST_P(StoreTest, WritersOnSeparateConnectionsExcludeEachOther) {
  open();
  constexpr int kNodes = 3;
  constexpr int kWrites = 15;
  const int failed = concurrently(kNodes, [&] {
    Store store(connect());
    for (int i = 0; i < kWrites; ++i) {
      store.write([&](std::vector<AuditEntry>& log) {
        const auto count = store.tenants().size();
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        const std::string id = newId("ten");
        store.insertTenant(Tenant{id, "t" + std::to_string(count), 1});
        log.push_back(
            AuditEntry{"", 0, "u", "e", id, "tenant.create", "tenant", id, nullptr, nullptr});
      });
    }
  });
  EXPECT_EQ(failed, 0);
  auto store = open();
  EXPECT_EQ(store->tenants().size(), size_t{kNodes * kWrites});
  EXPECT_EQ(store->changeSeq(), kNodes * kWrites);
  EXPECT_EQ(store->audit("", 1000).size(), size_t{kNodes * kWrites});
}

TEST(PostgresStore, PlaceholdersAreNumberedOutsideQuotesAndComments) {
  EXPECT_EQ(postgresPlaceholders("SELECT a FROM t WHERE b = ? AND c = ?"),
            "SELECT a FROM t WHERE b = $1 AND c = $2");
  EXPECT_EQ(postgresPlaceholders("SELECT '?', \"a?\" FROM t -- what?\nWHERE x = ? /* ? */"),
            "SELECT '?', \"a?\" FROM t -- what?\nWHERE x = $1 /* ? */");
  EXPECT_EQ(postgresPlaceholders("SELECT 'it''s ?' WHERE y = ?"), "SELECT 'it''s ?' WHERE y = $1");
  EXPECT_EQ(postgresPlaceholders("INSERT INTO t VALUES (?, ?, ?)"),
            "INSERT INTO t VALUES ($1, $2, $3)");
}

TEST(PostgresStore, UrlsWithAPasswordOrUnparsableAreRefused) {
  EXPECT_EQ(postgresUrlProblem("host=db.internal dbname=sy user=sy"), "");
  EXPECT_EQ(postgresUrlProblem("postgresql://sy@db.internal:5433/sy?sslmode=require"), "");
  EXPECT_NE(postgresUrlProblem("host=db password=hunter2"), "");
  EXPECT_NE(postgresUrlProblem("postgresql://sy:hunter2@db/sy"), "");
  EXPECT_NE(postgresUrlProblem("host=db nonsense"), "");
  EXPECT_NE(postgresUrlProblem(""), "");
  EXPECT_EQ(postgresTarget("postgresql://sy@db.internal:5433/store"), "sy@db.internal:5433/store");
  EXPECT_EQ(postgresTarget("host=10.0.0.5 dbname=store"), "10.0.0.5:5432/store");
}

TEST(PostgresStore, AWrongPasswordNamesTheServerButNeverThePassword) {
  PostgresCluster& pg = sharedPostgresCluster();
  try {
    openStore("postgresql", pg.conninfo(), "not-the-password-7c1d");
    FAIL() << "connected with a wrong password";
  } catch (const StoreError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("127.0.0.1:" + std::to_string(pg.port()) + "/switchyard"),
              std::string::npos)
        << what;
    EXPECT_EQ(what.find("not-the-password-7c1d"), std::string::npos) << what;
  }
}

TEST(PostgresStore, TheUrlOverridesTheDriversConnectionDefaults) {
  PostgresCluster& pg = sharedPostgresCluster();
  auto plain = openPostgresDatabase(pg.conninfo(), pg.password());
  EXPECT_EQ(sqlText(plain->query("SHOW statement_timeout")[0][0]), "1min");
  EXPECT_EQ(sqlText(plain->query("SHOW application_name")[0][0]), "switchyard");
  auto tuned = openPostgresDatabase(
      pg.conninfo() + " application_name=node-7 options='-c statement_timeout=5000'",
      pg.password());
  EXPECT_EQ(sqlText(tuned->query("SHOW statement_timeout")[0][0]), "5s");
  EXPECT_EQ(sqlText(tuned->query("SHOW application_name")[0][0]), "node-7");
}

// The server drops the store's connection (a restart, an operator's pg_terminate_backend):
// the next call opens a new one by itself instead of failing forever.
TEST(PostgresStore, ADroppedConnectionIsReopenedAndARestartedServerIsUsedAgain) {
  PostgresCluster& pg = sharedPostgresCluster();
  const std::string db = pg.createDatabase();
  auto store = openStore("postgresql", pg.conninfo(db), pg.password());
  store->write([&](auto&) { store->insertTenant(Tenant{"ten_1", "payments", 1}); });

  pg.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = "
      "'switchyard' AND datname = '" +
      db + "'");
  EXPECT_EQ(store->tenants().size(), 1u);
  store->write([&](auto&) { store->insertTenant(Tenant{"ten_2", "search", 1}); });

  pg.stop();
  EXPECT_THROW(store->changeSeq(), StoreError);
  EXPECT_THROW(store->write([&](auto&) {
    store->insertTenant(Tenant{"ten_3", "x", 1});
  }),
               StoreError);
  pg.start();
  EXPECT_EQ(store->tenants().size(), 2u);
  store->write([&](auto&) { store->insertTenant(Tenant{"ten_3", "x", 1}); });
  EXPECT_EQ(store->tenants().size(), 3u);
}

TEST(PostgresStore, TheServerRestartingWhileIdleCostsNoCall) {
  PostgresCluster& pg = sharedPostgresCluster();
  auto store = openStore("postgresql", pg.conninfo(pg.createDatabase()), pg.password());
  const int64_t seq = store->changeSeq();
  pg.stop();
  pg.start();
  EXPECT_EQ(store->changeSeq(), seq);
  store->write([&](auto&) { store->insertTenant(Tenant{"ten_1", "payments", 1}); });
  EXPECT_EQ(store->changeSeq(), seq + 1);
}

TEST_P(StoreTest, RestServiceSettingsRoundTripAndOneUrlServicesReadAsAPoolOfOne) {
  auto store = open();
  Service pool{"svc_p", "ten_a", "pool", "rest", {}, "http://a", 1, nullptr};
  pool.base_urls = {"http://a", "http://b"};
  pool.timeouts = {{"first_byte_ms", 500}};
  pool.retry = {{"attempts", 2}};
  Service single{"svc_s", "ten_a", "single", "rest", {}, "http://only", 1, nullptr};
  store->write([&](auto&) {
    store->insertTenant(Tenant{"ten_a", "a", 1});
    store->insertService(pool);
    store->insertService(single);
  });
  auto read = store->service("svc_p");
  ASSERT_TRUE(read);
  EXPECT_EQ(read->base_urls, pool.base_urls);
  EXPECT_EQ(read->timeouts, pool.timeouts);
  EXPECT_EQ(read->retry, pool.retry);
  EXPECT_EQ(store->service("svc_s")->base_urls, std::vector<std::string>{"http://only"});
  pool.base_urls = {"http://c"};
  pool.base_url = "http://c";
  store->write([&](auto&) { store->updateService(pool); });
  EXPECT_EQ(store->snapshot().services[0].base_urls, std::vector<std::string>{"http://c"});
}

TEST_P(StoreTest, ASubscriptionDecisionOnlyLandsFromTheStateItWasMadeIn) {
  auto store = open();
  Subscription sub{"sub_1", "app_1", "ten_b", "api_1", "ten_a", SubscriptionState::kPending,
                   "usr_1", "",      0,       "",      5};
  store->write([&](auto&) {
    store->insertTenant(Tenant{"ten_a", "a", 1});
    store->insertTenant(Tenant{"ten_b", "b", 1});
    store->insertApp(App{"app_1", "ten_b", "checkout", "d", 3});
    store->insertService(Service{"svc_1", "ten_a", "llm", "ai", {"gpt-test"}, "", 4, nullptr});
    Api api;
    api.id = "api_1";
    api.tenant_id = "ten_a";
    api.name = "support";
    api.path = "/apis/support";
    api.version = "v1";
    api.service_id = "svc_1";
    store->insertApi(api);
    store->insertSubscription(sub);
  });
  Subscription approved = sub;
  approved.state = SubscriptionState::kApproved;
  Subscription rejected = sub;
  rejected.state = SubscriptionState::kRejected;
  bool first = false;
  bool second = true;
  store->write(
      [&](auto&) { first = store->updateSubscriptionFrom(approved, SubscriptionState::kPending); });
  store->write([&](auto&) {
    second = store->updateSubscriptionFrom(rejected, SubscriptionState::kPending);
  });
  EXPECT_TRUE(first);
  EXPECT_FALSE(second);
  EXPECT_EQ(store->subscription("sub_1")->state, SubscriptionState::kApproved);
}

}  // namespace
}  // namespace switchyard

namespace switchyard {
namespace {

TEST_P(StoreTest, AnApiKeepsItsOwnersOpenApiDocument) {
  auto store = open();
  Api api;
  api.id = "api_1";
  api.tenant_id = "ten_a";
  api.name = "orders";
  api.path = "/apis/orders";
  api.version = "v1";
  api.methods = {"GET"};
  api.service_id = "svc_1";
  store->write([&](auto&) {
    store->insertTenant(Tenant{"ten_a", "a", 1});
    store->insertService(
        Service{"svc_1", "ten_a", "orders", "rest", {}, "http://orders", 1, nullptr});
    store->insertApi(api);
  });
  EXPECT_EQ(store->api("api_1")->openapi, "");
  EXPECT_EQ(toJson(*store->api("api_1"))["has_openapi"], false);
  api.openapi = R"({"openapi":"3.1.0","info":{"title":"Orders","version":"1"},"paths":{}})";
  store->write([&](auto&) { store->updateApi(api); });
  EXPECT_EQ(store->api("api_1")->openapi, api.openapi);
  EXPECT_EQ(toJson(*store->api("api_1"))["has_openapi"], true);
  // The document is not part of the JSON the admin API lists (nor of audit entries).
  EXPECT_FALSE(toJson(*store->api("api_1")).contains("openapi"));
}

}  // namespace
}  // namespace switchyard
