/// @file tests/sdk/sdk_example_test.cc
/// @brief The tutorial's hello_provider, built out of tree by sdk_out_of_tree, does what
/// docs/sdk.md says it does (driven through FakeHost against the mock upstream).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <switchyard/testing/fake_host.hpp>

#include "support/http_client.h"
#include "support/mock_openai_upstream.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

class HelloProvider : public ::testing::Test {
 protected:
  HttpResult send(const FakeOutput& built) {
    Headers headers;
    for (const auto& [n, v] : built.headers) headers[n] = v;
    return httpRequest(mock_.port(), built.method, "/v1" + built.path, built.body, headers);
  }
  ProviderCall chat(bool stream) {
    ProviderCall call;
    call.stream = stream;
    json body = {{"model", "hello-model"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
    if (stream) body["stream"] = true;
    call.body = body.dump();
    call.public_model = "hello-model";
    call.upstream_model = "gpt-4o-mini";
    call.base_url = mock_.baseUrl();
    call.api_key = "sk-hello";
    return call;
  }

  FakeHost host_;
  LoadedPlugin plugin_{SDK_EXAMPLE_PATH, host_};
  MockOpenAiUpstream mock_;
};

TEST_F(HelloProvider, Info) {
  EXPECT_EQ(toView(plugin_.info().name), "hello_provider");
  ASSERT_NE(plugin_.find(SY_KIND_PROVIDER, "hello"), nullptr);
}

TEST_F(HelloProvider, ChatRewritesModelAndAddsUser) {
  auto created = plugin_.createProvider("hello", "{}");
  ASSERT_TRUE(created.ok()) << created.output.error.message;
  auto call = chat(false);
  FakeOutput built;
  ASSERT_EQ(created.instance->buildRequest(call, built), SY_OK);
  EXPECT_EQ(built.method, "POST");
  EXPECT_EQ(built.path, "/chat/completions");
  EXPECT_EQ(built.header("authorization"), "Bearer sk-hello");
  auto answer = send(built);
  ASSERT_TRUE(answer.ok) << answer.error;
  json upstream = json::parse(mock_.lastRequest().body);
  EXPECT_EQ(upstream["model"], "gpt-4o-mini");
  EXPECT_EQ(upstream["user"], "hello-example");

  FakeOutput out;
  ASSERT_EQ(created.instance->parseResponse(call, {uint32_t(answer.status), {}, answer.body}, out),
            SY_OK);
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_RESPONSE).at(0))["choices"][0]["message"]["content"],
            "echo: hi");
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE).at(0))["total_tokens"], 18);
}

TEST_F(HelloProvider, ConfiguredUserAndBadConfig) {
  auto created = plugin_.createProvider("hello", R"({"user":"team-a"})");
  ASSERT_TRUE(created.ok());
  FakeOutput built;
  ASSERT_EQ(created.instance->buildRequest(chat(false), built), SY_OK);
  EXPECT_EQ(json::parse(built.body)["user"], "team-a");
  EXPECT_FALSE(plugin_.createProvider("hello", "[1]").ok());
  EXPECT_FALSE(plugin_.createProvider("hello", "{nope").ok());
}

TEST_F(HelloProvider, Stream) {
  auto created = plugin_.createProvider("hello", "{}");
  auto call = chat(true);
  FakeOutput built;
  ASSERT_EQ(created.instance->buildRequest(call, built), SY_OK);
  auto stream = created.instance->openStream(call, UpstreamAnswer{});
  ASSERT_NE(stream, nullptr);
  FakeOutput out;
  Headers headers;
  for (const auto& [n, v] : built.headers) headers[n] = v;
  auto r = httpStream(mock_.port(), "/v1" + built.path, built.body, headers,
                      [&](std::string_view bytes) { EXPECT_EQ(stream->data(bytes, out), SY_OK); });
  ASSERT_TRUE(r.ok);
  EXPECT_EQ(stream->end(out), SY_OK);
  EXPECT_EQ(out.count(SY_EVENT_CHUNK), 5u);  // role + 3 content + finish
  EXPECT_EQ(out.count(SY_EVENT_DONE), 1u);
}

TEST_F(HelloProvider, UpstreamError) {
  auto created = plugin_.createProvider("hello", "{}");
  mock_.failNext(401, R"({"error":{"message":"bad key","type":"invalid_request_error",)"
                      R"("code":"invalid_api_key"}})");
  auto call = chat(false);
  FakeOutput built;
  ASSERT_EQ(created.instance->buildRequest(call, built), SY_OK);
  auto answer = send(built);
  FakeOutput out;
  EXPECT_EQ(created.instance->parseResponse(call, {uint32_t(answer.status), {}, answer.body}, out),
            SY_ERR_UPSTREAM);
  EXPECT_EQ(out.error.status, 401u);
  EXPECT_EQ(out.error.code, "invalid_api_key");
  EXPECT_FALSE(out.contains("sk-hello"));
}

}  // namespace
}  // namespace switchyard::testing
