// `switchyard admin`: the real binary as a subprocess against a real gateway, running the
// whole journey with the CLI on the admin side and app-key calls on the data side.
#include <sys/stat.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "management_fixture.h"
#include "switchyard/store/store.h"

namespace switchyard::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
  json j() const { return json::parse(out, nullptr, false); }
  std::string line() const { return out.substr(0, out.find('\n')); }
};

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  }
  return out + "'";
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class AdminCliTest : public ManagementTest {
 protected:
  void SetUp() override {
    ManagementTest::SetUp();
    home_ = dir_ / "cli-home";
    fs::create_directories(home_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(gateway_->adminPort()); }

  /// `switchyard admin ARGS` with `input` on stdin and a clean environment of its own: HOME
  /// and XDG_CONFIG_HOME in the test's directory, no SWITCHYARD_ADMIN_* unless `env` sets them.
  CliRun cli(const std::vector<std::string>& args, const std::string& input = "",
             const std::string& env = "") {
    const fs::path in = dir_ / "cli.in", out = dir_ / "cli.out", err = dir_ / "cli.err";
    std::ofstream(in) << input;
    std::string cmd =
        "env -u SWITCHYARD_ADMIN_TOKEN -u SWITCHYARD_ADMIN_URL HOME=" + quote(home_.string()) +
        " XDG_CONFIG_HOME=" + quote((home_ / "config").string()) + " " + env + " " +
        quote(SWITCHYARD_BINARY) + " admin";
    for (const auto& a : args) {
      cmd += " " + quote(a);
    }
    cmd += " <" + quote(in.string()) + " >" + quote(out.string()) + " 2>" + quote(err.string());
    const int status = std::system(cmd.c_str());
    CliRun r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }
  /// A command that must succeed; returns what -q printed (its first line).
  std::string id(const std::vector<std::string>& args, const std::string& input = "") {
    std::vector<std::string> quiet = {"-q"};
    quiet.insert(quiet.end(), args.begin(), args.end());
    CliRun r = cli(quiet, input);
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(r.out.find('{'), std::string::npos) << "-q prints no JSON: " << r.out;
    return r.line();
  }
  fs::path home_;
};

TEST_F(AdminCliTest, TheJourneyWithTheCliOnTheAdminSide) {
  start();
  const fs::path root_file = home_ / "config" / "switchyard" / "admin-session";
  const std::string alice_file = (dir_ / "alice.session").string();
  const std::string bob_file = (dir_ / "bob.session").string();

  // Sign in: the token goes to an owner-only file, never to the output.
  CliRun login = cli({"login", "--url", url(), "--email", kRootEmail, "--password-stdin"},
                     std::string(kRootPassword) + "\n");
  ASSERT_EQ(login.code, 0) << login.err;
  EXPECT_EQ(login.j()["user"]["email"], kRootEmail);
  ASSERT_TRUE(fs::exists(root_file));
  struct stat st {};
  ASSERT_EQ(::stat(root_file.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string root_token = json::parse(slurp(root_file))["token"];
  ASSERT_FALSE(root_token.empty());
  EXPECT_EQ(login.out.find(root_token), std::string::npos);
  EXPECT_EQ(login.out.find(kRootPassword), std::string::npos);
  EXPECT_EQ(cli({"whoami"}).j()["role"], "system_admin");  // the URL came with the session

  // Two teams, each with an admin who signs in to a session file of their own.
  const std::string ta = id({"tenants", "create", "payments"});
  const std::string tb = id({"tenants", "create", "search"});
  EXPECT_EQ(ta.rfind("ten_", 0), 0u) << ta;
  id({"users", "create", "--email", "alice@pay", "--role", "tenant_admin", "--tenant", ta,
      "--password-stdin"},
     "alice-pass-1\n");
  id({"users", "create", "--email", "bob@search", "--role", "tenant_admin", "--tenant", tb,
      "--password-stdin"},
     "bob-pass-12\n");
  ASSERT_EQ(cli({"--session-file", alice_file, "login", "--url", url(), "--email", "alice@pay",
                 "--password-stdin"},
                "alice-pass-1\n")
                .code,
            0);
  ASSERT_EQ(cli({"--session-file", bob_file, "login", "--url", url(), "--email", "bob@search",
                 "--password-stdin"},
                "bob-pass-12\n")
                .code,
            0);
  auto alice = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--session-file", alice_file});
    return args;
  };
  auto bob = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"--session-file", bob_file});
    return args;
  };

  // A publishes an API that needs approval.
  const std::string svc =
      id(alice({"services", "create", "llm", "--kind", "ai", "--models", "gpt-test"}));
  const std::string api =
      id(alice({"apis", "create", "--name", "support", "--path", "/apis/support", "--version", "v1",
                "--service", svc, "--approval-required"}));
  CliRun published = cli(alice({"apis", "publish", api}));
  ASSERT_EQ(published.code, 0) << published.err;
  EXPECT_EQ(published.j()["state"], "published");

  // B finds it, makes an app and a key, subscribes: pending, so calls are refused.
  CliRun catalog = cli(bob({"catalog", "list"}));
  ASSERT_EQ(catalog.code, 0) << catalog.err;
  ASSERT_EQ(catalog.j()["data"].size(), 1u);
  EXPECT_EQ(catalog.j()["data"][0]["id"], api);
  EXPECT_EQ(catalog.j()["data"][0]["approval_required"], true);
  EXPECT_EQ(cli(bob({"catalog", "openapi", api})).j()["info"]["title"], "support");
  const std::string app = id(bob({"apps", "create", "crawler"}));
  const std::string key = id(bob({"keys", "create", app, "--name", "prod", "--expires-in", "90d"}));
  EXPECT_EQ(key.rfind("sy-", 0), 0u) << "-q prints the key itself: " << key;
  const json keys = cli(bob({"keys", "list", app})).j();
  ASSERT_EQ(keys["data"].size(), 1u);
  EXPECT_NEAR(keys["data"][0]["expires_at"].get<double>(), unixNow() + 90 * 86400, 60);
  const std::string sub = id(bob({"subscriptions", "request", "--app", app, "--api", api}));
  EXPECT_EQ(cli(bob({"subscriptions", "show", sub})).j()["state"], "pending");
  const std::string mount = "/apis/support/v1";
  ASSERT_TRUE(within([&] {
    HttpResult r = managedChat(mount, key);
    return r.status == 403 && r.body.find("subscription_pending") != std::string::npos;
  }));

  // B may not approve it: the API's refusal, on stderr, exit 1.
  CliRun refused = cli(bob({"subscriptions", "approve", sub}));
  EXPECT_EQ(refused.code, 1);
  EXPECT_EQ(refused.out, "");
  EXPECT_NE(refused.err.find("Only an admin of the API's tenant"), std::string::npos)
      << refused.err;
  EXPECT_NE(refused.err.find("403"), std::string::npos) << refused.err;

  // A approves: calls go through.
  CliRun approved = cli(alice({"subscriptions", "approve", sub}));
  ASSERT_EQ(approved.code, 0) << approved.err;
  EXPECT_EQ(approved.j()["state"], "approved");
  ASSERT_TRUE(within([&] { return managedChat(mount, key).status == 200; }));

  // A revokes: refused again within a second.
  ASSERT_EQ(cli(alice({"subscriptions", "revoke", sub, "--reason", "over budget"})).code, 0);
  auto took = within([&] {
    HttpResult r = managedChat(mount, key);
    return r.status == 403 && r.body.find("subscription_revoked") != std::string::npos;
  });
  ASSERT_TRUE(took);
  EXPECT_LT(took->count(), 2000);

  // Who did what: the audit log, newest first.
  CliRun audit = cli(alice({"audit", "--limit", "3"}));
  ASSERT_EQ(audit.code, 0) << audit.err;
  ASSERT_EQ(audit.j()["data"].size(), 3u);
  EXPECT_EQ(audit.j()["data"][0]["action"], "subscription.revoke");
  EXPECT_EQ(audit.j()["data"][0]["after"]["reason"], "over budget");
  EXPECT_EQ(audit.j()["data"][1]["action"], "subscription.approve");

  // Lifecycle through the CLI: deprecate with a sunset, retire → 410.
  CliRun deprecated = cli(alice({"apis", "deprecate", api, "--sunset-in", "30d"}));
  ASSERT_EQ(deprecated.code, 0) << deprecated.err;
  EXPECT_EQ(deprecated.j()["state"], "deprecated");
  EXPECT_GT(deprecated.j()["sunset_at"].get<int64_t>(), unixNow() + 29 * 86400);
  ASSERT_EQ(cli(alice({"apis", "retire", api})).code, 0);
  ASSERT_TRUE(within([&] { return managedChat(mount, key).status == 410; }));
}

TEST_F(AdminCliTest, UsageMistakesExitTwoAndSendNothing) {
  start();
  ASSERT_EQ(cli({"login", "--url", url(), "--email", kRootEmail, "--password-stdin"},
                std::string(kRootPassword) + "\n")
                .code,
            0);
  const size_t audit_before = cli({"audit"}).j()["data"].size();
  for (const std::vector<std::string>& bad : std::vector<std::vector<std::string>>{
           {},
           {"frobnicate"},
           {"apps"},
           {"apps", "frobnicate"},
           {"apps", "create", "x", "--colour", "red"},
           {"apps", "create", "x", "extra"},
           {"keys", "create", "app_1", "--expires-in", "soon"},
           {"tenants", "create"},
           {"services", "create", "s", "--kind"},
           {"apis", "create", "--name", "a", "--approval-required", "--no-approval-required"},
           {"request", "POST", "/apps", "--data", "{not json"},
           {"subscriptions", "request", "--app", "app_1"},
           {"apis", "create", "--name", "a", "--approval-required=false"},
           {"tenants", "list", "-q", "-q"}}) {
    std::string joined;
    for (const auto& a : bad) {
      joined += a + " ";
    }
    CliRun r = cli(bad);
    EXPECT_EQ(r.code, 2) << joined << ": " << r.out << r.err;
    EXPECT_NE(r.err.find("switchyard admin"), std::string::npos) << joined << r.err;
    EXPECT_EQ(r.out, "") << joined;
  }
  // Nothing reached the API.
  EXPECT_EQ(cli({"audit"}).j()["data"].size(), audit_before);
  EXPECT_EQ(cli({"apps", "list"}).j()["data"].size(), 0u);
  CliRun help = cli({"--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("subscriptions"), std::string::npos);
}

TEST_F(AdminCliTest, SessionsTokensAndTheGenericRequest) {
  start();
  // Wrong password: the API's message, exit 1, no session written.
  CliRun wrong = cli({"login", "--url", url(), "--email", kRootEmail, "--password-stdin"},
                     "not-the-password\n");
  EXPECT_EQ(wrong.code, 1);
  EXPECT_NE(wrong.err.find("Wrong email or password"), std::string::npos) << wrong.err;
  EXPECT_FALSE(fs::exists(home_ / "config" / "switchyard" / "admin-session"));
  // Not signed in: told so, exit 1.
  CliRun anonymous = cli({"--url", url(), "tenants", "list"});
  EXPECT_EQ(anonymous.code, 1);
  EXPECT_NE(anonymous.err.find("not signed in"), std::string::npos) << anonymous.err;
  // The admin API's own document needs no session.
  CliRun openapi = cli({"--url", url(), "openapi"});
  ASSERT_EQ(openapi.code, 0) << openapi.err;
  EXPECT_EQ(openapi.j()["openapi"], "3.1.0");
  // Nothing listening: exit 1 with the reason.
  CliRun down = cli({"--url", "http://127.0.0.1:1", "openapi"});
  EXPECT_EQ(down.code, 1);
  EXPECT_NE(down.err.find("cannot reach http://127.0.0.1:1"), std::string::npos) << down.err;

  // A token from the environment, no session file: scripts and CI.
  const std::string token = login(kRootEmail, kRootPassword);
  const std::string env =
      "SWITCHYARD_ADMIN_TOKEN=" + quote(token) + " SWITCHYARD_ADMIN_URL=" + quote(url());
  const std::string tenant = [&] {
    CliRun r = cli({"-q", "tenants", "create", "payments"}, "", env);
    EXPECT_EQ(r.code, 0) << r.err;
    return r.line();
  }();
  // The generic request reaches any endpoint: a body inline, from a file or from stdin.
  CliRun created = cli({"request", "POST", "/apps", "--data",
                        json{{"name", "inline"}, {"tenant_id", tenant}}.dump()},
                       "", env);
  ASSERT_EQ(created.code, 0) << created.err;
  EXPECT_EQ(created.j()["name"], "inline");
  std::ofstream(dir_ / "app.json") << json{{"name", "from-file"}, {"tenant_id", tenant}}.dump();
  EXPECT_EQ(cli({"request", "post", "apps", "--data", "@" + (dir_ / "app.json").string()}, "", env)
                .j()["name"],
            "from-file");
  EXPECT_EQ(cli({"request", "POST", "/apps", "--data", "-"},
                json{{"name", "from-stdin"}, {"tenant_id", tenant}}.dump(), env)
                .j()["name"],
            "from-stdin");
  CliRun ids = cli({"-q", "request", "GET", "/apps?tenant_id=" + tenant}, "", env);
  ASSERT_EQ(ids.code, 0) << ids.err;
  EXPECT_EQ(std::count(ids.out.begin(), ids.out.end(), '\n'), 3) << ids.out;
  CliRun missing = cli({"request", "GET", "/apps/app_nothing"}, "", env);
  EXPECT_EQ(missing.code, 1);
  EXPECT_NE(missing.err.find("No app app_nothing"), std::string::npos) << missing.err;
  EXPECT_NE(missing.err.find("not_found"), std::string::npos) << missing.err;
  // Paths under /admin/ other than /admin/v1 are reachable too.
  EXPECT_EQ(cli({"request", "GET", "/admin/runtime"}, "", env).code, 0);

  // A user's password never appears in the arguments or the output.
  CliRun user =
      cli({"users", "create", "--email", "mia@pay", "--tenant", tenant, "--password-stdin"},
          "mia-secret-pass\n", env);
  ASSERT_EQ(user.code, 0) << user.err;
  EXPECT_EQ(user.out.find("mia-secret-pass"), std::string::npos);
  EXPECT_EQ(user.j()["role"], "member");

  // Logging out forgets the session file.
  ASSERT_EQ(
      cli({"login", "--url", url(), "--email", "mia@pay", "--password-stdin"}, "mia-secret-pass\n")
          .code,
      0);
  EXPECT_EQ(cli({"whoami"}).j()["email"], "mia@pay");
  EXPECT_EQ(cli({"logout"}).code, 0);
  EXPECT_EQ(cli({"whoami"}).code, 1);
}

TEST_F(AdminCliTest, ARestApiCarriesTheDocumentItsOwnerAttached) {
  start();
  ASSERT_EQ(cli({"login", "--url", url(), "--email", kRootEmail, "--password-stdin"},
                std::string(kRootPassword) + "\n")
                .code,
            0);
  const std::string tenant = id({"tenants", "create", "shop"});
  const std::string svc = id({"services", "create", "orders", "--kind", "rest", "--base-url",
                              upstream_.baseUrl(), "--tenant", tenant});
  const fs::path file = dir_ / "orders.json";
  std::ofstream(file) << json{{"openapi", "3.1.0"},
                              {"info", {{"title", "Orders"}, {"version", "3"}}},
                              {"paths",
                               {{"/orders",
                                 {{"get", {{"responses", {{"200", {{"description", "ok"}}}}}}}}}}}}
                             .dump();
  const std::string api = id({"apis", "create", "--name", "orders", "--path", "/apis/orders",
                              "--service", svc, "--methods", "GET", "--no-approval-required",
                              "--openapi", file.string(), "--tenant", tenant});
  CliRun shown = cli({"apis", "show", api});
  EXPECT_EQ(shown.j()["has_openapi"], true);
  EXPECT_EQ(shown.j()["approval_required"], false);
  EXPECT_EQ(shown.j()["methods"], json({"GET"}));
  CliRun doc = cli({"apis", "openapi", api});
  ASSERT_EQ(doc.code, 0) << doc.err;
  EXPECT_EQ(doc.j()["info"]["title"], "Orders");
  EXPECT_EQ(doc.j()["servers"][0]["url"],
            "http://127.0.0.1:" + std::to_string(gateway_->port()) + "/apis/orders/v1");
  // Not in the catalog until published; then the same document there.
  EXPECT_EQ(cli({"catalog", "openapi", api}).code, 1);
  ASSERT_EQ(cli({"apis", "publish", api}).code, 0);
  EXPECT_EQ(cli({"catalog", "openapi", api}).j()["info"]["title"], "Orders");
  // "none" takes it away: the generic document describes the mount.
  EXPECT_EQ(cli({"apis", "update", api, "--openapi", "none"}).j()["has_openapi"], false);
  EXPECT_EQ(cli({"catalog", "openapi", api}).j()["info"]["title"], "orders");
  // A file that is not JSON is a usage mistake.
  std::ofstream(dir_ / "bad.json") << "openapi: 3.1.0";
  EXPECT_EQ(cli({"apis", "update", api, "--openapi", (dir_ / "bad.json").string()}).code, 2);
}

}  // namespace
}  // namespace switchyard::testing
