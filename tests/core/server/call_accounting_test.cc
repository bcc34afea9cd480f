// What the data plane measures besides relaying: usage as providers report it, the estimate
// where they do not, the assembled stream, the overhead header and the record's JSON.
#include "server/call_accounting.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

namespace switchyard {
namespace {

using nlohmann::json;

TEST(TokenUsage, ReadsTheFlatEventAndOpenAiNestedDetails) {
  auto flat = TokenUsage::fromJson(
      R"({"prompt_tokens":100,"completion_tokens":20,"total_tokens":120,"cached_tokens":60,
          "cache_creation_tokens":30,"reasoning_tokens":8,"estimated":true})");
  ASSERT_TRUE(flat);
  EXPECT_EQ(flat->prompt_tokens, 100);
  EXPECT_EQ(flat->cached_tokens, 60);
  EXPECT_EQ(flat->cache_creation_tokens, 30);
  EXPECT_EQ(flat->reasoning_tokens, 8);
  EXPECT_TRUE(flat->estimated);

  auto nested = TokenUsage::fromJson(
      R"({"prompt_tokens":10,"completion_tokens":5,"prompt_tokens_details":{"cached_tokens":4},
          "completion_tokens_details":{"reasoning_tokens":3}})");
  ASSERT_TRUE(nested);
  EXPECT_EQ(nested->total_tokens, 15);
  EXPECT_EQ(nested->cached_tokens, 4);
  EXPECT_EQ(nested->reasoning_tokens, 3);
  EXPECT_FALSE(nested->estimated);

  EXPECT_FALSE(TokenUsage::fromJson("[1,2]"));
  EXPECT_FALSE(TokenUsage::fromJson("{broken"));
  auto hostile = TokenUsage::fromJson(R"({"prompt_tokens":-5,"completion_tokens":"7","cached_tokens":1.5})");
  ASSERT_TRUE(hostile);
  EXPECT_EQ(hostile->prompt_tokens, 0);
  EXPECT_EQ(hostile->completion_tokens, 0);
  EXPECT_EQ(hostile->cached_tokens, 0);
}

TEST(UsageEstimate, CountsAboutFourCharactersATokenOfWhatTheModelReadsAndWrote) {
  // Prompt: "Hello there!" (12) + "sum" (3) + "{\"a\":1}" (7) = 22 characters → 6 tokens;
  // the model name, roles and types are not text the model reads.
  const std::string request =
      R"({"model":"a-very-long-model-name","messages":[{"role":"user","content":"Hello there!"},
          {"role":"assistant","content":null,"tool_calls":[{"type":"function","function":{"name":"sum","arguments":"{\"a\":1}"}}]}]})";
  // Completion: "héllo" (5 code points, 6 bytes) + "{\"x\":2}" (7) = 12 → 3 tokens.
  const std::string answer =
      R"({"choices":[{"index":0,"message":{"role":"assistant","content":"h\u00e9llo",
          "tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{\"x\":2}"}}]},"finish_reason":"stop"}]})";
  EXPECT_EQ(completionChars(answer), 12u);
  TokenUsage u = estimateUsage(request, completionChars(answer));
  EXPECT_EQ(u.prompt_tokens, 6);
  EXPECT_EQ(u.completion_tokens, 3);
  EXPECT_EQ(u.total_tokens, 9);
  EXPECT_TRUE(u.estimated);
  // Embeddings: strings and token-id arrays under "input".
  EXPECT_EQ(estimateUsage(R"({"model":"e","input":["abcd","efgh"]})", 0).prompt_tokens, 2);
  EXPECT_EQ(estimateUsage(R"({"model":"e","input":[1,2,3]})", 0).prompt_tokens, 3);
  // Garbage in: no crash, nothing counted past the error.
  EXPECT_EQ(estimateUsage("\xff\xfe{{", 0).prompt_tokens, 0);
}

TEST(UsageEstimate, CountsTheSameWhetherTheTextIsScannedOrParsed) {
  // Plain text takes the scanner; escapes, refused numbers and broken text go to nlohmann,
  // which counts up to where it stops.
  EXPECT_EQ(completionChars(R"({"choices":[{"delta":{"content":"héllo"}}]})"), 5u);
  EXPECT_EQ(completionChars(R"({"choices":[{"delta":{"content":"h\u00e9llo"}}]})"), 5u);
  EXPECT_EQ(completionChars(
                R"({"choices":[{"delta":{"content":"ab","tool_calls":[{"function":{"name":"f","arguments":"{}"}}]}}]})"),
            4u);
  EXPECT_EQ(completionChars(R"({"content":["ab","cd"],"model":"xyz"})"), 4u);
  EXPECT_EQ(completionChars(R"({"content":"ab","n":1e999,"reasoning":"cd"})"), 2u);
  EXPECT_EQ(completionChars(R"({"content":"ab","n":1.5,"reasoning":"cd"})"), 4u);
  EXPECT_EQ(completionChars(R"({"choices":[{"delta":{"content":"abc"}},{"delta":{"content":"de)"), 3u);
  EXPECT_EQ(completionChars(R"({"content":"ab"} trailing)"), 2u);
  EXPECT_EQ(estimateUsage(R"({"model":"e","input":[[1,2],[3]]})", 0).prompt_tokens, 3);
  EXPECT_EQ(estimateUsage(R"({"model":"e","input":[1,2,3,4,5]})", 0).prompt_tokens, 5);
}

std::vector<std::string> toolStream() {
  return {
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""}}]})",
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"Let me "}}]})",
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"content":"check.","tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]}}]})",
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"loc"}},{"index":1,"id":"call_b","type":"function","function":{"name":"get_time","arguments":"{}"}}]}}]})",
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\":\"Paris\"}"}}]}}]})",
      R"({"id":"chatcmpl-1","object":"chat.completion.chunk","created":7,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]})",
      "not json at all",
  };
}

TEST(StreamContent, AssemblesTheFinalMessageWithToolCalls) {
  StreamContent content(true);
  for (const auto& c : toolStream()) {
    content.add(c);
  }
  TokenUsage usage;
  usage.prompt_tokens = 9;
  usage.completion_tokens = 4;
  usage.total_tokens = 13;
  json got = json::parse(content.assembled(usage));
  EXPECT_EQ(got["object"], "chat.completion");
  EXPECT_EQ(got["id"], "chatcmpl-1");
  EXPECT_EQ(got["created"], 7);
  const json& choice = got["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_EQ(choice["message"]["role"], "assistant");
  EXPECT_EQ(choice["message"]["content"], "Let me check.");
  ASSERT_EQ(choice["message"]["tool_calls"].size(), 2u);
  EXPECT_EQ(choice["message"]["tool_calls"][0]["id"], "call_a");
  EXPECT_EQ(choice["message"]["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(choice["message"]["tool_calls"][0]["function"]["arguments"], "{\"loc\":\"Paris\"}");
  EXPECT_EQ(choice["message"]["tool_calls"][1]["function"]["name"], "get_time");
  EXPECT_EQ(got["usage"]["total_tokens"], 13);
  // "Let me check." (13) + arguments (15 + 2) = 30 characters either way of counting.
  EXPECT_EQ(content.completionChars(), 30u);
  StreamContent counting(false);
  for (const auto& c : toolStream()) {
    counting.add(c);
  }
  EXPECT_EQ(counting.completionChars(), 30u);
  EXPECT_EQ(counting.assembled(usage), "");
}

/// Records what reaches the wire.
class FakeWriter : public HttpResponseWriter {
public:
  void setHeader(const std::string& name, const std::string& value) override { headers.emplace_back(name, value); }
  bool send(int, std::string_view, std::string_view) override { return sent = true; }
  bool beginStream(int, std::string_view) override { return sent = true; }
  bool write(std::string_view) override { return true; }
  void closeAfter() override {}
  bool started() const override { return sent; }
  HeaderList headers;
  bool sent = false;
};

TEST(OverheadHeader, SubtractsUpstreamWaitAndIsStampedOnceWhenNested) {
  FakeWriter wire;
  const auto start = std::chrono::steady_clock::now();
  OverheadStampingWriter outer(wire, start);
  std::optional<double> upstream_ms;
  OverheadStampingWriter inner(outer, start, &upstream_ms);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  upstream_ms = 1e6; // more than elapsed: never negative
  inner.send(200, "application/json", "{}");
  ASSERT_EQ(wire.headers.size(), 1u);
  EXPECT_EQ(wire.headers[0].first, kOverheadHeader);
  EXPECT_EQ(wire.headers[0].second, "0.000");

  FakeWriter plain;
  OverheadStampingWriter only(plain, start);
  only.beginStream(200, "text/event-stream");
  ASSERT_EQ(plain.headers.size(), 1u);
  EXPECT_GE(std::stod(plain.headers[0].second), 30.0);
}

TEST(CallRecordJson, CarriesTheAgreedFieldsAndOmitsWhatIsUnknown) {
  CallRecord r;
  r.request_id = "req-1";
  r.start_unix_ms = 1000;
  r.end_unix_ms = 1042;
  r.latency_ms = 42;
  r.upstream_ms = 30;
  r.ttft_ms = 12;
  r.api = "/v1/chat/completions";
  TokenUsage u;
  u.prompt_tokens = 10;
  u.completion_tokens = 2;
  u.total_tokens = 12;
  u.cached_tokens = 4;
  r.usage = u;
  CallCost cost;
  cost.total_usd = 0.5;
  cost.input_usd = 0.25;
  cost.output_usd = 0.25;
  cost.price_date = "2026-11-26";
  cost.catalog_id = "m";
  r.cost = cost;
  r.request_body = "{\"a\":1}";
  r.response_body = "{\"b\"";
  r.response_body_truncated = true;
  r.response_text = "never serialized";
  json j = json::parse(r.toJson());
  EXPECT_EQ(j["schema"], "switchyard.call.v1");
  EXPECT_EQ(j["end_unix_ms"], 1042);
  EXPECT_EQ(j["ttft_ms"], 12.0);
  EXPECT_EQ(j["upstream_ms"], 30.0);
  EXPECT_EQ(j["gateway_overhead_ms"], 12.0);
  EXPECT_EQ(j["api"], "/v1/chat/completions");
  EXPECT_EQ(j["usage"]["cached_tokens"], 4);
  EXPECT_EQ(j["usage"]["cache_creation_tokens"], 0);
  EXPECT_EQ(j["usage"]["reasoning_tokens"], 0);
  EXPECT_EQ(j["usage"]["estimated"], false);
  EXPECT_EQ(j["cost_usd"], 0.5);
  EXPECT_EQ(j["cost"]["price_date"], "2026-11-26");
  EXPECT_EQ(j["request_body"], "{\"a\":1}");
  EXPECT_FALSE(j.contains("request_body_truncated"));
  EXPECT_EQ(j["response_body_truncated"], true);
  EXPECT_EQ(r.toJson().find("never serialized"), std::string::npos);

  CallRecord bare;
  bare.latency_ms = 3;
  json b = json::parse(bare.toJson());
  for (const char* absent : {"usage", "cost", "cost_usd", "upstream_ms", "ttft_ms", "request_body", "response_body",
                             "request_headers"}) {
    EXPECT_FALSE(b.contains(absent)) << absent;
  }
  EXPECT_EQ(b["gateway_overhead_ms"], 3.0);
}

} // namespace
} // namespace switchyard
