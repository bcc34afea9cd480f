// Behaviour of the "cohere" provider plugin, loaded from its built library: golden request and
// response translations (tests/plugins/cohere/data), streams split at every byte, tool calls,
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

constexpr const char* kSecretKey = "co-test-SECRET-0123456789abcdef";
constexpr int64_t kNowMs = 1732600000000;

std::string readData(const std::string& name) {
  std::ifstream in(std::string(COHERE_TEST_DATA_DIR) + "/" + name, std::ios::binary);
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

class CohereProviderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    host_.setNowUnixMs(kNowMs);
    plugin_ = std::make_unique<LoadedPlugin>(SY_TEST_PLUGIN_PATH, host_);
    provider_ = create("{}");
    ASSERT_NE(provider_, nullptr);
  }
  void TearDown() override {
    EXPECT_FALSE(host_.logsContain(kSecretKey));
    provider_.reset();
    plugin_.reset();
  }

  std::unique_ptr<ProviderInstance> create(const std::string& config) {
    auto created = plugin_->createProvider("cohere", config);
    EXPECT_TRUE(created.ok()) << created.output.error.message;
    return std::move(created.instance);
  }

  static ProviderCall chatCall(std::string body, bool stream = false) {
    ProviderCall call;
    call.operation = SY_OP_CHAT_COMPLETIONS;
    call.stream = stream;
    call.body = std::move(body);
    call.public_model = "command-a";
    call.upstream_model = "command-a-03-2025";
    call.base_url = "https://api.cohere.com/v2";
    call.api_key = kSecretKey;
    return call;
  }

  static ProviderCall embedCall(std::string body) {
    ProviderCall call = chatCall(std::move(body));
    call.operation = SY_OP_EMBEDDINGS;
    call.upstream_model = "embed-v4.0";
    return call;
  }

  /// The error of a chat request that must be refused.
  FakeOutput refused(const std::string& body) {
    FakeOutput out;
    EXPECT_NE(provider_->buildRequest(chatCall(body), out), SY_OK) << body;
    EXPECT_EQ(out.error.status, 400u) << body;
    EXPECT_TRUE(out.body.empty());
    return out;
  }

  FakeOutput runStream(const std::string& request, const std::vector<std::string_view>& pieces,
                       sy_status* end_status = nullptr) {
    FakeOutput out;
    auto stream = provider_->openStream(
        chatCall(request, true), UpstreamAnswer{200, {{"content-type", "text/event-stream"}}, {}});
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

  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
  std::unique_ptr<ProviderInstance> provider_;
};

TEST_F(CohereProviderTest, DeclaresOneProviderComponentAndValidatesConfig) {
  EXPECT_EQ(testing::toView(plugin_->info().name), "cohere");
  ASSERT_NE(plugin_->find(SY_KIND_PROVIDER, "cohere"), nullptr);
  EXPECT_NE(create(""), nullptr);
  EXPECT_NE(create(R"({"embed_input_type":"search_query"})"), nullptr);
  for (const char* bad : {R"({"embed_input_type":"query"})", R"({"input_type":"x"})", "[1]"}) {
    auto created = plugin_->createProvider("cohere", bad);
    EXPECT_FALSE(created.ok()) << bad;
    EXPECT_EQ(created.output.error.code, "invalid_config") << bad;
  }
}

TEST_F(CohereProviderTest, GoldenChatRequest) {
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(chatCall(readData("chat_request.openai.json")), out), SY_OK)
      << out.error.message;
  EXPECT_EQ(out.method, "POST");
  EXPECT_EQ(out.path, "/chat");
  const testing::HeaderList expected_headers = {
      {"Content-Type", "application/json"}, {"Authorization", std::string("Bearer ") + kSecretKey}};
  EXPECT_EQ(out.headers, expected_headers);
  EXPECT_EQ(json::parse(out.body), readJson("chat_request.cohere.json")) << out.body;
}

TEST_F(CohereProviderTest, StreamRequestAndMappedOptions) {
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(
                chatCall(R"({"messages":[{"role":"user","content":"hi"}],"stream":true,
                  "stream_options":{"include_usage":true},"tool_choice":"required",
                  "response_format":{"type":"json_schema","json_schema":{"name":"x",
                    "schema":{"type":"object"}}},"max_completion_tokens":5,
                  "frequency_penalty":0.5,"n":1,"parallel_tool_calls":true})",
                         true),
                out),
            SY_OK)
      << out.error.message;
  EXPECT_EQ(out.header("Accept"), "text/event-stream");
  EXPECT_EQ(json::parse(out.body), json::parse(R"({"model":"command-a-03-2025",
    "messages":[{"role":"user","content":"hi"}],"tool_choice":"REQUIRED",
    "response_format":{"type":"json_object","json_schema":{"type":"object"}},"max_tokens":5,
    "frequency_penalty":0.5,"stream":true})"));
}

TEST_F(CohereProviderTest, ExtrasAreDroppedAndReported) {
  FakeOutput out;
  ASSERT_EQ(provider_->buildRequest(
                chatCall(R"({"messages":[{"role":"user","content":"hi"}],"logprobs":true,
                  "top_logprobs":2,"store":true,"user":"u-1","service_tier":"auto"})"),
                out),
            SY_OK)
      << out.error.message;
  const auto sent = nlohmann::json::parse(out.body);
  for (const char* k : {"logprobs", "top_logprobs", "store", "user", "service_tier"}) {
    EXPECT_FALSE(sent.contains(k)) << k;
  }
  // service_tier "auto" is what not sending it means: nothing to report.
  EXPECT_EQ(out.dropped_params,
            (std::vector<std::string>{"logprobs", "top_logprobs", "store", "user"}));
}

TEST_F(CohereProviderTest, UnsupportedParametersAreRefusedByName) {
  for (const char* param :
       {R"("logit_bias":{"1":2})", R"("n":2)", R"("reasoning_effort":"high")",
        R"("parallel_tool_calls":false)",
        R"("tool_choice":{"type":"function","function":{"name":"f"}})", R"("something_new":1)"}) {
    const std::string body =
        std::string(R"({"messages":[{"role":"user","content":"hi"}],)") + param + "}";
    FakeOutput out = refused(body);
    EXPECT_EQ(out.error.code, "unsupported_parameter") << param;
    const std::string name = std::string(param).substr(1, std::string(param).find('"', 1) - 1);
    EXPECT_NE(out.error.message.find(name), std::string::npos) << out.error.message;
  }
  EXPECT_EQ(refused(R"({"messages":[]})").error.code, "invalid_value");
  EXPECT_EQ(refused(R"({"messages":[{"role":"user","content":"hi"}],"max_tokens":0})").error.code,
            "invalid_value");
  EXPECT_EQ(refused(R"({"messages":[{"role":"tool","content":"x"}]})").error.code, "invalid_value");
  EXPECT_EQ(refused("[1]").error.code, "invalid_json");
  EXPECT_EQ(refused("{").error.code, "invalid_json");
}

TEST_F(CohereProviderTest, KeyHandling) {
  auto call = chatCall(R"({"messages":[{"role":"user","content":"hi"}]})");
  call.api_key = std::string(kSecretKey) + "\n";
  FakeOutput trimmed;
  ASSERT_EQ(provider_->buildRequest(call, trimmed), SY_OK);
  EXPECT_EQ(trimmed.header("Authorization"), std::string("Bearer ") + kSecretKey);
  call.api_key = std::string(kSecretKey) + "\r\nX: 1";
  FakeOutput bad;
  EXPECT_NE(provider_->buildRequest(call, bad), SY_OK);
  EXPECT_EQ(bad.error.status, 500u);
  EXPECT_FALSE(bad.contains(kSecretKey));
}

TEST_F(CohereProviderTest, GoldenChatAndToolResponses) {
  FakeOutput out;
  ASSERT_EQ(
      provider_->parseResponse(chatCall("{}"),
                               UpstreamAnswer{200, {}, readData("chat_response.cohere.json")}, out),
      SY_OK);
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_RESPONSE)[0]), readJson("chat_response.openai.json"));
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE)[0]),
            json::parse(R"({"prompt_tokens":71,"completion_tokens":25,"total_tokens":96})"));

  FakeOutput tools;
  ASSERT_EQ(provider_->parseResponse(
                chatCall("{}"),
                UpstreamAnswer{200, {}, readData("tool_calls_response.cohere.json")}, tools),
            SY_OK);
  EXPECT_EQ(json::parse(tools.payloads(SY_EVENT_RESPONSE)[0]),
            readJson("tool_calls_response.openai.json"));
}

TEST_F(CohereProviderTest, FinishReasonsAndBilledUnitsFallback) {
  const std::pair<const char*, const char*> cases[] = {{"COMPLETE", "stop"},
                                                       {"STOP_SEQUENCE", "stop"},
                                                       {"MAX_TOKENS", "length"},
                                                       {"TOOL_CALL", "tool_calls"},
                                                       {"ERROR", "error"}};
  for (const auto& [cohere, openai] : cases) {
    json body = readJson("chat_response.cohere.json");
    body["finish_reason"] = cohere;
    body["usage"].erase("tokens");
    FakeOutput out;
    ASSERT_EQ(provider_->parseResponse(chatCall("{}"), UpstreamAnswer{200, {}, body.dump()}, out),
              SY_OK);
    const json r = json::parse(out.payloads(SY_EVENT_RESPONSE)[0]);
    EXPECT_EQ(r["choices"][0]["finish_reason"], openai) << cohere;
    EXPECT_EQ(r["usage"]["prompt_tokens"], 5);
  }
}

TEST_F(CohereProviderTest, GoldenEmbeddings) {
  FakeOutput req;
  ASSERT_EQ(provider_->buildRequest(embedCall(R"({"model":"e","input":["hello","goodbye"]})"), req),
            SY_OK);
  EXPECT_EQ(req.path, "/embed");
  EXPECT_EQ(json::parse(req.body), readJson("embed_request.cohere.json"));

  auto query = create(R"({"embed_input_type":"search_query"})");
  FakeOutput q;
  ASSERT_EQ(query->buildRequest(embedCall(R"({"input":"hi","dimensions":256})"), q), SY_OK);
  EXPECT_EQ(json::parse(q.body)["input_type"], "search_query");
  EXPECT_EQ(json::parse(q.body)["output_dimension"], 256);
  EXPECT_EQ(json::parse(q.body)["texts"], json({"hi"}));

  FakeOutput bad;
  EXPECT_NE(provider_->buildRequest(embedCall(R"({"input":[[1,2]]})"), bad), SY_OK);
  EXPECT_EQ(bad.error.code, "unsupported_parameter");

  FakeOutput out;
  ASSERT_EQ(
      provider_->parseResponse(
          embedCall("{}"), UpstreamAnswer{200, {}, readData("embed_response.cohere.json")}, out),
      SY_OK);
  const json r = json::parse(out.payloads(SY_EVENT_RESPONSE)[0]);
  EXPECT_EQ(r["object"], "list");
  ASSERT_EQ(r["data"].size(), 2u);
  EXPECT_EQ(r["data"][1]["index"], 1);
  EXPECT_EQ(r["data"][1]["embedding"], json::parse("[0.05303955,0.011260986,-0.010086060]"));
  EXPECT_EQ(json::parse(out.payloads(SY_EVENT_USAGE)[0]),
            json::parse(R"({"prompt_tokens":2,"total_tokens":2,"completion_tokens":0})"));
}

TEST_F(CohereProviderTest, ErrorsKeepStatusAndMessage) {
  struct Case {
    const char* file;
    uint32_t status;
    const char* type;
    const char* code;
  };
  for (const Case& c :
       {Case{"error_401.cohere.json", 401, "authentication_error", "invalid_api_key"},
        Case{"error_429.cohere.json", 429, "rate_limit_error", "rate_limit_exceeded"},
        Case{"error_400.cohere.json", 400, "invalid_request_error", "invalid_request"}}) {
    FakeOutput out;
    EXPECT_EQ(provider_->parseResponse(chatCall("{}"),
                                       UpstreamAnswer{c.status, {}, readData(c.file)}, out),
              SY_ERR_UPSTREAM);
    EXPECT_EQ(out.error.status, c.status) << c.file;
    EXPECT_EQ(out.error.type, c.type) << c.file;
    EXPECT_EQ(out.error.code, c.code) << c.file;
    EXPECT_EQ(out.error.message, readJson(c.file)["message"]) << c.file;
  }
  FakeOutput html;
  EXPECT_EQ(provider_->parseResponse(chatCall("{}"), UpstreamAnswer{503, {}, "<html>"}, html),
            SY_ERR_UPSTREAM);
  EXPECT_EQ(html.error.status, 502u);
}

TEST_F(CohereProviderTest, StreamTextAtEverySplit) {
  const std::string sse = readData("stream_text.sse");
  const std::vector<json> expected = readJsonLines("stream_text.expected.jsonl");
  for (size_t cut = 0; cut <= sse.size(); ++cut) {
    const std::string_view all(sse);
    sy_status status = SY_ERR_INTERNAL;
    FakeOutput out =
        runStream(R"({"messages":[]})", {all.substr(0, cut), all.substr(cut)}, &status);
    ASSERT_EQ(status, SY_OK) << "cut " << cut << ": " << out.error.message;
    ASSERT_EQ(parsed(out.payloads(SY_EVENT_CHUNK)), expected) << "cut " << cut;
    ASSERT_EQ(out.payloads(SY_EVENT_USAGE),
              std::vector<std::string>{
                  R"({"prompt_tokens":69,"completion_tokens":9,"total_tokens":78})"});
    ASSERT_EQ(out.count(SY_EVENT_DONE), 1u);
  }
}

TEST_F(CohereProviderTest, StreamToolsAtEverySplitAndByteByByte) {
  const std::string sse = readData("stream_tools.sse");
  const std::vector<json> expected = readJsonLines("stream_tools.expected.jsonl");
  for (size_t cut = 0; cut <= sse.size(); ++cut) {
    const std::string_view all(sse);
    FakeOutput out = runStream(R"({"messages":[]})", {all.substr(0, cut), all.substr(cut)});
    ASSERT_EQ(parsed(out.payloads(SY_EVENT_CHUNK)), expected) << "cut " << cut;
  }
  std::vector<std::string_view> bytes;
  for (size_t i = 0; i < sse.size(); ++i) bytes.push_back(std::string_view(sse).substr(i, 1));
  FakeOutput out = runStream(R"({"messages":[],"stream_options":{"include_usage":true}})", bytes);
  const auto chunks = parsed(out.payloads(SY_EVENT_CHUNK));
  ASSERT_EQ(chunks.size(), expected.size() + 1);
  EXPECT_TRUE(chunks.back()["choices"].empty());
  EXPECT_EQ(chunks.back()["usage"]["total_tokens"], 1104);
  // What an OpenAI client assembles.
  std::map<int, std::string> args;
  std::string text;
  for (const auto& c : chunks) {
    if (c["choices"].empty()) continue;
    const json& d = c["choices"][0]["delta"];
    text += d.value("content", "");
    for (const auto& tc : d.value("tool_calls", json::array())) {
      args[tc["index"].get<int>()] += tc["function"].value("arguments", "");
    }
  }
  EXPECT_EQ(text, "I will look up the weather in Toronto and Ottawa.");
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(json::parse(args[0]), json::parse(R"({"location":"Toronto"})"));
  EXPECT_EQ(json::parse(args[1]), json::parse(R"({"location":"Ottawa"})"));
}

TEST_F(CohereProviderTest, StreamErrors) {
  const std::string sse = readData("stream_text.sse");
  sy_status status = SY_OK;
  FakeOutput truncated =
      runStream("{}", {std::string_view(sse).substr(0, sse.size() / 2)}, &status);
  EXPECT_EQ(status, SY_ERR_UPSTREAM);
  EXPECT_EQ(truncated.error.code, "stream_truncated");
  EXPECT_EQ(truncated.count(SY_EVENT_DONE), 0u);

  FakeOutput garbage = runStream("{}", {"data: {oops\n\n"}, &status);
  EXPECT_EQ(status, SY_ERR_UPSTREAM);
  EXPECT_EQ(garbage.error.code, "malformed_chunk");

  FakeOutput in_band =
      runStream("{}", {"data: {\"message\":\"internal server error\"}\n\n"}, &status);
  EXPECT_EQ(status, SY_ERR_UPSTREAM);
  EXPECT_EQ(in_band.error.status, 502u);
  EXPECT_EQ(in_band.error.message, "internal server error");

  // message-end without the final blank line still completes the stream.
  FakeOutput no_blank = runStream(
      "{}", {"data: {\"type\":\"message-end\",\"delta\":{\"finish_reason\":\"COMPLETE\"}}"},
      &status);
  EXPECT_EQ(status, SY_OK);
  EXPECT_EQ(no_blank.count(SY_EVENT_DONE), 1u);
}

}  // namespace
}  // namespace switchyard
