// Subscription decisions against a store whose state moves between the admin API's read and
// its write: the interleaving two racing admins produce, made deterministic.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <functional>

#include "management/admin_api.h"

namespace switchyard {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

/// A database that runs `before_next_transaction` (once) as another writer would, right before
/// the next transaction begins: after the admin API read the subscription, before it writes.
class InterleavingDatabase : public Database {
 public:
  explicit InterleavingDatabase(DatabasePtr inner) : inner_(std::move(inner)) {}
  std::vector<SqlRow> query(const std::string& sql, const std::vector<SqlValue>& params) override {
    return inner_->query(sql, params);
  }
  int64_t execute(const std::string& sql, const std::vector<SqlValue>& params) override {
    return inner_->execute(sql, params);
  }
  void transaction(const std::function<void()>& work) override {
    if (auto other = std::exchange(before_next_transaction, nullptr)) {
      inner_->transaction(other);
    }
    inner_->transaction(work);
  }
  std::string driver() const override { return inner_->driver(); }

  std::function<void()> before_next_transaction;

 private:
  DatabasePtr inner_;
};

class Captured : public HttpResponseWriter {
 public:
  void setHeader(const std::string&, const std::string&) override {}
  bool send(int s, std::string_view, std::string_view b) override {
    status = s;
    body = std::string(b);
    return true;
  }
  bool beginStream(int s, std::string_view) override {
    status = s;
    return true;
  }
  bool write(std::string_view b) override {
    body += b;
    return true;
  }
  void closeAfter() override {}
  bool started() const override { return status != 0; }
  int status = 0;
  std::string body;
};

class SubscriptionDecisionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sy-decide-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto db = std::make_unique<InterleavingDatabase>(
        openSqliteDatabase((dir_ / "switchyard.db").string()));
    db_ = db.get();
    store_ = std::make_unique<Store>(std::move(db));
    store_->migrate();
    store_->write([&](auto&) {
      store_->insertTenant(Tenant{"ten_a", "a", 1});
      store_->insertTenant(Tenant{"ten_b", "b", 1});
      store_->insertUser(User{"usr_a", "alice@a", "ten_a", Role::kTenantAdmin, "x", 1});
      store_->insertApp(App{"app_1", "ten_b", "crawler", "", 1});
      store_->insertService(Service{"svc_1", "ten_a", "llm", "ai", {"gpt-test"}, "", 1, nullptr});
      Api api;
      api.id = "api_1";
      api.tenant_id = "ten_a";
      api.name = "support";
      api.path = "/apis/support";
      api.version = "v1";
      api.service_id = "svc_1";
      api.state = ApiState::kPublished;
      store_->insertApi(api);
      store_->insertSubscription(Subscription{"sub_1", "app_1", "ten_b", "api_1", "ten_a",
                                              SubscriptionState::kPending, "usr_b", "", 0, "", 1});
    });
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  Captured decide(const std::string& action) {
    AdminApi admin(*store_, signer_, 3600);
    const std::string token = signer_.sign(SessionClaims{"usr_a", unixNow(), unixNow() + 3600});
    HttpRequest request{"req_1",
                        "POST",
                        "/admin/v1/subscriptions/sub_1/" + action,
                        "",
                        "",
                        {{"Authorization", "Bearer " + token}},
                        "127.0.0.1:1",
                        ""};
    Captured out;
    admin.handle(request, out);
    return out;
  }
  /// Another admin's decision, written while this one is between its read and its write.
  void otherAdminDecidesMeanwhile(SubscriptionState to) {
    db_->before_next_transaction = [this, to] {
      Subscription s = *store_->subscription("sub_1");
      s.state = to;
      s.decided_by = "usr_other";
      store_->updateSubscription(s);
    };
  }

  fs::path dir_;
  InterleavingDatabase* db_ = nullptr;
  std::unique_ptr<Store> store_;
  SessionSigner signer_{std::string(32, 's')};
};

TEST_F(SubscriptionDecisionTest, AnApprovalLosesToARejectionThatLandedAfterItsRead) {
  otherAdminDecidesMeanwhile(SubscriptionState::kRejected);
  Captured r = decide("approve");
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "concurrent_change");
  EXPECT_NE(r.body.find("rejected"), std::string::npos) << r.body;
  EXPECT_EQ(store_->subscription("sub_1")->state, SubscriptionState::kRejected);
  EXPECT_EQ(store_->subscription("sub_1")->decided_by, "usr_other");
  for (const auto& e : store_->audit("", 10)) {
    EXPECT_NE(e.action, "subscription.approve");  // the refused decision left no audit entry
  }
}

TEST_F(SubscriptionDecisionTest, ARevocationLosesToAnotherThatLandedAfterItsRead) {
  otherAdminDecidesMeanwhile(SubscriptionState::kRevoked);
  EXPECT_EQ(decide("revoke").status, 409);
  EXPECT_EQ(store_->subscription("sub_1")->decided_by, "usr_other");
}

TEST_F(SubscriptionDecisionTest, AnUndisturbedDecisionLands) {
  Captured r = decide("reject");
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(store_->subscription("sub_1")->state, SubscriptionState::kRejected);
  EXPECT_EQ(decide("approve").status, 409);  // from rejected there is no approval
}

}  // namespace
}  // namespace switchyard
