// Behaviour of the "anthropic" provider plugin, loaded from its built library: request and
// response translation against golden pairs in data/ (shaped after Anthropic's documented
// examples), streams split at every byte, tool-call streaming, usage, errors and bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <switchyard/testing/fake_host.hpp>
#include <vector>

namespace switchyard {
namespace {

using nlohmann::json;
using testing::FakeHost;
using testing::FakeOutput;
using testing::LoadedPlugin;
using testing::ProviderCall;
using testing::ProviderInstance;
using testing::UpstreamAnswer;

constexpr const char* kSecretKey = "sk-ant-api03-SECRET-0123456789";
constexpr int64_t kNowMs = 1732600000123;  // the translations put now/1000 into "created"

std::string readData(const std::string& name) {
  std::ifstream in(std::string(SY_TEST_DATA_DIR) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << "missing golden file " << name;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

json readJson(const std::string& name) {
  return json::parse(readData(name));
}

std::vector<json> parseAll(const std::vector<std::string>& payloads) {
  std::vector<json> out;
  for (const auto& p : payloads) {
    out.push_back(json::parse(p));
  }
  return out;
}

class AnthropicProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.setNowUnixMs(kNowMs);
    plugin_ = std::make_unique<LoadedPlugin>(SY_TEST_PLUGIN_PATH, host_);
    provider_ = create("{}");
    ASSERT_NE(provider_, nullptr);
  }
  void TearDown() override {
    // No path through the plugin may log the upstream credential.
    EXPECT_FALSE(host_.logsContain(kSecretKey));
    provider_.reset();
    plugin_.reset();
  }

  std::unique_ptr<ProviderInstance> create(const std::string& config) {
    auto created = plugin_->createProvider("anthropic", config);
    EXPECT_TRUE(created.ok()) << created.output.error.message;
    return std::move(created.instance);
  }

  static ProviderCall chatCall(std::string body, bool stream = false) {
    ProviderCall call;
    call.operation = SY_OP_CHAT_COMPLETIONS;
    call.stream = stream;
    call.body = std::move(body);
    call.public_model = "claude-fast";
    call.upstream_model = "claude-sonnet-4-20250514";
    call.base_url = "https://api.anthropic.com/v1";
    call.api_key = kSecretKey;
    return call;
  }

  /// Builds the upstream body for `openai` and returns it parsed; fails the test on error.
  json build(const json& openai, bool stream = false) {
    FakeOutput out;
    EXPECT_EQ(provider_->buildRequest(chatCall(openai.dump(), stream), out), SY_OK)
        << out.error.message;
    return out.body.empty() ? json() : json::parse(out.body);
  }

  /// Builds a request expected to fail; returns the recorded error.
  testing::FakeError buildError(const std::string& body, sy_status expected = SY_ERR_INVALID_ARG) {
    FakeOutput out;
    EXPECT_EQ(provider_->buildRequest(chatCall(body), out), expected) << body;
    EXPECT_TRUE(out.body.empty()) << body;
    EXPECT_TRUE(out.error.set) << body;
    return out.error;
  }

  static json minimal() {
    return json{{"model", "claude-fast"}, {"messages", {{{"role", "user"}, {"content", "Hi"}}}}};
  }

  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
  std::unique_ptr<ProviderInstance> provider_;
};

// ---------------------------------------------------------------------------------------------
// Registration and config

TEST_F(AnthropicProviderTest, DeclaresOneProviderComponent) {
  EXPECT_EQ(testing::toView(plugin_->info().name), "anthropic");
  EXPECT_EQ(plugin_->info().abi_major, static_cast<uint32_t>(SY_ABI_MAJOR));
  ASSERT_NE(plugin_->find(SY_KIND_PROVIDER, "anthropic"), nullptr);
  EXPECT_EQ(plugin_->entry()(SY_ABI_MAJOR + 1, 0), nullptr);
}

TEST_F(AnthropicProviderTest, AcceptsEmptyAndFullConfig) {
  EXPECT_NE(create(""), nullptr);
  EXPECT_NE(create(R"({"anthropic_version":"2023-06-01","default_max_tokens":8192,
                       "extra_headers":{"anthropic-beta":"prompt-caching-2024-07-31"}})"),
            nullptr);
}

TEST_F(AnthropicProviderTest, RejectsBadConfigWithClearMessage) {
  struct Case {
    const char* config;
    const char* mentions;
  };
  for (const Case& c : {Case{R"({"version":"2023-06-01"})", "version"},
                        Case{R"({"anthropic_version":""})", "anthropic_version"},
                        Case{R"({"anthropic_version":"a\r\nb: c"})", "anthropic_version"},
                        Case{R"({"default_max_tokens":0})", "default_max_tokens"},
                        Case{R"({"default_max_tokens":"4096"})", "default_max_tokens"},
                        Case{R"({"extra_headers":{"Bad Name":"v"}})", "Bad Name"},
                        Case{R"({"extra_headers":{"X-Api-Key":"k"}})", "x-api-key"},
                        Case{R"({"extra_headers":{"X-A":1}})", "X-A"}, Case{"[1]", "object"}}) {
    auto created = plugin_->createProvider("anthropic", c.config);
    EXPECT_FALSE(created.ok()) << c.config;
    EXPECT_EQ(created.status, SY_ERR_INVALID_ARG) << c.config;
    EXPECT_EQ(created.output.error.status, 400u);
    EXPECT_EQ(created.output.error.code, "invalid_config");
    EXPECT_NE(created.output.error.message.find(c.mentions), std::string::npos)
        << created.output.error.message;
  }
}

// ---------------------------------------------------------------------------------------------
// build_request

TEST_F(AnthropicProviderTest, GoldenChatRequest) {
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(chatCall(readData("chat_request.openai.json")), out), SY_OK)
      << out.error.message;
  EXPECT_FALSE(out.error.set);
  EXPECT_EQ(out.method, "POST");
  EXPECT_EQ(out.path, "/messages");
  const testing::HeaderList expected_headers = {
      {"Content-Type", "application/json"},
      {"x-api-key", kSecretKey},
      {"anthropic-version", "2023-06-01"},
  };
  EXPECT_EQ(out.headers, expected_headers);
  EXPECT_EQ(json::parse(out.body), readJson("chat_request.anthropic.json"));
  // Model and max_tokens lead the body, as in Anthropic's examples.
  EXPECT_EQ(out.body.rfind(R"({"model":"claude-sonnet-4-20250514","max_tokens":1024,)", 0), 0u)
      << out.body;
  EXPECT_FALSE(out.contains("Authorization"));
}

TEST_F(AnthropicProviderTest, MaxTokensAlwaysSent) {
  EXPECT_EQ(build(minimal())["max_tokens"], 4096);
  json body = minimal();
  body["max_tokens"] = 77;
  EXPECT_EQ(build(body)["max_tokens"], 77);
  body["max_completion_tokens"] = 99;  // the newer name wins
  EXPECT_EQ(build(body)["max_tokens"], 99);

  provider_ = create(R"({"default_max_tokens":2000})");
  EXPECT_EQ(build(minimal())["max_tokens"], 2000);
}

TEST_F(AnthropicProviderTest, ConfiguredVersionAndExtraHeaders) {
  provider_ = create(R"({"anthropic_version":"2024-01-01",
                         "extra_headers":{"anthropic-beta":"output-128k-2025-02-19","Accept":"x/y"}})");
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(chatCall(minimal().dump(), true), out), SY_OK);
  EXPECT_EQ(out.header("anthropic-version"), "2024-01-01");
  EXPECT_EQ(out.header("anthropic-beta"), "output-128k-2025-02-19");
  // A configured header replaces the built-in one instead of doubling it.
  EXPECT_EQ(out.headerValues("Accept"), std::vector<std::string>{"x/y"});
}

TEST_F(AnthropicProviderTest, StreamRequestAsksForEventStream) {
  json body = minimal();
  body["stream"] = true;
  body["stream_options"] = {{"include_usage", true}};
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(chatCall(body.dump(), true), out), SY_OK);
  EXPECT_EQ(out.header("Accept"), "text/event-stream");
  const json sent = json::parse(out.body);
  EXPECT_EQ(sent["stream"], true);
  EXPECT_FALSE(sent.contains("stream_options"));

  // A non-stream call never asks for a stream, whatever the body says.
  FakeOutput plain;
  ASSERT_EQ(provider_->buildRequest(chatCall(body.dump(), false), plain), SY_OK);
  EXPECT_FALSE(json::parse(plain.body).contains("stream"));
  EXPECT_FALSE(plain.header("Accept").has_value());
}

TEST_F(AnthropicProviderTest, SystemAndDeveloperMessagesAreLifted) {
  json body = minimal();
  body["messages"] = {
      {{"role", "system"}, {"content", "Be brief."}},
      {{"role", "user"}, {"content", "Hi"}},
      {{"role", "assistant"}, {"content", "Hello."}},
      {{"role", "developer"}, {"content", {{{"type", "text"}, {"text", "Answer in French."}}}}},
      {{"role", "user"}, {"content", "Again"}}};
  const json sent = build(body);
  EXPECT_EQ(sent["system"], json::parse(R"([{"type":"text","text":"Be brief."},
                                            {"type":"text","text":"Answer in French."}])"));
  EXPECT_EQ(sent["messages"], json::parse(R"([{"role":"user","content":"Hi"},
                                              {"role":"assistant","content":"Hello."},
                                              {"role":"user","content":"Again"}])"));
}

TEST_F(AnthropicProviderTest, MapsToolChoice) {
  struct Case {
    json choice;
    json expected;
  };
  json body = readJson("chat_request.openai.json");
  body.erase("parallel_tool_calls");
  for (const Case& c : {Case{"auto", {{"type", "auto"}}}, Case{"none", {{"type", "none"}}},
                        Case{"required", {{"type", "any"}}},
                        Case{{{"type", "function"}, {"function", {{"name", "get_time"}}}},
                             {{"type", "tool"}, {"name", "get_time"}}}}) {
    body["tool_choice"] = c.choice;
    EXPECT_EQ(build(body)["tool_choice"], c.expected) << c.choice;
  }
  body.erase("tool_choice");
  EXPECT_FALSE(build(body).contains("tool_choice"));
  body["parallel_tool_calls"] = false;
  EXPECT_EQ(build(body)["tool_choice"],
            json::parse(R"({"type":"auto","disable_parallel_tool_use":true})"));
  body["parallel_tool_calls"] = true;
  EXPECT_FALSE(build(body).contains("tool_choice"));
}

TEST_F(AnthropicProviderTest, AssistantToolCallWithoutTextAndEmptyArguments) {
  json body = minimal();
  body["messages"] = json::parse(R"([
    {"role":"user","content":"What time is it?"},
    {"role":"assistant","content":null,"tool_calls":[
      {"id":"toolu_1","type":"function","function":{"name":"get_time","arguments":""}}]},
    {"role":"tool","tool_call_id":"toolu_1","content":"12:00"}])");
  EXPECT_EQ(build(body)["messages"], json::parse(R"([
    {"role":"user","content":"What time is it?"},
    {"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_time","input":{}}]},
    {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"12:00"}]}])"));
}

TEST_F(AnthropicProviderTest, EmbeddingsAreUnsupported) {
  ProviderCall call = chatCall(R"({"model":"embed","input":["a"]})");
  call.operation = SY_OP_EMBEDDINGS;
  FakeOutput out;
  EXPECT_EQ(provider_->buildRequest(call, out), SY_ERR_UNSUPPORTED);
  EXPECT_EQ(out.error.status, 400u);
  EXPECT_EQ(out.error.type, "invalid_request_error");
  EXPECT_EQ(out.error.code, "unsupported_operation");
  EXPECT_NE(out.error.message.find("embeddings"), std::string::npos);
  EXPECT_TRUE(out.path.empty());
  EXPECT_TRUE(out.body.empty());
}

TEST_F(AnthropicProviderTest, RejectsUnsupportedParametersByName) {
  struct Case {
    const char* key;
    json value;
  };
  for (const Case& c :
       {Case{"n", 2}, Case{"frequency_penalty", 0.5}, Case{"presence_penalty", -1},
        Case{"logit_bias", {{"50256", -100}}}, Case{"reasoning_effort", "high"},
        Case{"response_format", {{"type", "json_object"}}}, Case{"modalities", {"text", "audio"}},
        Case{"audio", {{"voice", "alloy"}}}, Case{"prediction", {{"type", "content"}}},
        Case{"functions", json::array({{{"name", "f"}}})}}) {
    json body = minimal();
    body[c.key] = c.value;
    const auto e = buildError(body.dump());
    EXPECT_EQ(e.status, 400u) << c.key;
    EXPECT_EQ(e.type, "invalid_request_error") << c.key;
    EXPECT_EQ(e.code, "unsupported_parameter") << c.key;
    EXPECT_NE(e.message.find(std::string("'") + c.key + "'"), std::string::npos) << e.message;
  }
}

// top_k is not an OpenAI parameter, but /v1/messages clients send it: Anthropic takes it as is.
TEST_F(AnthropicProviderTest, TopKIsPassedOnByName) {
  json body = minimal();
  body["top_k"] = 5;
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(chatCall(body.dump()), out), SY_OK) << out.error.message;
  EXPECT_EQ(json::parse(out.body).value("top_k", 0), 5);
}

TEST_F(AnthropicProviderTest, AcceptsNeutralValuesOfUnsupportedParameters) {
  json body = minimal();
  body.update(json::parse(R"({"n":1,"frequency_penalty":0,"presence_penalty":0,"logprobs":false,
    "seed":null,"store":false,"response_format":{"type":"text"},"modalities":["text"],
    "service_tier":"auto","top_logprobs":0,"stream_options":null})"));
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(chatCall(body.dump()), out), SY_OK) << out.error.message;
  EXPECT_EQ(json::parse(out.body),
            json::parse(R"({"model":"claude-sonnet-4-20250514","max_tokens":4096,
                                  "messages":[{"role":"user","content":"Hi"}]})"));
  // A neutral value asks for nothing, so nothing is reported as dropped.
  EXPECT_TRUE(out.dropped_params.empty());
}

// Extras the answer can come without are dropped and named, so the client can tell; the
// upstream body does not carry them.
TEST_F(AnthropicProviderTest, DropsAndReportsExtrasItCannotHonour) {
  struct Case {
    const char* key;
    json value;
  };
  for (const Case& c :
       {Case{"logprobs", true}, Case{"top_logprobs", 3}, Case{"seed", 42}, Case{"store", true},
        Case{"service_tier", "flex"}, Case{"metadata", {{"k", "v"}}}}) {
    json body = minimal();
    body[c.key] = c.value;
    FakeOutput out;
    ASSERT_EQ(provider_->buildRequest(chatCall(body.dump()), out), SY_OK) << c.key;
    const json sent = json::parse(out.body);
    EXPECT_FALSE(sent.contains(c.key)) << c.key;
    EXPECT_EQ(out.dropped_params, std::vector<std::string>{c.key});
  }
  json body = minimal();
  body["logprobs"] = true;
  body["top_logprobs"] = 2;
  body["messages"] = json::parse(R"([{"role":"user","content":[{"type":"image_url",
      "image_url":{"url":"https://example.com/a.png","detail":"high"}}]}])");
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(chatCall(body.dump()), out), SY_OK) << out.error.message;
  EXPECT_EQ(out.dropped_params,
            (std::vector<std::string>{"logprobs", "top_logprobs", "image_url.detail"}));
}

TEST_F(AnthropicProviderTest, RejectsBadInput) {
  struct Case {
    std::string body;
    const char* code;
  };
  const auto with = [](const char* key, json value) {
    json b = minimal();
    b[key] = std::move(value);
    return b.dump();
  };
  const auto messages = [](const char* m) {
    json b = minimal();
    b["messages"] = json::parse(m);
    return b.dump();
  };
  for (const Case& c : {
           Case{"{\"messages\": [", "invalid_json"},
           Case{"[1,2]", "invalid_json"},
           Case{"", "invalid_json"},
           Case{R"({"model":"m"})", "invalid_messages"},
           Case{with("messages", json::array()), "invalid_messages"},
           Case{messages(R"([{"role":"system","content":"only a system prompt"}])"),
                "invalid_messages"},
           Case{messages(R"([{"role":"function","name":"f","content":"x"}])"), "invalid_messages"},
           Case{messages(R"([{"content":"no role"}])"), "invalid_messages"},
           Case{
               messages(R"([{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}])"),
               "unsupported_content"},
           Case{messages(R"([{"role":"user","content":[{"type":"image_url",
                "image_url":{"url":"ftp://example.com/cat.png"}}]}])"),
                "invalid_image_url"},
           Case{messages(R"([{"role":"user","content":[{"type":"image_url",
                "image_url":{"url":"data:image/png,notbase64"}}]}])"),
                "invalid_image_url"},
           Case{messages(R"([{"role":"user","content":"x"},{"role":"assistant","content":null,
                "tool_calls":[{"id":"t","type":"function","function":{"name":"f","arguments":"[1]"}}]}])"),
                "invalid_messages"},
           Case{messages(R"([{"role":"user","content":"x"},{"role":"assistant",
                "tool_calls":[{"type":"function","function":{"name":"f"}}]}])"),
                "invalid_messages"},
           Case{messages(R"([{"role":"tool","content":"x"}])"), "invalid_messages"},
           Case{with("temperature", 1.5), "invalid_value"},
           Case{with("temperature", "hot"), "invalid_type"},
           Case{with("top_p", -0.1), "invalid_value"},
           Case{with("max_tokens", 0), "invalid_type"},
           Case{with("max_completion_tokens", 1.5), "invalid_type"},
           Case{with("stop", 5), "invalid_type"},
           Case{with("stop", json::array({"a", 1})), "invalid_type"},
           Case{with("user", 5), "invalid_type"},
           Case{with("tool_choice", "sometimes"), "invalid_tool_choice"},
           Case{with("tools", json::array({{{"type", "function"}, {"function", {{"x", 1}}}}})),
                "invalid_tools"},
           Case{with("tools", json::array({{{"type", "code_interpreter"}}})),
                "unsupported_parameter"},
           Case{with("parallel_tool_calls", "no"), "invalid_type"},
       }) {
    const auto e = buildError(c.body);
    EXPECT_EQ(e.status, 400u) << c.body;
    EXPECT_EQ(e.type, "invalid_request_error") << c.body;
    EXPECT_EQ(e.code, c.code) << c.body << " → " << e.message;
    EXPECT_FALSE(e.message.empty());
  }
}

TEST_F(AnthropicProviderTest, TrimsKeyAndRefusesControlCharacters) {
  auto call = chatCall(minimal().dump());
  call.api_key = std::string(kSecretKey) + "\n";
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(call, out), SY_OK);
  EXPECT_EQ(out.header("x-api-key"), kSecretKey);

  call.api_key = std::string(kSecretKey) + "\r\nX-Injected: 1";
  FakeOutput refused;
  EXPECT_EQ(provider_->buildRequest(call, refused), SY_ERR_INVALID_ARG);
  EXPECT_EQ(refused.error.status, 500u);
  EXPECT_TRUE(refused.headers.empty());
  EXPECT_FALSE(refused.contains(kSecretKey));

  call.api_key.clear();
  FakeOutput keyless;
  ASSERT_EQ(provider_->buildRequest(call, keyless), SY_OK);
  EXPECT_FALSE(keyless.header("x-api-key").has_value());
}

// ---------------------------------------------------------------------------------------------
// parse_response

TEST_F(AnthropicProviderTest, GoldenTextMessageWithCacheUsage) {
  FakeOutput out;
  ASSERT_EQ(
      provider_->parseResponse(
          chatCall("{}"), UpstreamAnswer{200, {}, readData("message_text.anthropic.json")}, out),
      SY_OK)
      << out.error.message;
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].type, static_cast<sy_event>(SY_EVENT_RESPONSE));
  EXPECT_EQ(json::parse(out.events[0].payload), readJson("message_text.openai.json"));
  EXPECT_EQ(out.events[1].type, static_cast<sy_event>(SY_EVENT_USAGE));
  // prompt_tokens counts cached and cache-writing input too (2095 + 2051 + 2051).
  EXPECT_EQ(json::parse(out.events[1].payload),
            json::parse(R"({"prompt_tokens":6197,"completion_tokens":503,"total_tokens":6700,
                            "cached_tokens":2051,"cache_creation_tokens":2051})"));
  EXPECT_FALSE(out.error.set);
}

TEST_F(AnthropicProviderTest, GoldenToolUseMessage) {
  FakeOutput out;
  ASSERT_EQ(provider_->parseResponse(
                chatCall("{}"),
                UpstreamAnswer{200, {}, readData("message_tool_use.anthropic.json")}, out),
            SY_OK);
  ASSERT_EQ(out.count(SY_EVENT_RESPONSE), 1u);
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_RESPONSE)[0]),
            readJson("message_tool_use.openai.json"));
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE)[0]),
            json::parse(R"({"prompt_tokens":472,"completion_tokens":89,"total_tokens":561,
                            "cached_tokens":0,"cache_creation_tokens":0})"));
}

TEST_F(AnthropicProviderTest, MapsStopReasons) {
  json message = readJson("message_text.anthropic.json");
  for (const auto& [reason, finish] :
       std::vector<std::pair<json, json>>{{"end_turn", "stop"},
                                          {"stop_sequence", "stop"},
                                          {"max_tokens", "length"},
                                          {"tool_use", "tool_calls"},
                                          {"refusal", "content_filter"},
                                          {"pause_turn", "stop"},
                                          {"model_context_window_exceeded", "length"},
                                          {nullptr, nullptr}}) {
    message["stop_reason"] = reason;
    FakeOutput out;
    ASSERT_EQ(
        provider_->parseResponse(chatCall("{}"), UpstreamAnswer{200, {}, message.dump()}, out),
        SY_OK);
    EXPECT_EQ(json::parse(out.payloads(SY_EVENT_RESPONSE)[0])["choices"][0]["finish_reason"],
              finish)
        << reason;
  }
}

TEST_F(AnthropicProviderTest, IgnoresThinkingBlocksAndEmptyContent) {
  FakeOutput out;
  ASSERT_EQ(provider_->parseResponse(chatCall("{}"), UpstreamAnswer{200, {}, R"({
    "id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-20250514",
    "content":[{"type":"thinking","thinking":"Hmm...","signature":"sig"}],
    "stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":3,"output_tokens":4}})"},
                                     out),
            SY_OK);
  const json message = json::parse(out.payloads(SY_EVENT_RESPONSE)[0])["choices"][0]["message"];
  EXPECT_EQ(message, json::parse(R"({"role":"assistant","content":null,"refusal":null})"));
}

TEST_F(AnthropicProviderTest, ErrorsKeepStatusTypeAndMessage) {
  struct Case {
    uint32_t status;
    const char* error_type;
    const char* message;
    const char* code;
  };
  for (const Case& c : {
           Case{529, "overloaded_error", "Overloaded", "overloaded"},
           Case{429, "rate_limit_error",
                "Number of request tokens has exceeded your per-minute rate limit",
                "rate_limit_exceeded"},
           Case{400, "invalid_request_error", "messages: roles must alternate", "invalid_request"},
           Case{400, "invalid_request_error", "prompt is too long: 208791 tokens > 200000 maximum",
                "context_length_exceeded"},
           Case{401, "authentication_error", "invalid x-api-key", "invalid_api_key"},
           Case{403, "permission_error", "Your API key does not have permission",
                "permission_denied"},
           Case{404, "not_found_error", "model: claude-nope", "not_found"},
           Case{413, "request_too_large", "Request exceeds the maximum allowed number of bytes.",
                "request_too_large"},
           Case{500, "api_error", "Internal server error", "api_error"},
       }) {
    const json body = {{"type", "error"},
                       {"error", {{"type", c.error_type}, {"message", c.message}}},
                       {"request_id", "req_011CSHoEeqs5C35K2UUqR7Fy"}};
    FakeOutput out;
    EXPECT_EQ(
        provider_->parseResponse(chatCall("{}"), UpstreamAnswer{c.status, {}, body.dump()}, out),
        SY_ERR_UPSTREAM);
    EXPECT_EQ(out.error.status, c.status) << c.error_type;
    EXPECT_EQ(out.error.type, c.error_type);
    EXPECT_EQ(out.error.code, c.code);
    EXPECT_EQ(out.error.message, c.message);
    EXPECT_TRUE(out.events.empty());
  }
}

TEST_F(AnthropicProviderTest, NonJsonAnswers) {
  {
    // An HTML error page from a proxy keeps its status class.
    FakeOutput out;
    EXPECT_EQ(provider_->parseResponse(chatCall("{}"),
                                       UpstreamAnswer{529, {}, "<html>overloaded</html>"}, out),
              SY_ERR_UPSTREAM);
    EXPECT_EQ(out.error.status, 529u);
    EXPECT_EQ(out.error.code, "bad_upstream_response");
    EXPECT_EQ(out.error.message.find("<html>"), std::string::npos);
  }
  for (const char* body : {"<html>ok?</html>", "", R"({"type":"completion"})"}) {
    FakeOutput out;
    EXPECT_EQ(provider_->parseResponse(chatCall("{}"), UpstreamAnswer{200, {}, body}, out),
              SY_ERR_UPSTREAM)
        << body;
    EXPECT_EQ(out.error.status, 502u);
    EXPECT_EQ(out.error.code, "bad_upstream_response");
    EXPECT_TRUE(out.events.empty());
  }
}

TEST_F(AnthropicProviderTest, HugeErrorMessageIsClipped) {
  const json body = {{"type", "error"},
                     {"error", {{"type", "api_error"}, {"message", std::string(100000, 'x')}}}};
  FakeOutput out;
  EXPECT_EQ(provider_->parseResponse(chatCall("{}"), UpstreamAnswer{500, {}, body.dump()}, out),
            SY_ERR_UPSTREAM);
  EXPECT_LT(out.error.message.size(), 9000u);
}

// ---------------------------------------------------------------------------------------------
// Streams

class AnthropicStreamTest : public AnthropicProviderTest {
 protected:
  std::unique_ptr<testing::ProviderStreamHandle> open(
      bool client_asked_usage,
      testing::HeaderList headers = {{"Content-Type", "text/event-stream; charset=utf-8"}}) {
    json body = minimal();
    body["stream"] = true;
    if (client_asked_usage) {
      body["stream_options"] = {{"include_usage", true}};
    }
    sy_status status = SY_ERR_INTERNAL;
    auto stream = provider_->openStream(chatCall(body.dump(), true),
                                        UpstreamAnswer{200, headers, ""}, &status);
    EXPECT_EQ(status, SY_OK);
    return stream;
  }

  /// Feeds `pieces`, then ends the stream; the status of the first failing call or of end.
  static sy_status run(testing::ProviderStreamHandle& stream,
                       const std::vector<std::string>& pieces, FakeOutput& out) {
    for (const auto& piece : pieces) {
      const sy_status s = stream.data(piece, out);
      if (s != SY_OK) {
        return s;
      }
    }
    return stream.end(out);
  }

  static std::string withEol(std::string wire, const std::string& eol) {
    if (eol == "\n") {
      return wire;
    }
    std::string out;
    for (char c : wire) {
      if (c == '\n') {
        out += eol;
      } else {
        out += c;
      }
    }
    return out;
  }

  static void expectTextStream(const FakeOutput& out, bool client_asked_usage,
                               const std::string& context) {
    EXPECT_FALSE(out.error.set) << context << ": " << out.error.message;
    json expected = readJson("stream_text.chunks.json");
    if (client_asked_usage) {
      expected.push_back(readJson("stream_text.usage_chunk.json"));
    }
    EXPECT_EQ(json(parseAll(out.payloads(SY_EVENT_CHUNK))), expected) << context;
    ASSERT_EQ(out.count(SY_EVENT_USAGE), 1u) << context;
    // Input (25 + 10 cached) from message_start, output (15) from message_delta, once.
    EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE)[0]),
              json::parse(R"({"prompt_tokens":35,"completion_tokens":15,"total_tokens":50,
                              "cached_tokens":10,"cache_creation_tokens":0})"))
        << context;
    ASSERT_FALSE(out.events.empty());
    EXPECT_EQ(out.events.back().type, static_cast<sy_event>(SY_EVENT_DONE)) << context;
    EXPECT_EQ(out.count(SY_EVENT_DONE), 1u) << context;
  }

  static void expectToolStream(const FakeOutput& out, const std::string& context) {
    EXPECT_FALSE(out.error.set) << context << ": " << out.error.message;
    EXPECT_EQ(json(parseAll(out.payloads(SY_EVENT_CHUNK))), readJson("stream_tools.chunks.json"))
        << context;
    ASSERT_EQ(out.count(SY_EVENT_USAGE), 1u) << context;
    EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE)[0]),
              json::parse(R"({"prompt_tokens":472,"completion_tokens":89,"total_tokens":561,
                              "cached_tokens":0,"cache_creation_tokens":0})"));
    EXPECT_EQ(out.count(SY_EVENT_DONE), 1u) << context;
  }
};

TEST_F(AnthropicStreamTest, GoldenTextStream) {
  for (bool usage : {false, true}) {
    auto stream = open(usage);
    ASSERT_NE(stream, nullptr);
    FakeOutput out;
    ASSERT_EQ(run(*stream, {readData("stream_text.sse")}, out), SY_OK) << out.error.message;
    expectTextStream(out, usage, usage ? "include_usage" : "no usage");
  }
}

TEST_F(AnthropicStreamTest, GoldenToolStreamReassemblesParallelCalls) {
  auto stream = open(false);
  FakeOutput out;
  ASSERT_EQ(run(*stream, {readData("stream_tools.sse")}, out), SY_OK) << out.error.message;
  expectToolStream(out, "whole");

  // What an OpenAI client would assemble from the deltas.
  std::string text;
  std::vector<json> calls;
  for (const auto& chunk : parseAll(out.payloads(SY_EVENT_CHUNK))) {
    const json& delta = chunk["choices"][0]["delta"];
    if (delta.contains("content")) {
      text += delta["content"].get<std::string>();
    }
    for (const auto& tc : delta.value("tool_calls", json::array())) {
      const size_t i = tc["index"].get<size_t>();
      if (i == calls.size()) {
        calls.push_back({{"id", tc["id"]}, {"name", tc["function"]["name"]}, {"arguments", ""}});
      }
      ASSERT_LT(i, calls.size());
      calls[i]["arguments"] =
          calls[i]["arguments"].get<std::string>() + tc["function"]["arguments"].get<std::string>();
    }
  }
  EXPECT_EQ(text, "Okay, let's check both cities:");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0]["id"], "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
  EXPECT_EQ(json::parse(calls[0]["arguments"].get<std::string>()),
            json::parse(R"({"location":"San Francisco, CA","unit":"fahrenheit"})"));
  EXPECT_EQ(calls[1]["id"], "toolu_02U2y2gK45rBnl3uOsO8ox4V");
  EXPECT_EQ(json::parse(calls[1]["arguments"].get<std::string>()),
            json({{"location", "Besan\u00e7on"}}));
}

struct SplitCase {
  const char* name;
  const char* file;
  const char* eol;
};

class AnthropicStreamSplitTest : public AnthropicStreamTest,
                                 public ::testing::WithParamInterface<SplitCase> {};

// Cuts the stream in two at every byte position, including between the CR and LF of a CRLF
// and inside multi-byte UTF-8.
TEST_P(AnthropicStreamSplitTest, ParsesEverySplitPosition) {
  const SplitCase& param = GetParam();
  const std::string wire = withEol(readData(param.file), param.eol);
  const bool tools = std::string(param.file) == "stream_tools.sse";
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    auto stream = open(!tools);
    ASSERT_NE(stream, nullptr);
    FakeOutput out;
    const sy_status s = run(*stream, {wire.substr(0, cut), wire.substr(cut)}, out);
    const std::string context = "cut=" + std::to_string(cut);
    ASSERT_EQ(s, SY_OK) << context << ": " << out.error.message;
    if (tools) {
      expectToolStream(out, context);
    } else {
      expectTextStream(out, true, context);
    }
    if (HasFailure()) {
      return;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Streams, AnthropicStreamSplitTest,
                         ::testing::Values(SplitCase{"TextLF", "stream_text.sse", "\n"},
                                           SplitCase{"TextCRLF", "stream_text.sse", "\r\n"},
                                           SplitCase{"ToolsLF", "stream_tools.sse", "\n"},
                                           SplitCase{"ToolsCRLF", "stream_tools.sse", "\r\n"},
                                           SplitCase{"ToolsCR", "stream_tools.sse", "\r"}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(AnthropicStreamTest, ParsesOneByteAtATime) {
  const std::string wire = withEol(readData("stream_tools.sse"), "\r\n");
  auto stream = open(false);
  std::vector<std::string> bytes;
  for (char c : wire) {
    bytes.emplace_back(1, c);
  }
  FakeOutput out;
  ASSERT_EQ(run(*stream, bytes, out), SY_OK) << out.error.message;
  expectToolStream(out, "bytewise");
}

TEST_F(AnthropicStreamTest, TextAndToolCallInOneRead) {
  // One network read carrying the end of the text block and the start of a tool call, with
  // its arguments: both come out of that one stream_data call, in order.
  const std::string wire = readData("stream_tools.sse");
  const size_t cut =
      wire.find("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0");
  const size_t end =
      wire.find("event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":2");
  ASSERT_NE(cut, std::string::npos);
  ASSERT_NE(end, std::string::npos);
  auto stream = open(false);
  FakeOutput first;
  ASSERT_EQ(stream->data(wire.substr(0, cut), first), SY_OK);
  FakeOutput middle;
  ASSERT_EQ(stream->data(wire.substr(cut, end - cut), middle), SY_OK);
  const auto chunks = parseAll(middle.payloads(SY_EVENT_CHUNK));
  ASSERT_EQ(chunks.size(), 8u);  // 2 text deltas, the tool call, 5 argument pieces
  EXPECT_EQ(chunks[1]["choices"][0]["delta"]["content"], ", let's check both cities:");
  EXPECT_EQ(chunks[2]["choices"][0]["delta"]["tool_calls"][0]["id"],
            "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
  EXPECT_EQ(middle.count(SY_EVENT_DONE), 0u);
  FakeOutput rest;
  ASSERT_EQ(run(*stream, {wire.substr(end)}, rest), SY_OK);
  EXPECT_EQ(rest.count(SY_EVENT_DONE), 1u);
}

TEST_F(AnthropicStreamTest, UsageIsMergedNotDoubleCounted) {
  // Newer API versions repeat the cumulative input counts in message_delta, and a stream
  // may carry more than one message_delta: running totals replace, never add.
  const std::string wire =
      "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_u\","
      "\"type\":\"message\",\"role\":\"assistant\",\"content\":[],\"model\":\"claude-x\","
      "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":100,"
      "\"cache_creation_input_tokens\":20,\"cache_read_input_tokens\":30,\"output_tokens\":1}}}\n\n"
      "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":null},"
      "\"usage\":{\"output_tokens\":5}}\n\n"
      "event: message_delta\ndata: "
      "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"max_tokens\","
      "\"stop_sequence\":null},\"usage\":{\"input_tokens\":100,\"cache_creation_input_tokens\":20,"
      "\"cache_read_input_tokens\":30,\"output_tokens\":12}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
  auto stream = open(true);
  FakeOutput out;
  ASSERT_EQ(run(*stream, {wire}, out), SY_OK) << out.error.message;
  EXPECT_EQ(
      out.payloads(SY_EVENT_USAGE),
      std::vector<std::string>{
          R"({"prompt_tokens":150,"completion_tokens":12,"total_tokens":162,"cached_tokens":30,"cache_creation_tokens":20})"});
  const auto chunks = parseAll(out.payloads(SY_EVENT_CHUNK));
  ASSERT_EQ(chunks.size(), 3u);  // role, finish, usage
  EXPECT_EQ(chunks[1]["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(chunks[2]["usage"]["total_tokens"], 162);
  EXPECT_EQ(chunks[2]["usage"]["prompt_tokens_details"]["cached_tokens"], 30);
}

TEST_F(AnthropicStreamTest, IgnoresPingThinkingAndUnknownEvents) {
  const std::string wire =
      "event: ping\ndata: {\"type\": \"ping\"}\n\n"
      "event: message_start\ndata: "
      "{\"type\":\"message_start\",\"message\":{\"id\":\"msg_t\",\"model\":\"m\","
      "\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
      "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"Let me think\"}}\n\n"
      "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
      "\"delta\":{\"type\":\"signature_delta\",\"signature\":\"EqQB\"}}\n\n"
      "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
      "event: brand_new_event\ndata: {\"type\":\"brand_new_event\",\"x\":1}\n\n"
      "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":1,"
      "\"content_block\":{\"type\":\"text\",\"text\":\"Answer\"}}\n\n"
      "event: message_delta\ndata: "
      "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"refusal\"},"
      "\"usage\":{\"output_tokens\":9}}\n\n"
      "event: message_stop\ndata: {\"type\":\"message_stop\"}";  // no final blank line
  auto stream = open(false);
  FakeOutput out;
  ASSERT_EQ(run(*stream, {wire}, out), SY_OK) << out.error.message;
  const auto chunks = parseAll(out.payloads(SY_EVENT_CHUNK));
  ASSERT_EQ(chunks.size(), 3u);  // role, "Answer", finish
  EXPECT_EQ(chunks[1]["choices"][0]["delta"], json({{"content", "Answer"}}));
  EXPECT_EQ(chunks[2]["choices"][0]["finish_reason"], "content_filter");
  EXPECT_EQ(out.count(SY_EVENT_DONE), 1u);
}

TEST_F(AnthropicStreamTest, ErrorEventMidStreamKeepsStatus) {
  struct Case {
    const char* type;
    uint32_t status;
    const char* code;
  };
  for (const Case& c :
       {Case{"overloaded_error", 529, "overloaded"},
        Case{"rate_limit_error", 429, "rate_limit_exceeded"}, Case{"api_error", 500, "api_error"},
        Case{"something_new", 502, "something_new"}}) {
    const std::string wire = readData("stream_text.sse");
    const size_t cut = wire.find("event: content_block_stop");
    auto stream = open(false);
    FakeOutput out;
    const std::string error =
        std::string("event: error\ndata: {\"type\": \"error\", \"error\": {\"type\": \"") + c.type +
        "\", \"message\": \"Overloaded\"}}\n\n";
    EXPECT_EQ(run(*stream, {wire.substr(0, cut) + error}, out), SY_ERR_UPSTREAM);
    EXPECT_EQ(out.error.status, c.status) << c.type;
    EXPECT_EQ(out.error.type, c.type);
    EXPECT_EQ(out.error.code, c.code);
    EXPECT_EQ(out.error.message, "Overloaded");
    EXPECT_EQ(out.count(SY_EVENT_CHUNK), 3u);  // role, "Hello", "!" went out before
    EXPECT_EQ(out.count(SY_EVENT_DONE), 0u);
    // The stream stays failed.
    FakeOutput after;
    EXPECT_EQ(stream->data("event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n", after),
              SY_ERR_UPSTREAM);
    EXPECT_EQ(stream->end(after), SY_ERR_UPSTREAM);
    EXPECT_EQ(after.count(SY_EVENT_DONE), 0u);
  }
}

TEST_F(AnthropicStreamTest, TruncatedStreamIsAnError) {
  const std::string wire = readData("stream_text.sse");
  const size_t stop_at = wire.find("event: message_stop");
  for (size_t cut : {stop_at, stop_at - 30, size_t{0}}) {
    auto stream = open(false);
    FakeOutput out;
    EXPECT_EQ(run(*stream, {wire.substr(0, cut)}, out), SY_ERR_UPSTREAM) << cut;
    EXPECT_EQ(out.error.status, 502u);
    EXPECT_EQ(out.error.type, "upstream_error");
    EXPECT_EQ(out.error.code, "stream_truncated");
    EXPECT_EQ(out.count(SY_EVENT_DONE), 0u);
  }
}

TEST_F(AnthropicStreamTest, MalformedEventsAreErrors) {
  for (const std::string& wire :
       {std::string("event: message_start\ndata: {\"type\":\"message_start\",\"mess\n\n"),
        std::string(
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
            "\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n")}) {
    auto stream = open(false);
    FakeOutput out;
    EXPECT_EQ(run(*stream, {wire}, out), SY_ERR_UPSTREAM);
    EXPECT_EQ(out.error.status, 502u);
    EXPECT_EQ(out.error.code, "malformed_chunk");
    EXPECT_EQ(out.count(SY_EVENT_CHUNK), 0u);
  }
}

TEST_F(AnthropicStreamTest, JsonAnswerToStreamRequestIsMapped) {
  auto stream = open(false, {{"content-type", "application/json"}});
  FakeOutput out;
  EXPECT_EQ(
      run(*stream,
          {R"({"type":"error","error":{"type":"overloaded_error",)", R"("message":"Overloaded"}})"},
          out),
      SY_ERR_UPSTREAM);
  EXPECT_EQ(out.error.status, 529u);
  EXPECT_EQ(out.error.type, "overloaded_error");
  EXPECT_EQ(out.error.message, "Overloaded");
}

TEST_F(AnthropicStreamTest, IgnoresBytesAfterMessageStop) {
  auto stream = open(false);
  FakeOutput out;
  EXPECT_EQ(run(*stream, {readData("stream_text.sse") + "data: garbage\n\n"}, out), SY_OK);
  EXPECT_EQ(out.count(SY_EVENT_DONE), 1u);
  EXPECT_FALSE(out.error.set);
}

}  // namespace
}  // namespace switchyard
