#include "upstream/socket_upstream_client.h"

#include <Poco/Exception.h>
#include <Poco/URI.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "upstream/http1_response_parser.h"

namespace switchyard {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// How long resolved addresses of an origin are used before the name is looked up again.
constexpr auto kResolveTtl = std::chrono::seconds(30);
/// Receive buffer of a connection; a response head may grow it up to kMaxHeadBytes.
constexpr size_t kReadChunk = 16 * 1024;

std::string errnoText(int err) {
  char buf[128];
  // GNU strerror_r returns the message, which may or may not live in buf.
  return strerror_r(err, buf, sizeof buf);
}

/// Received bytes not yet consumed.
class ReadBuffer {
 public:
  std::string_view view() const { return {data_.get() + begin_, end_ - begin_}; }
  bool empty() const { return begin_ == end_; }
  size_t size() const { return end_ - begin_; }
  void consume(size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }
  /// Room for at least `min` more bytes at the tail.
  char* space(size_t min, size_t* room) {
    if (cap_ - end_ < min && begin_ > 0) {
      std::memmove(data_.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
    }
    if (cap_ - end_ < min) {
      const size_t cap = std::max(cap_ * 2, end_ + min);
      auto grown = std::make_unique<char[]>(cap);
      if (end_ > begin_) std::memcpy(grown.get(), data_.get() + begin_, end_ - begin_);
      end_ -= begin_;
      begin_ = 0;
      data_ = std::move(grown);
      cap_ = cap;
    }
    *room = cap_ - end_;
    return data_.get() + end_;
  }
  void commit(size_t n) { end_ += n; }

 private:
  std::unique_ptr<char[]> data_;
  size_t cap_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
};

struct Connection {
  int fd = -1;
  ReadBuffer in;
  ~Connection() {
    if (fd >= 0) ::close(fd);
  }
};
using ConnectionPtr = std::unique_ptr<Connection>;

struct Origin {
  std::string host;
  uint16_t port = 0;
  std::string prefix;       ///< path of the base URL without trailing slashes, e.g. "/v1"
  std::string host_header;  ///< "Host: …\r\n"
};

bool parseOrigin(const std::string& base_url, Origin* out) {
  try {
    Poco::URI uri(base_url);
    if (uri.getScheme() != "http") return false;
    out->host = uri.getHost();
    out->port = uri.getPort();
    out->prefix = uri.getPathEtc();
    while (!out->prefix.empty() && out->prefix.back() == '/') out->prefix.pop_back();
  } catch (const Poco::Exception&) {
    return false;
  }
  if (out->host.empty()) return false;
  // As Poco's HTTPRequest::setHost writes it: IPv6 literals bracketed, 80 and 443 implied.
  out->host_header = "Host: ";
  if (out->host.find(':') != std::string::npos) {
    out->host_header.append("[").append(out->host).append("]");
  } else {
    out->host_header.append(out->host);
  }
  if (out->port != 80 && out->port != 443) {
    out->host_header.append(":").append(std::to_string(out->port));
  }
  out->host_header.append("\r\n");
  return true;
}

struct Address {
  sockaddr_storage addr{};
  socklen_t len = 0;
};

int msUntil(Clock::time_point deadline, Clock::time_point now) {
  const auto ms = std::chrono::ceil<milliseconds>(deadline - now).count();
  return static_cast<int>(std::clamp<int64_t>(ms, 0, 24 * 3600 * 1000));
}

/// Waits for `events` on fd until the deadline: >0 ready, 0 timed out, <0 errno.
int waitFor(int fd, short events, Clock::time_point deadline) {
  for (;;) {
    pollfd p{fd, events, 0};
    const int timeout = msUntil(deadline, Clock::now());
    const int r = ::poll(&p, 1, timeout);
    if (r > 0) return 1;
    if (r == 0) {
      // poll rounds to whole milliseconds: only a passed deadline is a timeout.
      if (Clock::now() >= deadline) return 0;
      continue;
    }
    if (errno != EINTR) return -errno;
  }
}

/// Idle keep-alive connections and resolved addresses of one origin.
class OriginPool {
 public:
  explicit OriginPool(Origin origin) : origin_(std::move(origin)) {}

  const Origin& origin() const { return origin_; }

  ConnectionPtr acquireIdle() {
    std::lock_guard lock(mutex_);
    if (idle_.empty()) return nullptr;
    ConnectionPtr c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }

  void release(ConnectionPtr c, size_t max_idle) {
    std::lock_guard lock(mutex_);
    if (idle_.size() < max_idle) idle_.push_back(std::move(c));
  }

  /// The origin's addresses, IPv4 first (as Poco's SocketAddress prefers), looked up when the
  /// cached ones are older than kResolveTtl.
  bool addresses(std::vector<Address>* out, std::string* error) {
    const auto now = Clock::now();
    {
      std::lock_guard lock(mutex_);
      if (!addresses_.empty() && now - resolved_at_ < kResolveTtl) {
        *out = addresses_;
        return true;
      }
    }
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
    addrinfo* res = nullptr;
    const std::string port = std::to_string(origin_.port);
    int rc = ::getaddrinfo(origin_.host.c_str(), port.c_str(), &hints, &res);
    if (rc == EAI_NONAME || rc == EAI_ADDRFAMILY) {
      // AI_ADDRCONFIG hides loopback-only families on hosts without other interfaces.
      hints.ai_flags = AI_NUMERICSERV;
      rc = ::getaddrinfo(origin_.host.c_str(), port.c_str(), &hints, &res);
    }
    if (rc != 0) {
      *error = "cannot resolve " + origin_.host + ": " + gai_strerror(rc);
      return false;
    }
    std::vector<Address> found;
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
          ai->ai_addrlen > sizeof(sockaddr_storage)) {
        continue;
      }
      Address a;
      std::memcpy(&a.addr, ai->ai_addr, ai->ai_addrlen);
      a.len = static_cast<socklen_t>(ai->ai_addrlen);
      found.push_back(a);
    }
    ::freeaddrinfo(res);
    std::stable_partition(found.begin(), found.end(),
                          [](const Address& a) { return a.addr.ss_family == AF_INET; });
    if (found.empty()) {
      *error = "no address for " + origin_.host;
      return false;
    }
    std::lock_guard lock(mutex_);
    addresses_ = found;
    resolved_at_ = now;
    *out = std::move(found);
    return true;
  }

  void forgetAddresses() {
    std::lock_guard lock(mutex_);
    addresses_.clear();
  }

 private:
  const Origin origin_;
  std::mutex mutex_;
  std::vector<ConnectionPtr> idle_;
  std::vector<Address> addresses_;
  Clock::time_point resolved_at_;
};
using OriginPoolSharedPtr = std::shared_ptr<OriginPool>;

/// Why an attempt failed and whether a stale pooled connection explains it.
struct AttemptError {
  UpstreamFailure failure = UpstreamFailure::kNone;
  std::string message;
  /// The connection was closed or reset before any byte of the answer arrived.
  bool closed_before_answer = false;
};

class SocketExchange : public UpstreamExchange {
 public:
  SocketExchange(OriginPoolSharedPtr pool, ConnectionPtr conn, size_t max_idle,
                 http1::ResponseHead&& head, const UpstreamTimeouts& timeouts,
                 Clock::time_point first_data_deadline, Clock::time_point deadline)
      : pool_(std::move(pool)),
        conn_(std::move(conn)),
        max_idle_(max_idle),
        status_(head.status),
        keep_alive_(head.keep_alive),
        headers_(std::move(head.headers)),
        idle_(timeouts.idle),
        first_data_deadline_(first_data_deadline),
        deadline_(deadline) {
    decoder_.reset(head.framing, head.content_length);
    if (decoder_.done()) finish();
  }

  int status() const override { return status_; }
  const HeaderList& headers() const override { return headers_; }
  UpstreamFailure failure() const override { return failure_; }
  const std::string& failureMessage() const override { return message_; }

  Read readSome(std::string& out) override {
    if (complete_) return Read::kEnd;
    if (failure_ != UpstreamFailure::kNone) return Read::kFailed;
    const size_t before = out.size();
    // Bytes that came with the head (or after the last chunk) are decoded first, unwaited.
    if (!conn_->in.empty()) {
      if (!decodeBuffered(out)) return Read::kFailed;
      if (out.size() > before) {
        got_data_ = true;
        return Read::kData;
      }
      if (complete_) return Read::kEnd;
    }
    for (;;) {
      const auto now = Clock::now();
      if (now >= deadline_) return fail(UpstreamFailure::kTimeout, "upstream total timeout");
      // A stream's head comes at once and its first token much later: until body bytes
      // arrive, the first-byte timeout still runs, so a stream that stalls before its first
      // token is caught by it rather than by the (often longer) idle timeout.
      Clock::time_point wait_until = std::min(now + idle_, deadline_);
      const char* what = wait_until == deadline_ ? "upstream total timeout" : "upstream idle timeout";
      if (!got_data_) {
        if (now >= first_data_deadline_) {
          return fail(UpstreamFailure::kTimeout, "upstream first byte timeout");
        }
        wait_until = std::min(first_data_deadline_, deadline_);
        what = wait_until == deadline_ ? "upstream total timeout" : "upstream first byte timeout";
      }
      const int w = waitFor(conn_->fd, POLLIN, wait_until);
      if (w == 0) return fail(UpstreamFailure::kTimeout, what);
      if (w < 0) return fail(UpstreamFailure::kReset, "poll: " + errnoText(-w));
      size_t room = 0;
      char* dst = conn_->in.space(kReadChunk, &room);
      const ssize_t n = ::recv(conn_->fd, dst, room, 0);
      if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
        return fail(UpstreamFailure::kReset, "upstream connection: " + errnoText(errno));
      }
      if (n == 0) {
        keep_alive_ = false;
        if (decoder_.finishAtEof() == http1::BodyDecoder::Result::kDone) {
          finish();
          return Read::kEnd;
        }
        return fail(UpstreamFailure::kReset, decoder_.error());
      }
      conn_->in.commit(static_cast<size_t>(n));
      if (!decodeBuffered(out)) return Read::kFailed;
      if (out.size() > before) {
        got_data_ = true;
        return Read::kData;
      }
      if (complete_) return Read::kEnd;
    }
  }

 private:
  /// Decodes the buffered bytes into `out`; false (failed) on a framing error.
  bool decodeBuffered(std::string& out) {
    size_t used = 0;
    const auto r = decoder_.feed(conn_->in.view(), &used, out);
    conn_->in.consume(used);
    if (r == http1::BodyDecoder::Result::kError) {
      fail(UpstreamFailure::kProtocol, decoder_.error());
      return false;
    }
    if (r == http1::BodyDecoder::Result::kDone) finish();
    return true;
  }

  /// The body is complete: the connection goes back to the pool at once when it may carry
  /// another request and nothing unasked-for follows the answer.
  void finish() {
    complete_ = true;
    if (keep_alive_ && conn_->in.empty()) {
      pool_->release(std::move(conn_), max_idle_);
    } else {
      conn_.reset();
    }
  }

  Read fail(UpstreamFailure f, std::string message) {
    failure_ = f;
    message_ = std::move(message);
    conn_.reset();  // a connection in an unknown state is never reused
    return Read::kFailed;
  }

  OriginPoolSharedPtr pool_;
  ConnectionPtr conn_;
  size_t max_idle_;
  int status_;
  bool keep_alive_;
  HeaderList headers_;
  http1::BodyDecoder decoder_;
  milliseconds idle_;
  Clock::time_point first_data_deadline_;
  Clock::time_point deadline_;
  bool got_data_ = false;
  bool complete_ = false;
  UpstreamFailure failure_ = UpstreamFailure::kNone;
  std::string message_;
};

bool isHeader(const std::string& name, std::string_view wanted) {
  return name.size() == wanted.size() && strncasecmp(name.data(), wanted.data(), wanted.size()) == 0;
}

bool hasLineBreak(const std::string& s) { return s.find_first_of("\r\n") != std::string::npos; }

/// The request head, written as Poco's HTTPRequest wrote it: "Connection: Keep-Alive", the
/// call's headers (a repeated name keeps its first place and its last value), then Host and
/// Content-Length, which the client owns.
void buildHead(const Origin& origin, const UpstreamCall& call, std::string* head) {
  const bool with_length = call.method != "GET" || !call.body.empty();
  head->clear();
  head->reserve(256 + origin.prefix.size() + call.path.size());
  head->append(call.method).append(" ");
  const size_t target_at = head->size();
  head->append(origin.prefix).append(call.path);
  if (head->size() == target_at) head->append("/");
  head->append(" HTTP/1.1\r\n");
  bool caller_connection = false;
  for (size_t i = 0; i < call.headers.size(); ++i) {
    const auto& [name, value] = call.headers[i];
    if (name.empty() || hasLineBreak(name) || isHeader(name, "host") ||
        (with_length && isHeader(name, "content-length"))) {
      continue;
    }
    bool seen = false;
    for (size_t j = 0; j < i && !seen; ++j) seen = isHeader(call.headers[j].first, name);
    if (seen) continue;
    const std::string* last = &value;
    for (size_t j = i + 1; j < call.headers.size(); ++j) {
      if (isHeader(call.headers[j].first, name)) last = &call.headers[j].second;
    }
    if (hasLineBreak(*last)) continue;
    if (isHeader(name, "connection")) caller_connection = true;
    head->append(name).append(": ").append(*last).append("\r\n");
  }
  if (!caller_connection) head->append("Connection: Keep-Alive\r\n");
  head->append(origin.host_header);
  if (with_length) head->append("Content-Length: ").append(std::to_string(call.body.size())).append("\r\n");
  head->append("\r\n");
}

class SocketUpstreamClient : public UpstreamClient {
 public:
  UpstreamStartResult start(const std::string& base_url, int max_idle,
                            const UpstreamCall& call) override {
    OriginPoolSharedPtr pool = poolFor(base_url);
    if (!pool) return {nullptr, UpstreamFailure::kConnect, "bad upstream base URL"};
    const auto deadline = Clock::now() + call.timeouts.total;
    std::string head;
    buildHead(pool->origin(), call, &head);
    // A pooled connection the upstream closed while idle fails before any answer; that
    // proves the request was not processed, so it is sent once more on a fresh connection.
    for (int attempt = 0; attempt < 2; ++attempt) {
      ConnectionPtr conn = attempt == 0 ? pool->acquireIdle() : nullptr;
      const bool reused = conn != nullptr;
      AttemptError error;
      if (!conn) {
        conn = connect(*pool, call.timeouts, deadline, &error);
        if (!conn) return {nullptr, error.failure, std::move(error.message)};
      }
      UpstreamStartResult r = exchange(pool, std::move(conn), max_idle, head, call, deadline, &error);
      if (r.exchange) return r;
      if (reused && error.closed_before_answer) continue;
      return {nullptr, error.failure, std::move(error.message)};
    }
    return {nullptr, UpstreamFailure::kReset, "upstream closed the connection"};
  }

 private:
  OriginPoolSharedPtr poolFor(const std::string& base_url) {
    std::lock_guard lock(mutex_);
    auto it = pools_.find(base_url);
    if (it != pools_.end()) return it->second;
    Origin origin;
    if (!parseOrigin(base_url, &origin)) return nullptr;
    auto pool = std::make_shared<OriginPool>(std::move(origin));
    pools_.emplace(base_url, pool);
    return pool;
  }

  static ConnectionPtr connect(OriginPool& pool, const UpstreamTimeouts& timeouts,
                               Clock::time_point deadline, AttemptError* error) {
    std::vector<Address> addresses;
    if (!pool.addresses(&addresses, &error->message)) {
      error->failure = UpstreamFailure::kConnect;
      return nullptr;
    }
    const auto connect_deadline = std::min(Clock::now() + timeouts.connect, deadline);
    const Origin& origin = pool.origin();
    std::string last_error;
    for (const Address& a : addresses) {
      const int fd = ::socket(a.addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        last_error = "socket: " + errnoText(errno);
        continue;
      }
      auto conn = std::make_unique<Connection>();
      conn->fd = fd;
      int rc = ::connect(fd, reinterpret_cast<const sockaddr*>(&a.addr), a.len);
      if (rc != 0 && errno == EINPROGRESS) {
        const int w = waitFor(fd, POLLOUT, connect_deadline);
        if (w == 0) {
          error->failure = UpstreamFailure::kTimeout;
          error->message = "upstream connect timeout (" + origin.host + ":" + std::to_string(origin.port) + ")";
          return nullptr;
        }
        int err = w < 0 ? -w : 0;
        socklen_t len = sizeof err;
        if (w > 0 && ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
        rc = err == 0 ? 0 : -1;
        errno = err;
      }
      if (rc != 0) {
        last_error = errnoText(errno);
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      return conn;
    }
    pool.forgetAddresses();
    error->failure = UpstreamFailure::kConnect;
    error->message = "cannot connect to " + origin.host + ":" + std::to_string(origin.port) + ": " + last_error;
    return nullptr;
  }

  /// Sends head and body in one go (more sends only when the socket buffer is full).
  static bool sendAll(Connection& conn, const std::string& head, const std::string& body,
                      Clock::time_point deadline, AttemptError* error) {
    size_t head_off = 0;
    size_t body_off = 0;
    while (head_off < head.size() || body_off < body.size()) {
      iovec iov[2];
      int count = 0;
      if (head_off < head.size()) {
        iov[count++] = {const_cast<char*>(head.data() + head_off), head.size() - head_off};
      }
      if (body_off < body.size()) {
        iov[count++] = {const_cast<char*>(body.data() + body_off), body.size() - body_off};
      }
      msghdr msg{};
      msg.msg_iov = iov;
      msg.msg_iovlen = static_cast<size_t>(count);
      const ssize_t n = ::sendmsg(conn.fd, &msg, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          const int w = waitFor(conn.fd, POLLOUT, deadline);
          if (w == 0) {
            error->failure = UpstreamFailure::kTimeout;
            error->message = "upstream total timeout while sending the request";
            return false;
          }
          if (w > 0) continue;
          errno = -w;
        }
        const int err = errno;
        error->failure = UpstreamFailure::kReset;
        error->message = "upstream connection broke while sending: " + errnoText(err);
        error->closed_before_answer = err == EPIPE || err == ECONNRESET || err == ECONNABORTED;
        return false;
      }
      size_t sent = static_cast<size_t>(n);
      const size_t from_head = std::min(sent, head.size() - head_off);
      head_off += from_head;
      body_off += sent - from_head;
    }
    return true;
  }

  static UpstreamStartResult exchange(const OriginPoolSharedPtr& pool, ConnectionPtr conn,
                                      int max_idle, const std::string& head,
                                      const UpstreamCall& call, Clock::time_point deadline,
                                      AttemptError* error) {
    if (!sendAll(*conn, head, call.body, deadline, error)) return {};
    const auto first_data_deadline = Clock::now() + std::min(call.timeouts.first_byte, call.timeouts.total);
    const auto head_deadline = std::min(first_data_deadline, deadline);
    const bool head_request = call.method == "HEAD";
    http1::HeadScanner scanner;
    http1::ResponseHead response;
    bool any_byte = false;
    for (;;) {
      // Interim (1xx) answers such as 100 Continue are read past to the final one.
      size_t head_len = scanner.scan(conn->in.view());
      while (head_len == 0) {
        if (conn->in.size() >= http1::kMaxHeadBytes) {
          error->failure = UpstreamFailure::kProtocol;
          error->message = "upstream response head exceeds 64 KiB";
          return {};
        }
        const int w = waitFor(conn->fd, POLLIN, head_deadline);
        if (w == 0) {
          error->failure = UpstreamFailure::kTimeout;
          error->message = head_deadline == deadline ? "upstream total timeout" : "upstream first byte timeout";
          return {};
        }
        if (w < 0) {
          error->failure = UpstreamFailure::kReset;
          error->message = "poll: " + errnoText(-w);
          return {};
        }
        size_t room = 0;
        char* dst = conn->in.space(kReadChunk, &room);
        room = std::min(room, http1::kMaxHeadBytes + 1 - conn->in.size());
        const ssize_t n = ::recv(conn->fd, dst, room, 0);
        if (n < 0) {
          if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) continue;
          const int err = errno;
          error->failure = UpstreamFailure::kReset;
          error->message = "upstream connection: " + errnoText(err);
          error->closed_before_answer = !any_byte && (err == ECONNRESET || err == ECONNABORTED || err == EPIPE);
          return {};
        }
        if (n == 0) {
          error->failure = UpstreamFailure::kReset;
          error->message = any_byte ? "upstream closed the connection inside the response head"
                                    : "upstream closed the connection without answering";
          error->closed_before_answer = !any_byte;
          return {};
        }
        any_byte = true;
        conn->in.commit(static_cast<size_t>(n));
        head_len = scanner.scan(conn->in.view());
      }
      if (head_len > http1::kMaxHeadBytes) {
        error->failure = UpstreamFailure::kProtocol;
        error->message = "upstream response head exceeds 64 KiB";
        return {};
      }
      std::string why;
      if (!http1::parseResponseHead(conn->in.view().substr(0, head_len), head_request, &response, &why)) {
        error->failure = UpstreamFailure::kProtocol;
        error->message = std::move(why);
        return {};
      }
      conn->in.consume(head_len);
      scanner.reset();
      if (response.status >= 200 || response.status == 101) break;
    }
    return {std::make_unique<SocketExchange>(pool, std::move(conn), static_cast<size_t>(std::max(max_idle, 0)),
                                             std::move(response), call.timeouts, first_data_deadline, deadline),
            UpstreamFailure::kNone,
            {}};
  }

  std::mutex mutex_;
  std::unordered_map<std::string, OriginPoolSharedPtr> pools_;
};

/// Plain HTTP over the socket client, everything else over Poco (TLS through NetSSL).
class SchemeDispatchClient : public UpstreamClient {
 public:
  SchemeDispatchClient(UpstreamClientSharedPtr plain, UpstreamClientSharedPtr other)
      : plain_(std::move(plain)), other_(std::move(other)) {}

  UpstreamStartResult start(const std::string& base_url, int max_idle,
                            const UpstreamCall& call) override {
    const bool plain = base_url.size() > 7 && strncasecmp(base_url.c_str(), "http://", 7) == 0;
    return (plain ? plain_ : other_)->start(base_url, max_idle, call);
  }

 private:
  UpstreamClientSharedPtr plain_;
  UpstreamClientSharedPtr other_;
};

}  // namespace

UpstreamClientSharedPtr makeSocketUpstreamClient() { return std::make_shared<SocketUpstreamClient>(); }

UpstreamClientSharedPtr makeUpstreamClient() {
  return std::make_shared<SchemeDispatchClient>(makeSocketUpstreamClient(), makePocoUpstreamClient());
}

}  // namespace switchyard
