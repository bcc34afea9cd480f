/// @file tests/plugins/cohere/mock_cohere_upstream.cc
/// @brief The Poco HTTP server behind MockCohereUpstream.
#include "mock_cohere_upstream.h"
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
#include <mutex>
#include <nlohmann/json.hpp>

namespace switchyard::testing {

using nlohmann::json;

struct MockCohereUpstream::State {
  mutable std::mutex mu;
  std::vector<CohereRecordedRequest> requests;
  int fail_status = 0;
  std::string fail_body;
};

namespace {

using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;
using State = MockCohereUpstream::State;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

void sendJson(HTTPServerResponse& response, int status, const std::string& body) {
  switchyard::setStatusCode(response, status);
  response.setContentType("application/json");
  response.setContentLength(static_cast<std::streamsize>(body.size()));
  response.send() << body;
}

json usage() {
  return {{"billed_units", {{"input_tokens", 3}, {"output_tokens", 7}}},
          {"tokens", {{"input_tokens", 11}, {"output_tokens", 7}}}};
}

std::string lastUserText(const json& request) {
  const json& messages = request.value("messages", json::array());
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->value("role", "") == "user" && (*it)["content"].is_string()) {
      return (*it)["content"].get<std::string>();
    }
  }
  return {};
}

std::string firstTool(const json& request) {
  for (const auto& tool : request.value("tools", json::array())) {
    return tool["function"].value("name", "");
  }
  return {};
}

json call(const std::string& id, const std::string& name, const char* city) {
  return {{"id", id},
          {"type", "function"},
          {"function", {{"name", name}, {"arguments", json{{"location", city}}.dump()}}}};
}

json chat(const json& request) {
  const std::string tool = firstTool(request);
  json message = {{"role", "assistant"}};
  if (tool.empty()) {
    message["content"] = {{{"type", "text"}, {"text", "echo: " + lastUserText(request)}}};
  } else {
    message["tool_plan"] = "I will check both cities.";
    message["tool_calls"] = {call("call_a", tool, "Paris"), call("call_b", tool, "Lyon")};
  }
  return {{"id", "mock-chat-1"},
          {"message", message},
          {"finish_reason", tool.empty() ? "COMPLETE" : "TOOL_CALL"},
          {"usage", usage()}};
}

std::vector<json> streamEvents(const json& request) {
  const std::string tool = firstTool(request);
  std::vector<json> ev;
  ev.push_back({{"id", "mock-stream-1"},
                {"type", "message-start"},
                {"delta", {{"message", {{"role", "assistant"}}}}}});
  if (tool.empty()) {
    ev.push_back({{"type", "content-start"},
                  {"index", 0},
                  {"delta", {{"message", {{"content", {{"type", "text"}, {"text", ""}}}}}}}});
    for (int i = 0; i < 3; ++i) {
      ev.push_back(
          {{"type", "content-delta"},
           {"index", 0},
           {"delta", {{"message", {{"content", {{"text", "tok" + std::to_string(i) + " "}}}}}}}});
    }
    ev.push_back({{"type", "content-end"}, {"index", 0}});
  } else {
    ev.push_back(
        {{"type", "tool-plan-delta"}, {"delta", {{"message", {{"tool_plan", "Checking."}}}}}});
    const char* cities[] = {"Paris", "Lyon"};
    for (int i = 0; i < 2; ++i) {
      ev.push_back({{"type", "tool-call-start"},
                    {"index", i},
                    {"delta",
                     {{"message",
                       {{"tool_calls",
                         {{"id", i == 0 ? "call_a" : "call_b"},
                          {"type", "function"},
                          {"function", {{"name", tool}, {"arguments", ""}}}}}}}}}});
      for (const std::string part :
           {std::string("{\"location\":"), "\"" + std::string(cities[i]) + "\"}"}) {
        ev.push_back(
            {{"type", "tool-call-delta"},
             {"index", i},
             {"delta", {{"message", {{"tool_calls", {{"function", {{"arguments", part}}}}}}}}}});
      }
      ev.push_back({{"type", "tool-call-end"}, {"index", i}});
    }
  }
  ev.push_back(
      {{"type", "message-end"},
       {"delta",
        {{"finish_reason", tool.empty() ? "COMPLETE" : "TOOL_CALL"}, {"usage", usage()}}}});
  return ev;
}

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(std::shared_ptr<State> state) : state_(std::move(state)) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& out) override {
    CohereRecordedRequest rec;
    rec.method = request.getMethod();
    rec.path = request.getURI();
    for (const auto& [name, value] : request) rec.headers[lower(name)] = value;
    Poco::StreamCopier::copyToString(request.stream(), rec.body);
    int fail_status = 0;
    std::string fail_body;
    {
      std::lock_guard lock(state_->mu);
      state_->requests.push_back(rec);
      std::swap(fail_status, state_->fail_status);
      std::swap(fail_body, state_->fail_body);
    }
    try {
      if (fail_status != 0) {
        sendJson(out, fail_status, fail_body);
      } else {
        route(rec, out);
      }
    } catch (const std::exception&) {
      // The client went away mid-answer; nothing useful to do in a fixture.
    }
  }

 private:
  static void route(const CohereRecordedRequest& rec, HTTPServerResponse& out) {
    const auto auth = rec.headers.find("authorization");
    if (auth == rec.headers.end() || auth->second.rfind("Bearer ", 0) != 0) {
      sendJson(out, 401, json{{"id", "mock-err"}, {"message", "no api key supplied"}}.dump());
      return;
    }
    const json body = json::parse(rec.body, nullptr, false);
    if (rec.method != "POST" || !body.is_object()) {
      sendJson(out, 400, json{{"message", "invalid request"}}.dump());
      return;
    }
    if (rec.path == "/v2/chat") {
      if (body.value("stream", false)) {
        stream(body, out);
      } else {
        sendJson(out, 200, chat(body).dump());
      }
    } else if (rec.path == "/v2/embed") {
      json vectors = json::array();
      const json texts = body.value("texts", json::array());
      for (size_t i = 0; i < texts.size(); ++i) vectors.push_back({0.1 * double(i + 1), 0.2, 0.3});
      sendJson(out, 200,
               json{{"id", "mock-embed-1"},
                    {"embeddings", {{"float", vectors}}},
                    {"texts", texts},
                    {"meta", {{"billed_units", {{"input_tokens", 4}}}}},
                    {"response_type", "embeddings_by_type"}}
                   .dump());
    } else {
      sendJson(out, 404, json{{"message", "Not Found"}}.dump());
    }
  }

  static void stream(const json& body, HTTPServerResponse& out) {
    out.setStatus(HTTPResponse::HTTP_OK);
    out.setContentType("text/event-stream");
    out.setChunkedTransferEncoding(true);
    std::ostream& os = out.send();
    for (const auto& e : streamEvents(body)) {
      os << "event: " << e["type"].get<std::string>() << "\ndata: " << e.dump() << "\n\n";
      os.flush();
      if (!os.good()) return;
    }
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

struct MockCohereUpstream::Server {
  Poco::ThreadPool pool{2, 32, 60, 256 * 1024};
  std::unique_ptr<Poco::Net::HTTPServer> http;
  uint16_t port = 0;
};

MockCohereUpstream::MockCohereUpstream()
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

MockCohereUpstream::~MockCohereUpstream() {
  server_->http->stopAll(/*abortCurrent=*/true);
  server_->pool.joinAll();
  server_->http.reset();
}

std::string MockCohereUpstream::baseUrl() const {
  return "http://127.0.0.1:" + std::to_string(server_->port) + "/v2";
}

std::vector<CohereRecordedRequest> MockCohereUpstream::requests() const {
  std::lock_guard lock(state_->mu);
  return state_->requests;
}

CohereRecordedRequest MockCohereUpstream::lastRequest() const {
  std::lock_guard lock(state_->mu);
  return state_->requests.empty() ? CohereRecordedRequest{} : state_->requests.back();
}

void MockCohereUpstream::failNext(int status, std::string body) {
  std::lock_guard lock(state_->mu);
  state_->fail_status = status;
  state_->fail_body = std::move(body);
}

}  // namespace switchyard::testing
