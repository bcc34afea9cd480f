// The management test fixture: a real gateway with a store (SQLite by default;
// SWITCHYARD_TEST_STORE=postgresql selects PostgreSQL: one private server per test process,
// a fresh database per test), driven through /admin/v1 on its admin port, calling the mock
// upstream through managed APIs on its data port. Every management-family test file builds on
// it, so each runs on every store driver.
#pragma once

#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <optional>
#include <thread>

#include "gateway_fixture.h"
#include "postgres_cluster.h"

namespace switchyard::testing {

using Clock = std::chrono::steady_clock;

inline constexpr const char* kRootEmail = "root@example.com";
inline constexpr const char* kRootPassword = "root-password-5b1e";
inline constexpr const char* kStorePasswordEnv = "SY_TEST_STORE_PASSWORD";

class ManagementTest : public GatewayTest {
 protected:
  using json = nlohmann::json;

  void SetUp() override {
    GatewayTest::SetUp();
    ::setenv("SWITCHYARD_ADMIN_EMAIL", kRootEmail, 1);
    ::setenv("SWITCHYARD_ADMIN_PASSWORD", kRootPassword, 1);
    ::unsetenv("SWITCHYARD_SESSION_SECRET");
    installFirstPartyPlugins();
  }

  json managedConfig() const {
    json c = baseConfig();
    c["data_dir"] = (dir_ / "data").string();
    c["store"] = storeBlock();
    return c;
  }
  /// The store driver under test: SWITCHYARD_TEST_STORE, "sqlite" when unset.
  static std::string storeDriver() {
    const char* driver = ::getenv("SWITCHYARD_TEST_STORE");
    return driver == nullptr || *driver == '\0' ? "sqlite" : driver;
  }
  /// The `store` config block for the driver under test ("sqlite" keeps the file under the
  /// test's data_dir; "postgresql" uses this test's own database on the process's server).
  json storeBlock() const {
    const std::string driver = storeDriver();
    if (driver == "sqlite") {
      return json::object();
    }
    if (driver == "postgresql") {
      PostgresCluster& pg = sharedPostgresCluster();
      if (pg_database_.empty()) {
        pg_database_ = pg.createDatabase();
      }
      ::setenv(kStorePasswordEnv, pg.password().c_str(), 1);
      return {{"driver", "postgresql"},
              {"url", pg.conninfo(pg_database_)},
              {"password_env", kStorePasswordEnv}};
    }
    ADD_FAILURE() << "SWITCHYARD_TEST_STORE=" << driver << " is not a store driver the tests know";
    return json::object();
  }
  /// The PostgreSQL server under test, or nullptr on another driver.
  PostgresCluster* postgres() const {
    return storeDriver() == "postgresql" ? &sharedPostgresCluster() : nullptr;
  }
  /// Everything the gateway keeps at rest, as text: the files under its data_dir and, on
  /// PostgreSQL, every row of every table of its database.
  std::string storedState() const {
    std::string out;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator(dir_ / "data", ec)) {
      std::ifstream in(e.path(), std::ios::binary);
      out += std::string(std::istreambuf_iterator<char>(in), {});
    }
    if (PostgresCluster* pg = postgres(); pg != nullptr && !pg_database_.empty()) {
      for (const auto& table :
           pg->query("SELECT tablename FROM pg_tables WHERE schemaname = 'public'", pg_database_)) {
        for (const auto& row : pg->query("SELECT t::text FROM " + table[0] + " t", pg_database_)) {
          out += row[0] + "\n";
        }
      }
    }
    return out;
  }
  void start() { startGateway(managedConfig()); }
  void restart() {
    gateway_->shutdown();
    gateway_.reset();
    start();
  }

  HttpResult call(const std::string& method, const std::string& path, const json& body,
                  const std::string& token) {
    Headers h;
    if (!token.empty()) {
      h["Authorization"] = "Bearer " + token;
    }
    return httpRequest(gateway_->adminPort(), method, path, body.is_null() ? "" : body.dump(), h);
  }
  /// An admin call that must answer `status`; returns its JSON body.
  json expect(int status, const std::string& method, const std::string& path, const json& body,
              const std::string& token) {
    HttpResult r = call(method, path, body, token);
    EXPECT_EQ(r.status, status) << method << " " << path << " → " << r.body;
    return json::parse(r.body, nullptr, false);
  }
  std::string login(const std::string& email, const std::string& password) {
    json r =
        expect(201, "POST", "/admin/v1/sessions", {{"email", email}, {"password", password}}, "");
    return r.value("token", "");
  }

  HttpResult managedChat(const std::string& mount, const std::string& key,
                         const std::string& model = "gpt-test") {
    return post(
        mount + "/v1/chat/completions",
        json{{"model", model}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}.dump(),
        {{"Authorization", "Bearer " + key}});
  }

  /// Polls until `done` holds; returns how long it took (or nullopt after `limit`).
  static std::optional<std::chrono::milliseconds> within(
      const std::function<bool()>& done,
      std::chrono::milliseconds limit = std::chrono::seconds(5)) {
    const auto start = Clock::now();
    while (Clock::now() - start < limit) {
      if (done()) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return std::nullopt;
  }

  mutable std::string pg_database_;  // this test's database, made on first use

  /// Two tenants, each with an admin; A owns an AI service and an API needing approval; B owns
  /// an app with a key.
  struct World {
    std::string root, a_admin, b_admin, b_member;
    std::string tenant_a, tenant_b, service, api, app, key, key_id, mount;
  };
  World world(bool publish = true, bool approval = true) {
    World w;
    w.root = login(kRootEmail, kRootPassword);
    w.tenant_a = expect(201, "POST", "/admin/v1/tenants", {{"name", "payments"}}, w.root)["id"];
    w.tenant_b = expect(201, "POST", "/admin/v1/tenants", {{"name", "search"}}, w.root)["id"];
    expect(201, "POST", "/admin/v1/users",
           {{"email", "alice@a"},
            {"password", "alice-pass-1"},
            {"role", "tenant_admin"},
            {"tenant_id", w.tenant_a}},
           w.root);
    expect(201, "POST", "/admin/v1/users",
           {{"email", "bob@b"},
            {"password", "bob-pass-12"},
            {"role", "tenant_admin"},
            {"tenant_id", w.tenant_b}},
           w.root);
    w.a_admin = login("alice@a", "alice-pass-1");
    w.b_admin = login("bob@b", "bob-pass-12");
    expect(201, "POST", "/admin/v1/users", {{"email", "mia@b"}, {"password", "mia-pass-12"}},
           w.b_admin);
    w.b_member = login("mia@b", "mia-pass-12");
    w.service =
        expect(201, "POST", "/admin/v1/services",
               {{"name", "llm"}, {"kind", "ai"}, {"models", {"gpt-test"}}}, w.a_admin)["id"];
    json api = expect(201, "POST", "/admin/v1/apis",
                      {{"name", "support"},
                       {"path", "/apis/support"},
                       {"version", "v1"},
                       {"service_id", w.service},
                       {"approval_required", approval},
                       {"description", "Support assistant"}},
                      w.a_admin);
    w.api = api["id"];
    w.mount = api["mount"];
    EXPECT_EQ(w.mount, "/apis/support/v1");
    if (publish) {
      expect(200, "POST", "/admin/v1/apis/" + w.api + "/publish", nullptr, w.a_admin);
    }
    w.app = expect(201, "POST", "/admin/v1/apps", {{"name", "crawler"}}, w.b_member)["id"];
    json key =
        expect(201, "POST", "/admin/v1/apps/" + w.app + "/keys", {{"name", "prod"}}, w.b_member);
    w.key = key["key"];
    w.key_id = key["id"];
    return w;
  }
};

}  // namespace switchyard::testing
