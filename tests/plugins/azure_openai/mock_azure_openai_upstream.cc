/// @file tests/plugins/azure_openai/mock_azure_openai_upstream.cc
/// @brief The Poco HTTP server behind MockAzureOpenAiUpstream.
#include "mock_azure_openai_upstream.h"
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

struct MockAzureOpenAiUpstream::State {
  mutable std::mutex mu;
  std::vector<AzureRecordedRequest> requests;
  int fail_status = 0;
  std::string fail_body;
  std::map<std::string, std::string> fail_headers;
};

namespace {

using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;
using State = MockAzureOpenAiUpstream::State;

constexpr const char* kDeployments = "/openai/deployments/";
constexpr const char* kV1Chat = "/openai/v1/chat/completions";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string azureError(const std::string& code, const std::string& message) {
  return json{{"error", {{"code", code}, {"message", message}}}}.dump();
}

void sendJson(HTTPServerResponse& response, int status, const std::string& body) {
  switchyard::setStatusCode(response, status);
  response.setContentType("application/json");
  response.setContentLength(static_cast<std::streamsize>(body.size()));
  response.send() << body;
}

json safeFilters() {
  json safe = {{"filtered", false}, {"severity", "safe"}};
  return {{"hate", safe}, {"self_harm", safe}, {"sexual", safe}, {"violence", safe}};
}

json promptFilterResults() {
  return json::array({{{"prompt_index", 0}, {"content_filter_results", safeFilters()}}});
}

json usage() {
  return {{"completion_tokens", 7}, {"prompt_tokens", 11}, {"total_tokens", 18}};
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

json toolCall(int index, const std::string& name, const char* city) {
  return {{"id", "call_" + std::to_string(index)},
          {"type", "function"},
          {"function", {{"name", name}, {"arguments", json{{"city", city}}.dump()}}}};
}

json completion(const json& request) {
  json message = {{"role", "assistant"}};
  const std::string tool = firstTool(request);
  if (tool.empty()) {
    message["content"] = "echo: " + lastUserText(request);
  } else {
    message["content"] = nullptr;
    message["tool_calls"] = {toolCall(0, tool, "Paris"), toolCall(1, tool, "Lyon")};
  }
  json choice = {{"index", 0},
                 {"finish_reason", tool.empty() ? "stop" : "tool_calls"},
                 {"message", message},
                 {"content_filter_results", safeFilters()}};
  return {{"id", "chatcmpl-mock-1"},
          {"object", "chat.completion"},
          {"created", 1732612345},
          {"model", "gpt-4o-2024-08-06"},
          {"prompt_filter_results", promptFilterResults()},
          {"choices", {choice}},
          {"usage", usage()}};
}

json chunk(json delta, const json& finish = nullptr) {
  json choice = {{"index", 0},
                 {"delta", std::move(delta)},
                 {"finish_reason", finish},
                 {"content_filter_results", json::object()}};
  return {{"id", "chatcmpl-mock-2"},
          {"object", "chat.completion.chunk"},
          {"created", 1732612345},
          {"model", "gpt-4o-2024-08-06"},
          {"choices", {choice}}};
}

json toolDelta(int index, json function, bool first, int call_no) {
  json d = {{"index", index}, {"function", std::move(function)}};
  if (first) {
    d["id"] = "call_" + std::to_string(call_no);
    d["type"] = "function";
  }
  return d;
}

std::vector<json> streamEvents(const json& request) {
  std::vector<json> events;
  // Azure's first frame: no choices, only the prompt annotations.
  events.push_back({{"choices", json::array()},
                    {"created", 0},
                    {"id", ""},
                    {"model", ""},
                    {"object", ""},
                    {"prompt_filter_results", promptFilterResults()}});
  events.push_back(chunk({{"role", "assistant"}, {"content", ""}}));
  const std::string tool = firstTool(request);
  if (tool.empty()) {
    for (int i = 0; i < 3; ++i)
      events.push_back(chunk({{"content", "tok" + std::to_string(i) + " "}}));
    events.push_back(chunk(json::object(), "stop"));
  } else {
    events.push_back(
        chunk({{"content", "Checking."},
               {"tool_calls", {toolDelta(0, {{"name", tool}, {"arguments", ""}}, true, 0)}}}));
    for (const char* part : {"{\"ci", "ty\":\"Par", "is\"}"}) {
      events.push_back(chunk({{"tool_calls", {toolDelta(0, {{"arguments", part}}, false, 0)}}}));
    }
    events.push_back(
        chunk({{"tool_calls",
                {toolDelta(1, {{"name", tool}, {"arguments", "{\"city\":\"Lyon\"}"}}, true, 1)}}}));
    events.push_back(chunk(json::object(), "tool_calls"));
  }
  const json options = request.value("stream_options", json::object());
  if (options.is_object() && options.value("include_usage", false)) {
    json last = chunk(json::object());
    last["choices"] = json::array();
    last["usage"] = usage();
    events.push_back(last);
  }
  return events;
}

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(std::shared_ptr<State> state) : state_(std::move(state)) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& out) override {
    AzureRecordedRequest rec;
    rec.method = request.getMethod();
    rec.path = request.getURI();
    for (const auto& [name, value] : request) rec.headers[lower(name)] = value;
    Poco::StreamCopier::copyToString(request.stream(), rec.body);
    int fail_status = 0;
    std::string fail_body;
    std::map<std::string, std::string> fail_headers;
    {
      std::lock_guard lock(state_->mu);
      state_->requests.push_back(rec);
      std::swap(fail_status, state_->fail_status);
      std::swap(fail_body, state_->fail_body);
      std::swap(fail_headers, state_->fail_headers);
    }
    try {
      if (fail_status != 0) {
        for (const auto& [name, value] : fail_headers) out.set(name, value);
        sendJson(out, fail_status, fail_body);
      } else {
        route(rec, out);
      }
    } catch (const std::exception&) {
      // The client went away mid-answer; nothing useful to do in a fixture.
    }
  }

 private:
  void route(const AzureRecordedRequest& rec, HTTPServerResponse& out) {
    if (rec.headers.count("api-key") == 0) {
      sendJson(out, 401,
               azureError("401",
                          "Access denied due to invalid subscription key or wrong API endpoint. "
                          "Make sure to provide a valid key for an active subscription and use a "
                          "correct regional API endpoint for your resource."));
      return;
    }
    const std::string path = rec.path.substr(0, rec.path.find('?'));
    const bool deployments = path.rfind(kDeployments, 0) == 0;
    const bool has_version = rec.path.find("?api-version=") != std::string::npos;
    if (rec.method != "POST" || (deployments && !has_version) ||
        (!deployments && path != kV1Chat)) {
      sendJson(out, 404, azureError("404", "Resource not found"));
      return;
    }
    const json body = json::parse(rec.body, nullptr, false);
    if (!body.is_object()) {
      sendJson(out, 400, azureError("BadRequest", "Invalid JSON in request body"));
      return;
    }
    if (path.size() > 11 && path.compare(path.size() - 11, 11, "/embeddings") == 0) {
      embeddings(body, out);
    } else if (body.value("stream", false)) {
      stream(body, out);
    } else {
      sendJson(out, 200, completion(body).dump());
    }
  }

  static void embeddings(const json& body, HTTPServerResponse& out) {
    const json input = body.value("input", json());
    const size_t n = input.is_array() ? input.size() : 1;
    json data = json::array();
    for (size_t i = 0; i < n; ++i) {
      data.push_back(
          {{"object", "embedding"}, {"index", i}, {"embedding", {0.1 * double(i + 1), 0.2, 0.3}}});
    }
    sendJson(out, 200,
             json{{"object", "list"},
                  {"data", data},
                  {"model", "text-embedding-3-small"},
                  {"usage", {{"prompt_tokens", 4}, {"total_tokens", 4}}}}
                 .dump());
  }

  static void stream(const json& body, HTTPServerResponse& out) {
    out.setStatus(HTTPResponse::HTTP_OK);
    out.setContentType("text/event-stream; charset=utf-8");
    out.setChunkedTransferEncoding(true);
    std::ostream& os = out.send();
    for (const auto& e : streamEvents(body)) {
      os << "data: " << e.dump() << "\n\n";
      os.flush();
      if (!os.good()) return;
    }
    os << "data: [DONE]\n\n";
    os.flush();
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

struct MockAzureOpenAiUpstream::Server {
  Poco::ThreadPool pool{2, 32, 60, 256 * 1024};
  std::unique_ptr<Poco::Net::HTTPServer> http;
  uint16_t port = 0;
};

MockAzureOpenAiUpstream::MockAzureOpenAiUpstream()
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

MockAzureOpenAiUpstream::~MockAzureOpenAiUpstream() {
  server_->http->stopAll(/*abortCurrent=*/true);
  server_->pool.joinAll();
  server_->http.reset();
}

std::string MockAzureOpenAiUpstream::baseUrl() const {
  return "http://127.0.0.1:" + std::to_string(server_->port) + "/openai";
}

std::vector<AzureRecordedRequest> MockAzureOpenAiUpstream::requests() const {
  std::lock_guard lock(state_->mu);
  return state_->requests;
}

AzureRecordedRequest MockAzureOpenAiUpstream::lastRequest() const {
  std::lock_guard lock(state_->mu);
  return state_->requests.empty() ? AzureRecordedRequest{} : state_->requests.back();
}

void MockAzureOpenAiUpstream::failNext(int status, std::string body,
                                       std::map<std::string, std::string> headers) {
  std::lock_guard lock(state_->mu);
  state_->fail_status = status;
  state_->fail_body = std::move(body);
  state_->fail_headers = std::move(headers);
}

}  // namespace switchyard::testing
