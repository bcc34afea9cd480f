/// @file tests/plugins/gemini/mock_gemini_upstream.cc
/// @brief The Poco HTTP server behind MockGeminiUpstream.
#include "mock_gemini_upstream.h"
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

struct MockGeminiUpstream::State {
  mutable std::mutex mu;
  std::vector<GeminiRecordedRequest> requests;
  int fail_status = 0;
  std::string fail_body;
};

namespace {

using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;
using State = MockGeminiUpstream::State;

constexpr const char* kPrefix = "/v1beta/models/";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string googleError(int code, const std::string& message, const std::string& status) {
  return json{{"error", {{"code", code}, {"message", message}, {"status", status}}}}.dump();
}

void sendJson(HTTPServerResponse& response, int status, const std::string& body) {
  switchyard::setStatusCode(response, status);
  response.setContentType("application/json; charset=UTF-8");
  response.setContentLength(static_cast<std::streamsize>(body.size()));
  response.send() << body;
}

std::string lastUserText(const json& request) {
  const json& contents = request.value("contents", json::array());
  for (auto it = contents.rbegin(); it != contents.rend(); ++it) {
    if (it->value("role", "user") != "user") continue;
    std::string text;
    for (const auto& part : it->value("parts", json::array())) {
      if (part.contains("text")) text += part["text"].get<std::string>();
    }
    if (!text.empty()) return text;
  }
  return {};
}

std::string firstFunction(const json& request) {
  if (!request.contains("tools")) return {};
  for (const auto& tool : request["tools"]) {
    for (const auto& decl : tool.value("functionDeclarations", json::array())) {
      return decl.value("name", "");
    }
  }
  return {};
}

json usage() {
  return {{"promptTokenCount", 11}, {"candidatesTokenCount", 7}, {"totalTokenCount", 18}};
}

json response(json parts, const char* finish, bool with_usage) {
  json candidate = {{"content", {{"role", "model"}, {"parts", std::move(parts)}}}, {"index", 0}};
  if (finish != nullptr) candidate["finishReason"] = finish;
  json r = {{"candidates", json::array({candidate})},
            {"modelVersion", "gemini-2.0-flash-001"},
            {"responseId", "mock-response-1"}};
  r["usageMetadata"] =
      with_usage ? usage() : json{{"promptTokenCount", 11}, {"totalTokenCount", 11}};
  return r;
}

json call(const std::string& name, const char* city) {
  return {{"functionCall", {{"name", name}, {"args", {{"city", city}}}}}};
}

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(std::shared_ptr<State> state) : state_(std::move(state)) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& out) override {
    GeminiRecordedRequest rec;
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
  void route(const GeminiRecordedRequest& rec, HTTPServerResponse& out) {
    if (rec.headers.count("x-goog-api-key") == 0) {
      sendJson(out, 403,
               googleError(403,
                           "Method doesn't allow unregistered callers (callers without "
                           "established identity). Please use API Key or other form of API "
                           "consumer identity to call this API.",
                           "PERMISSION_DENIED"));
      return;
    }
    const size_t colon = rec.path.rfind(':');
    if (rec.method != "POST" || rec.path.rfind(kPrefix, 0) != 0 || colon == std::string::npos) {
      sendJson(out, 404, googleError(404, "Not found: " + rec.path, "NOT_FOUND"));
      return;
    }
    const std::string method = rec.path.substr(colon + 1);
    const json body = json::parse(rec.body, nullptr, false);
    if (!body.is_object()) {
      sendJson(out, 400, googleError(400, "Invalid JSON payload received.", "INVALID_ARGUMENT"));
      return;
    }
    if (method == "generateContent") {
      generate(body, out);
    } else if (method == "streamGenerateContent?alt=sse") {
      stream(body, out);
    } else if (method == "embedContent") {
      sendJson(out, 200, json{{"embedding", {{"values", {0.1, 0.2, 0.3}}}}}.dump());
    } else if (method == "batchEmbedContents") {
      json embeddings = json::array();
      for (size_t i = 0; i < body.value("requests", json::array()).size(); ++i) {
        embeddings.push_back({{"values", {0.1 * double(i + 1), 0.2, 0.3}}});
      }
      sendJson(out, 200, json{{"embeddings", embeddings}}.dump());
    } else {
      sendJson(out, 404, googleError(404, "Unknown method " + method, "NOT_FOUND"));
    }
  }

  static void generate(const json& body, HTTPServerResponse& out) {
    const std::string fn = firstFunction(body);
    json parts = json::array();
    if (fn.empty()) {
      parts.push_back({{"text", "echo: " + lastUserText(body)}});
    } else {
      parts = {{{"text", "Checking."}}, call(fn, "Paris"), call(fn, "Lyon")};
    }
    sendJson(out, 200, response(std::move(parts), "STOP", true).dump());
  }

  static void stream(const json& body, HTTPServerResponse& out) {
    const std::string fn = firstFunction(body);
    std::vector<json> events;
    if (fn.empty()) {
      for (int i = 0; i < 3; ++i) {
        events.push_back(response({{{"text", "tok" + std::to_string(i) + " "}}}, nullptr, false));
      }
    } else {
      events.push_back(response({{{"text", "Checking"}}}, nullptr, false));
      events.push_back(response({{{"text", "."}}, call(fn, "Paris")}, nullptr, false));
      events.push_back(response({call(fn, "Lyon")}, nullptr, false));
    }
    events.push_back(response({{{"text", ""}}}, "STOP", true));

    out.setStatus(HTTPResponse::HTTP_OK);
    out.setContentType("text/event-stream");
    out.setChunkedTransferEncoding(true);
    std::ostream& os = out.send();
    for (const auto& e : events) {
      // Gemini's event separator is CRLF CRLF; each event is flushed as it is produced.
      os << "data: " << e.dump() << "\r\n\r\n";
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

struct MockGeminiUpstream::Server {
  Poco::ThreadPool pool{2, 32, 60, 256 * 1024};
  std::unique_ptr<Poco::Net::HTTPServer> http;
  uint16_t port = 0;
};

MockGeminiUpstream::MockGeminiUpstream()
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

MockGeminiUpstream::~MockGeminiUpstream() {
  server_->http->stopAll(/*abortCurrent=*/true);
  server_->pool.joinAll();
  server_->http.reset();
}

std::string MockGeminiUpstream::baseUrl() const {
  return "http://127.0.0.1:" + std::to_string(server_->port) + "/v1beta";
}

std::vector<GeminiRecordedRequest> MockGeminiUpstream::requests() const {
  std::lock_guard lock(state_->mu);
  return state_->requests;
}

GeminiRecordedRequest MockGeminiUpstream::lastRequest() const {
  std::lock_guard lock(state_->mu);
  return state_->requests.empty() ? GeminiRecordedRequest{} : state_->requests.back();
}

void MockGeminiUpstream::failNext(int status, std::string body) {
  std::lock_guard lock(state_->mu);
  state_->fail_status = status;
  state_->fail_body = std::move(body);
}

}  // namespace switchyard::testing
