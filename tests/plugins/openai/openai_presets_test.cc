// Presets of the "openai" provider plugin, loaded from its built library: every preset in
// presets.json is valid, and each family sends the exact upstream request its documentation
// asks for (auth header, max-tokens field, include_usage or not), refuses what the upstream
// does not support, and accounts stream usage (reported, held back, or estimated).
#include <gtest/gtest.h>

#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
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

constexpr const char* kSecretKey = "sk-test-PRESET-SECRET-42";

json readPresetsFile() {
  std::ifstream in(SY_OPENAI_PRESETS_FILE);
  std::stringstream text;
  text << in.rdbuf();
  return json::parse(text.str());
}

class OpenAiPresetTest : public ::testing::Test {
 protected:
  void SetUp() override { plugin_ = std::make_unique<LoadedPlugin>(SY_TEST_PLUGIN_PATH, host_); }
  void TearDown() override {
    EXPECT_FALSE(host_.logsContain(kSecretKey));
    plugin_.reset();
  }

  std::unique_ptr<ProviderInstance> create(const std::string& preset,
                                           const std::string& more = "") {
    const std::string config = R"({"preset":")" + preset + "\"" + more + "}";
    auto created = plugin_->createProvider("openai", config);
    EXPECT_TRUE(created.ok()) << config << ": " << created.output.error.message;
    return std::move(created.instance);
  }

  static ProviderCall chatCall(std::string body, bool stream) {
    ProviderCall call;
    call.operation = SY_OP_CHAT_COMPLETIONS;
    call.stream = stream;
    call.body = std::move(body);
    call.public_model = "fast";
    call.upstream_model = "upstream-model-1";
    call.base_url = "http://127.0.0.1:9/v1";
    call.api_key = kSecretKey;
    return call;
  }

  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
};

// ---------------------------------------------------------------------------------------------
// The presets file

TEST_F(OpenAiPresetTest, EveryPresetInTheFileLoadsThroughCreate) {
  const json file = readPresetsFile();
  ASSERT_TRUE(file["presets"].is_array());
  std::set<std::string> names;
  for (const auto& entry : file["presets"]) {
    const std::string name = entry.at("name").get<std::string>();
    EXPECT_TRUE(names.insert(name).second) << "duplicate preset " << name;
    EXPECT_FALSE(entry.at("display_name").get<std::string>().empty()) << name;
    EXPECT_EQ(entry.at("default_base_url").get<std::string>().rfind("http", 0), 0u) << name;
    auto provider = create(name);
    ASSERT_NE(provider, nullptr) << name;
    // And it can build a streaming and a whole request.
    for (const bool stream : {false, true}) {
      FakeOutput out;
      EXPECT_EQ(
          provider->buildRequest(
              chatCall(R"({"model":"fast","messages":[{"role":"user","content":"hi"}]})", stream),
              out),
          SY_OK)
          << name << ": " << out.error.message;
    }
  }
  for (const char* required :
       {"openai", "mistral", "groq", "deepseek", "together", "fireworks", "openrouter", "xai",
        "perplexity", "ollama", "vllm", "llamacpp", "lmstudio"}) {
    EXPECT_TRUE(names.count(required)) << "missing preset " << required;
  }
}

TEST_F(OpenAiPresetTest, UnknownPresetFailsListingTheKnownOnes) {
  auto created = plugin_->createProvider("openai", R"({"preset":"nope"})");
  EXPECT_FALSE(created.ok());
  EXPECT_EQ(created.instance, nullptr);
  EXPECT_EQ(created.output.error.status, 400u);
  EXPECT_EQ(created.output.error.code, "invalid_config");
  const std::string& message = created.output.error.message;
  for (const char* mention : {"nope", "known presets", "openai", "mistral", "lmstudio"}) {
    EXPECT_NE(message.find(mention), std::string::npos) << message;
  }
}

TEST_F(OpenAiPresetTest, PresetMustBeAString) {
  auto created = plugin_->createProvider("openai", R"({"preset":42})");
  EXPECT_FALSE(created.ok());
  EXPECT_NE(created.output.error.message.find("preset"), std::string::npos);
}

// ---------------------------------------------------------------------------------------------
// The exact upstream request per preset (golden: written from each provider's documentation,
// not from presets.json)

struct RequestCase {
  const char* preset;
  bool bearer;            // Authorization: Bearer <key>; otherwise no credential at all
  const char* max_field;  // where the client's max_tokens ends up
  bool injects_usage;     // stream_options.include_usage added to a stream request
};

TEST_F(OpenAiPresetTest, BuildsTheExactStreamRequestPerPreset) {
  const std::string body =
      R"({"model":"fast","messages":[{"role":"user","content":"Hi"}],"max_tokens":64,"stream":true})";
  for (const RequestCase& c : {
           RequestCase{"openai", true, "max_tokens", true},
           RequestCase{"mistral", true, "max_tokens", false},
           RequestCase{"groq", true, "max_completion_tokens", true},
           RequestCase{"deepseek", true, "max_tokens", true},
           RequestCase{"together", true, "max_tokens", true},
           RequestCase{"fireworks", true, "max_tokens", false},
           RequestCase{"openrouter", true, "max_tokens", false},
           RequestCase{"xai", true, "max_tokens", true},
           RequestCase{"perplexity", true, "max_tokens", false},
           RequestCase{"ollama", true, "max_tokens", true},
           RequestCase{"vllm", true, "max_tokens", true},
           RequestCase{"llamacpp", true, "max_tokens", true},
           RequestCase{"lmstudio", false, "max_tokens", false},
           RequestCase{"deepinfra", true, "max_tokens", true},
       }) {
    SCOPED_TRACE(c.preset);
    auto provider = create(c.preset);
    ASSERT_NE(provider, nullptr);
    FakeOutput out;
    ASSERT_EQ(provider->buildRequest(chatCall(body, true), out), SY_OK) << out.error.message;
    EXPECT_EQ(out.method, "POST");
    EXPECT_EQ(out.path, "/chat/completions");
    testing::HeaderList expected_headers = {{"Content-Type", "application/json"}};
    if (c.bearer) {
      expected_headers.push_back({"Authorization", std::string("Bearer ") + kSecretKey});
    }
    expected_headers.push_back({"Accept", "text/event-stream"});
    EXPECT_EQ(out.headers, expected_headers);

    json expected = {{"model", "upstream-model-1"},
                     {"messages", json::parse(R"([{"role":"user","content":"Hi"}])")},
                     {c.max_field, 64},
                     {"stream", true}};
    if (c.injects_usage) {
      expected["stream_options"] = {{"include_usage", true}};
    }
    EXPECT_EQ(json::parse(out.body), expected);
  }
}

TEST_F(OpenAiPresetTest, WholeRequestsAreUnchangedByStreamUsageModes) {
  for (const char* preset : {"mistral", "perplexity", "lmstudio", "groq"}) {
    auto provider = create(preset);
    FakeOutput out;
    ASSERT_EQ(provider->buildRequest(chatCall(R"({"messages":[],"stream":true})", false), out),
              SY_OK);
    const json sent = json::parse(out.body);
    EXPECT_EQ(sent["stream"], false) << preset;
    EXPECT_FALSE(sent.contains("stream_options")) << preset;
    EXPECT_FALSE(out.header("Accept")) << preset;
  }
}

TEST_F(OpenAiPresetTest, RenamesMaxCompletionTokensForUpstreamsThatWantMaxTokens) {
  auto provider = create("mistral");
  FakeOutput out;
  ASSERT_EQ(
      provider->buildRequest(chatCall(R"({"messages":[],"max_completion_tokens":32})", false), out),
      SY_OK);
  const json sent = json::parse(out.body);
  EXPECT_EQ(sent["max_tokens"], 32);
  EXPECT_FALSE(sent.contains("max_completion_tokens"));
}

TEST_F(OpenAiPresetTest, BothMaxTokenFieldsKeepTheUpstreamsOwnName) {
  auto provider = create("groq");
  FakeOutput out;
  ASSERT_EQ(
      provider->buildRequest(
          chatCall(R"({"messages":[],"max_tokens":10,"max_completion_tokens":20})", false), out),
      SY_OK);
  const json sent = json::parse(out.body);
  EXPECT_EQ(sent["max_completion_tokens"], 20);
  EXPECT_FALSE(sent.contains("max_tokens"));
}

TEST_F(OpenAiPresetTest, MistralDropsTheClientsStreamOptions) {
  // Mistral reports usage in its last chunk unasked and refuses stream_options.include_usage
  // as an extra field, so the client's own stream_options cannot be forwarded.
  auto provider = create("mistral");
  FakeOutput out;
  ASSERT_EQ(provider->buildRequest(
                chatCall(R"({"messages":[],"stream":true,"stream_options":{"include_usage":true}})",
                         true),
                out),
            SY_OK);
  EXPECT_FALSE(json::parse(out.body).contains("stream_options"));
}

TEST_F(OpenAiPresetTest, AuthNoneNeverSendsTheKey) {
  auto provider = create("lmstudio");
  ProviderCall call = chatCall(R"({"input":"x"})", false);
  call.operation = SY_OP_EMBEDDINGS;
  FakeOutput out;
  ASSERT_EQ(provider->buildRequest(call, out), SY_OK);
  EXPECT_EQ(out.path, "/embeddings");
  EXPECT_EQ(out.body.find(kSecretKey), std::string::npos);
  for (const auto& [name, value] : out.headers) {
    EXPECT_EQ(value.find(kSecretKey), std::string::npos) << name;
  }
}

TEST_F(OpenAiPresetTest, InstanceKeysCombineWithAPreset) {
  auto provider = create(
      "openrouter",
      R"(,"extra_headers":{"HTTP-Referer":"https://example.test","X-Title":"Switchyard"},"organization":"org-1")");
  ASSERT_NE(provider, nullptr);
  FakeOutput out;
  ASSERT_EQ(provider->buildRequest(chatCall(R"({"messages":[]})", false), out), SY_OK);
  EXPECT_EQ(out.header("HTTP-Referer"), "https://example.test");
  EXPECT_EQ(out.header("X-Title"), "Switchyard");
  EXPECT_EQ(out.header("OpenAI-Organization"), "org-1");
  EXPECT_EQ(out.header("Authorization"), std::string("Bearer ") + kSecretKey);
}

// ---------------------------------------------------------------------------------------------
// Parameter policy

TEST_F(OpenAiPresetTest, UnsupportedParametersAreRefusedNamingParameterAndPreset) {
  struct Case {
    const char* preset;
    const char* param;
    const char* body;
  };
  for (const Case& c : {
           Case{"groq", "logprobs", R"({"messages":[],"logprobs":true})"},
           Case{"groq", "logit_bias", R"({"messages":[],"logit_bias":{"42":-100}})"},
           Case{"groq", "top_logprobs", R"({"messages":[],"top_logprobs":2})"},
           Case{"mistral", "seed", R"({"messages":[],"seed":7})"},
           Case{"mistral", "logit_bias", R"({"messages":[],"logit_bias":{"1":1}})"},
           Case{"perplexity", "tools",
                R"({"messages":[],"tools":[{"type":"function","function":{"name":"f"}}]})"},
           Case{"perplexity", "tool_choice", R"({"messages":[],"tool_choice":"auto"})"},
       }) {
    SCOPED_TRACE(std::string(c.preset) + "/" + c.param);
    auto provider = create(c.preset);
    for (const bool stream : {false, true}) {
      FakeOutput out;
      EXPECT_EQ(provider->buildRequest(chatCall(c.body, stream), out), SY_ERR_INVALID_ARG);
      EXPECT_EQ(out.error.status, 400u);
      EXPECT_EQ(out.error.type, "invalid_request_error");
      EXPECT_EQ(out.error.code, "unsupported_parameter");
      EXPECT_NE(out.error.message.find(std::string("\"") + c.param + "\""), std::string::npos)
          << out.error.message;
      EXPECT_NE(out.error.message.find(std::string("\"") + c.preset + "\""), std::string::npos)
          << out.error.message;
      EXPECT_TRUE(out.body.empty());
    }
  }
}

TEST_F(OpenAiPresetTest, ANullUnsupportedParameterIsRemovedNotRefused) {
  auto provider = create("groq");
  FakeOutput out;
  ASSERT_EQ(provider->buildRequest(chatCall(R"({"messages":[],"logprobs":null})", false), out),
            SY_OK);
  EXPECT_FALSE(json::parse(out.body).contains("logprobs"));
}

TEST_F(OpenAiPresetTest, OtherPresetsForwardTheseParameters) {
  auto provider = create("vllm");
  FakeOutput out;
  const std::string body = R"({"messages":[],"logprobs":true,"seed":7,"logit_bias":{"1":1}})";
  ASSERT_EQ(provider->buildRequest(chatCall(body, false), out), SY_OK);
  const json sent = json::parse(out.body);
  EXPECT_EQ(sent["logprobs"], true);
  EXPECT_EQ(sent["seed"], 7);
  EXPECT_EQ(sent["logit_bias"], json({{"1", 1}}));
}

// ---------------------------------------------------------------------------------------------
// Stream usage accounting

std::string sse(const std::vector<std::string>& chunks) {
  std::string s;
  for (const auto& c : chunks) {
    s += "data: " + c + "\n\n";
  }
  return s + "data: [DONE]\n\n";
}

std::string chunk(const std::string& delta, const std::string& finish = "null",
                  const std::string& usage = "") {
  return R"({"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":)" +
         delta + R"(,"finish_reason":)" + finish + "}]" +
         (usage.empty() ? "" : R"(,"usage":)" + usage) + "}";
}

class OpenAiPresetStreamTest : public OpenAiPresetTest {
 protected:
  /// Feeds `text` split at `split` (whole when npos) to a new stream of `provider`.
  static FakeOutput runSplit(ProviderInstance& provider, const std::string& request_body,
                             const std::string& text, size_t split) {
    FakeOutput out;
    sy_status status = SY_ERR_INTERNAL;
    auto stream = provider.openStream(
        chatCall(request_body, true),
        UpstreamAnswer{200, {{"Content-Type", "text/event-stream"}}, ""}, &status);
    EXPECT_EQ(status, SY_OK);
    if (stream == nullptr) {
      return out;
    }
    if (split == std::string::npos) {
      EXPECT_EQ(stream->data(text, out), SY_OK);
    } else {
      EXPECT_EQ(stream->data(text.substr(0, split), out), SY_OK);
      EXPECT_EQ(stream->data(text.substr(split), out), SY_OK);
    }
    EXPECT_EQ(stream->end(out), SY_OK);
    return out;
  }

  static void expectUsageThenDone(const FakeOutput& out, const json& usage) {
    ASSERT_EQ(out.payloads(SY_EVENT_USAGE).size(), 1u);
    EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE)[0]), usage);
    ASSERT_GE(out.events.size(), 2u);
    EXPECT_EQ(out.events[out.events.size() - 2].type, static_cast<sy_event>(SY_EVENT_USAGE));
    EXPECT_EQ(out.events.back().type, static_cast<sy_event>(SY_EVENT_DONE));
    EXPECT_EQ(out.count(SY_EVENT_DONE), 1u);
  }
};

// An LM Studio-style stream: no usage anywhere. Text with multi-byte characters and a tool
// call, so the estimate counts characters (not bytes) of content and tool calls.
TEST_F(OpenAiPresetStreamTest, EstimatesUsageWhenTheUpstreamNeverReportsIt) {
  const std::vector<std::string> chunks = {
      chunk(R"({"role":"assistant","content":"Hello"})"),
      chunk(R"({"content":", Grüße"})"),
      chunk(R"({"content":"ééé"})"),
      chunk(
          R"({"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_time","arguments":""}}]})"),
      chunk(R"({"tool_calls":[{"index":0,"function":{"arguments":"{}"}}]})"),
      chunk("{}", R"("tool_calls")"),
  };
  const std::string text = sse(chunks);
  // Prompt: "Be brief." (9) + "Say hello" (9) = 18 characters -> 5 tokens. Completion:
  // 5 + 7 + 3 + 8 + 2 = 25 characters -> 7 tokens (bytes would give 8).
  const std::string request =
      R"({"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":[{"type":"text","text":"Say hello"}]}],"stream":true})";
  const json expected_usage = {
      {"prompt_tokens", 5}, {"completion_tokens", 7}, {"total_tokens", 12}, {"estimated", true}};
  auto provider = create("lmstudio");
  for (size_t split = 0; split <= text.size(); ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    const FakeOutput out = runSplit(*provider, request, text, split);
    EXPECT_FALSE(out.error.set) << out.error.message;
    EXPECT_EQ(out.payloads(SY_EVENT_CHUNK), chunks);
    expectUsageThenDone(out, expected_usage);
    if (::testing::Test::HasFailure()) {
      break;
    }
  }
}

TEST_F(OpenAiPresetStreamTest, RealUsageWinsOverTheEstimate) {
  const std::string usage = R"({"prompt_tokens":11,"completion_tokens":3,"total_tokens":14})";
  const std::string text =
      sse({chunk(R"({"content":"Hi there"})"), chunk("{}", R"("stop")", usage)});
  auto provider = create("lmstudio");
  const FakeOutput out = runSplit(*provider, R"({"messages":[]})", text, std::string::npos);
  expectUsageThenDone(out, json::parse(usage));
}

// Perplexity-style: every chunk carries the usage so far; only the final figures count, once.
TEST_F(OpenAiPresetStreamTest, RepeatedUnaskedUsageIsEmittedOnceAtTheEnd) {
  const std::vector<std::string> chunks = {
      chunk(R"({"role":"assistant","content":"Par"})", "null",
            R"({"prompt_tokens":9,"completion_tokens":1,"total_tokens":10})"),
      chunk(R"({"content":"is"})", "null",
            R"({"prompt_tokens":9,"completion_tokens":2,"total_tokens":11})"),
      chunk("{}", R"("stop")", R"({"prompt_tokens":9,"completion_tokens":3,"total_tokens":12})"),
  };
  const std::string text = sse(chunks);
  auto provider = create("perplexity");
  for (size_t split = 0; split <= text.size(); ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    const FakeOutput out = runSplit(*provider, R"({"messages":[],"stream":true})", text, split);
    EXPECT_FALSE(out.error.set) << out.error.message;
    EXPECT_EQ(out.payloads(SY_EVENT_CHUNK), chunks);
    expectUsageThenDone(
        out, json::parse(R"({"prompt_tokens":9,"completion_tokens":3,"total_tokens":12})"));
    if (::testing::Test::HasFailure()) {
      break;
    }
  }
}

// Mistral-style: usage in the last content chunk, unasked.
TEST_F(OpenAiPresetStreamTest, UnaskedUsageInTheLastChunkIsCounted) {
  const std::string usage = R"({"prompt_tokens":10,"total_tokens":13,"completion_tokens":3})";
  const std::vector<std::string> chunks = {chunk(R"({"role":"assistant","content":"Bonjour"})"),
                                           chunk(R"({"content":""})", R"("stop")", usage)};
  auto provider = create("mistral");
  const FakeOutput out =
      runSplit(*provider, R"({"messages":[],"stream":true})", sse(chunks), std::string::npos);
  EXPECT_EQ(out.payloads(SY_EVENT_CHUNK), chunks);
  expectUsageThenDone(out, json::parse(usage));
}

TEST_F(OpenAiPresetStreamTest, TruncatedStreamStillFailsWithoutAnEstimate) {
  auto provider = create("lmstudio");
  FakeOutput out;
  sy_status status = SY_ERR_INTERNAL;
  auto stream = provider->openStream(
      chatCall(R"({"messages":[]})", true),
      UpstreamAnswer{200, {{"Content-Type", "text/event-stream"}}, ""}, &status);
  ASSERT_NE(stream, nullptr);
  EXPECT_EQ(stream->data("data: " + chunk(R"({"content":"Hel"})") + "\n\n", out), SY_OK);
  EXPECT_EQ(stream->end(out), SY_ERR_UPSTREAM);
  EXPECT_EQ(out.error.status, 502u);
  EXPECT_EQ(out.error.code, "stream_truncated");
  EXPECT_EQ(out.count(SY_EVENT_USAGE), 0u);
  EXPECT_EQ(out.count(SY_EVENT_DONE), 0u);
}

}  // namespace
}  // namespace switchyard
