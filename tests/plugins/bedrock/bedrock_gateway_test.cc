// End to end: a real gateway in-process with the bedrock plugin installed, in front of the mock
// Bedrock Runtime (which verifies every SigV4 signature), spoken to by an OpenAI-style client.
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "integration/gateway_fixture.h"
#include "mock_bedrock_upstream.h"
#include "support/ingress_turns.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

constexpr const char* kAccessKey = "AKIAIOSFODNN7EXAMPLE";
constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
constexpr const char* kKeyEnv = "SY_TEST_BEDROCK_CREDENTIALS";
constexpr const char* kModelId = "anthropic.claude-3-5-sonnet-20240620-v1:0";

class BedrockGatewayTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    ::setenv(kKeyEnv, (std::string(kAccessKey) + ":" + kSecret).c_str(), 1);
    installPlugin(BEDROCK_PLUGIN_PATH);
    installFirstPartyPlugins();
    json config = baseConfig();
    config["providers"]["aws"] = {{"type", "bedrock"},
                                  {"base_url", bedrock_.baseUrl()},
                                  {"api_key_env", kKeyEnv},
                                  {"config", {{"region", "us-east-1"}}},
                                  {"timeouts",
                                   {{"connect_ms", 2000},
                                    {"first_byte_ms", 10000},
                                    {"idle_ms", 10000},
                                    {"total_ms", 30000}}}};
    config["models"]["claude-test"] = {{"provider", "aws"}, {"upstream_model", kModelId}};
    startGateway(config);
  }

  static json chatRequest(bool stream = false, bool tools = false) {
    json r = {{"model", "claude-test"}, {"messages", {{{"role", "user"}, {"content", "ping"}}}}};
    if (stream) r["stream"] = true;
    if (tools) {
      r["tools"] = {
          {{"type", "function"},
           {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}};
    }
    return r;
  }

  /// The JSON objects of every "data: {...}" event of an SSE body.
  static std::vector<json> events(const std::string& sse) {
    std::vector<json> out;
    for (size_t at = sse.find("data: {"); at != std::string::npos;
         at = sse.find("data: {", at + 1)) {
      out.push_back(json::parse(sse.substr(at + 6, sse.find("\n\n", at) - at - 6)));
    }
    return out;
  }

  /// No request to the mock carries the caller's gateway key; the AWS secret never travels.
  void expectNoLeaks() {
    for (const auto& rec : bedrock_.requests()) {
      EXPECT_EQ(rec.body.find(kGatewayKey), std::string::npos);
      for (const auto& [name, value] : rec.headers) {
        EXPECT_EQ(value.find(kGatewayKey), std::string::npos) << name;
        EXPECT_EQ(value.find(kSecret), std::string::npos) << name;
      }
    }
  }

  MockBedrockUpstream bedrock_{kAccessKey, kSecret};
};

TEST_F(BedrockGatewayTest, ChatIsSignedTranslatedAndAnswered) {
  HttpResult r = chat(chatRequest());
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.status, 200) << r.body;
  const json body = json::parse(r.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["model"], "claude-test");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "echo: ping");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(body["usage"]["total_tokens"], 18);

  const RecordedRequest up = bedrock_.lastRequest();
  EXPECT_EQ(up.path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse");
  EXPECT_EQ(bedrock_.badSignatures(), 0);
  EXPECT_EQ(up.headers.at("authorization")
                .rfind(std::string("AWS4-HMAC-SHA256 Credential=") + kAccessKey + "/", 0),
            0u);
  EXPECT_EQ(json::parse(up.body)["messages"][0]["content"][0]["text"], "ping");
  expectNoLeaks();

  const auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["usage"]["prompt_tokens"], 11);
  EXPECT_EQ(recs[0]["usage"]["completion_tokens"], 7);
}

TEST_F(BedrockGatewayTest, ToolCallsNonStreaming) {
  HttpResult r = chat(chatRequest(false, true));
  ASSERT_EQ(r.status, 200) << r.body;
  const json body = json::parse(r.body);
  EXPECT_EQ(body["choices"][0]["finish_reason"], "tool_calls");
  const json& call = body["choices"][0]["message"]["tool_calls"][0];
  EXPECT_EQ(call["id"], "tooluse_mock_1");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(call["function"]["arguments"].get<std::string>()),
            json::parse(R"({"city":"Paris"})"));
  EXPECT_EQ(json::parse(bedrock_.lastRequest().body)["toolConfig"]["tools"][0]["toolSpec"]["name"],
            "get_weather");
  EXPECT_EQ(bedrock_.badSignatures(), 0);
}

TEST_F(BedrockGatewayTest, StreamChunksArriveBeforeTheUpstreamFinishes) {
  bedrock_.holdStreams(true);
  json req = chatRequest(true);
  req["stream_options"] = {{"include_usage", true}};
  std::string received;
  bool saw_first_before_release = false;
  HttpResult r =
      httpStream(gateway_->port(), "/v1/chat/completions", req.dump(), authHeaders(),
                 [&](std::string_view bytes) {
                   received.append(bytes);
                   if (!saw_first_before_release && received.find("tok0") != std::string::npos) {
                     // The mock holds the rest of its stream until this release.
                     saw_first_before_release = received.find("tok1") == std::string::npos;
                     bedrock_.releaseStreams();
                   }
                 });
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_TRUE(saw_first_before_release);
  EXPECT_EQ(bedrock_.lastRequest().path,
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream");
  EXPECT_EQ(bedrock_.badSignatures(), 0);

  std::string content;
  std::string finish;
  json usage;
  for (const json& e : events(received)) {
    EXPECT_EQ(e["object"], "chat.completion.chunk");
    if (e.contains("usage")) usage = e["usage"];
    for (const auto& c : e["choices"]) {
      if (c["delta"].contains("content")) content += c["delta"]["content"].get<std::string>();
      if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
    }
  }
  EXPECT_EQ(content, "tok0 tok1 tok2 ");
  EXPECT_EQ(finish, "stop");
  EXPECT_EQ(usage, json::parse(R"({"prompt_tokens":11,"completion_tokens":3,"total_tokens":14})"));
  EXPECT_NE(received.find("data: [DONE]"), std::string::npos);
  expectNoLeaks();
  const auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["usage"]["completion_tokens"], 3);
}

TEST_F(BedrockGatewayTest, StreamedToolCallArgumentsAssemble) {
  std::string received;
  HttpResult r =
      httpStream(gateway_->port(), "/v1/chat/completions", chatRequest(true, true).dump(),
                 authHeaders(), [&](std::string_view b) { received.append(b); });
  ASSERT_EQ(r.status, 200);
  std::string arguments;
  std::string name;
  std::string finish;
  for (const json& e : events(received)) {
    EXPECT_FALSE(e["choices"].empty()) << "usage chunk the client did not ask for";
    for (const auto& c : e["choices"]) {
      if (c["delta"].contains("tool_calls")) {
        const json& tc = c["delta"]["tool_calls"][0];
        EXPECT_EQ(tc["index"], 0);
        if (tc["function"].contains("name")) name = tc["function"]["name"];
        arguments += tc["function"].value("arguments", "");
      }
      if (!c["finish_reason"].is_null()) finish = c["finish_reason"];
    }
  }
  EXPECT_EQ(name, "get_weather");
  EXPECT_EQ(arguments, R"({"city":"Paris"})");
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_NE(received.find("data: [DONE]"), std::string::npos);
}

TEST_F(BedrockGatewayTest, BedrockErrorsKeepTheirStatus) {
  bedrock_.failNext(429, "ThrottlingException", "Too many requests, please wait.");
  HttpResult r = chat(chatRequest());
  EXPECT_EQ(r.status, 429) << r.body;
  const json err = json::parse(r.body)["error"];
  EXPECT_EQ(err["type"], "rate_limit_error");
  EXPECT_EQ(err["message"], "Too many requests, please wait.");
}

// A test of its own: after the 429 above the core may cool the provider down.
TEST_F(BedrockGatewayTest, InBandStreamExceptionEndsTheStreamWithAnError) {
  bedrock_.streamExceptionNext("modelStreamErrorException", "The model failed mid-stream.");
  std::string received;
  HttpResult s = httpStream(gateway_->port(), "/v1/chat/completions", chatRequest(true).dump(),
                            authHeaders(), [&](std::string_view b) { received.append(b); });
  EXPECT_EQ(s.status, 200) << s.body << s.error;
  EXPECT_NE(received.find("tok0"), std::string::npos);
  EXPECT_NE(received.find("The model failed mid-stream."), std::string::npos);
  EXPECT_EQ(received.find("[DONE]"), std::string::npos);
}

TEST_F(BedrockGatewayTest, EmbeddingsAreNotSupportedYet) {
  HttpResult r =
      post("/v1/embeddings", json{{"model", "claude-test"}, {"input", "hi"}}.dump(), authHeaders());
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "unsupported_operation");
  EXPECT_TRUE(bedrock_.requests().empty());
}

// The same streamed tool turn through the Anthropic Messages and OpenAI Responses ingress APIs.
TEST_F(BedrockGatewayTest, ToolStreamThroughMessagesAndResponses) {
  const json chat = chatRequest(true, true);
  for (const bool messages : {true, false}) {
    const std::string path = messages ? "/v1/messages" : "/v1/responses";
    const StreamedTurn turn = streamToolTurn(gateway_->port(), messages, chat, authHeaders());
    ASSERT_EQ(turn.calls.size(), 1u) << path;
    EXPECT_EQ(turn.calls[0].first, "get_weather");
    EXPECT_EQ(turn.calls[0].second, json::parse(R"({"city":"Paris"})")) << path;
  }
}

}  // namespace
}  // namespace switchyard::testing
