#include "switchyard/http/http_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <future>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>

namespace switchyard {
namespace {

using namespace std::chrono_literals;

/// A raw client socket: tests here are about bytes on the wire.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  }
  ~RawClient() { ::close(fd_); }

  bool connected() const { return connected_; }
  void send(const std::string& bytes) {
    ASSERT_EQ(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL), (ssize_t)bytes.size());
  }

  /// Reads until `needle` has arrived (returns everything read so far), the peer closes, or 5 s
  /// pass.
  std::string readUntil(const std::string& needle, std::chrono::milliseconds wait = 5000ms) {
    const auto until = std::chrono::steady_clock::now() + wait;
    while (buffer_.find(needle) == std::string::npos && !closed_) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) {
        break;
      }
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
        break;
      }
      char buf[8192];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      buffer_.append(buf, static_cast<size_t>(n));
    }
    return buffer_;
  }
  /// Reads until the peer closes (or 5 s pass); @return whether it closed.
  bool waitClosed() {
    readUntil(std::string(1, '\0') + "never");
    return closed_;
  }
  /// Drops what was read so far.
  void consume() { buffer_.clear(); }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  std::string buffer_;
};

/// Echoes what it was sent, as JSON; a few paths behave specially.
class EchoHandler : public HttpHandler {
 public:
  void handle(const HttpRequest& request, HttpResponseWriter& response) override {
    calls++;
    if (request.path == "/throw") {
      throw std::runtime_error("handler bug");
    }
    if (request.path == "/stream") {
      response.beginStream(200, "text/event-stream");
      response.write("data: one\n\n");
      streamed.set_value();
      release.get_future().wait();
      response.write("data: two\n\n");
      return;
    }
    if (request.path == "/slow") {
      std::this_thread::sleep_for(300ms);
    }
    nlohmann::json j = {{"method", request.method}, {"path", request.path},
                        {"query", request.query},   {"body", request.body},
                        {"peer", request.peer},     {"id", request.request_id}};
    response.setHeader("X-Echo", "1");
    response.send(200, "application/json", j.dump());
  }

  std::atomic<int> calls{0};
  std::promise<void> streamed;
  std::promise<void> release;
};

class HttpServerTest : public ::testing::Test {
 protected:
  void start(HttpServerOptions options = {}) {
    options.listen = ListenAddress{"127.0.0.1", 0};
    server_ = std::make_unique<HttpServer>(options, handler_);
    server_->start();
  }
  uint16_t port() const { return server_->port(); }

  EchoHandler handler_;
  std::unique_ptr<HttpServer> server_;
};

nlohmann::json bodyOf(const std::string& response) {
  const size_t at = response.find("\r\n\r\n");
  return nlohmann::json::parse(response.substr(at + 4), nullptr, false);
}

TEST_F(HttpServerTest, KeepAliveConnectionsServeRequestAfterRequest) {
  start();
  RawClient c(port());
  for (int i = 0; i < 3; ++i) {
    c.send("GET /ping?i=" + std::to_string(i) + " HTTP/1.1\r\nHost: x\r\n\r\n");
    const std::string r = c.readUntil("}");
    EXPECT_EQ(r.rfind("HTTP/1.1 200 OK\r\n", 0), 0u) << r;
    EXPECT_NE(r.find("X-Echo: 1\r\n"), std::string::npos);
    EXPECT_NE(r.find("x-request-id: req_"), std::string::npos);
    EXPECT_NE(r.find("Date: "), std::string::npos);
    EXPECT_EQ(bodyOf(r)["query"], "i=" + std::to_string(i));
    EXPECT_EQ(bodyOf(r)["peer"].get<std::string>().rfind("127.0.0.1:", 0), 0u);
    c.consume();
  }
  EXPECT_EQ(server_->openConnections(), 1);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  start();
  RawClient c(port());
  c.send(
      "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabcGET /b HTTP/1.1\r\n\r\nGET /c "
      "HTTP/1.1\r\nConnection: close\r\n\r\n");
  ASSERT_TRUE(c.waitClosed());
  const std::string all = c.readUntil("");
  const size_t a = all.find("\"path\":\"/a\"");
  const size_t b = all.find("\"path\":\"/b\"");
  const size_t cpath = all.find("\"path\":\"/c\"");
  ASSERT_NE(a, std::string::npos) << all;
  ASSERT_NE(b, std::string::npos) << all;
  ASSERT_NE(cpath, std::string::npos) << all;
  EXPECT_LT(a, b);
  EXPECT_LT(b, cpath);
  EXPECT_NE(all.find("\"body\":\"abc\""), std::string::npos);
  EXPECT_NE(all.find("Connection: close"), std::string::npos);
}

TEST_F(HttpServerTest, AChunkedBodyReachesTheHandlerDecoded) {
  start();
  RawClient c(port());
  c.send("POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n");
  std::this_thread::sleep_for(50ms);  // the rest arrives later
  c.send("4\r\ndefg\r\n0\r\n\r\n");
  EXPECT_EQ(bodyOf(c.readUntil("}"))["body"], "abcdefg");
}

TEST_F(HttpServerTest, ExpectContinueIsAnsweredBeforeTheBodyIsSent) {
  start();
  RawClient c(port());
  c.send("POST /up HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n");
  EXPECT_EQ(c.readUntil("\r\n\r\n"), "HTTP/1.1 100 Continue\r\n\r\n");
  c.consume();
  c.send("hi");
  EXPECT_EQ(bodyOf(c.readUntil("}"))["body"], "hi");
}

TEST_F(HttpServerTest, MalformedRequestsGetAJson400AndTheConnectionCloses) {
  start();
  RawClient c(port());
  c.send("THIS IS NOT HTTP\r\n\r\n");
  ASSERT_TRUE(c.waitClosed());
  const std::string r = c.readUntil("");
  EXPECT_EQ(r.rfind("HTTP/1.1 400 Bad Request\r\n", 0), 0u) << r;
  EXPECT_EQ(bodyOf(r)["error"]["code"], "malformed_http");
  EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(HttpServerTest, AnOversizedBodyIsRefusedWith413BeforeItIsSent) {
  HttpServerOptions o;
  o.max_body_bytes = 1000;
  start(o);
  RawClient c(port());
  c.send("POST /up HTTP/1.1\r\nContent-Length: 5000000\r\n\r\n" + std::string(64 * 1024, 'x'));
  const std::string r = c.readUntil("}");
  EXPECT_EQ(r.rfind("HTTP/1.1 413 ", 0), 0u) << r;
  EXPECT_EQ(bodyOf(r)["error"]["code"], "request_too_large");
  EXPECT_NE(r.find("Connection: close"), std::string::npos);
  EXPECT_EQ(handler_.calls.load(), 0);
}

TEST_F(HttpServerTest, StreamChunksLeaveAsTheHandlerWritesThem) {
  start();
  RawClient c(port());
  c.send("GET /stream HTTP/1.1\r\n\r\n");
  ASSERT_EQ(handler_.streamed.get_future().wait_for(5s), std::future_status::ready);
  const std::string first = c.readUntil("data: one");
  EXPECT_NE(first.find("Transfer-Encoding: chunked"), std::string::npos);
  EXPECT_NE(first.find("data: one"), std::string::npos);  // while the handler still runs
  EXPECT_EQ(server_->activeRequests(), 1);
  handler_.release.set_value();
  const std::string all = c.readUntil("0\r\n\r\n");
  EXPECT_NE(all.find("data: two"), std::string::npos);
  EXPECT_NE(all.find("\r\n0\r\n\r\n"), std::string::npos);
}

TEST_F(HttpServerTest, AHandlerThatThrowsGivesA500AndTheServerServesOn) {
  start();
  {
    RawClient c(port());
    c.send("GET /throw HTTP/1.1\r\n\r\n");
    const std::string r = c.readUntil("}");
    EXPECT_EQ(r.rfind("HTTP/1.1 500 ", 0), 0u) << r;
    EXPECT_EQ(bodyOf(r)["error"]["type"], "internal_error");
  }
  RawClient again(port());
  again.send("GET /ok HTTP/1.1\r\n\r\n");
  EXPECT_EQ(again.readUntil("}").rfind("HTTP/1.1 200 ", 0), 0u);
}

TEST_F(HttpServerTest, AnHttp10ClientGetsItsConnectionClosed) {
  start();
  RawClient c(port());
  c.send("GET /old HTTP/1.0\r\n\r\n");
  ASSERT_TRUE(c.waitClosed());
  const std::string r = c.readUntil("");
  EXPECT_EQ(r.rfind("HTTP/1.0 200 OK\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos);
}

TEST_F(HttpServerTest, IdleKeepAliveConnectionsHoldNoThreads) {
  start();
  auto threads = [] {
    return std::distance(std::filesystem::directory_iterator("/proc/self/task"),
                         std::filesystem::directory_iterator{});
  };
  const auto before = threads();
  std::vector<std::unique_ptr<RawClient>> clients;
  for (int i = 0; i < 300; ++i) {
    clients.push_back(std::make_unique<RawClient>(port()));
    ASSERT_TRUE(clients.back()->connected());
  }
  for (auto& c : clients) {  // each serves one request, then sits idle
    c->send("GET /x HTTP/1.1\r\n\r\n");
    c->readUntil("}");
  }
  EXPECT_EQ(server_->openConnections(), 300);
  EXPECT_LT(threads() - before, 50) << "a thread per idle connection";
}

/// Records the nice value of the thread that runs the handler.
class NiceProbe : public HttpHandler {
 public:
  void handle(const HttpRequest&, HttpResponseWriter& response) override {
    nice = getpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)));
    response.send(200, "text/plain", "ok");
  }
  std::atomic<int> nice{-100};
};

TEST(HttpServerWorkers, HandlersRunNicerThanTheLoopByWorkerNice) {
  NiceProbe probe;
  HttpServerOptions o;
  o.listen = ListenAddress{"127.0.0.1", 0};
  o.worker_nice = 3;
  HttpServer server(o, probe);
  server.start();
  RawClient c(server.port());
  c.send("GET / HTTP/1.1\r\n\r\n");
  c.readUntil("ok");
  EXPECT_EQ(probe.nice.load(), std::min(19, getpriority(PRIO_PROCESS, 0) + 3));
}

TEST(HttpServerReusePort, TwoServersShareOnePortAndBothGetConnections) {
  EchoHandler first_handler;
  EchoHandler second_handler;
  HttpServerOptions o;
  o.listen = ListenAddress{"127.0.0.1", 0};
  o.reuse_port = true;
  HttpServer first(o, first_handler);
  o.listen.port = first.port();
  HttpServer second(o, second_handler);
  first.start();
  second.start();
  // The kernel picks a listener by a hash of each connection's addresses: over 64 connections
  // both get some (all on one would be a 2^-63 chance).
  for (int i = 0; i < 64; ++i) {
    RawClient c(first.port());
    c.send("GET /x HTTP/1.1\r\nConnection: close\r\n\r\n");
    EXPECT_NE(c.readUntil("}").find("200 OK"), std::string::npos);
  }
  EXPECT_EQ(first_handler.calls + second_handler.calls, 64);
  EXPECT_GT(first_handler.calls, 0);
  EXPECT_GT(second_handler.calls, 0);
}

TEST(HttpServerReusePort, WithoutItASecondListenerOnTheSamePortIsRefused) {
  EchoHandler handler;
  HttpServerOptions o;
  o.listen = ListenAddress{"127.0.0.1", 0};
  o.reuse_port = true;
  HttpServer first(o, handler);
  o.listen.port = first.port();
  o.reuse_port = false;
  EXPECT_THROW(HttpServer(o, handler), std::exception);
}

TEST_F(HttpServerTest, DrainFinishesInFlightRequestsAndRefusesNewConnections) {
  start();
  RawClient busy(port());
  busy.send("GET /slow HTTP/1.1\r\n\r\n");
  RawClient idle(port());
  idle.send("GET /x HTTP/1.1\r\n\r\n");
  idle.readUntil("}");
  while (server_->activeRequests() == 0) {
    std::this_thread::sleep_for(5ms);
  }
  server_->stopAccepting();
  RawClient late(port());
  EXPECT_FALSE(late.connected());
  const std::string r = busy.readUntil("}");
  EXPECT_EQ(r.rfind("HTTP/1.1 200 ", 0), 0u) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos);
  EXPECT_TRUE(idle.waitClosed());  // idle keep-alive connections are closed at once
  EXPECT_TRUE(server_->waitIdle(5s));
}

TEST_F(HttpServerTest, BeyondTheCapANewConnectionIsToldToRetry) {
  HttpServerOptions o;
  o.max_connections = 1;
  start(o);
  RawClient first(port());
  first.send("GET /x HTTP/1.1\r\n\r\n");
  first.readUntil("}");
  RawClient second(port());
  second.send("GET /x HTTP/1.1\r\n\r\n");
  const std::string r = second.readUntil("}");
  EXPECT_EQ(r.rfind("HTTP/1.1 503 ", 0), 0u) << r;
  EXPECT_NE(r.find("Retry-After: 1"), std::string::npos);
  EXPECT_EQ(bodyOf(r)["error"]["code"], "gateway_overloaded");
  EXPECT_EQ(server_->refusedConnections(), 1u);
}

}  // namespace
}  // namespace switchyard
