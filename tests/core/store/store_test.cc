#include "switchyard/store/store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace switchyard {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
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

TEST_F(StoreTest, CreatesTheFileAndItsDirectoryOwnerOnlyOnFirstOpen) {
  auto store = openStore("sqlite", dbPath());
  EXPECT_TRUE(fs::exists(dbPath()));
  EXPECT_EQ(store->schemaVersion(), 3);
  const auto perms = fs::status(dbPath()).permissions();
  EXPECT_EQ(perms & (fs::perms::group_all | fs::perms::others_all), fs::perms::none);
}

TEST_F(StoreTest, MigrationsApplyOnceAndReopeningKeepsTheData) {
  {
    Store store(openSqliteDatabase(dbPath()));
    EXPECT_EQ(store.migrate(), 2);  // versions 1 and 3
    EXPECT_EQ(store.migrate(), 0);
    store.write([&](auto&) { store.insertTenant(Tenant{"ten_1", "payments", 1}); });
  }
  Store again(openSqliteDatabase(dbPath()));
  EXPECT_EQ(again.migrate(), 0);
  EXPECT_EQ(again.schemaVersion(), 3);
  ASSERT_EQ(again.tenants().size(), 1u);
  EXPECT_EQ(again.tenants()[0].name, "payments");
}

TEST_F(StoreTest, EveryWriteBumpsTheChangeCounterAndRecordsItsAudit) {
  auto store = openStore("sqlite", dbPath());
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

TEST_F(StoreTest, AFailedWriteLeavesNothingBehind) {
  auto store = openStore("sqlite", dbPath());
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
}

TEST_F(StoreTest, EntitiesRoundTrip) {
  auto store = openStore("sqlite", dbPath());
  store->write([&](auto&) {
    store->insertTenant(Tenant{"ten_a", "a", 1});
    store->insertTenant(Tenant{"ten_b", "b", 1});
    store->insertUser(
        User{"usr_1", "admin@a", "ten_a", Role::kTenantAdmin, "pbkdf2-sha256$1$00$00", 2});
    store->insertApp(App{"app_1", "ten_b", "checkout", "d", 3});
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
    store->insertApi(api);
    store->insertSubscription(Subscription{"sub_1", "app_1", "ten_b", "api_1", "ten_a",
                                           SubscriptionState::kPending, "usr_1", "", 0, "", 5});
  });
  EXPECT_EQ(store->userByEmail("admin@a")->role, Role::kTenantAdmin);
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

}  // namespace
}  // namespace switchyard
