// Behaviour of the "azure-openai" provider plugin, loaded from its built library: golden request
// and response translations (tests/plugins/azure_openai/data), streams split at every byte,
// tool calls, usage, Azure's content-filter annotations and errors, and bad input.
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

constexpr const char* kSecretKey = "azure-test-SECRET-0123456789abcdef";
constexpr const char* kBaseUrl = "https://contoso.openai.azure.com/openai";

std::string readData(const std::string& name) {
  std::ifstream in(std::string(AZURE_OPENAI_TEST_DATA_DIR) + "/" + name, std::ios::binary);
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

const testing::HeaderList kSseHeaders = {{"Content-Type", "text/event-stream; charset=utf-8"}};

class AzureOpenAiProviderTest : public ::testing::Test {
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
    auto created = plugin_->createProvider("azure-openai", config);
    EXPECT_TRUE(created.ok()) << created.output.error.message;
    return std::move(created.instance);
  }

  static ProviderCall chatCall(std::string body, bool stream = false) {
    ProviderCall call;
    call.operation = SY_OP_CHAT_COMPLETIONS;
    call.stream = stream;
    call.body = std::move(body);
    call.public_model = "gpt-4o-prod";
    call.upstream_model = "gpt-4o";
    call.base_url = kBaseUrl;
    call.api_key = kSecretKey;
    return call;
  }

  static ProviderCall embedCall(std::string body) {
    ProviderCall call = chatCall(std::move(body));
    call.operation = SY_OP_EMBEDDINGS;
    call.upstream_model = "text-embedding-3-small";
    return call;
  }

  /// Runs a whole SSE body through a stream, split into the given pieces.
  static FakeOutput runStream(const ProviderInstance& provider, const ProviderCall& call,
                              const std::vector<std::string_view>& pieces,
                              sy_status* end_status = nullptr) {
    FakeOutput out;
    auto stream = provider.openStream(call, UpstreamAnswer{200, kSseHeaders, {}});
    EXPECT_NE(stream, nullptr);
    if (stream == nullptr) return out;
    for (auto piece : pieces) {
      if (stream->data(piece, out) != SY_OK) {
        if (end_status != nullptr) *end_status = SY_ERR_UPSTREAM;
        return out;
      }
    }
    const sy_status s = stream->end(out);
    if (end_status != nullptr) *end_status = s;
    return out;
  }

  FakeOutput parse(const ProviderCall& call, uint32_t status, const std::string& body,
                   sy_status expected) {
    FakeOutput out;
    EXPECT_EQ(provider_->parseResponse(call, UpstreamAnswer{status, {}, body}, out), expected)
        << out.error.message;
    return out;
  }

  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
  std::unique_ptr<ProviderInstance> provider_;
};

// ---------------------------------------------------------------------------------------------
// Registration and config

TEST_F(AzureOpenAiProviderTest, DeclaresOneProviderComponent) {
  EXPECT_EQ(testing::toView(plugin_->info().name), "azure-openai");
  ASSERT_NE(plugin_->find(SY_KIND_PROVIDER, "azure-openai"), nullptr);
  EXPECT_EQ(plugin_->entry()(SY_ABI_MAJOR + 1, 0), nullptr);
}

TEST_F(AzureOpenAiProviderTest, ConfigIsValidated) {
  EXPECT_NE(create(""), nullptr);
  EXPECT_NE(create(R"({"api_version":"2025-04-01-preview","api_style":"deployments",
                       "extra_headers":{"x-ms-client-request-id":"abc"}})"),
            nullptr);
  for (const char* bad :
       {R"({"api_version":""})", R"({"api_version":"2024-10-21&x=1"})", R"({"api_version":5})",
        R"({"api_style":"classic"})", R"({"extra_headers":{"bad name":"x"}})",
        R"({"extra_headers":{"x":"a\r\nb"}})", R"({"apiVersion":"2024-10-21"})", "[1]", "{oops"}) {
    auto created = plugin_->createProvider("azure-openai", bad);
    EXPECT_FALSE(created.ok()) << bad;
    EXPECT_EQ(created.output.error.code, "invalid_config") << bad;
  }
}

// ---------------------------------------------------------------------------------------------
// build_request

TEST_F(AzureOpenAiProviderTest, GoldenChatRequest) {
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(chatCall(readData("chat_request.openai.json")), out), SY_OK)
      << out.error.message;
  EXPECT_EQ(out.method, "POST");
  EXPECT_EQ(out.path, "/deployments/gpt-4o/chat/completions?api-version=2024-10-21");
  const testing::HeaderList expected_headers = {{"Content-Type", "application/json"},
                                                {"api-key", kSecretKey}};
  EXPECT_EQ(out.headers, expected_headers);
  EXPECT_FALSE(out.header("Authorization").has_value());
  EXPECT_EQ(json::parse(out.body), readJson("chat_request.azure.json")) << out.body;
}

TEST_F(AzureOpenAiProviderTest, DeploymentIsUrlEncodedAndApiVersionConfigurable) {
  auto provider = create(R"({"api_version":"2025-04-01-preview"})");
  auto call = chatCall(R"({"messages":[{"role":"user","content":"hi"}]})");
  call.upstream_model = "my deploy/1?x";
  FakeOutput out;
  ASSERT_EQ(provider->buildRequest(call, out), SY_OK) << out.error.message;
  EXPECT_EQ(out.path,
            "/deployments/my%20deploy%2F1%3Fx/chat/completions?api-version=2025-04-01-preview");
}

TEST_F(AzureOpenAiProviderTest, V1StyleSendsModelInBody) {
  auto provider = create(R"({"api_style":"v1"})");
  FakeOutput out;
  ASSERT_EQ(
      provider->buildRequest(
          chatCall(R"({"model":"gpt-4o-prod","messages":[{"role":"user","content":"hi"}]})"), out),
      SY_OK);
  EXPECT_EQ(out.path, "/v1/chat/completions");
  EXPECT_EQ(json::parse(out.body)["model"], "gpt-4o");
  EXPECT_EQ(out.header("api-key"), kSecretKey);

  auto preview = create(R"({"api_style":"v1","api_version":"preview"})");
  FakeOutput embed;
  ASSERT_EQ(preview->buildRequest(embedCall(R"({"input":"hi"})"), embed), SY_OK);
  EXPECT_EQ(embed.path, "/v1/embeddings?api-version=preview");
  EXPECT_EQ(json::parse(embed.body)["model"], "text-embedding-3-small");
}

TEST_F(AzureOpenAiProviderTest, StreamRequestAsksForUsage) {
  FakeOutput out;
  ASSERT_EQ(
      provider_->buildRequest(
          chatCall(R"({"messages":[{"role":"user","content":"hi"}],"stream":true})", true), out),
      SY_OK);
  EXPECT_EQ(out.header("Accept"), "text/event-stream");
  EXPECT_EQ(json::parse(out.body),
            json::parse(R"({"messages":[{"role":"user","content":"hi"}],"stream":true,
                            "stream_options":{"include_usage":true}})"));

  FakeOutput keeps;
  ASSERT_EQ(
      provider_->buildRequest(
          chatCall(R"({"messages":[],"stream_options":{"include_usage":false}})", true), keeps),
      SY_OK);
  EXPECT_EQ(json::parse(keeps.body)["stream_options"], json::parse(R"({"include_usage":true})"));

  FakeOutput whole;
  ASSERT_EQ(provider_->buildRequest(chatCall(R"({"messages":[],"stream":true})", false), whole),
            SY_OK);
  EXPECT_EQ(json::parse(whole.body)["stream"], false);
}

TEST_F(AzureOpenAiProviderTest, EmbeddingsRequest) {
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(
                embedCall(R"({"model":"embed","input":["a","b"],"dimensions":256})"), out),
            SY_OK);
  EXPECT_EQ(out.path, "/deployments/text-embedding-3-small/embeddings?api-version=2024-10-21");
  EXPECT_EQ(json::parse(out.body), json::parse(R"({"input":["a","b"],"dimensions":256})"));

  auto call = embedCall(R"({"input":"a"})");
  call.stream = true;
  FakeOutput refused;
  EXPECT_NE(provider_->buildRequest(call, refused), SY_OK);
  EXPECT_EQ(refused.error.status, 400u);
  EXPECT_EQ(refused.error.code, "unsupported_stream");
}

TEST_F(AzureOpenAiProviderTest, KeyHandling) {
  auto call = chatCall(R"({"messages":[{"role":"user","content":"hi"}]})");
  call.api_key = std::string(kSecretKey) + "\n";
  FakeOutput trimmed;
  ASSERT_EQ(provider_->buildRequest(call, trimmed), SY_OK);
  EXPECT_EQ(trimmed.header("api-key"), kSecretKey);

  call.api_key.clear();
  FakeOutput none;
  ASSERT_EQ(provider_->buildRequest(call, none), SY_OK);
  EXPECT_FALSE(none.header("api-key").has_value());

  call.api_key = std::string(kSecretKey) + "\r\nX-Injected: 1";
  FakeOutput refused;
  EXPECT_NE(provider_->buildRequest(call, refused), SY_OK);
  EXPECT_EQ(refused.error.status, 500u);
  EXPECT_TRUE(refused.headers.empty());
  EXPECT_FALSE(refused.contains(kSecretKey));
}

TEST_F(AzureOpenAiProviderTest, ExtraHeadersReplaceBuiltIns) {
  auto provider = create(R"({"extra_headers":{"accept":"application/x-ndjson","x-team":"a"}})");
  FakeOutput out;
  ASSERT_EQ(provider->buildRequest(chatCall(R"({"messages":[]})", true), out), SY_OK);
  EXPECT_EQ(out.headerValues("Accept"), std::vector<std::string>{"application/x-ndjson"});
  EXPECT_EQ(out.header("x-team"), "a");
}

TEST_F(AzureOpenAiProviderTest, BadInputIsRefused) {
  for (const char* body : {"", "{", "[1,2]", "\"text\""}) {
    FakeOutput out;
    EXPECT_EQ(provider_->buildRequest(chatCall(body), out), SY_ERR_INVALID_ARG) << body;
    EXPECT_EQ(out.error.status, 400u);
    EXPECT_EQ(out.error.code, "invalid_json");
  }
  auto call = chatCall(R"({"messages":[]})");
  call.upstream_model.clear();
  FakeOutput no_deployment;
  EXPECT_NE(provider_->buildRequest(call, no_deployment), SY_OK);
  EXPECT_EQ(no_deployment.error.code, "missing_deployment");

  call = chatCall(R"({"messages":[]})");
  call.operation = static_cast<sy_operation>(99);
  FakeOutput op;
  EXPECT_NE(provider_->buildRequest(call, op), SY_OK);
  EXPECT_EQ(op.error.code, "unsupported_operation");
}

// ---------------------------------------------------------------------------------------------
// parse_response

TEST_F(AzureOpenAiProviderTest, GoldenChatResponseKeepsFilterResultsAndFlattensUsage) {
  const std::string body = readData("chat_response.azure.json");
  FakeOutput out = parse(chatCall("{}"), 200, body, SY_OK);
  ASSERT_EQ(out.count(SY_EVENT_RESPONSE), 1u);
  const json response = json::parse(out.payloads(SY_EVENT_RESPONSE)[0]);
  EXPECT_EQ(response, json::parse(body));
  EXPECT_EQ(response["choices"][0]["message"]["content"],
            "Yes, customer managed keys are supported by Azure OpenAI.");
  ASSERT_EQ(out.count(SY_EVENT_USAGE), 1u);
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE)[0]),
            json::parse(R"({"prompt_tokens":1270,"completion_tokens":14,"total_tokens":1284,
                            "cached_tokens":1024})"));
}

TEST_F(AzureOpenAiProviderTest, GoldenToolCallsAndContentFilterFinish) {
  FakeOutput tools = parse(chatCall("{}"), 200, readData("tool_calls_response.azure.json"), SY_OK);
  const json choice = json::parse(tools.payloads(SY_EVENT_RESPONSE)[0])["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 2u);
  EXPECT_EQ(choice["message"]["tool_calls"][1]["function"]["arguments"],
            R"({"location":"Tacoma, WA","unit":"celsius"})");
  EXPECT_EQ(json::parse(tools.payloads(SY_EVENT_USAGE)[0])["total_tokens"], 138);

  FakeOutput filtered =
      parse(chatCall("{}"), 200, readData("content_filter_finish.azure.json"), SY_OK);
  EXPECT_EQ(json::parse(filtered.payloads(SY_EVENT_RESPONSE)[0])["choices"][0]["finish_reason"],
            "content_filter");
}

TEST_F(AzureOpenAiProviderTest, EmbeddingsResponse) {
  FakeOutput out = parse(embedCall("{}"), 200, readData("embeddings_response.azure.json"), SY_OK);
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_RESPONSE)[0]),
            readJson("embeddings_response.azure.json"));
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE)[0]),
            json::parse(R"({"prompt_tokens":8,"completion_tokens":0,"total_tokens":8})"));
}

struct ErrorCase {
  const char* file;
  uint32_t status;
  const char* type;
  const char* code;
  const char* message_start;
};

TEST_F(AzureOpenAiProviderTest, AzureErrorsKeepStatusClassAndMessage) {
  const ErrorCase cases[] = {
      {"error_content_filter.azure.json", 400, "invalid_request_error", "content_filter",
       "The response was filtered due to the prompt triggering"},
      {"error_429.azure.json", 429, "rate_limit_error", "rate_limit_exceeded",
       "Requests to the ChatCompletions_Create Operation"},
      {"error_401.azure.json", 401, "authentication_error", "invalid_api_key",
       "Access denied due to invalid subscription key"},
      {"error_deployment_not_found.azure.json", 404, "not_found_error", "DeploymentNotFound",
       "The API deployment for this resource does not exist."},
      {"error_context_length.azure.json", 400, "invalid_request_error", "context_length_exceeded",
       "This model's maximum context length is 128000 tokens."},
  };
  for (const auto& c : cases) {
    FakeOutput out = parse(chatCall("{}"), c.status, readData(c.file), SY_ERR_UPSTREAM);
    EXPECT_EQ(out.error.status, c.status) << c.file;
    EXPECT_EQ(out.error.type, c.type) << c.file;
    EXPECT_EQ(out.error.code, c.code) << c.file;
    EXPECT_EQ(out.error.message.rfind(c.message_start, 0), 0u)
        << c.file << ": " << out.error.message;
    EXPECT_EQ(out.count(SY_EVENT_RESPONSE), 0u);
  }
}

TEST_F(AzureOpenAiProviderTest, InnerErrorPolicyViolationMeansContentFilter) {
  // Older API versions name the policy only in innererror.
  FakeOutput out = parse(chatCall("{}"), 400,
                         R"({"error":{"code":"BadRequest","message":"filtered",
                             "innererror":{"code":"ResponsibleAIPolicyViolation"}}})",
                         SY_ERR_UPSTREAM);
  EXPECT_EQ(out.error.code, "content_filter");
  EXPECT_EQ(out.error.status, 400u);
}

TEST_F(AzureOpenAiProviderTest, UnknownArgumentIsUnsupportedParameter) {
  FakeOutput out = parse(chatCall("{}"), 400,
                         R"({"error":{"message":"Unrecognized request argument supplied: store",
                             "type":"invalid_request_error","param":null,"code":null}})",
                         SY_ERR_UPSTREAM);
  EXPECT_EQ(out.error.status, 400u);
  EXPECT_EQ(out.error.type, "invalid_request_error");
  EXPECT_EQ(out.error.code, "unsupported_parameter");
  EXPECT_EQ(out.error.message, "Unrecognized request argument supplied: store");
}

TEST_F(AzureOpenAiProviderTest, OddUpstreamAnswers) {
  FakeOutput html = parse(chatCall("{}"), 502, "<html>Bad Gateway</html>", SY_ERR_UPSTREAM);
  EXPECT_EQ(html.error.status, 502u);
  EXPECT_EQ(html.error.code, "bad_upstream_response");

  FakeOutput apim = parse(chatCall("{}"), 503,
                          R"({"statusCode":503,"message":"Service Unavailable"})", SY_ERR_UPSTREAM);
  EXPECT_EQ(apim.error.status, 503u);
  EXPECT_EQ(apim.error.message, "Service Unavailable");

  FakeOutput in_band = parse(chatCall("{}"), 200,
                             R"({"error":{"code":"500","message":"internal"}})", SY_ERR_UPSTREAM);
  EXPECT_EQ(in_band.error.status, 500u);

  const std::string huge(100000, 'x');
  FakeOutput long_message =
      parse(chatCall("{}"), 400, json{{"error", {{"message", huge}}}}.dump(), SY_ERR_UPSTREAM);
  EXPECT_LT(long_message.error.message.size(), 9000u);
}

// ---------------------------------------------------------------------------------------------
// Streams

TEST_F(AzureOpenAiProviderTest, StreamTextAtEverySplitDropsAnnotationAndUsageChunks) {
  const std::string sse = readData("stream_text.sse");
  const std::vector<json> expected = readJsonLines("stream_text.expected.jsonl");
  const auto call = chatCall(R"({"messages":[],"stream":true})", true);
  for (size_t cut = 0; cut <= sse.size(); ++cut) {
    const std::string_view all(sse);
    sy_status status = SY_ERR_INTERNAL;
    FakeOutput out = runStream(*provider_, call, {all.substr(0, cut), all.substr(cut)}, &status);
    ASSERT_EQ(status, SY_OK) << "cut " << cut << ": " << out.error.message;
    ASSERT_EQ(parsed(out.payloads(SY_EVENT_CHUNK)), expected) << "cut " << cut;
    ASSERT_EQ(
        out.payloads(SY_EVENT_USAGE),
        std::vector<std::string>{R"({"prompt_tokens":12,"completion_tokens":7,"total_tokens":19})"})
        << "cut " << cut;
    ASSERT_EQ(out.count(SY_EVENT_DONE), 1u) << "cut " << cut;
    // The core writes each CHUNK as one "data:" line; none may span lines.
    for (const auto& p : out.payloads(SY_EVENT_CHUNK)) ASSERT_EQ(p.find('\n'), std::string::npos);
  }
}

TEST_F(AzureOpenAiProviderTest, StreamByteByByteWithUsageChunkWhenAsked) {
  const std::string sse = readData("stream_text.sse");
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < sse.size(); ++i) bytes.push_back(std::string_view(sse).substr(i, 1));
  const auto call =
      chatCall(R"({"messages":[],"stream":true,"stream_options":{"include_usage":true}})", true);
  FakeOutput out = runStream(*provider_, call, bytes);
  const auto chunks = parsed(out.payloads(SY_EVENT_CHUNK));
  ASSERT_EQ(chunks.size(), 6u);  // 5 with choices + the usage chunk; never the prompt frame
  EXPECT_TRUE(chunks.back()["choices"].empty());
  EXPECT_EQ(chunks.back()["usage"]["total_tokens"], 19);
  for (const auto& c : chunks) EXPECT_FALSE(c.contains("prompt_filter_results"));
  EXPECT_EQ(out.count(SY_EVENT_DONE), 1u);
}

TEST_F(AzureOpenAiProviderTest, StreamToolCallsAtEverySplit) {
  const std::string sse = readData("stream_tools.sse");
  const std::vector<json> expected = readJsonLines("stream_tools.expected.jsonl");
  const auto call = chatCall(R"({"messages":[],"stream":true})", true);
  for (size_t cut = 0; cut <= sse.size(); ++cut) {
    const std::string_view all(sse);
    FakeOutput out = runStream(*provider_, call, {all.substr(0, cut), all.substr(cut)});
    ASSERT_EQ(parsed(out.payloads(SY_EVENT_CHUNK)), expected) << "cut " << cut;
    ASSERT_EQ(out.count(SY_EVENT_DONE), 1u);
  }
  // What an OpenAI client assembles from the deltas.
  FakeOutput out = runStream(*provider_, call, {sse});
  std::string text;
  std::map<int, json> calls;
  bool text_with_call = false;
  std::string finish;
  for (const auto& c : parsed(out.payloads(SY_EVENT_CHUNK))) {
    const json& delta = c["choices"][0]["delta"];
    text += delta.value("content", "");
    for (const auto& tc : delta.value("tool_calls", json::array())) {
      json& acc = calls[tc["index"].get<int>()];
      if (tc.contains("id")) acc["id"] = tc["id"];
      if (tc["function"].contains("name")) acc["name"] = tc["function"]["name"];
      acc["arguments"] =
          acc.value("arguments", "") + tc["function"].value("arguments", std::string());
      text_with_call = text_with_call || !delta.value("content", "").empty();
    }
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, "Let me check.");
  EXPECT_TRUE(text_with_call);
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0]["id"], "call_5hfYr0yl9kQ7a1bD3pR6sXwZ");
  EXPECT_EQ(json::parse(calls[0]["arguments"].get<std::string>()),
            json::parse(R"({"location":"Seattle, WA"})"));
  EXPECT_EQ(json::parse(calls[1]["arguments"].get<std::string>()),
            json::parse(R"({"location":"Tacoma, WA"})"));
  EXPECT_EQ(finish, "tool_calls");
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE)[0])["completion_tokens"], 56);
}

TEST_F(AzureOpenAiProviderTest, StreamContentFilterFinishIsForwarded) {
  const std::string sse =
      "data: {\"choices\":[{\"content_filter_results\":{\"violence\":{\"filtered\":true,"
      "\"severity\":\"medium\"}},\"delta\":{},\"finish_reason\":\"content_filter\",\"index\":0}],"
      "\"created\":1,\"id\":\"c\",\"model\":\"gpt-4o\",\"object\":\"chat.completion.chunk\"}\n\n"
      "data: [DONE]\n\n";
  FakeOutput out = runStream(*provider_, chatCall("{}", true), {sse});
  ASSERT_EQ(out.count(SY_EVENT_CHUNK), 1u);
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_CHUNK)[0])["choices"][0]["finish_reason"],
            "content_filter");
  EXPECT_EQ(out.count(SY_EVENT_DONE), 1u);
}

TEST_F(AzureOpenAiProviderTest, StreamErrors) {
  const auto call = chatCall("{}", true);
  const std::string sse = readData("stream_text.sse");
  sy_status status = SY_OK;
  FakeOutput truncated =
      runStream(*provider_, call, {std::string_view(sse).substr(0, sse.size() / 2)}, &status);
  EXPECT_EQ(status, SY_ERR_UPSTREAM);
  EXPECT_EQ(truncated.error.status, 502u);
  EXPECT_EQ(truncated.error.code, "stream_truncated");
  EXPECT_EQ(truncated.count(SY_EVENT_DONE), 0u);

  FakeOutput in_band = runStream(
      *provider_, call,
      {"data: {\"error\":{\"code\":\"content_filter\",\"message\":\"blocked\",\"status\":400,"
       "\"innererror\":{\"code\":\"ResponsibleAIPolicyViolation\"}}}\n\n"},
      &status);
  EXPECT_EQ(status, SY_ERR_UPSTREAM);
  EXPECT_EQ(in_band.error.status, 400u);
  EXPECT_EQ(in_band.error.code, "content_filter");
  EXPECT_EQ(in_band.error.message, "blocked");

  FakeOutput garbage = runStream(*provider_, call, {"data: {not json\n\n"}, &status);
  EXPECT_EQ(status, SY_ERR_UPSTREAM);
  EXPECT_EQ(garbage.error.code, "malformed_chunk");

  // No blank line after the final [DONE]: still complete.
  FakeOutput done_no_blank = runStream(*provider_, call, {"data: [DONE]\n"}, &status);
  EXPECT_EQ(status, SY_OK);
  EXPECT_EQ(done_no_blank.count(SY_EVENT_DONE), 1u);
}

TEST_F(AzureOpenAiProviderTest, StreamAnsweredWithJsonError) {
  FakeOutput out;
  auto stream = provider_->openStream(
      chatCall("{}", true), UpstreamAnswer{200, {{"content-type", "application/json"}}, {}});
  ASSERT_NE(stream, nullptr);
  const std::string body = readData("error_content_filter.azure.json");
  ASSERT_EQ(stream->data(std::string_view(body).substr(0, 10), out), SY_OK);
  ASSERT_EQ(stream->data(std::string_view(body).substr(10), out), SY_OK);
  EXPECT_EQ(stream->end(out), SY_ERR_UPSTREAM);
  EXPECT_EQ(out.error.status, 400u);
  EXPECT_EQ(out.error.code, "content_filter");
}

}  // namespace
}  // namespace switchyard
