#include "switchyard/http/http_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <ctime>
#include <mutex>
#include <random>
#include <stdexcept>
#include <thread>
#include <unordered_set>
#include <vector>

#include "http/request_parser.h"
#include "http/worker_pool.h"
#include "switchyard/common/api_error.h"

namespace switchyard {
namespace {

using Clock = std::chrono::steady_clock;
using http1::iequals;

std::string newRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string id;
  id.reserve(36);
  id = "req_";
  for (int i = 0; i < 2; ++i) {
    uint64_t v = rng();
    for (int j = 0; j < 16; ++j) {
      id += kHex[(v >> (j * 4)) & 15];
    }
  }
  return id;
}

/// "Date: ...\r\n", formatted once a second per thread.
std::string_view dateLine() {
  thread_local char line[64];
  thread_local size_t length = 0;
  thread_local time_t formatted_at = -1;
  const time_t now = time(nullptr);
  if (now != formatted_at) {
    tm t{};
    gmtime_r(&now, &t);
    length = strftime(line, sizeof line, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", &t);
    formatted_at = now;
  }
  return {line, length};
}

std::string peerName(const sockaddr_storage& ss) {
  char host[INET6_ADDRSTRLEN] = {0};
  if (ss.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6&>(ss);
    inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(a.sin6_port));
  }
  const auto& a = reinterpret_cast<const sockaddr_in&>(ss);
  inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
  return std::string(host) + ":" + std::to_string(ntohs(a.sin_port));
}

/// Where a connection is: waiting in the event loop for request bytes, with a worker running
/// its handler, or being closed politely (an answer sent, the client's leftovers discarded).
enum class Phase : uint8_t { kReading, kBusy, kLinger };

struct Connection {
  Connection(int fd_, std::string peer_, const http1::RequestLimits& limits)
      : fd(fd_), peer(std::move(peer_)), parser(limits) {}

  int fd;
  std::string peer;
  std::string in;  ///< bytes read and not yet consumed by the parser
  http1::RequestParser parser;
  std::atomic<Phase> phase{Phase::kReading};
  Clock::time_point deadline;
  int served = 0;
  bool counted = true;  ///< an open connection (a refused one is not)
  bool request_started = false;
  bool continue_sent = false;
  bool peer_closed = false;
  size_t lingered = 0;
  size_t linger_cap = 0;
};

constexpr uint32_t kReadEvents = EPOLLIN | EPOLLRDHUP | EPOLLONESHOT;

/// Writes all of `parts` to a non-blocking socket, waiting up to `stall` for room each time the
/// socket buffer is full. @return false when the peer is gone or stalls longer.
bool sendAll(int fd, iovec* parts, int count, int stall_ms) {
  while (count > 0) {
    msghdr msg{};
    msg.msg_iov = parts;
    msg.msg_iovlen = static_cast<size_t>(count);
    const ssize_t n = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        pollfd pfd{fd, POLLOUT, 0};
        int rc;
        do {
          rc = ::poll(&pfd, 1, stall_ms);
        } while (rc < 0 && errno == EINTR);
        if (rc <= 0 || (pfd.revents & (POLLERR | POLLHUP | POLLNVAL)) != 0) {
          return false;
        }
        continue;
      }
      return false;
    }
    size_t left = static_cast<size_t>(n);
    while (count > 0 && left >= parts->iov_len) {
      left -= parts->iov_len;
      ++parts;
      --count;
    }
    if (count > 0) {
      parts->iov_base = static_cast<char*>(parts->iov_base) + left;
      parts->iov_len -= left;
    }
  }
  return true;
}

bool sendAll(int fd, std::string_view a, std::string_view b, int stall_ms) {
  iovec parts[2] = {{const_cast<char*>(a.data()), a.size()},
                    {const_cast<char*>(b.data()), b.size()}};
  return sendAll(fd, parts, b.empty() ? 1 : 2, stall_ms);
}

std::string errorResponse(int status, const ApiError& error, bool close) {
  const std::string body = error.toJson();
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " +
                    std::string(http1::reasonPhrase(status)) + "\r\n";
  out += dateLine();
  out += "Content-Type: application/json\r\nx-request-id: " + newRequestId() + "\r\n";
  if (status == 503) {
    out += "Retry-After: 1\r\n";
  }
  if (close) {
    out += "Connection: close\r\n";
  }
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out += body;
  return out;
}

}  // namespace

struct HttpServer::Impl {
  Impl(HttpServerOptions o, HttpHandler& h) : options(std::move(o)), handler(h) {
    limits.max_body_bytes = options.max_body_bytes;
  }

  HttpServerOptions options;
  HttpHandler& handler;
  http1::RequestLimits limits;
  int listen_fd = -1;
  int epoll_fd = -1;
  int wake_fd = -1;
  int spare_fd = -1;  ///< held open so that at the fd limit one connection can still be told 503
  uint16_t port = 0;
  std::thread loop;
  std::unique_ptr<WorkerPool> workers;

  std::mutex conns_mutex;
  std::unordered_set<Connection*> conns;
  std::atomic<int> open{0};
  std::atomic<int> active{0};
  std::atomic<uint64_t> refused{0};
  std::atomic<bool> accepting{false};
  std::atomic<bool> draining{false};
  std::atomic<bool> stopping{false};
  bool listener_closed = false;  // loop thread only
  char read_buffer[65536];       // loop thread only

  // Markers told apart from connections in epoll's user data.
  char listen_tag = 0;
  char wake_tag = 0;

  int stallMs() const { return std::max(1, options.request_timeout_s) * 1000; }

  // --- loop thread -------------------------------------------------------------------------

  void runLoop() {
    epoll_event events[256];
    auto next_sweep = Clock::now() + std::chrono::milliseconds(250);
    while (!stopping.load()) {
      const int n = ::epoll_wait(epoll_fd, events, 256, 250);
      for (int i = 0; i < n; ++i) {
        void* tag = events[i].data.ptr;
        if (tag == &listen_tag) {
          acceptAll();
        } else if (tag == &wake_tag) {
          uint64_t v;
          [[maybe_unused]] ssize_t r = ::read(wake_fd, &v, sizeof v);
        } else {
          onReadable(static_cast<Connection*>(tag));
        }
      }
      if (!accepting.load() && !listener_closed) {
        closeListener();
      }
      const auto now = Clock::now();
      if (now >= next_sweep || draining.load()) {
        sweep(now);
        next_sweep = now + std::chrono::milliseconds(250);
      }
    }
  }

  void closeListener() {
    listener_closed = true;
    if (listen_fd >= 0) {
      ::epoll_ctl(epoll_fd, EPOLL_CTL_DEL, listen_fd, nullptr);
      ::close(listen_fd);
      listen_fd = -1;
    }
  }

  void acceptAll() {
    for (;;) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      const int fd = ::accept4(listen_fd, reinterpret_cast<sockaddr*>(&ss), &len,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) {
          continue;
        }
        if (errno == EMFILE || errno == ENFILE) {
          refuseAtFdLimit();
        }
        return;
      }
      if (!accepting.load()) {
        ::close(fd);
        continue;
      }
      if (open.load() >= options.max_connections) {
        refuse(fd, peerName(ss));
        continue;
      }
      const int one = 1;
      // Responses go out as one write, but SSE chunks are small writes in a row: without
      // NODELAY each second one waits for the peer's delayed ACK (~40 ms).
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto* c = new Connection(fd, peerName(ss), limits);
      c->deadline = Clock::now() + std::chrono::seconds(options.request_timeout_s);
      open++;
      track(c);
      epoll_event ev{kReadEvents, {.ptr = c}};
      if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        closeConnection(c);
      }
    }
  }

  /// Beyond the cap: answer 503 at once, then read and drop what the client sends so that
  /// closing does not become a reset that destroys the answer on the client's side.
  void refuse(int fd, std::string peer) {
    refused++;
    static const std::string kResponse =
        errorResponse(503,
                      ApiError{503, "overloaded_error", "gateway_overloaded",
                               "The gateway is at its connection limit; retry shortly"},
                      true);
    if (!sendAll(fd, kResponse, {}, 100)) {
      ::close(fd);
      return;
    }
    ::shutdown(fd, SHUT_WR);
    auto* c = new Connection(fd, std::move(peer), limits);
    c->counted = false;
    startLinger(c, 64 * 1024, std::chrono::seconds(1));
    track(c);
    epoll_event ev{kReadEvents, {.ptr = c}};
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_ADD, fd, &ev) != 0) {
      closeConnection(c);
    }
  }

  /// At the process's fd limit the listener stays readable and cannot be drained; give up the
  /// spare fd for one accept so that the client gets a 503 instead of hanging in the backlog.
  void refuseAtFdLimit() {
    if (spare_fd < 0) {
      return;
    }
    ::close(spare_fd);
    spare_fd = -1;
    const int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd >= 0) {
      refused++;
      static const std::string kResponse =
          errorResponse(503,
                        ApiError{503, "overloaded_error", "gateway_overloaded",
                                 "The gateway is out of file descriptors; retry shortly"},
                        true);
      sendAll(fd, kResponse, {}, 10);
      ::close(fd);
    }
    spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    static std::atomic<int64_t> last_warning{0};
    const int64_t now_s =
        std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
    if (last_warning.exchange(now_s) != now_s) {
      spdlog::warn("{}: out of file descriptors; new connections are answered 503", options.name);
    }
  }

  void startLinger(Connection* c, size_t cap, std::chrono::milliseconds for_at_most) {
    c->phase = Phase::kLinger;
    c->linger_cap = cap;
    c->lingered = 0;
    c->deadline = Clock::now() + for_at_most;
  }

  void onReadable(Connection* c) {
    if (c->phase.load() == Phase::kLinger) {
      char sink[16384];
      for (;;) {
        const ssize_t n = ::recv(c->fd, sink, sizeof sink, 0);
        if (n > 0) {
          c->lingered += static_cast<size_t>(n);
          if (c->lingered > c->linger_cap) {
            closeConnection(c);
            return;
          }
          continue;
        }
        if (n < 0 && errno == EINTR) {
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          rearm(c);
          return;
        }
        closeConnection(c);  // EOF or error: the client has what it needs
        return;
      }
    }

    bool eof = false;
    size_t this_round = 0;
    for (;;) {
      const ssize_t n = ::recv(c->fd, read_buffer, sizeof read_buffer, 0);
      if (n > 0) {
        c->in.append(read_buffer, static_cast<size_t>(n));
        this_round += static_cast<size_t>(n);
        if (static_cast<size_t>(n) < sizeof read_buffer || this_round >= (1u << 20)) {
          break;  // drained for now, or enough for one turn: other connections wait too
        }
        continue;
      }
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;
      }
      eof = true;
      break;
    }
    c->peer_closed = c->peer_closed || eof;
    if (!c->in.empty() && !c->request_started) {
      c->request_started = true;
      c->deadline = Clock::now() + std::chrono::seconds(options.request_timeout_s);
    }
    process(c);
  }

  /// Runs the parser over what has arrived, then hands a complete request to a worker,
  /// answers a bad one, or waits for more.
  void process(Connection* c) {
    const size_t used = c->parser.feed(c->in);
    c->in.erase(0, used);
    if (c->parser.failed()) {
      answerParseError(c);
      return;
    }
    if (c->parser.done()) {
      c->phase = Phase::kBusy;
      active++;
      if (!workers->submit([this, c] {
            serve(c);
            active--;
          })) {
        active--;
        closeConnection(c);
      }
      return;
    }
    if (c->peer_closed) {
      closeConnection(c);  // the client left in the middle of a request (or between requests)
      return;
    }
    if (c->parser.headParsed() && c->parser.expectsContinue() && !c->continue_sent) {
      c->continue_sent = true;
      static const std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
      if (!sendAll(c->fd, kContinue, {}, 100)) {
        closeConnection(c);
        return;
      }
    }
    rearm(c);
  }

  void answerParseError(Connection* c) {
    int status = 400;
    ApiError error = ApiError::invalidRequest("Malformed HTTP request", "malformed_http");
    switch (c->parser.error()) {
      case http1::ParseError::kBodyTooLarge:
        status = 413;
        error = ApiError{413, "invalid_request_error", "request_too_large",
                         "Request body exceeds the gateway limit of " +
                             std::to_string(limits.max_body_bytes) + " bytes"};
        break;
      case http1::ParseError::kHeadTooLarge:
        status = 431;
        error = ApiError{431, "invalid_request_error", "request_header_too_large",
                         "Request head exceeds the gateway limit of " +
                             std::to_string(limits.max_head_bytes) + " bytes or " +
                             std::to_string(limits.max_header_count) + " header fields"};
        break;
      case http1::ParseError::kBadVersion:
        status = 505;
        error = ApiError{505, "invalid_request_error", "http_version_not_supported",
                         "Only HTTP/1.0 and HTTP/1.1 are served"};
        break;
      default:
        break;
    }
    error.status = status;
    if (!sendAll(c->fd, errorResponse(status, error, true), {}, 100)) {
      closeConnection(c);
      return;
    }
    ::shutdown(c->fd, SHUT_WR);
    // Like nginx's lingering close: a 413 is sent before the body is read; closing with it
    // unread would make the kernel answer with a reset that can destroy the 413 in transit.
    startLinger(c, 4u * 1024 * 1024, std::chrono::seconds(2));
    rearm(c);
  }

  /// Closes connections past their deadline and, while draining, idle keep-alive ones.
  void sweep(Clock::time_point now) {
    std::vector<Connection*> expired;
    {
      std::lock_guard lock(conns_mutex);
      for (Connection* c : conns) {
        const Phase phase = c->phase.load();
        if (phase == Phase::kBusy) {
          continue;
        }
        if (now >= c->deadline ||
            (draining.load() && phase == Phase::kReading && !c->request_started)) {
          expired.push_back(c);
        }
      }
    }
    for (Connection* c : expired) {
      closeConnection(c);
    }
  }

  // --- both threads --------------------------------------------------------------------------

  void track(Connection* c) {
    std::lock_guard lock(conns_mutex);
    conns.insert(c);
  }

  void rearm(Connection* c) {
    epoll_event ev{kReadEvents, {.ptr = c}};
    if (::epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c->fd, &ev) != 0) {
      closeConnection(c);
    }
  }

  void closeConnection(Connection* c) {
    {
      std::lock_guard lock(conns_mutex);
      conns.erase(c);
    }
    ::close(c->fd);
    if (c->counted) {
      open--;
    }
    delete c;
  }

  // --- worker threads ------------------------------------------------------------------------

  void serve(Connection* c);
};

namespace {

/// Our response writer over the connection's socket: the head and a body leave in one write;
/// a stream's chunks are framed and written as they come.
class SocketResponseWriter : public HttpResponseWriter {
 public:
  SocketResponseWriter(int fd, bool keep_alive, bool http10, bool head_only, int stall_ms,
                       const std::atomic<bool>& draining)
      : fd_(fd),
        draining_(draining),
        keep_alive_(keep_alive),
        http10_(http10),
        head_only_(head_only),
        stall_ms_(stall_ms) {}

  void setHeader(const std::string& name, const std::string& value) override {
    if (started_) {
      return;
    }
    // Framing headers are the server's to write.
    if (iequals(name, "content-length") || iequals(name, "transfer-encoding") ||
        iequals(name, "connection") || iequals(name, "keep-alive")) {
      return;
    }
    for (auto& [n, v] : headers_) {
      if (iequals(n, name)) {
        v = value;
        return;
      }
    }
    headers_.emplace_back(name, value);
  }

  bool send(int status, std::string_view content_type, std::string_view body) override {
    if (started_) {
      return false;
    }
    started_ = true;
    std::string head = buildHead(status, content_type, /*stream=*/false, body.size());
    ok_ = sendAll(fd_, head, head_only_ ? std::string_view{} : body, stall_ms_);
    return ok_;
  }

  bool beginStream(int status, std::string_view content_type) override {
    if (started_) {
      return false;
    }
    started_ = true;
    streaming_ = true;
    if (http10_) {
      keep_alive_ = false;  // an HTTP/1.0 client reads a stream until the connection closes
    }
    std::string head = buildHead(status, content_type, /*stream=*/true, 0);
    ok_ = sendAll(fd_, head, {}, stall_ms_);
    return ok_;
  }

  bool write(std::string_view bytes) override {
    if (!streaming_ || !ok_) {
      return false;
    }
    if (bytes.empty() || head_only_) {
      return true;  // an empty chunk would end the stream
    }
    if (http10_) {
      ok_ = sendAll(fd_, bytes, {}, stall_ms_);
      return ok_;
    }
    char size_line[24];
    char* const end = std::to_chars(size_line, size_line + 20, bytes.size(), 16).ptr;
    end[0] = '\r';
    end[1] = '\n';
    iovec parts[3] = {{size_line, static_cast<size_t>(end + 2 - size_line)},
                      {const_cast<char*>(bytes.data()), bytes.size()},
                      {const_cast<char*>("\r\n"), 2}};
    ok_ = sendAll(fd_, parts, 3, stall_ms_);
    return ok_;
  }

  void closeAfter() override { keep_alive_ = false; }
  bool started() const override { return started_; }

  /// Ends the response: the last chunk of a stream, or a 500 if the handler sent nothing.
  void finish() {
    if (!started_) {
      keep_alive_ = false;
      send(500, "application/json", ApiError::internal("internal error").toJson());
      return;
    }
    if (streaming_ && ok_ && !http10_ && !head_only_) {
      ok_ = sendAll(fd_, "0\r\n\r\n", {}, stall_ms_);
    }
  }

  /// The connection can carry another request.
  bool reusable() const { return ok_ && keep_alive_ && !draining_.load(); }

 private:
  std::string buildHead(int status, std::string_view content_type, bool stream, size_t length) {
    if (status < 100 || status > 999) {
      status = 500;
    }
    if (draining_.load()) {
      keep_alive_ = false;
    }
    std::string head;
    head.reserve(256);
    head += http10_ ? "HTTP/1.0 " : "HTTP/1.1 ";
    head += std::to_string(status);
    head += ' ';
    head += http1::reasonPhrase(status);
    head += "\r\n";
    head += dateLine();
    if (!content_type.empty()) {
      head += "Content-Type: ";
      head += content_type;
      head += "\r\n";
    }
    for (const auto& [name, value] : headers_) {
      head += name;
      head += ": ";
      head += value;
      head += "\r\n";
    }
    if (stream) {
      if (!http10_) {
        head += "Transfer-Encoding: chunked\r\n";
      }
    } else {
      head += "Content-Length: ";
      head += std::to_string(length);
      head += "\r\n";
    }
    if (!keep_alive_) {
      head += "Connection: close\r\n";
    } else if (http10_) {
      head += "Connection: keep-alive\r\n";
    }
    head += "\r\n";
    return head;
  }

  int fd_;
  const std::atomic<bool>& draining_;  ///< a drain that starts mid-request closes after it
  bool keep_alive_;
  bool http10_;
  bool head_only_;
  int stall_ms_;
  bool started_ = false;
  bool streaming_ = false;
  bool ok_ = true;
  HeaderList headers_;
};

}  // namespace

void HttpServer::Impl::serve(Connection* c) {
  for (;;) {
    HttpRequest& request = c->parser.request();
    request.request_id = newRequestId();
    request.peer = c->peer;
    ++c->served;
    const bool keep_alive =
        c->parser.keepAlive() && !c->peer_closed && !draining.load() &&
        (options.max_keep_alive_requests <= 0 || c->served < options.max_keep_alive_requests);
    SocketResponseWriter writer(c->fd, keep_alive, c->parser.http10(), request.method == "HEAD",
                                stallMs(), draining);
    writer.setHeader("x-request-id", request.request_id);
    try {
      handler.handle(request, writer);
    } catch (const std::exception& e) {
      spdlog::error("unhandled error serving {}: {}", request.path, e.what());
      writer.closeAfter();
    } catch (...) {
      spdlog::error("unhandled error serving {}", request.path);
      writer.closeAfter();
    }
    writer.finish();
    if (!writer.reusable()) {
      closeConnection(c);
      return;
    }
    c->parser.reset();
    c->continue_sent = false;
    c->request_started = !c->in.empty();
    if (c->request_started) {  // pipelined: the next request may already be here
      const size_t used = c->parser.feed(c->in);
      c->in.erase(0, used);
      if (c->parser.done()) {
        continue;
      }
      if (c->parser.failed()) {
        sendAll(
            c->fd,
            errorResponse(400, ApiError::invalidRequest("Malformed HTTP request", "malformed_http"),
                          true),
            {}, 100);
        closeConnection(c);
        return;
      }
    }
    c->deadline =
        Clock::now() + std::chrono::seconds(c->request_started ? options.request_timeout_s
                                                               : options.keep_alive_timeout_s);
    c->phase = Phase::kReading;
    workers->finishingJob();
    rearm(c);  // from here on the loop owns the connection
    return;
  }
}

HttpServer::HttpServer(HttpServerOptions options, HttpHandler& handler)
    : impl_(std::make_unique<Impl>(std::move(options), handler)) {
  Impl& m = *impl_;
  const auto& o = m.options;
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string port = std::to_string(o.listen.port);
  const int rc = ::getaddrinfo(o.listen.host.empty() ? nullptr : o.listen.host.c_str(),
                               port.c_str(), &hints, &found);
  if (rc != 0 || found == nullptr) {
    throw std::runtime_error("cannot resolve listen address " + o.listen.host + ": " +
                             gai_strerror(rc));
  }
  std::string why;
  for (addrinfo* a = found; a != nullptr && m.listen_fd < 0; a = a->ai_next) {
    const int fd =
        ::socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      why = strerror(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (o.reuse_port && ::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
      why = std::string("SO_REUSEPORT: ") + strerror(errno);
      ::close(fd);
      continue;
    }
    if (::bind(fd, a->ai_addr, a->ai_addrlen) != 0 || ::listen(fd, o.listen_backlog) != 0) {
      why = strerror(errno);
      ::close(fd);
      continue;
    }
    m.listen_fd = fd;
  }
  ::freeaddrinfo(found);
  if (m.listen_fd < 0) {
    throw std::runtime_error("cannot listen on " + o.listen.host + ":" + port + ": " + why);
  }
  sockaddr_storage bound{};
  socklen_t len = sizeof bound;
  ::getsockname(m.listen_fd, reinterpret_cast<sockaddr*>(&bound), &len);
  m.port = ntohs(bound.ss_family == AF_INET6 ? reinterpret_cast<sockaddr_in6&>(bound).sin6_port
                                             : reinterpret_cast<sockaddr_in&>(bound).sin_port);

  m.epoll_fd = ::epoll_create1(EPOLL_CLOEXEC);
  m.wake_fd = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  m.spare_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (m.epoll_fd < 0 || m.wake_fd < 0) {
    throw std::runtime_error(std::string("cannot create the event loop: ") + strerror(errno));
  }
  epoll_event listen_ev{EPOLLIN, {.ptr = &m.listen_tag}};
  epoll_event wake_ev{EPOLLIN, {.ptr = &m.wake_tag}};
  ::epoll_ctl(m.epoll_fd, EPOLL_CTL_ADD, m.listen_fd, &listen_ev);
  ::epoll_ctl(m.epoll_fd, EPOLL_CTL_ADD, m.wake_fd, &wake_ev);
  m.workers = std::make_unique<WorkerPool>(o.name, static_cast<size_t>(std::max(2, o.min_threads)),
                                           static_cast<size_t>(o.max_connections) + 2,
                                           static_cast<size_t>(o.thread_stack_kb) * 1024,
                                           std::chrono::seconds(10), o.worker_nice);
}

HttpServer::~HttpServer() {
  Impl& m = *impl_;
  stopAccepting();
  if (!waitIdle(std::chrono::milliseconds(200))) {
    // Past the drain: cut what is left so that workers' reads and writes fail fast.
    std::lock_guard lock(m.conns_mutex);
    for (Connection* c : m.conns) {
      ::shutdown(c->fd, SHUT_RDWR);
    }
  }
  m.stopping = true;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(m.wake_fd, &one, sizeof one);
  if (m.loop.joinable()) {
    m.loop.join();
  }
  m.workers.reset();  // waits for handlers still running
  for (Connection* c : std::vector<Connection*>(m.conns.begin(), m.conns.end())) {
    m.closeConnection(c);
  }
  if (m.listen_fd >= 0) {
    ::close(m.listen_fd);
  }
  ::close(m.epoll_fd);
  ::close(m.wake_fd);
  if (m.spare_fd >= 0) {
    ::close(m.spare_fd);
  }
}

void HttpServer::start() {
  Impl& m = *impl_;
  if (m.loop.joinable()) {
    return;
  }
  m.accepting = true;
  m.loop = std::thread([&m] { m.runLoop(); });
}

uint16_t HttpServer::port() const {
  return impl_->port;
}

void HttpServer::stopAccepting() {
  Impl& m = *impl_;
  if (m.draining.exchange(true)) {
    return;
  }
  // Refuse new connections now, not when the loop next turns: a listening socket shut down
  // stops completing handshakes at once. The loop closes it, but only once `accepting` is
  // false, so the fd is still ours here.
  if (m.listen_fd >= 0) {
    ::shutdown(m.listen_fd, SHUT_RDWR);
  }
  m.accepting = false;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t w = ::write(m.wake_fd, &one, sizeof one);
}

bool HttpServer::waitIdle(std::chrono::milliseconds deadline) {
  const auto until = Clock::now() + deadline;
  while (impl_->open.load() > 0) {
    if (Clock::now() >= until) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return true;
}

int HttpServer::openConnections() const {
  return impl_->open.load();
}
int HttpServer::activeRequests() const {
  return impl_->active.load();
}
uint64_t HttpServer::refusedConnections() const {
  return impl_->refused.load();
}

}  // namespace switchyard
