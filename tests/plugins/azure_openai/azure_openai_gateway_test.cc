// End to end: an OpenAI client → a real in-process gateway → the azure-openai plugin → the mock
// Azure OpenAI API, and back.
#include <map>
#include <string>
#include <vector>

#include "gateway_fixture.h"
#include "mock_azure_openai_upstream.h"
#include "support/ingress_turns.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

constexpr const char* kChatPath =
    "/openai/deployments/gpt-4o-deploy/chat/completions?api-version=2024-10-21";

json userChat(const std::string& content = "ping", const char* model = "azure-gpt") {
  return {{"model", model}, {"messages", {{{"role", "user"}, {"content", content}}}}};
}

json withTools(json request) {
  request["tools"] = json::parse(R"([{"type":"function","function":{"name":"get_weather",
      "parameters":{"type":"object","properties":{"city":{"type":"string"}},
                    "required":["city"]}}}])");
  return request;
}

/// The JSON objects of the `data:` events of an SSE body, and whether it ended with [DONE].
struct SseBody {
  std::vector<json> chunks;
  bool done = false;
};

SseBody parseSse(const std::string& body) {
  SseBody out;
  size_t at = 0;
  while ((at = body.find("data: ", at)) != std::string::npos) {
    const size_t end = body.find("\n\n", at);
    const std::string data = body.substr(at + 6, end - at - 6);
    if (data == "[DONE]") {
      out.done = true;
    } else {
      out.chunks.push_back(json::parse(data));
    }
    at = end;
  }
  return out;
}

class AzureOpenAiGatewayTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    installFirstPartyPlugins();
    installPlugin(AZURE_OPENAI_PLUGIN_PATH);
    json config = baseConfig();
    config["providers"]["azure"] = {{"type", "azure-openai"},
                                    {"base_url", azure_.baseUrl()},
                                    {"api_key_env", kProviderKeyEnv},
                                    {"config", {{"api_version", "2024-10-21"}}}};
    config["providers"]["azure-v1"] = {{"type", "azure-openai"},
                                       {"base_url", azure_.baseUrl()},
                                       {"api_key_env", kProviderKeyEnv},
                                       {"config", {{"api_style", "v1"}}}};
    config["models"]["azure-gpt"] = {{"provider", "azure"}, {"upstream_model", "gpt-4o-deploy"}};
    config["models"]["azure-v1-gpt"] = {{"provider", "azure-v1"}, {"upstream_model", "gpt-4o"}};
    config["models"]["azure-embed"] = {{"provider", "azure"}, {"upstream_model", "embed-deploy"}};
    startGateway(config);
  }

  HttpResult stream(json request) {
    request["stream"] = true;
    return httpStream(gateway_->port(), "/v1/chat/completions", request.dump(), authHeaders(),
                      [](std::string_view) {});
  }

  /// Every upstream request carried the provider key in Azure's header and never the gateway
  /// key; deployment calls carried the api-version.
  void expectKeysRight() {
    const auto requests = azure_.requests();
    ASSERT_FALSE(requests.empty());
    for (const auto& r : requests) {
      EXPECT_EQ(r.headers.at("api-key"), kProviderKey);
      EXPECT_EQ(r.headers.count("authorization"), 0u);
      EXPECT_EQ(r.body.find(kGatewayKey), std::string::npos);
      EXPECT_EQ(r.path.find(kGatewayKey), std::string::npos);
      for (const auto& [name, value] : r.headers) {
        EXPECT_EQ(value.find(kGatewayKey), std::string::npos) << name;
      }
      if (r.path.rfind("/openai/deployments/", 0) == 0) {
        EXPECT_NE(r.path.find("?api-version=2024-10-21"), std::string::npos) << r.path;
      }
    }
  }

  MockAzureOpenAiUpstream azure_;
};

TEST_F(AzureOpenAiGatewayTest, ChatGoesToTheDeployment) {
  HttpResult r = chat(userChat());
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.status, 200) << r.body;
  const json body = json::parse(r.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "echo: ping");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(body["usage"]["total_tokens"], 18);

  const auto up = azure_.lastRequest();
  EXPECT_EQ(up.path, kChatPath);
  EXPECT_EQ(json::parse(up.body),
            json::parse(R"({"messages":[{"role":"user","content":"ping"}]})"));
  expectKeysRight();

  const auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["provider_type"], "azure-openai");
  EXPECT_EQ(recs[0]["usage"]["total_tokens"], 18);
}

TEST_F(AzureOpenAiGatewayTest, V1StyleSendsTheModelInTheBody) {
  HttpResult r = chat(userChat("hi", "azure-v1-gpt"));
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["choices"][0]["message"]["content"], "echo: hi");
  const auto up = azure_.lastRequest();
  EXPECT_EQ(up.path, "/openai/v1/chat/completions");
  EXPECT_EQ(json::parse(up.body)["model"], "gpt-4o");
  expectKeysRight();
}

TEST_F(AzureOpenAiGatewayTest, StreamHidesAnnotationAndUsageChunks) {
  HttpResult r = stream(userChat());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"].rfind("text/event-stream", 0), 0u);
  const SseBody sse = parseSse(r.body);
  EXPECT_TRUE(sse.done) << r.body;
  std::string text;
  std::string finish;
  for (const auto& c : sse.chunks) {
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    ASSERT_EQ(c["choices"].size(), 1u) << c.dump();  // no prompt frame, no usage chunk
    text += c["choices"][0]["delta"].value("content", "");
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, "tok0 tok1 tok2 ");
  EXPECT_EQ(finish, "stop");
  EXPECT_EQ(json::parse(azure_.lastRequest().body)["stream_options"],
            json::parse(R"({"include_usage":true})"));
  expectKeysRight();

  const auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs[0]["stream"].get<bool>());
  EXPECT_EQ(recs[0]["usage"]["completion_tokens"], 7);
  EXPECT_EQ(recs[0]["usage"]["prompt_tokens"], 11);
}

TEST_F(AzureOpenAiGatewayTest, StreamUsageChunkWhenTheClientAsks) {
  json request = userChat();
  request["stream_options"] = {{"include_usage", true}};
  HttpResult r = stream(request);
  ASSERT_EQ(r.status, 200) << r.body;
  const SseBody sse = parseSse(r.body);
  ASSERT_FALSE(sse.chunks.empty());
  EXPECT_TRUE(sse.chunks.back()["choices"].empty());
  EXPECT_EQ(sse.chunks.back()["usage"]["total_tokens"], 18);
  EXPECT_FALSE(sse.chunks.front().contains("prompt_filter_results"));
  EXPECT_TRUE(sse.done);
}

TEST_F(AzureOpenAiGatewayTest, ToolCallsPassThrough) {
  HttpResult r = chat(withTools(userChat("Weather in Paris and Lyon?")));
  ASSERT_EQ(r.status, 200) << r.body;
  const json choice = json::parse(r.body)["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 2u);
  EXPECT_EQ(choice["message"]["tool_calls"][1]["function"]["arguments"], R"({"city":"Lyon"})");
  const json sent = json::parse(azure_.lastRequest().body);
  EXPECT_EQ(sent["tools"][0]["function"]["name"], "get_weather");
}

TEST_F(AzureOpenAiGatewayTest, ToolCallsStream) {
  HttpResult r = stream(withTools(userChat("Weather?")));
  ASSERT_EQ(r.status, 200) << r.body;
  const SseBody sse = parseSse(r.body);
  EXPECT_TRUE(sse.done);
  std::string text;
  std::map<int, std::string> args;
  std::map<int, std::string> ids;
  bool text_and_call_together = false;
  std::string finish;
  for (const auto& c : sse.chunks) {
    const json& delta = c["choices"][0]["delta"];
    text += delta.value("content", "");
    for (const auto& tc : delta.value("tool_calls", json::array())) {
      const int i = tc["index"];
      args[i] += tc["function"].value("arguments", "");
      if (tc.contains("id")) ids[i] = tc["id"];
      text_and_call_together = text_and_call_together || !delta.value("content", "").empty();
    }
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, "Checking.");
  EXPECT_TRUE(text_and_call_together);
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[0], R"({"city":"Paris"})");
  EXPECT_EQ(args[1], R"({"city":"Lyon"})");
  EXPECT_EQ(ids[1], "call_1");
  EXPECT_EQ(finish, "tool_calls");
}

TEST_F(AzureOpenAiGatewayTest, Embeddings) {
  HttpResult r = post("/v1/embeddings",
                      json{{"model", "azure-embed"}, {"input", {"a", "b"}}}.dump(), authHeaders());
  ASSERT_EQ(r.status, 200) << r.body;
  const json body = json::parse(r.body);
  ASSERT_EQ(body["data"].size(), 2u);
  EXPECT_EQ(body["data"][1]["index"], 1);
  EXPECT_EQ(azure_.lastRequest().path,
            "/openai/deployments/embed-deploy/embeddings?api-version=2024-10-21");
  expectKeysRight();
}

TEST_F(AzureOpenAiGatewayTest, ContentFilterErrorKeepsStatusAndCode) {
  azure_.failNext(
      400,
      R"({"error":{"message":"The response was filtered due to the prompt triggering Azure OpenAI's content management policy.","type":null,"param":"prompt","code":"content_filter","status":400,"innererror":{"code":"ResponsibleAIPolicyViolation","content_filter_result":{"violence":{"filtered":true,"severity":"medium"}}}}})");
  HttpResult r = chat(userChat());
  EXPECT_EQ(r.status, 400) << r.body;
  const json body = json::parse(r.body);
  EXPECT_EQ(body["error"]["code"], "content_filter");
  EXPECT_EQ(body["error"]["type"], "invalid_request_error");
  EXPECT_EQ(body["error"]["message"].get<std::string>().rfind("The response was filtered", 0), 0u);
}

TEST_F(AzureOpenAiGatewayTest, RateLimitIsA429WithRetryAfter) {
  azure_.failNext(
      429,
      R"({"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit of your current OpenAI S0 pricing tier. Please retry after 6 seconds."}})",
      {{"retry-after", "6"}, {"retry-after-ms", "6000"}});
  HttpResult r = chat(userChat());
  EXPECT_EQ(r.status, 429) << r.body;
  const json body = json::parse(r.body);
  EXPECT_EQ(body["error"]["type"], "rate_limit_error");
  EXPECT_EQ(body["error"]["code"], "rate_limit_exceeded");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("retry after 6 seconds"),
            std::string::npos);
  // The core, not the plugin, writes the client's Retry-After (the ABI has no header channel
  // for errors); the upstream's value drives the target's cool-down.
  EXPECT_FALSE(r.headers["retry-after"].empty());
}

TEST_F(AzureOpenAiGatewayTest, WrongKeyIsAnAuthError) {
  azure_.failNext(
      401,
      R"({"error":{"code":"401","message":"Access denied due to invalid subscription key or wrong API endpoint."}})");
  HttpResult r = chat(userChat());
  EXPECT_EQ(r.status, 401) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "invalid_api_key");
}

// The same streamed tool turn through the Anthropic Messages and OpenAI Responses ingress APIs.
TEST_F(AzureOpenAiGatewayTest, ToolStreamThroughMessagesAndResponses) {
  expectWeatherTurnThroughBothIngresses(gateway_->port(), withTools(userChat("Weather?")),
                                        authHeaders(),
                                        {json::parse(R"({"city":"Paris"})"), json::parse(R"({"city":"Lyon"})")});
}

}  // namespace
}  // namespace switchyard::testing
