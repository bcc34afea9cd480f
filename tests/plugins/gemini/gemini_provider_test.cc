// Behaviour of the "gemini" provider plugin, loaded from its built library: golden request and
// response translations (tests/plugins/gemini/data), streams split at every byte, tool calls,
// usage, errors and bad input.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
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

constexpr const char* kSecretKey = "AIzaSy-test-SECRET-0123456789";
constexpr int64_t kNowMs = 1732600000000;

std::string readData(const std::string& name) {
  std::ifstream in(std::string(GEMINI_TEST_DATA_DIR) + "/" + name, std::ios::binary);
  EXPECT_TRUE(in.good()) << name;
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

json readJson(const std::string& name) {
  return json::parse(readData(name));
}

std::vector<json> readJsonLines(const std::string& name) {
  std::vector<json> out;
  std::istringstream in(readData(name));
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

std::vector<json> parsed(const std::vector<std::string>& payloads) {
  std::vector<json> out;
  for (const auto& p : payloads) out.push_back(json::parse(p));
  return out;
}

class GeminiProviderTest : public ::testing::Test {
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
    auto created = plugin_->createProvider("gemini", config);
    EXPECT_TRUE(created.ok()) << created.output.error.message;
    return std::move(created.instance);
  }

  static ProviderCall chatCall(std::string body, bool stream = false) {
    ProviderCall call;
    call.operation = SY_OP_CHAT_COMPLETIONS;
    call.stream = stream;
    call.body = std::move(body);
    call.public_model = "flash";
    call.upstream_model = "gemini-2.0-flash";
    call.base_url = "https://generativelanguage.googleapis.com/v1beta";
    call.api_key = kSecretKey;
    return call;
  }

  static ProviderCall embedCall(std::string body) {
    ProviderCall call = chatCall(std::move(body));
    call.operation = SY_OP_EMBEDDINGS;
    call.upstream_model = "gemini-embedding-001";
    return call;
  }

  /// Builds the upstream body of a chat request; fails the test on an error.
  json built(const std::string& body, bool stream = false) {
    FakeOutput out;
    EXPECT_EQ(provider_->buildRequest(chatCall(body, stream), out), SY_OK) << out.error.message;
    return out.body.empty() ? json() : json::parse(out.body);
  }

  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
  std::unique_ptr<ProviderInstance> provider_;
};

// ---------------------------------------------------------------------------------------------
// Registration and config

TEST_F(GeminiProviderTest, DeclaresOneProviderComponent) {
  EXPECT_EQ(testing::toView(plugin_->info().name), "gemini");
  ASSERT_NE(plugin_->find(SY_KIND_PROVIDER, "gemini"), nullptr);
  EXPECT_EQ(plugin_->entry()(SY_ABI_MAJOR + 1, 0), nullptr);
}

TEST_F(GeminiProviderTest, ConfigAcceptsSafetySettingsAndRejectsUnknownKeys) {
  EXPECT_NE(create(""), nullptr);
  auto provider = create(
      R"({"safety_settings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]})");
  ASSERT_NE(provider, nullptr);
  FakeOutput out;
  ASSERT_EQ(
      provider->buildRequest(chatCall(R"({"messages":[{"role":"user","content":"hi"}]})"), out),
      SY_OK);
  EXPECT_EQ(json::parse(out.body)["safetySettings"],
            json::parse(R"([{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}])"));

  for (const char* bad : {R"({"safety":[]})", R"({"safety_settings":{}})", "[1]", "{oops"}) {
    auto created = plugin_->createProvider("gemini", bad);
    EXPECT_FALSE(created.ok()) << bad;
    EXPECT_EQ(created.output.error.code, "invalid_config") << bad;
  }
}

// ---------------------------------------------------------------------------------------------
// build_request

TEST_F(GeminiProviderTest, GoldenChatRequest) {
  auto call = chatCall(readData("chat_request.openai.json"));
  call.upstream_model = "models/gemini-2.0-flash";  // the resource form is accepted too
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(call, out), SY_OK) << out.error.message;
  EXPECT_EQ(out.method, "POST");
  EXPECT_EQ(out.path, "/models/gemini-2.0-flash:generateContent");
  const testing::HeaderList expected_headers = {{"Content-Type", "application/json"},
                                                {"x-goog-api-key", kSecretKey}};
  EXPECT_EQ(out.headers, expected_headers);
  EXPECT_EQ(json::parse(out.body), readJson("chat_request.gemini.json")) << out.body;
}

TEST_F(GeminiProviderTest, StreamRequestUsesSsePath) {
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(
                chatCall(R"({"messages":[{"role":"user","content":"hi"}],"stream":true,
                             "stream_options":{"include_usage":true}})",
                         true),
                out),
            SY_OK)
      << out.error.message;
  EXPECT_EQ(out.path, "/models/gemini-2.0-flash:streamGenerateContent?alt=sse");
  EXPECT_EQ(out.header("Accept"), "text/event-stream");
  EXPECT_EQ(json::parse(out.body),
            json::parse(R"({"contents":[{"role":"user","parts":[{"text":"hi"}]}]})"));
}

TEST_F(GeminiProviderTest, NoKeyMeansNoKeyHeaderAndKeyIsTrimmed) {
  auto call = chatCall(R"({"messages":[{"role":"user","content":"hi"}]})");
  call.api_key.clear();
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(call, out), SY_OK);
  EXPECT_FALSE(out.header("x-goog-api-key").has_value());

  call.api_key = std::string(kSecretKey) + "\n";
  FakeOutput trimmed;
  ASSERT_EQ(provider_->buildRequest(call, trimmed), SY_OK);
  EXPECT_EQ(trimmed.header("x-goog-api-key"), kSecretKey);

  call.api_key = std::string(kSecretKey) + "\r\nX-Injected: 1";
  FakeOutput refused;
  EXPECT_NE(provider_->buildRequest(call, refused), SY_OK);
  EXPECT_EQ(refused.error.status, 500u);
  EXPECT_TRUE(refused.headers.empty());
  EXPECT_FALSE(refused.contains(kSecretKey));
}

TEST_F(GeminiProviderTest, ResponseFormatMapsToMimeTypeAndSchema) {
  json sent = built(R"({"messages":[{"role":"user","content":"hi"}],
                        "response_format":{"type":"json_object"}})");
  EXPECT_EQ(sent["generationConfig"], json::parse(R"({"responseMimeType":"application/json"})"));

  sent = built(R"({"messages":[{"role":"user","content":"hi"}],
    "response_format":{"type":"json_schema","json_schema":{"name":"recipe","strict":true,
      "schema":{"type":"object","properties":{
        "name":{"type":"string"},
        "kind":{"const":"dessert"},
        "steps":{"type":"array","items":{"anyOf":[{"type":"string"},{"type":"integer"}]},
                 "minItems":1}},
        "required":["name"],"additionalProperties":false}}}})");
  EXPECT_EQ(sent["generationConfig"], json::parse(R"({
    "responseMimeType":"application/json",
    "responseSchema":{"type":"OBJECT","properties":{
      "name":{"type":"STRING"},
      "kind":{"enum":["dessert"]},
      "steps":{"type":"ARRAY","items":{"anyOf":[{"type":"STRING"},{"type":"INTEGER"}]},
               "minItems":1}},
      "required":["name"]}})"));

  sent =
      built(R"({"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"text"}})");
  EXPECT_FALSE(sent.contains("generationConfig"));
}

// What pydantic emits for nested models: local references, inlined for Gemini.
TEST_F(GeminiProviderTest, SchemaReferencesAreInlined) {
  json sent = built(R"({"messages":[{"role":"user","content":"hi"}],
    "response_format":{"type":"json_schema","json_schema":{"name":"order","schema":{
      "$defs":{"Item":{"type":"object","title":"Item",
                       "properties":{"sku":{"type":"string"}},"required":["sku"]}},
      "type":"object",
      "properties":{"items":{"type":"array","items":{"$ref":"#/$defs/Item"}},
                    "first":{"$ref":"#/$defs/Item","description":"the first one"}}}}}})");
  const json item = json::parse(
      R"({"type":"OBJECT","title":"Item","properties":{"sku":{"type":"STRING"}},
          "required":["sku"]})");
  json first = item;
  first["description"] = "the first one";
  EXPECT_EQ(
      sent["generationConfig"]["responseSchema"],
      json({{"type", "OBJECT"},
            {"properties", {{"items", {{"type", "ARRAY"}, {"items", item}}}, {"first", first}}}}));

  FakeOutput out;
  EXPECT_NE(provider_->buildRequest(chatCall(R"({"messages":[{"role":"user","content":"hi"}],
    "response_format":{"type":"json_schema","json_schema":{"name":"tree","schema":{
      "$defs":{"Node":{"type":"object","properties":{"children":{"type":"array",
                                                       "items":{"$ref":"#/$defs/Node"}}}}},
      "$ref":"#/$defs/Node"}}}})"),
                                    out),
            SY_OK);
  EXPECT_EQ(out.error.code, "unsupported_parameter");
  EXPECT_NE(out.error.message.find("recursive"), std::string::npos) << out.error.message;
}

TEST_F(GeminiProviderTest, ToolChoiceModes) {
  const std::string tools =
      R"("tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object",
          "properties":{"a":{"type":"string"}}}}}])";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("auto")", R"({"functionCallingConfig":{"mode":"AUTO"}})"},
      {R"("none")", R"({"functionCallingConfig":{"mode":"NONE"}})"},
      {R"("required")", R"({"functionCallingConfig":{"mode":"ANY"}})"},
  };
  for (const auto& [choice, expected] : cases) {
    json sent = built(R"({"messages":[{"role":"user","content":"hi"}],)" + tools +
                      R"(,"tool_choice":)" + choice + "}");
    EXPECT_EQ(sent["toolConfig"], json::parse(expected)) << choice;
    EXPECT_EQ(sent["tools"][0]["functionDeclarations"][0]["parameters"]["type"], "OBJECT");
  }
  json sent = built(R"({"messages":[{"role":"user","content":"hi"}],)" + tools + "}");
  EXPECT_FALSE(sent.contains("toolConfig"));
}

TEST_F(GeminiProviderTest, ReasoningEffortMapsToThinkingBudget) {
  json sent = built(R"({"messages":[{"role":"user","content":"hi"}],"reasoning_effort":"high"})");
  EXPECT_EQ(sent["generationConfig"]["thinkingConfig"], json::parse(R"({"thinkingBudget":24576})"));
}

TEST_F(GeminiProviderTest, AudioPartsAndNullParametersAreAccepted) {
  json sent = built(R"({"messages":[{"role":"user","content":[
      {"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}}]}],
      "temperature":null,"user":"u-1"})");
  EXPECT_EQ(sent["contents"][0]["parts"][0],
            json::parse(R"({"inlineData":{"mimeType":"audio/wav","data":"UklGRg=="}})"));
  EXPECT_FALSE(sent.contains("generationConfig"));
}

TEST_F(GeminiProviderTest, BuildsEmbeddingRequests) {
  FakeOutput one;
  ASSERT_EQ(provider_->buildRequest(embedCall(R"({"model":"e","input":"Hello world",
                                                  "dimensions":8})"),
                                    one),
            SY_OK)
      << one.error.message;
  EXPECT_EQ(one.path, "/models/gemini-embedding-001:embedContent");
  EXPECT_EQ(one.header("x-goog-api-key"), kSecretKey);
  EXPECT_EQ(json::parse(one.body), json::parse(R"({"model":"models/gemini-embedding-001",
      "content":{"parts":[{"text":"Hello world"}]},"outputDimensionality":8})"));

  FakeOutput batch;
  ASSERT_EQ(provider_->buildRequest(embedCall(R"({"model":"e","input":["a","b"],
                                                  "encoding_format":"float"})"),
                                    batch),
            SY_OK);
  EXPECT_EQ(batch.path, "/models/gemini-embedding-001:batchEmbedContents");
  EXPECT_EQ(json::parse(batch.body), json::parse(R"({"requests":[
      {"model":"models/gemini-embedding-001","content":{"parts":[{"text":"a"}]}},
      {"model":"models/gemini-embedding-001","content":{"parts":[{"text":"b"}]}}]})"));
}

struct BadInput {
  const char* body;
  const char* code;
  const char* mentions;  // the parameter the message must name
};

// Log probabilities are not translated yet and `user` has no Gemini field: both are dropped
// and named to the client rather than refused.
TEST_F(GeminiProviderTest, DropsAndReportsExtras) {
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(chatCall(R"({"messages":[{"role":"user","content":"hi"}],
      "logprobs":true,"top_logprobs":2,"user":"u-1"})"),
                                    out),
            SY_OK)
      << out.error.message;
  EXPECT_EQ(out.dropped_params, (std::vector<std::string>{"logprobs", "top_logprobs", "user"}));
  FakeOutput neutral;
  ASSERT_EQ(provider_->buildRequest(chatCall(R"({"messages":[{"role":"user","content":"hi"}],
      "logprobs":false})"),
                                    neutral),
            SY_OK);
  EXPECT_TRUE(neutral.dropped_params.empty());
}

TEST_F(GeminiProviderTest, RejectsUnsupportedAndInvalidChatInput) {
  const std::string user = R"("messages":[{"role":"user","content":"hi"}])";
  const std::vector<std::pair<std::string, BadInput>> cases = {
      {"{" + user + R"(,"logit_bias":{"50256":-100}})",
       {"", "unsupported_parameter", "logit_bias"}},
      {"{" + user + R"(,"parallel_tool_calls":false})",
       {"", "unsupported_parameter", "parallel_tool_calls"}},
      {"{" + user + R"(,"reasoning_effort":"minimal"})",
       {"", "unsupported_parameter", "reasoning_effort"}},
      {"{" + user + R"(,"response_format":{"type":"xml"}})",
       {"", "unsupported_parameter", "response_format.type"}},
      {"{" + user + R"(,"tools":[{"type":"web_search"}]})",
       {"", "unsupported_parameter", "tools[0].type"}},
      {"{" + user +
           R"(,"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object",
              "properties":{"a":{"$ref":"#/$defs/A"}}}}}]})",
       {"", "unsupported_parameter", "tools[0].function.parameters.properties.a.$ref"}},
      {"{" + user + R"(,"tool_choice":"required"})", {"", "invalid_value", "tool_choice"}},
      {"{" + user + R"(,"temperature":"hot"})", {"", "invalid_value", "temperature"}},
      {"{" + user + R"(,"stop":[1]})", {"", "invalid_value", "stop"}},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url",
           "image_url":{"url":"https://example.com/image"}}]}]})",
       {"", "unsupported_image_url", "messages[0].content[0]"}},
      {R"({"messages":[{"role":"user","content":[{"type":"image_url",
           "image_url":{"url":"data:image/png,rawbytes"}}]}]})",
       {"", "invalid_value", "messages[0].content[0].image_url.url"}},
      {R"({"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"f"}}]}]})",
       {"", "unsupported_parameter", "messages[0].content[0].type"}},
      {R"({"messages":[{"role":"user","content":"hi"},
           {"role":"tool","tool_call_id":"call_9","content":"x"}]})",
       {"", "invalid_value", "messages[1].tool_call_id"}},
      {R"({"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function",
           "function":{"name":"f","arguments":"{not json"}}]}]})",
       {"", "invalid_value", "messages[0].tool_calls[0].function.arguments"}},
      {R"({"messages":[{"role":"function","name":"f","content":"x"}]})",
       {"", "unsupported_parameter", "messages[0].role"}},
      {R"({"messages":[{"role":"system","content":"only a system prompt"}]})",
       {"", "invalid_value", "messages"}},
      {R"({"messages":"hi"})", {"", "invalid_value", "messages"}},
      {"{not json", {"", "invalid_json", "JSON"}},
  };
  for (const auto& [body, expected] : cases) {
    FakeOutput out;
    EXPECT_NE(provider_->buildRequest(chatCall(body), out), SY_OK) << body;
    EXPECT_EQ(out.error.status, 400u) << body;
    EXPECT_EQ(out.error.type, "invalid_request_error") << body;
    EXPECT_EQ(out.error.code, expected.code) << body << " → " << out.error.message;
    EXPECT_NE(out.error.message.find(expected.mentions), std::string::npos)
        << body << " → " << out.error.message;
    EXPECT_TRUE(out.body.empty()) << body;
  }
}

TEST_F(GeminiProviderTest, RejectsBadEmbeddingInputAndModel) {
  for (const char* body : {R"({"input":[[1,2,3]]})", R"({"input":[]})", R"({"input":"a",
                            "encoding_format":"int8"})",
                           R"({"input":"a","extra":1})"}) {
    FakeOutput out;
    EXPECT_NE(provider_->buildRequest(embedCall(body), out), SY_OK) << body;
    EXPECT_EQ(out.error.status, 400u) << body;
  }
  auto stream = embedCall(R"({"input":"a"})");
  stream.stream = true;
  FakeOutput out;
  EXPECT_NE(provider_->buildRequest(stream, out), SY_OK);
  EXPECT_EQ(out.error.code, "unsupported_stream");

  auto call = chatCall(R"({"messages":[{"role":"user","content":"hi"}]})");
  call.upstream_model = "gemini/../../files?x=";
  FakeOutput bad_model;
  EXPECT_NE(provider_->buildRequest(call, bad_model), SY_OK);
  EXPECT_EQ(bad_model.error.code, "invalid_model");
  EXPECT_TRUE(bad_model.path.empty());
}

// ---------------------------------------------------------------------------------------------
// parse_response

TEST_F(GeminiProviderTest, GoldenTextResponseWithThinkingUsage) {
  FakeOutput out;
  ASSERT_EQ(
      provider_->parseResponse(chatCall("{}"),
                               UpstreamAnswer{200, {}, readData("generate_text.gemini.json")}, out),
      SY_OK)
      << out.error.message;
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].type, static_cast<sy_event>(SY_EVENT_RESPONSE));
  EXPECT_EQ(json::parse(out.events[0].payload), readJson("generate_text.openai.json"));
  EXPECT_EQ(out.events[1].type, static_cast<sy_event>(SY_EVENT_USAGE));
  EXPECT_EQ(json::parse(out.events[1].payload),
            json::parse(R"({"prompt_tokens":8,"completion_tokens":538,"total_tokens":546,
                            "reasoning_tokens":526})"));
}

TEST_F(GeminiProviderTest, GoldenParallelFunctionCalls) {
  FakeOutput out;
  ASSERT_EQ(provider_->parseResponse(
                chatCall("{}"),
                UpstreamAnswer{200, {}, readData("generate_function_calls.gemini.json")}, out),
            SY_OK)
      << out.error.message;
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_RESPONSE).at(0)),
            readJson("generate_function_calls.openai.json"));
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE).at(0)),
            json::parse(R"({"prompt_tokens":125,"completion_tokens":46,"total_tokens":171,
                            "cached_tokens":100})"));
}

TEST_F(GeminiProviderTest, BlockedPromptIsContentFilter) {
  FakeOutput out;
  ASSERT_EQ(
      provider_->parseResponse(
          chatCall("{}"), UpstreamAnswer{200, {}, readData("prompt_blocked.gemini.json")}, out),
      SY_OK)
      << out.error.message;
  const json answer = json::parse(out.payloads(SY_EVENT_RESPONSE).at(0));
  EXPECT_EQ(answer["choices"][0]["finish_reason"], "content_filter");
  EXPECT_TRUE(answer["choices"][0]["message"]["content"].is_null());
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE).at(0)),
            json::parse(R"({"prompt_tokens":9,"completion_tokens":0,"total_tokens":9})"));
}

TEST_F(GeminiProviderTest, MapsEveryFinishReason) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"STOP", "stop"},
      {"MAX_TOKENS", "length"},
      {"SAFETY", "content_filter"},
      {"RECITATION", "content_filter"},
      {"BLOCKLIST", "content_filter"},
      {"PROHIBITED_CONTENT", "content_filter"},
      {"SPII", "content_filter"},
      {"OTHER", "stop"},
  };
  for (const auto& [gemini, openai] : cases) {
    const json doc = {{"candidates",
                       {{{"content", {{"role", "model"}, {"parts", {{{"text", "x"}}}}}},
                         {"finishReason", gemini}}}}};
    FakeOutput out;
    ASSERT_EQ(provider_->parseResponse(chatCall("{}"), UpstreamAnswer{200, {}, doc.dump()}, out),
              SY_OK);
    EXPECT_EQ(json::parse(out.payloads(SY_EVENT_RESPONSE).at(0))["choices"][0]["finish_reason"],
              openai)
        << gemini;
    EXPECT_EQ(out.count(SY_EVENT_USAGE), 0u);  // no usageMetadata, no usage
  }
}

TEST_F(GeminiProviderTest, SeveralCandidatesBecomeSeveralChoices) {
  const json doc = json::parse(R"({"candidates":[
      {"content":{"role":"model","parts":[{"text":"a"}]},"finishReason":"STOP","index":0},
      {"content":{"role":"model","parts":[{"text":"thinking...","thought":true},{"text":"b"}]},
       "finishReason":"MAX_TOKENS","index":1}]})");
  FakeOutput out;
  ASSERT_EQ(provider_->parseResponse(chatCall("{}"), UpstreamAnswer{200, {}, doc.dump()}, out),
            SY_OK);
  const json choices = json::parse(out.payloads(SY_EVENT_RESPONSE).at(0))["choices"];
  ASSERT_EQ(choices.size(), 2u);
  EXPECT_EQ(choices[1]["index"], 1);
  EXPECT_EQ(choices[1]["message"]["content"], "b");  // thought parts are not the answer
  EXPECT_EQ(choices[1]["finish_reason"], "length");
}

TEST_F(GeminiProviderTest, MapsGeminiErrorsKeepingStatus) {
  struct Case {
    uint32_t status;
    std::string body;
    uint32_t client_status;
    const char* type;
    const char* code;
    const char* message_start;
  };
  const std::vector<Case> cases = {
      {429, readData("error_429.gemini.json"), 429, "rate_limit_error", "RESOURCE_EXHAUSTED",
       "You exceeded your current quota"},
      {400, readData("error_invalid_key.gemini.json"), 401, "authentication_error",
       "invalid_api_key", "API key not valid"},
      {400,
       R"({"error":{"code":400,"message":"The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).","status":"INVALID_ARGUMENT"}})",
       400, "invalid_request_error", "context_length_exceeded", "The input token count"},
      {503,
       R"({"error":{"code":503,"message":"The model is overloaded. Please try again later.","status":"UNAVAILABLE"}})",
       503, "service_unavailable_error", "UNAVAILABLE", "The model is overloaded"},
      {404, R"({"error":{"code":404,"message":"models/nope is not found","status":"NOT_FOUND"}})",
       404, "not_found_error", "NOT_FOUND", "models/nope"},
      {403, R"({"error":{"code":403,"message":"denied","status":"PERMISSION_DENIED"}})", 403,
       "permission_error", "PERMISSION_DENIED", "denied"},
      {500, R"({"error":{"code":500,"message":"Internal error","status":"INTERNAL"}})", 500,
       "server_error", "INTERNAL", "Internal error"},
  };
  for (const auto& c : cases) {
    FakeOutput out;
    EXPECT_EQ(provider_->parseResponse(chatCall("{}"), UpstreamAnswer{c.status, {}, c.body}, out),
              SY_ERR_UPSTREAM);
    EXPECT_EQ(out.error.status, c.client_status) << c.body;
    EXPECT_EQ(out.error.type, c.type) << c.body;
    EXPECT_EQ(out.error.code, c.code) << c.body;
    EXPECT_EQ(out.error.message.rfind(c.message_start, 0), 0u) << out.error.message;
    EXPECT_TRUE(out.events.empty());
  }
}

TEST_F(GeminiProviderTest, NonJsonBodiesAreMapped) {
  for (const auto& [answer, status] : std::vector<std::pair<UpstreamAnswer, uint32_t>>{
           {UpstreamAnswer{503, {{"Content-Type", "text/html"}}, "<html>Unavailable</html>"}, 503},
           {UpstreamAnswer{200, {}, "<html>oops</html>"}, 502},
           {UpstreamAnswer{200, {}, ""}, 502},
           {UpstreamAnswer{200, {}, R"({"candidates":[]})"}, 502}}) {
    FakeOutput out;
    EXPECT_NE(provider_->parseResponse(chatCall("{}"), answer, out), SY_OK) << answer.body;
    EXPECT_EQ(out.error.status, status) << answer.body;
    EXPECT_EQ(out.error.code, "bad_upstream_response");
    EXPECT_EQ(out.error.message.find("<html>"), std::string::npos);
    EXPECT_TRUE(out.events.empty());
  }
}

TEST_F(GeminiProviderTest, TranslatesEmbeddingsWithEstimatedUsage) {
  FakeOutput one;
  ASSERT_EQ(
      provider_->parseResponse(embedCall(R"({"model":"e","input":"Hello world!"})"),
                               UpstreamAnswer{200, {}, readData("embed_single.gemini.json")}, one),
      SY_OK)
      << one.error.message;
  EXPECT_EQ(json::parse(one.payloads(SY_EVENT_RESPONSE).at(0)), json::parse(R"({
      "object":"list",
      "data":[{"object":"embedding","index":0,
               "embedding":[0.013168523,-0.008711934,-0.046782676,0.00069968984]}],
      "model":"gemini-embedding-001",
      "usage":{"prompt_tokens":3,"total_tokens":3}})"));
  EXPECT_EQ(json::parse(one.payloads(SY_EVENT_USAGE).at(0)),
            json::parse(R"({"prompt_tokens":3,"total_tokens":3,"completion_tokens":0,
                            "estimated":true})"));

  FakeOutput batch;
  ASSERT_EQ(provider_->parseResponse(
                embedCall(R"({"model":"e","input":["a","b"],"encoding_format":"base64"})"),
                UpstreamAnswer{200, {}, readData("embed_batch.gemini.json")}, batch),
            SY_OK);
  const json answer = json::parse(batch.payloads(SY_EVENT_RESPONSE).at(0));
  ASSERT_EQ(answer["data"].size(), 2u);
  EXPECT_EQ(answer["data"][1]["index"], 1);
  // float32 little-endian: 0.25 = 00 00 80 3e, -0.5 = 00 00 00 bf; 1.0 = 00 00 80 3f, 0.
  EXPECT_EQ(answer["data"][0]["embedding"], "AACAPgAAAL8=");
  EXPECT_EQ(answer["data"][1]["embedding"], "AACAPwAAAAA=");
}

// ---------------------------------------------------------------------------------------------
// Streams

class GeminiStreamTest : public GeminiProviderTest {
 protected:
  std::unique_ptr<testing::ProviderStreamHandle> open(bool include_usage,
                                                      testing::HeaderList headers = {
                                                          {"Content-Type", "text/event-stream"}}) {
    const std::string body =
        include_usage ? R"({"messages":[],"stream":true,"stream_options":{"include_usage":true}})"
                      : R"({"messages":[],"stream":true})";
    sy_status status = SY_ERR_INTERNAL;
    auto stream =
        provider_->openStream(chatCall(body, true), UpstreamAnswer{200, headers, ""}, &status);
    EXPECT_EQ(status, SY_OK);
    return stream;
  }

  static sy_status run(testing::ProviderStreamHandle& stream,
                       const std::vector<std::string>& pieces, FakeOutput& out) {
    for (const auto& piece : pieces) {
      if (const sy_status s = stream.data(piece, out); s != SY_OK) return s;
    }
    return stream.end(out);
  }

  /// The chunks, usage and DONE a complete stream must produce.
  static void expectStream(const FakeOutput& out, std::vector<json> expected_chunks,
                           const json& usage, const json& flat_usage, bool include_usage,
                           const std::string& context) {
    if (include_usage) {
      json usage_chunk = expected_chunks.back();
      usage_chunk["choices"] = json::array();
      usage_chunk["usage"] = usage;
      expected_chunks.push_back(usage_chunk);
    }
    EXPECT_FALSE(out.error.set) << context << ": " << out.error.message;
    EXPECT_EQ(parsed(out.payloads(SY_EVENT_CHUNK)), expected_chunks) << context;
    ASSERT_EQ(out.count(SY_EVENT_USAGE), 1u) << context;
    EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE)[0]), flat_usage) << context;
    ASSERT_FALSE(out.events.empty());
    EXPECT_EQ(out.events.back().type, static_cast<sy_event>(SY_EVENT_DONE)) << context;
    EXPECT_EQ(out.count(SY_EVENT_DONE), 1u) << context;
  }
};

const json kTextUsage =
    json::parse(R"({"prompt_tokens":9,"completion_tokens":14,"total_tokens":23})");
const json kToolsUsage = json::parse(R"({"prompt_tokens":50,"completion_tokens":45,
    "total_tokens":95,"completion_tokens_details":{"reasoning_tokens":15}})");
const json kToolsFlatUsage = json::parse(R"({"prompt_tokens":50,"completion_tokens":45,
    "total_tokens":95,"reasoning_tokens":15})");

TEST_F(GeminiStreamTest, GoldenTextStreamSplitAtEveryByte) {
  const std::string wire = readData("stream_text.sse");
  const auto expected = readJsonLines("stream_text.expected.jsonl");
  for (bool include_usage : {false, true}) {
    for (size_t cut = 0; cut <= wire.size(); ++cut) {
      auto stream = open(include_usage);
      FakeOutput out;
      const std::string context =
          "cut=" + std::to_string(cut) + " include_usage=" + std::to_string(include_usage);
      ASSERT_EQ(run(*stream, {wire.substr(0, cut), wire.substr(cut)}, out), SY_OK)
          << context << ": " << out.error.message;
      expectStream(out, expected, kTextUsage, kTextUsage, include_usage, context);
      if (HasFailure()) return;
    }
  }
}

TEST_F(GeminiStreamTest, GoldenToolStreamSplitAtEveryByte) {
  const std::string wire = readData("stream_tools.sse");
  const auto expected = readJsonLines("stream_tools.expected.jsonl");
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    auto stream = open(true);
    FakeOutput out;
    const std::string context = "cut=" + std::to_string(cut);
    ASSERT_EQ(run(*stream, {wire.substr(0, cut), wire.substr(cut)}, out), SY_OK)
        << context << ": " << out.error.message;
    expectStream(out, expected, kToolsUsage, kToolsFlatUsage, true, context);
    if (HasFailure()) return;
  }
}

// What an OpenAI client does with the deltas: text, and every call by its index.
TEST_F(GeminiStreamTest, ToolStreamReassemblesFromSingleBytes) {
  const std::string wire = readData("stream_tools.sse");
  std::vector<std::string> bytes;
  for (char c : wire) bytes.emplace_back(1, c);
  auto stream = open(false);
  FakeOutput out;
  ASSERT_EQ(run(*stream, bytes, out), SY_OK) << out.error.message;
  std::string text;
  std::map<int, json> calls;
  std::string finish;
  for (const json& chunk : parsed(out.payloads(SY_EVENT_CHUNK))) {
    const json& choice = chunk["choices"][0];
    if (choice["delta"].contains("content")) text += choice["delta"]["content"].get<std::string>();
    for (const auto& tc : choice["delta"].value("tool_calls", json::array())) {
      json& call = calls[tc["index"].get<int>()];
      if (tc.contains("id")) call["id"] = tc["id"];
      if (tc["function"].contains("name")) call["name"] = tc["function"]["name"];
      call["arguments"] =
          call.value("arguments", "") + tc["function"]["arguments"].get<std::string>();
    }
    if (!choice["finish_reason"].is_null()) finish = choice["finish_reason"];
  }
  EXPECT_EQ(text, "Checking both cities. One moment.");
  ASSERT_EQ(calls.size(), 3u);
  EXPECT_EQ(calls[0]["id"], "call_0");
  EXPECT_EQ(json::parse(calls[1]["arguments"].get<std::string>()),
            json::parse(R"({"city":"Lyon","note":"café \"quoted\" {braces}"})"));
  EXPECT_EQ(calls[2]["name"], "get_time");
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_EQ(out.count(SY_EVENT_DONE), 1u);
}

TEST_F(GeminiStreamTest, LastEventWithoutBlankLineStillCounts) {
  std::string wire = readData("stream_text.sse");
  wire.resize(wire.size() - 4);  // the upstream closed right after the last JSON
  auto stream = open(false);
  FakeOutput out;
  ASSERT_EQ(run(*stream, {wire}, out), SY_OK) << out.error.message;
  EXPECT_EQ(out.count(SY_EVENT_CHUNK), 3u);
  EXPECT_EQ(out.count(SY_EVENT_DONE), 1u);
}

TEST_F(GeminiStreamTest, StreamWithoutFinishReasonIsTruncated) {
  const std::string wire = readData("stream_text.sse");
  const size_t last = wire.rfind("data: ");
  for (size_t cut : {last, last + 40}) {
    auto stream = open(true);
    FakeOutput out;
    EXPECT_EQ(run(*stream, {wire.substr(0, cut)}, out), SY_ERR_UPSTREAM) << cut;
    EXPECT_EQ(out.error.status, 502u);
    EXPECT_EQ(out.error.type, "upstream_error");
    EXPECT_EQ(out.error.code, "stream_truncated");
    EXPECT_EQ(out.count(SY_EVENT_DONE), 0u);
    EXPECT_EQ(out.count(SY_EVENT_USAGE), 0u);
  }
}

TEST_F(GeminiStreamTest, InBandErrorKeepsItsStatus) {
  const std::string wire = readData("stream_text.sse");
  auto stream = open(false);
  FakeOutput out;
  EXPECT_EQ(run(*stream,
                {wire.substr(0, wire.find("data: ", 1)),
                 "data: " + json::parse(readData("error_429.gemini.json")).dump() + "\r\n\r\n"},
                out),
            SY_ERR_UPSTREAM);
  EXPECT_EQ(out.count(SY_EVENT_CHUNK), 1u);
  EXPECT_EQ(out.error.status, 429u);
  EXPECT_EQ(out.error.type, "rate_limit_error");
  EXPECT_EQ(out.error.code, "RESOURCE_EXHAUSTED");
  FakeOutput after;
  EXPECT_EQ(stream->end(after), SY_ERR_UPSTREAM);  // a failed stream stays failed
  EXPECT_EQ(after.count(SY_EVENT_DONE), 0u);
}

TEST_F(GeminiStreamTest, BlockedPromptEndsWithContentFilter) {
  auto stream = open(false);
  FakeOutput out;
  ASSERT_EQ(
      run(*stream,
          {"data: " + json::parse(readData("prompt_blocked.gemini.json")).dump() + "\r\n\r\n"},
          out),
      SY_OK)
      << out.error.message;
  const auto chunks = parsed(out.payloads(SY_EVENT_CHUNK));
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0]["choices"][0]["finish_reason"], "content_filter");
  EXPECT_EQ(out.count(SY_EVENT_USAGE), 1u);
  EXPECT_EQ(out.count(SY_EVENT_DONE), 1u);
}

TEST_F(GeminiStreamTest, SafetyStopInTheMiddleIsContentFilter) {
  auto stream = open(false);
  FakeOutput out;
  ASSERT_EQ(
      run(*stream,
          {R"(data: {"candidates":[{"content":{"role":"model","parts":[{"text":"Once"}]},"index":0}]})"
           "\n\n",
           R"(data: {"candidates":[{"finishReason":"SAFETY","index":0,"safetyRatings":[]}]})"
           "\n\n"},
          out),
      SY_OK);
  const auto chunks = parsed(out.payloads(SY_EVENT_CHUNK));
  ASSERT_EQ(chunks.size(), 2u);
  EXPECT_EQ(chunks[1]["choices"][0]["delta"], json::object());
  EXPECT_EQ(chunks[1]["choices"][0]["finish_reason"], "content_filter");
  EXPECT_EQ(out.count(SY_EVENT_USAGE), 0u);  // none was sent
  EXPECT_EQ(out.count(SY_EVENT_DONE), 1u);
}

TEST_F(GeminiStreamTest, MalformedEventIsAnError) {
  auto stream = open(false);
  FakeOutput out;
  EXPECT_EQ(run(*stream, {"data: {\"candidates\":[\r\n\r\n"}, out), SY_ERR_UPSTREAM);
  EXPECT_EQ(out.error.status, 502u);
  EXPECT_EQ(out.error.code, "malformed_chunk");
}

TEST_F(GeminiStreamTest, JsonAnswerToStreamRequestIsMapped) {
  auto stream = open(false, {{"content-type", "application/json; charset=UTF-8"}});
  const std::string body = readData("error_429.gemini.json");
  FakeOutput out;
  EXPECT_EQ(run(*stream, {body.substr(0, 10), body.substr(10)}, out), SY_ERR_UPSTREAM);
  EXPECT_EQ(out.error.status, 429u);
  EXPECT_EQ(out.error.code, "RESOURCE_EXHAUSTED");
}

}  // namespace
}  // namespace switchyard
