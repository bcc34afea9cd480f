/// @file mock_upstream.cpp
/// @brief sy_mock_upstream: epoll HTTP/1.1 server posing as an OpenAI-compatible upstream.
//
// One epoll loop per thread (SO_REUSEPORT listeners), keep-alive, no pipelining. SSE streams are
// driven by a timer heap inside the loop, so 10k concurrent streams cost 10k small structs, not
// 10k threads. The fixture answers fast and deterministically so that a benchmark measures the
// proxy in front of it, not the fixture.

#include <signal.h>
#include <sys/epoll.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <queue>
#include <thread>

#include "bench_util.hpp"

namespace switchyard::bench {
namespace {

constexpr size_t kMaxHeaderBytes = 64 * 1024;
constexpr size_t kMaxBodyBytes = 64 * 1024 * 1024;

volatile sig_atomic_t g_stop = 0;
void onSignal(int) {
  g_stop = 1;
}

struct Options {
  uint16_t port = 0;
  int threads = 1;
  int events = 20;
  int interval_ms = 100;
  bool quiet = false;
};

struct Stats {
  std::atomic<uint64_t> connections{0};
  std::atomic<uint64_t> requests{0};
  std::atomic<uint64_t> streams_started{0};
  std::atomic<uint64_t> streams_completed{0};
  std::atomic<uint64_t> streams_aborted{0};
  std::atomic<uint64_t> bad_requests{0};
  std::atomic<uint64_t> peak_connections{0};
  std::atomic<uint64_t> peak_streams{0};
};

void raisePeak(std::atomic<uint64_t>& peak, uint64_t v) {
  uint64_t cur = peak.load(std::memory_order_relaxed);
  while (v > cur && !peak.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
  }
}

struct Conn {
  int fd = -1;
  uint64_t gen = 0;
  std::string in;
  std::string out;
  size_t out_off = 0;
  bool want_write = false;
  bool close_after_write = false;
  bool peer_eof = false;  // client half-closed: answer what it sent, then close
  // Active SSE stream state; while streaming, further input is only buffered.
  bool streaming = false;
  int events_sent = 0;
  bool include_usage = false;
  std::string model;
  std::string id;
};

struct Timer {
  int64_t deadline_ns;
  int fd;
  uint64_t gen;
  bool operator>(const Timer& o) const { return deadline_ns > o.deadline_ns; }
};

struct Request {
  std::string method;
  std::string target;
  std::string body;
  bool keep_alive = true;
};

enum class Parse { kNeedMore, kDone, kBad };

// Decodes a chunked body starting at data[0]; returns bytes consumed, 0 if incomplete, npos if bad.
size_t decodeChunked(std::string_view data, std::string& body) {
  size_t pos = 0;
  body.clear();
  for (;;) {
    size_t eol = data.find("\r\n", pos);
    if (eol == std::string_view::npos) return 0;
    std::string_view size_line = data.substr(pos, eol - pos);
    size_t semi = size_line.find(';');
    if (semi != std::string_view::npos) size_line = size_line.substr(0, semi);
    size_line = trim(size_line);
    if (size_line.empty()) return std::string_view::npos;
    size_t len = 0;
    for (char c : size_line) {
      int d;
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
      else
        return std::string_view::npos;
      len = len * 16 + static_cast<size_t>(d);
      if (len > kMaxBodyBytes) return std::string_view::npos;
    }
    pos = eol + 2;
    if (len == 0) {
      // Trailers end with an empty line.
      for (;;) {
        size_t e = data.find("\r\n", pos);
        if (e == std::string_view::npos) return 0;
        bool empty = e == pos;
        pos = e + 2;
        if (empty) return pos;
      }
    }
    if (data.size() < pos + len + 2) return 0;
    body.append(data.substr(pos, len));
    if (data.substr(pos + len, 2) != "\r\n") return std::string_view::npos;
    pos += len + 2;
  }
}

// Parses one request from the front of in; on kDone, consumed is the byte count to drop.
Parse parseRequest(const std::string& in, Request& req, size_t& consumed, bool& expect_continue) {
  size_t hdr_end = in.find("\r\n\r\n");
  if (hdr_end == std::string::npos) {
    return in.size() > kMaxHeaderBytes ? Parse::kBad : Parse::kNeedMore;
  }
  std::string_view head(in.data(), hdr_end);
  size_t line_end = head.find("\r\n");
  std::string_view request_line = head.substr(0, line_end);
  size_t sp1 = request_line.find(' ');
  size_t sp2 = request_line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 == sp1) return Parse::kBad;
  req.method = std::string(request_line.substr(0, sp1));
  req.target = std::string(request_line.substr(sp1 + 1, sp2 - sp1 - 1));
  std::string_view version = request_line.substr(sp2 + 1);
  req.keep_alive = version == "HTTP/1.1";

  size_t content_length = 0;
  bool chunked = false;
  expect_continue = false;
  size_t pos = line_end == std::string_view::npos ? head.size() : line_end + 2;
  while (pos < head.size()) {
    size_t e = head.find("\r\n", pos);
    if (e == std::string_view::npos) e = head.size();
    std::string_view line = head.substr(pos, e - pos);
    pos = e + 2;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string_view name = trim(line.substr(0, colon));
    std::string_view value = trim(line.substr(colon + 1));
    if (name.size() == 14 && iStartsWith(name, "content-length")) {
      content_length = std::strtoull(std::string(value).c_str(), nullptr, 10);
      if (content_length > kMaxBodyBytes) return Parse::kBad;
    } else if (name.size() == 17 && iStartsWith(name, "transfer-encoding")) {
      chunked = iContains(value, "chunked");
    } else if (name.size() == 10 && iStartsWith(name, "connection")) {
      if (iContains(value, "close")) req.keep_alive = false;
      if (iContains(value, "keep-alive")) req.keep_alive = true;
    } else if (name.size() == 6 && iStartsWith(name, "expect")) {
      expect_continue = iContains(value, "100-continue");
    }
  }
  size_t body_start = hdr_end + 4;
  if (chunked) {
    size_t n = decodeChunked(std::string_view(in).substr(body_start), req.body);
    if (n == std::string_view::npos) return Parse::kBad;
    if (n == 0) return Parse::kNeedMore;
    consumed = body_start + n;
    return Parse::kDone;
  }
  if (in.size() < body_start + content_length) return Parse::kNeedMore;
  req.body.assign(in, body_start, content_length);
  consumed = body_start + content_length;
  return Parse::kDone;
}

std::string chunk(std::string_view payload) {
  char size[32];
  int n = std::snprintf(size, sizeof(size), "%zx\r\n", payload.size());
  std::string out;
  out.reserve(payload.size() + static_cast<size_t>(n) + 2);
  out.append(size, static_cast<size_t>(n));
  out.append(payload);
  out.append("\r\n");
  return out;
}

class Loop {
 public:
  Loop(const Options& opt, Stats& stats, int listen_fd)
      : opt_(opt), stats_(stats), listen_fd_(listen_fd) {}

  void run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    addFd(listen_fd_, EPOLLIN);
    std::vector<epoll_event> evs(1024);
    while (!g_stop) {
      int timeout_ms = 1000;
      if (!timers_.empty()) {
        int64_t wait_ns = timers_.top().deadline_ns - nowNs();
        timeout_ms = wait_ns <= 0
                         ? 0
                         : static_cast<int>(std::min<int64_t>((wait_ns + 999999) / 1000000, 1000));
      }
      int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), timeout_ms);
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < n; ++i) {
        int fd = evs[i].data.fd;
        if (fd == listen_fd_) {
          acceptAll();
          continue;
        }
        Conn* c = conn(fd);
        if (!c) continue;
        if (evs[i].events & (EPOLLERR | EPOLLHUP)) {
          closeConn(c);
          continue;
        }
        if (evs[i].events & EPOLLOUT) {
          if (!flush(c)) continue;
        }
        if (evs[i].events & EPOLLIN) onReadable(c);
      }
      fireTimers();
    }
    close(ep_);
  }

 private:
  Conn* conn(int fd) {
    return fd >= 0 && static_cast<size_t>(fd) < conns_.size() ? conns_[fd].get() : nullptr;
  }

  void addFd(int fd, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.fd = fd;
    epoll_ctl(ep_, EPOLL_CTL_ADD, fd, &ev);
  }

  // Read interest is dropped after EOF, else level-triggered epoll reports it forever.
  void updateInterest(Conn* c) {
    epoll_event ev{};
    ev.events = (c->peer_eof ? 0u : EPOLLIN | EPOLLRDHUP) | (c->want_write ? EPOLLOUT : 0u);
    ev.data.fd = c->fd;
    epoll_ctl(ep_, EPOLL_CTL_MOD, c->fd, &ev);
  }

  void acceptAll() {
    for (int i = 0; i < 4096; ++i) {
      int fd = accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EMFILE || errno == ENFILE) {
          std::fprintf(stderr, "sy_mock_upstream: accept: %s (raise nofile)\n",
                       std::strerror(errno));
        }
        return;
      }
      setNoDelay(fd);
      if (static_cast<size_t>(fd) >= conns_.size()) conns_.resize(static_cast<size_t>(fd) * 2 + 64);
      auto c = std::make_unique<Conn>();
      c->fd = fd;
      c->gen = ++gen_;
      conns_[fd] = std::move(c);
      addFd(fd, EPOLLIN | EPOLLRDHUP);
      stats_.connections.fetch_add(1, std::memory_order_relaxed);
      raisePeak(stats_.peak_connections, ++open_);
    }
  }

  void closeConn(Conn* c) {
    if (c->streaming) {
      stats_.streams_aborted.fetch_add(1, std::memory_order_relaxed);
      --streams_;
    }
    int fd = c->fd;
    epoll_ctl(ep_, EPOLL_CTL_DEL, fd, nullptr);
    close(fd);
    conns_[fd].reset();
    --open_;
  }

  // Returns false when the connection was closed.
  bool flush(Conn* c) {
    while (c->out_off < c->out.size()) {
      ssize_t n = send(c->fd, c->out.data() + c->out_off, c->out.size() - c->out_off, MSG_NOSIGNAL);
      if (n > 0) {
        c->out_off += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!c->want_write) {
          c->want_write = true;
          updateInterest(c);
        }
        return true;
      }
      closeConn(c);
      return false;
    }
    c->out.clear();
    c->out_off = 0;
    if (c->want_write) {
      c->want_write = false;
      updateInterest(c);
    }
    if (c->close_after_write && !c->streaming) {
      closeConn(c);
      return false;
    }
    return true;
  }

  void onReadable(Conn* c) {
    char buf[16384];
    for (;;) {
      ssize_t n = recv(c->fd, buf, sizeof(buf), 0);
      if (n > 0) {
        c->in.append(buf, static_cast<size_t>(n));
        if (n < static_cast<ssize_t>(sizeof(buf))) break;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 || (c->in.empty() && !c->streaming)) {
        closeConn(c);  // error, or EOF on an idle connection
        return;
      }
      // EOF after a request (or mid-stream): finish answering, then close. A client that is
      // really gone makes the next send fail, which closes the connection (counted as aborted).
      c->peer_eof = true;
      c->close_after_write = true;
      updateInterest(c);
      break;
    }
    if (c->in.size() > kMaxHeaderBytes + kMaxBodyBytes) {
      closeConn(c);
      return;
    }
    if (!processInput(c)) return;
    if (c->peer_eof && !c->streaming && c->out_off >= c->out.size()) closeConn(c);
  }

  // Returns false when the connection was closed.
  bool processInput(Conn* c) {
    // A half-closed client still gets the answer to the request it sent before its FIN.
    while (!c->streaming && (!c->close_after_write || c->peer_eof) && !c->in.empty()) {
      Request req;
      size_t consumed = 0;
      bool expect_continue = false;
      Parse p = parseRequest(c->in, req, consumed, expect_continue);
      if (p == Parse::kNeedMore) {
        if (expect_continue && c->in.find("\r\n\r\n") + 4 == c->in.size()) {
          c->out += "HTTP/1.1 100 Continue\r\n\r\n";
          return flush(c);
        }
        return true;
      }
      if (p == Parse::kBad) {
        stats_.bad_requests.fetch_add(1, std::memory_order_relaxed);
        c->close_after_write = true;
        respond(
            c, 400, "application/json",
            R"({"error":{"message":"bad request","type":"invalid_request_error","code":"bad_request"}})",
            false);
        return flush(c);
      }
      c->in.erase(0, consumed);
      stats_.requests.fetch_add(1, std::memory_order_relaxed);
      handle(c, req);
      if (!flush(c)) return false;
    }
    return true;
  }

  void respond(Conn* c, int status, std::string_view type, std::string_view body, bool keep_alive) {
    const char* reason = status == 200 ? "OK" : status == 404 ? "Not Found" : "Bad Request";
    char head[256];
    int n = std::snprintf(head, sizeof(head),
                          "HTTP/1.1 %d %s\r\nContent-Type: %.*s\r\nContent-Length: %zu\r\n%s\r\n",
                          status, reason, static_cast<int>(type.size()), type.data(), body.size(),
                          keep_alive ? "" : "Connection: close\r\n");
    c->out.append(head, static_cast<size_t>(n));
    c->out.append(body);
  }

  void handle(Conn* c, const Request& req) {
    if (!req.keep_alive) c->close_after_write = true;
    std::string_view path = req.target;
    if (size_t q = path.find('?'); q != std::string_view::npos) path = path.substr(0, q);

    if (req.method == "GET" && path == "/v1/models") {
      respond(
          c, 200, "application/json",
          R"({"object":"list","data":[{"id":"bench-model","object":"model","created":1700000000,"owned_by":"mock"},{"id":"mock-model","object":"model","created":1700000000,"owned_by":"mock"}]})",
          req.keep_alive);
      return;
    }
    if (req.method == "POST" && path == "/v1/chat/completions") {
      std::string model = jsonStringValue(req.body, "model", "mock-model");
      char id[64];
      std::snprintf(id, sizeof(id), "chatcmpl-mock-%llu", static_cast<unsigned long long>(++seq_));
      if (jsonKeyIsTrue(req.body, "stream")) {
        startStream(c, model, id, jsonKeyIsTrue(req.body, "include_usage"));
        return;
      }
      std::string body;
      body.reserve(512);
      body += R"({"id":")";
      body += id;
      body += R"(","object":"chat.completion","created":1700000000,"model":")";
      body += model;
      body +=
          R"(","choices":[{"index":0,"message":{"role":"assistant","content":"Hello from the mock upstream."},"finish_reason":"stop"}],"usage":{"prompt_tokens":11,"completion_tokens":7,"total_tokens":18}})";
      respond(c, 200, "application/json", body, req.keep_alive);
      return;
    }
    respond(
        c, 404, "application/json",
        R"({"error":{"message":"no such route on the mock upstream","type":"invalid_request_error","code":"not_found"}})",
        req.keep_alive);
  }

  void startStream(Conn* c, std::string model, std::string id, bool include_usage) {
    stats_.streams_started.fetch_add(1, std::memory_order_relaxed);
    raisePeak(stats_.peak_streams, ++streams_);
    c->streaming = true;
    c->events_sent = 0;
    c->include_usage = include_usage;
    c->model = std::move(model);
    c->id = std::move(id);
    c->out +=
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Transfer-Encoding: chunked\r\n";
    if (c->close_after_write) c->out += "Connection: close\r\n";
    c->out += "\r\n";
    if (opt_.events <= 0) {
      finishStream(c);
      return;
    }
    timers_.push({nowNs() + int64_t{opt_.interval_ms} * 1000000, c->fd, c->gen});
  }

  void finishStream(Conn* c) {
    if (c->include_usage) {
      std::string u =
          "data: {\"id\":\"" + c->id +
          "\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"" + c->model +
          "\",\"choices\":[],\"usage\":{\"prompt_tokens\":11,\"completion_tokens\":" +
          std::to_string(opt_.events) + ",\"total_tokens\":" + std::to_string(11 + opt_.events) +
          "}}\n\n";
      c->out += chunk(u);
    }
    c->out += chunk("data: [DONE]\n\n");
    c->out += "0\r\n\r\n";
    c->streaming = false;
    --streams_;
    stats_.streams_completed.fetch_add(1, std::memory_order_relaxed);
  }

  void fireTimers() {
    int64_t now = nowNs();
    while (!timers_.empty() && timers_.top().deadline_ns <= now) {
      Timer t = timers_.top();
      timers_.pop();
      Conn* c = conn(t.fd);
      if (!c || c->gen != t.gen || !c->streaming) continue;  // closed or reused fd
      int k = ++c->events_sent;
      std::string ev =
          "data: {\"id\":\"" + c->id +
          "\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"" + c->model +
          "\",\"choices\":[{\"index\":0,\"delta\":{";
      if (k == 1) ev += "\"role\":\"assistant\",";
      ev += "\"content\":\"tok" + std::to_string(k) + " \"},\"finish_reason\":";
      ev += k == opt_.events ? "\"stop\"" : "null";
      ev += "}]}\n\n";
      c->out += chunk(ev);
      if (k >= opt_.events) {
        finishStream(c);
        if (!flush(c)) continue;
        processInput(c);  // a keep-alive client may already have sent its next request
        continue;
      }
      // Schedule from the previous deadline so cadence does not drift under load.
      timers_.push({t.deadline_ns + int64_t{opt_.interval_ms} * 1000000, t.fd, t.gen});
      flush(c);
    }
  }

  const Options& opt_;
  Stats& stats_;
  int listen_fd_;
  int ep_ = -1;
  uint64_t gen_ = 0;
  uint64_t seq_ = 0;
  uint64_t open_ = 0;
  uint64_t streams_ = 0;
  std::vector<std::unique_ptr<Conn>> conns_;
  std::priority_queue<Timer, std::vector<Timer>, std::greater<Timer>> timers_;
};

int listenOn(uint16_t port, bool reuseport) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (reuseport) setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
  sockaddr_in addr = loopback(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    std::fprintf(stderr, "sy_mock_upstream: bind 127.0.0.1:%u: %s\n", port, std::strerror(errno));
    std::exit(1);
  }
  if (listen(fd, 65535) != 0) {
    std::fprintf(stderr, "sy_mock_upstream: listen: %s\n", std::strerror(errno));
    std::exit(1);
  }
  return fd;
}

void usage() {
  std::fprintf(
      stderr,
      "usage: sy_mock_upstream [--port P] [--threads N] [--events N] [--interval-ms T] [--quiet]\n"
      "  OpenAI-compatible upstream fixture on 127.0.0.1:P (0 = ephemeral; the bound port is\n"
      "  printed as 'listening 127.0.0.1:P'). POST /v1/chat/completions (stream:true -> SSE with\n"
      "  N chunks T ms apart, usage chunk if stream_options.include_usage, then [DONE]),\n"
      "  GET /v1/models. Stops on SIGINT/SIGTERM and prints counters to stderr.\n");
}

}  // namespace
}  // namespace switchyard::bench

int main(int argc, char** argv) {
  using namespace switchyard::bench;
  Flags flags(argc, argv);
  if (flags.has("--help") || flags.has("-h")) {
    usage();
    return 0;
  }
  std::string bad =
      flags.unknown({"--port", "--threads", "--events", "--interval-ms"}, {"--quiet"});
  if (!bad.empty()) {
    std::fprintf(stderr, "sy_mock_upstream: unknown argument %s\n", bad.c_str());
    usage();
    return 2;
  }
  Options opt;
  opt.port = static_cast<uint16_t>(flags.num("--port", 0));
  opt.threads = static_cast<int>(std::max(1L, flags.num("--threads", 1)));
  opt.events = static_cast<int>(flags.num("--events", 20));
  opt.interval_ms = static_cast<int>(std::max(0L, flags.num("--interval-ms", 100)));
  opt.quiet = flags.has("--quiet");

  rlim_t fds = raiseFdLimit(1 << 20);
  if (fds < 20000 && !opt.quiet) {
    std::fprintf(stderr, "sy_mock_upstream: warning: nofile limit is %llu; 10k streams need more\n",
                 static_cast<unsigned long long>(fds));
  }
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  std::vector<int> listeners;
  listeners.push_back(listenOn(opt.port, opt.threads > 1));
  sockaddr_in bound{};
  socklen_t len = sizeof(bound);
  getsockname(listeners[0], reinterpret_cast<sockaddr*>(&bound), &len);
  uint16_t port = ntohs(bound.sin_port);
  for (int i = 1; i < opt.threads; ++i) listeners.push_back(listenOn(port, true));
  std::printf("listening 127.0.0.1:%u\n", port);
  std::fflush(stdout);

  Stats stats;
  std::vector<std::thread> threads;
  for (int i = 1; i < opt.threads; ++i) {
    threads.emplace_back([&, i] { Loop(opt, stats, listeners[i]).run(); });
  }
  Loop(opt, stats, listeners[0]).run();
  for (auto& t : threads) t.join();
  for (int fd : listeners) close(fd);

  if (!opt.quiet) {
    std::fprintf(stderr,
                 "sy_mock_upstream: connections=%llu requests=%llu streams_started=%llu "
                 "streams_completed=%llu streams_aborted=%llu bad_requests=%llu "
                 "peak_connections=%llu peak_streams=%llu\n",
                 (unsigned long long)stats.connections.load(),
                 (unsigned long long)stats.requests.load(),
                 (unsigned long long)stats.streams_started.load(),
                 (unsigned long long)stats.streams_completed.load(),
                 (unsigned long long)stats.streams_aborted.load(),
                 (unsigned long long)stats.bad_requests.load(),
                 (unsigned long long)stats.peak_connections.load(),
                 (unsigned long long)stats.peak_streams.load());
  }
  return 0;
}
