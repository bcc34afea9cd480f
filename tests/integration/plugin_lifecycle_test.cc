// Plugins as an operator handles them on a live gateway: added, replaced (also during an
// open stream), refused, written in C, misbehaving; and configuration reloaded live.
#include <atomic>
#include <thread>

#include "gateway_fixture.h"
#include "switchyard/plugin/plugin_manager.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

json userChat(const std::string& model) {
  return {{"model", model}, {"messages", {{{"role", "user"}, {"content", "ping"}}}}};
}

class PluginLifecycleTest : public GatewayTest {
protected:
  void SetUp() override {
    GatewayTest::SetUp();
    installFirstPartyPlugins();
    installPlugin(VERSIONED_V1_PATH, "libversioned.so");
  }

  /// The base config plus provider "vprov" of the versioned fixture, model "v-model".
  json versionedConfig() const {
    json config = baseConfig();
    config["providers"]["vprov"] = {{"type", "versioned"}, {"base_url", upstream_.baseUrl()}};
    config["models"]["v-model"] = {{"provider", "vprov"}};
    return config;
  }

  std::string servedVersion() {
    HttpResult r = chat(userChat("v-model"));
    if (r.status != 200) {
      return "status " + std::to_string(r.status);
    }
    return json::parse(r.body)["system_fingerprint"].get<std::string>();
  }

  std::string pluginVersion(const std::string& name) {
    const json plugins = admin("/admin/plugins");
    for (const auto& p : plugins["plugins"]) {
      if (p["name"] == name) {
        return p["version"];
      }
    }
    return "";
  }
};

TEST_F(PluginLifecycleTest, ReplacingAPluginUnderLoadFailsNoRequest) {
  startGateway(versionedConfig());
  ASSERT_EQ(servedVersion(), "fixture-v1");

  std::atomic<bool> stop{false};
  std::atomic<int> ok{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> clients;
  for (int c = 0; c < 4; ++c) {
    clients.emplace_back([&, c] {
      while (!stop) {
        HttpResult r = chat(userChat(c % 2 ? "v-model" : "gpt-test"));
        (r.ok && r.status == 200 ? ok : failed)++;
      }
    });
  }
  // Add a library the gateway has never seen, then replace the one serving v-model.
  installPlugin(C_AUTH_PATH, "libc_auth.so");
  EXPECT_TRUE(pollUntil([&] { return !pluginVersion("c_auth").empty(); }));
  installPlugin(VERSIONED_V2_PATH, "libversioned.so");
  EXPECT_TRUE(pollUntil([&] { return pluginVersion("versioned") == "2.0.0"; }));
  while (ok < 200) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  stop = true;
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_EQ(failed, 0);
  EXPECT_GE(ok, 200);
  EXPECT_EQ(servedVersion(), "fixture-v2");
}

TEST_F(PluginLifecycleTest, AStreamOpenDuringReplacementFinishesOnTheOldVersion) {
  startGateway(versionedConfig());
  const size_t live_before = PluginLoader::liveGenerations();
  upstream_.setStreamChunks(3);
  upstream_.holdStreams(true);
  json req = userChat("v-model");
  req["stream"] = true;
  std::string received;
  HttpResult result;
  std::thread client([&] {
    result = httpStream(gateway_->port(), "/v1/chat/completions", req.dump(), authHeaders(),
                        [&](std::string_view b) { received.append(b); });
  });
  ASSERT_TRUE(upstream_.waitForOpenStreams(1));

  installPlugin(VERSIONED_V2_PATH, "libversioned.so");
  ASSERT_TRUE(pollUntil([&] { return pluginVersion("versioned") == "2.0.0"; }));
  // New requests go to the new version while the old stream is still open.
  upstream_.holdStreams(false);
  EXPECT_EQ(servedVersion(), "fixture-v2");
  EXPECT_EQ(PluginLoader::liveGenerations(), live_before + 1); // v1 is still mapped

  upstream_.releaseStreams();
  client.join();
  EXPECT_EQ(result.status, 200);
  EXPECT_NE(received.find("fixture-v1"), std::string::npos);
  EXPECT_EQ(received.find("fixture-v2"), std::string::npos);
  EXPECT_NE(received.find("data: [DONE]"), std::string::npos);
  // Drained: the old generation is unloaded on the next watcher pass.
  EXPECT_TRUE(pollUntil([&] { return PluginLoader::liveGenerations() == live_before; }));
}

TEST_F(PluginLifecycleTest, MismatchedAndBrokenLibrariesAreRefusedWithReasons) {
  installPlugin(ABI_MAJOR_MISMATCH_PATH, "libabi_major.so");
  installPlugin(ABI_MINOR_NEWER_PATH, "libabi_minor.so");
  installPlugin(MISSING_ENTRY_PATH, "libmissing_entry.so");
  installPlugin(INIT_FAIL_PATH, "libinit_fail.so");
  startGateway(versionedConfig());
  std::map<std::string, std::string> errors;
  const json plugins = admin("/admin/plugins");
  for (const auto& e : plugins["errors"]) {
    errors[std::filesystem::path(e["path"].get<std::string>()).filename()] = e["error"];
  }
  ASSERT_EQ(errors.size(), 4u);
  EXPECT_NE(errors["libabi_major.so"].find("host speaks ABI 1." + std::to_string(SY_ABI_MINOR)),
            std::string::npos)
      << errors["libabi_major.so"];
  EXPECT_NE(errors["libabi_minor.so"].find("needs ABI 1." + std::to_string(SY_ABI_MINOR + 1) +
                                           ", host provides 1." + std::to_string(SY_ABI_MINOR)),
            std::string::npos)
      << errors["libabi_minor.so"];
  EXPECT_NE(errors["libmissing_entry.so"].find("sy_plugin_entry"), std::string::npos);
  EXPECT_NE(errors["libinit_fail.so"].find("failed to initialise"), std::string::npos);
  EXPECT_EQ(chat(userChat("gpt-test")).status, 200); // still serving
}

TEST_F(PluginLifecycleTest, ABadReplacementKeepsThePreviousVersionServing) {
  startGateway(versionedConfig());
  installPlugin(ABI_MAJOR_MISMATCH_PATH, "libversioned.so");
  ASSERT_TRUE(pollUntil([&] { return !admin("/admin/plugins")["errors"].empty(); }));
  EXPECT_EQ(servedVersion(), "fixture-v1");
}

TEST_F(PluginLifecycleTest, APluginWrittenInPlainCAuthenticates) {
  installPlugin(C_AUTH_PATH, "libc_auth.so");
  json config = baseConfig();
  config["auth"].push_back({{"type", "c-header-auth"}, {"config", {{"token", "open-sesame"}}}});
  startGateway(config);
  const HttpResult admitted = chat(userChat("gpt-test"), {{"x-c-auth", "open-sesame"}});
  EXPECT_EQ(admitted.status, 200);
  const HttpResult refused = chat(userChat("gpt-test"), {{"x-c-auth", "wrong"}});
  EXPECT_EQ(refused.status, 401);
  auto recs = records();
  ASSERT_EQ(recs.size(), 2u);
  // The quick 401 may overtake the 200's record: each is found by its request id.
  EXPECT_EQ(recordFor(recs, admitted)["principal"]["tenant"], "c-tenant");
  EXPECT_EQ(recordFor(recs, refused)["status"], 401);
}

TEST_F(PluginLifecycleTest, AProviderThatThrowsBecomesA500NotACrash) {
  installPlugin(THROWS_PROVIDER_PATH, "libthrows.so");
  json config = baseConfig();
  config["providers"]["bad"] = {{"type", "throws"}, {"base_url", upstream_.baseUrl()}};
  config["models"]["bad-model"] = {{"provider", "bad"}};
  startGateway(config);
  HttpResult r = chat(userChat("bad-model"));
  EXPECT_EQ(r.status, 500);
  EXPECT_TRUE(json::parse(r.body)["error"].is_object());
  EXPECT_EQ(chat(userChat("gpt-test")).status, 200);
}

TEST_F(PluginLifecycleTest, ConfigChangesApplyLiveAndInvalidOnesAreRefused) {
  json config = baseConfig();
  startGateway(config);
  EXPECT_EQ(chat(userChat("new-model")).status, 404);
  config["models"]["new-model"] = {{"provider", "mock"}};
  writeConfig(config);
  ASSERT_TRUE(pollUntil([&] { return chat(userChat("new-model")).status == 200; }));

  json broken = config;
  broken["models"]["x"] = {{"provider", "no-such-provider"}};
  writeConfig(broken);
  gateway_->pollNowForTest();
  EXPECT_NE(admin("/admin/runtime")["last_reload_error"].get<std::string>().find("no-such-provider"),
            std::string::npos);
  EXPECT_EQ(chat(userChat("new-model")).status, 200);
}

} // namespace
} // namespace switchyard::testing
