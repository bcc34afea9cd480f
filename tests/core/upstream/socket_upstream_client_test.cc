#include "upstream/socket_upstream_client.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace switchyard {
namespace {

using namespace std::chrono_literals;

/// A loopback HTTP fixture: every accepted connection runs `handler(fd, index)` on its own
/// thread, index counting connections from 0.
class LoopbackServer {
 public:
  using Handler = std::function<void(int fd, int index)>;

  explicit LoopbackServer(Handler handler, int backlog = 16) : handler_(std::move(handler)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    socklen_t len = sizeof addr;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    EXPECT_EQ(::listen(listen_fd_, backlog), 0);
    if (handler_) acceptor_ = std::thread([this] { acceptLoop(); });
  }

  ~LoopbackServer() {
    ::shutdown(listen_fd_, SHUT_RDWR);
    if (acceptor_.joinable()) acceptor_.join();
    ::close(listen_fd_);
    std::lock_guard lock(mutex_);
    for (auto& t : workers_) t.join();
  }

  uint16_t port() const { return port_; }
  std::string url(const std::string& path = "") const {
    return "http://127.0.0.1:" + std::to_string(port_) + path;
  }
  int accepted() const { return accepted_.load(); }

 private:
  void acceptLoop() {
    for (;;) {
      const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) return;
      const int index = accepted_++;
      std::lock_guard lock(mutex_);
      workers_.emplace_back([this, fd, index] {
        handler_(fd, index);
        ::close(fd);
      });
    }
  }

  Handler handler_;
  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<int> accepted_{0};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> workers_;
};

/// Reads one request (head and Content-Length body); empty when the peer closed first.
std::string readRequest(int fd) {
  std::string in;
  char buf[4096];
  size_t head_end = std::string::npos;
  size_t need = 0;
  for (;;) {
    if (head_end == std::string::npos) {
      head_end = in.find("\r\n\r\n");
      if (head_end != std::string::npos) {
        head_end += 4;
        const size_t cl = in.find("Content-Length: ");
        if (cl != std::string::npos && cl < head_end) need = std::stoul(in.substr(cl + 16));
      }
    }
    if (head_end != std::string::npos && in.size() >= head_end + need) return in;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) return {};
    in.append(buf, static_cast<size_t>(n));
  }
}

bool sendAll(int fd, const std::string& s) {
  size_t off = 0;
  while (off < s.size()) {
    const ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
    if (n <= 0) return false;
    off += static_cast<size_t>(n);
  }
  return true;
}

/// Blocks until the client closes its end (what a stalled upstream sees when the gateway
/// gives up), so a fixture never outlives its test by much.
void waitForClose(int fd) {
  char buf[4096];
  while (::recv(fd, buf, sizeof buf, 0) > 0) {
  }
}

void resetConnection(int fd) {
  linger l{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
}

UpstreamCall call(const std::string& path = "/chat", std::string body = "{\"q\":1}") {
  UpstreamCall c;
  c.method = "POST";
  c.path = path;
  c.headers = {{"Content-Type", "application/json"}, {"Authorization", "Bearer k"}};
  c.body = std::move(body);
  c.timeouts.connect = 2000ms;
  c.timeouts.first_byte = 5000ms;
  c.timeouts.idle = 5000ms;
  c.timeouts.total = 10000ms;
  return c;
}

std::string okResponse(const std::string& body) {
  return "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: " +
         std::to_string(body.size()) + "\r\n\r\n" + body;
}

/// Answers every request on a connection with `response` until the client closes.
LoopbackServer::Handler answerAll(std::string response, std::vector<std::string>* requests = nullptr,
                                  std::mutex* mutex = nullptr) {
  return [response, requests, mutex](int fd, int) {
    for (;;) {
      std::string request = readRequest(fd);
      if (request.empty()) return;
      if (requests != nullptr) {
        std::lock_guard lock(*mutex);
        requests->push_back(request);
      }
      sendAll(fd, response);
    }
  };
}

std::string bodyOf(UpstreamStartResult& r, UpstreamExchange::Read* how = nullptr) {
  std::string body;
  const auto read = r.exchange->readAll(body, 64 << 20);
  if (how != nullptr) *how = read;
  return body;
}

TEST(SocketUpstreamClient, ReusesOneKeepAliveConnectionForSequentialCalls) {
  std::vector<std::string> requests;
  std::mutex mutex;
  LoopbackServer server(answerAll(okResponse("hello"), &requests, &mutex));
  auto client = makeSocketUpstreamClient();
  for (int i = 0; i < 5; ++i) {
    UpstreamStartResult r = client->start(server.url("/v1/"), 4, call("/chat/completions"));
    ASSERT_TRUE(r.exchange) << r.message;
    EXPECT_EQ(r.exchange->status(), 200);
    UpstreamExchange::Read how;
    EXPECT_EQ(bodyOf(r, &how), "hello");
    EXPECT_EQ(how, UpstreamExchange::Read::kEnd);
    ASSERT_EQ(r.exchange->headers().size(), 2u);
    EXPECT_EQ(r.exchange->headers()[0].first, "Content-Type");
    EXPECT_EQ(r.exchange->headers()[0].second, "text/plain");
  }
  EXPECT_EQ(server.accepted(), 1);
  std::lock_guard lock(mutex);
  ASSERT_EQ(requests.size(), 5u);
  const std::string& req = requests[0];
  EXPECT_EQ(req.rfind("POST /v1/chat/completions HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("\r\nHost: 127.0.0.1:" + std::to_string(server.port()) + "\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nContent-Length: 7\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nAuthorization: Bearer k\r\n"), std::string::npos) << req;
  EXPECT_NE(req.find("\r\nConnection: Keep-Alive\r\n"), std::string::npos) << req;
  EXPECT_EQ(req.substr(req.size() - 7), "{\"q\":1}");
}

TEST(SocketUpstreamClient, RequestHeadKeepsOneValuePerNameAndOwnsHostAndLength) {
  std::vector<std::string> requests;
  std::mutex mutex;
  LoopbackServer server(answerAll(okResponse(""), &requests, &mutex));
  auto client = makeSocketUpstreamClient();
  UpstreamCall c = call("/x", "");
  c.method = "GET";
  c.headers = {{"X-A", "1"}, {"Host", "evil"}, {"x-a", "2"}, {"X-Bad", "a\r\nInjected: 1"}};
  UpstreamStartResult r = client->start(server.url(), 4, c);
  ASSERT_TRUE(r.exchange) << r.message;
  bodyOf(r);
  std::lock_guard lock(mutex);
  ASSERT_EQ(requests.size(), 1u);
  const std::string& req = requests[0];
  EXPECT_EQ(req.rfind("GET /x HTTP/1.1\r\n", 0), 0u) << req;
  EXPECT_NE(req.find("\r\nX-A: 2\r\n"), std::string::npos) << req;
  EXPECT_EQ(req.find("x-a:"), std::string::npos) << req;
  EXPECT_EQ(req.find("evil"), std::string::npos) << req;
  EXPECT_EQ(req.find("Injected"), std::string::npos) << req;
  EXPECT_EQ(req.find("Content-Length"), std::string::npos) << req;  // GET without a body
}

TEST(SocketUpstreamClient, PoolKeepsAtMostMaxIdleConnections) {
  LoopbackServer server(answerAll(okResponse("x")));
  auto client = makeSocketUpstreamClient();
  // Two exchanges open at once need two connections; with max_idle 1 only one is kept.
  UpstreamStartResult a = client->start(server.url(), 1, call());
  UpstreamStartResult b = client->start(server.url(), 1, call());
  ASSERT_TRUE(a.exchange && b.exchange);
  bodyOf(a);
  bodyOf(b);
  a.exchange.reset();
  b.exchange.reset();
  for (int i = 0; i < 3; ++i) {
    UpstreamStartResult r = client->start(server.url(), 1, call());
    ASSERT_TRUE(r.exchange);
    bodyOf(r);
  }
  EXPECT_EQ(server.accepted(), 2);
}

TEST(SocketUpstreamClient, RetriesOnceWhenAReusedConnectionWasClosed) {
  // The first connection answers one request and closes: the pooled connection is stale.
  LoopbackServer server([](int fd, int index) {
    if (index == 0) {
      readRequest(fd);
      sendAll(fd, okResponse("one"));
      return;
    }
    answerAll(okResponse("two"))(fd, index);
  });
  auto client = makeSocketUpstreamClient();
  UpstreamStartResult first = client->start(server.url(), 4, call());
  ASSERT_TRUE(first.exchange);
  EXPECT_EQ(bodyOf(first), "one");
  first.exchange.reset();
  std::this_thread::sleep_for(50ms);  // let the fixture's close arrive
  UpstreamStartResult second = client->start(server.url(), 4, call());
  ASSERT_TRUE(second.exchange) << second.message;
  EXPECT_EQ(bodyOf(second), "two");
  EXPECT_EQ(server.accepted(), 2);
}

TEST(SocketUpstreamClient, FreshConnectionClosedWithoutAnswerIsNotRetried) {
  LoopbackServer server([](int fd, int) { readRequest(fd); });
  auto client = makeSocketUpstreamClient();
  UpstreamStartResult r = client->start(server.url(), 4, call());
  EXPECT_FALSE(r.exchange);
  EXPECT_EQ(r.failure, UpstreamFailure::kReset);
  EXPECT_FALSE(r.message.empty());
  EXPECT_EQ(server.accepted(), 1);
}

TEST(SocketUpstreamClient, ReusedConnectionFailingAfterPartOfTheAnswerIsNotRetried) {
  LoopbackServer server([](int fd, int index) {
    readRequest(fd);
    sendAll(fd, okResponse("one"));
    if (index == 0) {
      readRequest(fd);
      sendAll(fd, "HTTP/1.1 200 OK\r\nContent-");
    }
  });
  auto client = makeSocketUpstreamClient();
  UpstreamStartResult first = client->start(server.url(), 4, call());
  ASSERT_TRUE(first.exchange);
  bodyOf(first);
  first.exchange.reset();
  UpstreamStartResult second = client->start(server.url(), 4, call());
  EXPECT_FALSE(second.exchange);
  EXPECT_EQ(second.failure, UpstreamFailure::kReset);
  EXPECT_EQ(server.accepted(), 1);
}

TEST(SocketUpstreamClient, ConnectFailures) {
  auto client = makeSocketUpstreamClient();
  uint16_t port = 0;
  {
    LoopbackServer closed(nullptr);
    port = closed.port();
  }
  UpstreamStartResult r = client->start("http://127.0.0.1:" + std::to_string(port), 4, call());
  EXPECT_FALSE(r.exchange);
  EXPECT_EQ(r.failure, UpstreamFailure::kConnect);
  EXPECT_NE(r.message.find("127.0.0.1"), std::string::npos) << r.message;

  for (const char* bad : {"not a url", "ftp://127.0.0.1/", "http://"}) {
    r = client->start(bad, 4, call());
    EXPECT_FALSE(r.exchange) << bad;
    EXPECT_EQ(r.failure, UpstreamFailure::kConnect) << bad;
    EXPECT_EQ(r.message, "bad upstream base URL") << bad;
  }
  r = client->start("http://no-such-host.invalid:80", 4, call());
  EXPECT_FALSE(r.exchange);
  EXPECT_EQ(r.failure, UpstreamFailure::kConnect);
}

TEST(SocketUpstreamClient, ConnectTimeout) {
  // A listener with a full accept queue that never accepts: further SYNs go unanswered.
  LoopbackServer server(nullptr, 0);
  std::vector<int> fillers;
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(server.port());
  for (int i = 0; i < 4; ++i) {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    fillers.push_back(fd);
  }
  std::this_thread::sleep_for(50ms);
  auto client = makeSocketUpstreamClient();
  UpstreamCall c = call();
  c.timeouts.connect = 200ms;
  UpstreamStartResult r = client->start(server.url(), 4, c);
  for (int fd : fillers) ::close(fd);
  EXPECT_FALSE(r.exchange);
  EXPECT_EQ(r.failure, UpstreamFailure::kTimeout) << r.message;
}

TEST(SocketUpstreamClient, FirstByteTimeout) {
  LoopbackServer server([](int fd, int) {
    readRequest(fd);
    waitForClose(fd);
  });
  auto client = makeSocketUpstreamClient();
  UpstreamCall c = call();
  c.timeouts.first_byte = 200ms;
  UpstreamStartResult r = client->start(server.url(), 4, c);
  EXPECT_FALSE(r.exchange);
  EXPECT_EQ(r.failure, UpstreamFailure::kTimeout);
  EXPECT_EQ(r.message, "upstream first byte timeout");
}

TEST(SocketUpstreamClient, FirstByteTimeoutRunsUntilTheFirstBodyBytes) {
  LoopbackServer server([](int fd, int) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    waitForClose(fd);
  });
  auto client = makeSocketUpstreamClient();
  UpstreamCall c = call();
  c.timeouts.first_byte = 200ms;
  c.timeouts.idle = 60000ms;
  UpstreamStartResult r = client->start(server.url(), 4, c);
  ASSERT_TRUE(r.exchange) << r.message;
  std::string out;
  EXPECT_EQ(r.exchange->readSome(out), UpstreamExchange::Read::kFailed);
  EXPECT_EQ(r.exchange->failure(), UpstreamFailure::kTimeout);
  EXPECT_EQ(r.exchange->failureMessage(), "upstream first byte timeout");
}

TEST(SocketUpstreamClient, IdleTimeoutBetweenBodyBytes) {
  LoopbackServer server([](int fd, int) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    waitForClose(fd);
  });
  auto client = makeSocketUpstreamClient();
  UpstreamCall c = call();
  c.timeouts.idle = 200ms;
  UpstreamStartResult r = client->start(server.url(), 4, c);
  ASSERT_TRUE(r.exchange) << r.message;
  std::string out;
  UpstreamExchange::Read how;
  while ((how = r.exchange->readSome(out)) == UpstreamExchange::Read::kData) {
  }
  EXPECT_EQ(how, UpstreamExchange::Read::kFailed);
  EXPECT_EQ(out, "abc");
  EXPECT_EQ(r.exchange->failure(), UpstreamFailure::kTimeout);
  EXPECT_EQ(r.exchange->failureMessage(), "upstream idle timeout");
}

TEST(SocketUpstreamClient, TotalTimeoutWhileBytesKeepComing) {
  std::atomic<bool> stop{false};
  LoopbackServer server([&stop](int fd, int) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n");
    while (!stop && sendAll(fd, "x")) {
      std::this_thread::sleep_for(20ms);
    }
  });
  auto client = makeSocketUpstreamClient();
  UpstreamCall c = call();
  c.timeouts.idle = 5000ms;
  c.timeouts.total = 300ms;
  UpstreamStartResult r = client->start(server.url(), 4, c);
  ASSERT_TRUE(r.exchange) << r.message;
  std::string out;
  EXPECT_EQ(r.exchange->readAll(out, 1 << 20), UpstreamExchange::Read::kFailed);
  stop = true;
  EXPECT_EQ(r.exchange->failure(), UpstreamFailure::kTimeout);
  EXPECT_EQ(r.exchange->failureMessage(), "upstream total timeout");
  EXPECT_FALSE(out.empty());
}

TEST(SocketUpstreamClient, ResetMidBody) {
  LoopbackServer server([](int fd, int) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part");
    std::this_thread::sleep_for(50ms);
    resetConnection(fd);
  });
  auto client = makeSocketUpstreamClient();
  UpstreamStartResult r = client->start(server.url(), 4, call());
  ASSERT_TRUE(r.exchange) << r.message;
  std::string out;
  EXPECT_EQ(r.exchange->readAll(out, 1 << 20), UpstreamExchange::Read::kFailed);
  EXPECT_EQ(out, "only part");
  EXPECT_EQ(r.exchange->failure(), UpstreamFailure::kReset);
  EXPECT_FALSE(r.exchange->failureMessage().empty());
}

TEST(SocketUpstreamClient, CloseInsideALengthBodyIsAReset) {
  LoopbackServer server([](int fd, int) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort");
  });
  auto client = makeSocketUpstreamClient();
  UpstreamStartResult r = client->start(server.url(), 4, call());
  ASSERT_TRUE(r.exchange) << r.message;
  std::string out;
  EXPECT_EQ(r.exchange->readAll(out, 1 << 20), UpstreamExchange::Read::kFailed);
  EXPECT_EQ(r.exchange->failure(), UpstreamFailure::kReset);
}

TEST(SocketUpstreamClient, CloseDelimitedBody) {
  LoopbackServer server([](int fd, int) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end");
  });
  auto client = makeSocketUpstreamClient();
  for (int i = 0; i < 2; ++i) {
    UpstreamStartResult r = client->start(server.url(), 4, call());
    ASSERT_TRUE(r.exchange) << r.message;
    UpstreamExchange::Read how;
    EXPECT_EQ(bodyOf(r, &how), "until the end");
    EXPECT_EQ(how, UpstreamExchange::Read::kEnd);
  }
  EXPECT_EQ(server.accepted(), 2);  // such a connection is never pooled
}

TEST(SocketUpstreamClient, ConnectionCloseAnswerIsNotPooled) {
  LoopbackServer server([](int fd, int) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok");
    waitForClose(fd);
  });
  auto client = makeSocketUpstreamClient();
  for (int i = 0; i < 2; ++i) {
    UpstreamStartResult r = client->start(server.url(), 4, call());
    ASSERT_TRUE(r.exchange) << r.message;
    EXPECT_EQ(bodyOf(r), "ok");
  }
  EXPECT_EQ(server.accepted(), 2);
}

TEST(SocketUpstreamClient, UnfinishedBodyKeepsTheConnectionOutOfThePool) {
  LoopbackServer server(answerAll(okResponse(std::string(100000, 'b'))));
  auto client = makeSocketUpstreamClient();
  {
    UpstreamStartResult r = client->start(server.url(), 4, call());
    ASSERT_TRUE(r.exchange);
    std::string some;
    EXPECT_EQ(r.exchange->readSome(some), UpstreamExchange::Read::kData);
  }
  UpstreamStartResult r = client->start(server.url(), 4, call());
  ASSERT_TRUE(r.exchange);
  EXPECT_EQ(bodyOf(r).size(), 100000u);
  EXPECT_EQ(server.accepted(), 2);
}

TEST(SocketUpstreamClient, OversizeHeadIsAProtocolError) {
  LoopbackServer server([](int fd, int) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 200 OK\r\nX-Big: " + std::string(70 * 1024, 'a') + "\r\n\r\n");
    waitForClose(fd);
  });
  auto client = makeSocketUpstreamClient();
  UpstreamStartResult r = client->start(server.url(), 4, call());
  EXPECT_FALSE(r.exchange);
  EXPECT_EQ(r.failure, UpstreamFailure::kProtocol);
  EXPECT_NE(r.message.find("64 KiB"), std::string::npos) << r.message;
}

TEST(SocketUpstreamClient, GarbageIsAProtocolError) {
  LoopbackServer server([](int fd, int) {
    readRequest(fd);
    sendAll(fd, "SSH-2.0-OpenSSH\r\n\r\n");
    waitForClose(fd);
  });
  auto client = makeSocketUpstreamClient();
  UpstreamStartResult r = client->start(server.url(), 4, call());
  EXPECT_FALSE(r.exchange);
  EXPECT_EQ(r.failure, UpstreamFailure::kProtocol);
}

TEST(SocketUpstreamClient, BadChunkIsAProtocolError) {
  LoopbackServer server([](int fd, int) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nzz\r\n");
    waitForClose(fd);
  });
  auto client = makeSocketUpstreamClient();
  UpstreamStartResult r = client->start(server.url(), 4, call());
  ASSERT_TRUE(r.exchange);
  std::string out;
  EXPECT_EQ(r.exchange->readAll(out, 1 << 20), UpstreamExchange::Read::kFailed);
  EXPECT_EQ(r.exchange->failure(), UpstreamFailure::kProtocol);
}

TEST(SocketUpstreamClient, SkipsContinueAndReadsChunkedBodyWithTrailers) {
  LoopbackServer server(answerAll(
      "HTTP/1.1 100 Continue\r\n\r\n"
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
      "4;x=y\r\nwiki\r\n5\r\npedia\r\n0\r\nX-Checksum: 1\r\n\r\n"));
  auto client = makeSocketUpstreamClient();
  for (int i = 0; i < 3; ++i) {
    UpstreamStartResult r = client->start(server.url(), 4, call());
    ASSERT_TRUE(r.exchange) << r.message;
    EXPECT_EQ(r.exchange->status(), 200);
    UpstreamExchange::Read how;
    EXPECT_EQ(bodyOf(r, &how), "wikipedia");
    EXPECT_EQ(how, UpstreamExchange::Read::kEnd);
  }
  EXPECT_EQ(server.accepted(), 1);
}

TEST(SocketUpstreamClient, AnswersWithoutBody) {
  LoopbackServer server([](int fd, int) {
    for (;;) {
      const std::string request = readRequest(fd);
      if (request.empty()) return;
      if (request.rfind("HEAD", 0) == 0) {
        sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n");
      } else if (request.rfind("DELETE", 0) == 0) {
        sendAll(fd, "HTTP/1.1 204 No Content\r\n\r\n");
      } else {
        sendAll(fd, "HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n");
      }
    }
  });
  auto client = makeSocketUpstreamClient();
  for (const char* method : {"HEAD", "DELETE", "GET"}) {
    UpstreamCall c = call("/r", "");
    c.method = method;
    UpstreamStartResult r = client->start(server.url(), 4, c);
    ASSERT_TRUE(r.exchange) << method << ": " << r.message;
    std::string out;
    EXPECT_EQ(r.exchange->readSome(out), UpstreamExchange::Read::kEnd) << method;
    EXPECT_TRUE(out.empty());
  }
  EXPECT_EQ(server.accepted(), 1);
}

TEST(SocketUpstreamClient, StreamIsReadIncrementally) {
  std::promise<void> got_first;
  auto first_seen = got_first.get_future().share();
  LoopbackServer server([first_seen](int fd, int) {
    readRequest(fd);
    sendAll(fd, "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n");
    sendAll(fd, "d\r\ndata: first\n\n\r\n");
    // The second event leaves only after the client has seen the first one.
    first_seen.wait();
    sendAll(fd, "e\r\ndata: second\n\n\r\n0\r\n\r\n");
    waitForClose(fd);
  });
  auto client = makeSocketUpstreamClient();
  UpstreamStartResult r = client->start(server.url(), 4, call());
  ASSERT_TRUE(r.exchange) << r.message;
  std::string out;
  while (out.find("first") == std::string::npos) {
    ASSERT_EQ(r.exchange->readSome(out), UpstreamExchange::Read::kData);
  }
  EXPECT_EQ(out, "data: first\n\n");
  got_first.set_value();
  UpstreamExchange::Read how;
  while ((how = r.exchange->readSome(out)) == UpstreamExchange::Read::kData) {
  }
  EXPECT_EQ(how, UpstreamExchange::Read::kEnd);
  EXPECT_EQ(out, "data: first\n\ndata: second\n\n");
}

TEST(SocketUpstreamClient, LargeRequestAndResponseBodies) {
  const std::string big(3 * 1024 * 1024, 'q');
  LoopbackServer server([&big](int fd, int) {
    const std::string request = readRequest(fd);
    const bool intact = request.size() > big.size() && request.compare(request.size() - big.size(), big.size(), big) == 0;
    sendAll(fd, okResponse(intact ? big : "mangled"));
    waitForClose(fd);
  });
  auto client = makeSocketUpstreamClient();
  UpstreamStartResult r = client->start(server.url(), 4, call("/big", big));
  ASSERT_TRUE(r.exchange) << r.message;
  EXPECT_EQ(bodyOf(r) == big, true);
}

TEST(UpstreamClient, DispatchesPlainHttpToTheSocketClient) {
  LoopbackServer server(answerAll(okResponse("via sockets")));
  auto client = makeUpstreamClient();
  for (int i = 0; i < 3; ++i) {
    UpstreamStartResult r = client->start(server.url("/base"), 4, call());
    ASSERT_TRUE(r.exchange) << r.message;
    EXPECT_EQ(bodyOf(r), "via sockets");
  }
  EXPECT_EQ(server.accepted(), 1);
  UpstreamStartResult bad = client->start("gopher://x", 4, call());
  EXPECT_EQ(bad.failure, UpstreamFailure::kConnect);
}

}  // namespace
}  // namespace switchyard
