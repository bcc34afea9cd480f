/// @file tests/support/support_test.cc
/// @brief Checks that MockOpenAiUpstream speaks OpenAI's wire format and that the HTTP client
/// sees stream bytes as they arrive.
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/StreamCopier.h>
#include <gtest/gtest.h>

#include <atomic>
#include <memory>
#include <nlohmann/json.hpp>
#include <thread>
#include <vector>

#include "http_client.h"
#include "mock_openai_upstream.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

// Splits an SSE body into its `data:` payloads.
std::vector<std::string> sseData(const std::string& body) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (true) {
    size_t end = body.find("\n\n", pos);
    if (end == std::string::npos) {
      break;
    }
    std::string event = body.substr(pos, end - pos);
    if (event.rfind("data: ", 0) == 0) {
      out.push_back(event.substr(6));
    }
    pos = end + 2;
  }
  return out;
}

const std::string kChat =
    R"({"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},)"
    R"({"role":"user","content":"hi there"}]})";

TEST(MockOpenAiUpstream, ChatCompletionEchoesLastUserMessage) {
  MockOpenAiUpstream mock;
  auto r = httpRequest(mock.port(), "POST", "/v1/chat/completions", kChat,
                       {{"Authorization", "Bearer sk-test"}});
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(r.headers["content-type"], "application/json");
  json j = json::parse(r.body);
  EXPECT_EQ(j["id"], "chatcmpl-mock");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["model"], "gpt-4o-mini");
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "echo: hi there");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"],
            json::parse(R"({"prompt_tokens":11,"completion_tokens":7,"total_tokens":18})"));

  ASSERT_EQ(mock.requestCount(), 1u);
  RecordedRequest rec = mock.lastRequest();
  EXPECT_EQ(rec.method, "POST");
  EXPECT_EQ(rec.path, "/v1/chat/completions");
  EXPECT_EQ(rec.headers["authorization"], "Bearer sk-test");
  EXPECT_EQ(rec.body, kChat);
  EXPECT_EQ(mock.baseUrl(), "http://127.0.0.1:" + std::to_string(mock.port()) + "/v1");
}

TEST(MockOpenAiUpstream, ToolsGetOneToolCall) {
  MockOpenAiUpstream mock;
  json req = json::parse(kChat);
  req["tools"] = json::parse(
      R"([{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}])");
  auto r = httpRequest(mock.port(), "POST", "/v1/chat/completions", req.dump());
  ASSERT_TRUE(r.ok) << r.error;
  json choice = json::parse(r.body)["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls");
  EXPECT_TRUE(choice["message"]["content"].is_null());
  json call = choice["message"]["tool_calls"][0];
  EXPECT_EQ(call["id"], "call_mock_1");
  EXPECT_EQ(call["type"], "function");
  EXPECT_EQ(call["function"]["name"], "get_weather");
  EXPECT_EQ(call["function"]["arguments"], R"({"city":"Paris"})");
}

TEST(MockOpenAiUpstream, StreamWithUsage) {
  MockOpenAiUpstream mock;
  mock.setStreamChunks(4);
  json req = json::parse(kChat);
  req["stream"] = true;
  req["stream_options"] = {{"include_usage", true}};
  auto r = httpRequest(mock.port(), "POST", "/v1/chat/completions", req.dump());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.headers["content-type"], "text/event-stream");
  EXPECT_EQ(r.headers["transfer-encoding"], "chunked");
  auto data = sseData(r.body);
  // role + 4 content + finish + usage + [DONE]
  ASSERT_EQ(data.size(), 8u) << r.body;
  EXPECT_EQ(json::parse(data[0])["choices"][0]["delta"]["role"], "assistant");
  std::string text;
  for (int i = 1; i <= 4; ++i) {
    json c = json::parse(data[i]);
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    EXPECT_TRUE(c["usage"].is_null());
    text += c["choices"][0]["delta"]["content"].get<std::string>();
  }
  EXPECT_EQ(text, "tok0 tok1 tok2 tok3 ");
  EXPECT_EQ(json::parse(data[5])["choices"][0]["finish_reason"], "stop");
  json usage = json::parse(data[6]);
  EXPECT_TRUE(usage["choices"].empty());
  EXPECT_EQ(usage["usage"],
            json::parse(R"({"prompt_tokens":11,"completion_tokens":4,"total_tokens":15})"));
  EXPECT_EQ(data[7], "[DONE]");
}

TEST(MockOpenAiUpstream, StreamWithoutUsageHasNoUsageChunk) {
  MockOpenAiUpstream mock;
  json req = json::parse(kChat);
  req["stream"] = true;
  auto r = httpRequest(mock.port(), "POST", "/v1/chat/completions", req.dump());
  auto data = sseData(r.body);
  ASSERT_EQ(data.size(), 6u) << r.body;  // role + 3 content + finish + [DONE]
  EXPECT_FALSE(json::parse(data[1]).contains("usage"));
  EXPECT_EQ(data.back(), "[DONE]");
}

TEST(MockOpenAiUpstream, StreamedToolCallArgumentsSplitInThree) {
  MockOpenAiUpstream mock;
  json req = json::parse(kChat);
  req["stream"] = true;
  req["tools"] = json::parse(R"([{"type":"function","function":{"name":"get_weather"}}])");
  auto data = sseData(httpRequest(mock.port(), "POST", "/v1/chat/completions", req.dump()).body);
  ASSERT_EQ(data.size(), 6u);
  json first = json::parse(data[0])["choices"][0]["delta"]["tool_calls"][0];
  EXPECT_EQ(first["id"], "call_mock_1");
  EXPECT_EQ(first["function"]["name"], "get_weather");
  std::string args;
  for (int i = 1; i <= 3; ++i) {
    args += json::parse(data[i])["choices"][0]["delta"]["tool_calls"][0]["function"]["arguments"]
                .get<std::string>();
  }
  EXPECT_EQ(args, R"({"city":"Paris"})");
  EXPECT_EQ(json::parse(data[4])["choices"][0]["finish_reason"], "tool_calls");
}

TEST(MockOpenAiUpstream, ChunksArriveBeforeTheStreamEnds) {
  MockOpenAiUpstream mock;
  mock.holdStreams(true);
  json req = json::parse(kChat);
  req["stream"] = true;
  bool saw_first_before_done = false;
  // The held stream cannot finish until released, so seeing tok0 in the callback while it is
  // held proves delivery is incremental.
  std::string seen;
  auto r2 =
      httpStream(mock.port(), "/v1/chat/completions", req.dump(), {}, [&](std::string_view b) {
        seen.append(b);
        if (!saw_first_before_done && seen.find("tok0 ") != std::string::npos) {
          saw_first_before_done =
              seen.find("[DONE]") == std::string::npos && mock.openStreams() == 1;
          mock.releaseStreams();
        }
      });
  ASSERT_TRUE(r2.ok) << r2.error;
  EXPECT_TRUE(saw_first_before_done);
  EXPECT_NE(r2.body.find("[DONE]"), std::string::npos);
}

TEST(MockOpenAiUpstream, FailNextThenRecovers) {
  MockOpenAiUpstream mock;
  mock.failNext(429, R"({"error":{"message":"slow down","type":"rate_limit_error","code":null}})",
                2);
  for (int i = 0; i < 2; ++i) {
    auto r = httpRequest(mock.port(), "POST", "/v1/chat/completions", kChat);
    EXPECT_EQ(r.status, 429);
    EXPECT_EQ(r.headers["content-type"], "application/json");
    EXPECT_EQ(json::parse(r.body)["error"]["type"], "rate_limit_error");
  }
  EXPECT_EQ(httpRequest(mock.port(), "POST", "/v1/chat/completions", kChat).status, 200);
  EXPECT_EQ(mock.requestCount(), 3u);
}

TEST(MockOpenAiUpstream, EmbeddingsAndModels) {
  MockOpenAiUpstream mock;
  auto one = json::parse(httpRequest(mock.port(), "POST", "/v1/embeddings",
                                     R"({"model":"text-embedding-3-small","input":"a"})")
                             .body);
  EXPECT_EQ(one["object"], "list");
  EXPECT_EQ(one["data"].size(), 1u);
  EXPECT_EQ(one["data"][0]["embedding"], json::parse("[0.1,0.2,0.3]"));
  EXPECT_EQ(one["model"], "text-embedding-3-small");
  EXPECT_EQ(one["usage"]["total_tokens"], 5);
  auto many = json::parse(
      httpRequest(mock.port(), "POST", "/v1/embeddings", R"({"model":"m","input":["a","b","c"]})")
          .body);
  ASSERT_EQ(many["data"].size(), 3u);
  EXPECT_EQ(many["data"][2]["index"], 2);

  auto models = httpRequest(mock.port(), "GET", "/v1/models");
  EXPECT_EQ(models.status, 200);
  EXPECT_EQ(json::parse(models.body)["object"], "list");
  EXPECT_EQ(httpRequest(mock.port(), "GET", "/v1/nothing").status, 404);
  EXPECT_EQ(httpRequest(mock.port(), "POST", "/v1/chat/completions", "{not json").status, 400);
}

TEST(MockOpenAiUpstream, SixtyFourConcurrentHeldStreams) {
  MockOpenAiUpstream mock;
  mock.holdStreams(true);
  json req = json::parse(kChat);
  req["stream"] = true;
  constexpr int kStreams = 64;
  std::atomic<int> done{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kStreams; ++i) {
    clients.emplace_back([&] {
      auto r = httpStream(mock.port(), "/v1/chat/completions", req.dump(), {}, nullptr);
      if (r.ok && r.body.find("[DONE]") != std::string::npos) {
        ++done;
      }
    });
  }
  EXPECT_TRUE(mock.waitForOpenStreams(kStreams));
  mock.releaseStreams();
  for (auto& t : clients) {
    t.join();
  }
  EXPECT_EQ(done.load(), kStreams);
  EXPECT_TRUE(mock.waitForOpenStreams(0));
}

TEST(MockOpenAiUpstream, ClientHangUpEndsTheStream) {
  MockOpenAiUpstream mock;
  mock.setStreamChunks(50);
  mock.setChunkDelay(5);
  json req = json::parse(kChat);
  req["stream"] = true;
  auto r = httpStreamUntil(mock.port(), "/v1/chat/completions", req.dump(), {},
                           [](std::string_view b) { return b.find("tok0") == std::string::npos; });
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);
  EXPECT_TRUE(mock.waitForOpenStreams(0));
}

TEST(MockOpenAiUpstream, DestructorDoesNotHangOnHeldStreams) {
  std::thread client;
  std::unique_ptr<Poco::Net::HTTPClientSession> idle;
  {
    MockOpenAiUpstream mock;
    mock.holdStreams(true);
    json req = json::parse(kChat);
    req["stream"] = true;
    const uint16_t port = mock.port();
    client = std::thread(
        [port, body = req.dump()] { httpStream(port, "/v1/chat/completions", body, {}, nullptr); });
    ASSERT_TRUE(mock.waitForOpenStreams(1));
    // An idle keep-alive connection must not keep the server alive either.
    idle = std::make_unique<Poco::Net::HTTPClientSession>("127.0.0.1", port);
    idle->setKeepAlive(true);
    Poco::Net::HTTPRequest get("GET", "/v1/models", Poco::Net::HTTPMessage::HTTP_1_1);
    idle->sendRequest(get);
    Poco::Net::HTTPResponse response;
    std::string ignored;
    Poco::StreamCopier::copyToString(idle->receiveResponse(response), ignored);
    ASSERT_EQ(response.getStatus(), Poco::Net::HTTPResponse::HTTP_OK);
  }
  client.join();
}

}  // namespace
}  // namespace switchyard::testing

namespace switchyard::testing {
namespace {

constexpr const char* kStreamRequest =
    R"({"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]})";

HttpResult streamFrom(MockOpenAiUpstream& mock) {
  return httpStream(mock.port(), "/v1/chat/completions", kStreamRequest, {}, [](std::string_view) {});
}

TEST(MockOpenAiUpstreamFaults, StatusWithHeadersAndSlowFirstByte) {
  MockOpenAiUpstream mock;
  mock.injectFault(Fault::rateLimited("3"), 1);
  auto r = httpRequest(mock.port(), "POST", "/v1/chat/completions", kChat);
  EXPECT_EQ(r.status, 429);
  EXPECT_EQ(r.headers["retry-after"], "3");
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "rate_limit_exceeded");
  mock.injectFault(Fault::slowFirstByte(std::chrono::milliseconds(300)), 1);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(httpRequest(mock.port(), "POST", "/v1/chat/completions", kChat).status, 200);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  EXPECT_EQ(mock.faultsInjected(), 2);
}

TEST(MockOpenAiUpstreamFaults, StreamFaultsSkipOtherRequestsAndHitStreams) {
  MockOpenAiUpstream mock;
  mock.injectFault(Fault::malformedChunk(2), -1);
  EXPECT_EQ(httpRequest(mock.port(), "POST", "/v1/chat/completions", kChat).status, 200);
  EXPECT_EQ(mock.faultsInjected(), 0); // not a stream: untouched
  auto r = streamFrom(mock);
  auto events = sseData(r.body);
  ASSERT_GE(events.size(), 3u);
  EXPECT_TRUE(json::parse(events[1], nullptr, false).is_object());
  EXPECT_TRUE(json::parse(events[2], nullptr, false).is_discarded()); // the malformed one
  EXPECT_EQ(events.back(), "[DONE]");                                    // then it carries on

  mock.injectFault(Fault::resetMidStream(2), 1);
  r = streamFrom(mock);
  EXPECT_EQ(sseData(r.body).size(), 2u);
  EXPECT_EQ(r.body.find("[DONE]"), std::string::npos);

  mock.injectFault(Fault::stallMidStream(1, std::chrono::milliseconds(300)), 1);
  const auto start = std::chrono::steady_clock::now();
  r = streamFrom(mock);
  EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
  EXPECT_EQ(sseData(r.body).back(), "[DONE]");
}

TEST(MockOpenAiUpstreamFaults, ResetBeforeHeadersAndDownThenUp) {
  MockOpenAiUpstream mock;
  mock.injectFault(Fault::resetBeforeHeaders(), 1);
  auto r = httpRequest(mock.port(), "POST", "/v1/chat/completions", kChat);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.status, 0);
  mock.setDown(true);
  EXPECT_FALSE(httpRequest(mock.port(), "GET", "/v1/models").ok);
  mock.setDown(false);
  EXPECT_EQ(httpRequest(mock.port(), "GET", "/v1/models").status, 200);
}

}  // namespace
}  // namespace switchyard::testing
