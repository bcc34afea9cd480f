// End to end: Anthropic-style (/v1/messages) and Responses-style (/v1/responses) clients talking
// to a real gateway whose model is served by the "openai" provider in front of the mock
// OpenAI upstream. The mock sees unified chat requests; the clients see their own API.
#include <string>
#include <vector>

#include "gateway_fixture.h"
#include "support/named_sse.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

/// A unified stream the mock's own cannot produce: text and a tool call in one chunk, a second
/// (parallel) call, arguments split across deltas, finish_reason, usage, [DONE].
std::string scriptedToolStream(bool complete = true) {
  auto chunk = [](json delta, json finish = nullptr) {
    return "data: " +
           json{{"id", "chatcmpl-x1"},
                {"object", "chat.completion.chunk"},
                {"created", 1},
                {"model", "upstream-gpt"},
                {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}}}
               .dump() +
           "\n\n";
  };
  std::string s = chunk({{"role", "assistant"}, {"content", ""}});
  s += chunk({{"content", "Checking."},
              {"tool_calls",
               {{{"index", 0},
                 {"id", "call_w"},
                 {"type", "function"},
                 {"function", {{"name", "get_weather"}, {"arguments", "{\"ci"}}}}}}});
  s += chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "ty\":\"Pa"}}}}}}});
  s += chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "ris\"}"}}}}}}});
  if (!complete) {
    return s;  // the upstream dies here
  }
  s += chunk({{"tool_calls",
               {{{"index", 1},
                 {"id", "call_t"},
                 {"type", "function"},
                 {"function", {{"name", "get_time"}, {"arguments", "{}"}}}}}}});
  s += chunk(json::object(), "tool_calls");
  s += "data: " +
       json{{"id", "chatcmpl-x1"},
            {"object", "chat.completion.chunk"},
            {"choices", json::array()},
            {"usage", {{"prompt_tokens", 20}, {"completion_tokens", 9}, {"total_tokens", 29}}}}
           .dump() +
       "\n\n";
  return s + "data: [DONE]\n\n";
}

const json kWeatherToolAnthropic = {
    {"name", "get_weather"},
    {"description", "Get the weather"},
    {"input_schema", {{"type", "object"}, {"properties", {{"city", {{"type", "string"}}}}}}}};

class IngressTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    installFirstPartyPlugins();
  }

  static Headers anthropicHeaders() {
    // What the Anthropic SDKs send: the key in x-api-key, and a version header.
    return {{"x-api-key", kGatewayKey}, {"anthropic-version", "2023-06-01"}};
  }

  HttpResult messages(const json& body) {
    return post("/v1/messages", body.dump(), anthropicHeaders());
  }
  HttpResult responses(const json& body) {
    return post("/v1/responses", body.dump(), authHeaders());
  }

  HttpResult stream(const std::string& path, const json& body, const Headers& headers) {
    return httpStream(gateway_->port(), path, body.dump(), headers, [](std::string_view) {});
  }
};

TEST_F(IngressTest, MessagesNonStreamingTextAndRecord) {
  startGateway(baseConfig());
  HttpResult r = messages({{"model", "gpt-test"},
                           {"max_tokens", 64},
                           {"system", "Be brief."},
                           {"messages", {{{"role", "user"}, {"content", "hello"}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json m = json::parse(r.body);
  EXPECT_EQ(m["type"], "message");
  EXPECT_EQ(m["role"], "assistant");
  EXPECT_EQ(m["model"], "gpt-test");
  EXPECT_EQ(m["id"].get<std::string>().rfind("msg_", 0), 0u);
  EXPECT_EQ(m["content"], json::parse(R"([{"type":"text","text":"echo: hello"}])"));
  EXPECT_EQ(m["stop_reason"], "end_turn");
  EXPECT_EQ(m["usage"]["input_tokens"], 11);
  EXPECT_EQ(m["usage"]["output_tokens"], 7);

  // The upstream got a unified chat request with the route's model and the provider key.
  const json up = json::parse(upstream_.lastRequest().body);
  EXPECT_EQ(up["model"], "upstream-gpt");
  EXPECT_EQ(up["max_tokens"], 64);
  EXPECT_EQ(up["messages"][0], json({{"role", "system"}, {"content", "Be brief."}}));
  EXPECT_EQ(upstream_.lastRequest().headers["authorization"],
            std::string("Bearer ") + kProviderKey);

  auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["endpoint"], "/v1/messages");
  EXPECT_EQ(recs[0]["model"], "gpt-test");
  EXPECT_EQ(recs[0]["status"], 200);
  EXPECT_EQ(recs[0]["usage"]["prompt_tokens"], 11);
}

TEST_F(IngressTest, MessagesNonStreamingToolUse) {
  startGateway(baseConfig());
  HttpResult r = messages({{"model", "gpt-test"},
                           {"max_tokens", 64},
                           {"tools", {kWeatherToolAnthropic}},
                           {"tool_choice", {{"type", "any"}}},
                           {"messages", {{{"role", "user"}, {"content", "weather in Paris?"}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  const json m = json::parse(r.body);
  EXPECT_EQ(m["stop_reason"], "tool_use");
  ASSERT_EQ(m["content"].size(), 1u);
  EXPECT_EQ(m["content"][0]["type"], "tool_use");
  EXPECT_EQ(m["content"][0]["name"], "get_weather");
  EXPECT_TRUE(m["content"][0]["input"].is_object());  // arguments parsed, not a string
  const json up = json::parse(upstream_.lastRequest().body);
  EXPECT_EQ(up["tools"][0]["function"]["parameters"], kWeatherToolAnthropic["input_schema"]);
  EXPECT_EQ(up["tool_choice"], "required");
}

TEST_F(IngressTest, MessagesStreamingTextAndParallelToolCalls) {
  startGateway(baseConfig());
  upstream_.answerNext(200, "text/event-stream", scriptedToolStream());
  HttpResult r = stream("/v1/messages",
                        {{"model", "gpt-test"},
                         {"max_tokens", 64},
                         {"stream", true},
                         {"tools", {kWeatherToolAnthropic}},
                         {"messages", {{{"role", "user"}, {"content", "weather and time?"}}}}},
                        anthropicHeaders());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["content-type"].rfind("text/event-stream", 0), 0u);
  const auto ev = namedEvents(r.body);
  EXPECT_EQ(eventNames(ev),
            (std::vector<std::string>{
                "message_start", "content_block_start", "content_block_delta", "content_block_stop",
                "content_block_start", "content_block_delta", "content_block_delta",
                "content_block_delta", "content_block_stop", "content_block_start",
                "content_block_delta", "content_block_stop", "message_delta", "message_stop"}));
  EXPECT_EQ(ev[0].second["message"]["model"], "gpt-test");
  EXPECT_EQ(ev[2].second["delta"], json({{"type", "text_delta"}, {"text", "Checking."}}));
  EXPECT_EQ(ev[4].second["content_block"]["type"], "tool_use");
  EXPECT_EQ(ev[4].second["content_block"]["name"], "get_weather");
  std::string args;
  for (int i : {5, 6, 7}) {
    EXPECT_EQ(ev[i].second["index"], 1);
    args += ev[i].second["delta"]["partial_json"].get<std::string>();
  }
  EXPECT_EQ(json::parse(args), json({{"city", "Paris"}}));
  EXPECT_EQ(ev[9].second["index"], 2);
  EXPECT_EQ(ev[9].second["content_block"]["name"], "get_time");
  EXPECT_EQ(ev[12].second["delta"]["stop_reason"], "tool_use");
  EXPECT_EQ(ev[12].second["usage"]["input_tokens"], 20);
  EXPECT_EQ(ev[12].second["usage"]["output_tokens"], 9);

  // Usage is asked for upstream, so it is counted even though the client never said so.
  const json up = json::parse(upstream_.lastRequest().body);
  EXPECT_EQ(up["stream_options"]["include_usage"], true);
  auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["endpoint"], "/v1/messages");
  EXPECT_EQ(recs[0]["stream"], true);
  EXPECT_EQ(recs[0]["usage"]["completion_tokens"], 9);
}

TEST_F(IngressTest, MessagesStreamFailureAfterFirstByteIsAnInBandErrorEvent) {
  startGateway(baseConfig());
  upstream_.answerNext(200, "text/event-stream", scriptedToolStream(/*complete=*/false));
  HttpResult r = stream("/v1/messages",
                        {{"model", "gpt-test"},
                         {"max_tokens", 64},
                         {"stream", true},
                         {"messages", {{{"role", "user"}, {"content", "hi"}}}}},
                        anthropicHeaders());
  ASSERT_EQ(r.status, 200);
  const auto ev = namedEvents(r.body);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.front().first, "message_start");
  EXPECT_EQ(ev.back().first, "error");
  EXPECT_EQ(ev.back().second["type"], "error");
  EXPECT_EQ(ev.back().second["error"]["type"], "api_error");
  EXPECT_FALSE(ev.back().second["error"]["message"].get<std::string>().empty());
  for (const auto& e : ev) {
    EXPECT_NE(e.first, "message_stop");
  }
  auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["partial"], true);
}

TEST_F(IngressTest, MessagesRetryBeforeTheFirstByteStaysInvisible) {
  MockOpenAiUpstream flaky;
  json config = baseConfig();
  config["providers"]["flaky"] = config["providers"]["mock"];
  config["providers"]["flaky"]["base_url"] = flaky.baseUrl();
  config["models"]["primary"] = {
      {"provider", "flaky"}, {"upstream_model", "x"}, {"fallbacks", {"gpt-test"}}};
  startGateway(config);
  flaky.failNext(503, R"({"error":{"message":"overloaded","type":"server_error","code":null}})");
  HttpResult r = stream("/v1/messages",
                        {{"model", "primary"},
                         {"max_tokens", 64},
                         {"stream", true},
                         {"messages", {{{"role", "user"}, {"content", "hi"}}}}},
                        anthropicHeaders());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.headers["x-switchyard-attempts"], "2");
  const auto ev = namedEvents(r.body);
  ASSERT_FALSE(ev.empty());
  EXPECT_EQ(ev.front().first, "message_start");
  EXPECT_EQ(ev.back().first, "message_stop");
  std::string text;
  for (const auto& [name, data] : ev) {
    if (name == "content_block_delta") {
      text += data["delta"]["text"].get<std::string>();
    }
  }
  EXPECT_EQ(text, "tok0 tok1 tok2 ");
}

TEST_F(IngressTest, MessagesErrorsTakeAnthropicsShape) {
  startGateway(baseConfig());
  // Missing key: 401 authentication_error.
  HttpResult r =
      post("/v1/messages",
           R"({"model":"gpt-test","max_tokens":5,"messages":[{"role":"user","content":"x"}]})");
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(json::parse(r.body)["type"], "error");
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "authentication_error");

  // Unknown model: 404 not_found_error.
  r = messages(
      {{"model", "nope"}, {"max_tokens", 5}, {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  EXPECT_EQ(r.status, 404);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "not_found_error");

  // Untranslatable parameter: 400 naming it.
  r = messages({{"model", "gpt-test"},
                {"max_tokens", 5},
                {"thinking", {{"type", "enabled"}, {"budget_tokens", 1024}}},
                {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  EXPECT_EQ(r.status, 400);
  const json e = json::parse(r.body);
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("thinking"), std::string::npos);
  EXPECT_EQ(upstream_.requestCount(), 0u);

  // Upstream rate limit: 429 rate_limit_error.
  upstream_.failNext(
      429,
      R"({"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit_exceeded"}})",
      10);
  r = messages({{"model", "gpt-test"},
                {"max_tokens", 5},
                {"messages", {{{"role", "user"}, {"content", "x"}}}}});
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(json::parse(r.body)["error"]["type"], "rate_limit_error");

  // GET is not served.
  EXPECT_EQ(httpRequest(gateway_->port(), "GET", "/v1/messages").status, 405);
}

TEST_F(IngressTest, ResponsesNonStreamingTextAndFunctionCall) {
  startGateway(baseConfig());
  HttpResult r =
      responses({{"model", "gpt-test"}, {"instructions", "Be brief."}, {"input", "hello"}});
  ASSERT_EQ(r.status, 200) << r.body;
  json resp = json::parse(r.body);
  EXPECT_EQ(resp["object"], "response");
  EXPECT_EQ(resp["status"], "completed");
  EXPECT_EQ(resp["model"], "gpt-test");
  EXPECT_EQ(resp["instructions"], "Be brief.");
  ASSERT_EQ(resp["output"].size(), 1u);
  EXPECT_EQ(resp["output"][0]["type"], "message");
  EXPECT_EQ(resp["output"][0]["content"][0],
            json::parse(R"({"type":"output_text","text":"echo: hello","annotations":[]})"));
  EXPECT_EQ(resp["usage"]["input_tokens"], 11);
  EXPECT_EQ(resp["usage"]["output_tokens"], 7);
  EXPECT_EQ(resp["usage"]["total_tokens"], 18);

  r = responses(
      {{"model", "gpt-test"},
       {"input", "weather?"},
       {"tools",
        {{{"type", "function"}, {"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  resp = json::parse(r.body);
  ASSERT_EQ(resp["output"].size(), 1u);
  EXPECT_EQ(resp["output"][0]["type"], "function_call");
  EXPECT_EQ(resp["output"][0]["call_id"], "call_mock_1");
  EXPECT_EQ(resp["output"][0]["name"], "get_weather");
  EXPECT_TRUE(resp["output"][0]["arguments"].is_string());
  const json up = json::parse(upstream_.lastRequest().body);
  EXPECT_EQ(up["tools"][0]["function"]["name"], "get_weather");

  auto recs = records();
  ASSERT_EQ(recs.size(), 2u);
  EXPECT_EQ(recs[0]["endpoint"], "/v1/responses");
}

TEST_F(IngressTest, ResponsesStreamingTextAndParallelFunctionCalls) {
  startGateway(baseConfig());
  upstream_.answerNext(200, "text/event-stream", scriptedToolStream());
  HttpResult r = stream("/v1/responses",
                        {{"model", "gpt-test"},
                         {"stream", true},
                         {"input", "weather and time?"},
                         {"tools",
                          {{{"type", "function"}, {"name", "get_weather"}},
                           {{"type", "function"}, {"name", "get_time"}}}}},
                        authHeaders());
  ASSERT_EQ(r.status, 200) << r.body;
  const auto ev = namedEvents(r.body);
  ASSERT_GE(ev.size(), 5u);
  EXPECT_EQ(ev[0].first, "response.created");
  EXPECT_EQ(ev[1].first, "response.in_progress");
  for (size_t i = 0; i < ev.size(); ++i) {
    EXPECT_EQ(ev[i].second["sequence_number"], i);
  }
  std::string text;
  std::string weather_args;
  int items_done = 0;
  for (const auto& [name, data] : ev) {
    if (name == "response.output_text.delta") {
      text += data["delta"].get<std::string>();
    } else if (name == "response.function_call_arguments.delta" && data["output_index"] == 1) {
      weather_args += data["delta"].get<std::string>();
    } else if (name == "response.output_item.done") {
      ++items_done;
    }
  }
  EXPECT_EQ(text, "Checking.");
  EXPECT_EQ(json::parse(weather_args), json({{"city", "Paris"}}));
  EXPECT_EQ(items_done, 3);
  EXPECT_EQ(ev.back().first, "response.completed");
  const json& final = ev.back().second["response"];
  EXPECT_EQ(final["status"], "completed");
  ASSERT_EQ(final["output"].size(), 3u);
  EXPECT_EQ(final["output"][1]["arguments"], "{\"city\":\"Paris\"}");
  EXPECT_EQ(final["output"][2]["name"], "get_time");
  EXPECT_EQ(final["usage"]["input_tokens"], 20);
  EXPECT_EQ(final["usage"]["output_tokens"], 9);
}

TEST_F(IngressTest, ResponsesStreamFailureEndsWithResponseFailed) {
  startGateway(baseConfig());
  upstream_.answerNext(200, "text/event-stream", scriptedToolStream(/*complete=*/false));
  HttpResult r = stream("/v1/responses", {{"model", "gpt-test"}, {"stream", true}, {"input", "x"}},
                        authHeaders());
  ASSERT_EQ(r.status, 200);
  const auto ev = namedEvents(r.body);
  ASSERT_GE(ev.size(), 2u);
  EXPECT_EQ(ev[ev.size() - 2].first, "error");
  EXPECT_EQ(ev.back().first, "response.failed");
  EXPECT_EQ(ev.back().second["response"]["status"], "failed");
  for (const auto& e : ev) {
    EXPECT_NE(e.first, "response.completed");
  }
}

TEST_F(IngressTest, ResponsesErrorsAreOpenAiShapedAndNameTheUnsupportedFeature) {
  startGateway(baseConfig());
  HttpResult r =
      responses({{"model", "gpt-test"}, {"input", "x"}, {"previous_response_id", "resp_123"}});
  EXPECT_EQ(r.status, 400);
  json e = json::parse(r.body);
  EXPECT_EQ(e["error"]["type"], "invalid_request_error");
  EXPECT_EQ(e["error"]["code"], "unsupported_parameter");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("previous_response_id"),
            std::string::npos);

  r = responses({{"model", "gpt-test"}, {"input", "x"}, {"tools", {{{"type", "web_search"}}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(json::parse(r.body)["error"]["message"].get<std::string>().find("web_search"),
            std::string::npos);

  r = post("/v1/responses", R"({"model":"gpt-test","input":"x"})");
  EXPECT_EQ(r.status, 401);
  EXPECT_TRUE(json::parse(r.body)["error"].is_object());
  EXPECT_EQ(upstream_.requestCount(), 0u);
}

}  // namespace
}  // namespace switchyard::testing
