// Golden pairs for /v1/responses ⇄ unified chat. The Responses sides follow the examples of
// OpenAI's Responses API reference and function calling guide (get_weather, call_id, output
// items) and its streaming events reference.
#include "switchyard/ingress/openai_responses.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/named_sse.h"

namespace switchyard::ingress {
namespace {

using nlohmann::json;

json asJson(const Json& j) {
  return json::parse(j.dump());
}

json toChat(const json& request, Json* echo_out = nullptr) {
  Json chat;
  Json echo;
  auto e = responsesRequestToChat(Json::parse(request.dump()), chat, echo);
  EXPECT_FALSE(e) << (e ? e->message : "");
  if (echo_out != nullptr) {
    *echo_out = echo;
  }
  return asJson(chat);
}

ApiError rejected(const json& request) {
  Json chat;
  Json echo;
  auto e = responsesRequestToChat(Json::parse(request.dump()), chat, echo);
  EXPECT_TRUE(e);
  return e.value_or(ApiError{});
}

TEST(ResponsesRequest, StringInputWithInstructions) {
  const json chat =
      toChat(json::parse(R"({"model": "gpt-4.1", "instructions": "Talk like a pirate.",
    "input": "Are semicolons optional in JavaScript?", "max_output_tokens": 200, "temperature": 0.2})"));
  EXPECT_EQ(chat, json::parse(R"({"model": "gpt-4.1",
    "messages": [{"role": "system", "content": "Talk like a pirate."},
                 {"role": "user", "content": "Are semicolons optional in JavaScript?"}],
    "max_tokens": 200, "temperature": 0.2})"));
}

TEST(ResponsesRequest, FunctionCallingRoundTripBecomesToolMessages) {
  // The function calling guide's second request: the model's function_call item and the
  // client's function_call_output are sent back as input items.
  const json request = json::parse(R"({
    "model": "gpt-4.1",
    "tools": [{"type": "function", "name": "get_weather", "description": "Get current temperature for a given location.",
               "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                              "required": ["location"], "additionalProperties": false},
               "strict": true}],
    "tool_choice": {"type": "function", "name": "get_weather"},
    "parallel_tool_calls": false,
    "input": [
      {"role": "user", "content": [{"type": "input_text", "text": "What is the weather like in Paris today?"},
                                   {"type": "input_image", "image_url": "https://example.com/paris.jpg", "detail": "low"}]},
      {"type": "function_call", "id": "fc_12345xyz", "call_id": "call_12345xyz", "name": "get_weather",
       "arguments": "{\"location\":\"Paris, France\"}"},
      {"type": "function_call_output", "call_id": "call_12345xyz", "output": "14"}
    ],
    "stream": true
  })");
  const json expected = json::parse(R"({
    "model": "gpt-4.1",
    "messages": [
      {"role": "user", "content": [{"type": "text", "text": "What is the weather like in Paris today?"},
                                   {"type": "image_url", "image_url": {"url": "https://example.com/paris.jpg", "detail": "low"}}]},
      {"role": "assistant", "content": null,
       "tool_calls": [{"id": "call_12345xyz", "type": "function",
                       "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris, France\"}"}}]},
      {"role": "tool", "tool_call_id": "call_12345xyz", "content": "14"}
    ],
    "tools": [{"type": "function", "function": {"name": "get_weather", "description": "Get current temperature for a given location.",
               "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                              "required": ["location"], "additionalProperties": false},
               "strict": true}}],
    "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    "parallel_tool_calls": false,
    "stream": true,
    "stream_options": {"include_usage": true}
  })");
  EXPECT_EQ(toChat(request), expected);
}

TEST(ResponsesRequest, AssistantHistoryAndParallelCallsShareOneAssistantMessage) {
  const json chat = toChat(json::parse(R"({"model": "m", "input": [
    {"role": "developer", "content": "Be terse."},
    {"role": "user", "content": "weather and time?"},
    {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Checking both.", "annotations": []}]},
    {"type": "function_call", "call_id": "call_1", "name": "get_weather", "arguments": "{}"},
    {"type": "function_call", "call_id": "call_2", "name": "get_time", "arguments": "{}"},
    {"type": "reasoning", "id": "rs_1", "summary": []},
    {"type": "function_call_output", "call_id": "call_1", "output": "sunny"},
    {"type": "function_call_output", "call_id": "call_2", "output": [{"type": "input_text", "text": "noon"}]}]})"));
  ASSERT_EQ(chat["messages"].size(), 5u);
  EXPECT_EQ(chat["messages"][0], json({{"role", "system"}, {"content", "Be terse."}}));
  EXPECT_EQ(chat["messages"][2]["content"], "Checking both.");
  EXPECT_EQ(chat["messages"][2]["tool_calls"].size(), 2u);
  EXPECT_EQ(chat["messages"][4],
            json({{"role", "tool"}, {"tool_call_id", "call_2"}, {"content", "noon"}}));
}

TEST(ResponsesRequest, StatefulAndHostedFeaturesAreRefusedNamingThem) {
  const json base = {{"model", "m"}, {"input", "hi"}};
  for (auto [key, value] : std::vector<std::pair<const char*, json>>{
           {"previous_response_id", "resp_123"},
           {"store", true},
           {"background", true},
           {"conversation", "conv_1"},
           {"include", json::array({"reasoning.encrypted_content"})},
           {"truncation", "auto"},
           {"frobnicate", 1}}) {
    json r = base;
    r[key] = value;
    const ApiError e = rejected(r);
    EXPECT_EQ(e.status, 400) << key;
    EXPECT_EQ(e.code, "unsupported_parameter") << key;
    EXPECT_NE(e.message.find(std::string("'") + key), std::string::npos) << e.message;
  }
  json web = base;
  web["tools"] = json::parse(R"([{"type": "web_search_preview"}])");
  EXPECT_NE(rejected(web).message.find("web_search_preview"), std::string::npos);
  json ref = base;
  ref["input"] = json::parse(R"([{"type": "item_reference", "id": "msg_1"}])");
  EXPECT_NE(rejected(ref).message.find("item_reference"), std::string::npos);

  json store_false = base;
  store_false["store"] = false;
  EXPECT_EQ(toChat(store_false)["messages"][0]["content"], "hi");

  for (const char* bad :
       {R"({"input": "x"})", R"({"model": "m"})", R"({"model": "m", "input": 5})",
        R"({"model": "m", "input": [{"role": "user", "content": [{"type": 1}]}]})",
        R"({"model": "m", "input": "x", "tools": [{"type": "function"}]})", R"("str")"}) {
    EXPECT_EQ(rejected(json::parse(bad)).status, 400) << bad;
  }
}

TEST(ResponsesResponse, CompletionBecomesResponseObject) {
  Json echo;
  toChat(
      json::parse(
          R"({"model": "gpt-4.1", "input": "x", "tools": [{"type": "function", "name": "get_weather",
    "parameters": {"type": "object"}}]})"),
      &echo);
  const Json completion = Json::parse(R"({
    "id": "chatcmpl-abc", "object": "chat.completion", "model": "gpt-4.1-2025-04-14",
    "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {"role": "assistant", "content": "Let me check.",
      "tool_calls": [{"id": "call_12345xyz", "type": "function",
                      "function": {"name": "get_weather", "arguments": "{\"location\":\"Paris, France\"}"}}]}}],
    "usage": {"prompt_tokens": 36, "completion_tokens": 87, "total_tokens": 123,
              "prompt_tokens_details": {"cached_tokens": 4}, "completion_tokens_details": {"reasoning_tokens": 0}}
  })");
  const json r = asJson(chatToResponse(completion, echo, 1741476542));
  EXPECT_EQ(r["id"], "resp_abc");
  EXPECT_EQ(r["object"], "response");
  EXPECT_EQ(r["created_at"], 1741476542);
  EXPECT_EQ(r["status"], "completed");
  EXPECT_EQ(r["model"], "gpt-4.1");
  EXPECT_TRUE(r["error"].is_null());
  EXPECT_TRUE(r["incomplete_details"].is_null());
  EXPECT_EQ(r["tools"][0]["name"], "get_weather");
  EXPECT_EQ(r["output"], json::parse(R"([
    {"id": "msg_abc", "type": "message", "status": "completed", "role": "assistant",
     "content": [{"type": "output_text", "text": "Let me check.", "annotations": []}]},
    {"id": "fc_12345xyz", "type": "function_call", "status": "completed",
     "arguments": "{\"location\":\"Paris, France\"}", "call_id": "call_12345xyz", "name": "get_weather"}])"));
  EXPECT_EQ(r["usage"],
            json::parse(R"({"input_tokens": 36, "input_tokens_details": {"cached_tokens": 4},
    "output_tokens": 87, "output_tokens_details": {"reasoning_tokens": 0}, "total_tokens": 123})"));

  Json cut = completion;
  cut["choices"][0]["finish_reason"] = "length";
  const json incomplete = asJson(chatToResponse(cut, echo, 1));
  EXPECT_EQ(incomplete["status"], "incomplete");
  EXPECT_EQ(incomplete["incomplete_details"], json({{"reason", "max_output_tokens"}}));
}

std::vector<Json> unifiedToolStream() {
  std::vector<Json> chunks;
  auto chunk = [&](Json delta, Json finish = nullptr) {
    chunks.push_back({{"id", "chatcmpl-s1"},
                      {"choices", {{{"index", 0}, {"delta", delta}, {"finish_reason", finish}}}}});
  };
  chunk({{"role", "assistant"}, {"content", ""}});
  chunk({{"content", "Hi"},
         {"tool_calls",
          {{{"index", 0},
            {"id", "call_a"},
            {"function", {{"name", "get_weather"}, {"arguments", "{\"lo"}}}}}}});
  chunk({{"tool_calls", {{{"index", 0}, {"function", {{"arguments", "c\":1}"}}}}}}});
  chunk({{"tool_calls",
          {{{"index", 1},
            {"id", "call_b"},
            {"function", {{"name", "get_time"}, {"arguments", "{}"}}}}}}});
  chunk(Json::object(), "tool_calls");
  chunks.push_back(
      {{"id", "chatcmpl-s1"},
       {"choices", Json::array()},
       {"usage", {{"prompt_tokens", 10}, {"completion_tokens", 5}, {"total_tokens", 15}}}});
  return chunks;
}

TEST(ResponsesStream, TextAndParallelFunctionCallsFollowTheDocumentedEvents) {
  Json echo;
  toChat(json::parse(R"({"model": "gpt-4.1", "input": "x"})"), &echo);
  ResponsesStreamEncoder encoder(echo, 7);
  std::string sse;
  for (const Json& c : unifiedToolStream()) {
    sse += encoder.chunk(c);
  }
  sse += encoder.done();
  const auto ev = switchyard::testing::namedEvents(sse);
  std::vector<std::string> names;
  for (size_t i = 0; i < ev.size(); ++i) {
    names.push_back(ev[i].first);
    EXPECT_EQ(ev[i].second["type"], ev[i].first);
    EXPECT_EQ(ev[i].second["sequence_number"], i);
  }
  EXPECT_EQ(
      names,
      (std::vector<std::string>{
          "response.created", "response.in_progress", "response.output_item.added",
          "response.content_part.added", "response.output_text.delta", "response.output_text.done",
          "response.content_part.done", "response.output_item.done", "response.output_item.added",
          "response.function_call_arguments.delta", "response.function_call_arguments.delta",
          "response.function_call_arguments.done", "response.output_item.done",
          "response.output_item.added", "response.function_call_arguments.delta",
          "response.function_call_arguments.done", "response.output_item.done",
          "response.completed"}));
  EXPECT_EQ(ev[0].second["response"]["status"], "in_progress");
  EXPECT_EQ(ev[0].second["response"]["output"], json::array());
  EXPECT_EQ(ev[2].second["item"],
            json::parse(R"({"id": "msg_s1_0", "type": "message", "status": "in_progress",
                                                  "role": "assistant", "content": []})"));
  EXPECT_EQ(ev[4].second,
            json::parse(
                R"({"type": "response.output_text.delta", "item_id": "msg_s1_0", "output_index": 0,
                                          "content_index": 0, "delta": "Hi", "logprobs": [], "sequence_number": 4})"));
  EXPECT_EQ(ev[5].second["text"], "Hi");
  EXPECT_EQ(ev[8].second["item"],
            json::parse(R"({"id": "fc_a", "type": "function_call", "status": "in_progress",
                                                  "arguments": "", "call_id": "call_a", "name": "get_weather"})"));
  EXPECT_EQ(ev[10].second["delta"], "c\":1}");
  EXPECT_EQ(ev[11].second["arguments"], "{\"loc\":1}");
  EXPECT_EQ(ev[13].second["output_index"], 2);
  const json& done = ev.back().second["response"];
  EXPECT_EQ(done["status"], "completed");
  EXPECT_EQ(done["output"].size(), 3u);
  EXPECT_EQ(done["output"][1]["arguments"], "{\"loc\":1}");
  EXPECT_EQ(done["output"][2]["status"], "completed");
  EXPECT_EQ(done["usage"]["total_tokens"], 15);
}

TEST(ResponsesStream, FailureEndsWithErrorAndResponseFailed) {
  ResponsesStreamEncoder encoder(Json::object(), 1);
  std::string sse = encoder.chunk(unifiedToolStream()[0]);
  sse += encoder.error(
      ApiError{504, "upstream_error", "upstream_timeout", "Provider p did not answer in time"});
  sse += encoder.done();
  const auto ev = switchyard::testing::namedEvents(sse);
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[2].second, json::parse(R"({"type": "error", "code": "upstream_timeout",
    "message": "Provider p did not answer in time", "param": null, "sequence_number": 2})"));
  EXPECT_EQ(ev[3].first, "response.failed");
  EXPECT_EQ(ev[3].second["response"]["status"], "failed");
  EXPECT_EQ(ev[3].second["response"]["error"]["code"], "upstream_timeout");
}

TEST(ResponsesAdapter, ErrorsStayOpenAiShaped) {
  OpenAiResponsesAdapter adapter;
  std::string unified;
  ASSERT_FALSE(adapter.toUnified(R"({"model":"m","input":"hi"})", unified));
  int status = 404;
  const std::string error =
      R"({"error":{"message":"no such model","type":"invalid_request_error","code":"model_not_found"}})";
  std::string body = error;
  adapter.answer(status, body);
  EXPECT_EQ(status, 404);
  EXPECT_EQ(body, error);
}

}  // namespace
}  // namespace switchyard::ingress
