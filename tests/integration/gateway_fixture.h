/// @file gateway_fixture.h
/// @brief A real gateway in-process on ephemeral ports, in front of the mock OpenAI upstream.
#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "support/http_client.h"
#include "support/mock_openai_upstream.h"
#include "switchyard/server/gateway.h"

namespace switchyard::testing {

inline constexpr const char* kGatewayKey = "sk-gateway-test-7f3a";
inline constexpr const char* kProviderKey = "sk-provider-secret-91c2";
inline constexpr const char* kProviderKeyEnv = "SY_TEST_PROVIDER_KEY";

/// Each test gets its own directory, plugin folder, config file and gateway.
class GatewayTest : public ::testing::Test {
protected:
  void SetUp() override;
  void TearDown() override;

  /// Copies a plugin library into the gateway's plugin folder the way an operator should:
  /// write beside it, then rename over (so the watcher never sees a half-written file).
  void installPlugin(const std::filesystem::path& library, const std::string& as = "");
  /// The four first-party plugins from the build tree.
  void installFirstPartyPlugins();
  void removePlugin(const std::string& name);

  /// A config with the mock as provider "mock" (model "gpt-test" → "upstream-gpt"), apikey
  /// auth with kGatewayKey, a jsonl sink at recordsPath() and stats analytics.
  nlohmann::json baseConfig() const;
  void writeConfig(const nlohmann::json& config);
  void startGateway(const nlohmann::json& config);

  /// Runs watcher passes until `done` holds (a plugin file must look settled for two passes).
  bool pollUntil(const std::function<bool()>& done, int max_passes = 100);

  HttpResult post(const std::string& path, const std::string& body, Headers headers = {});
  HttpResult chat(const nlohmann::json& body, Headers headers = {});
  static Headers authHeaders();
  nlohmann::json admin(const std::string& path);

  std::filesystem::path recordsPath() const { return dir_ / "calls.jsonl"; }
  /// Every call record written so far (flushes the dispatcher first).
  std::vector<nlohmann::json> records();
  /// The record of the call that answered `r`, found by its x-request-id. Records are made once
  /// the answer has left, so a quick call may overtake the record of the slower one before it:
  /// a test that made several calls looks each one up rather than counting on its place.
  static nlohmann::json recordFor(const std::vector<nlohmann::json>& recs, const HttpResult& r);

  std::filesystem::path dir_;
  std::filesystem::path plugin_dir_;
  MockOpenAiUpstream upstream_;
  std::unique_ptr<Gateway> gateway_;
};

} // namespace switchyard::testing
