// Re-dumping the client's body through ordered_json was the openai provider's largest cost
// per small call (~27k instructions: a node and a string allocation per value, then the
// dump). This scanner writes the same bytes in one pass over the text.
#include "request_body.h"

#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>
#include <system_error>
#include <vector>

namespace switchyard {
namespace openai {
namespace {

constexpr size_t kMaxKeys = 256;  // the repeated-key check is quadratic

/// The keys of one object so far, for the repeated-key check; small objects need no allocation.
class KeySet {
 public:
  /// False when `key` is already there, or the object has more keys than the check allows.
  bool insert(std::string_view key) {
    if (n_ >= kMaxKeys) {
      return false;
    }
    for (size_t i = 0; i < n_; ++i) {
      if ((i < inline_.size() ? inline_[i] : more_[i - inline_.size()]) == key) {
        return false;
      }
    }
    if (n_ < inline_.size()) {
      inline_[n_] = key;
    } else {
      more_.push_back(key);
    }
    ++n_;
    return true;
  }

 private:
  std::array<std::string_view, 16> inline_{};
  std::vector<std::string_view> more_;
  size_t n_ = 0;
};

/// Bytes a JSON string holds as they are: printable ASCII but the quote and the backslash. The
/// scanners skip runs of them with one look-up a byte.
constexpr std::array<bool, 256> kPlainStringByte = [] {
  std::array<bool, 256> t{};
  for (int c = 0x20; c < 0x80; ++c) {
    t[static_cast<size_t>(c)] = c != '"' && c != '\\';
  }
  return t;
}();

class Rewriter {
 public:
  Rewriter(std::string_view body, std::string& out)
      : p_(body.data()), end_(body.data() + body.size()), out_(out) {}

  /// The top-level object, with `model` and `stream` handled as rewriteRequestBody says.
  bool run(std::string_view model, bool stream_false) {
    space();
    if (p_ == end_ || *p_ != '{') {
      return false;
    }
    ++p_;
    out_.push_back('{');
    KeySet keys;
    bool saw_model = false;
    space();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
    } else {
      for (;;) {
        std::string_view key;
        if (!memberKey(keys, key)) {
          return false;
        }
        if (key == "model" && !model.empty()) {
          saw_model = true;
          if (!skipValue(1) || !modelString(model)) {
            return false;
          }
        } else if (key == "stream" && stream_false) {
          if (!skipValue(1)) {
            return false;
          }
          out_.append("false");
        } else if (!value(1)) {
          return false;
        }
        const int next = afterMember('}');
        if (next < 0) {
          return false;
        }
        if (next == 0) {
          break;
        }
      }
    }
    if (!model.empty() && !saw_model) {
      if (out_.size() > 1) {
        out_.push_back(',');
      }
      out_.append("\"model\":");
      if (!modelString(model)) {
        return false;
      }
    }
    out_.push_back('}');
    space();
    return p_ == end_;
  }

 private:
  static constexpr int kMaxDepth = 128;

  void space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) {
      ++p_;
    }
  }

  /// A key, its colon and the space after it; written to the output. Repeated keys (which
  /// ordered_json would merge) are left to the DOM path.
  bool memberKey(KeySet& keys, std::string_view& key) {
    if (p_ == end_ || *p_ != '"') {
      return false;
    }
    const char* start = p_ + 1;
    if (!string()) {
      return false;
    }
    key = std::string_view(start, static_cast<size_t>(p_ - 1 - start));
    if (key.find('\\') != std::string_view::npos || !keys.insert(key)) {
      return false;
    }
    space();
    if (p_ == end_ || *p_ != ':') {
      return false;
    }
    ++p_;
    out_.push_back(':');
    space();
    return true;
  }

  /// After a member or element: 1 another follows (comma written), 0 the container closed
  /// (not written), -1 malformed.
  int afterMember(char close) {
    space();
    if (p_ == end_) {
      return -1;
    }
    if (*p_ == ',') {
      ++p_;
      out_.push_back(',');
      space();
      return 1;
    }
    if (*p_ == close) {
      ++p_;
      return 0;
    }
    return -1;
  }

  bool value(int depth) {
    if (p_ == end_) {
      return false;
    }
    switch (*p_) {
      case '{':
        return object(depth + 1);
      case '[':
        return array(depth + 1);
      case '"':
        return string();
      case 't':
        return literal("true");
      case 'f':
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number();
    }
  }

  /// Checks a value as value() does, writing nothing.
  bool skipValue(int depth) {
    const size_t mark = out_.size();
    if (!value(depth)) {
      return false;
    }
    out_.resize(mark);
    return true;
  }

  bool literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    out_.append(word);
    return true;
  }

  bool object(int depth) {
    if (depth > kMaxDepth) {
      return false;
    }
    ++p_;
    out_.push_back('{');
    space();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      out_.push_back('}');
      return true;
    }
    KeySet keys;
    for (;;) {
      std::string_view key;
      if (!memberKey(keys, key) || !value(depth)) {
        return false;
      }
      const int next = afterMember('}');
      if (next < 0) {
        return false;
      }
      if (next == 0) {
        out_.push_back('}');
        return true;
      }
    }
  }

  bool array(int depth) {
    if (depth > kMaxDepth) {
      return false;
    }
    ++p_;
    out_.push_back('[');
    space();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      out_.push_back(']');
      return true;
    }
    for (;;) {
      if (!value(depth)) {
        return false;
      }
      const int next = afterMember(']');
      if (next < 0) {
        return false;
      }
      if (next == 0) {
        out_.push_back(']');
        return true;
      }
    }
  }

  static bool cont(unsigned char c, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
    return c >= lo && c <= hi;
  }

  /// A string as nlohmann's lexer accepts it, written as its serializer writes it back:
  /// UTF-8 as is, "\/" as "/", the other short escapes unchanged. \u escapes are refused.
  bool string() {
    out_.push_back('"');
    ++p_;
    const char* run = p_;  // bytes not yet copied
    while (p_ < end_) {
      while (p_ < end_ && kPlainStringByte[static_cast<unsigned char>(*p_)]) {
        ++p_;
      }
      if (p_ == end_) {
        break;
      }
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        out_.append(run, p_);
        out_.push_back('"');
        ++p_;
        return true;
      }
      if (c < 0x20) {
        return false;
      }
      if (c == '\\') {
        if (end_ - p_ < 2) {
          return false;
        }
        const char e = p_[1];
        if (e == '/') {
          out_.append(run, p_);
          out_.push_back('/');
          p_ += 2;
          run = p_;
          continue;
        }
        if (e != '"' && e != '\\' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't') {
          return false;
        }
        p_ += 2;
        continue;
      }
      if (c < 0x80) {
        ++p_;
        continue;
      }
      const auto left = end_ - p_;
      const auto b = [&](int i) { return static_cast<unsigned char>(p_[i]); };
      if (c >= 0xC2 && c <= 0xDF && left >= 2 && cont(b(1))) {
        p_ += 2;
      } else if (c == 0xE0 && left >= 3 && cont(b(1), 0xA0) && cont(b(2))) {
        p_ += 3;
      } else if (((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) && left >= 3 && cont(b(1)) &&
                 cont(b(2))) {
        p_ += 3;
      } else if (c == 0xED && left >= 3 && cont(b(1), 0x80, 0x9F) && cont(b(2))) {
        p_ += 3;
      } else if (c == 0xF0 && left >= 4 && cont(b(1), 0x90) && cont(b(2)) && cont(b(3))) {
        p_ += 4;
      } else if (c >= 0xF1 && c <= 0xF3 && left >= 4 && cont(b(1)) && cont(b(2)) && cont(b(3))) {
        p_ += 4;
      } else if (c == 0xF4 && left >= 4 && cont(b(1), 0x80, 0x8F) && cont(b(2)) && cont(b(3))) {
        p_ += 4;
      } else {
        return false;
      }
    }
    return false;
  }

  /// JSON's number grammar; integers written back as they are ("-0" as "0", as nlohmann
  /// reads it as the integer 0), other numbers through strtod and nlohmann's own to_chars.
  bool number() {
    const char* start = p_;
    if (p_ < end_ && *p_ == '-') {
      ++p_;
    }
    if (p_ == end_) {
      return false;
    }
    if (*p_ == '0') {
      ++p_;
    } else if (*p_ >= '1' && *p_ <= '9') {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    } else {
      return false;
    }
    bool integer = true;
    if (p_ < end_ && *p_ == '.') {
      integer = false;
      ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') return false;
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') ++p_;
    }
    const size_t len = static_cast<size_t>(p_ - start);
    if (integer) {
      if (*start == '-') {
        int64_t v = 0;
        const auto r = std::from_chars(start, p_, v);
        if (r.ec != std::errc() || r.ptr != p_) {
          return false;  // past int64 nlohmann reads a float; leave that to it
        }
        if (v == 0) {
          out_.push_back('0');
          return true;
        }
      } else {
        uint64_t v = 0;
        const auto r = std::from_chars(start, p_, v);
        if (r.ec != std::errc() || r.ptr != p_) {
          return false;
        }
      }
      out_.append(start, len);
      return true;
    }
    if (len > 40) {
      return false;
    }
    char text[48];
    std::memcpy(text, start, len);
    text[len] = '\0';
    char* parsed_end = nullptr;
    const double d = std::strtod(text, &parsed_end);  // what nlohmann's lexer uses
    if (parsed_end != text + len || !std::isfinite(d)) {
      return false;
    }
    std::array<char, 64> buf{};
    char* end = nlohmann::detail::to_chars(buf.data(), buf.data() + buf.size(), d);
    out_.append(buf.data(), end);
    return true;
  }

  /// The upstream model name as a JSON string; plain printable ASCII only.
  bool modelString(std::string_view model) {
    for (unsigned char c : model) {
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') {
        return false;
      }
    }
    out_.push_back('"');
    out_.append(model);
    out_.push_back('"');
    return true;
  }

  const char* p_;
  const char* end_;
  std::string& out_;
};

}  // namespace

bool rewriteRequestBody(std::string_view body, std::string_view model, bool stream_false,
                        std::string& out) {
  out.clear();
  out.reserve(body.size() + model.size() + 16);
  return Rewriter(body, out).run(model, stream_false);
}

}  // namespace openai
}  // namespace switchyard
