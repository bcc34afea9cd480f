/// @file bench_util.hpp
/// @brief Small helpers shared by the bench tools: flags, clocks, fd limits, socket setup,
///        a chunked-body decoder.
#pragma once

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::bench {

inline int64_t nowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

/// Minimal "--name value" / "--flag" parser; unknown flags are a usage error so typos in
/// scripts fail loudly instead of silently benchmarking the wrong thing.
class Flags {
 public:
  Flags(int argc, char** argv) : args_(argv + 1, argv + argc) {}

  bool has(std::string_view name) const {
    for (const auto& a : args_) {
      if (a == name) return true;
    }
    return false;
  }

  std::string str(std::string_view name, std::string def) const {
    for (size_t i = 0; i + 1 < args_.size(); ++i) {
      if (args_[i] == name) return args_[i + 1];
    }
    return def;
  }

  std::vector<std::string> all(std::string_view name) const {
    std::vector<std::string> out;
    for (size_t i = 0; i + 1 < args_.size(); ++i) {
      if (args_[i] == name) out.push_back(args_[i + 1]);
    }
    return out;
  }

  long num(std::string_view name, long def) const {
    std::string v = str(name, "");
    if (v.empty()) return def;
    char* end = nullptr;
    long r = std::strtol(v.c_str(), &end, 10);
    if (end == v.c_str() || *end != '\0') {
      std::fprintf(stderr, "invalid number for %.*s: %s\n", static_cast<int>(name.size()),
                   name.data(), v.c_str());
      std::exit(2);
    }
    return r;
  }

  /// Returns the first argument that is not in known (flags taking a value skip it).
  std::string unknown(const std::vector<std::string_view>& with_value,
                      const std::vector<std::string_view>& bare) const {
    for (size_t i = 0; i < args_.size(); ++i) {
      bool matched = false;
      for (auto k : with_value) {
        if (args_[i] == k) {
          matched = true;
          ++i;
          break;
        }
      }
      if (matched) continue;
      for (auto k : bare) {
        if (args_[i] == k) matched = true;
      }
      if (!matched) return args_[i];
    }
    return {};
  }

 private:
  std::vector<std::string> args_;
};

/// Raises RLIMIT_NOFILE's soft limit towards want (bounded by the hard limit) and returns the
/// resulting soft limit; 10k streams need ~10k fds on each side.
inline rlim_t raiseFdLimit(rlim_t want) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur >= want) return rl.rlim_cur;
  rlimit next = rl;
  next.rlim_cur = std::min<rlim_t>(want, rl.rlim_max);
  if (setrlimit(RLIMIT_NOFILE, &next) == 0) return next.rlim_cur;
  return rl.rlim_cur;
}

inline void setNonBlocking(int fd) {
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL, 0) | O_NONBLOCK);
}

inline void setNoDelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

inline sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

/// Case-insensitive ASCII prefix compare for header names.
inline bool iStartsWith(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    char a = s[i], b = prefix[i];
    if (a >= 'A' && a <= 'Z') a = static_cast<char>(a - 'A' + 'a');
    if (b >= 'A' && b <= 'Z') b = static_cast<char>(b - 'A' + 'a');
    if (a != b) return false;
  }
  return true;
}

inline bool iContains(std::string_view s, std::string_view needle) {
  if (needle.size() > s.size()) return false;
  for (size_t i = 0; i + needle.size() <= s.size(); ++i) {
    if (iStartsWith(s.substr(i), needle)) return true;
  }
  return false;
}

inline std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r'))
    s.remove_suffix(1);
  return s;
}

/// True when json contains "key" : true (whitespace tolerated). A textual probe on purpose:
/// the fixture must not depend on a JSON library, and request bodies here are tiny.
inline bool jsonKeyIsTrue(std::string_view json, std::string_view key) {
  std::string quoted = "\"" + std::string(key) + "\"";
  size_t pos = 0;
  while ((pos = json.find(quoted, pos)) != std::string_view::npos) {
    size_t i = pos + quoted.size();
    while (i < json.size() && std::strchr(" \t\r\n", json[i]) && json[i] != '\0') ++i;
    if (i < json.size() && json[i] == ':') {
      ++i;
      while (i < json.size() && std::strchr(" \t\r\n", json[i]) && json[i] != '\0') ++i;
      if (json.substr(i, 4) == "true") return true;
    }
    pos += quoted.size();
  }
  return false;
}

/// Value of a top-level-ish "key":"string" pair (first occurrence), or def.
inline std::string jsonStringValue(std::string_view json, std::string_view key, std::string def) {
  std::string quoted = "\"" + std::string(key) + "\"";
  size_t pos = json.find(quoted);
  if (pos == std::string_view::npos) return def;
  size_t i = pos + quoted.size();
  while (i < json.size() &&
         (json[i] == ' ' || json[i] == '\t' || json[i] == '\r' || json[i] == '\n'))
    ++i;
  if (i >= json.size() || json[i] != ':') return def;
  ++i;
  while (i < json.size() &&
         (json[i] == ' ' || json[i] == '\t' || json[i] == '\r' || json[i] == '\n'))
    ++i;
  if (i >= json.size() || json[i] != '"') return def;
  ++i;
  std::string out;
  for (; i < json.size() && json[i] != '"'; ++i) {
    char c = json[i];
    // Keep it safe to splice back into JSON: drop escapes and control characters.
    if (c == '\\' || static_cast<unsigned char>(c) < 0x20) continue;
    out.push_back(c);
    if (out.size() > 128) break;
  }
  return out.empty() ? def : out;
}

/// Incremental decoder of a chunked HTTP/1.1 response body: size lines, data, the CRLF after
/// each chunk and trailers may arrive in any split.
class ChunkedDecoder {
 public:
  enum class Status { kMore, kDone, kError };

  /// Feeds `data`, handing decoded bytes to on_data(std::string_view). kDone: the body ended
  /// and *used is how many bytes of `data` it took (what follows is not the body's); kError:
  /// error() names the fault.
  template <class OnData>
  Status feed(std::string_view data, OnData&& on_data, size_t* used) {
    size_t i = 0;
    while (i < data.size()) {
      switch (state_) {
        case State::kSize: {
          const char ch = data[i++];
          if (ch != '\n') {
            line_.push_back(ch);
            if (line_.size() > 1024) return fault("bad_chunk_size");
            break;
          }
          std::string_view size = trim(line_);
          if (const size_t semi = size.find(';'); semi != std::string_view::npos) {
            size = trim(size.substr(0, semi));
          }
          if (size.empty()) return fault("bad_chunk_size");
          const std::string digits(size);
          char* end = nullptr;
          const unsigned long long len = std::strtoull(digits.c_str(), &end, 16);
          if (*end != '\0') return fault("bad_chunk_size");
          line_.clear();
          remaining_ = len;
          state_ = len == 0 ? State::kTrailer : State::kData;
          break;
        }
        case State::kData: {
          const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, data.size() - i));
          on_data(data.substr(i, take));
          i += take;
          remaining_ -= take;
          if (remaining_ == 0) {
            state_ = State::kDataCrlf;
            line_.clear();
          }
          break;
        }
        case State::kDataCrlf: {
          const char ch = data[i++];
          if (ch == '\r' && line_.empty()) {
            line_.push_back(ch);
          } else if (ch == '\n') {
            line_.clear();
            state_ = State::kSize;
          } else {
            return fault("bad_chunk_framing");
          }
          break;
        }
        case State::kTrailer: {
          const char ch = data[i++];
          if (ch != '\n') {
            line_.push_back(ch);
            if (line_.size() > 65536) return fault("bad_chunk_trailer");
            break;
          }
          const bool empty = trim(line_).empty();
          line_.clear();
          if (empty) {
            *used = i;
            reset();
            return Status::kDone;
          }
          break;
        }
      }
    }
    return Status::kMore;
  }

  const char* error() const { return error_; }
  /// Ready for the next body (and frees what a long line held).
  void reset() {
    state_ = State::kSize;
    std::string().swap(line_);
    remaining_ = 0;
  }

 private:
  enum class State { kSize, kData, kDataCrlf, kTrailer };

  Status fault(const char* why) {
    error_ = why;
    return Status::kError;
  }

  State state_ = State::kSize;
  std::string line_;  // the size or trailer line being assembled
  uint64_t remaining_ = 0;
  const char* error_ = "";
};

}  // namespace switchyard::bench
