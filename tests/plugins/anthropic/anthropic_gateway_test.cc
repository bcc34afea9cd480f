// End to end: a real gateway in-process with the "anthropic" plugin installed, in front of
// MockAnthropicUpstream. An OpenAI client talks to the gateway; the mock sees Anthropic's
// wire format.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "integration/gateway_fixture.h"
#include "mock_anthropic_upstream.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

constexpr const char* kUpstreamModel = "claude-sonnet-4-20250514";

/// The JSON payloads of every "data: {...}" event, and whether "data: [DONE]" came.
struct SseCapture {
  std::vector<json> chunks;
  bool done = false;
  std::string error;
};

SseCapture parseSse(const std::string& wire) {
  SseCapture c;
  size_t at = 0;
  while (at < wire.size()) {
    size_t end = wire.find("\n\n", at);
    if (end == std::string::npos) {
      end = wire.size();
    }
    const std::string event = wire.substr(at, end - at);
    at = end + 2;
    if (event.rfind("data: ", 0) != 0) {
      continue;
    }
    const std::string data = event.substr(6);
    if (data == "[DONE]") {
      c.done = true;
      continue;
    }
    json j = json::parse(data);
    if (j.contains("error")) {
      c.error = data;
    } else {
      c.chunks.push_back(std::move(j));
    }
  }
  return c;
}

class AnthropicGatewayTest : public GatewayTest {
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
    config["models"]["claude-test"] = {{"provider", "claude"}, {"upstream_model", kUpstreamModel}};
    startGateway(config);
  }

  static json userChat(const std::string& text = "ping") {
    return {
        {"model", "claude-test"},
        {"messages",
         {{{"role", "system"}, {"content", "Be brief."}}, {{"role", "user"}, {"content", text}}}}};
  }

  static json withTools(json body) {
    body["tools"] = json::parse(R"([
      {"type":"function","function":{"name":"get_weather","parameters":{"type":"object",
        "properties":{"city":{"type":"string"}},"required":["city"]}}},
      {"type":"function","function":{"name":"get_time"}}])");
    return body;
  }

  SseCapture stream(const json& body) {
    std::string received;
    HttpResult r = httpStream(gateway_->port(), "/v1/chat/completions", body.dump(), authHeaders(),
                              [&](std::string_view bytes) { received.append(bytes); });
    EXPECT_EQ(r.status, 200) << r.body;
    return parseSse(received);
  }

  /// The upstream saw the provider key in x-api-key and nothing of the gateway key.
  void expectCredentials(const RecordedRequest& up) {
    EXPECT_EQ(up.headers.count("x-api-key"), 1u);
    EXPECT_EQ(up.headers.at("x-api-key"), kProviderKey);
    EXPECT_EQ(up.headers.count("authorization"), 0u);
    EXPECT_EQ(up.body.find(kGatewayKey), std::string::npos);
    for (const auto& [name, value] : up.headers) {
      EXPECT_EQ(value.find(kGatewayKey), std::string::npos) << name;
    }
  }

  MockAnthropicUpstream anthropic_;
};

TEST_F(AnthropicGatewayTest, ChatIsTranslatedBothWays) {
  HttpResult r = chat(userChat());
  ASSERT_TRUE(r.ok) << r.error;
  ASSERT_EQ(r.status, 200) << r.body;
  const json body = json::parse(r.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["model"], kUpstreamModel);
  EXPECT_EQ(body["choices"][0]["message"]["content"], "echo: ping");
  EXPECT_EQ(body["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(body["usage"], json::parse(R"({"prompt_tokens":16,"completion_tokens":7,
      "total_tokens":23,"prompt_tokens_details":{"cached_tokens":3}})"));

  ASSERT_EQ(anthropic_.requestCount(), 1u);
  const RecordedRequest up = anthropic_.lastRequest();
  EXPECT_EQ(up.method, "POST");
  EXPECT_EQ(up.path, "/v1/messages");
  EXPECT_EQ(up.headers.at("anthropic-version"), "2023-06-01");
  EXPECT_EQ(up.headers.at("content-type"), "application/json");
  expectCredentials(up);
  EXPECT_EQ(json::parse(up.body), json::parse(R"({"model":"claude-sonnet-4-20250514",
      "max_tokens":512,"system":"Be brief.","messages":[{"role":"user","content":"ping"}]})"));
  EXPECT_EQ(upstream_.requestCount(), 0u);  // the OpenAI mock was not involved

  auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_EQ(recs[0]["provider_type"], "anthropic");
  EXPECT_EQ(recs[0]["usage"]["prompt_tokens"], 16);
  EXPECT_EQ(recs[0]["usage"]["completion_tokens"], 7);
}

TEST_F(AnthropicGatewayTest, StreamChunksArriveAsTheUpstreamSendsThem) {
  anthropic_.holdStreams(true);
  json req = userChat();
  req["stream"] = true;
  std::atomic<bool> saw_first{false};
  std::atomic<bool> upstream_was_open{false};
  std::string received;
  HttpResult r = httpStream(gateway_->port(), "/v1/chat/completions", req.dump(), authHeaders(),
                            [&](std::string_view bytes) {
                              received.append(bytes);
                              if (!saw_first && received.find("tok0") != std::string::npos) {
                                // The mock is still holding the rest of its stream.
                                upstream_was_open = anthropic_.openStreams() == 1;
                                saw_first = true;
                                anthropic_.releaseStreams();
                              }
                            });
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"].rfind("text/event-stream", 0), 0u);
  EXPECT_TRUE(saw_first);
  EXPECT_TRUE(upstream_was_open);

  const SseCapture sse = parseSse(received);
  EXPECT_TRUE(sse.done);
  EXPECT_TRUE(sse.error.empty()) << sse.error;
  std::string text;
  for (const auto& c : sse.chunks) {
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    // The client did not ask for usage: no usage-only chunk.
    ASSERT_FALSE(c["choices"].empty()) << c.dump();
    text += c["choices"][0]["delta"].value("content", "");
  }
  EXPECT_EQ(text, "tok0 tok1 tok2 ");
  ASSERT_EQ(sse.chunks.size(), 5u);  // role, three deltas, finish
  EXPECT_EQ(sse.chunks.back()["choices"][0]["finish_reason"], "stop");

  const RecordedRequest up = anthropic_.lastRequest();
  expectCredentials(up);
  EXPECT_EQ(up.headers.at("accept"), "text/event-stream");
  EXPECT_EQ(json::parse(up.body)["stream"], true);

  // Input from message_start (11 + 3 cached + 2 cache writes), output from message_delta.
  auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs[0]["stream"].get<bool>());
  EXPECT_EQ(recs[0]["usage"]["prompt_tokens"], 16);
  EXPECT_EQ(recs[0]["usage"]["completion_tokens"], 3);
  EXPECT_EQ(recs[0]["usage"]["total_tokens"], 19);
}

TEST_F(AnthropicGatewayTest, StreamUsageChunkWhenTheClientAsks) {
  json req = userChat();
  req["stream"] = true;
  req["stream_options"] = {{"include_usage", true}};
  const SseCapture sse = stream(req);
  EXPECT_TRUE(sse.done);
  ASSERT_FALSE(sse.chunks.empty());
  const json& last = sse.chunks.back();
  EXPECT_TRUE(last["choices"].empty());
  EXPECT_EQ(last["usage"], json::parse(R"({"prompt_tokens":16,"completion_tokens":3,
      "total_tokens":19,"prompt_tokens_details":{"cached_tokens":3}})"));
}

TEST_F(AnthropicGatewayTest, ToolCallsNonStreaming) {
  json req = withTools(userChat("Weather and time in Paris?"));
  req["tool_choice"] = "required";
  HttpResult r = chat(req);
  ASSERT_EQ(r.status, 200) << r.body;
  const json choice = json::parse(r.body)["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_EQ(choice["message"]["content"], "Let me check.");
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 2u);
  EXPECT_EQ(choice["message"]["tool_calls"][0]["id"], "toolu_mock_1");
  EXPECT_EQ(choice["message"]["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(
      json::parse(choice["message"]["tool_calls"][1]["function"]["arguments"].get<std::string>()),
      json({{"city", "Paris"}}));

  const json sent = json::parse(anthropic_.lastRequest().body);
  EXPECT_EQ(sent["tools"][0]["name"], "get_weather");
  EXPECT_EQ(sent["tools"][0]["input_schema"]["required"], json::array({"city"}));
  EXPECT_EQ(sent["tool_choice"], json({{"type", "any"}}));
}

TEST_F(AnthropicGatewayTest, ToolCallsStreaming) {
  json req = withTools(userChat("Weather and time in Paris?"));
  req["stream"] = true;
  const SseCapture sse = stream(req);
  EXPECT_TRUE(sse.done);
  std::string text;
  std::vector<json> calls;
  for (const auto& c : sse.chunks) {
    const json& delta = c["choices"][0]["delta"];
    text += delta.value("content", "");
    for (const auto& tc : delta.value("tool_calls", json::array())) {
      const size_t i = tc["index"].get<size_t>();
      if (i == calls.size()) {
        calls.push_back({{"id", tc["id"]}, {"name", tc["function"]["name"]}, {"args", ""}});
      }
      ASSERT_LT(i, calls.size());
      calls[i]["args"] =
          calls[i]["args"].get<std::string>() + tc["function"]["arguments"].get<std::string>();
    }
  }
  EXPECT_EQ(text, "Let me check.");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0]["name"], "get_weather");
  EXPECT_EQ(calls[1]["name"], "get_time");
  EXPECT_EQ(calls[1]["id"], "toolu_mock_2");
  for (const auto& call : calls) {
    EXPECT_EQ(json::parse(call["args"].get<std::string>()), json({{"city", "Paris"}}));
  }
  EXPECT_EQ(sse.chunks.back()["choices"][0]["finish_reason"], "tool_calls");
}

TEST_F(AnthropicGatewayTest, ToolResultsGoBackAsOneUserTurn) {
  json req = withTools(userChat("Weather in Paris?"));
  req["messages"].push_back(json::parse(R"({"role":"assistant","content":null,"tool_calls":[
      {"id":"toolu_mock_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
      {"id":"toolu_mock_2","type":"function","function":{"name":"get_time","arguments":"{}"}}]})"));
  req["messages"].push_back(
      {{"role", "tool"}, {"tool_call_id", "toolu_mock_1"}, {"content", "18C"}});
  req["messages"].push_back(
      {{"role", "tool"}, {"tool_call_id", "toolu_mock_2"}, {"content", "noon"}});
  HttpResult r = chat(req);
  ASSERT_EQ(r.status, 200) << r.body;
  const json sent = json::parse(anthropic_.lastRequest().body);
  ASSERT_EQ(sent["messages"].size(), 3u);
  EXPECT_EQ(sent["messages"][2], json::parse(R"({"role":"user","content":[
      {"type":"tool_result","tool_use_id":"toolu_mock_1","content":"18C"},
      {"type":"tool_result","tool_use_id":"toolu_mock_2","content":"noon"}]})"));
}

struct ErrorCase {
  int status;
  const char* type;
};

class AnthropicGatewayErrorTest : public AnthropicGatewayTest,
                                  public ::testing::WithParamInterface<ErrorCase> {};

// One case per gateway: the core may take a target out of rotation after a 429 or 529.
TEST_P(AnthropicGatewayErrorTest, UpstreamErrorKeepsItsStatus) {
  const ErrorCase& c = GetParam();
  // Several times over, so a core that retries still sees the error every time.
  anthropic_.failNext(
      c.status,
      json{{"type", "error"}, {"error", {{"type", c.type}, {"message", "mock says no"}}}}.dump(),
      10);
  HttpResult r = chat(userChat());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, c.status) << r.body;
  const json body = json::parse(r.body);
  EXPECT_EQ(body["error"]["type"], c.type);
  EXPECT_EQ(body["error"]["message"], "mock says no");
}

INSTANTIATE_TEST_SUITE_P(Anthropic, AnthropicGatewayErrorTest,
                         ::testing::Values(ErrorCase{529, "overloaded_error"},
                                           ErrorCase{429, "rate_limit_error"},
                                           ErrorCase{400, "invalid_request_error"},
                                           ErrorCase{401, "authentication_error"}),
                         [](const auto& info) { return std::string(info.param.type); });

TEST_F(AnthropicGatewayTest, InBandStreamErrorEndsTheStream) {
  anthropic_.injectIntoNextStream(
      "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
      "\"message\":\"Overloaded\"}}\n\n");
  json req = userChat();
  req["stream"] = true;
  const SseCapture sse = stream(req);
  EXPECT_FALSE(sse.done);
  ASSERT_FALSE(sse.error.empty());
  const json err = json::parse(sse.error)["error"];
  EXPECT_EQ(err["type"], "overloaded_error");
  EXPECT_EQ(err["message"], "Overloaded");
  EXPECT_EQ(sse.chunks.size(), 2u);  // role and "tok0 " went out before the error
}

TEST_F(AnthropicGatewayTest, EmbeddingsAreRefusedWithoutCallingTheUpstream) {
  HttpResult r =
      post("/v1/embeddings", json{{"model", "claude-test"}, {"input", "hi"}}.dump(), authHeaders());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "unsupported_operation");
  EXPECT_EQ(anthropic_.requestCount(), 0u);
}

TEST_F(AnthropicGatewayTest, UnsupportedParameterIsA400) {
  json req = userChat();
  req["reasoning_effort"] = "high";
  HttpResult r = chat(req);
  EXPECT_EQ(r.status, 400) << r.body;
  const json err = json::parse(r.body)["error"];
  EXPECT_EQ(err["code"], "unsupported_parameter");
  EXPECT_NE(err["message"].get<std::string>().find("reasoning_effort"), std::string::npos);
  EXPECT_EQ(anthropic_.requestCount(), 0u);
}

// The unsupported-parameters policy end to end: an extra the answer can come without is
// dropped and named in x-switchyard-dropped-params; a parameter that would change the answer is
// a 400 naming it, before any upstream call.
TEST_F(AnthropicGatewayTest, DroppedParametersAreNamedInAHeader) {
  json req = userChat();
  req["logprobs"] = true;
  req["top_logprobs"] = 2;
  HttpResult r = chat(req);
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(r.headers.count("x-switchyard-dropped-params"), 1u);
  EXPECT_EQ(r.headers.at("x-switchyard-dropped-params"), "logprobs,top_logprobs");
  ASSERT_EQ(anthropic_.requestCount(), 1u);
  const json up = json::parse(anthropic_.lastRequest().body);
  EXPECT_FALSE(up.contains("logprobs"));
  EXPECT_FALSE(up.contains("top_logprobs"));

  // Streams carry the header too (it is set before the first byte).
  std::string received;
  HttpResult s = httpStream(
      gateway_->port(), "/v1/chat/completions",
      [&] {
        json b = userChat();
        b["stream"] = true;
        b["logprobs"] = true;
        return b;
      }()
          .dump(),
      authHeaders(), [&](std::string_view bytes) { received.append(bytes); });
  ASSERT_EQ(s.status, 200) << s.body;
  EXPECT_EQ(s.headers["x-switchyard-dropped-params"], "logprobs");
  EXPECT_TRUE(parseSse(received).done);

  // Nothing dropped, no header.
  HttpResult plain = chat(userChat());
  ASSERT_EQ(plain.status, 200) << plain.body;
  EXPECT_EQ(plain.headers.count("x-switchyard-dropped-params"), 0u);
}

TEST_F(AnthropicGatewayTest, MoreThanOneChoiceIsA400NamingN) {
  json req = userChat();
  req["n"] = 2;
  HttpResult r = chat(req);
  EXPECT_EQ(r.status, 400) << r.body;
  const json err = json::parse(r.body)["error"];
  EXPECT_EQ(err["type"], "invalid_request_error");
  EXPECT_EQ(err["code"], "unsupported_parameter");
  EXPECT_NE(err["message"].get<std::string>().find("'n'"), std::string::npos) << err["message"];
  EXPECT_EQ(r.headers.count("x-switchyard-dropped-params"), 0u);
  EXPECT_EQ(anthropic_.requestCount(), 0u);
}

}  // namespace
}  // namespace switchyard::testing
