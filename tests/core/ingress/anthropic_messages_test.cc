// Golden pairs for /v1/messages ⇄ unified chat. The Anthropic sides are the examples of
// Anthropic's documentation (Messages API reference, tool use overview, streaming guide,
// errors page); the unified sides are OpenAI's documented chat completion shapes.
#include "switchyard/ingress/anthropic_messages.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/named_sse.h"

namespace switchyard::ingress {
namespace {

using nlohmann::json;  // unordered: golden comparisons ignore key order

json asJson(const Json& j) {
  return json::parse(j.dump());
}

json toChat(const json& anthropic) {
  Json chat;
  auto e = anthropicRequestToChat(Json::parse(anthropic.dump()), chat);
  EXPECT_FALSE(e) << (e ? e->message : "");
  return asJson(chat);
}

ApiError rejected(const json& anthropic) {
  Json chat;
  auto e = anthropicRequestToChat(Json::parse(anthropic.dump()), chat);
  EXPECT_TRUE(e);
  return e.value_or(ApiError{});
}

TEST(AnthropicRequest, DocumentationToolUseExampleBecomesUnifiedChat) {
  // Tool use overview: get_weather, the model's tool_use, the client's tool_result.
  const json request = json::parse(R"({
    "model": "claude-sonnet-4-5",
    "max_tokens": 1024,
    "system": "You are a weather bot.",
    "tools": [{
      "name": "get_weather",
      "description": "Get the current weather in a given location",
      "input_schema": {"type": "object",
                       "properties": {"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"}},
                       "required": ["location"]}
    }],
    "tool_choice": {"type": "auto", "disable_parallel_tool_use": true},
    "messages": [
      {"role": "user", "content": "What's the weather like in San Francisco?"},
      {"role": "assistant", "content": [
        {"type": "text", "text": "I'll check the current weather in San Francisco for you."},
        {"type": "tool_use", "id": "toolu_01A09q90qw90lq917835lq9", "name": "get_weather",
         "input": {"location": "San Francisco, CA"}}]},
      {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees"},
        {"type": "text", "text": "And tomorrow?"}]}
    ],
    "stop_sequences": ["\n\nHuman:"],
    "temperature": 0.5,
    "top_p": 0.9,
    "top_k": 40,
    "metadata": {"user_id": "user-123"},
    "stream": true
  })");
  const json expected = json::parse(R"({
    "model": "claude-sonnet-4-5",
    "messages": [
      {"role": "system", "content": "You are a weather bot."},
      {"role": "user", "content": "What's the weather like in San Francisco?"},
      {"role": "assistant", "content": "I'll check the current weather in San Francisco for you.",
       "tool_calls": [{"id": "toolu_01A09q90qw90lq917835lq9", "type": "function",
                       "function": {"name": "get_weather", "arguments": "{\"location\":\"San Francisco, CA\"}"}}]},
      {"role": "tool", "tool_call_id": "toolu_01A09q90qw90lq917835lq9", "content": "15 degrees"},
      {"role": "user", "content": "And tomorrow?"}
    ],
    "max_tokens": 1024,
    "tools": [{"type": "function", "function": {
      "name": "get_weather",
      "description": "Get the current weather in a given location",
      "parameters": {"type": "object",
                     "properties": {"location": {"type": "string", "description": "The city and state, e.g. San Francisco, CA"}},
                     "required": ["location"]}}}],
    "tool_choice": "auto",
    "parallel_tool_calls": false,
    "stop": ["\n\nHuman:"],
    "temperature": 0.5,
    "top_p": 0.9,
    "top_k": 40,
    "user": "user-123",
    "stream": true,
    "stream_options": {"include_usage": true}
  })");
  EXPECT_EQ(toChat(request), expected);
}

TEST(AnthropicRequest, SystemBlocksImagesAndToolChoices) {
  const json request = json::parse(R"({
    "model": "m", "max_tokens": 10,
    "system": [{"type": "text", "text": "one", "cache_control": {"type": "ephemeral"}}, {"type": "text", "text": "two"}],
    "tool_choice": {"type": "tool", "name": "get_weather"},
    "messages": [{"role": "user", "content": [
      {"type": "image", "source": {"type": "base64", "media_type": "image/jpeg", "data": "/9j/4AAQ"}},
      {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.png"}},
      {"type": "text", "text": "What is in these images?"}]}]
  })");
  const json chat = toChat(request);
  EXPECT_EQ(chat["messages"][0], json({{"role", "system"}, {"content", "one"}}));
  EXPECT_EQ(chat["messages"][1], json({{"role", "system"}, {"content", "two"}}));
  EXPECT_EQ(chat["messages"][2]["content"], json::parse(R"([
    {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64,/9j/4AAQ"}},
    {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
    {"type": "text", "text": "What is in these images?"}])"));
  EXPECT_EQ(chat["tool_choice"],
            json::parse(R"({"type":"function","function":{"name":"get_weather"}})"));
  EXPECT_FALSE(chat.contains("stream"));

  json any = request;
  any["tool_choice"] = {{"type", "any"}};
  EXPECT_EQ(toChat(any)["tool_choice"], "required");
  any["tool_choice"] = {{"type", "none"}};
  EXPECT_EQ(toChat(any)["tool_choice"], "none");
}

TEST(AnthropicRequest, ParallelToolResultsAndErrorResultsBecomeToolMessages) {
  const json request = json::parse(R"({"model": "m", "max_tokens": 10, "messages": [
    {"role": "user", "content": "weather and time in Paris?"},
    {"role": "assistant", "content": [
      {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
      {"type": "tool_use", "id": "toolu_2", "name": "get_time", "input": {}}]},
    {"role": "user", "content": [
      {"type": "tool_result", "tool_use_id": "toolu_1", "content": [{"type": "text", "text": "sunny"}]},
      {"type": "tool_result", "tool_use_id": "toolu_2", "content": "no clock", "is_error": true}]}]})");
  const json chat = toChat(request);
  ASSERT_EQ(chat["messages"].size(), 4u);
  EXPECT_TRUE(chat["messages"][1]["content"].is_null());
  EXPECT_EQ(chat["messages"][1]["tool_calls"].size(), 2u);
  EXPECT_EQ(chat["messages"][1]["tool_calls"][1]["function"]["arguments"], "{}");
  EXPECT_EQ(chat["messages"][2],
            json({{"role", "tool"}, {"tool_call_id", "toolu_1"}, {"content", "sunny"}}));
  EXPECT_EQ(chat["messages"][3],
            json({{"role", "tool"}, {"tool_call_id", "toolu_2"}, {"content", "Error: no clock"}}));
}

TEST(AnthropicRequest, RefusesWhatCannotBeTranslatedNamingIt) {
  const json base = {
      {"model", "m"}, {"max_tokens", 10}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}};
  json thinking = base;
  thinking["thinking"] = {{"type", "enabled"}, {"budget_tokens", 2048}};
  ApiError e = rejected(thinking);
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.code, "unsupported_parameter");
  EXPECT_NE(e.message.find("'thinking'"), std::string::npos);

  json disabled = base;
  disabled["thinking"] = {{"type", "disabled"}};
  EXPECT_FALSE(toChat(disabled).contains("thinking"));

  json server_tool = base;
  server_tool["tools"] = json::parse(R"([{"type": "web_search_20250305", "name": "web_search"}])");
  EXPECT_NE(rejected(server_tool).message.find("web_search_20250305"), std::string::npos);

  json unknown = base;
  unknown["frobnicate"] = 1;
  EXPECT_NE(rejected(unknown).message.find("'frobnicate'"), std::string::npos);

  json no_max = base;
  no_max.erase("max_tokens");
  EXPECT_NE(rejected(no_max).message.find("max_tokens"), std::string::npos);

  json document = base;
  document["messages"][0]["content"] =
      json::parse(R"([{"type": "document", "source": {"type": "text", "data": "x"}}])");
  EXPECT_NE(rejected(document).message.find("document"), std::string::npos);

  // Wrong types anywhere are a 400, never an exception.
  for (
      const char* bad :
      {R"({"model": 1, "max_tokens": 1, "messages": []})",
       R"({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": 7}]})",
       R"({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": [{"type": 3}]}]})",
       R"({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}], "tools": [{"name": 3}]})",
       R"({"model": "m", "max_tokens": 1, "messages": [{"role": "user", "content": "x"}], "tool_choice": "auto"})",
       R"([1, 2])"}) {
    EXPECT_EQ(rejected(json::parse(bad)).status, 400) << bad;
  }
}

TEST(AnthropicResponse, UnifiedCompletionWithTextAndToolCallBecomesMessage) {
  const Json completion = Json::parse(R"({
    "id": "chatcmpl-abc123", "object": "chat.completion", "created": 1741569952, "model": "gpt-4.1",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
      "role": "assistant", "content": "I'll check the current weather in San Francisco for you.",
      "tool_calls": [{"id": "call_abc", "type": "function",
                      "function": {"name": "get_weather", "arguments": "{\"location\": \"San Francisco, CA\"}"}}]}}],
    "usage": {"prompt_tokens": 484, "completion_tokens": 71, "total_tokens": 555,
              "prompt_tokens_details": {"cached_tokens": 84}}
  })");
  // The shape of the tool use overview's answer.
  const json expected = json::parse(R"({
    "id": "msg_abc123", "type": "message", "role": "assistant", "model": "claude-test",
    "content": [
      {"type": "text", "text": "I'll check the current weather in San Francisco for you."},
      {"type": "tool_use", "id": "toolu_call_abc", "name": "get_weather", "input": {"location": "San Francisco, CA"}}],
    "stop_reason": "tool_use", "stop_sequence": null,
    "usage": {"input_tokens": 400, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 84, "output_tokens": 71}
  })");
  EXPECT_EQ(asJson(chatToAnthropicMessage(completion, "claude-test")), expected);
}

TEST(AnthropicResponse, FinishReasonsMapToStopReasons) {
  for (auto [finish, stop] :
       std::vector<std::pair<const char*, const char*>>{{"stop", "end_turn"},
                                                        {"length", "max_tokens"},
                                                        {"tool_calls", "tool_use"},
                                                        {"content_filter", "refusal"}}) {
    Json c = {{"id", "x"},
              {"choices", {{{"message", {{"content", "a"}}}, {"finish_reason", finish}}}}};
    EXPECT_EQ(chatToAnthropicMessage(c, "m")["stop_reason"], stop) << finish;
  }
  // An id from an Anthropic upstream keeps its own form.
  Json c = {{"id", "msg_01XFDUDYJgAACzvnptvVoYEL"}, {"choices", Json::array()}};
  EXPECT_EQ(chatToAnthropicMessage(c, "m")["id"], "msg_01XFDUDYJgAACzvnptvVoYEL");
  EXPECT_EQ(chatToAnthropicMessage(c, "m")["content"], Json::array());
}

TEST(AnthropicErrors, GatewayErrorsTakeAnthropicsShapeAndTypes) {
  EXPECT_EQ(
      json::parse(anthropicErrorBody(ApiError::invalidRequest("max_tokens: Field required"))),
      json::parse(
          R"({"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: Field required"}})"));
  struct Case {
    int status;
    const char* type;
  };
  for (Case c :
       {Case{401, "authentication_error"}, Case{403, "permission_error"},
        Case{404, "not_found_error"}, Case{413, "request_too_large"}, Case{429, "rate_limit_error"},
        Case{500, "api_error"}, Case{502, "api_error"}, Case{503, "overloaded_error"},
        Case{529, "overloaded_error"}, Case{504, "timeout_error"}}) {
    ApiError e{c.status, "upstream_error", "x", "m"};
    EXPECT_EQ(anthropicErrorStatus(e), c.status);
    EXPECT_EQ(json::parse(anthropicErrorBody(e))["error"]["type"], c.type) << c.status;
  }
}

/// The unified stream of a text block followed by two parallel tool calls whose arguments are
/// split over several deltas, the first delta carrying text and a tool call together.
std::vector<Json> unifiedToolStream() {
  std::vector<Json> chunks;
  auto chunk = [&](Json delta, Json finish = nullptr) {
    chunks.push_back({{"id", "chatcmpl-s1"},
                      {"object", "chat.completion.chunk"},
                      {"model", "gpt-4.1"},
                      {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}}});
  };
  chunk({{"role", "assistant"}, {"content", ""}});
  chunk({{"content", "Okay, checking."}});
  chunk({{"content", " Both."},
         {"tool_calls",
          {{{"index", 0},
            {"id", "call_a"},
            {"type", "function"},
            {"function", {{"name", "get_weather"}, {"arguments", ""}}}}}}});
  chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "{\"loc"}}}}}}});
  chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "ation\": \"Paris\"}"}}}}}}});
  chunk({{"tool_calls",
          {{{"index", 1},
            {"id", "call_b"},
            {"type", "function"},
            {"function", {{"name", "get_time"}, {"arguments", "{}"}}}}}}});
  chunk(Json::object(), "tool_calls");
  chunks.push_back(
      {{"id", "chatcmpl-s1"},
       {"object", "chat.completion.chunk"},
       {"choices", Json::array()},
       {"usage", {{"prompt_tokens", 472}, {"completion_tokens", 89}, {"total_tokens", 561}}}});
  return chunks;
}

TEST(AnthropicStream, TextAndParallelToolCallsFollowTheDocumentedEventSequence) {
  AnthropicStreamEncoder encoder("claude-test");
  std::string sse;
  for (const Json& c : unifiedToolStream()) {
    sse += encoder.chunk(c);
  }
  sse += encoder.done();
  const auto ev = switchyard::testing::namedEvents(sse);
  std::vector<std::string> names;
  for (const auto& [name, data] : ev) {
    names.push_back(name);
    EXPECT_EQ(data["type"], name);  // the data's type repeats the event name
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "message_start", "content_block_start", "content_block_delta",
                       "content_block_delta", "content_block_stop", "content_block_start",
                       "content_block_delta", "content_block_delta", "content_block_stop",
                       "content_block_start", "content_block_delta", "content_block_stop",
                       "message_delta", "message_stop"}));
  EXPECT_EQ(ev[0].second,
            json::parse(R"({"type":"message_start","message":{"id":"msg_s1","type":"message",
    "role":"assistant","model":"claude-test","content":[],"stop_reason":null,"stop_sequence":null,
    "usage":{"input_tokens":0,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":0}}})"));
  EXPECT_EQ(
      ev[1].second,
      json::parse(
          R"({"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}})"));
  EXPECT_EQ(
      ev[2].second,
      json::parse(
          R"({"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Okay, checking."}})"));
  EXPECT_EQ(ev[3].second["delta"]["text"], " Both.");
  EXPECT_EQ(ev[4].second, json::parse(R"({"type":"content_block_stop","index":0})"));
  EXPECT_EQ(ev[5].second, json::parse(R"({"type":"content_block_start","index":1,
    "content_block":{"type":"tool_use","id":"toolu_call_a","name":"get_weather","input":{}}})"));
  EXPECT_EQ(ev[6].second, json::parse(R"({"type":"content_block_delta","index":1,
    "delta":{"type":"input_json_delta","partial_json":"{\"loc"}})"));
  EXPECT_EQ(ev[7].second["delta"]["partial_json"], "ation\": \"Paris\"}");
  EXPECT_EQ(ev[9].second["index"], 2);
  EXPECT_EQ(ev[9].second["content_block"]["name"], "get_time");
  EXPECT_EQ(ev[10].second["delta"]["partial_json"], "{}");
  EXPECT_EQ(ev[12].second,
            json::parse(
                R"({"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},
    "usage":{"input_tokens":472,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":89}})"));
  EXPECT_EQ(ev[13].second, json::parse(R"({"type":"message_stop"})"));
}

TEST(AnthropicStream, FailureAfterStartEndsWithAnErrorEventAndNoMessageStop) {
  AnthropicStreamEncoder encoder("m");
  std::string sse = encoder.chunk(unifiedToolStream()[1]);
  sse += encoder.error(
      ApiError{502, "upstream_error", "stream_truncated", "The provider closed the stream"});
  sse += encoder.done();  // nothing may follow the error
  const auto ev = switchyard::testing::namedEvents(sse);
  ASSERT_GE(ev.size(), 3u);
  EXPECT_EQ(ev.back().first, "error");
  EXPECT_EQ(
      ev.back().second,
      json::parse(
          R"({"type":"error","error":{"type":"api_error","message":"The provider closed the stream"}})"));
  for (const auto& [name, data] : ev) {
    EXPECT_NE(name, "message_stop");
  }
}

TEST(AnthropicStream, EmptyStreamStillOpensAndClosesTheMessage) {
  AnthropicStreamEncoder encoder("m");
  const auto ev = switchyard::testing::namedEvents(encoder.done());
  ASSERT_EQ(ev.size(), 3u);
  EXPECT_EQ(ev[0].first, "message_start");
  EXPECT_EQ(ev[1].second["delta"]["stop_reason"], "end_turn");
  EXPECT_EQ(ev[2].first, "message_stop");
}

TEST(AnthropicAdapter, WrappedWriterTranslatesAnswersAndErrors) {
  AnthropicMessagesAdapter adapter;
  std::string unified;
  ASSERT_FALSE(adapter.toUnified(
      R"({"model":"claude-test","max_tokens":5,"messages":[{"role":"user","content":"hi"}]})",
      unified));
  EXPECT_EQ(json::parse(unified)["messages"][0]["content"], "hi");
  int status = 429;
  std::string body =
      R"({"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limited"}})";
  adapter.answer(status, body);
  EXPECT_EQ(status, 429);
  EXPECT_EQ(
      json::parse(body),
      json::parse(R"({"type":"error","error":{"type":"rate_limit_error","message":"slow down"}})"));
  auto bad = adapter.toUnified("{not json", unified);
  ASSERT_TRUE(bad);
  EXPECT_EQ(bad->status, 400);
}

}  // namespace
}  // namespace switchyard::ingress
