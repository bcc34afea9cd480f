// End to end: an OpenAI client → a real in-process gateway → the gemini plugin → the mock
// Gemini API, and back.
#include <map>
#include <string>
#include <vector>

#include "gateway_fixture.h"
#include "mock_gemini_upstream.h"
#include "support/ingress_turns.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

json userChat(const std::string& content = "ping") {
  return {{"model", "gemini-test"}, {"messages", {{{"role", "user"}, {"content", content}}}}};
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

class GeminiGatewayTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    installFirstPartyPlugins();
    installPlugin(GEMINI_PLUGIN_PATH);
    json config = baseConfig();
    config["providers"]["gem"] = {
        {"type", "gemini"}, {"base_url", gemini_.baseUrl()}, {"api_key_env", kProviderKeyEnv}};
    config["models"]["gemini-test"] = {{"provider", "gem"}, {"upstream_model", "gemini-2.0-flash"}};
    config["models"]["gemini-embed"] = {{"provider", "gem"},
                                        {"upstream_model", "gemini-embedding-001"}};
    startGateway(config);
  }

  HttpResult stream(json request) {
    request["stream"] = true;
    return httpStream(gateway_->port(), "/v1/chat/completions", request.dump(), authHeaders(),
                      [](std::string_view) {});
  }

  /// Every upstream request carried the provider key in Gemini's header and never the
  /// gateway key.
  void expectKeysRight() {
    const auto requests = gemini_.requests();
    ASSERT_FALSE(requests.empty());
    for (const auto& r : requests) {
      EXPECT_EQ(r.headers.at("x-goog-api-key"), kProviderKey);
      EXPECT_EQ(r.headers.count("authorization"), 0u);
      EXPECT_EQ(r.body.find(kGatewayKey), std::string::npos);
      EXPECT_EQ(r.path.find(kGatewayKey), std::string::npos);
      for (const auto& [name, value] : r.headers) {
        EXPECT_EQ(value.find(kGatewayKey), std::string::npos) << name;
      }
    }
  }

  MockGeminiUpstream gemini_;
};

TEST_F(GeminiGatewayTest, ChatIsTranslatedBothWays) {
  HttpResult r = chat(userChat());
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.status, 200) << r.body;
  const json body = json::parse(r.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["model"], "gemini-2.0-flash-001");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "echo: ping");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(body["usage"], json::parse(R"({"prompt_tokens":11,"completion_tokens":7,
                                            "total_tokens":18})"));

  const auto up = gemini_.lastRequest();
  EXPECT_EQ(up.path, "/v1beta/models/gemini-2.0-flash:generateContent");
  EXPECT_EQ(json::parse(up.body),
            json::parse(R"({"contents":[{"role":"user","parts":[{"text":"ping"}]}]})"));
  expectKeysRight();

  const auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["provider_type"], "gemini");
  EXPECT_EQ(recs[0]["usage"]["total_tokens"], 18);
}

TEST_F(GeminiGatewayTest, StreamEndsWithDoneAndCountsUsage) {
  HttpResult r = stream(userChat());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"].rfind("text/event-stream", 0), 0u);
  const SseBody sse = parseSse(r.body);
  EXPECT_TRUE(sse.done) << r.body;
  std::string text;
  std::string finish;
  for (const auto& c : sse.chunks) {
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    ASSERT_EQ(c["choices"].size(), 1u) << c.dump();  // no usage-only chunk: the client did not ask
    text += c["choices"][0]["delta"].value("content", "");
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, "tok0 tok1 tok2 ");
  EXPECT_EQ(finish, "stop");
  EXPECT_EQ(gemini_.lastRequest().path,
            "/v1beta/models/gemini-2.0-flash:streamGenerateContent?alt=sse");
  expectKeysRight();

  const auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs[0]["stream"].get<bool>());
  EXPECT_EQ(recs[0]["usage"]["completion_tokens"], 7);
  EXPECT_EQ(recs[0]["usage"]["prompt_tokens"], 11);
}

TEST_F(GeminiGatewayTest, StreamUsageChunkWhenTheClientAsks) {
  json request = userChat();
  request["stream_options"] = {{"include_usage", true}};
  HttpResult r = stream(request);
  ASSERT_EQ(r.status, 200) << r.body;
  const SseBody sse = parseSse(r.body);
  ASSERT_FALSE(sse.chunks.empty());
  EXPECT_TRUE(sse.chunks.back()["choices"].empty());
  EXPECT_EQ(sse.chunks.back()["usage"]["total_tokens"], 18);
  EXPECT_TRUE(sse.done);
}

TEST_F(GeminiGatewayTest, ToolCallsComeBackAsOpenAiToolCalls) {
  HttpResult r = chat(withTools(userChat("Weather in Paris and Lyon?")));
  ASSERT_EQ(r.status, 200) << r.body;
  const json choice = json::parse(r.body)["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_EQ(choice["message"]["content"], "Checking.");
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 2u);
  EXPECT_EQ(choice["message"]["tool_calls"][1]["id"], "call_1");
  EXPECT_EQ(choice["message"]["tool_calls"][1]["function"]["name"], "get_weather");
  EXPECT_EQ(
      json::parse(choice["message"]["tool_calls"][1]["function"]["arguments"].get<std::string>()),
      json({{"city", "Lyon"}}));
  const json sent = json::parse(gemini_.lastRequest().body);
  EXPECT_EQ(sent["tools"][0]["functionDeclarations"][0]["name"], "get_weather");
  EXPECT_EQ(sent["tools"][0]["functionDeclarations"][0]["parameters"]["type"], "OBJECT");

  // The client answers both calls; they travel back as functionResponse parts of one turn.
  json next = withTools(userChat("Weather in Paris and Lyon?"));
  next["messages"].push_back(choice["message"]);
  next["messages"].push_back({{"role", "tool"}, {"tool_call_id", "call_0"}, {"content", "sunny"}});
  next["messages"].push_back({{"role", "tool"}, {"tool_call_id", "call_1"}, {"content", "rain"}});
  ASSERT_EQ(chat(next).status, 200);
  const json turns = json::parse(gemini_.lastRequest().body)["contents"];
  ASSERT_EQ(turns.size(), 3u);
  EXPECT_EQ(turns[1]["role"], "model");
  EXPECT_EQ(
      turns[2]["parts"][1],
      json::parse(R"({"functionResponse":{"name":"get_weather","response":{"result":"rain"}}})"));
}

TEST_F(GeminiGatewayTest, ToolCallsStream) {
  HttpResult r = stream(withTools(userChat("Weather?")));
  ASSERT_EQ(r.status, 200) << r.body;
  const SseBody sse = parseSse(r.body);
  EXPECT_TRUE(sse.done);
  std::string text;
  std::map<int, json> calls;
  std::string finish;
  bool text_and_call_together = false;
  for (const auto& c : sse.chunks) {
    const json& delta = c["choices"][0]["delta"];
    text += delta.value("content", "");
    for (const auto& tc : delta.value("tool_calls", json::array())) {
      calls[tc["index"].get<int>()] = tc;
      text_and_call_together = text_and_call_together || delta.contains("content");
    }
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, "Checking.");
  EXPECT_TRUE(text_and_call_together);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0]["id"], "call_0");
  EXPECT_EQ(calls[1]["function"]["arguments"], R"({"city":"Lyon"})");
  EXPECT_EQ(finish, "tool_calls");
}

TEST_F(GeminiGatewayTest, EmbeddingsSingleAndBatch) {
  HttpResult one = post("/v1/embeddings",
                        json{{"model", "gemini-embed"}, {"input", "hello"}}.dump(), authHeaders());
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(json::parse(one.body)["data"][0]["embedding"], json({0.1, 0.2, 0.3}));
  EXPECT_EQ(gemini_.lastRequest().path, "/v1beta/models/gemini-embedding-001:embedContent");

  HttpResult batch =
      post("/v1/embeddings", json{{"model", "gemini-embed"}, {"input", {"a", "b"}}}.dump(),
           authHeaders());
  ASSERT_EQ(batch.status, 200) << batch.body;
  const json body = json::parse(batch.body);
  ASSERT_EQ(body["data"].size(), 2u);
  EXPECT_EQ(body["data"][1]["index"], 1);
  EXPECT_EQ(gemini_.lastRequest().path, "/v1beta/models/gemini-embedding-001:batchEmbedContents");
  expectKeysRight();
}

TEST_F(GeminiGatewayTest, GeminiErrorsKeepStatusAndMessage) {
  gemini_.failNext(
      429,
      R"({"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}})");
  HttpResult r = chat(userChat());
  EXPECT_EQ(r.status, 429) << r.body;
  const json body = json::parse(r.body);
  EXPECT_EQ(body["error"]["message"], "Resource has been exhausted (e.g. check quota).");
  EXPECT_EQ(body["error"]["type"], "rate_limit_error");
  EXPECT_EQ(body["error"]["code"], "RESOURCE_EXHAUSTED");
}

TEST_F(GeminiGatewayTest, UnsupportedParameterIsRefusedBeforeTheUpstream) {
  json request = userChat();
  request["logit_bias"] = {{"50256", -100}};
  HttpResult r = chat(request);
  EXPECT_EQ(r.status, 400) << r.body;
  const json body = json::parse(r.body);
  EXPECT_EQ(body["error"]["code"], "unsupported_parameter");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("logit_bias"), std::string::npos);
  EXPECT_TRUE(gemini_.requests().empty());
}

// The same streamed tool turn through the Anthropic Messages and OpenAI Responses ingress APIs.
TEST_F(GeminiGatewayTest, ToolStreamThroughMessagesAndResponses) {
  expectWeatherTurnThroughBothIngresses(gateway_->port(), withTools(userChat("Weather?")),
                                        authHeaders(),
                                        {nullptr, json::parse(R"({"city":"Lyon"})")});
}

}  // namespace
}  // namespace switchyard::testing
