/// @file rate_load.cpp
/// @brief sy_rate_load: open-loop, fixed-rate HTTP/1.1 keep-alive load generator that times
///        every request from its scheduled send time.
//
// Why not wrk: a closed-loop tool with N connections sends a request only when one came back,
// so its mean latency is N / throughput (Little's law) whatever the server does, and a stall
// delays exactly the requests that would have measured it (coordinated omission). Here request
// i is due at t0 + i / rate no matter what happened before. It goes out on an idle keep-alive
// connection of a fixed pool; when none is idle it waits in line, and that wait is part of its
// latency. So the percentiles answer "what does a client arriving at this rate see", and a
// server that cannot keep up shows a growing queue instead of a politely lower request rate.
//
// One thread, one epoll loop, a timerfd for the schedule (no spinning: the load core is shared
// with the upstream fixture). Everything stops at the end of the schedule plus --drain-s.

#include <signal.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <fstream>
#include <map>
#include <sstream>

#include "bench_util.hpp"

namespace switchyard::bench {
namespace {

volatile sig_atomic_t g_stop = 0;
void onSignal(int) {
  g_stop = 1;
}

/// Log-linear histogram of microsecond values (HdrHistogram's layout with 7 sub-bucket bits):
/// exact below 256 us, then 128 buckets per power of two, i.e. under 0.8% relative error at
/// any magnitude, in ~58 KiB whatever the range.
class Histogram {
 public:
  Histogram() : counts_(static_cast<size_t>(64 - kSubBits + 1) * kSub, 0) {}

  void recordNs(int64_t ns) {
    if (ns < 0) ns = 0;
    uint64_t us = static_cast<uint64_t>(ns + 500) / 1000;
    ++counts_[index(us)];
    ++total_;
    max_ = std::max(max_, us);
    sum_ns_ += static_cast<double>(ns);
  }

  uint64_t count() const { return total_; }
  uint64_t max() const { return max_; }
  double meanUs() const { return total_ ? sum_ns_ / 1000.0 / static_cast<double>(total_) : 0; }

  /// The highest value equivalent to the p-th percentile's bucket (never above the maximum).
  uint64_t percentile(double p) const {
    if (total_ == 0) return 0;
    if (p >= 100) return max_;
    uint64_t want = static_cast<uint64_t>(std::ceil(p / 100.0 * static_cast<double>(total_)));
    want = std::max<uint64_t>(want, 1);
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= want) return std::min(highest(i), max_);
    }
    return max_;
  }

 private:
  static constexpr int kSubBits = 7;
  static constexpr uint64_t kSub = uint64_t{1} << kSubBits;

  static size_t index(uint64_t v) {
    if (v < 2 * kSub) return static_cast<size_t>(v);
    int e = 63 - __builtin_clzll(v) - kSubBits;  // v >> e lands in [kSub, 2 * kSub)
    return static_cast<size_t>(static_cast<uint64_t>(e) * kSub + (v >> e));
  }

  static uint64_t highest(size_t idx) {
    if (idx < 2 * kSub) return idx;
    uint64_t e = idx / kSub - 1;
    uint64_t sub = idx - e * kSub;
    return ((sub + 1) << e) - 1;
  }

  std::vector<uint64_t> counts_;
  uint64_t total_ = 0;
  uint64_t max_ = 0;
  double sum_ns_ = 0;
};

enum class ConnState { kDead, kConnecting, kIdle, kWriting, kReading };
enum class BodyMode { kNone, kLength, kChunked, kUntilClose };

struct Conn {
  int fd = -1;
  ConnState state = ConnState::kDead;
  bool queued = false;     // in the idle queue
  bool want_out = false;   // EPOLLOUT is in its epoll interest (a request is half written)
  bool half_sent = false;  // answered before the request was fully written: not reusable
  // The request in flight on it (req < 0: none).
  int64_t req = -1;
  int64_t sched = 0;
  int64_t sent = 0;
  size_t written = 0;
  bool got_bytes = false;
  bool sampling = false;  // its body is the non-2xx sample
  // Response parsing.
  std::string head;
  bool in_body = false;
  int status = 0;
  BodyMode mode = BodyMode::kNone;
  uint64_t remaining = 0;
  ChunkedDecoder chunked;
  bool close_after = false;
};

struct Options {
  uint16_t port = 0;
  double rate = 1000;
  double duration_s = 10;
  double warmup_s = 1;
  double drain_s = 5;
  int connections = 64;
  std::string path = "/v1/chat/completions";
  std::string model = "bench-model";
  std::string body_file;
  std::vector<std::string> headers;
  bool quiet = false;
};

/// Outcome counters of one phase (warm-up or measured).
struct Counts {
  uint64_t ok = 0;
  uint64_t non2xx = 0;
  uint64_t errors = 0;
  uint64_t timed_out = 0;
};

struct Result {
  int64_t scheduled = 0;
  int64_t sent = 0;
  int64_t not_scheduled = 0;  // cut short by a signal
  Counts warm, meas;
  uint64_t window_responses = 0;
  double window_s = 0;
  uint64_t reconnects = 0;
  int64_t max_queued = 0;
  int connected = 0;
  std::map<int, uint64_t> statuses;
  std::map<std::string, uint64_t> errors;
  std::string non2xx_sample;
  Histogram latency, wait, service;
};

const char* errnoName(int e) {
  switch (e) {
    case ECONNREFUSED:
      return "ECONNREFUSED";
    case ECONNRESET:
      return "ECONNRESET";
    case EADDRNOTAVAIL:
      return "EADDRNOTAVAIL";
    case EMFILE:
      return "EMFILE";
    case ENFILE:
      return "ENFILE";
    case ETIMEDOUT:
      return "ETIMEDOUT";
    case EPIPE:
      return "EPIPE";
    case ENOBUFS:
      return "ENOBUFS";
    default:
      return std::strerror(e);
  }
}

class RateLoad {
 public:
  RateLoad(const Options& opt, std::string body) : opt_(opt) {
    request_ = "POST " + opt.path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(opt.port) +
               "\r\nContent-Type: application/json\r\n";
    for (const auto& h : opt.headers) request_ += h + "\r\n";
    request_ += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    interval_ns_ = 1e9 / opt.rate;
    warm_n_ = std::llround(opt.warmup_s * opt.rate);
    total_ = warm_n_ + std::max<int64_t>(1, std::llround(opt.duration_s * opt.rate));
    conns_.resize(static_cast<size_t>(opt.connections));
  }

  Result run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    timer_ = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (ep_ < 0 || timer_ < 0) {
      ++r_.errors[std::string("setup_") + errnoName(errno)];
      return finish();
    }
    epoll_event tev{};
    // Edge-triggered: every expiry wakes the loop once, so the expiry count never has to be
    // read back (one syscall less per request at rates where each request has its own wake-up).
    tev.events = EPOLLIN | EPOLLET;
    tev.data.u32 = kTimerTag;
    epoll_ctl(ep_, EPOLL_CTL_ADD, timer_, &tev);

    // The pool is connected before the clock starts, so connect time is not in the first
    // requests' latency (reconnects later are: a client would pay them too).
    for (size_t i = 0; i < conns_.size(); ++i) open(i);
    int64_t connect_deadline = nowNs() + 5'000'000'000LL;
    while (!g_stop && connecting_ > 0 && nowNs() < connect_deadline) poll(50);
    for (const Conn& c : conns_) r_.connected += c.state == ConnState::kIdle ? 1 : 0;
    if (r_.connected == 0) return finish();

    t0_ = nowNs() + 1'000'000;
    measure_start_ = schedAt(warm_n_);
    measure_end_ = schedAt(total_);
    r_.window_s = static_cast<double>(measure_end_ - measure_start_) / 1e9;
    deadline_ = measure_end_ + static_cast<int64_t>(opt_.drain_s * 1e9);
    int64_t next_progress = t0_ + 1'000'000'000;

    while (!g_stop) {
      int64_t now = nowNs();
      if (now >= deadline_) break;
      dispatch(now);
      if (next_ == total_ && inflight_ == 0) break;
      if (dead_ == static_cast<int>(conns_.size())) break;  // nothing left to send on
      if (next_ < total_ && !idle_.empty()) armTimer(schedAt(next_));
      int64_t wait_ms = std::min<int64_t>(100, (deadline_ - now) / 1'000'000 + 1);
      poll(static_cast<int>(wait_ms));
      if (!opt_.quiet && nowNs() >= next_progress) {
        next_progress += 1'000'000'000;
        std::fprintf(stderr, "[%5.1fs] sent=%lld done=%llu inflight=%d queued=%lld errors=%llu\n",
                     static_cast<double>(nowNs() - t0_) / 1e9, static_cast<long long>(next_),
                     static_cast<unsigned long long>(done_), inflight_,
                     static_cast<long long>(dueCount(nowNs()) - next_),
                     static_cast<unsigned long long>(r_.warm.errors + r_.meas.errors));
      }
    }
    return finish();
  }

 private:
  static constexpr uint32_t kTimerTag = 0xffffffffu;

  int64_t schedAt(int64_t i) const {
    return t0_ + static_cast<int64_t>(static_cast<double>(i) * interval_ns_);
  }

  // Requests due by now (scheduled at or before it), capped at the schedule's length.
  int64_t dueCount(int64_t now) const {
    if (now < t0_) return 0;
    int64_t n = static_cast<int64_t>(static_cast<double>(now - t0_) / interval_ns_) + 1;
    while (n < total_ && schedAt(n) <= now) ++n;  // floating-point edge
    return std::min(n, total_);
  }

  Counts& phase(int64_t req) { return req < warm_n_ ? r_.warm : r_.meas; }

  void poll(int timeout_ms) {
    epoll_event evs[256];
    int n = epoll_wait(ep_, evs, 256, timeout_ms);
    for (int i = 0; i < n; ++i) {
      if (evs[i].data.u32 == kTimerTag) {
        armed_at_ = 0;
        continue;
      }
      onEvent(evs[i].data.u32, evs[i].events);
    }
  }

  void armTimer(int64_t at) {
    if (at == armed_at_) return;
    itimerspec its{};
    its.it_value.tv_sec = at / 1'000'000'000;
    its.it_value.tv_nsec = at % 1'000'000'000;
    // steady_clock is CLOCK_MONOTONIC on Linux, so nowNs() values are valid absolute times.
    timerfd_settime(timer_, TFD_TIMER_ABSTIME, &its, nullptr);
    armed_at_ = at;
  }

  void dispatch(int64_t now) {
    int64_t due = dueCount(now);
    r_.max_queued = std::max(r_.max_queued, due - next_);
    while (next_ < due && !idle_.empty()) {
      uint32_t idx = idle_.front();
      idle_.pop_front();
      Conn& c = conns_[idx];
      c.queued = false;
      if (c.state != ConnState::kIdle) continue;  // closed while it waited in line
      c.req = next_;
      c.sched = schedAt(next_);
      c.sent = now;
      ++next_;
      ++inflight_;
      c.written = 0;
      c.got_bytes = false;
      c.half_sent = false;
      c.state = ConnState::kWriting;
      writeRequest(idx);
    }
  }

  void pushIdle(uint32_t idx) {
    Conn& c = conns_[idx];
    c.state = ConnState::kIdle;
    if (!c.queued) {
      c.queued = true;
      idle_.push_back(idx);  // FIFO: every connection stays warm, as with N real clients
    }
  }

  void setInterest(uint32_t idx, uint32_t events) {
    epoll_event ev{};
    ev.events = events;
    ev.data.u32 = idx;
    epoll_ctl(ep_, EPOLL_CTL_MOD, conns_[idx].fd, &ev);
  }

  void open(size_t i) {
    Conn& c = conns_[i];
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      markDead(c, std::string("socket_") + errnoName(errno));
      return;
    }
    setNoDelay(c.fd);
    sockaddr_in addr = loopback(opt_.port);
    if (connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 &&
        errno != EINPROGRESS) {
      int e = errno;
      close(c.fd);
      c.fd = -1;
      markDead(c, std::string("connect_") + errnoName(e));
      return;
    }
    c.state = ConnState::kConnecting;
    ++connecting_;
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
    ev.data.u32 = static_cast<uint32_t>(i);
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
  }

  // A connection that cannot be (re)opened is not retried: on loopback that means the server
  // is gone or out of fds, and hammering it would only measure the failure faster.
  void markDead(Conn& c, const std::string& why) {
    c.state = ConnState::kDead;
    ++dead_;
    ++r_.errors[why];
  }

  void closeConn(Conn& c) {
    if (c.fd >= 0) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
      close(c.fd);
      c.fd = -1;
    }
    if (c.state == ConnState::kConnecting) --connecting_;
    c.state = ConnState::kDead;
    c.want_out = false;
    c.head.clear();
    c.chunked.reset();
    c.in_body = false;
  }

  void reconnect(uint32_t idx) {
    closeConn(conns_[idx]);
    ++r_.reconnects;
    if (!g_stop) open(idx);
  }

  void requestFailed(uint32_t idx, const std::string& why) {
    Conn& c = conns_[idx];
    if (c.req >= 0) {
      ++phase(c.req).errors;
      c.req = -1;
      --inflight_;
      ++done_;
    }
    ++r_.errors[why];
    reconnect(idx);
  }

  void onEvent(uint32_t idx, uint32_t events) {
    if (idx >= conns_.size()) return;
    Conn& c = conns_[idx];
    switch (c.state) {
      case ConnState::kDead:
        return;
      case ConnState::kConnecting: {
        int err = 0;
        socklen_t len = sizeof(err);
        getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
        if (err == 0 && (events & (EPOLLERR | EPOLLHUP))) err = ECONNREFUSED;
        if (err != 0) {
          closeConn(c);
          markDead(c, std::string("connect_") + errnoName(err));
          return;
        }
        if (!(events & EPOLLOUT)) return;
        --connecting_;
        setInterest(idx, EPOLLIN | EPOLLRDHUP);
        pushIdle(idx);
        return;
      }
      case ConnState::kIdle:
        onIdleEvent(idx);
        return;
      case ConnState::kWriting:
        if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
          // The server answered (or gave up) before taking the whole request: read what it
          // said; the connection cannot carry another request after a half-sent one.
          c.state = ConnState::kReading;
          c.half_sent = true;
          stopWriting(idx);
          readResponse(idx);
          return;
        }
        writeRequest(idx);
        return;
      case ConnState::kReading:
        readResponse(idx);
        return;
    }
  }

  // A keep-alive connection the server closed while it was idle (its idle timeout or request
  // cap) is replaced quietly; anything else arriving unasked is an error.
  void onIdleEvent(uint32_t idx) {
    char buf[4096];
    ssize_t n = recv(conns_[idx].fd, buf, sizeof(buf), 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
    if (n > 0) ++r_.errors["unsolicited_data_on_idle_connection"];
    reconnect(idx);
  }

  void writeRequest(uint32_t idx) {
    Conn& c = conns_[idx];
    while (c.written < request_.size()) {
      ssize_t n =
          send(c.fd, request_.data() + c.written, request_.size() - c.written, MSG_NOSIGNAL);
      if (n > 0) {
        c.written += static_cast<size_t>(n);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!c.want_out) setInterest(idx, EPOLLOUT | EPOLLIN | EPOLLRDHUP);
        c.want_out = true;
        return;
      }
      requestFailed(idx,
                    errno == ECONNRESET || errno == EPIPE ? "reset_while_sending" : "send_error");
      return;
    }
    c.state = ConnState::kReading;
    stopWriting(idx);
  }

  // Only a partial write asked for EPOLLOUT; left on, it would fire on every loop turn.
  void stopWriting(uint32_t idx) {
    Conn& c = conns_[idx];
    if (!c.want_out) return;
    setInterest(idx, EPOLLIN | EPOLLRDHUP);
    c.want_out = false;
  }

  void readResponse(uint32_t idx) {
    char buf[65536];
    for (;;) {
      Conn& c = conns_[idx];
      ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
      if (n > 0) {
        c.got_bytes = true;
        int64_t now = nowNs();
        if (!consume(idx, std::string_view(buf, static_cast<size_t>(n)), now)) return;
        if (n < static_cast<ssize_t>(sizeof(buf))) return;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) {
        if (c.in_body && c.mode == BodyMode::kUntilClose) {
          complete(idx, nowNs());
        } else {
          requestFailed(idx, c.got_bytes ? "closed_mid_response" : "closed_before_response");
        }
      } else {
        int e = errno;
        requestFailed(idx, e == ECONNRESET
                               ? (c.got_bytes ? "reset_mid_response" : "reset_before_response")
                               : std::string("recv_") + errnoName(e));
      }
      return;
    }
  }

  // Feeds response bytes; returns false once the connection stopped reading this response
  // (finished, failed, or handed back to the pool).
  bool consume(uint32_t idx, std::string_view data, int64_t now) {
    Conn& c = conns_[idx];
    if (!c.in_body) {
      size_t scan_from = c.head.size() >= 3 ? c.head.size() - 3 : 0;
      c.head.append(data);
      size_t end = c.head.find("\r\n\r\n", scan_from);
      if (end == std::string::npos) {
        if (c.head.size() > 65536) {
          requestFailed(idx, "bad_response_head");
          return false;
        }
        return true;
      }
      // The body part is usually a few hundred bytes; keep it out of the head buffer.
      std::string rest = c.head.substr(end + 4);
      c.head.resize(end);
      if (!parseHead(c)) {
        requestFailed(idx, "bad_response_head");
        return false;
      }
      c.head.clear();
      if (c.status >= 100 && c.status < 200) {  // interim (100 Continue); the real head follows
        return rest.empty() ? true : consume(idx, rest, now);
      }
      c.in_body = true;
      c.sampling = (c.status < 200 || c.status >= 300) && r_.non2xx_sample.empty();
      if (c.sampling) r_.non2xx_sample = "HTTP " + std::to_string(c.status) + ": ";
      if (c.mode == BodyMode::kNone || (c.mode == BodyMode::kLength && c.remaining == 0)) {
        return finishBody(idx, rest, now);
      }
      if (rest.empty()) return true;
      return consumeBody(idx, rest, now);
    }
    return consumeBody(idx, data, now);
  }

  bool parseHead(Conn& c) {
    std::string_view head = c.head;
    if (head.size() < 12 || head.substr(0, 5) != "HTTP/") return false;
    int status = 0;
    for (size_t i = 9; i < 12; ++i) {
      if (head[i] < '0' || head[i] > '9') return false;
      status = status * 10 + (head[i] - '0');
    }
    c.status = status;
    bool http10 = head.substr(5, 3) == "1.0";
    bool keep_alive_header = false;
    bool chunked = false;
    bool has_length = false;
    uint64_t length = 0;
    c.close_after = false;
    size_t pos = head.find("\r\n");
    while (pos != std::string_view::npos && pos < head.size()) {
      pos += 2;
      size_t e = head.find("\r\n", pos);
      std::string_view line = head.substr(pos, e == std::string_view::npos ? head.npos : e - pos);
      pos = e;
      size_t colon = line.find(':');
      if (colon == std::string_view::npos) continue;
      std::string_view name = trim(line.substr(0, colon));
      std::string_view value = trim(line.substr(colon + 1));
      if (name.size() == 17 && iStartsWith(name, "transfer-encoding")) {
        chunked = iContains(value, "chunked");
      } else if (name.size() == 14 && iStartsWith(name, "content-length")) {
        char* endp = nullptr;
        std::string v(value);
        length = std::strtoull(v.c_str(), &endp, 10);
        if (v.empty() || *endp != '\0') return false;
        has_length = true;
      } else if (name.size() == 10 && iStartsWith(name, "connection")) {
        if (iContains(value, "close")) c.close_after = true;
        if (iContains(value, "keep-alive")) keep_alive_header = true;
      }
    }
    if (http10 && !keep_alive_header) c.close_after = true;
    c.remaining = 0;
    c.chunked.reset();
    if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
      c.mode = BodyMode::kNone;
    } else if (chunked) {
      c.mode = BodyMode::kChunked;
    } else if (has_length) {
      c.mode = BodyMode::kLength;
      c.remaining = length;
    } else {
      c.mode = BodyMode::kUntilClose;
      c.close_after = true;
    }
    return true;
  }

  // Keeps the start of the first non-2xx answer's body: a 401 or 502 run explains itself.
  void sampleErrorBody(const Conn& c, std::string_view data) {
    if (!c.sampling || r_.non2xx_sample.size() >= 200) return;
    r_.non2xx_sample.append(data.substr(0, 200 - r_.non2xx_sample.size()));
  }

  bool consumeBody(uint32_t idx, std::string_view data, int64_t now) {
    Conn& c = conns_[idx];
    if (c.mode == BodyMode::kUntilClose) {
      sampleErrorBody(c, data);
      return true;
    }
    if (c.mode == BodyMode::kLength) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(c.remaining, data.size()));
      sampleErrorBody(c, data.substr(0, take));
      c.remaining -= take;
      if (c.remaining > 0) return true;
      return finishBody(idx, data.substr(take), now);
    }
    size_t used = 0;
    switch (c.chunked.feed(data, [&](std::string_view d) { sampleErrorBody(c, d); }, &used)) {
      case ChunkedDecoder::Status::kMore:
        return true;
      case ChunkedDecoder::Status::kError:
        return fail(idx, c.chunked.error());
      case ChunkedDecoder::Status::kDone:
        break;
    }
    return finishBody(idx, data.substr(used), now);
  }

  bool fail(uint32_t idx, const char* why) {
    requestFailed(idx, why);
    return false;
  }

  // The response ended; leftover holds bytes after it, which a server must not send when no
  // second request was written (no pipelining here).
  bool finishBody(uint32_t idx, std::string_view leftover, int64_t now) {
    if (!leftover.empty()) {
      conns_[idx].close_after = true;
      ++r_.errors["bytes_after_response"];
    }
    complete(idx, now);
    return false;
  }

  void complete(uint32_t idx, int64_t now) {
    Conn& c = conns_[idx];
    Counts& ph = phase(c.req);
    bool ok = c.status >= 200 && c.status < 300;
    if (ok) {
      ++ph.ok;
    } else {
      ++ph.non2xx;
    }
    ++r_.statuses[c.status];
    if (c.req >= warm_n_) {
      r_.latency.recordNs(now - c.sched);
      r_.wait.recordNs(c.sent - c.sched);
      r_.service.recordNs(now - c.sent);
    }
    if (now >= measure_start_ && now < measure_end_) ++r_.window_responses;
    c.req = -1;
    --inflight_;
    ++done_;
    c.in_body = false;
    c.head.clear();
    if (c.close_after || c.half_sent) {
      reconnect(idx);
    } else {
      pushIdle(idx);
    }
  }

  Result finish() {
    int64_t end = nowNs();
    r_.scheduled = t0_ == 0 ? 0 : std::min(dueCount(end), total_);  // 0: never started
    r_.not_scheduled = total_ - r_.scheduled;
    r_.sent = next_;
    for (int64_t i = next_; i < r_.scheduled; ++i) ++phase(i).timed_out;  // never got a slot
    for (Conn& c : conns_) {
      if (c.req >= 0) ++phase(c.req).timed_out;
      c.req = -1;
      if (c.fd >= 0) close(c.fd);
      c.fd = -1;
    }
    if (timer_ >= 0) close(timer_);
    if (ep_ >= 0) close(ep_);
    return std::move(r_);
  }

  const Options& opt_;
  std::string request_;
  double interval_ns_ = 0;
  int64_t warm_n_ = 0;
  int64_t total_ = 0;
  int64_t next_ = 0;  // next request index to send
  uint64_t done_ = 0;
  int inflight_ = 0;
  int connecting_ = 0;
  int dead_ = 0;
  int64_t t0_ = 0;
  int64_t measure_start_ = 0;
  int64_t measure_end_ = 0;
  int64_t deadline_ = 0;
  int64_t armed_at_ = 0;
  int ep_ = -1;
  int timer_ = -1;
  std::vector<Conn> conns_;
  std::deque<uint32_t> idle_;
  Result r_;
};

std::string jsonEscape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (static_cast<unsigned char>(ch) < 0x20 || static_cast<unsigned char>(ch) >= 0x7f) {
      out += ' ';  // keeps the RESULT line one valid JSON line whatever a server sent
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

std::string histJson(const Histogram& h) {
  char buf[256];
  std::snprintf(buf, sizeof(buf),
                "{\"count\":%llu,\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"p99_9\":%llu,"
                "\"max\":%llu,\"mean\":%.1f}",
                static_cast<unsigned long long>(h.count()),
                static_cast<unsigned long long>(h.percentile(50)),
                static_cast<unsigned long long>(h.percentile(90)),
                static_cast<unsigned long long>(h.percentile(99)),
                static_cast<unsigned long long>(h.percentile(99.9)),
                static_cast<unsigned long long>(h.max()), h.meanUs());
  return buf;
}

std::string countsJson(const Counts& c) {
  return "{\"ok_2xx\":" + std::to_string(c.ok) + ",\"non_2xx\":" + std::to_string(c.non2xx) +
         ",\"errors\":" + std::to_string(c.errors) +
         ",\"timed_out\":" + std::to_string(c.timed_out) + "}";
}

void printHist(const char* label, const Histogram& h, const char* note) {
  std::printf(
      "  %-8s us  p50 %7llu  p90 %7llu  p99 %7llu  p99.9 %7llu  max %7llu  mean %8.1f  %s\n", label,
      static_cast<unsigned long long>(h.percentile(50)),
      static_cast<unsigned long long>(h.percentile(90)),
      static_cast<unsigned long long>(h.percentile(99)),
      static_cast<unsigned long long>(h.percentile(99.9)), static_cast<unsigned long long>(h.max()),
      h.meanUs(), note);
}

double parseDouble(const Flags& flags, std::string_view name, double def) {
  std::string v = flags.str(name, "");
  if (v.empty()) return def;
  char* end = nullptr;
  double r = std::strtod(v.c_str(), &end);
  if (end == v.c_str() || *end != '\0' || !std::isfinite(r)) {
    std::fprintf(stderr, "invalid number for %.*s: %s\n", static_cast<int>(name.size()),
                 name.data(), v.c_str());
    std::exit(2);
  }
  return r;
}

void usage() {
  std::fprintf(
      stderr,
      "usage: sy_rate_load --port P --rate R [--duration-s S] [--warmup-s S] [--drain-s S]\n"
      "                    [--connections N] [--path /v1/chat/completions]\n"
      "                    [--body-file F | --model M] [--header 'Name: value']... [--quiet]\n"
      "  Open-loop load: POSTs to 127.0.0.1:P at a fixed R requests/s (request i is due at\n"
      "  t0 + i/R whatever happened before) over a pool of N keep-alive connections (default 64);\n"
      "  a due request waits for an idle connection. Latency runs from the scheduled send time\n"
      "  to the response's last byte, so waiting in line counts (no coordinated omission).\n"
      "  --warmup-s (default 1) is sent but not measured; --duration-s (default 10) is measured;\n"
      "  whatever has not finished --drain-s (default 5) after the schedule ends is timed out.\n"
      "  The body is F's content or a small non-streaming chat request for model M (default\n"
      "  bench-model, as bench/wrk/chat.lua). Prints a summary and a last 'RESULT {json}' line\n"
      "  (latencies in microseconds). Exit 0 only if every request got a 2xx answer in time.\n");
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
  std::string bad = flags.unknown({"--port", "--rate", "--duration-s", "--warmup-s", "--drain-s",
                                   "--connections", "--path", "--body-file", "--model", "--header"},
                                  {"--quiet"});
  if (!bad.empty() || flags.num("--port", 0) <= 0 || flags.num("--port", 0) > 65535 ||
      flags.str("--rate", "").empty()) {
    if (!bad.empty()) std::fprintf(stderr, "sy_rate_load: unknown argument %s\n", bad.c_str());
    usage();
    return 2;
  }
  Options opt;
  opt.port = static_cast<uint16_t>(flags.num("--port", 0));
  opt.rate = parseDouble(flags, "--rate", 0);
  opt.duration_s = parseDouble(flags, "--duration-s", opt.duration_s);
  opt.warmup_s = parseDouble(flags, "--warmup-s", opt.warmup_s);
  opt.drain_s = parseDouble(flags, "--drain-s", opt.drain_s);
  opt.connections = static_cast<int>(flags.num("--connections", opt.connections));
  opt.path = flags.str("--path", opt.path);
  opt.model = flags.str("--model", opt.model);
  opt.body_file = flags.str("--body-file", "");
  opt.headers = flags.all("--header");
  opt.quiet = flags.has("--quiet");
  // Bounds that keep a typo from turning into an unbounded or absurd run.
  if (opt.rate <= 0 || opt.rate > 5e6 || opt.duration_s <= 0 || opt.duration_s > 3600 ||
      opt.warmup_s < 0 || opt.warmup_s > 600 || opt.drain_s < 0 || opt.drain_s > 600 ||
      opt.connections < 1 || opt.connections > 60000) {
    std::fprintf(stderr,
                 "sy_rate_load: need 0 < rate <= 5e6, 0 < duration-s <= 3600, 0 <= warmup-s <= "
                 "600, 0 <= drain-s <= 600, 1 <= connections <= 60000\n");
    return 2;
  }
  for (const auto& h : opt.headers) {
    if (h.find(':') == std::string::npos || h.find_first_of("\r\n") != std::string::npos) {
      std::fprintf(stderr, "sy_rate_load: --header wants 'Name: value' on one line\n");
      return 2;
    }
  }
  std::string body;
  if (!opt.body_file.empty()) {
    std::ifstream in(opt.body_file, std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "sy_rate_load: cannot read %s\n", opt.body_file.c_str());
      return 2;
    }
    std::ostringstream ss;
    ss << in.rdbuf();
    body = ss.str();
  } else {
    // Byte for byte the body bench/wrk/chat.lua sends, so wrk and this tool ask the same thing.
    body = "{\"model\":\"" + opt.model +
           "\",\"messages\":[{\"role\":\"user\",\"content\":\"Say hello.\"}],"
           "\"max_tokens\":16}";
  }

  rlim_t fds = raiseFdLimit(static_cast<rlim_t>(opt.connections) + 64);
  if (fds < static_cast<rlim_t>(opt.connections) + 16) {
    std::fprintf(stderr, "sy_rate_load: nofile limit %llu < %d connections; raise it first\n",
                 static_cast<unsigned long long>(fds), opt.connections);
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  int64_t t0 = nowNs();
  Result r = RateLoad(opt, body).run();
  double wall_s = static_cast<double>(nowNs() - t0) / 1e9;
  double achieved = r.window_s > 0 ? static_cast<double>(r.window_responses) / r.window_s : 0;
  // Every error event, per request or per connection (a refused reconnect has no request).
  uint64_t errors = 0;
  for (const auto& [k, v] : r.errors) errors += v;
  uint64_t timed_out = r.warm.timed_out + r.meas.timed_out;
  uint64_t non2xx = r.warm.non2xx + r.meas.non2xx;
  std::string statuses = "{", kinds = "{";
  for (const auto& [k, v] : r.statuses) {
    if (statuses.size() > 1) statuses += ",";
    statuses += "\"" + std::to_string(k) + "\":" + std::to_string(v);
  }
  statuses += "}";
  for (const auto& [k, v] : r.errors) {
    if (kinds.size() > 1) kinds += ",";
    kinds += "\"" + jsonEscape(k) + "\":" + std::to_string(v);
  }
  kinds += "}";

  std::printf(
      "sy_rate_load: 127.0.0.1:%u %s at %.1f req/s for %.1f s (+%.1f s warm-up, %.1f s drain), "
      "%d connections (%d connected), wall %.2f s\n",
      opt.port, opt.path.c_str(), opt.rate, opt.duration_s, opt.warmup_s, opt.drain_s,
      opt.connections, r.connected, wall_s);
  std::printf(
      "  measured: 2xx %llu  non-2xx %llu  errors %llu  timed out %llu   warm-up: 2xx %llu  "
      "non-2xx %llu  errors %llu  timed out %llu\n",
      static_cast<unsigned long long>(r.meas.ok), static_cast<unsigned long long>(r.meas.non2xx),
      static_cast<unsigned long long>(r.meas.errors),
      static_cast<unsigned long long>(r.meas.timed_out), static_cast<unsigned long long>(r.warm.ok),
      static_cast<unsigned long long>(r.warm.non2xx),
      static_cast<unsigned long long>(r.warm.errors),
      static_cast<unsigned long long>(r.warm.timed_out));
  std::printf(
      "  achieved %.1f responses/s in the measured window (target %.1f); sent %lld of %lld "
      "scheduled; most requests due but unsent at once: %lld; reconnects %llu\n",
      achieved, opt.rate, static_cast<long long>(r.sent), static_cast<long long>(r.scheduled),
      static_cast<long long>(r.max_queued), static_cast<unsigned long long>(r.reconnects));
  if (!r.errors.empty()) std::printf("  errors by kind: %s\n", kinds.c_str());
  if (!r.non2xx_sample.empty()) {
    std::printf("  first non-2xx: %s\n", jsonEscape(r.non2xx_sample.substr(0, 200)).c_str());
  }
  printHist("latency", r.latency, "(scheduled send -> last response byte)");
  printHist("wait", r.wait, "(scheduled -> written: in line for a connection, or a late loop)");
  printHist("service", r.service, "(written -> last response byte)");
  std::printf(
      "RESULT {\"target_rps\":%.3f,\"achieved_rps\":%.1f,\"duration_s\":%.3f,\"warmup_s\":%.3f,"
      "\"connections\":%d,\"connected\":%d,\"scheduled\":%lld,\"sent\":%lld,"
      "\"not_scheduled\":%lld,\"ok_2xx\":%llu,\"non_2xx\":%llu,\"errors\":%llu,"
      "\"timed_out\":%llu,\"measured\":%s,\"warmup\":%s,\"statuses\":%s,\"error_kinds\":%s,"
      "\"reconnects\":%llu,\"max_queued\":%lld,\"wall_s\":%.3f,\"latency_us\":%s,"
      "\"wait_us\":%s,\"service_us\":%s}\n",
      opt.rate, achieved, opt.duration_s, opt.warmup_s, opt.connections, r.connected,
      static_cast<long long>(r.scheduled), static_cast<long long>(r.sent),
      static_cast<long long>(r.not_scheduled), static_cast<unsigned long long>(r.meas.ok),
      static_cast<unsigned long long>(non2xx), static_cast<unsigned long long>(errors),
      static_cast<unsigned long long>(timed_out), countsJson(r.meas).c_str(),
      countsJson(r.warm).c_str(), statuses.c_str(), kinds.c_str(),
      static_cast<unsigned long long>(r.reconnects), static_cast<long long>(r.max_queued), wall_s,
      histJson(r.latency).c_str(), histJson(r.wait).c_str(), histJson(r.service).c_str());
  std::fflush(stdout);
  bool clean = errors == 0 && timed_out == 0 && non2xx == 0 && r.not_scheduled == 0 &&
               r.sent == r.scheduled && r.connected > 0;
  return clean ? 0 : 1;
}
