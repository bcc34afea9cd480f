// Golden and behaviour tests of the bedrock provider, driven through the built plugin library
// exactly as the gateway loads it (FakeHost / LoadedPlugin). Golden files in data/ come from
// the Bedrock Converse documentation examples.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <switchyard/testing/fake_host.hpp>
#include <vector>

#include "eventstream_encoder.h"

namespace {

using nlohmann::json;
using nlohmann::ordered_json;
using switchyard::testing::FakeHost;
using switchyard::testing::FakeOutput;
using switchyard::testing::LoadedPlugin;
using switchyard::testing::ProviderCall;
using switchyard::testing::UpstreamAnswer;
namespace es = switchyard::testing::eventstream;

constexpr int64_t kNowMs = 1718884800000;  // 2024-06-20T12:00:00Z
constexpr const char* kAccessKey = "AKIDEXAMPLE";
constexpr const char* kSecret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr const char* kModel = "anthropic.claude-3-5-sonnet-20240620-v1:0";
constexpr const char* kBaseUrl = "https://bedrock-runtime.us-east-1.amazonaws.com";
constexpr const char* kAwsRequestId = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111";

std::string readData(const std::string& name) {
  std::ifstream in(std::string(BEDROCK_TEST_DATA_DIR) + "/" + name, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class BedrockProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.setNowUnixMs(kNowMs);
    plugin_ = std::make_unique<LoadedPlugin>(SY_TEST_PLUGIN_PATH, host_);
    auto created = plugin_->createProvider("bedrock", "{}");
    ASSERT_TRUE(created.ok()) << created.output.error.message;
    provider_ = std::move(created.instance);
  }

  static ProviderCall call(const json& body, bool stream = false) {
    ProviderCall c;
    c.body = body.dump();
    c.stream = stream;
    c.public_model = "claude-sonnet";
    c.upstream_model = kModel;
    c.base_url = kBaseUrl;
    c.api_key = std::string(kAccessKey) + ":" + kSecret;
    return c;
  }
  static json simpleChat() {
    return {{"model", "claude-sonnet"}, {"messages", {{{"role", "user"}, {"content", "Hello"}}}}};
  }
  static UpstreamAnswer ok(const std::string& body) {
    return {200, {{"Content-Type", "application/json"}, {"x-amzn-RequestId", kAwsRequestId}}, body};
  }

  /// Builds the request and returns its translated body (fails the test on an error).
  json built(const json& body) {
    FakeOutput out;
    EXPECT_EQ(provider_->buildRequest(call(body), out), SY_OK) << out.error.message;
    return json::parse(out.body.empty() ? "{}" : out.body);
  }
  /// Builds the request, expecting a 400 unsupported_parameter that names `param`.
  void expectRejected(const json& body, const std::string& param,
                      const std::string& code = "unsupported_parameter") {
    FakeOutput out;
    EXPECT_NE(provider_->buildRequest(call(body), out), SY_OK) << body.dump();
    EXPECT_EQ(out.error.status, 400u);
    EXPECT_EQ(out.error.type, "invalid_request_error");
    EXPECT_EQ(out.error.code, code);
    EXPECT_NE(out.error.message.find(param), std::string::npos) << out.error.message;
  }

  struct StreamResult {
    sy_status status = SY_OK;
    FakeOutput out;
  };
  /// Feeds `bytes` in pieces cut at `cuts` (ascending offsets), then ends the stream.
  StreamResult runStream(const json& request, const std::string& bytes,
                         const std::vector<size_t>& cuts = {}) {
    StreamResult r;
    auto stream = provider_->openStream(call(request, true),
                                        {200,
                                         {{"Content-Type", "application/vnd.amazon.eventstream"},
                                          {"x-amzn-RequestId", kAwsRequestId}},
                                         ""});
    EXPECT_NE(stream, nullptr);
    if (!stream) return r;
    size_t from = 0;
    for (size_t cut : cuts) {
      if (cut <= from || cut >= bytes.size()) continue;
      r.status = stream->data(std::string_view(bytes).substr(from, cut - from), r.out);
      from = cut;
      if (r.status != SY_OK) return r;
    }
    r.status = stream->data(std::string_view(bytes).substr(from), r.out);
    if (r.status != SY_OK) return r;
    r.status = stream->end(r.out);
    return r;
  }

  /// Concatenates the upstream events of a golden stream file into real frames.
  static std::string framesOf(const std::string& file) {
    std::string bytes;
    for (const auto& e : ordered_json::parse(readData(file))) {
      bytes += es::event(e["event"], e["payload"]);
    }
    return bytes;
  }

  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
  std::unique_ptr<switchyard::testing::ProviderInstance> provider_;
};

// ---- request translation and signing ------------------------------------------------------

TEST_F(BedrockProviderTest, GoldenRequestIsTranslatedAndSignedForBedrock) {
  // The client's bytes as sent (key order matters for the exact body and its hash).
  ProviderCall c = call(json::object());
  c.body = readData("chat_request.json");
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(c, out), SY_OK) << out.error.message;
  EXPECT_EQ(out.method, "POST");
  // ':' in the model id is encoded once on the wire.
  EXPECT_EQ(out.path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse");
  EXPECT_EQ(ordered_json::parse(out.body), ordered_json::parse(readData("converse_request.json")));
  // The exact bytes are what data/reference_signature.py signs (Python hashlib/hmac).
  EXPECT_EQ(out.body, ordered_json::parse(readData("converse_request.json")).dump());
  const std::string payload_hash =
      "c2d0a76a88efac8befa8de684119f97e12aabd0bfbb29ac1c446854ad8abe423";
  EXPECT_EQ(out.header("Content-Type"), "application/json");
  EXPECT_EQ(out.header("Accept"), "application/json");
  EXPECT_EQ(out.header("X-Amz-Date"), "20240620T120000Z");
  EXPECT_EQ(out.header("X-Amz-Content-Sha256"), payload_hash);
  EXPECT_FALSE(out.header("X-Amz-Security-Token").has_value());
  EXPECT_EQ(out.header("Authorization"),
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240620/us-east-1/bedrock/aws4_request, "
            "SignedHeaders=host;x-amz-content-sha256;x-amz-date, "
            "Signature=d70f6f02b541e86a0835b80a8de948e5fce8ab9b8534854b1a11efa60d122c10");
  EXPECT_EQ(out.headers.size(), 5u);
  // The secret never appears anywhere in what the plugin handed back, nor in its logs.
  EXPECT_FALSE(out.contains(kSecret));
  for (const auto& [n, v] : out.headers) EXPECT_EQ(v.find(kSecret), std::string::npos) << n;
  EXPECT_FALSE(host_.logsContain(kSecret));
}

TEST_F(BedrockProviderTest, StreamRequestUsesConverseStream) {
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(call(simpleChat(), true), out), SY_OK);
  EXPECT_EQ(out.path, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse-stream");
  EXPECT_EQ(out.header("Accept"), "application/vnd.amazon.eventstream");
  EXPECT_EQ(json::parse(out.body),
            json::parse(R"({"messages":[{"role":"user","content":[{"text":"Hello"}]}]})"));
}

TEST_F(BedrockProviderTest, SessionTokenIsSentAndSigned) {
  ProviderCall c = call(simpleChat());
  c.api_key = std::string(kAccessKey) + ":" + kSecret + ":FwoGZXIvYXdzEXAMPLETOKEN==\n";
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(c, out), SY_OK) << out.error.message;
  EXPECT_EQ(out.header("X-Amz-Security-Token"), "FwoGZXIvYXdzEXAMPLETOKEN==");
  EXPECT_NE(out.header("Authorization")
                ->find("SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token,"),
            std::string::npos);
}

TEST_F(BedrockProviderTest, RegionFromConfigAndBaseUrlPrefix) {
  auto created = plugin_->createProvider("bedrock", R"({"region":"eu-west-3"})");
  ASSERT_TRUE(created.ok());
  ProviderCall c = call(simpleChat());
  c.base_url = "http://127.0.0.1:8080/proxy/";
  FakeOutput out;
  ASSERT_EQ(created.instance->buildRequest(c, out), SY_OK) << out.error.message;
  EXPECT_NE(out.header("Authorization")->find("/eu-west-3/bedrock/aws4_request"),
            std::string::npos);
}

TEST_F(BedrockProviderTest, BadConfigAndCredentialsAreRefused) {
  EXPECT_FALSE(plugin_->createProvider("bedrock", R"({"region":"US EAST"})").ok());
  EXPECT_FALSE(plugin_->createProvider("bedrock", R"({"regoin":"us-east-1"})").ok());
  EXPECT_FALSE(plugin_->createProvider("bedrock", "[1]").ok());

  for (const std::string key : {"", "AKIDONLY", ":secret", "AKID:", "AKID:secret:"}) {
    ProviderCall c = call(simpleChat());
    c.api_key = key;
    FakeOutput out;
    EXPECT_NE(provider_->buildRequest(c, out), SY_OK) << key;
    EXPECT_EQ(out.error.code, "invalid_upstream_credential");
    EXPECT_TRUE(key.empty() || !out.contains(key)) << "the key must not be echoed";
  }
  // No region in config and a base URL that does not name one.
  ProviderCall c = call(simpleChat());
  c.base_url = "http://127.0.0.1:9";
  FakeOutput out;
  EXPECT_NE(provider_->buildRequest(c, out), SY_OK);
  EXPECT_EQ(out.error.code, "invalid_config");
}

TEST_F(BedrockProviderTest, ParametersMapOrAreRejected) {
  json body = simpleChat();
  body["max_completion_tokens"] = 100;
  body["stop"] = "###";
  body["tools"] = {{{"type", "function"}, {"function", {{"name", "f"}}}}};
  body["tool_choice"] = {{"type", "function"}, {"function", {{"name", "f"}}}};
  body["n"] = 1;
  body["user"] = "u-1";
  body["parallel_tool_calls"] = true;
  body["stream_options"] = {{"include_usage", true}};
  const json t = built(body);
  EXPECT_EQ(t["inferenceConfig"], json::parse(R"({"maxTokens":100,"stopSequences":["###"]})"));
  EXPECT_EQ(t["toolConfig"]["toolChoice"], json::parse(R"({"tool":{"name":"f"}})"));
  EXPECT_EQ(t["toolConfig"]["tools"][0]["toolSpec"]["inputSchema"]["json"],
            json::parse(R"({"type":"object","properties":{}})"));
  EXPECT_FALSE(t.contains("user"));

  body = simpleChat();
  body["tools"] = {{{"type", "function"}, {"function", {{"name", "f"}}}}};
  body["tool_choice"] = "required";
  EXPECT_EQ(built(body)["toolConfig"]["toolChoice"], json::parse(R"({"any":{}})"));

  auto with = [](const char* key, json value) {
    json b = simpleChat();
    b[key] = std::move(value);
    return b;
  };
  expectRejected(with("n", 2), "'n'");
  expectRejected(with("seed", 7), "'seed'");
  expectRejected(with("reasoning_effort", "high"), "'reasoning_effort'");
  expectRejected(with("frequency_penalty", 0.5), "'frequency_penalty'");
  expectRejected(with("parallel_tool_calls", false), "'parallel_tool_calls'");
  expectRejected(with("response_format", {{"type", "json_object"}}), "'response_format'");
  expectRejected(with("logit_bias", {{"50256", -100}}), "'logit_bias'");
  json none = simpleChat();
  none["tools"] = {{{"type", "function"}, {"function", {{"name", "f"}}}}};
  none["tool_choice"] = "none";
  expectRejected(none, "'tool_choice'");
  // Defaults that change nothing are accepted.
  built(with("frequency_penalty", 0));
  built(with("logprobs", false));
  built(with("seed", nullptr));
}

// Extras Converse cannot give are dropped and named to the client, not refused.
TEST_F(BedrockProviderTest, DropsAndReportsExtras) {
  json body = simpleChat();
  body["logprobs"] = true;
  body["store"] = true;
  body["user"] = "u-1";
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(call(body), out), SY_OK) << out.error.message;
  EXPECT_EQ(out.dropped_params, (std::vector<std::string>{"logprobs", "store", "user"}));
  body["logprobs"] = false;
  body["store"] = false;
  body.erase("user");
  FakeOutput neutral;
  ASSERT_EQ(provider_->buildRequest(call(body), neutral), SY_OK) << neutral.error.message;
  EXPECT_TRUE(neutral.dropped_params.empty());
}

TEST_F(BedrockProviderTest, ImagesOnlyAsDataUrls) {
  json body = simpleChat();
  body["messages"][0]["content"] = {
      {{"type", "image_url"}, {"image_url", {{"url", "https://example.com/cat.png"}}}}};
  expectRejected(body, "messages[0].content[0].image_url.url");
  body["messages"][0]["content"][0]["image_url"]["url"] = "data:image/jpg;base64,/9j/4AAQ";
  EXPECT_EQ(built(body)["messages"][0]["content"][0],
            json::parse(R"({"image":{"format":"jpeg","source":{"bytes":"/9j/4AAQ"}}})"));
  body["messages"][0]["content"][0]["image_url"]["url"] = "data:image/bmp;base64,Qk0=";
  expectRejected(body, "bmp");
  body["messages"][0]["content"] = {{{"type", "input_audio"}}};
  expectRejected(body, "input_audio");
}

TEST_F(BedrockProviderTest, ConsecutiveToolResultsShareOneUserTurn) {
  json body = {{"messages",
                {{{"role", "user"}, {"content", "weather in Paris and Rome?"}},
                 {{"role", "assistant"},
                  {"content", "Checking."},
                  {"tool_calls",
                   {{{"id", "t1"},
                     {"type", "function"},
                     {"function", {{"name", "w"}, {"arguments", R"({"c":"Paris"})"}}}},
                    {{"id", "t2"},
                     {"type", "function"},
                     {"function", {{"name", "w"}, {"arguments", R"({"c":"Rome"})"}}}}}}},
                 {{"role", "tool"}, {"tool_call_id", "t1"}, {"content", "18C"}},
                 {{"role", "tool"}, {"tool_call_id", "t2"}, {"content", "24C"}}}}};
  const json t = built(body);
  ASSERT_EQ(t["messages"].size(), 3u);
  EXPECT_EQ(t["messages"][1]["content"].size(), 3u);  // text + two toolUse
  EXPECT_EQ(t["messages"][2]["role"], "user");
  EXPECT_EQ(t["messages"][2]["content"][1]["toolResult"]["toolUseId"], "t2");

  body["messages"][1]["tool_calls"][0]["function"]["arguments"] = "{not json";
  expectRejected(body, "arguments", "invalid_request");
}

TEST_F(BedrockProviderTest, EmbeddingsAndBadJsonAreRefused) {
  ProviderCall c = call(json{{"model", "x"}, {"input", "hi"}});
  c.operation = SY_OP_EMBEDDINGS;
  FakeOutput out;
  EXPECT_EQ(provider_->buildRequest(c, out), SY_ERR_UNSUPPORTED);
  EXPECT_EQ(out.error.status, 400u);
  EXPECT_EQ(out.error.code, "unsupported_operation");

  ProviderCall bad = call(simpleChat());
  bad.body = "{nope";
  FakeOutput out2;
  EXPECT_NE(provider_->buildRequest(bad, out2), SY_OK);
  EXPECT_EQ(out2.error.code, "invalid_json");
  expectRejected(json{{"messages", json::array()}}, "messages", "invalid_request");
}

// ---- response translation ------------------------------------------------------------------

TEST_F(BedrockProviderTest, GoldenTextResponse) {
  FakeOutput out;
  ASSERT_EQ(provider_->parseResponse(call(simpleChat()),
                                     ok(readData("converse_response_text.json")), out),
            SY_OK)
      << out.error.message;
  ASSERT_EQ(out.count(SY_EVENT_RESPONSE), 1u);
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_RESPONSE)[0]),
            json::parse(readData("chat_response_text.json")));
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE).at(0)),
            json::parse(R"({"prompt_tokens":125,"completion_tokens":60,"total_tokens":185})"));
}

TEST_F(BedrockProviderTest, GoldenToolResponseWithCachedTokens) {
  FakeOutput out;
  ASSERT_EQ(provider_->parseResponse(call(simpleChat()),
                                     ok(readData("converse_response_tool.json")), out),
            SY_OK)
      << out.error.message;
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_RESPONSE).at(0)),
            json::parse(readData("chat_response_tool.json")));
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE).at(0)),
            json::parse(R"({"prompt_tokens":675,"completion_tokens":72,"total_tokens":747,
                            "cached_tokens":300})"));
}

TEST_F(BedrockProviderTest, StopReasonsMap) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"end_turn", "stop"},
      {"stop_sequence", "stop"},
      {"max_tokens", "length"},
      {"tool_use", "tool_calls"},
      {"guardrail_intervened", "content_filter"},
      {"content_filtered", "content_filter"}};
  for (const auto& [reason, finish] : cases) {
    json r = json::parse(readData("converse_response_text.json"));
    r["stopReason"] = reason;
    FakeOutput out;
    ASSERT_EQ(provider_->parseResponse(call(simpleChat()), ok(r.dump()), out), SY_OK);
    EXPECT_EQ(json::parse(out.payloads(SY_EVENT_RESPONSE).at(0))["choices"][0]["finish_reason"],
              finish)
        << reason;
  }
}

TEST_F(BedrockProviderTest, ErrorsKeepStatusAndMessage) {
  struct Case {
    uint32_t status;
    const char* error_type;
    uint32_t want_status;
    const char* want_type;
    const char* want_code;
  };
  const Case cases[] = {
      {429, "ThrottlingException", 429, "rate_limit_error", "rate_limit_exceeded"},
      {400, "ValidationException:http://internal.amazon.com/coral/com.amazon.bedrock/", 400,
       "invalid_request_error", "invalid_request"},
      {403, "AccessDeniedException", 403, "permission_error", "access_denied"},
      {408, "ModelTimeoutException", 408, "timeout_error", "model_timeout"},
      {504, "ModelTimeoutException", 504, "timeout_error", "model_timeout"},
      {503, "ServiceUnavailableException", 503, "overloaded_error", "service_unavailable"},
      {500, "InternalServerException", 500, "api_error", "internal_server_error"},
      {418, "SomethingNewException", 418, "upstream_error", "SomethingNewException"},
  };
  for (const Case& c : cases) {
    FakeOutput out;
    UpstreamAnswer a{c.status,
                     {{"Content-Type", "application/json"}, {"x-amzn-ErrorType", c.error_type}},
                     R"({"message":"it went wrong"})"};
    EXPECT_EQ(provider_->parseResponse(call(simpleChat()), a, out), SY_ERR_UPSTREAM);
    EXPECT_EQ(out.error.status, c.want_status) << c.error_type;
    EXPECT_EQ(out.error.type, c.want_type) << c.error_type;
    EXPECT_EQ(out.error.code, c.want_code) << c.error_type;
    EXPECT_EQ(out.error.message, "it went wrong");
    EXPECT_EQ(out.count(SY_EVENT_RESPONSE), 0u);
  }
  // Context length, recognised from ValidationException's message; __type in the body.
  FakeOutput out;
  UpstreamAnswer a{400, {}, R"({"__type":"com.amazon.coral.validate#ValidationException",
                             "Message":"Input is too long for requested model."})"};
  EXPECT_EQ(provider_->parseResponse(call(simpleChat()), a, out), SY_ERR_UPSTREAM);
  EXPECT_EQ(out.error.code, "context_length_exceeded");
  EXPECT_EQ(out.error.message, "Input is too long for requested model.");
  // A 2xx that is not a Converse answer.
  FakeOutput out2;
  EXPECT_EQ(provider_->parseResponse(call(simpleChat()), ok("<html>"), out2), SY_ERR_UPSTREAM);
  EXPECT_EQ(out2.error.status, 502u);
  FakeOutput out3;
  EXPECT_NE(provider_->parseResponse(call(simpleChat()), ok(R"({"output":{}})"), out3), SY_OK);
  EXPECT_EQ(out3.error.status, 502u);
}

// ---- streaming -----------------------------------------------------------------------------

TEST_F(BedrockProviderTest, GoldenToolStreamAtEveryBytePosition) {
  const std::string bytes = framesOf("converse_stream_tool.json");
  std::vector<std::string> expected;
  std::stringstream lines(readData("chat_stream_tool.jsonl"));
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) expected.push_back(line);
  }
  json request = simpleChat();
  request["stream_options"] = {{"include_usage", true}};
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    const StreamResult r = runStream(request, bytes, {cut});
    ASSERT_EQ(r.status, SY_OK) << "cut at " << cut << ": " << r.out.error.message;
    const auto chunks = r.out.payloads(SY_EVENT_CHUNK);
    ASSERT_EQ(chunks.size(), expected.size()) << cut;
    for (size_t i = 0; i < chunks.size(); ++i) {
      ASSERT_EQ(json::parse(chunks[i]), json::parse(expected[i]))
          << "cut " << cut << " chunk " << i;
    }
    ASSERT_EQ(r.out.payloads(SY_EVENT_USAGE),
              std::vector<std::string>{
                  R"({"prompt_tokens":375,"completion_tokens":72,"total_tokens":447})"});
    ASSERT_EQ(r.out.count(SY_EVENT_DONE), 1u);
    ASSERT_EQ(r.out.events.back().type, static_cast<sy_event>(SY_EVENT_DONE));
  }
  // Every byte on its own too.
  std::vector<size_t> all;
  for (size_t i = 1; i < bytes.size(); ++i) all.push_back(i);
  const StreamResult r = runStream(request, bytes, all);
  EXPECT_EQ(r.status, SY_OK);
  EXPECT_EQ(r.out.count(SY_EVENT_CHUNK), expected.size());
}

TEST_F(BedrockProviderTest, UsageChunkOnlyWhenAsked) {
  const StreamResult r = runStream(simpleChat(), framesOf("converse_stream_tool.json"));
  ASSERT_EQ(r.status, SY_OK);
  for (const auto& c : r.out.payloads(SY_EVENT_CHUNK)) {
    EXPECT_FALSE(json::parse(c)["choices"].empty()) << "usage-only chunk not asked for: " << c;
  }
  EXPECT_EQ(r.out.count(SY_EVENT_USAGE), 1u);
  EXPECT_EQ(r.out.count(SY_EVENT_DONE), 1u);
}

/// Accumulates OpenAI stream chunks into the final message, as a client would.
struct Assembled {
  std::string content;
  std::vector<json> tool_calls;  // by index
  std::string finish_reason;
};
Assembled assemble(const std::vector<std::string>& chunks) {
  Assembled a;
  for (const auto& text : chunks) {
    const json c = json::parse(text);
    for (const auto& choice : c["choices"]) {
      const json& d = choice["delta"];
      if (d.contains("content") && d["content"].is_string()) a.content += d["content"];
      if (d.contains("tool_calls")) {
        for (const auto& tc : d["tool_calls"]) {
          const size_t i = tc["index"];
          if (a.tool_calls.size() <= i) a.tool_calls.resize(i + 1, json::object());
          json& t = a.tool_calls[i];
          if (tc.contains("id")) t["id"] = tc["id"];
          if (tc["function"].contains("name")) t["name"] = tc["function"]["name"];
          t["arguments"] = t.value("arguments", "") + tc["function"].value("arguments", "");
        }
      }
      if (!choice["finish_reason"].is_null()) a.finish_reason = choice["finish_reason"];
    }
  }
  return a;
}

TEST_F(BedrockProviderTest, TextAndParallelToolCallsWithArgumentsInManyDeltas) {
  const std::string args0 = R"({"city": "Paris", "unit": "celsius"})";
  const std::string args1 = R"({"city": "Rome"})";
  std::string bytes = es::event("messageStart", {{"role", "assistant"}});
  bytes +=
      es::event("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", "Both: "}}}});
  bytes += es::event("contentBlockStop", {{"contentBlockIndex", 0}});
  bytes += es::event("contentBlockStart",
                     {{"contentBlockIndex", 1},
                      {"start", {{"toolUse", {{"toolUseId", "tu_1"}, {"name", "weather"}}}}}});
  bytes += es::event("contentBlockStart",
                     {{"contentBlockIndex", 2},
                      {"start", {{"toolUse", {{"toolUseId", "tu_2"}, {"name", "weather"}}}}}});
  // Interleaved, a few characters at a time.
  for (size_t i = 0; i < std::max(args0.size(), args1.size()); i += 3) {
    if (i < args0.size()) {
      bytes += es::event(
          "contentBlockDelta",
          {{"contentBlockIndex", 1}, {"delta", {{"toolUse", {{"input", args0.substr(i, 3)}}}}}});
    }
    if (i < args1.size()) {
      bytes += es::event(
          "contentBlockDelta",
          {{"contentBlockIndex", 2}, {"delta", {{"toolUse", {{"input", args1.substr(i, 3)}}}}}});
    }
  }
  bytes += es::event("contentBlockStop", {{"contentBlockIndex", 1}});
  bytes += es::event("contentBlockStop", {{"contentBlockIndex", 2}});
  bytes += es::event("messageStop", {{"stopReason", "tool_use"}});
  bytes += es::event("metadata", {{"usage",
                                   {{"inputTokens", 10},
                                    {"outputTokens", 20},
                                    {"totalTokens", 30},
                                    {"cacheReadInputTokens", 4}}}});
  // Everything in one network chunk, then split in the middle of frames.
  for (const std::vector<size_t>& cuts :
       {std::vector<size_t>{}, std::vector<size_t>{7, 101, 333}}) {
    const StreamResult r = runStream(simpleChat(), bytes, cuts);
    ASSERT_EQ(r.status, SY_OK) << r.out.error.message;
    const Assembled a = assemble(r.out.payloads(SY_EVENT_CHUNK));
    EXPECT_EQ(a.content, "Both: ");
    ASSERT_EQ(a.tool_calls.size(), 2u);
    EXPECT_EQ(a.tool_calls[0], json({{"id", "tu_1"}, {"name", "weather"}, {"arguments", args0}}));
    EXPECT_EQ(a.tool_calls[1], json({{"id", "tu_2"}, {"name", "weather"}, {"arguments", args1}}));
    EXPECT_EQ(a.finish_reason, "tool_calls");
    EXPECT_EQ(json::parse(r.out.payloads(SY_EVENT_USAGE).at(0)),
              json::parse(R"({"prompt_tokens":14,"completion_tokens":20,"total_tokens":34,
                              "cached_tokens":4})"));
  }
}

TEST_F(BedrockProviderTest, InBandExceptionIsAnUpstreamError) {
  std::string bytes = es::event("messageStart", {{"role", "assistant"}});
  bytes += es::event("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", "Hi"}}}});
  bytes += es::exception("throttlingException", "Too many tokens, please wait.");
  const StreamResult r = runStream(simpleChat(), bytes);
  EXPECT_EQ(r.status, SY_ERR_UPSTREAM);
  EXPECT_EQ(r.out.error.status, 429u);
  EXPECT_EQ(r.out.error.type, "rate_limit_error");
  EXPECT_EQ(r.out.error.message, "Too many tokens, please wait.");
  EXPECT_EQ(r.out.count(SY_EVENT_CHUNK), 2u);  // what came before the error was delivered
  EXPECT_EQ(r.out.count(SY_EVENT_DONE), 0u);

  const StreamResult v =
      runStream(simpleChat(), es::exception("modelStreamErrorException", "model broke") + bytes);
  EXPECT_EQ(v.status, SY_ERR_UPSTREAM);
  EXPECT_EQ(v.out.error.code, "model_stream_error");
  EXPECT_EQ(v.out.count(SY_EVENT_CHUNK), 0u);
}

TEST_F(BedrockProviderTest, BadCrcIsAStreamError) {
  std::string bytes = es::event("messageStart", {{"role", "assistant"}});
  std::string second =
      es::event("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", "Hi"}}}});
  second[second.size() - 10] ^= 0x01;  // flip a payload bit: message CRC fails
  const StreamResult r = runStream(simpleChat(), bytes + second);
  EXPECT_EQ(r.status, SY_ERR_UPSTREAM);
  EXPECT_EQ(r.out.error.status, 502u);
  EXPECT_EQ(r.out.error.code, "bad_event_stream");
  EXPECT_NE(r.out.error.message.find("CRC"), std::string::npos);
  EXPECT_EQ(r.out.count(SY_EVENT_CHUNK), 1u);

  std::string prelude = es::event("messageStart", {{"role", "assistant"}});
  prelude[3] ^= 0x01;  // the length: prelude CRC fails before the length is trusted
  const StreamResult p = runStream(simpleChat(), prelude);
  EXPECT_EQ(p.out.error.code, "bad_event_stream");
}

TEST_F(BedrockProviderTest, TruncatedStreamIsReported) {
  const std::string bytes = framesOf("converse_stream_tool.json");
  // Cut before messageStop, and in the middle of a frame.
  for (size_t keep : {bytes.size() / 2, size_t{5}}) {
    const StreamResult r = runStream(simpleChat(), bytes.substr(0, keep));
    EXPECT_EQ(r.status, SY_ERR_UPSTREAM);
    EXPECT_EQ(r.out.error.status, 502u);
    EXPECT_EQ(r.out.error.code, "stream_truncated");
    EXPECT_EQ(r.out.count(SY_EVENT_DONE), 0u);
  }
}

TEST_F(BedrockProviderTest, StreamWithoutMetadataStillEnds) {
  std::string bytes = es::event("messageStart", {{"role", "assistant"}});
  bytes += es::event("contentBlockDelta", {{"contentBlockIndex", 0}, {"delta", {{"text", "Hi"}}}});
  bytes += es::event("messageStop", {{"stopReason", "max_tokens"}});
  const StreamResult r = runStream(simpleChat(), bytes);
  EXPECT_EQ(r.status, SY_OK);
  EXPECT_EQ(r.out.count(SY_EVENT_DONE), 1u);
  EXPECT_EQ(assemble(r.out.payloads(SY_EVENT_CHUNK)).finish_reason, "length");
}

}  // namespace
