/// @file tests/plugins/anthropic/mock_anthropic_upstream.cc
/// @brief The Poco HTTP server behind MockAnthropicUpstream.
#include "mock_anthropic_upstream.h"
#include "switchyard/http/poco_status.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/StreamCopier.h>
#include <Poco/ThreadPool.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <nlohmann/json.hpp>

namespace switchyard::testing {

using nlohmann::json;

struct MockAnthropicUpstream::State {
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<RecordedRequest> requests;
  int fail_times = 0;
  int fail_status = 0;
  std::string fail_body;
  std::string inject;
  bool hold = false;
  uint64_t release_epoch = 0;
  bool stopping = false;
  int open_streams = 0;

  void waitWhileHeld() {
    std::unique_lock lock(mu);
    const uint64_t epoch = release_epoch;
    cv.wait(lock, [&] { return stopping || !hold || release_epoch != epoch; });
  }
};

namespace {

using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;
using State = MockAnthropicUpstream::State;

constexpr const char* kModelFallback = "claude-sonnet-4-20250514";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string errorBody(const std::string& type, const std::string& message) {
  return json{{"type", "error"},
              {"error", {{"type", type}, {"message", message}}},
              {"request_id", "req_mock_0001"}}
      .dump();
}

void sendJson(HTTPServerResponse& response, int status, const std::string& body) {
  switchyard::setStatusCode(response, status);
  response.setContentType("application/json");
  response.setContentLength(static_cast<std::streamsize>(body.size()));
  response.send() << body;
}

std::string lastUserText(const json& body) {
  const auto& messages = body["messages"];
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (!it->is_object() || it->value("role", "") != "user" || !it->contains("content")) {
      continue;
    }
    const json& content = (*it)["content"];
    if (content.is_string()) {
      return content.get<std::string>();
    }
    std::string text;
    for (const auto& block : content) {
      if (block.value("type", "") == "text") {
        text += block.value("text", "");
      }
    }
    return text;
  }
  return {};
}

/// Names of the tools the model "calls": the request's first two.
std::vector<std::string> calledTools(const json& body) {
  std::vector<std::string> names;
  if (body.contains("tools") && body["tools"].is_array()) {
    for (const auto& t : body["tools"]) {
      if (names.size() < 2 && t.contains("name") && t["name"].is_string()) {
        names.push_back(t["name"].get<std::string>());
      }
    }
  }
  return names;
}

std::string model(const json& body) {
  return body.contains("model") && body["model"].is_string() ? body["model"].get<std::string>()
                                                             : kModelFallback;
}

class StreamCounter {
 public:
  explicit StreamCounter(State& s) : s_(s) { change(+1); }
  ~StreamCounter() { change(-1); }

 private:
  void change(int d) {
    std::lock_guard lock(s_.mu);
    s_.open_streams += d;
    s_.cv.notify_all();
  }
  State& s_;
};

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(std::shared_ptr<State> state) : state_(std::move(state)) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    RecordedRequest rec;
    rec.method = request.getMethod();
    rec.path = request.getURI();
    for (const auto& [name, value] : request) {
      rec.headers[lower(name)] = value;
    }
    Poco::StreamCopier::copyToString(request.stream(), rec.body);
    int fail_status = 0;
    std::string fail_body;
    {
      std::lock_guard lock(state_->mu);
      state_->requests.push_back(rec);
      if (state_->fail_times > 0) {
        --state_->fail_times;
        fail_status = state_->fail_status;
        fail_body = state_->fail_body;
      }
      state_->cv.notify_all();
    }
    try {
      if (fail_status != 0) {
        sendJson(response, fail_status, fail_body);
      } else {
        route(rec, response);
      }
    } catch (const std::exception&) {
      // The client went away mid-answer; nothing useful to do in a fixture.
    }
  }

 private:
  void route(const RecordedRequest& rec, HTTPServerResponse& response) {
    if (rec.method != "POST" || rec.path != "/v1/messages") {
      sendJson(response, 404, errorBody("not_found_error", "Not found: " + rec.path));
      return;
    }
    // Anthropic checks the credential and the version header before the body.
    if (rec.headers.count("x-api-key") == 0) {
      sendJson(response, 401, errorBody("authentication_error", "x-api-key header is required"));
      return;
    }
    if (rec.headers.count("anthropic-version") == 0) {
      sendJson(response, 400,
               errorBody("invalid_request_error", "anthropic-version: header is required"));
      return;
    }
    const json body = json::parse(rec.body, nullptr, false);
    if (!body.is_object()) {
      sendJson(response, 400, errorBody("invalid_request_error", "Request body is not JSON"));
      return;
    }
    if (!body.contains("max_tokens") || !body["max_tokens"].is_number_integer()) {
      sendJson(response, 400, errorBody("invalid_request_error", "max_tokens: Field required"));
      return;
    }
    if (!body.contains("messages") || !body["messages"].is_array() || body["messages"].empty()) {
      sendJson(response, 400, errorBody("invalid_request_error", "messages: Field required"));
      return;
    }
    if (body.value("stream", false)) {
      stream(body, response);
    } else {
      message(body, response);
    }
  }

  static json usage(int output) {
    return {{"input_tokens", 11},
            {"cache_creation_input_tokens", 2},
            {"cache_read_input_tokens", 3},
            {"output_tokens", output}};
  }

  void message(const json& body, HTTPServerResponse& response) {
    const auto tools = calledTools(body);
    json content = json::array();
    if (tools.empty()) {
      content.push_back({{"type", "text"}, {"text", "echo: " + lastUserText(body)}});
    } else {
      content.push_back({{"type", "text"}, {"text", "Let me check."}});
      for (size_t i = 0; i < tools.size(); ++i) {
        content.push_back({{"type", "tool_use"},
                           {"id", "toolu_mock_" + std::to_string(i + 1)},
                           {"name", tools[i]},
                           {"input", {{"city", "Paris"}}}});
      }
    }
    const json answer = {
        {"id", "msg_mock_1"},       {"type", "message"},
        {"role", "assistant"},      {"model", model(body)},
        {"content", content},       {"stop_reason", tools.empty() ? "end_turn" : "tool_use"},
        {"stop_sequence", nullptr}, {"usage", usage(7)}};
    sendJson(response, 200, answer.dump());
  }

  static bool writeEvent(std::ostream& out, const json& data) {
    out << "event: " << data["type"].get<std::string>() << "\ndata: " << data.dump() << "\n\n";
    out.flush();
    return out.good();
  }

  void stream(const json& body, HTTPServerResponse& response) {
    StreamCounter counter(*state_);
    std::string inject;
    {
      std::lock_guard lock(state_->mu);
      inject = std::move(state_->inject);
      state_->inject.clear();
    }
    response.setStatus(HTTPResponse::HTTP_OK);
    response.setContentType("text/event-stream; charset=utf-8");
    response.set("Cache-Control", "no-cache");
    response.setChunkedTransferEncoding(true);
    std::ostream& out = response.send();

    const auto tools = calledTools(body);
    std::vector<json> events;
    events.push_back({{"type", "content_block_start"},
                      {"index", 0},
                      {"content_block", {{"type", "text"}, {"text", ""}}}});
    const std::vector<std::string> texts = tools.empty()
                                               ? std::vector<std::string>{"tok0 ", "tok1 ", "tok2 "}
                                               : std::vector<std::string>{"Let me ", "check."};
    for (const auto& t : texts) {
      events.push_back({{"type", "content_block_delta"},
                        {"index", 0},
                        {"delta", {{"type", "text_delta"}, {"text", t}}}});
    }
    events.push_back({{"type", "content_block_stop"}, {"index", 0}});
    int deltas = static_cast<int>(texts.size());
    for (size_t i = 0; i < tools.size(); ++i) {
      const int index = static_cast<int>(i) + 1;
      events.push_back({{"type", "content_block_start"},
                        {"index", index},
                        {"content_block",
                         {{"type", "tool_use"},
                          {"id", "toolu_mock_" + std::to_string(index)},
                          {"name", tools[i]},
                          {"input", json::object()}}}});
      for (const char* part : {"", "{\"ci", "ty\": \"Pa", "ris\"}"}) {
        events.push_back({{"type", "content_block_delta"},
                          {"index", index},
                          {"delta", {{"type", "input_json_delta"}, {"partial_json", part}}}});
        ++deltas;
      }
      events.push_back({{"type", "content_block_stop"}, {"index", index}});
    }

    const json start = {{"type", "message_start"},
                        {"message",
                         {{"id", "msg_mock_stream"},
                          {"type", "message"},
                          {"role", "assistant"},
                          {"model", model(body)},
                          {"content", json::array()},
                          {"stop_reason", nullptr},
                          {"stop_sequence", nullptr},
                          {"usage", usage(1)}}}};
    if (!writeEvent(out, start) || !writeEvent(out, {{"type", "ping"}})) {
      return;
    }
    bool first_delta = true;
    for (const auto& e : events) {
      if (!writeEvent(out, e)) {
        return;
      }
      if (first_delta && e["type"] == "content_block_delta") {
        first_delta = false;
        if (!inject.empty()) {
          out << inject;
          out.flush();
          return;
        }
        state_->waitWhileHeld();
      }
    }
    writeEvent(
        out,
        {{"type", "message_delta"},
         {"delta",
          {{"stop_reason", tools.empty() ? "end_turn" : "tool_use"}, {"stop_sequence", nullptr}}},
         {"usage", {{"output_tokens", deltas}}}});
    writeEvent(out, {{"type", "message_stop"}});
  }

  std::shared_ptr<State> state_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(std::shared_ptr<State> state) : state_(std::move(state)) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
    return new Handler(state_);
  }

 private:
  std::shared_ptr<State> state_;
};

}  // namespace

struct MockAnthropicUpstream::Server {
  Poco::ThreadPool pool{2, 32, 60, 256 * 1024};
  std::unique_ptr<Poco::Net::HTTPServer> http;
  uint16_t port = 0;
};

MockAnthropicUpstream::MockAnthropicUpstream()
    : state_(std::make_shared<State>()), server_(std::make_unique<Server>()) {
  Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0), 64);
  server_->port = socket.address().port();
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(30);
  params->setKeepAlive(true);
  server_->http =
      std::make_unique<Poco::Net::HTTPServer>(new Factory(state_), server_->pool, socket, params);
  server_->http->start();
}

MockAnthropicUpstream::~MockAnthropicUpstream() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
    state_->hold = false;
    ++state_->release_epoch;
  }
  state_->cv.notify_all();
  // Aborting wakes handlers blocked on the network and idle keep-alive connections.
  server_->http->stopAll(/*abortCurrent=*/true);
  server_->pool.joinAll();
  server_->http.reset();
}

std::string MockAnthropicUpstream::baseUrl() const {
  return "http://127.0.0.1:" + std::to_string(server_->port) + "/v1";
}

std::vector<RecordedRequest> MockAnthropicUpstream::requests() const {
  std::lock_guard lock(state_->mu);
  return state_->requests;
}

RecordedRequest MockAnthropicUpstream::lastRequest() const {
  std::lock_guard lock(state_->mu);
  return state_->requests.empty() ? RecordedRequest{} : state_->requests.back();
}

size_t MockAnthropicUpstream::requestCount() const {
  std::lock_guard lock(state_->mu);
  return state_->requests.size();
}

void MockAnthropicUpstream::failNext(int status, std::string body, int times) {
  std::lock_guard lock(state_->mu);
  state_->fail_status = status;
  state_->fail_body = std::move(body);
  state_->fail_times = times;
}

void MockAnthropicUpstream::injectIntoNextStream(std::string sse) {
  std::lock_guard lock(state_->mu);
  state_->inject = std::move(sse);
}

void MockAnthropicUpstream::holdStreams(bool hold) {
  {
    std::lock_guard lock(state_->mu);
    state_->hold = hold;
  }
  state_->cv.notify_all();
}

void MockAnthropicUpstream::releaseStreams() {
  {
    std::lock_guard lock(state_->mu);
    state_->hold = false;
    ++state_->release_epoch;
  }
  state_->cv.notify_all();
}

int MockAnthropicUpstream::openStreams() const {
  std::lock_guard lock(state_->mu);
  return state_->open_streams;
}

}  // namespace switchyard::testing
