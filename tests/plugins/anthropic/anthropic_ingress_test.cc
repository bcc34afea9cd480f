// End to end through the ingress APIs with the "anthropic" provider: an Anthropic client on
// /v1/messages (Anthropic in → unified → Anthropic out) and a Responses client on
// /v1/responses, in front of MockAnthropicUpstream.
#include <map>
#include <string>
#include <vector>

#include "integration/gateway_fixture.h"
#include "mock_anthropic_upstream.h"
#include "support/named_sse.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

const json kTools = json::parse(R"([
  {"name": "get_weather", "description": "Weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
  {"name": "get_time", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}])");

class AnthropicIngressTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    installFirstPartyPlugins();
    installPlugin(ANTHROPIC_PLUGIN_PATH);
    json config = baseConfig();
    config["providers"]["claude"] = {{"type", "anthropic"},
                                     {"base_url", anthropic_.baseUrl()},
                                     {"api_key_env", kProviderKeyEnv},
                                     {"config", {{"default_max_tokens", 512}}},
                                     {"timeouts",
                                      {{"connect_ms", 2000},
                                       {"first_byte_ms", 10000},
                                       {"idle_ms", 10000},
                                       {"total_ms", 30000}}}};
    config["models"]["claude-test"] = {{"provider", "claude"},
                                       {"upstream_model", "claude-sonnet-4-20250514"}};
    startGateway(config);
  }

  static Headers anthropicHeaders() {
    return {{"x-api-key", kGatewayKey}, {"anthropic-version", "2023-06-01"}};
  }

  HttpResult streamMessages(const json& body) {
    return httpStream(gateway_->port(), "/v1/messages", body.dump(), anthropicHeaders(),
                      [](std::string_view) {});
  }

  MockAnthropicUpstream anthropic_;
};

TEST_F(AnthropicIngressTest, MessagesRoundTripKeepsTheRequestAndTheAnswer) {
  const json request = {
      {"model", "claude-test"},
      {"max_tokens", 300},
      {"system",
       json::parse(R"([{"type":"text","text":"Be brief."},{"type":"text","text":"Be kind."}])")},
      {"temperature", 0.3},
      {"top_k", 5},
      {"stop_sequences", {"END"}},
      {"metadata", {{"user_id", "u-1"}}},
      {"tools", kTools},
      {"tool_choice", {{"type", "tool"}, {"name", "get_weather"}}},
      {"messages", json::parse(R"([
      {"role": "user", "content": "weather?"},
      {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_9", "name": "get_weather", "input": {"city": "Rome"}}]},
      {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_9", "content": "warm"},
                                   {"type": "text", "text": "and Paris?"}]}])")}};
  HttpResult r = post("/v1/messages", request.dump(), anthropicHeaders());
  ASSERT_EQ(r.status, 200) << r.body;

  // What Anthropic received is the client's request again (with the route's model).
  const json up = json::parse(anthropic_.lastRequest().body);
  EXPECT_EQ(up["model"], "claude-sonnet-4-20250514");
  EXPECT_EQ(up["max_tokens"], 300);
  EXPECT_EQ(up["system"], request["system"]);
  EXPECT_EQ(up["temperature"], 0.3);
  EXPECT_EQ(up["top_k"], 5);
  EXPECT_EQ(up["stop_sequences"], json({"END"}));
  EXPECT_EQ(up["metadata"], json({{"user_id", "u-1"}}));
  EXPECT_EQ(up["tools"], kTools);
  EXPECT_EQ(up["tool_choice"], json({{"type", "tool"}, {"name", "get_weather"}}));
  EXPECT_EQ(up["messages"], request["messages"]);
  EXPECT_EQ(anthropic_.lastRequest().headers["x-api-key"], kProviderKey);  // never the gateway key

  // And the client gets Anthropic's answer: text, both tool_use blocks with their input, usage.
  const json m = json::parse(r.body);
  EXPECT_EQ(m["type"], "message");
  EXPECT_EQ(m["model"], "claude-test");
  EXPECT_EQ(m["stop_reason"], "tool_use");
  ASSERT_EQ(m["content"].size(), 3u);
  EXPECT_EQ(m["content"][0]["type"], "text");
  EXPECT_EQ(m["content"][1]["type"], "tool_use");
  EXPECT_EQ(m["content"][1]["input"], json({{"city", "Paris"}}));
  EXPECT_EQ(m["content"][2]["name"], "get_time");
  EXPECT_EQ(m["content"][2]["id"].get<std::string>().rfind("toolu_", 0), 0u);
  // The mock reports 11 uncached, 3 cache-read and 2 cache-write tokens. The unified usage
  // carries cache reads but not cache writes, so those count as plain input here.
  EXPECT_EQ(m["usage"]["input_tokens"], 13);
  EXPECT_EQ(m["usage"]["cache_read_input_tokens"], 3);
  EXPECT_EQ(m["usage"]["cache_creation_input_tokens"], 0);
  EXPECT_EQ(m["usage"]["output_tokens"], 7);
}

TEST_F(AnthropicIngressTest, MessagesStreamRoundTripWithTextAndParallelToolUse) {
  HttpResult r = streamMessages(
      {{"model", "claude-test"},
       {"max_tokens", 100},
       {"stream", true},
       {"tools", kTools},
       {"messages", {{{"role", "user"}, {"content", "weather and time in Paris?"}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  const auto ev = namedEvents(r.body);
  ASSERT_GE(ev.size(), 6u);
  EXPECT_EQ(ev.front().first, "message_start");
  EXPECT_EQ(ev[ev.size() - 2].first, "message_delta");
  EXPECT_EQ(ev.back().first, "message_stop");
  // Blocks are well nested: each start is closed before the next opens, indexes in order.
  int open = -1;
  int next = 0;
  std::map<int, std::string> args;
  std::map<int, std::string> kinds;
  std::string text;
  for (const auto& [name, data] : ev) {
    if (name == "content_block_start") {
      EXPECT_EQ(open, -1);
      EXPECT_EQ(data["index"], next);
      open = next++;
      kinds[open] = data["content_block"]["type"];
    } else if (name == "content_block_delta") {
      EXPECT_EQ(data["index"], open);
      if (data["delta"]["type"] == "text_delta") {
        text += data["delta"]["text"].get<std::string>();
      } else {
        EXPECT_EQ(data["delta"]["type"], "input_json_delta");
        args[open] += data["delta"]["partial_json"].get<std::string>();
      }
    } else if (name == "content_block_stop") {
      EXPECT_EQ(data["index"], open);
      open = -1;
    }
  }
  EXPECT_EQ(open, -1);
  ASSERT_EQ(kinds.size(), 3u);
  EXPECT_EQ(kinds[0], "text");
  EXPECT_EQ(kinds[1], "tool_use");
  EXPECT_EQ(kinds[2], "tool_use");
  EXPECT_FALSE(text.empty());
  EXPECT_EQ(json::parse(args[1]), json({{"city", "Paris"}}));
  EXPECT_EQ(json::parse(args[2]), json({{"city", "Paris"}}));
  const json& delta = ev[ev.size() - 2].second;
  EXPECT_EQ(delta["delta"]["stop_reason"], "tool_use");
  EXPECT_EQ(delta["usage"]["input_tokens"], 13); // 11 + 2 cache writes, see above
  EXPECT_EQ(delta["usage"]["cache_read_input_tokens"], 3);
  EXPECT_GT(delta["usage"]["output_tokens"].get<int>(), 0);

  auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["endpoint"], "/v1/messages");
  EXPECT_EQ(recs[0]["provider_type"], "anthropic");
}

TEST_F(AnthropicIngressTest, MessagesMidStreamUpstreamErrorBecomesAnErrorEvent) {
  anthropic_.injectIntoNextStream(
      "event: error\ndata: "
      "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}"
      "\n\n");
  HttpResult r = streamMessages({{"model", "claude-test"},
                                 {"max_tokens", 100},
                                 {"stream", true},
                                 {"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  ASSERT_EQ(r.status, 200);
  const auto ev = namedEvents(r.body);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.back().first, "error");
  EXPECT_EQ(ev.back().second["error"]["message"], "Overloaded");
  for (const auto& e : ev) {
    EXPECT_NE(e.first, "message_stop");
  }
}

TEST_F(AnthropicIngressTest, MessagesUpstreamErrorKeepsAnthropicsStatusAndType) {
  anthropic_.failNext(
      529, R"({"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}})", 10);
  HttpResult r = post("/v1/messages",
                      json{{"model", "claude-test"},
                           {"max_tokens", 10},
                           {"messages", {{{"role", "user"}, {"content", "x"}}}}}
                          .dump(),
                      anthropicHeaders());
  EXPECT_GE(r.status, 500);
  const json e = json::parse(r.body);
  EXPECT_EQ(e["type"], "error");
  EXPECT_EQ(e["error"]["type"], "overloaded_error");
}

TEST_F(AnthropicIngressTest, ResponsesThroughAnthropic) {
  HttpResult r = post(
      "/v1/responses",
      json{
          {"model", "claude-test"},
          {"input", "weather?"},
          {"max_output_tokens", 50},
          {"tools",
           {{{"type", "function"}, {"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}}
          .dump(),
      authHeaders());
  ASSERT_EQ(r.status, 200) << r.body;
  const json resp = json::parse(r.body);
  EXPECT_EQ(resp["object"], "response");
  ASSERT_EQ(resp["output"].size(), 2u);
  EXPECT_EQ(resp["output"][0]["type"], "message");
  EXPECT_EQ(resp["output"][1]["type"], "function_call");
  EXPECT_EQ(json::parse(resp["output"][1]["arguments"].get<std::string>()),
            json({{"city", "Paris"}}));
  EXPECT_EQ(json::parse(anthropic_.lastRequest().body)["max_tokens"], 50);

  std::string sse;
  r = httpStream(gateway_->port(), "/v1/responses",
                 json{{"model", "claude-test"}, {"input", "hi"}, {"stream", true}}.dump(),
                 authHeaders(), [](std::string_view) {});
  ASSERT_EQ(r.status, 200);
  const auto ev = namedEvents(r.body);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.front().first, "response.created");
  EXPECT_EQ(ev.back().first, "response.completed");
  EXPECT_EQ(ev.back().second["response"]["output"][0]["content"][0]["text"], "tok0 tok1 tok2 ");
  EXPECT_EQ(ev.back().second["response"]["usage"]["output_tokens"], 3);
}

}  // namespace
}  // namespace switchyard::testing
