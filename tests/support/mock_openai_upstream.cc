/// @file tests/support/mock_openai_upstream.cc
/// @brief The Poco HTTP server behind MockOpenAiUpstream.
#include "mock_openai_upstream.h"
#include "switchyard/http/poco_status.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Net/HTTPServer.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/SocketAddress.h>
#include <Poco/StreamCopier.h>
#include <Poco/ThreadPool.h>
#include <Poco/Timespan.h>

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>
#include <nlohmann/json.hpp>

namespace switchyard::testing {

using nlohmann::json;

namespace {
// Fixed so the answers are reproducible; OpenAI sends the creation time.
constexpr int64_t kCreated = 1732600000;
constexpr const char* kToolArguments = "{\"city\":\"Paris\"}";

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string errorBody(const std::string& message, const std::string& type,
                      const std::string& code) {
  return json{{"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", code}}}}
      .dump();
}

// OpenAI accepts string content or an array of parts; tests mostly send strings.
std::string textOf(const json& content) {
  if (content.is_string()) {
    return content.get<std::string>();
  }
  std::string text;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
          part["text"].is_string()) {
        text += part["text"].get<std::string>();
      }
    }
  }
  return text;
}

std::string lastUserContent(const json& request) {
  if (!request.contains("messages") || !request["messages"].is_array()) {
    return {};
  }
  const auto& messages = request["messages"];
  for (auto it = messages.rbegin(); it != messages.rend(); ++it) {
    if (it->is_object() && it->value("role", "") == "user" && it->contains("content")) {
      return textOf((*it)["content"]);
    }
  }
  return {};
}

std::string firstToolName(const json& request) {
  const auto& tools = request["tools"];
  if (tools.is_array() && !tools.empty() && tools[0].contains("function") &&
      tools[0]["function"].contains("name") && tools[0]["function"]["name"].is_string()) {
    return tools[0]["function"]["name"].get<std::string>();
  }
  return "unknown_tool";
}

bool hasTools(const json& request) {
  return request.contains("tools") && request["tools"].is_array() && !request["tools"].empty();
}
}  // namespace

struct MockOpenAiUpstream::State {
  mutable std::mutex mu;
  std::condition_variable cv;
  std::vector<RecordedRequest> requests;
  int stream_chunks = 3;
  int chunk_delay_ms = 0;
  bool hold = false;
  uint64_t release_epoch = 0;  // Bumped by releaseStreams so held streams see a release.
  bool stopping = false;
  int open_streams = 0;
  int fault_times = 0;  // < 0: until cleared
  Fault fault;
  int faults_injected = 0;

  // Sleeps for the chunk delay; returns early when the mock shuts down.
  void pause() {
    std::unique_lock lock(mu);
    if (chunk_delay_ms > 0) {
      cv.wait_for(lock, std::chrono::milliseconds(chunk_delay_ms), [&] { return stopping; });
    }
  }
  // Sleeps for `d` (forever when 0, until released); returns early when the mock shuts down.
  void stall(std::chrono::milliseconds d) {
    std::unique_lock lock(mu);
    const uint64_t epoch = release_epoch;
    auto released = [&] { return stopping || release_epoch != epoch; };
    if (d.count() > 0) {
      cv.wait_for(lock, d, released);
    } else {
      cv.wait(lock, released);
    }
  }
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
using State = MockOpenAiUpstream::State;

void sendJson(HTTPServerResponse& response, int status, const std::string& body) {
  switchyard::setStatusCode(response, status);
  response.setContentType("application/json");
  response.setContentLength(static_cast<std::streamsize>(body.size()));
  response.send() << body;
}

// Writes one SSE event and pushes it onto the wire at once. False when the client is gone.
bool writeEvent(std::ostream& out, const std::string& data) {
  out << "data: " << data << "\n\n";
  out.flush();
  return out.good();
}

class StreamCounter {
 public:
  explicit StreamCounter(State& s) : s_(s) {
    std::lock_guard lock(s_.mu);
    ++s_.open_streams;
    s_.cv.notify_all();
  }
  ~StreamCounter() {
    std::lock_guard lock(s_.mu);
    --s_.open_streams;
    s_.cv.notify_all();
  }

 private:
  State& s_;
};

// An abortive close: the peer sees ECONNRESET, as when an upstream's process dies.
void reset(Poco::Net::StreamSocket& socket) {
  socket.setLinger(true, 0);
  socket.close();
}

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

    const json parsed = json::parse(rec.body, nullptr, /*allow_exceptions=*/false);
    const bool is_stream = rec.method == "POST" && rec.path.rfind("/v1/chat/completions", 0) == 0 &&
                           parsed.is_object() && parsed.value("stream", false);
    std::optional<Fault> fault;
    {
      std::lock_guard lock(state_->mu);
      state_->requests.push_back(rec);
      if (state_->fault_times != 0 && (is_stream || !state_->fault.streamOnly())) {
        if (state_->fault_times > 0) {
          --state_->fault_times;
        }
        ++state_->faults_injected;
        fault = state_->fault;
      }
      state_->cv.notify_all();
    }
    auto& socket = static_cast<Poco::Net::HTTPServerRequestImpl&>(request).socket();
    try {
      if (fault && fault->kind == Fault::Kind::kStatus) {
        for (const auto& [name, value] : fault->headers) {
          response.set(name, value);
        }
        switchyard::setStatusCode(response, fault->status);
        response.setContentType(fault->content_type);
        response.setContentLength(static_cast<std::streamsize>(fault->body.size()));
        response.send() << fault->body;
        return;
      }
      if (fault && fault->kind == Fault::Kind::kResetBeforeHeaders) {
        reset(socket);
        return;
      }
      if (fault && fault->kind == Fault::Kind::kSlowFirstByte) {
        state_->stall(fault->delay);
        fault.reset();
      }
      stream_fault_ = fault;
      socket_ = &socket;
      route(rec, response);
    } catch (const std::exception&) {
      // The client went away mid-answer; nothing useful to do in a fixture.
    }
  }

 private:
  void route(const RecordedRequest& rec, HTTPServerResponse& response) {
    std::string path = rec.path.substr(0, rec.path.find('?'));
    if (rec.method == "GET" && path == "/v1/models") {
      json models = {{"object", "list"}, {"data", json::array()}};
      for (const char* id : {"gpt-4o-mini", "gpt-4o", "text-embedding-3-small"}) {
        models["data"].push_back(
            {{"id", id}, {"object", "model"}, {"created", kCreated}, {"owned_by", "mock"}});
      }
      sendJson(response, 200, models.dump());
      return;
    }
    if (rec.method != "POST" || (path != "/v1/chat/completions" && path != "/v1/embeddings")) {
      sendJson(response, 404,
               errorBody("Unknown request URL: " + rec.method + " " + rec.path,
                         "invalid_request_error", "unknown_url"));
      return;
    }
    json body = json::parse(rec.body, nullptr, /*allow_exceptions=*/false);
    if (!body.is_object()) {
      sendJson(response, 400,
               errorBody("We could not parse the JSON body of your request.",
                         "invalid_request_error", "invalid_json"));
      return;
    }
    if (path == "/v1/embeddings") {
      embeddings(body, response);
    } else if (body.value("stream", false)) {
      stream(body, response);
    } else {
      completion(body, response);
    }
  }

  static std::string model(const json& body) {
    return body.contains("model") && body["model"].is_string() ? body["model"].get<std::string>()
                                                               : std::string();
  }

  void completion(const json& body, HTTPServerResponse& response) {
    json message = {{"role", "assistant"}};
    std::string finish = "stop";
    if (hasTools(body)) {
      message["content"] = nullptr;
      message["tool_calls"] = json::array(
          {{{"id", "call_mock_1"},
            {"type", "function"},
            {"function", {{"name", firstToolName(body)}, {"arguments", kToolArguments}}}}});
      finish = "tool_calls";
    } else {
      message["content"] = "echo: " + lastUserContent(body);
    }
    message["refusal"] = nullptr;
    json answer = {
        {"id", "chatcmpl-mock"},
        {"object", "chat.completion"},
        {"created", kCreated},
        {"model", model(body)},
        {"choices", json::array({{{"index", 0},
                                  {"message", message},
                                  {"logprobs", nullptr},
                                  {"finish_reason", finish}}})},
        {"usage", {{"prompt_tokens", 11}, {"completion_tokens", 7}, {"total_tokens", 18}}}};
    sendJson(response, 200, answer.dump());
  }

  void embeddings(const json& body, HTTPServerResponse& response) {
    size_t count = 1;
    const json& input = body.contains("input") ? body["input"] : json();
    // An array of strings (or of token arrays) is a batch; an array of numbers is one input.
    if (input.is_array() && !input.empty() && !input[0].is_number()) {
      count = input.size();
    }
    json data = json::array();
    for (size_t i = 0; i < count; ++i) {
      data.push_back({{"object", "embedding"}, {"index", i}, {"embedding", {0.1, 0.2, 0.3}}});
    }
    json answer = {{"object", "list"},
                   {"data", data},
                   {"model", model(body)},
                   {"usage", {{"prompt_tokens", 5}, {"total_tokens", 5}}}};
    sendJson(response, 200, answer.dump());
  }

  void stream(const json& body, HTTPServerResponse& response) {
    const bool include_usage = body.contains("stream_options") &&
                               body["stream_options"].is_object() &&
                               body["stream_options"].value("include_usage", false);
    const bool tools = hasTools(body);
    int chunks;
    {
      std::lock_guard lock(state_->mu);
      chunks = state_->stream_chunks;
    }
    const std::string model_name = model(body);
    auto chunk = [&](json delta, json finish) {
      json c = {{"id", "chatcmpl-mock"},
                {"object", "chat.completion.chunk"},
                {"created", kCreated},
                {"model", model_name},
                {"choices", json::array({{{"index", 0},
                                          {"delta", std::move(delta)},
                                          {"logprobs", nullptr},
                                          {"finish_reason", std::move(finish)}}})}};
      // OpenAI documents that with include_usage every other chunk carries "usage": null.
      if (include_usage) {
        c["usage"] = nullptr;
      }
      return c.dump();
    };

    StreamCounter counter(*state_);
    response.setStatus(HTTPResponse::HTTP_OK);
    response.setContentType("text/event-stream");
    response.set("Cache-Control", "no-cache");
    response.setChunkedTransferEncoding(true);
    std::ostream& out = response.send();

    // The pieces after the role chunk: content tokens, or the tool call's arguments.
    std::vector<json> deltas;
    json first;
    int completion_tokens = chunks;
    if (tools) {
      first = {{"role", "assistant"},
               {"content", nullptr},
               {"tool_calls",
                json::array({{{"index", 0},
                              {"id", "call_mock_1"},
                              {"type", "function"},
                              {"function", {{"name", firstToolName(body)}, {"arguments", ""}}}}})}};
      const std::string args = kToolArguments;
      for (std::string part : {args.substr(0, 8), args.substr(8, 4), args.substr(12)}) {
        deltas.push_back(
            {{"tool_calls", json::array({{{"index", 0}, {"function", {{"arguments", part}}}}})}});
      }
      completion_tokens = 3;
    } else {
      first = {{"role", "assistant"}, {"content", ""}, {"refusal", nullptr}};
      for (int i = 0; i < chunks; ++i) {
        deltas.push_back({{"content", "tok" + std::to_string(i) + " "}});
      }
    }

    // Writes the next event, after the injected stream fault when its turn has come. False
    // when the stream must end here.
    int sent = 0;
    auto emit = [&](const std::string& data) {
      if (stream_fault_ && sent == stream_fault_->after_events) {
        const Fault f = *stream_fault_;
        stream_fault_.reset();
        if (f.kind == Fault::Kind::kResetMidStream) {
          out.flush();
          // Lets the events sent so far be read first: an RST can overtake unread data.
          std::this_thread::sleep_for(std::chrono::milliseconds(50));
          reset(*socket_);
          return false;
        }
        if (f.kind == Fault::Kind::kStallMidStream) {
          state_->stall(f.delay);
        } else if (!writeEvent(out,
                               "{\"id\":\"chatcmpl-mock\",\"choices\":[{\"delta\":{\"content\":")) {
          return false;  // kMalformedChunk: a JSON document cut short
        }
        if (stopping()) {
          return false;
        }
      }
      ++sent;
      return writeEvent(out, data);
    };
    if (!emit(chunk(first, nullptr))) {
      return;
    }
    for (size_t i = 0; i < deltas.size(); ++i) {
      if (i > 0) {
        state_->pause();
      }
      if (!emit(chunk(deltas[i], nullptr))) {
        return;
      }
      if (i == 0) {
        state_->waitWhileHeld();
      }
      if (stopping()) {
        return;
      }
    }
    if (!emit(chunk(json::object(), tools ? "tool_calls" : "stop"))) {
      return;
    }
    if (include_usage) {
      json usage = {{"id", "chatcmpl-mock"},
                    {"object", "chat.completion.chunk"},
                    {"created", kCreated},
                    {"model", model_name},
                    {"choices", json::array()},
                    {"usage",
                     {{"prompt_tokens", 11},
                      {"completion_tokens", completion_tokens},
                      {"total_tokens", 11 + completion_tokens}}}};
      if (!emit(usage.dump())) {
        return;
      }
    }
    emit("[DONE]");
  }

  bool stopping() const {
    std::lock_guard lock(state_->mu);
    return state_->stopping;
  }

  std::shared_ptr<State> state_;
  std::optional<Fault> stream_fault_;  // a stream fault still to come in this request's answer
  Poco::Net::StreamSocket* socket_ = nullptr;
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

struct MockOpenAiUpstream::Server {
  // Enough threads for ~64 concurrent streams plus the dispatcher's own bookkeeping.
  Poco::ThreadPool pool{4, 160, 60, 256 * 1024};
  std::mutex mu;  // guards http across setDown()
  std::unique_ptr<Poco::Net::HTTPServer> http;
  uint16_t port = 0;
};

namespace {
std::unique_ptr<Poco::Net::HTTPServer> listen(const std::shared_ptr<State>& state,
                                              Poco::ThreadPool& pool,
                                              Poco::Net::ServerSocket socket) {
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(150);
  params->setMaxQueued(512);
  params->setKeepAlive(true);
  params->setKeepAliveTimeout(Poco::Timespan(30, 0));
  params->setMaxKeepAliveRequests(0);  // Unlimited, like OpenAI's edge.
  auto http = std::make_unique<Poco::Net::HTTPServer>(new Factory(state), pool, socket, params);
  http->start();
  return http;
}
}  // namespace

MockOpenAiUpstream::MockOpenAiUpstream()
    : state_(std::make_shared<State>()), server_(std::make_unique<Server>()) {
  Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", 0), 256);
  server_->port = socket.address().port();
  server_->http = listen(state_, server_->pool, socket);
}

MockOpenAiUpstream::~MockOpenAiUpstream() {
  {
    std::lock_guard lock(state_->mu);
    state_->stopping = true;
    state_->hold = false;
    ++state_->release_epoch;
  }
  state_->cv.notify_all();
  // Shutting the sockets down wakes handlers blocked on the network and idle keep-alive
  // connections, so joining cannot hang on a client that never hangs up.
  {
    std::lock_guard lock(server_->mu);
    if (server_->http) {
      server_->http->stopAll(/*abortCurrent=*/true);
    }
  }
  server_->pool.joinAll();
  server_->http.reset();
}

void MockOpenAiUpstream::setDown(bool down) {
  std::lock_guard lock(server_->mu);
  if (down && server_->http) {
    server_->http->stopAll(/*abortCurrent=*/true);
    server_->http.reset();
  } else if (!down && !server_->http) {
    // SO_REUSEADDR (Poco's default for a ServerSocket) lets the port be bound again at once.
    Poco::Net::ServerSocket socket(Poco::Net::SocketAddress("127.0.0.1", server_->port), 256);
    server_->http = listen(state_, server_->pool, socket);
  }
}

uint16_t MockOpenAiUpstream::port() const {
  return server_->port;
}

std::string MockOpenAiUpstream::baseUrl() const {
  return "http://127.0.0.1:" + std::to_string(server_->port) + "/v1";
}

std::vector<RecordedRequest> MockOpenAiUpstream::requests() const {
  std::lock_guard lock(state_->mu);
  return state_->requests;
}

RecordedRequest MockOpenAiUpstream::lastRequest() const {
  std::lock_guard lock(state_->mu);
  return state_->requests.empty() ? RecordedRequest{} : state_->requests.back();
}

size_t MockOpenAiUpstream::requestCount() const {
  std::lock_guard lock(state_->mu);
  return state_->requests.size();
}

void MockOpenAiUpstream::clearRequests() {
  std::lock_guard lock(state_->mu);
  state_->requests.clear();
}

void MockOpenAiUpstream::setStreamChunks(int n) {
  std::lock_guard lock(state_->mu);
  state_->stream_chunks = std::max(n, 1);
}

void MockOpenAiUpstream::setChunkDelay(int ms) {
  std::lock_guard lock(state_->mu);
  state_->chunk_delay_ms = std::max(ms, 0);
}

void MockOpenAiUpstream::holdStreams(bool hold) {
  {
    std::lock_guard lock(state_->mu);
    state_->hold = hold;
  }
  state_->cv.notify_all();
}

void MockOpenAiUpstream::releaseStreams() {
  {
    std::lock_guard lock(state_->mu);
    state_->hold = false;
    ++state_->release_epoch;
  }
  state_->cv.notify_all();
}

int MockOpenAiUpstream::openStreams() const {
  std::lock_guard lock(state_->mu);
  return state_->open_streams;
}

void MockOpenAiUpstream::failNext(int status, std::string body, int times) {
  injectFault(Fault::httpStatus(status, std::move(body)), times);
}

void MockOpenAiUpstream::injectFault(Fault fault, int times) {
  std::lock_guard lock(state_->mu);
  state_->fault = std::move(fault);
  state_->fault_times = times;
}

void MockOpenAiUpstream::clearFaults() {
  {
    std::lock_guard lock(state_->mu);
    state_->fault_times = 0;
    ++state_->release_epoch;  // a stall in progress ends too
  }
  state_->cv.notify_all();
}

int MockOpenAiUpstream::faultsInjected() const {
  std::lock_guard lock(state_->mu);
  return state_->faults_injected;
}

Fault Fault::httpStatus(int status, std::string body, std::map<std::string, std::string> headers) {
  Fault f;
  f.status = status;
  f.body = body.empty() ? errorBody("injected failure", "server_error", "") : std::move(body);
  f.headers = std::move(headers);
  return f;
}

Fault Fault::rateLimited(const std::string& retry_after) {
  return httpStatus(429,
                    errorBody("Rate limit reached for requests", "requests", "rate_limit_exceeded"),
                    {{"Retry-After", retry_after}});
}

Fault Fault::slowFirstByte(std::chrono::milliseconds delay) {
  Fault f;
  f.kind = Kind::kSlowFirstByte;
  f.delay = delay;
  return f;
}

Fault Fault::resetBeforeHeaders() {
  Fault f;
  f.kind = Kind::kResetBeforeHeaders;
  return f;
}

Fault Fault::resetMidStream(int after_events) {
  Fault f;
  f.kind = Kind::kResetMidStream;
  f.after_events = after_events;
  return f;
}

Fault Fault::stallMidStream(int after_events, std::chrono::milliseconds delay) {
  Fault f;
  f.kind = Kind::kStallMidStream;
  f.after_events = after_events;
  f.delay = delay;
  return f;
}

Fault Fault::malformedChunk(int after_events) {
  Fault f;
  f.kind = Kind::kMalformedChunk;
  f.after_events = after_events;
  return f;
}

void MockOpenAiUpstream::answerNext(int status, std::string content_type, std::string body, int times) {
  Fault f = Fault::httpStatus(status, std::move(body));
  f.content_type = std::move(content_type);
  injectFault(std::move(f), times);
}

bool MockOpenAiUpstream::waitForOpenStreams(int n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mu);
  return state_->cv.wait_for(lock, timeout, [&] { return state_->open_streams == n; });
}

bool MockOpenAiUpstream::waitForRequests(size_t n, std::chrono::milliseconds timeout) {
  std::unique_lock lock(state_->mu);
  return state_->cv.wait_for(lock, timeout, [&] { return state_->requests.size() >= n; });
}

}  // namespace switchyard::testing
