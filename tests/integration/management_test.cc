// API management end to end: a real gateway with a store (each driver in turn), driven through
// /admin/v1 on its admin port, calling the mock upstream through managed APIs on its data port.
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <stdlib.h>

#include <chrono>
#include <sstream>
#include <thread>

#include "management_fixture.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

TEST_F(ManagementTest, TheJourneySubscribeApproveCallRevoke) {
  start();
  World w = world();

  // B finds A's API in the catalog and subscribes its app: pending, so calls are refused.
  json catalog = expect(200, "GET", "/admin/v1/catalog", nullptr, w.b_member);
  ASSERT_EQ(catalog["data"].size(), 1u);
  EXPECT_EQ(catalog["data"][0]["tenant"]["name"], "payments");
  EXPECT_EQ(catalog["data"][0]["approval_required"], true);
  json sub = expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", w.api}},
                    w.b_member);
  EXPECT_EQ(sub["state"], "pending");
  const std::string sub_id = sub["id"];
  // Calls were already refused (no subscription); wait until the snapshot knows it is pending.
  ASSERT_TRUE(within([&] {
    HttpResult r = managedChat(w.mount, w.key);
    return r.status == 403 && r.body.find("subscription_pending") != std::string::npos;
  }));
  HttpResult refused = managedChat(w.mount, w.key);
  json err = json::parse(refused.body);
  EXPECT_EQ(err["error"]["code"], "subscription_pending");
  EXPECT_NE(err["error"]["message"].get<std::string>().find("pending"), std::string::npos);
  EXPECT_EQ(upstream_.requestCount(), 0u);

  // B cannot approve its own request; A's admin can.
  expect(403, "POST", "/admin/v1/subscriptions/" + sub_id + "/approve", nullptr, w.b_admin);
  json approved =
      expect(200, "POST", "/admin/v1/subscriptions/" + sub_id + "/approve", nullptr, w.a_admin);
  EXPECT_EQ(approved["state"], "approved");
  EXPECT_FALSE(approved["decided_by"].is_null());
  EXPECT_FALSE(approved["decided_at"].is_null());
  auto took = within([&] { return managedChat(w.mount, w.key).status == 200; });
  ASSERT_TRUE(took) << "approval never took effect";
  EXPECT_LT(took->count(), 2000) << "approval took " << took->count() << " ms";
  HttpResult ok = managedChat(w.mount, w.key);
  EXPECT_EQ(json::parse(ok.body)["choices"][0]["message"]["content"], "echo: hi");
  EXPECT_EQ(json::parse(upstream_.lastRequest().body)["model"], "upstream-gpt");
  // The call record names the caller by tenant, app and key.
  auto recs = records();
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs.back()["principal"]["tenant"], "search");
  EXPECT_EQ(recs.back()["principal"]["app"], "crawler");
  EXPECT_EQ(recs.back()["principal"]["key_id"], w.key_id);
  // The service offers gpt-test only; the key does not reach other model routes.
  EXPECT_EQ(managedChat(w.mount, w.key, "embed-test").status, 404);
  // Models and embeddings under the mount, the OpenAI client's way.
  HttpResult models = httpRequest(gateway_->port(), "GET", w.mount + "/v1/models", "",
                                  {{"Authorization", "Bearer " + w.key}});
  EXPECT_EQ(models.status, 200);
  EXPECT_EQ(json::parse(models.body)["data"][0]["id"], "gpt-test");
  // A managed key is not a gateway key: the ordinary routes refuse it.
  EXPECT_EQ(chat({{"model", "gpt-test"}, {"messages", {{{"role", "user"}, {"content", "x"}}}}},
                 {{"Authorization", "Bearer " + w.key}})
                .status,
            401);

  // A revokes: refused again within a second.
  expect(200, "POST", "/admin/v1/subscriptions/" + sub_id + "/revoke", {{"reason", "abuse"}},
         w.a_admin);
  took = within([&] { return managedChat(w.mount, w.key).status == 403; });
  ASSERT_TRUE(took);
  EXPECT_LT(took->count(), 2000) << "revocation took " << took->count() << " ms";
  EXPECT_EQ(json::parse(managedChat(w.mount, w.key).body)["error"]["code"], "subscription_revoked");

  // Re-requesting goes back to pending; a rejection says so.
  sub = expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", w.api}},
               w.b_admin);
  EXPECT_EQ(sub["state"], "pending");
  expect(200, "POST", "/admin/v1/subscriptions/" + sub_id + "/reject", nullptr, w.a_admin);
  ASSERT_TRUE(within([&] {
    return json::parse(managedChat(w.mount, w.key).body)["error"]["code"] ==
           "subscription_rejected";
  }));

  // Every step is in the audit log, each side seeing its own.
  json audit_a = expect(200, "GET", "/admin/v1/audit", nullptr, w.a_admin);
  std::vector<std::string> actions;
  for (const auto& e : audit_a["data"]) {
    actions.push_back(e["action"]);
    EXPECT_EQ(e["tenant_id"], w.tenant_a);
  }
  for (const char* a : {"api.create", "api.publish", "subscription.request", "subscription.approve",
                        "subscription.revoke", "subscription.reject", "service.create"}) {
    EXPECT_NE(std::find(actions.begin(), actions.end(), a), actions.end()) << a;
  }
  json last = audit_a["data"][0];
  EXPECT_EQ(last["action"], "subscription.reject");
  EXPECT_EQ(last["actor"]["email"], "alice@a");
  EXPECT_EQ(last["before"]["state"], "pending");
  EXPECT_EQ(last["after"]["state"], "rejected");
  expect(403, "GET", "/admin/v1/audit", nullptr, w.b_member);
}

TEST_F(ManagementTest, WithoutApprovalASubscriptionIsApprovedAtOnceAndNoneIsRefused) {
  start();
  World w = world(true, false);
  auto refused = [&] { return json::parse(managedChat(w.mount, w.key).body)["error"]["code"]; };
  ASSERT_TRUE(within([&] { return refused() == "subscription_required"; }));
  EXPECT_NE(
      json::parse(managedChat(w.mount, w.key).body)["error"]["message"].get<std::string>().find(
          "no subscription"),
      std::string::npos);
  json sub = expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", w.api}},
                    w.b_member);
  EXPECT_EQ(sub["state"], "approved");
  EXPECT_EQ(sub["decided_by"], "auto");
  ASSERT_TRUE(within([&] { return managedChat(w.mount, w.key).status == 200; }));
  expect(409, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", w.api}},
         w.b_member);
}

TEST_F(ManagementTest, KeysRevokedExpiredOrUnknownAreRefused) {
  start();
  World w = world(true, false);
  expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", w.api}},
         w.b_member);
  ASSERT_TRUE(within([&] { return managedChat(w.mount, w.key).status == 200; }));

  json listed = expect(200, "GET", "/admin/v1/apps/" + w.app + "/keys", nullptr, w.b_member);
  ASSERT_EQ(listed["data"].size(), 1u);
  EXPECT_FALSE(listed["data"][0].contains("key"));  // shown once, at creation
  EXPECT_EQ(w.key.rfind(listed["data"][0]["prefix"].get<std::string>(), 0), 0u);

  expect(200, "POST", "/admin/v1/apps/" + w.app + "/keys/" + w.key_id + "/revoke", nullptr,
         w.b_member);
  auto took = within([&] { return managedChat(w.mount, w.key).status == 401; });
  ASSERT_TRUE(took);
  EXPECT_LT(took->count(), 2000);
  EXPECT_EQ(json::parse(managedChat(w.mount, w.key).body)["error"]["code"], "key_revoked");
  expect(409, "POST", "/admin/v1/apps/" + w.app + "/keys/" + w.key_id + "/revoke", nullptr,
         w.b_member);

  json short_lived =
      expect(201, "POST", "/admin/v1/apps/" + w.app + "/keys", {{"expires_in_s", 2}}, w.b_member);
  const std::string k2 = short_lived["key"];
  ASSERT_TRUE(within([&] { return managedChat(w.mount, k2).status == 200; }));
  ASSERT_TRUE(
      within([&] { return managedChat(w.mount, k2).status == 401; }, std::chrono::seconds(6)));
  EXPECT_EQ(json::parse(managedChat(w.mount, k2).body)["error"]["code"], "key_expired");

  EXPECT_EQ(json::parse(managedChat(w.mount, "sy-00000000-nope").body)["error"]["code"],
            "invalid_api_key");
  HttpResult none = post(w.mount + "/v1/chat/completions", "{}");
  EXPECT_EQ(none.status, 401);
  EXPECT_EQ(json::parse(none.body)["error"]["code"], "missing_api_key");
}

TEST_F(ManagementTest, LifecycleDraftPublishedDeprecatedRetired) {
  start();
  World w = world(/*publish=*/false, /*approval=*/false);
  // Draft: not routable and not in the catalog; nobody can subscribe.
  EXPECT_EQ(managedChat(w.mount, w.key).status, 404);
  EXPECT_TRUE(expect(200, "GET", "/admin/v1/catalog", nullptr, w.b_admin)["data"].empty());
  expect(404, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", w.api}}, w.b_admin);
  expect(409, "POST", "/admin/v1/apis/" + w.api + "/deprecate", nullptr, w.a_admin);
  expect(409, "POST", "/admin/v1/apis/" + w.api + "/retire", nullptr, w.a_admin);

  expect(200, "POST", "/admin/v1/apis/" + w.api + "/publish", nullptr, w.a_admin);
  expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", w.api}}, w.b_admin);
  ASSERT_TRUE(within([&] { return managedChat(w.mount, w.key).status == 200; }));
  EXPECT_EQ(managedChat(w.mount, w.key).headers.count("deprecation"), 0u);
  // Path, version and service are fixed once published; a live API cannot be deleted.
  expect(409, "PATCH", "/admin/v1/apis/" + w.api, {{"path", "/apis/other"}}, w.a_admin);
  expect(409, "DELETE", "/admin/v1/apis/" + w.api, nullptr, w.a_admin);

  // A second version lives beside the first.
  json v2 = expect(201, "POST", "/admin/v1/apis",
                   {{"name", "support"},
                    {"path", "/apis/support"},
                    {"version", "v2"},
                    {"service_id", w.service},
                    {"approval_required", false}},
                   w.a_admin);
  expect(200, "POST", "/admin/v1/apis/" + v2["id"].get<std::string>() + "/publish", nullptr,
         w.a_admin);
  expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", v2["id"]}},
         w.b_admin);
  ASSERT_TRUE(within([&] { return managedChat("/apis/support/v2", w.key).status == 200; }));

  // Deprecated: still served, with Deprecation and Sunset, closed to new subscriptions.
  const int64_t sunset = std::chrono::duration_cast<std::chrono::seconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count() +
                         86400 * 30;
  json dep = expect(200, "POST", "/admin/v1/apis/" + w.api + "/deprecate", {{"sunset_at", sunset}},
                    w.a_admin);
  EXPECT_EQ(dep["state"], "deprecated");
  ASSERT_TRUE(
      within([&] { return managedChat(w.mount, w.key).headers.count("deprecation") == 1; }));
  HttpResult d = managedChat(w.mount, w.key);
  EXPECT_EQ(d.status, 200);
  EXPECT_EQ(d.headers["deprecation"], "@" + std::to_string(dep["deprecated_at"].get<int64_t>()));
  EXPECT_NE(d.headers["sunset"].find("GMT"), std::string::npos);
  json other_app = expect(201, "POST", "/admin/v1/apps", {{"name", "indexer"}}, w.b_admin);
  json closed = expect(409, "POST", "/admin/v1/subscriptions",
                       {{"app_id", other_app["id"]}, {"api_id", w.api}}, w.b_admin);
  EXPECT_EQ(closed["error"]["code"], "api_deprecated");
  json catalog = expect(200, "GET", "/admin/v1/catalog", nullptr, w.b_admin);
  EXPECT_EQ(catalog["data"].size(), 2u);

  // Retired: 410 Gone, while v2 keeps serving.
  expect(200, "POST", "/admin/v1/apis/" + w.api + "/retire", nullptr, w.a_admin);
  ASSERT_TRUE(within([&] { return managedChat(w.mount, w.key).status == 410; }));
  EXPECT_EQ(json::parse(managedChat(w.mount, w.key).body)["error"]["code"], "api_retired");
  EXPECT_EQ(managedChat("/apis/support/v2", w.key).status, 200);
  expect(409, "POST", "/admin/v1/apis/" + w.api + "/publish", nullptr, w.a_admin);
  expect(200, "DELETE", "/admin/v1/apis/" + w.api, nullptr, w.a_admin);
  ASSERT_TRUE(within([&] { return managedChat(w.mount, w.key).status == 404; }));
}

TEST_F(ManagementTest, AForeignTenantCannotReadChangeOrDecideAnything) {
  start();
  World w = world();
  json sub = expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", w.api}},
                    w.b_admin);
  const std::string sub_id = sub["id"];
  // A's own app and key, and A's users, for B to try.
  const std::string a_app =
      expect(201, "POST", "/admin/v1/apps", {{"name", "billing"}}, w.a_admin)["id"];
  const std::string a_key =
      expect(201, "POST", "/admin/v1/apps/" + a_app + "/keys", nullptr, w.a_admin)["id"];
  const std::string alice = expect(200, "GET", "/admin/v1/me", nullptr, w.a_admin)["id"];
  const std::string private_api = expect(201, "POST", "/admin/v1/apis",
                                         {{"name", "internal"},
                                          {"path", "/apis/internal"},
                                          {"service_id", w.service},
                                          {"visibility", "private"}},
                                         w.a_admin)["id"];
  expect(200, "POST", "/admin/v1/apis/" + private_api + "/publish", nullptr, w.a_admin);

  struct Probe {
    const char* method;
    std::string path;
    json body;
  };
  const std::vector<Probe> probes = {
      {"GET", "/admin/v1/tenants/" + w.tenant_a, nullptr},
      {"PATCH", "/admin/v1/tenants/" + w.tenant_a, {{"name", "pwned"}}},
      {"GET", "/admin/v1/users/" + alice, nullptr},
      {"PATCH", "/admin/v1/users/" + alice, {{"password", "pwned-pass-1"}}},
      {"DELETE", "/admin/v1/users/" + alice, nullptr},
      {"GET", "/admin/v1/apps/" + a_app, nullptr},
      {"PATCH", "/admin/v1/apps/" + a_app, {{"name", "pwned"}}},
      {"DELETE", "/admin/v1/apps/" + a_app, nullptr},
      {"GET", "/admin/v1/apps/" + a_app + "/keys", nullptr},
      {"POST", "/admin/v1/apps/" + a_app + "/keys", nullptr},
      {"GET", "/admin/v1/apps/" + a_app + "/keys/" + a_key, nullptr},
      {"POST", "/admin/v1/apps/" + a_app + "/keys/" + a_key + "/revoke", nullptr},
      {"GET", "/admin/v1/services/" + w.service, nullptr},
      {"PATCH", "/admin/v1/services/" + w.service, {{"models", {"embed-test"}}}},
      {"DELETE", "/admin/v1/services/" + w.service, nullptr},
      {"GET", "/admin/v1/apis/" + w.api, nullptr},
      {"PATCH", "/admin/v1/apis/" + w.api, {{"approval_required", false}}},
      {"DELETE", "/admin/v1/apis/" + w.api, nullptr},
      {"POST", "/admin/v1/apis/" + w.api + "/deprecate", nullptr},
      {"POST", "/admin/v1/apis/" + w.api + "/retire", nullptr},
      {"POST", "/admin/v1/apis/" + w.api + "/publish", nullptr},
      {"GET", "/admin/v1/catalog/" + private_api, nullptr},
      {"POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", private_api}}},
      {"POST", "/admin/v1/subscriptions", {{"app_id", a_app}, {"api_id", w.api}}},
      {"POST", "/admin/v1/apis", {{"name", "x"}, {"path", "/apis/x"}, {"service_id", w.service}}},
      {"POST", "/admin/v1/apps", {{"name", "x"}, {"tenant_id", w.tenant_a}}},
      {"POST",
       "/admin/v1/services",
       {{"name", "x"}, {"kind", "ai"}, {"models", {"gpt-test"}}, {"tenant_id", w.tenant_a}}},
      {"POST",
       "/admin/v1/users",
       {{"email", "x@a"}, {"password", "x-pass-123"}, {"tenant_id", w.tenant_a}}},
      {"POST", "/admin/v1/tenants", {{"name", "x"}}},
  };
  for (const std::string& token : {w.b_admin, w.b_member}) {
    for (const auto& p : probes) {
      HttpResult r = call(p.method, p.path, p.body, token);
      EXPECT_TRUE(r.status == 404 || r.status == 403)
          << p.method << " " << p.path << " → " << r.status << " " << r.body;
      EXPECT_NE(json::parse(r.body, nullptr, false)["error"]["message"], nullptr);
    }
  }
  // B's admin sees the subscription (its own request) but may not decide it.
  expect(200, "GET", "/admin/v1/subscriptions/" + sub_id, nullptr, w.b_admin);
  expect(403, "POST", "/admin/v1/subscriptions/" + sub_id + "/approve", nullptr, w.b_admin);
  expect(403, "POST", "/admin/v1/subscriptions/" + sub_id + "/reject", nullptr, w.b_admin);

  // Nothing of A's changed.
  EXPECT_EQ(expect(200, "GET", "/admin/v1/tenants/" + w.tenant_a, nullptr, w.a_admin)["name"],
            "payments");
  EXPECT_EQ(expect(200, "GET", "/admin/v1/apps/" + a_app, nullptr, w.a_admin)["name"], "billing");
  EXPECT_TRUE(expect(200, "GET", "/admin/v1/apps/" + a_app + "/keys/" + a_key, nullptr,
                     w.a_admin)["revoked_at"]
                  .is_null());
  EXPECT_EQ(expect(200, "GET", "/admin/v1/services/" + w.service, nullptr, w.a_admin)["models"][0],
            "gpt-test");
  json api = expect(200, "GET", "/admin/v1/apis/" + w.api, nullptr, w.a_admin);
  EXPECT_EQ(api["state"], "published");
  EXPECT_EQ(api["approval_required"], true);
  EXPECT_EQ(expect(200, "GET", "/admin/v1/subscriptions/" + sub_id, nullptr, w.a_admin)["state"],
            "pending");
  login("alice@a", "alice-pass-1");

  // Lists hold only B's own objects; the catalog holds A's public API but not its private one.
  for (const char* kind : {"apps", "services", "apis", "users", "tenants"}) {
    json list = expect(200, "GET", std::string("/admin/v1/") + kind, nullptr, w.b_admin);
    for (const auto& item : list["data"]) {
      const std::string tenant = item.contains("tenant_id") ? item["tenant_id"] : item["id"];
      EXPECT_EQ(tenant, w.tenant_b) << kind << ": " << item.dump();
    }
  }
  json catalog = expect(200, "GET", "/admin/v1/catalog", nullptr, w.b_admin);
  ASSERT_EQ(catalog["data"].size(), 1u);
  EXPECT_EQ(catalog["data"][0]["id"], w.api);
  EXPECT_EQ(expect(200, "GET", "/admin/v1/catalog", nullptr, w.a_admin)["data"].size(), 2u);
  // B's audit view has none of A's entries.
  const json b_audit = expect(200, "GET", "/admin/v1/audit", nullptr, w.b_admin);
  for (const auto& e : b_audit["data"]) {
    EXPECT_EQ(e["tenant_id"], w.tenant_b);
  }
  // A member may not do admin things in its own tenant either.
  expect(403, "POST", "/admin/v1/services",
         {{"name", "s"}, {"kind", "ai"}, {"models", {"gpt-test"}}}, w.b_member);
  // Without or with a forged session nothing is served.
  expect(401, "GET", "/admin/v1/apps", nullptr, "");
  expect(401, "GET", "/admin/v1/apps", nullptr, w.b_admin + "x");
  expect(401, "POST", "/admin/v1/sessions", {{"email", "bob@b"}, {"password", "wrong-password"}},
         "");
}

TEST_F(ManagementTest, RestartKeepsTheStoreAndMigratesNothingTwice) {
  start();
  World w = world(true, false);
  expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", w.api}},
         w.b_member);
  ASSERT_TRUE(within([&] { return managedChat(w.mount, w.key).status == 200; }));
  restart();
  // Same secret file, so sessions survive; same store, so keys and subscriptions do.
  expect(200, "GET", "/admin/v1/me", nullptr, w.a_admin);
  EXPECT_EQ(managedChat(w.mount, w.key).status, 200);
  json users = expect(200, "GET", "/admin/v1/users", nullptr, w.root);
  int roots = 0;
  for (const auto& u : users["data"]) {
    roots += u["email"] == kRootEmail ? 1 : 0;
  }
  EXPECT_EQ(roots, 1);  // bootstrap ran once
  restart();
  EXPECT_EQ(managedChat(w.mount, w.key).status, 200);
}

TEST_F(ManagementTest, PasswordsAndKeysNeverAppearInTheStoreOrTheLogs) {
  std::ostringstream captured;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(captured);
  spdlog::default_logger()->sinks().push_back(sink);
  json cfg = managedConfig();
  cfg["logging"]["level"] = "debug";
  startGateway(cfg);
  World w = world();
  expect(200, "PATCH",
         "/admin/v1/users/" +
             expect(200, "GET", "/admin/v1/me", nullptr, w.b_member)["id"].get<std::string>(),
         {{"password", "mia-new-pass-9"}}, w.b_member);
  expect(401, "POST", "/admin/v1/sessions", {{"email", "mia@b"}, {"password", "mia-pass-12"}}, "");
  login("mia@b", "mia-new-pass-9");
  json users = expect(200, "GET", "/admin/v1/users", nullptr, w.root);
  for (const auto& u : users["data"]) {
    EXPECT_FALSE(u.contains("password_hash"));
  }
  gateway_->shutdown();
  gateway_.reset();
  spdlog::default_logger()->sinks().pop_back();

  const std::string everything = captured.str() + storedState();
  for (const char* secret :
       {kRootPassword, "alice-pass-1", "bob-pass-12", "mia-pass-12", "mia-new-pass-9"}) {
    EXPECT_EQ(everything.find(secret), std::string::npos) << secret;
  }
  EXPECT_EQ(everything.find(w.key), std::string::npos);
  EXPECT_NE(everything.find("pbkdf2-sha256$210000$"), std::string::npos);  // the hashes are there
}

TEST_F(ManagementTest, RestServicesAreProxiedUnderTheSameKeysAndSubscriptions) {
  start();
  World w = world(/*publish=*/false, /*approval=*/false);
  const std::string rest_svc = expect(
      201, "POST", "/admin/v1/services",
      {{"name", "upstream"}, {"kind", "rest"}, {"base_url", upstream_.baseUrl()}}, w.a_admin)["id"];
  const std::string dead_svc = expect(
      201, "POST", "/admin/v1/services",
      {{"name", "dead"}, {"kind", "rest"}, {"base_url", "http://127.0.0.1:1"}}, w.a_admin)["id"];
  auto publish = [&](const std::string& path, const std::string& svc) {
    const std::string id = expect(201, "POST", "/admin/v1/apis",
                                  {{"name", "raw"},
                                   {"path", path},
                                   {"service_id", svc},
                                   {"methods", {"GET", "POST"}},
                                   {"approval_required", false}},
                                  w.a_admin)["id"];
    expect(200, "POST", "/admin/v1/apis/" + id + "/publish", nullptr, w.a_admin);
    return id;
  };
  const std::string api = publish("/apis/raw", rest_svc);
  const std::string dead = publish("/apis/dead", dead_svc);
  Headers auth{{"Authorization", "Bearer " + w.key}, {"X-Switchyard-Tenant", "forged"}};
  ASSERT_TRUE(within([&] {
    return httpRequest(gateway_->port(), "GET", "/apis/raw/v1/models", "", auth).status == 403;
  }));
  expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", api}}, w.b_member);
  expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", dead}}, w.b_member);
  ASSERT_TRUE(within([&] {
    return httpRequest(gateway_->port(), "GET", "/apis/raw/v1/models?limit=2", "", auth).status ==
           200;
  }));
  RecordedRequest seen = upstream_.lastRequest();
  EXPECT_EQ(seen.method, "GET");
  EXPECT_EQ(seen.path, "/v1/models?limit=2");
  EXPECT_EQ(seen.headers.count("authorization"), 0u);  // the app key stays at the gateway
  EXPECT_EQ(seen.headers["x-switchyard-tenant"], "search");
  EXPECT_EQ(seen.headers["x-switchyard-app"], "crawler");

  HttpResult r = httpRequest(
      gateway_->port(), "POST", "/apis/raw/v1/chat/completions",
      json{{"model", "anything"}, {"messages", {{{"role", "user"}, {"content", "raw"}}}}}.dump(),
      auth);
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(json::parse(r.body)["choices"][0]["message"]["content"], "echo: raw");
  EXPECT_EQ(json::parse(upstream_.lastRequest().body)["model"], "anything");  // relayed as sent
  EXPECT_EQ(httpRequest(gateway_->port(), "DELETE", "/apis/raw/v1/models", "", auth).status, 405);
  HttpResult down = httpRequest(gateway_->port(), "GET", "/apis/dead/v1/x", "", auth);
  EXPECT_EQ(down.status, 502);
  EXPECT_EQ(json::parse(down.body)["error"]["code"], "upstream_unreachable");
}

TEST_F(ManagementTest, BadInputIsRefusedWithOpenAiShapedErrors) {
  start();
  const std::string root = login(kRootEmail, kRootPassword);
  json e = expect(400, "POST", "/admin/v1/tenants", nullptr, root);
  EXPECT_EQ(e["error"]["code"], "missing_field");
  e = expect(400, "POST", "/admin/v1/sessions", json("not an object"), "");
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  HttpResult raw = httpRequest(gateway_->adminPort(), "POST", "/admin/v1/tenants", "{nope",
                               {{"Authorization", "Bearer " + root}});
  EXPECT_EQ(raw.status, 400);
  const std::string t = expect(201, "POST", "/admin/v1/tenants", {{"name", "a"}}, root)["id"];
  expect(409, "POST", "/admin/v1/tenants", {{"name", "a"}}, root);
  const std::string svc = expect(
      201, "POST", "/admin/v1/services",
      {{"name", "s"}, {"kind", "ai"}, {"models", {"gpt-test"}}, {"tenant_id", t}}, root)["id"];
  for (const char* bad : {"/v1/x", "/admin/x", "noslash", "/a/", "/a//b", "/healthz"}) {
    e = expect(400, "POST", "/admin/v1/apis",
               {{"name", "x"}, {"path", bad}, {"service_id", svc}, {"tenant_id", t}}, root);
  }
  expect(400, "POST", "/admin/v1/services",
         {{"name", "r"}, {"kind", "rest"}, {"base_url", "ftp://x"}, {"tenant_id", t}}, root);
  expect(400, "POST", "/admin/v1/users",
         {{"email", "x@y"}, {"password", "short"}, {"tenant_id", t}}, root);
  expect(404, "GET", "/admin/v1/nothing", nullptr, root);
  // The existing GET-only admin endpoints are untouched.
  EXPECT_EQ(httpRequest(gateway_->adminPort(), "GET", "/admin/runtime").status, 200);
}

}  // namespace
}  // namespace switchyard::testing
