// Gateways sharing one store (the way several nodes share one PostgreSQL database, or
// processes on one machine one SQLite file), and a store server going away and coming back.
#include <stdlib.h>

#include <chrono>
#include <thread>

#include "management_fixture.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Every node signs sessions with the same secret, as docs/admin.md asks of a cluster.
constexpr const char* kSharedSecret = "shared-session-secret-0123456789abcdef";

class ManagementStoreSharingTest : public ManagementTest {
 protected:
  void TearDown() override {
    if (second_) {
      second_->shutdown();
      second_.reset();
    }
    ManagementTest::TearDown();
  }

  /// The first node's config with the store block both nodes use.
  json sharedConfig() const {
    json c = managedConfig();
    if (storeDriver() == "sqlite") {
      c["store"]["path"] = (dir_ / "data" / "switchyard.db").string();
    }
    return c;
  }

  /// A second gateway on its own ports, data_dir, plugin cache and records, on the same store.
  void startSecond() {
    json c = sharedConfig();
    c["data_dir"] = (dir_ / "data-b").string();
    c["plugins"]["cache_dir"] = (dir_ / "cache-b").string();
    c["log_sinks"][0]["config"]["path"] = (dir_ / "calls-b.jsonl").string();
    const fs::path file = dir_ / "config-b.json";
    std::ofstream(file) << c.dump(2);
    second_ = std::make_unique<Gateway>(file);
    second_->start();
  }

  HttpResult chatOn(Gateway& node, const std::string& mount, const std::string& key) {
    return httpRequest(
        node.port(), "POST", mount + "/v1/chat/completions",
        json{{"model", "gpt-test"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}.dump(),
        {{"Authorization", "Bearer " + key}, {"Content-Type", "application/json"}});
  }
  static std::string errorCode(const HttpResult& r) {
    json j = json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"].value("code", "") : "";
  }

  std::unique_ptr<Gateway> second_;
};

TEST_F(ManagementStoreSharingTest, TwoGatewaysOnOneStoreSeeEachOthersAdminChangesWithinASecond) {
  ::setenv("SWITCHYARD_SESSION_SECRET", kSharedSecret, 1);
  startGateway(sharedConfig());
  World w = world();
  startSecond();
  Gateway& b = *second_;

  // A session made on the first node is good on the second: one user table, one secret.
  json me = json::parse(httpRequest(b.adminPort(), "GET", "/admin/v1/me", "",
                                    {{"Authorization", "Bearer " + w.b_member}})
                            .body);
  EXPECT_EQ(me["email"], "mia@b");

  // Subscribed through the second node, decided on the first, in force on both.
  HttpResult sub = httpRequest(b.adminPort(), "POST", "/admin/v1/subscriptions",
                               json{{"app_id", w.app}, {"api_id", w.api}}.dump(),
                               {{"Authorization", "Bearer " + w.b_member}});
  ASSERT_EQ(sub.status, 201) << sub.body;
  const std::string sub_id = json::parse(sub.body)["id"];
  ASSERT_TRUE(within([&] {
    return errorCode(chatOn(*gateway_, w.mount, w.key)) == "subscription_pending";
  })) << "the first node never saw the second node's subscription";

  expect(200, "POST", "/admin/v1/subscriptions/" + sub_id + "/approve", nullptr, w.a_admin);
  auto took = within([&] { return chatOn(b, w.mount, w.key).status == 200; });
  ASSERT_TRUE(took) << "the second node never saw the approval";
  // Nominally one refresh interval (200 ms); the margin is for a loaded machine.
  EXPECT_LT(took->count(), 2000) << "approval reached the other node after " << took->count()
                                 << " ms";
  // The deciding node refreshes on its own clock, like any other.
  EXPECT_TRUE(within([&] { return chatOn(*gateway_, w.mount, w.key).status == 200; }));

  // Revoked on the second node: refused by the first within a second.
  HttpResult revoke =
      httpRequest(b.adminPort(), "POST", "/admin/v1/subscriptions/" + sub_id + "/revoke",
                  json{{"reason", "moved"}}.dump(), {{"Authorization", "Bearer " + w.a_admin}});
  ASSERT_EQ(revoke.status, 200) << revoke.body;
  took = within(
      [&] { return errorCode(chatOn(*gateway_, w.mount, w.key)) == "subscription_revoked"; });
  ASSERT_TRUE(took) << "the first node never saw the revocation";
  EXPECT_LT(took->count(), 2000) << "revocation reached the other node after " << took->count()
                                 << " ms";

  // One audit log: both nodes' actions, in the order they happened.
  json audit = expect(200, "GET", "/admin/v1/audit?limit=3", nullptr, w.a_admin);
  ASSERT_GE(audit["data"].size(), 3u);
  EXPECT_EQ(audit["data"][0]["action"], "subscription.revoke");
  EXPECT_EQ(audit["data"][1]["action"], "subscription.approve");
  EXPECT_EQ(audit["data"][2]["action"], "subscription.request");

  // The bootstrap admin was made once, by whichever node started first.
  json users = expect(200, "GET", "/admin/v1/users", nullptr, w.root);
  int roots = 0;
  for (const auto& u : users["data"]) {
    roots += u["email"] == kRootEmail ? 1 : 0;
  }
  EXPECT_EQ(roots, 1);
}

TEST_F(ManagementStoreSharingTest,
       AStoreServerRestartLeavesTheDataPlaneServingAndAdminCallsWorkAfter) {
  PostgresCluster* pg = postgres();
  if (pg == nullptr) {
    GTEST_SKIP() << "the " << storeDriver() << " store has no server to restart";
  }
  start();
  World w = world(true, /*approval=*/false);
  const std::string sub_id = expect(201, "POST", "/admin/v1/subscriptions",
                                    {{"app_id", w.app}, {"api_id", w.api}}, w.b_member)["id"];
  ASSERT_TRUE(within([&] { return managedChat(w.mount, w.key).status == 200; }));

  pg->stop();
  // The control plane says the store failed, in the OpenAI shape, without hanging...
  const auto asked = Clock::now();
  HttpResult down = call("GET", "/admin/v1/apps", nullptr, w.b_member);
  EXPECT_EQ(down.status, 500) << down.body;
  EXPECT_EQ(json::parse(down.body, nullptr, false)["error"]["type"], "internal_error") << down.body;
  EXPECT_LT(Clock::now() - asked, std::chrono::seconds(15));
  // ...while the data plane keeps serving from its snapshot: it never touches the store.
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(managedChat(w.mount, w.key).status, 200);
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }

  pg->start();
  // The first admin call after the restart already works: the store reconnects by itself.
  expect(200, "GET", "/admin/v1/me", nullptr, w.b_member);
  expect(201, "POST", "/admin/v1/apps", {{"name", "after-restart"}}, w.b_member);
  expect(200, "POST", "/admin/v1/subscriptions/" + sub_id + "/revoke", nullptr, w.a_admin);
  auto took = within([&] { return managedChat(w.mount, w.key).status == 403; });
  ASSERT_TRUE(took) << "the data plane never refreshed after the store came back";
  EXPECT_LT(took->count(), 2000);
  EXPECT_EQ(json::parse(managedChat(w.mount, w.key).body)["error"]["code"], "subscription_revoked");
}

}  // namespace
}  // namespace switchyard::testing
