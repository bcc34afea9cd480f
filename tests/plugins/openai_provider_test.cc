// Behaviour of the "openai" provider plugin, loaded from its built library.
#include <gtest/gtest.h>

#include <memory>
#include <nlohmann/json.hpp>
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

constexpr const char* kSecretKey = "sk-test-SECRET-0123456789";

class OpenAiProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
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
    auto created = plugin_->createProvider("openai", config);
    EXPECT_TRUE(created.ok()) << created.output.error.message;
    return std::move(created.instance);
  }

  static ProviderCall chatCall(std::string body, bool stream = false) {
    ProviderCall call;
    call.operation = SY_OP_CHAT_COMPLETIONS;
    call.stream = stream;
    call.body = std::move(body);
    call.public_model = "fast";
    call.upstream_model = "gpt-4o-mini-2024-07-18";
    call.base_url = "http://127.0.0.1:9/v1";
    call.api_key = kSecretKey;
    return call;
  }

  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
  std::unique_ptr<ProviderInstance> provider_;
};

// ---------------------------------------------------------------------------------------------
// Registration and config

TEST_F(OpenAiProviderTest, DeclaresOneProviderComponent) {
  EXPECT_EQ(testing::toView(plugin_->info().name), "openai");
  EXPECT_EQ(plugin_->info().abi_major, static_cast<uint32_t>(SY_ABI_MAJOR));
  ASSERT_NE(plugin_->find(SY_KIND_PROVIDER, "openai"), nullptr);
  EXPECT_EQ(plugin_->find(SY_KIND_AUTH, "openai"), nullptr);
  EXPECT_EQ(plugin_->entry()(SY_ABI_MAJOR + 1, 0), nullptr);
}

TEST_F(OpenAiProviderTest, AcceptsEmptyAndFullConfig) {
  EXPECT_NE(create(""), nullptr);
  EXPECT_NE(create(R"({"organization":"org-1","project":"proj-1",
                       "extra_headers":{"X-Team":"blue"}})"),
            nullptr);
}

TEST_F(OpenAiProviderTest, RejectsBadConfigWithClearMessage) {
  struct Case {
    const char* config;
    const char* mentions;
  };
  for (const Case& c : {Case{R"({"organisation":"typo"})", "organisation"},
                        Case{R"({"organization":42})", "organization"},
                        Case{R"({"extra_headers":["X-A"]})", "extra_headers"},
                        Case{R"({"extra_headers":{"Bad Name":"v"}})", "Bad Name"},
                        Case{R"({"extra_headers":{"X-A":"v\r\nInjected: 1"}})", "X-A"},
                        Case{R"({"extra_headers":{"X-A":1}})", "X-A"}, Case{"[1,2]", "object"},
                        Case{"{not json", "object"}}) {
    auto created = plugin_->createProvider("openai", c.config);
    EXPECT_FALSE(created.ok()) << c.config;
    EXPECT_EQ(created.instance, nullptr);
    EXPECT_EQ(created.status, SY_ERR_INVALID_ARG) << c.config;
    EXPECT_EQ(created.output.error.status, 400u);
    EXPECT_EQ(created.output.error.code, "invalid_config");
    EXPECT_NE(created.output.error.message.find(c.mentions), std::string::npos)
        << created.output.error.message;
  }
}

// ---------------------------------------------------------------------------------------------
// build_request

TEST_F(OpenAiProviderTest, BuildsExactChatRequest) {
  const std::string body = R"({
    "model": "fast",
    "messages": [{"role": "user", "content": "Weather in Paris?"}],
    "temperature": 0.7,
    "tools": [{"type": "function", "function": {"name": "get_weather",
               "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                              "required": ["location"]}}}],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "response_format": {"type": "json_object"},
    "user": "u-1"
  })";
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(chatCall(body), out), SY_OK) << out.error.message;

  EXPECT_FALSE(out.error.set);
  EXPECT_EQ(out.method, "POST");
  EXPECT_EQ(out.path, "/chat/completions");
  const testing::HeaderList expected_headers = {
      {"Content-Type", "application/json"},
      {"Authorization", std::string("Bearer ") + kSecretKey},
  };
  EXPECT_EQ(out.headers, expected_headers);

  const json sent = json::parse(out.body);
  json expected = json::parse(body);
  expected["model"] = "gpt-4o-mini-2024-07-18";
  EXPECT_EQ(sent, expected);
  EXPECT_FALSE(sent.contains("stream_options"));
  // The client's key order survives (the model stays first).
  EXPECT_EQ(out.body.rfind(R"({"model":"gpt-4o-mini-2024-07-18","messages":)", 0), 0u) << out.body;
}

// Plain bodies are rewritten as text, the rest through ordered_json: either way the bytes sent
// are what parsing, renaming the model, forcing "stream" off and dumping give.
TEST_F(OpenAiProviderTest, ForwardsBodiesByteForByteAsTheJsonDump) {
  const std::vector<std::string> bodies = {
      R"({"model":"fast","messages":[{"role":"user","content":"Say hello."}],"max_tokens":16})",
      "{ \"messages\" : [ { \"role\":\"user\", \"content\":\"a\\/b \\\"q\\\" \\\\ \\n\\t\\r\\b\\f\" } ] ,\n"
      "  \"model\":\"fast\", \"stream\": true, \"n\": -0, \"t\": -0.0, \"p\": 1E5, \"q\": 0.1,\n"
      "  \"r\": 1.0, \"s\": 1e-7, \"u\": 123456789012345678901, \"v\": -9223372036854775809,\n"
      "  \"w\": 18446744073709551615, \"x\": [true,false,null,{},[]], \"y\": 2.5e+3 }\r\n",
      R"({"messages":[{"role":"user","content":"caf\u00e9 😀 é"}],"model":"fast"})",
      R"({"messages":[{"role":"user","content":"😀 é"}],"stream":false})",
      R"({"model":"fast","messages":[],"metadata":{"a":1,"a":2}})",
      R"({"model":"fast","messages":[],"model":"again"})",
      R"({})",
      R"({"model":"fast","messages":[{"role":"user","content":"x"}],"deep":[[[[[[[[[[[[1]]]]]]]]]]]]})",
      R"({"model":"fast","messages":[],"k\"ey":1,"k\/e":2})",
  };
  for (const auto& body : bodies) {
    for (const bool chat : {true, false}) {
      ProviderCall call = chatCall(body);
      if (!chat) {
        call.operation = SY_OP_EMBEDDINGS;
      }
      FakeOutput out;
      ASSERT_EQ(provider_->buildRequest(call, out), SY_OK) << body << out.error.message;
      nlohmann::ordered_json expected = nlohmann::ordered_json::parse(body);
      expected["model"] = "gpt-4o-mini-2024-07-18";
      if (chat && expected.contains("stream")) {
        expected["stream"] = false;
      }
      EXPECT_EQ(out.body, expected.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace))
          << body;
    }
  }
  for (const std::string bad : {"", "[]", R"({"a":1,})", R"({"a":01})", "{\"a\":\"\xC0\xAF\"}",
                                R"({"a":1e999})", R"({"a":"x"} y)", "{\"a\":\"\x01\"}"}) {
    FakeOutput out;
    EXPECT_EQ(provider_->buildRequest(chatCall(bad), out), SY_ERR_INVALID_ARG) << bad;
    EXPECT_EQ(out.error.code, "invalid_json") << bad;
  }
}

TEST_F(OpenAiProviderTest, SendsNoAuthorizationWhenKeyIsEmpty) {
  auto call = chatCall(R"({"model":"fast","messages":[]})");
  call.api_key.clear();
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(call, out), SY_OK);
  EXPECT_FALSE(out.header("Authorization").has_value());
  EXPECT_EQ(out.header("Content-Type"), "application/json");
}

TEST_F(OpenAiProviderTest, TrimsKeyWhitespaceAndRefusesControlCharacters) {
  auto call = chatCall(R"({"messages":[]})");
  call.api_key = std::string(kSecretKey) + "\n";
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(call, out), SY_OK);
  EXPECT_EQ(out.header("Authorization"), std::string("Bearer ") + kSecretKey);

  call.api_key = std::string(kSecretKey) + "\r\nX-Injected: 1";
  FakeOutput refused;
  EXPECT_EQ(provider_->buildRequest(call, refused), SY_ERR_INVALID_ARG);
  EXPECT_EQ(refused.error.status, 500u);
  EXPECT_TRUE(refused.headers.empty());
  EXPECT_FALSE(refused.contains(kSecretKey));
}

TEST_F(OpenAiProviderTest, AddsOrganizationProjectAndExtraHeaders) {
  auto provider = create(R"({"organization":"org-42","project":"proj-7",
                             "extra_headers":{"X-Team":"blue","accept":"application/x-custom"}})");
  ASSERT_NE(provider, nullptr);
  FakeOutput out;
  ASSERT_EQ(provider->buildRequest(chatCall(R"({"messages":[]})", true), out), SY_OK);
  EXPECT_EQ(out.header("OpenAI-Organization"), "org-42");
  EXPECT_EQ(out.header("OpenAI-Project"), "proj-7");
  EXPECT_EQ(out.header("X-Team"), "blue");
  // A configured header replaces the built-in one of the same name instead of doubling it.
  EXPECT_EQ(out.headerValues("Accept"), std::vector<std::string>{"application/x-custom"});
}

TEST_F(OpenAiProviderTest, StreamRequestAsksForUsageAndEventStream) {
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(
                chatCall(R"({"model":"fast","messages":[],"stream":true})", true), out),
            SY_OK);
  EXPECT_EQ(out.header("Accept"), "text/event-stream");
  const json sent = json::parse(out.body);
  EXPECT_EQ(sent["stream"], true);
  EXPECT_EQ(sent["stream_options"], json({{"include_usage", true}}));
}

TEST_F(OpenAiProviderTest, StreamRequestKeepsOtherStreamOptions) {
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(chatCall(R"({"messages":[],"stream":true,
                             "stream_options":{"include_usage":false,"x_vendor":1}})",
                                             true),
                                    out),
            SY_OK);
  const json sent = json::parse(out.body);
  EXPECT_EQ(sent["stream_options"], json({{"include_usage", true}, {"x_vendor", 1}}));
}

TEST_F(OpenAiProviderTest, NonStreamCallForcesStreamFalse) {
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(chatCall(R"({"messages":[],"stream":true})", false), out),
            SY_OK);
  EXPECT_EQ(json::parse(out.body)["stream"], false);
  EXPECT_FALSE(out.header("Accept").has_value());
}

TEST_F(OpenAiProviderTest, BuildsEmbeddingsRequest) {
  ProviderCall call = chatCall(R"({"model":"embed","input":["a","b"],"encoding_format":"float"})");
  call.operation = SY_OP_EMBEDDINGS;
  call.upstream_model = "text-embedding-3-small";
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(call, out), SY_OK);
  EXPECT_EQ(out.path, "/embeddings");
  EXPECT_EQ(json::parse(out.body),
            json::parse(R"({"model":"text-embedding-3-small","input":["a","b"],
                            "encoding_format":"float"})"));
}

TEST_F(OpenAiProviderTest, RejectsInvalidJsonBody) {
  for (const char* body : {"{\"messages\": [", "", "[1,2]", "\"text\""}) {
    FakeOutput out;
    EXPECT_EQ(provider_->buildRequest(chatCall(body), out), SY_ERR_INVALID_ARG) << body;
    EXPECT_EQ(out.error.status, 400u);
    EXPECT_EQ(out.error.type, "invalid_request_error");
    EXPECT_EQ(out.error.code, "invalid_json");
    EXPECT_TRUE(out.body.empty());
  }
}

// ---------------------------------------------------------------------------------------------
// parse_response

TEST_F(OpenAiProviderTest, SuccessEmitsResponseThenUsage) {
  const std::string body = R"({"id":"chatcmpl-1","object":"chat.completion","created":1,
    "model":"gpt-4o-mini-2024-07-18",
    "choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],
    "usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}})";
  FakeOutput out;
  ASSERT_EQ(provider_->parseResponse(chatCall("{}"), UpstreamAnswer{200, {}, body}, out), SY_OK);
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].type, static_cast<sy_event>(SY_EVENT_RESPONSE));
  EXPECT_EQ(out.events[0].payload, body);
  EXPECT_EQ(out.events[1].type, static_cast<sy_event>(SY_EVENT_USAGE));
  EXPECT_EQ(json::parse(out.events[1].payload),
            json::parse(R"({"prompt_tokens":11,"completion_tokens":7,"total_tokens":18})"));
  EXPECT_FALSE(out.error.set);
}

// The USAGE event is the gateway's uniform shape: the cache and reasoning counts flat, from
// OpenAI's nested details or DeepSeek's prompt_cache_hit_tokens.
TEST_F(OpenAiProviderTest, UsageEventCarriesCachedAndReasoningTokensFlat) {
  const std::string openai = R"({"id":"chatcmpl-2","object":"chat.completion","created":1,"model":"o4-mini",
    "choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],
    "usage":{"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,
             "prompt_tokens_details":{"cached_tokens":1920,"audio_tokens":0},
             "completion_tokens_details":{"reasoning_tokens":256,"audio_tokens":0}}})";
  FakeOutput out;
  ASSERT_EQ(provider_->parseResponse(chatCall("{}"), UpstreamAnswer{200, {}, openai}, out), SY_OK);
  ASSERT_EQ(out.payloads(SY_EVENT_USAGE).size(), 1u);
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE)[0]),
            json::parse(R"({"prompt_tokens":2006,"completion_tokens":300,"total_tokens":2306,
                            "cached_tokens":1920,"reasoning_tokens":256})"));

  const std::string deepseek = R"({"id":"c","object":"chat.completion","created":1,"model":"deepseek-chat",
    "choices":[{"index":0,"message":{"role":"assistant","content":"Hi"},"finish_reason":"stop"}],
    "usage":{"prompt_tokens":100,"completion_tokens":10,"total_tokens":110,
             "prompt_cache_hit_tokens":64,"prompt_cache_miss_tokens":36}})";
  FakeOutput ds;
  ASSERT_EQ(provider_->parseResponse(chatCall("{}"), UpstreamAnswer{200, {}, deepseek}, ds), SY_OK);
  ASSERT_EQ(ds.payloads(SY_EVENT_USAGE).size(), 1u);
  EXPECT_EQ(json::parse(ds.payloads(SY_EVENT_USAGE)[0]),
            json::parse(R"({"prompt_tokens":100,"completion_tokens":10,"total_tokens":110,"cached_tokens":64})"));
}

// Answers are read without a DOM when they are plain; these shapes must give what the
// ordered_json read gave: the last of repeated keys, counts that are not integers as 0,
// escapes and UTF-8 in text, and malformed or non-object bodies still refused.
TEST_F(OpenAiProviderTest, ReadsUsageOfUnusualAnswersAsBefore) {
  auto usageOf = [&](const std::string& body) {
    FakeOutput out;
    EXPECT_EQ(provider_->parseResponse(chatCall("{}"), UpstreamAnswer{200, {}, body}, out), SY_OK)
        << body;
    EXPECT_EQ(out.count(SY_EVENT_RESPONSE), 1u);
    const auto usage = out.payloads(SY_EVENT_USAGE);
    return usage.empty() ? std::string("none") : usage[0];
  };
  EXPECT_EQ(usageOf(R"({"choices":[{"message":{"content":"caf\u00e9 \"q\" \n \/ é 𝄞"}}],
      "usage":{"prompt_tokens":3},"usage":{"prompt_tokens":5,"completion_tokens":2.0,
      "total_tokens":-4,"prompt_tokens_details":{"cached_tokens":9},"prompt_tokens_details":null,
      "completion_tokens_details":{"reasoning_tokens":18446744073709551615},
      "prompt_cache_hit_tokens":1e2},"error":null})"),
            R"({"prompt_tokens":5,"completion_tokens":0,"total_tokens":0})");
  // The same without a \u escape (which the fast read leaves to nlohmann).
  EXPECT_EQ(usageOf(R"({"choices":[{"message":{"content":"caf \"q\" \n \/ é 𝄞"}}],
      "usage":{"prompt_tokens":3},"usage":{"prompt_tokens":5,"completion_tokens":2.0,
      "total_tokens":-4,"prompt_tokens_details":{"cached_tokens":9},"prompt_tokens_details":null,
      "completion_tokens_details":{"reasoning_tokens":18446744073709551615},
      "prompt_cache_hit_tokens":1e2},"error":null})"),
            R"({"prompt_tokens":5,"completion_tokens":0,"total_tokens":0})");
  EXPECT_EQ(usageOf(R"({"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2},"usage":[1]})"),
            "none");
  EXPECT_EQ(usageOf("\xEF\xBB\xBF {\"usage\":{\"total_tokens\":7,\"prompt_tokens_details\":{\"cached_tokens\":3}}} \n"),
            R"({"prompt_tokens":0,"completion_tokens":0,"total_tokens":7,"cached_tokens":3})");

  for (const std::string bad : {R"({"a":1,})", R"({"a":"\x"})", "{\"a\":\"\xC0\xAF\"}", R"({"a":1e999})",
                                R"({"a":01})", R"([{"usage":{}}])", R"({"a":"x"} y)", ""}) {
    FakeOutput out;
    EXPECT_EQ(provider_->parseResponse(chatCall("{}"), UpstreamAnswer{200, {}, bad}, out),
              SY_ERR_UPSTREAM)
        << bad;
    EXPECT_EQ(out.error.code, "bad_upstream_response") << bad;
  }
  FakeOutput in_band;
  EXPECT_EQ(provider_->parseResponse(chatCall("{}"),
                                     UpstreamAnswer{200, {}, R"({"error":null,"error":"down"})"}, in_band),
            SY_ERR_UPSTREAM);
  EXPECT_EQ(in_band.error.message, "down");
}

TEST_F(OpenAiProviderTest, SuccessWithoutUsageEmitsOnlyResponse) {
  FakeOutput out;
  ASSERT_EQ(provider_->parseResponse(
                chatCall("{}"), UpstreamAnswer{200, {}, R"({"object":"list","data":[]})"}, out),
            SY_OK);
  EXPECT_EQ(out.count(SY_EVENT_RESPONSE), 1u);
  EXPECT_EQ(out.count(SY_EVENT_USAGE), 0u);
}

TEST_F(OpenAiProviderTest, MapsOpenAiErrorKeepingStatus) {
  struct Case {
    uint32_t status;
    const char* body;
    const char* type;
    const char* code;
    const char* message;
  };
  for (const Case& c : {
           Case{429,
                R"({"error":{"message":"Rate limit reached","type":"requests",
                             "param":null,"code":"rate_limit_exceeded"}})",
                "requests", "rate_limit_exceeded", "Rate limit reached"},
           Case{400,
                R"({"error":{"message":"bad param","type":"invalid_request_error",
                             "param":"temperature","code":null}})",
                "invalid_request_error", "", "bad param"},
           Case{500, R"({"error":{"message":"boom","type":"server_error","code":500}})",
                "server_error", "500", "boom"},
           Case{401, R"({"error":"invalid token"})", "upstream_error", "", "invalid token"},
           Case{422, R"({"detail":"validation failed"})", "upstream_error", "",
                "validation failed"},
       }) {
    FakeOutput out;
    EXPECT_EQ(provider_->parseResponse(chatCall("{}"), UpstreamAnswer{c.status, {}, c.body}, out),
              SY_ERR_UPSTREAM);
    EXPECT_TRUE(out.error.set);
    EXPECT_EQ(out.error.status, c.status) << c.body;
    EXPECT_EQ(out.error.type, c.type) << c.body;
    EXPECT_EQ(out.error.code, c.code) << c.body;
    EXPECT_EQ(out.error.message, c.message) << c.body;
    EXPECT_TRUE(out.events.empty());
  }
}

TEST_F(OpenAiProviderTest, NonJsonUpstreamBodyIsBadGateway) {
  for (const UpstreamAnswer& answer :
       {UpstreamAnswer{200, {}, "<html>oops</html>"},
        UpstreamAnswer{503, {{"Content-Type", "text/html"}}, "<html>Service Unavailable</html>"},
        UpstreamAnswer{200, {}, ""}}) {
    FakeOutput out;
    EXPECT_EQ(provider_->parseResponse(chatCall("{}"), answer, out), SY_ERR_UPSTREAM);
    EXPECT_EQ(out.error.status, 502u);
    EXPECT_EQ(out.error.type, "upstream_error");
    EXPECT_EQ(out.error.code, "bad_upstream_response");
    EXPECT_FALSE(out.error.message.empty());
    EXPECT_EQ(out.error.message.find("<html>"), std::string::npos);
    EXPECT_TRUE(out.events.empty());
  }
}

TEST_F(OpenAiProviderTest, InBandErrorInSuccessIsAnError) {
  FakeOutput out;
  EXPECT_EQ(
      provider_->parseResponse(
          chatCall("{}"),
          UpstreamAnswer{200, {}, R"({"error":{"message":"overloaded","type":"server_error"}})"},
          out),
      SY_ERR_UPSTREAM);
  EXPECT_EQ(out.error.status, 502u);
  EXPECT_EQ(out.error.type, "server_error");
  EXPECT_EQ(out.error.message, "overloaded");
  EXPECT_TRUE(out.events.empty());
}

// ---------------------------------------------------------------------------------------------
// Streams

// A realistic chat stream with a tool call whose arguments arrive across chunks, ending with
// the usage-only chunk that include_usage adds.
const std::vector<std::string> kChunks = {
    R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1732600000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_abc","type":"function","function":{"name":"get_weather","arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null}],"usage":null})",
    R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1732600000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"loc"}}]},"logprobs":null,"finish_reason":null}],"usage":null})",
    R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1732600000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"ation\": \"Besan"}}]},"logprobs":null,"finish_reason":null}],"usage":null})",
    R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1732600000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\u00e7on\"}"}}]},"logprobs":null,"finish_reason":null}],"usage":null})",
    R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1732600000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}],"usage":null})",
};
const std::string kUsageChunk =
    R"({"id":"chatcmpl-9","object":"chat.completion.chunk","created":1732600000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[],"usage":{"prompt_tokens":82,"completion_tokens":17,"total_tokens":99}})";

std::string sseStream(const std::string& eol, bool with_comment = true) {
  std::string s;
  if (with_comment) {
    s += ": OPENROUTER PROCESSING" + eol + eol;
  }
  for (const auto& c : kChunks) {
    s += "data: " + c + eol + eol;
  }
  s += "data: " + kUsageChunk + eol + eol;
  s += "data: [DONE]" + eol + eol;
  return s;
}

class OpenAiStreamTest : public OpenAiProviderTest {
 protected:
  std::unique_ptr<testing::ProviderStreamHandle> open(bool client_asked_usage,
                                                      testing::HeaderList headers = {
                                                          {"Content-Type", "text/event-stream"}}) {
    const std::string body =
        client_asked_usage
            ? R"({"messages":[],"stream":true,"stream_options":{"include_usage":true}})"
            : R"({"messages":[],"stream":true})";
    sy_status status = SY_ERR_INTERNAL;
    auto stream =
        provider_->openStream(chatCall(body, true), UpstreamAnswer{200, headers, ""}, &status);
    EXPECT_EQ(status, SY_OK);
    return stream;
  }

  /// Feeds `pieces` then ends the stream; returns the status of the last call that failed, or
  /// of stream_end.
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

  static void expectFullStream(const FakeOutput& out, bool client_asked_usage,
                               const std::string& context) {
    std::vector<std::string> expected_chunks = kChunks;
    if (client_asked_usage) {
      expected_chunks.push_back(kUsageChunk);
    }
    EXPECT_FALSE(out.error.set) << context << ": " << out.error.message;
    EXPECT_EQ(out.payloads(SY_EVENT_CHUNK), expected_chunks) << context;
    ASSERT_EQ(out.payloads(SY_EVENT_USAGE).size(), 1u) << context;
    EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE)[0]),
              json::parse(R"({"prompt_tokens":82,"completion_tokens":17,"total_tokens":99})"));
    ASSERT_FALSE(out.events.empty());
    EXPECT_EQ(out.events.back().type, static_cast<sy_event>(SY_EVENT_DONE)) << context;
    EXPECT_EQ(out.count(SY_EVENT_DONE), 1u) << context;
  }
};

TEST_F(OpenAiStreamTest, ReassemblesToolCallArgumentsFromChunks) {
  auto stream = open(false);
  ASSERT_NE(stream, nullptr);
  FakeOutput out;
  ASSERT_EQ(run(*stream, {sseStream("\n")}, out), SY_OK);
  expectFullStream(out, false, "whole");
  std::string arguments;
  for (const auto& payload : out.payloads(SY_EVENT_CHUNK)) {
    const json chunk = json::parse(payload);
    for (const auto& choice : chunk["choices"]) {
      if (choice["delta"].contains("tool_calls")) {
        arguments += choice["delta"]["tool_calls"][0]["function"]["arguments"].get<std::string>();
      }
    }
  }
  EXPECT_EQ(json::parse(arguments), json({{"location", "Besan\u00e7on"}}));
}

struct SplitCase {
  const char* name;
  const char* eol;
  bool client_asked_usage;
};

class OpenAiStreamSplitTest : public OpenAiStreamTest,
                              public ::testing::WithParamInterface<SplitCase> {};

// Cuts the stream in two at every byte position, including between the CR and LF of a CRLF.
TEST_P(OpenAiStreamSplitTest, ParsesEverySplitPosition) {
  const SplitCase& param = GetParam();
  const std::string wire = sseStream(param.eol);
  for (size_t cut = 0; cut <= wire.size(); ++cut) {
    auto stream = open(param.client_asked_usage);
    ASSERT_NE(stream, nullptr);
    FakeOutput out;
    const sy_status s = run(*stream, {wire.substr(0, cut), wire.substr(cut)}, out);
    const std::string context = "cut=" + std::to_string(cut);
    ASSERT_EQ(s, SY_OK) << context << ": " << out.error.message;
    expectFullStream(out, param.client_asked_usage, context);
    if (HasFailure()) {
      return;
    }
  }
}

// Whether the client asked for usage only matters after parsing, so one line ending covers it.
INSTANTIATE_TEST_SUITE_P(LineEndings, OpenAiStreamSplitTest,
                         ::testing::Values(SplitCase{"LF", "\n", false},
                                           SplitCase{"CRLF", "\r\n", false},
                                           SplitCase{"CR", "\r", false},
                                           SplitCase{"CRLFAskedUsage", "\r\n", true}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST_F(OpenAiStreamTest, ParsesOneByteAtATime) {
  const std::string wire = sseStream("\r\n");
  auto stream = open(false);
  ASSERT_NE(stream, nullptr);
  std::vector<std::string> bytes;
  for (char c : wire) {
    bytes.emplace_back(1, c);
  }
  FakeOutput out;
  ASSERT_EQ(run(*stream, bytes, out), SY_OK) << out.error.message;
  expectFullStream(out, false, "bytewise");
}

TEST_F(OpenAiStreamTest, SuppressesOnlyTheUsageOnlyChunk) {
  // A usage object on a chunk that still has choices (some compatible servers do this) is
  // counted and the chunk is still delivered.
  const std::string chunk =
      R"({"id":"x","choices":[{"index":0,"delta":{"content":"hi"}}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}})";
  auto stream = open(false);
  FakeOutput out;
  ASSERT_EQ(run(*stream, {"data: " + chunk + "\n\ndata: [DONE]\n\n"}, out), SY_OK);
  EXPECT_EQ(out.payloads(SY_EVENT_CHUNK), std::vector<std::string>{chunk});
  EXPECT_EQ(out.count(SY_EVENT_USAGE), 1u);
}

TEST_F(OpenAiStreamTest, ChunksReadWithoutADomMeanWhatTheDomWouldSay) {
  // Each chunk once as written, once with a \u escape in a value (which the scanner leaves to
  // nlohmann): both readings must deliver the same chunks and the same usage.
  const std::vector<std::pair<std::string, bool>> cases = {
      // {chunk, is it usage-only (suppressed unless the client asked for usage)}
      {R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7,"prompt_tokens_details":{"cached_tokens":2},"completion_tokens_details":{"reasoning_tokens":1}},"x":"@"})",
       true},
      {R"({"choices":[[]],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"x":"@"})",
       false},
      {R"({"choices":[],"choices":[{"delta":{}}],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"x":"@"})",
       false},
      {R"({"choices":[{"delta":{}}],"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"x":"@"})",
       true},
      {R"({"choices":{},"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7},"x":"@"})",
       false},
      {R"({"choices":[],"usage":null,"x":"@"})", false},
  };
  for (const auto& [chunk, usage_only] : cases) {
    for (bool client_asked : {false, true}) {
      std::vector<FakeOutput> outs(2);
      for (size_t variant = 0; variant < 2; ++variant) {
        std::string text = chunk;
        text.replace(text.find('@'), 1, variant == 0 ? "a" : "\\u0061");
        auto stream = open(client_asked);
        ASSERT_EQ(run(*stream, {"data: " + text + "\n\ndata: [DONE]\n\n"}, outs[variant]), SY_OK)
            << text;
        EXPECT_EQ(outs[variant].count(SY_EVENT_CHUNK), usage_only && !client_asked ? 0u : 1u)
            << text;
      }
      EXPECT_EQ(outs[0].payloads(SY_EVENT_USAGE), outs[1].payloads(SY_EVENT_USAGE)) << chunk;
    }
  }
}

TEST_F(OpenAiStreamTest, JoinsMultiLineDataAndIgnoresOtherFields) {
  auto stream = open(false);
  FakeOutput out;
  ASSERT_EQ(run(*stream,
                {"\xEF\xBB\xBF: hello\nid: 1\nevent: message\nretry: 10\n"
                 "data: {\"id\":\"x\",\ndata: \"choices\":[]}\n\n"
                 "data:[DONE]\n\n"},
                out),
            SY_OK)
      << out.error.message;
  // Re-serialized on one line, so the core's "data: <json>" framing stays valid.
  EXPECT_EQ(out.payloads(SY_EVENT_CHUNK), std::vector<std::string>{R"({"id":"x","choices":[]})"});
  EXPECT_EQ(out.count(SY_EVENT_DONE), 1u);
}

TEST_F(OpenAiStreamTest, AcceptsDoneWithoutFinalBlankLine) {
  auto stream = open(false);
  FakeOutput out;
  ASSERT_EQ(run(*stream, {"data: " + kChunks[0] + "\n\ndata: [DONE]\n"}, out), SY_OK);
  EXPECT_EQ(out.count(SY_EVENT_CHUNK), 1u);
  EXPECT_EQ(out.count(SY_EVENT_DONE), 1u);
}

TEST_F(OpenAiStreamTest, TruncatedStreamIsAnError) {
  const std::string wire = sseStream("\n");
  const size_t done_at = wire.find("data: [DONE]");
  // Closed between events, and closed in the middle of a chunk.
  for (size_t cut : {done_at, done_at - 40}) {
    auto stream = open(false);
    FakeOutput out;
    EXPECT_EQ(run(*stream, {wire.substr(0, cut)}, out), SY_ERR_UPSTREAM);
    EXPECT_EQ(out.error.status, 502u);
    EXPECT_EQ(out.error.type, "upstream_error");
    EXPECT_EQ(out.error.code, "stream_truncated");
    EXPECT_EQ(out.error.message, "upstream closed the stream before [DONE]");
    EXPECT_EQ(out.count(SY_EVENT_DONE), 0u);
  }
}

TEST_F(OpenAiStreamTest, MalformedChunkIsAnError) {
  auto stream = open(false);
  FakeOutput out;
  EXPECT_EQ(run(*stream, {"data: " + kChunks[0] + "\n\ndata: {\"id\":\"x\",\"choi\n\n"}, out),
            SY_ERR_UPSTREAM);
  EXPECT_EQ(out.error.status, 502u);
  EXPECT_EQ(out.error.type, "upstream_error");
  EXPECT_EQ(out.error.code, "malformed_chunk");
  EXPECT_EQ(out.count(SY_EVENT_CHUNK), 1u);
  // The stream stays failed; a later end does not turn it into a success.
  FakeOutput after;
  EXPECT_EQ(stream->end(after), SY_ERR_UPSTREAM);
}

TEST_F(OpenAiStreamTest, InBandErrorChunkIsAnError) {
  auto stream = open(false);
  FakeOutput out;
  EXPECT_EQ(
      run(*stream,
          {"data: " + kChunks[0] + "\n\n",
           R"(data: {"error":{"message":"The server had an error","type":"server_error","param":null,"code":null}})"
           "\n\n"},
          out),
      SY_ERR_UPSTREAM);
  EXPECT_EQ(out.error.status, 502u);
  EXPECT_EQ(out.error.type, "server_error");
  EXPECT_EQ(out.error.code, "");
  EXPECT_EQ(out.error.message, "The server had an error");
  EXPECT_EQ(out.count(SY_EVENT_CHUNK), 1u);
}

TEST_F(OpenAiStreamTest, InBandErrorMayNameItsStatus) {
  auto stream = open(false);
  FakeOutput out;
  EXPECT_EQ(run(*stream,
                {R"(data: {"error":{"message":"slow down","type":"rate_limit","code":429}})"
                 "\n\n"},
                out),
            SY_ERR_UPSTREAM);
  EXPECT_EQ(out.error.status, 429u);
  EXPECT_EQ(out.error.code, "429");
}

TEST_F(OpenAiStreamTest, JsonAnswerToStreamRequestIsMapped) {
  auto stream = open(false, {{"content-type", "application/json; charset=utf-8"}});
  ASSERT_NE(stream, nullptr);
  FakeOutput out;
  EXPECT_EQ(
      run(*stream, {R"({"error":{"message":"no str)", R"(eam","type":"x","code":"y"}})"}, out),
      SY_ERR_UPSTREAM);
  EXPECT_EQ(out.error.status, 502u);
  EXPECT_EQ(out.error.type, "x");
  EXPECT_EQ(out.error.code, "y");
  EXPECT_EQ(out.error.message, "no stream");
}

TEST_F(OpenAiStreamTest, IgnoresBytesAfterDone) {
  auto stream = open(false);
  FakeOutput out;
  EXPECT_EQ(run(*stream, {"data: [DONE]\n\ndata: garbage\n\n"}, out), SY_OK);
  EXPECT_EQ(out.count(SY_EVENT_DONE), 1u);
  EXPECT_FALSE(out.error.set);
}

}  // namespace
}  // namespace switchyard
