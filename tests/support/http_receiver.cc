/// @file tests/support/http_receiver.cc
/// @brief The Poco HTTP server behind HttpReceiver.
#include "http_receiver.h"

#include <Poco/InflatingStream.h>
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
#include <sstream>
#include <thread>

#include "switchyard/http/poco_status.h"

namespace switchyard::testing {

struct HttpReceiver::State {
  mutable std::mutex mu;
  std::vector<ReceivedRequest> requests;
  int status = 200;
  std::string body = "{}";
  int fail_times = 0;
  int fail_status = 0;
  std::string fail_body;
};

namespace {

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

std::string gunzip(const std::string& bytes) {
  std::istringstream in(bytes);
  Poco::InflatingInputStream inflate(in, Poco::InflatingStreamBuf::STREAM_GZIP);
  std::string out;
  Poco::StreamCopier::copyToString(inflate, out);
  return out;
}

class Handler : public Poco::Net::HTTPRequestHandler {
 public:
  explicit Handler(std::shared_ptr<HttpReceiver::State> state) : state_(std::move(state)) {}

  void handleRequest(Poco::Net::HTTPServerRequest& request,
                     Poco::Net::HTTPServerResponse& response) override {
    try {
      ReceivedRequest rec;
      rec.method = request.getMethod();
      rec.path = request.getURI();
      for (const auto& [name, value] : request) {
        rec.headers[lower(name)] = value;
      }
      Poco::StreamCopier::copyToString(request.stream(), rec.wire_body);
      rec.body = lower(request.get("Content-Encoding", "")) == "gzip" ? gunzip(rec.wire_body)
                                                                      : rec.wire_body;
      int status = 0;
      std::string body;
      {
        std::lock_guard lock(state_->mu);
        state_->requests.push_back(rec);
        if (state_->fail_times > 0) {
          --state_->fail_times;
          status = state_->fail_status;
          body = state_->fail_body;
        } else {
          status = state_->status;
          body = state_->body;
        }
      }
      switchyard::setStatusCode(response, status);
      response.setContentType("application/json");
      response.setContentLength(static_cast<std::streamsize>(body.size()));
      response.send() << body;
    } catch (const std::exception&) {
      // The client went away or sent garbage; a fixture has nothing useful to add.
    }
  }

 private:
  std::shared_ptr<HttpReceiver::State> state_;
};

class Factory : public Poco::Net::HTTPRequestHandlerFactory {
 public:
  explicit Factory(std::shared_ptr<HttpReceiver::State> state) : state_(std::move(state)) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(
      const Poco::Net::HTTPServerRequest&) override {
    return new Handler(state_);
  }

 private:
  std::shared_ptr<HttpReceiver::State> state_;
};

}  // namespace

struct HttpReceiver::Server {
  Poco::ThreadPool pool{2, 32, 60, 256 * 1024};
  std::unique_ptr<Poco::Net::HTTPServer> http;
};

HttpReceiver::HttpReceiver()
    : state_(std::make_shared<State>()), server_(std::make_unique<Server>()) {
  start();
}

HttpReceiver::~HttpReceiver() {
  stop();
}

void HttpReceiver::start() {
  if (server_->http) {
    return;
  }
  // The same port again after stop(): SO_REUSEADDR lets it rebind past TIME_WAIT.
  Poco::Net::ServerSocket socket;
  socket.bind(Poco::Net::SocketAddress("127.0.0.1", port_), /*reuseAddress=*/true);
  socket.listen(64);
  port_ = socket.address().port();
  auto* params = new Poco::Net::HTTPServerParams;
  params->setMaxThreads(32);
  params->setKeepAlive(false);
  server_->http =
      std::make_unique<Poco::Net::HTTPServer>(new Factory(state_), server_->pool, socket, params);
  server_->http->start();
}

void HttpReceiver::stop() {
  if (!server_->http) {
    return;
  }
  server_->http->stopAll(/*abortCurrent=*/true);
  server_->pool.joinAll();
  server_->http.reset();
}

bool HttpReceiver::running() const {
  return server_->http != nullptr;
}

uint16_t HttpReceiver::port() const {
  return port_;
}

std::string HttpReceiver::url(const std::string& path) const {
  return "http://127.0.0.1:" + std::to_string(port_) + path;
}

void HttpReceiver::respondWith(int status, std::string body) {
  std::lock_guard lock(state_->mu);
  state_->status = status;
  state_->body = std::move(body);
}

void HttpReceiver::failNext(int status, std::string body, int times) {
  std::lock_guard lock(state_->mu);
  state_->fail_status = status;
  state_->fail_body = std::move(body);
  state_->fail_times = times;
}

std::vector<ReceivedRequest> HttpReceiver::requests() const {
  std::lock_guard lock(state_->mu);
  return state_->requests;
}

size_t HttpReceiver::requestCount() const {
  std::lock_guard lock(state_->mu);
  return state_->requests.size();
}

void HttpReceiver::clearRequests() {
  std::lock_guard lock(state_->mu);
  state_->requests.clear();
}

bool HttpReceiver::waitUntil(const std::function<bool()>& done,
                             std::chrono::milliseconds timeout) const {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

}  // namespace switchyard::testing
