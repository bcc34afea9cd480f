/// @file stream_load.cpp
/// @brief sy_stream_load: opens N concurrent SSE chat streams over epoll and reports outcomes.
//
// Each connection sends one POST /v1/chat/completions with "stream":true and reads the
// (chunked) SSE answer to `data: [DONE]` and the end of the body. Connections are opened at a
// bounded ramp so the numbers describe steady concurrency, not a SYN flood. Everything stops
// at --timeout-s whatever happens; anything unfinished then is counted as timed out.

#include <signal.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "bench_util.hpp"

namespace switchyard::bench {
namespace {

volatile sig_atomic_t g_stop = 0;
void onSignal(int) {
  g_stop = 1;
}

enum class State { kConnecting, kWriting, kHead, kBody, kFinished };
enum class BodyMode { kChunked, kLength, kUntilClose };

struct Client {
  int fd = -1;
  State state = State::kConnecting;
  int64_t t_start = 0;
  int64_t t_connected = 0;
  int64_t t_first_byte = 0;
  int64_t t_done = 0;
  int64_t t_first_event = 0;
  int64_t t_last_event = 0;
  int64_t max_gap = 0;
  size_t written = 0;
  std::string head;
  int status = 0;
  BodyMode mode = BodyMode::kUntilClose;
  size_t remaining = 0;  // content-length left
  ChunkedDecoder chunked;
  std::string sse_line;  // SSE line being assembled from decoded body bytes
  std::string error_body;
  int events = 0;
  bool saw_done = false;
};

struct Options {
  uint16_t port = 0;
  int connections = 100;
  int ramp_ms = 1000;
  int timeout_s = 60;
  std::string path = "/v1/chat/completions";
  std::string model = "bench-model";
  std::vector<std::string> headers;
  bool include_usage = true;
  bool quiet = false;
};

struct Summary {
  int started = 0;
  int completed = 0;
  int failed = 0;
  int timed_out = 0;
  std::map<std::string, int> failures;
  std::map<std::string, int> timeouts;
  std::map<std::string, std::string> failure_samples;
  std::vector<double> ttfb_ms, first_event_ms, total_ms, connect_ms, gap_ms;
  int min_events = -1;
  int max_events = 0;
};

double pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t idx = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  if (idx > 0) --idx;
  return v[std::min(idx, v.size() - 1)];
}

class LoadClient {
 public:
  explicit LoadClient(const Options& opt) : opt_(opt) {
    std::string body = "{\"model\":\"" + opt.model + "\",\"stream\":true,";
    if (opt.include_usage) body += "\"stream_options\":{\"include_usage\":true},";
    body += "\"messages\":[{\"role\":\"user\",\"content\":\"Say hello in twenty tokens.\"}]}";
    request_ = "POST " + opt.path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(opt.port) +
               "\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\n";
    for (const auto& h : opt.headers) request_ += h + "\r\n";
    request_ += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  }

  Summary run() {
    ep_ = epoll_create1(EPOLL_CLOEXEC);
    clients_.resize(static_cast<size_t>(opt_.connections));
    int64_t t0 = nowNs();
    int64_t deadline = t0 + int64_t{opt_.timeout_s} * 1000000000;
    int64_t next_progress = t0 + 1000000000;
    std::vector<epoll_event> evs(4096);
    int opened = 0;
    while (!g_stop) {
      int64_t now = nowNs();
      if (now >= deadline) break;
      // Ramp: open connections in proportion to elapsed time, in bounded batches.
      int target = opt_.connections;
      if (opt_.ramp_ms > 0) {
        double frac = static_cast<double>(now - t0) / (opt_.ramp_ms * 1e6);
        target = std::min(opt_.connections, static_cast<int>(std::ceil(frac * opt_.connections)));
      }
      for (int budget = 512; opened < target && budget > 0; --budget) open(opened++);
      if (opened == opt_.connections && finished_ == opt_.connections) break;

      int timeout_ms = opened < opt_.connections ? 1 : 50;
      int n = epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), timeout_ms);
      if (n < 0 && errno != EINTR) break;
      for (int i = 0; i < n; ++i) onEvent(static_cast<int>(evs[i].data.u32), evs[i].events);

      if (!opt_.quiet && nowNs() >= next_progress) {
        next_progress += 1000000000;
        std::fprintf(stderr, "[%5.1fs] opened=%d active=%d completed=%d failed=%d\n",
                     static_cast<double>(nowNs() - t0) / 1e9, opened, opened - finished_,
                     summary_.completed, summary_.failed);
      }
    }
    summary_.started = opened;
    for (int i = 0; i < opened; ++i) {
      Client& c = clients_[static_cast<size_t>(i)];
      if (c.state == State::kFinished) continue;
      ++summary_.timed_out;
      const char* where = c.state == State::kConnecting ? "connecting"
                          : c.state == State::kWriting  ? "writing_request"
                          : c.t_first_byte == 0         ? "waiting_first_byte"
                          : c.saw_done                  ? "after_done_waiting_body_end"
                                                        : "mid_stream";
      ++summary_.timeouts[where];
      close(c.fd);
    }
    if (opened < opt_.connections) {
      summary_.timeouts["never_opened"] += opt_.connections - opened;
      summary_.timed_out += opt_.connections - opened;
    }
    close(ep_);
    return std::move(summary_);
  }

 private:
  void open(int idx) {
    Client& c = clients_[static_cast<size_t>(idx)];
    c.t_start = nowNs();
    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c.fd < 0) {
      fail(c, std::string("socket_") + strerrorname(errno), "");
      return;
    }
    setNoDelay(c.fd);
    sockaddr_in addr = loopback(opt_.port);
    int r = connect(c.fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    if (r != 0 && errno != EINPROGRESS) {
      fail(c, std::string("connect_") + strerrorname(errno), "");
      return;
    }
    epoll_event ev{};
    ev.events = EPOLLOUT | EPOLLIN | EPOLLRDHUP;
    ev.data.u32 = static_cast<uint32_t>(idx);
    epoll_ctl(ep_, EPOLL_CTL_ADD, c.fd, &ev);
  }

  static const char* strerrorname(int e) {
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

  void finish(Client& c) {
    if (c.fd >= 0) {
      epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
      close(c.fd);
      c.fd = -1;
    }
    c.state = State::kFinished;
    ++finished_;
    std::string().swap(c.head);
    c.chunked.reset();
    std::string().swap(c.sse_line);
  }

  void fail(Client& c, const std::string& why, const std::string& sample) {
    ++summary_.failed;
    ++summary_.failures[why];
    if (!sample.empty() && !summary_.failure_samples.count(why))
      summary_.failure_samples[why] = sample;
    finish(c);
  }

  void succeed(Client& c) {
    ++summary_.completed;
    summary_.ttfb_ms.push_back(static_cast<double>(c.t_first_byte - c.t_start) / 1e6);
    summary_.first_event_ms.push_back(
        static_cast<double>((c.t_first_event ? c.t_first_event : c.t_done) - c.t_start) / 1e6);
    summary_.total_ms.push_back(static_cast<double>(c.t_done - c.t_start) / 1e6);
    summary_.connect_ms.push_back(static_cast<double>(c.t_connected - c.t_start) / 1e6);
    summary_.gap_ms.push_back(static_cast<double>(c.max_gap) / 1e6);
    summary_.min_events =
        summary_.min_events < 0 ? c.events : std::min(summary_.min_events, c.events);
    summary_.max_events = std::max(summary_.max_events, c.events);
    finish(c);
  }

  // The body is over (terminating chunk, Content-Length reached, or EOF in close mode).
  void bodyComplete(Client& c) {
    if (c.status != 200) {
      fail(c, "http_" + std::to_string(c.status), c.error_body);
    } else if (!c.saw_done) {
      fail(c, "ended_without_done", "");
    } else {
      succeed(c);
    }
  }

  void onEvent(int idx, uint32_t events) {
    Client& c = clients_[static_cast<size_t>(idx)];
    if (c.state == State::kFinished) return;
    if (c.state == State::kConnecting) {
      int err = 0;
      socklen_t len = sizeof(err);
      getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
      if (err != 0) {
        fail(c, std::string("connect_") + strerrorname(err), "");
        return;
      }
      if (!(events & EPOLLOUT)) return;
      c.t_connected = nowNs();
      c.state = State::kWriting;
    }
    if (c.state == State::kWriting) {
      while (c.written < request_.size()) {
        ssize_t n =
            send(c.fd, request_.data() + c.written, request_.size() - c.written, MSG_NOSIGNAL);
        if (n > 0) {
          c.written += static_cast<size_t>(n);
          continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
        fail(c, errno == ECONNRESET || errno == EPIPE ? "reset_while_sending" : "send_error", "");
        return;
      }
      c.state = State::kHead;
      epoll_event ev{};
      ev.events = EPOLLIN | EPOLLRDHUP;
      ev.data.u32 = static_cast<uint32_t>(idx);
      epoll_ctl(ep_, EPOLL_CTL_MOD, c.fd, &ev);
    }
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readAll(c);
  }

  void readAll(Client& c) {
    char buf[16384];
    for (;;) {
      ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
      if (n > 0) {
        if (c.t_first_byte == 0) c.t_first_byte = nowNs();
        if (!consume(c, std::string_view(buf, static_cast<size_t>(n)))) return;  // finished
        if (n < static_cast<ssize_t>(sizeof(buf))) return;
        continue;
      }
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) {
        onEof(c);
      } else {
        const char* where = c.t_first_byte == 0 ? "reset_before_response"
                            : c.saw_done        ? "reset_after_done"
                                                : "reset_mid_stream";
        fail(c, errno == ECONNRESET ? where : std::string("recv_") + strerrorname(errno), "");
      }
      return;
    }
  }

  void onEof(Client& c) {
    if (c.state == State::kBody && c.mode == BodyMode::kUntilClose) {
      flushSseLine(c);
      bodyComplete(c);
    } else if (c.t_first_byte == 0) {
      fail(c, "closed_before_response", "");
    } else if (c.state == State::kHead) {
      fail(c, "closed_in_headers", "");
    } else if (c.saw_done) {
      fail(c, "closed_after_done_without_body_end", "");
    } else {
      fail(c, "closed_mid_stream", "");
    }
  }

  // Returns false when the client finished (successfully or not).
  bool consume(Client& c, std::string_view data) {
    if (c.state == State::kHead) {
      c.head.append(data);
      size_t end = c.head.find("\r\n\r\n");
      if (end == std::string::npos) {
        if (c.head.size() > 65536) {
          fail(c, "bad_response_head", "");
          return false;
        }
        return true;
      }
      std::string rest = c.head.substr(end + 4);
      c.head.resize(end);
      if (!parseHead(c)) return false;
      if (c.status == 100) return rest.empty() ? true : consume(c, rest);
      c.state = State::kBody;
      if (c.mode == BodyMode::kLength && c.remaining == 0) {
        bodyComplete(c);
        return false;
      }
      data = std::string_view();
      if (!rest.empty()) return consumeBody(c, rest);
      return true;
    }
    return consumeBody(c, data);
  }

  bool parseHead(Client& c) {
    std::string_view head = c.head;
    if (head.size() < 12 || head.substr(0, 5) != "HTTP/") {
      fail(c, "bad_response_head", std::string(head.substr(0, 80)));
      return false;
    }
    c.status = std::atoi(std::string(head.substr(9, 3)).c_str());
    if (c.status == 100) {  // interim response; the real head follows
      c.head.clear();
      return true;
    }
    c.mode = BodyMode::kUntilClose;
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
      if (name.size() == 17 && iStartsWith(name, "transfer-encoding") &&
          iContains(value, "chunked")) {
        c.mode = BodyMode::kChunked;
      } else if (name.size() == 14 && iStartsWith(name, "content-length") &&
                 c.mode != BodyMode::kChunked) {
        c.mode = BodyMode::kLength;
        c.remaining = std::strtoull(std::string(value).c_str(), nullptr, 10);
      }
    }
    return true;
  }

  bool consumeBody(Client& c, std::string_view data) {
    if (c.mode == BodyMode::kUntilClose) {
      onDecoded(c, data);
      return true;
    }
    if (c.mode == BodyMode::kLength) {
      size_t take = std::min(c.remaining, data.size());
      onDecoded(c, data.substr(0, take));
      c.remaining -= take;
      if (c.remaining == 0) {
        flushSseLine(c);
        bodyComplete(c);
        return false;
      }
      return true;
    }
    size_t used = 0;
    switch (c.chunked.feed(data, [&](std::string_view d) { onDecoded(c, d); }, &used)) {
      case ChunkedDecoder::Status::kMore:
        return true;
      case ChunkedDecoder::Status::kError:
        return protocolError(c, c.chunked.error());
      case ChunkedDecoder::Status::kDone:
        break;
    }
    flushSseLine(c);
    bodyComplete(c);
    return false;
  }

  bool protocolError(Client& c, const char* why) {
    fail(c, why, "");
    return false;
  }

  void onDecoded(Client& c, std::string_view data) {
    if (c.status != 200) {
      if (c.error_body.size() < 300) c.error_body.append(data.substr(0, 300 - c.error_body.size()));
      return;
    }
    for (char ch : data) {
      if (ch == '\n') {
        processSseLine(c);
        c.sse_line.clear();
      } else if (c.sse_line.size() < (1 << 20)) {
        c.sse_line.push_back(ch);
      }
    }
  }

  void flushSseLine(Client& c) {
    if (!c.sse_line.empty()) processSseLine(c);
    c.sse_line.clear();
  }

  void processSseLine(Client& c) {
    std::string_view line = c.sse_line;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.substr(0, 5) != "data:") return;
    std::string_view payload = trim(line.substr(5));
    int64_t now = nowNs();
    if (payload == "[DONE]") {
      c.saw_done = true;
      c.t_done = now;
      return;
    }
    if (c.t_first_event == 0) c.t_first_event = now;
    if (c.t_last_event != 0) c.max_gap = std::max(c.max_gap, now - c.t_last_event);
    c.t_last_event = now;
    ++c.events;
  }

  const Options& opt_;
  std::string request_;
  int ep_ = -1;
  int finished_ = 0;
  std::vector<Client> clients_;
  Summary summary_;
};

std::string jsonEscape(std::string_view s) {
  std::string out;
  for (char ch : s) {
    if (ch == '"' || ch == '\\') {
      out.push_back('\\');
      out.push_back(ch);
    } else if (static_cast<unsigned char>(ch) < 0x20) {
      out += ' ';
    } else {
      out.push_back(ch);
    }
  }
  return out;
}

std::string mapJson(const std::map<std::string, int>& m) {
  std::string out = "{";
  for (const auto& [k, v] : m) {
    if (out.size() > 1) out += ",";
    out += "\"" + jsonEscape(k) + "\":" + std::to_string(v);
  }
  return out + "}";
}

void usage() {
  std::fprintf(
      stderr,
      "usage: sy_stream_load --port P [--connections N] [--ramp-ms MS] [--timeout-s S]\n"
      "                      [--header 'Name: value']... [--model M] [--path "
      "/v1/chat/completions]\n"
      "                      [--no-usage] [--quiet]\n"
      "  Opens N connections to 127.0.0.1:P over MS ms; each POSTs one stream:true chat request\n"
      "  and reads the SSE answer to data: [DONE]. Prints a summary and a final 'RESULT {json}'\n"
      "  line. Exit 0 only if every stream completed; 1 if any failed or timed out.\n");
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
  std::string bad = flags.unknown(
      {"--port", "--connections", "--ramp-ms", "--timeout-s", "--header", "--model", "--path"},
      {"--no-usage", "--quiet"});
  if (!bad.empty() || flags.num("--port", 0) <= 0) {
    if (!bad.empty()) std::fprintf(stderr, "sy_stream_load: unknown argument %s\n", bad.c_str());
    usage();
    return 2;
  }
  Options opt;
  opt.port = static_cast<uint16_t>(flags.num("--port", 0));
  opt.connections = static_cast<int>(std::max(1L, flags.num("--connections", 100)));
  opt.ramp_ms = static_cast<int>(std::max(0L, flags.num("--ramp-ms", 1000)));
  opt.timeout_s = static_cast<int>(std::max(1L, flags.num("--timeout-s", 60)));
  opt.path = flags.str("--path", opt.path);
  opt.model = flags.str("--model", opt.model);
  opt.headers = flags.all("--header");
  opt.include_usage = !flags.has("--no-usage");
  opt.quiet = flags.has("--quiet");

  rlim_t fds = raiseFdLimit(1 << 20);
  if (fds < static_cast<rlim_t>(opt.connections) + 64) {
    std::fprintf(stderr,
                 "sy_stream_load: nofile limit %llu < %d connections; raise it (ulimit -n) first\n",
                 static_cast<unsigned long long>(fds), opt.connections);
    return 2;
  }
  struct sigaction sa {};
  sa.sa_handler = onSignal;
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  signal(SIGPIPE, SIG_IGN);

  int64_t t0 = nowNs();
  Summary s = LoadClient(opt).run();
  double wall_s = static_cast<double>(nowNs() - t0) / 1e9;

  double ttfb50 = pct(s.ttfb_ms, 50), ttfb99 = pct(s.ttfb_ms, 99), ttfbmax = pct(s.ttfb_ms, 100);
  double fe50 = pct(s.first_event_ms, 50), fe99 = pct(s.first_event_ms, 99),
         femax = pct(s.first_event_ms, 100);
  double tot50 = pct(s.total_ms, 50), tot99 = pct(s.total_ms, 99), totmax = pct(s.total_ms, 100);
  double con50 = pct(s.connect_ms, 50), con99 = pct(s.connect_ms, 99),
         conmax = pct(s.connect_ms, 100);
  double gap50 = pct(s.gap_ms, 50), gap99 = pct(s.gap_ms, 99), gapmax = pct(s.gap_ms, 100);

  std::printf(
      "sy_stream_load: 127.0.0.1:%u %s, %d connections, ramp %d ms, timeout %d s, wall %.2f s\n",
      opt.port, opt.path.c_str(), opt.connections, opt.ramp_ms, opt.timeout_s, wall_s);
  std::printf("  started %d  completed %d  failed %d  timed_out %d\n", s.started, s.completed,
              s.failed, s.timed_out);
  for (const auto& [k, v] : s.failures) {
    std::printf("    failed %-36s %d", k.c_str(), v);
    if (auto it = s.failure_samples.find(k); it != s.failure_samples.end()) {
      std::printf("  e.g. %s", jsonEscape(it->second.substr(0, 160)).c_str());
    }
    std::printf("\n");
  }
  for (const auto& [k, v] : s.timeouts) std::printf("    timed out %-33s %d\n", k.c_str(), v);
  std::printf("  events per completed stream: min %d max %d (data lines before [DONE])\n",
              s.min_events < 0 ? 0 : s.min_events, s.max_events);
  std::printf("  connect   ms  p50 %8.1f  p99 %8.1f  max %8.1f\n", con50, con99, conmax);
  std::printf("  ttfb      ms  p50 %8.1f  p99 %8.1f  max %8.1f   (from connect start)\n", ttfb50,
              ttfb99, ttfbmax);
  std::printf("  1st event ms  p50 %8.1f  p99 %8.1f  max %8.1f   (first SSE data line)\n", fe50,
              fe99, femax);
  std::printf("  total     ms  p50 %8.1f  p99 %8.1f  max %8.1f   (connect start to [DONE])\n",
              tot50, tot99, totmax);
  std::printf("  max gap   ms  p50 %8.1f  p99 %8.1f  max %8.1f   (largest pause between events)\n",
              gap50, gap99, gapmax);
  std::printf(
      "RESULT {\"connections\":%d,\"started\":%d,\"completed\":%d,\"failed\":%d,\"timed_out\":%d,"
      "\"failures\":%s,\"timeouts\":%s,\"wall_s\":%.3f,\"min_events\":%d,\"max_events\":%d,"
      "\"connect_ms\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f},"
      "\"ttfb_ms\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f},"
      "\"first_event_ms\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f},"
      "\"total_ms\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f},"
      "\"max_gap_ms\":{\"p50\":%.2f,\"p99\":%.2f,\"max\":%.2f}}\n",
      opt.connections, s.started, s.completed, s.failed, s.timed_out, mapJson(s.failures).c_str(),
      mapJson(s.timeouts).c_str(), wall_s, s.min_events < 0 ? 0 : s.min_events, s.max_events, con50,
      con99, conmax, ttfb50, ttfb99, ttfbmax, fe50, fe99, femax, tot50, tot99, totmax, gap50, gap99,
      gapmax);
  std::fflush(stdout);
  return (s.failed == 0 && s.timed_out == 0 && s.completed == opt.connections) ? 0 : 1;
}
