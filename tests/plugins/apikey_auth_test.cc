// Behaviour of the "apikey" auth plugin, loaded from its built library.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <switchyard/testing/fake_host.hpp>

namespace switchyard {
namespace {

using testing::AuthInstance;
using testing::FakeHost;
using testing::FakeOutput;
using testing::HttpCall;
using testing::LoadedPlugin;

// sha256("sk-dev-0001") and sha256("sk-ops-0002").
constexpr const char* kDevHash = "5d7f6e96fb1cda89efe948ea695b3870e412c275e3e53d8870e0a0740b7aa23a";
constexpr const char* kOpsHash = "D3B1625499585746806AB033E17D040949C78DA235E3112F8949091772EA4DB7";

std::string config() {
  return std::string(R"({"keys":[
      {"id":"dev","sha256":")") +
         kDevHash + R"(","tenant":"default","app":"demo"},
      {"id":"ops","sha256":")" +
         kOpsHash + R"(","tenant":"acme","app":"console"}]})";
}

HttpCall withHeader(std::string name, std::string value) {
  HttpCall call;
  call.headers = {{"Content-Type", "application/json"}, {std::move(name), std::move(value)}};
  return call;
}

class ApiKeyAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    plugin_ = std::make_unique<LoadedPlugin>(SY_TEST_PLUGIN_PATH, host_);
    auto created = plugin_->createAuth("apikey", config());
    ASSERT_TRUE(created.ok()) << created.output.error.message;
    auth_ = std::move(created.instance);
  }
  void TearDown() override {
    for (const char* secret : {"sk-dev-0001", "sk-ops-0002", "sk-unknown"}) {
      EXPECT_FALSE(host_.logsContain(secret));
    }
    auth_.reset();
    plugin_.reset();
  }

  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
  std::unique_ptr<AuthInstance> auth_;
};

TEST_F(ApiKeyAuthTest, DeclaresOneAuthComponent) {
  EXPECT_EQ(testing::toView(plugin_->info().name), "apikey");
  EXPECT_NE(plugin_->find(SY_KIND_AUTH, "apikey"), nullptr);
}

TEST_F(ApiKeyAuthTest, AcceptsBearerToken) {
  FakeOutput out;
  EXPECT_EQ(auth_->authenticate(withHeader("Authorization", "Bearer sk-dev-0001"), out), SY_OK);
  EXPECT_TRUE(out.principal.set);
  EXPECT_EQ(out.principal.tenant, "default");
  EXPECT_EQ(out.principal.app, "demo");
  EXPECT_EQ(out.principal.key_id, "dev");
  EXPECT_FALSE(out.error.set);
  EXPECT_FALSE(out.contains("sk-dev-0001"));
}

TEST_F(ApiKeyAuthTest, AcceptsXApiKeyAnyCaseAndUppercaseHash) {
  for (const char* name : {"x-api-key", "X-API-Key", "X-Api-Key"}) {
    FakeOutput out;
    EXPECT_EQ(auth_->authenticate(withHeader(name, "sk-ops-0002"), out), SY_OK) << name;
    EXPECT_EQ(out.principal.key_id, "ops");
    EXPECT_EQ(out.principal.tenant, "acme");
    EXPECT_EQ(out.principal.app, "console");
  }
  FakeOutput out;
  EXPECT_EQ(auth_->authenticate(withHeader("authorization", "bearer  sk-ops-0002 "), out), SY_OK);
  EXPECT_EQ(out.principal.key_id, "ops");
}

TEST_F(ApiKeyAuthTest, DeniesUnknownKeyWithOpenAiError) {
  for (const auto& call :
       {withHeader("Authorization", "Bearer sk-unknown"), withHeader("x-api-key", "sk-unknown"),
        withHeader("Authorization", "Bearer sk-dev-0001x"),
        withHeader("Authorization", "Bearer SK-DEV-0001")}) {
    FakeOutput out;
    EXPECT_EQ(auth_->authenticate(call, out), SY_ERR_DENIED);
    EXPECT_FALSE(out.principal.set);
    EXPECT_EQ(out.error.status, 401u);
    EXPECT_EQ(out.error.type, "authentication_error");
    EXPECT_EQ(out.error.code, "invalid_api_key");
    EXPECT_EQ(out.error.message, "Incorrect API key provided");
    EXPECT_FALSE(out.contains("sk-unknown"));
  }
}

TEST_F(ApiKeyAuthTest, DeclinesWithoutCredential) {
  for (const auto& call : {HttpCall{}, withHeader("Authorization", "Basic dXNlcjpwYXNz"),
                           withHeader("Authorization", "Bearer "), withHeader("x-api-key", ""),
                           withHeader("X-Other", "sk-dev-0001")}) {
    FakeOutput out;
    EXPECT_EQ(auth_->authenticate(call, out), SY_DECLINED);
    EXPECT_FALSE(out.principal.set);
    EXPECT_FALSE(out.error.set);
  }
}

TEST_F(ApiKeyAuthTest, AuthorizationWinsOverXApiKeyByDefaultOrder) {
  HttpCall call;
  call.headers = {{"x-api-key", "sk-ops-0002"}, {"Authorization", "Bearer sk-dev-0001"}};
  FakeOutput out;
  EXPECT_EQ(auth_->authenticate(call, out), SY_OK);
  EXPECT_EQ(out.principal.key_id, "dev");
}

TEST_F(ApiKeyAuthTest, ConfiguredHeadersAreTheOnlyOnesRead) {
  auto created =
      plugin_->createAuth("apikey", R"({"headers":["API-Key"],"keys":[{"id":"dev","sha256":")" +
                                        std::string(kDevHash) + R"("}]})");
  ASSERT_TRUE(created.ok()) << created.output.error.message;
  FakeOutput declined;
  EXPECT_EQ(
      created.instance->authenticate(withHeader("Authorization", "Bearer sk-dev-0001"), declined),
      SY_DECLINED);
  FakeOutput accepted;
  EXPECT_EQ(created.instance->authenticate(withHeader("api-key", "sk-dev-0001"), accepted), SY_OK);
  EXPECT_EQ(accepted.principal.key_id, "dev");
  EXPECT_EQ(accepted.principal.tenant, "");
}

TEST_F(ApiKeyAuthTest, RejectsBadConfigWithClearMessage) {
  const std::string dev = kDevHash;
  struct Case {
    std::string config;
    const char* mentions;
  };
  for (const Case& c : {
           Case{R"({"keys":[{"id":"dev","sha256":"xyz"}]})", "64 hex"},
           Case{R"({"keys":[{"id":"dev","sha256":")" + dev.substr(0, 63) + R"("}]})", "64 hex"},
           Case{R"({"keys":[{"id":"dev","sha256":")" + dev.substr(0, 63) + R"(g"}]})", "64 hex"},
           Case{R"({"keys":[{"id":"a","sha256":")" + dev + R"("},{"id":"a","sha256":")" + kOpsHash +
                    R"("}]})",
                "duplicate key id \"a\""},
           Case{R"({"keys":[{"id":"a","sha256":")" + dev + R"("},{"id":"b","sha256":")" + dev +
                    R"("}]})",
                "listed twice"},
           Case{R"({"keys":[{"sha256":")" + dev + R"("}]})", "\"id\" is required"},
           Case{R"({"keys":[{"id":"a","sha256":")" + dev + R"(","key":"sk-plain"}]})",
                "unknown key \"key\""},
           Case{R"({"keys":[]})", "at least one"},
           Case{R"({})", "at least one"},
           Case{R"({"keys":{}})", "array"},
           Case{R"({"keys":[{"id":"a","sha256":")" + dev + R"("}],"header":["x"]})",
                "unknown key \"header\""},
           Case{R"({"keys":[{"id":"a","sha256":")" + dev + R"("}],"headers":[]})", "headers"},
           Case{"not json", "JSON object"},
       }) {
    auto created = plugin_->createAuth("apikey", c.config);
    EXPECT_FALSE(created.ok()) << c.config;
    EXPECT_EQ(created.status, SY_ERR_INVALID_ARG);
    EXPECT_EQ(created.output.error.code, "invalid_config");
    EXPECT_NE(created.output.error.message.find(c.mentions), std::string::npos)
        << c.config << " -> " << created.output.error.message;
  }
}

}  // namespace
}  // namespace switchyard
