/// @file mock_bedrock_upstream.cc
/// @brief The Poco HTTP server behind MockBedrockUpstream.
#include "mock_bedrock_upstream.h"
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
#include <sstream>

#include "eventstream_encoder.h"
#include "sigv4.h"

namespace switchyard::testing {

using nlohmann::json;
namespace es = eventstream;

struct MockBedrockUpstream::State {
  std::string access_key_id;
  std::string secret;
  std::string region;
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<RecordedRequest> requests;
  int bad_signatures = 0;
  int stream_chunks = 3;
  int fail_status = 0;
  std::string fail_type;
  std::string fail_message;
  std::string exception_type;
  std::string exception_message;
  bool hold = false;
  bool stopping = false;
};

namespace {

using Poco::Net::HTTPResponse;
using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;
using State = MockBedrockUpstream::State;
namespace sigv4 = bedrock::sigv4;

constexpr const char* kToolInput = R"({"city":"Paris"})";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

void sendError(HTTPServerResponse& response, int status, const std::string& type,
               const std::string& message) {
  const std::string body = json{{"message", message}}.dump();
  switchyard::setStatusCode(response, status);
  response.setContentType("application/json");
  response.set("x-amzn-ErrorType", type + ":http://internal.amazon.com/coral/com.amazon.bedrock/");
  response.set("x-amzn-RequestId", "mock-request-id");
  response.setContentLength(static_cast<std::streamsize>(body.size()));
  response.send() << body;
}

/// Recomputes the SigV4 signature from what arrived on the socket, as AWS does.
bool signatureValid(const RecordedRequest& rec, const State& s) {
  const auto auth_it = rec.headers.find("authorization");
  if (auth_it == rec.headers.end()) return false;
  const std::string& auth = auth_it->second;
  const std::string kCredential = "Credential=";
  const std::string kSigned = "SignedHeaders=";
  const size_t c = auth.find(kCredential);
  const size_t h = auth.find(kSigned);
  if (auth.rfind("AWS4-HMAC-SHA256 ", 0) != 0 || c == std::string::npos || h == std::string::npos) {
    return false;
  }
  // Credential=AKID/20240620/us-east-1/bedrock/aws4_request
  const std::string credential =
      auth.substr(c + kCredential.size(), auth.find(',', c) - c - kCredential.size());
  std::vector<std::string> parts;
  std::stringstream cs(credential);
  for (std::string p; std::getline(cs, p, '/');) parts.push_back(p);
  if (parts.size() != 5 || parts[0] != s.access_key_id || parts[2] != s.region ||
      parts[3] != "bedrock") {
    return false;
  }
  const std::string signed_list =
      auth.substr(h + kSigned.size(), auth.find(',', h) - h - kSigned.size());
  const auto date = rec.headers.find("x-amz-date");
  if (date == rec.headers.end() || date->second.substr(0, 8) != parts[1]) return false;
  const auto content_hash = rec.headers.find("x-amz-content-sha256");
  const std::string body_hash = sigv4::sha256Hex(rec.body);
  if (content_hash == rec.headers.end() || content_hash->second != body_hash) return false;

  sigv4::Request req{rec.method, rec.path.substr(0, rec.path.find('?')), "", {}, body_hash};
  std::stringstream ss(signed_list);
  for (std::string name; std::getline(ss, name, ';');) {
    const auto it = rec.headers.find(name);
    if (it == rec.headers.end()) return false;
    req.headers.emplace_back(name, it->second);
  }
  const std::string token_header = "x-amz-security-token";
  const std::string session =
      rec.headers.count(token_header) ? rec.headers.at(token_header) : std::string();
  const auto expected =
      sigv4::sign(req, {s.region, "bedrock", date->second}, {s.access_key_id, s.secret, session});
  return auth == expected.authorization;
}

std::string lastUserText(const json& body) {
  const json& messages = body["messages"];
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if ((*it)["role"] != "user") continue;
    std::string text;
    for (const auto& block : (*it)["content"]) {
      if (block.contains("text")) text += block["text"].get<std::string>();
    }
    return text;
  }
  return {};
}

/// Tools are offered and the conversation does not already end with a tool's result.
bool wantsTool(const json& body) {
  if (!body.contains("toolConfig")) return false;
  const json& last = body["messages"].back();
  for (const auto& block : last["content"]) {
    if (block.contains("toolResult")) return false;
  }
  return true;
}

std::string firstToolName(const json& body) {
  return body["toolConfig"]["tools"][0]["toolSpec"]["name"].get<std::string>();
}

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(std::shared_ptr<State> state) : state_(std::move(state)) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    RecordedRequest rec;
    rec.method = request.getMethod();
    rec.path = request.getURI();
    for (const auto& [name, value] : request) rec.headers[lower(name)] = value;
    Poco::StreamCopier::copyToString(request.stream(), rec.body);

    int fail_status = 0;
    std::string fail_type, fail_message, exception_type, exception_message;
    bool valid = false;
    {
      std::lock_guard lock(state_->mu);
      state_->requests.push_back(rec);
      valid = signatureValid(rec, *state_);
      if (!valid) ++state_->bad_signatures;
      std::swap(fail_status, state_->fail_status);
      fail_type = std::move(state_->fail_type);
      fail_message = std::move(state_->fail_message);
      exception_type = std::move(state_->exception_type);
      exception_message = std::move(state_->exception_message);
      state_->exception_type.clear();
    }
    try {
      if (!valid) {
        sendError(response, 403, "InvalidSignatureException",
                  "The request signature we calculated does not match the signature you "
                  "provided.");
        return;
      }
      if (fail_status != 0) {
        sendError(response, fail_status, fail_type, fail_message);
        return;
      }
      route(rec, response, exception_type, exception_message);
    } catch (const std::exception&) {
    }
  }

 private:
  void route(const RecordedRequest& rec, HTTPServerResponse& response,
             const std::string& exception_type, const std::string& exception_message) {
    const std::string path = rec.path.substr(0, rec.path.find('?'));
    const bool stream = path.size() > 16 && path.rfind("/converse-stream") == path.size() - 16;
    const bool converse = path.size() > 9 && path.rfind("/converse") == path.size() - 9;
    if (rec.method != "POST" || path.rfind("/model/", 0) != 0 || (!stream && !converse)) {
      sendError(response, 404, "UnknownOperationException", "Unknown operation " + path);
      return;
    }
    const json body = json::parse(rec.body, nullptr, false);
    if (!body.is_object() || !body.contains("messages") || !body["messages"].is_array() ||
        body["messages"].empty()) {
      sendError(response, 400, "ValidationException", "Malformed input request");
      return;
    }
    if (stream) {
      converseStream(body, response, exception_type, exception_message);
    } else {
      converseWhole(body, response);
    }
  }

  void converseWhole(const json& body, HTTPServerResponse& response) {
    json content = json::array();
    std::string stop = "end_turn";
    if (wantsTool(body)) {
      content.push_back({{"toolUse",
                          {{"toolUseId", "tooluse_mock_1"},
                           {"name", firstToolName(body)},
                           {"input", json::parse(kToolInput)}}}});
      stop = "tool_use";
    } else {
      content.push_back({{"text", "echo: " + lastUserText(body)}});
    }
    const std::string answer = json{
        {"output", {{"message", {{"role", "assistant"}, {"content", content}}}}},
        {"stopReason", stop},
        {"usage", {{"inputTokens", 11}, {"outputTokens", 7}, {"totalTokens", 18}}},
        {"metrics",
         {{"latencyMs", 42}}}}.dump();
    response.setStatus(HTTPResponse::HTTP_OK);
    response.setContentType("application/json");
    response.set("x-amzn-RequestId", "mock-request-id");
    response.setContentLength(static_cast<std::streamsize>(answer.size()));
    response.send() << answer;
  }

  void converseStream(const json& body, HTTPServerResponse& response,
                      const std::string& exception_type, const std::string& exception_message) {
    int chunks;
    {
      std::lock_guard lock(state_->mu);
      chunks = state_->stream_chunks;
    }
    response.setStatus(HTTPResponse::HTTP_OK);
    response.setContentType("application/vnd.amazon.eventstream");
    response.set("x-amzn-RequestId", "mock-request-id");
    response.setChunkedTransferEncoding(true);
    std::ostream& out = response.send();
    auto send = [&](const std::string& frame) {
      out << frame;
      out.flush();
      return out.good();
    };
    // Bedrock pads payloads with a "p" field; the plugin must ignore it.
    if (!send(es::event("messageStart", {{"p", "abcdef"}, {"role", "assistant"}}))) return;
    int output_tokens = 0;
    std::string stop = "end_turn";
    if (wantsTool(body)) {
      send(es::event(
          "contentBlockStart",
          {{"contentBlockIndex", 0},
           {"start",
            {{"toolUse", {{"toolUseId", "tooluse_mock_1"}, {"name", firstToolName(body)}}}}}}));
      const std::string input = kToolInput;
      for (size_t i = 0; i < input.size(); i += 3) {
        send(es::event(
            "contentBlockDelta",
            {{"contentBlockIndex", 0}, {"delta", {{"toolUse", {{"input", input.substr(i, 3)}}}}}}));
        ++output_tokens;
      }
      stop = "tool_use";
    } else {
      for (int i = 0; i < chunks; ++i) {
        if (!send(es::event("contentBlockDelta",
                            {{"contentBlockIndex", 0},
                             {"delta", {{"text", "tok" + std::to_string(i) + " "}}},
                             {"p", "abc"}}))) {
          return;
        }
        ++output_tokens;
        if (i == 0) {
          if (!exception_type.empty()) {
            send(es::exception(exception_type, exception_message));
            return;
          }
          waitWhileHeld();
        }
      }
    }
    send(es::event("contentBlockStop", {{"contentBlockIndex", 0}}));
    send(es::event("messageStop", {{"stopReason", stop}}));
    send(es::event("metadata", {{"usage",
                                 {{"inputTokens", 11},
                                  {"outputTokens", output_tokens},
                                  {"totalTokens", 11 + output_tokens}}},
                                {"metrics", {{"latencyMs", 42}}}}));
  }

  void waitWhileHeld() {
    std::unique_lock lock(state_->mu);
    state_->cv.wait(lock, [&] { return state_->stopping || !state_->hold; });
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

struct MockBedrockUpstream::Server {
  Poco::ThreadPool pool{2, 32, 60, 256 * 1024};
  std::unique_ptr<Poco::Net::HTTPServer> http;
  uint16_t port = 0;
};

MockBedrockUpstream::MockBedrockUpstream(std::string access_key_id, std::string secret,
                                         std::string region)
    : state_(std::make_shared<State>()), server_(std::make_unique<Server>()) {
  state_->access_key_id = std::move(access_key_id);
  state_->secret = std::move(secret);
  state_->region = std::move(region);
  Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0), 64);
  server_->port = socket.address().port();
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(30);
  params->setKeepAlive(true);
  server_->http =
      std::make_unique<Poco::Net::HTTPServer>(new Factory(state_), server_->pool, socket, params);
  server_->http->start();
}

MockBedrockUpstream::~MockBedrockUpstream() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
  }
  state_->cv.notify_all();
  server_->http->stopAll(/*abortCurrent=*/true);
  server_->pool.joinAll();
  server_->http.reset();
}

uint16_t MockBedrockUpstream::port() const {
  return server_->port;
}
std::string MockBedrockUpstream::baseUrl() const {
  return "http://127.0.0.1:" + std::to_string(server_->port);
}

std::vector<RecordedRequest> MockBedrockUpstream::requests() const {
  std::lock_guard lock(state_->mu);
  return state_->requests;
}
RecordedRequest MockBedrockUpstream::lastRequest() const {
  std::lock_guard lock(state_->mu);
  return state_->requests.empty() ? RecordedRequest{} : state_->requests.back();
}
int MockBedrockUpstream::badSignatures() const {
  std::lock_guard lock(state_->mu);
  return state_->bad_signatures;
}
void MockBedrockUpstream::setStreamChunks(int n) {
  std::lock_guard lock(state_->mu);
  state_->stream_chunks = n;
}
void MockBedrockUpstream::failNext(int status, std::string error_type, std::string message) {
  std::lock_guard lock(state_->mu);
  state_->fail_status = status;
  state_->fail_type = std::move(error_type);
  state_->fail_message = std::move(message);
}
void MockBedrockUpstream::streamExceptionNext(std::string exception_type, std::string message) {
  std::lock_guard lock(state_->mu);
  state_->exception_type = std::move(exception_type);
  state_->exception_message = std::move(message);
}
void MockBedrockUpstream::holdStreams(bool hold) {
  {
    std::lock_guard lock(state_->mu);
    state_->hold = hold;
  }
  state_->cv.notify_all();
}
void MockBedrockUpstream::releaseStreams() {
  holdStreams(false);
}

}  // namespace switchyard::testing
