// End to end: an OpenAI client → a real in-process gateway → the cohere plugin → the mock
// Cohere v2 API, and back.
#include <map>
#include <string>
#include <vector>

#include "gateway_fixture.h"
#include "mock_cohere_upstream.h"
#include "support/ingress_turns.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

json userChat(const std::string& content = "ping") {
  return {{"model", "cohere-chat"}, {"messages", {{{"role", "user"}, {"content", content}}}}};
}

json withTools(json request) {
  request["tools"] = json::parse(R"([{"type":"function","function":{"name":"get_weather",
      "parameters":{"type":"object","properties":{"location":{"type":"string"}},
                    "required":["location"]}}}])");
  return request;
}

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

class CohereGatewayTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    installFirstPartyPlugins();
    installPlugin(COHERE_PLUGIN_PATH);
    json config = baseConfig();
    config["providers"]["co"] = {{"type", "cohere"},
                                 {"base_url", cohere_.baseUrl()},
                                 {"api_key_env", kProviderKeyEnv},
                                 {"config", {{"embed_input_type", "search_document"}}}};
    config["models"]["cohere-chat"] = {{"provider", "co"}, {"upstream_model", "command-a-03-2025"}};
    config["models"]["cohere-embed"] = {{"provider", "co"}, {"upstream_model", "embed-v4.0"}};
    startGateway(config);
  }

  HttpResult stream(json request) {
    request["stream"] = true;
    return httpStream(gateway_->port(), "/v1/chat/completions", request.dump(), authHeaders(),
                      [](std::string_view) {});
  }

  void expectKeysRight() {
    const auto requests = cohere_.requests();
    ASSERT_FALSE(requests.empty());
    for (const auto& r : requests) {
      EXPECT_EQ(r.headers.at("authorization"), std::string("Bearer ") + kProviderKey);
      EXPECT_EQ(r.body.find(kGatewayKey), std::string::npos);
      for (const auto& [name, value] : r.headers) {
        EXPECT_EQ(value.find(kGatewayKey), std::string::npos) << name;
      }
    }
  }

  MockCohereUpstream cohere_;
};

TEST_F(CohereGatewayTest, ChatIsTranslatedBothWays) {
  HttpResult r = chat(userChat());
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.status, 200) << r.body;
  const json body = json::parse(r.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "echo: ping");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(body["usage"]["total_tokens"], 18);
  const auto up = cohere_.lastRequest();
  EXPECT_EQ(up.path, "/v2/chat");
  EXPECT_EQ(json::parse(up.body), json::parse(R"({"model":"command-a-03-2025",
      "messages":[{"role":"user","content":"ping"}]})"));
  expectKeysRight();
  const auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["provider_type"], "cohere");
  EXPECT_EQ(recs[0]["usage"]["total_tokens"], 18);
}

TEST_F(CohereGatewayTest, StreamEndsWithDoneAndCountsUsage) {
  HttpResult r = stream(userChat());
  ASSERT_EQ(r.status, 200) << r.body;
  const SseBody sse = parseSse(r.body);
  EXPECT_TRUE(sse.done) << r.body;
  std::string text;
  std::string finish;
  for (const auto& c : sse.chunks) {
    ASSERT_EQ(c["choices"].size(), 1u) << c.dump();
    text += c["choices"][0]["delta"].value("content", "");
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, "tok0 tok1 tok2 ");
  EXPECT_EQ(finish, "stop");
  EXPECT_TRUE(json::parse(cohere_.lastRequest().body)["stream"].get<bool>());
  expectKeysRight();
  const auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["usage"]["completion_tokens"], 7);
}

TEST_F(CohereGatewayTest, StreamUsageChunkWhenTheClientAsks) {
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

TEST_F(CohereGatewayTest, ToolCallsBothWays) {
  HttpResult r = chat(withTools(userChat("Weather in Paris and Lyon?")));
  ASSERT_EQ(r.status, 200) << r.body;
  const json choice = json::parse(r.body)["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 2u);
  EXPECT_EQ(choice["message"]["tool_calls"][1]["id"], "call_b");

  json next = withTools(userChat("Weather in Paris and Lyon?"));
  next["messages"].push_back(choice["message"]);
  next["messages"].push_back({{"role", "tool"}, {"tool_call_id", "call_a"}, {"content", "sunny"}});
  next["messages"].push_back({{"role", "tool"}, {"tool_call_id", "call_b"}, {"content", "rain"}});
  ASSERT_EQ(chat(next).status, 200);
  const json sent = json::parse(cohere_.lastRequest().body)["messages"];
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[1]["tool_plan"], "I will check both cities.");
  EXPECT_EQ(sent[3], json::parse(R"({"role":"tool","tool_call_id":"call_b","content":"rain"})"));
}

TEST_F(CohereGatewayTest, ToolCallsStream) {
  HttpResult r = stream(withTools(userChat("Weather?")));
  ASSERT_EQ(r.status, 200) << r.body;
  const SseBody sse = parseSse(r.body);
  EXPECT_TRUE(sse.done);
  std::map<int, std::string> args;
  std::string text;
  std::string finish;
  for (const auto& c : sse.chunks) {
    const json& delta = c["choices"][0]["delta"];
    text += delta.value("content", "");
    for (const auto& tc : delta.value("tool_calls", json::array())) {
      args[tc["index"].get<int>()] += tc["function"].value("arguments", "");
    }
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, "Checking.");
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[0], R"({"location":"Paris"})");
  EXPECT_EQ(args[1], R"({"location":"Lyon"})");
  EXPECT_EQ(finish, "tool_calls");
}

TEST_F(CohereGatewayTest, Embeddings) {
  HttpResult r = post("/v1/embeddings",
                      json{{"model", "cohere-embed"}, {"input", {"a", "b"}}}.dump(), authHeaders());
  ASSERT_EQ(r.status, 200) << r.body;
  const json body = json::parse(r.body);
  ASSERT_EQ(body["data"].size(), 2u);
  EXPECT_EQ(body["data"][1]["index"], 1);
  const auto up = cohere_.lastRequest();
  EXPECT_EQ(up.path, "/v2/embed");
  EXPECT_EQ(json::parse(up.body), json::parse(R"({"model":"embed-v4.0","texts":["a","b"],
      "input_type":"search_document","embedding_types":["float"]})"));
  expectKeysRight();
}

TEST_F(CohereGatewayTest, ErrorsKeepStatusAndMessage) {
  cohere_.failNext(
      429,
      R"({"message":"You are using a Trial key, which is limited to 20 API calls / minute."})");
  HttpResult r = chat(userChat());
  EXPECT_EQ(r.status, 429) << r.body;
  const json body = json::parse(r.body);
  EXPECT_EQ(body["error"]["type"], "rate_limit_error");
  EXPECT_EQ(body["error"]["message"],
            "You are using a Trial key, which is limited to 20 API calls / minute.");
}

TEST_F(CohereGatewayTest, UnsupportedParameterIsRefusedBeforeTheUpstream) {
  json request = userChat();
  request["logit_bias"] = {{"50256", -100}};
  HttpResult r = chat(request);
  EXPECT_EQ(r.status, 400) << r.body;
  const json body = json::parse(r.body);
  EXPECT_EQ(body["error"]["code"], "unsupported_parameter");
  EXPECT_NE(body["error"]["message"].get<std::string>().find("logit_bias"), std::string::npos);
  EXPECT_TRUE(cohere_.requests().empty());
}

// The same streamed tool turn through the Anthropic Messages and OpenAI Responses ingress APIs.
TEST_F(CohereGatewayTest, ToolStreamThroughMessagesAndResponses) {
  expectWeatherTurnThroughBothIngresses(gateway_->port(), withTools(userChat("Weather?")),
                                        authHeaders(),
                                        {json::parse(R"({"location":"Paris"})"), json::parse(R"({"location":"Lyon"})")});
}

}  // namespace
}  // namespace switchyard::testing
