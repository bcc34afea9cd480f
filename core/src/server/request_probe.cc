#include "request_probe.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdint>
#include <cstdlib>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <system_error>

namespace switchyard {
namespace {

using Json = nlohmann::json;
using Kind = RequestProbe::Kind;

/// Follows depth, remembers the top-level key whose value comes next, and counts the elements
/// of a top-level "messages" array. Driven by BodyScanner, or by nlohmann's SAX parser for the
/// bodies the scanner leaves to it.
class ProbeState {
public:
  explicit ProbeState(RequestProbe& probe) : p_(probe) {}

  void null() { value(Kind::kNull); }
  void boolean(bool v) {
    if (depth_ == 1 && key_ == "stream") {
      p_.stream_value = v;
    }
    value(Kind::kBool);
  }
  void integer(int64_t v) {
    if (depth_ == 1) {
      if (key_ == "max_tokens") {
        p_.max_tokens = v;
      } else if (key_ == "max_completion_tokens") {
        p_.max_completion_tokens = v;
      } else if (key_ == "n") {
        p_.n = v;
      }
    }
    value(Kind::kOther);
  }
  void other() { value(Kind::kOther); }
  /// Whether a string value here is read (the model name): the scanner leaves an escaped one to nlohmann.
  bool wantsString() const { return depth_ == 1 && key_ == "model"; }
  void string(std::string_view v) {
    if (wantsString()) {
      p_.model_value.assign(v);
    }
    value(Kind::kString);
  }
  void startObject() {
    if (depth_ == 0) {
      p_.is_object = true;
    }
    value(Kind::kObject);
    ++depth_;
  }
  void startArray() {
    value(Kind::kArray);
    ++depth_;
  }
  void end() { --depth_; }
  /// Only top-level keys are kept; the scanner leaves an escaped one to nlohmann.
  bool wantsKey() const { return depth_ == 1; }
  void key(std::string_view k) {
    if (depth_ == 1) {
      key_.assign(k);
    }
  }

private:
  /// A value starts at the current depth: top-level fields by key, or a "messages" element.
  void value(Kind kind) {
    if (depth_ == 1) {
      if (key_ == "model") {
        p_.model = kind;
      } else if (key_ == "stream") {
        p_.stream = kind;
      } else if (key_ == "messages") {
        p_.messages = kind;
        p_.message_count = 0;
      } else if (key_ == "input") {
        p_.input = kind;
      }
    } else if (depth_ == 2 && key_ == "messages" && p_.messages == Kind::kArray) {
      ++p_.message_count;
    }
  }

  RequestProbe& p_;
  int depth_ = 0;
  std::string key_;
};

class ProbeHandler : public nlohmann::json_sax<Json> {
public:
  explicit ProbeHandler(ProbeState& state) : s_(state) {}

  bool null() override { return s_.null(), true; }
  bool boolean(bool v) override { return s_.boolean(v), true; }
  bool number_integer(number_integer_t v) override { return s_.integer(v), true; }
  bool number_unsigned(number_unsigned_t v) override {
    return s_.integer(static_cast<int64_t>(std::min<number_unsigned_t>(v, INT64_MAX))), true;
  }
  bool number_float(number_float_t, const string_t&) override { return s_.other(), true; }
  bool string(string_t& v) override { return s_.string(v), true; }
  bool binary(binary_t&) override { return s_.other(), true; }
  bool start_object(std::size_t) override { return s_.startObject(), true; }
  bool end_object() override { return s_.end(), true; }
  bool start_array(std::size_t) override { return s_.startArray(), true; }
  bool end_array() override { return s_.end(), true; }
  bool key(string_t& k) override { return s_.key(k), true; }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

private:
  ProbeState& s_;
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

/**
 * Gives a ProbeState the events nlohmann's SAX parser would, for the bodies clients send: every
 * byte is checked as nlohmann's lexer checks it (UTF-8, escapes, surrogate pairs, the number
 * grammar), at a few instructions a byte instead of ~100 (nlohmann copies each byte into a
 * token buffer). scan() is false for what it leaves to nlohmann, which then decides: anything
 * malformed, a top-level key or model name with an escape, a float that overflows, a body
 * nested deeper than kMaxDepth, a byte order mark, a body that is not an object.
 */
class BodyScanner {
public:
  BodyScanner(std::string_view text, ProbeState& state)
      : p_(text.data()), end_(text.data() + text.size()), s_(state) {}

  bool scan() {
    space();
    if (p_ == end_ || *p_ != '{' || !value(0)) {
      return false;
    }
    space();
    return p_ == end_;
  }

private:
  static constexpr int kMaxDepth = 128; // the request threads' stacks are small

  void space() {
    while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) {
      ++p_;
    }
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
    case '"': {
      std::string_view v;
      bool escaped = false;
      if (!string(v, escaped) || (escaped && s_.wantsString())) {
        return false;
      }
      s_.string(v);
      return true;
    }
    case 't':
      return literal("true") && (s_.boolean(true), true);
    case 'f':
      return literal("false") && (s_.boolean(false), true);
    case 'n':
      return literal("null") && (s_.null(), true);
    default:
      return number();
    }
  }

  bool literal(std::string_view word) {
    if (static_cast<size_t>(end_ - p_) < word.size() || std::string_view(p_, word.size()) != word) {
      return false;
    }
    p_ += word.size();
    return true;
  }

  bool object(int depth) {
    if (depth > kMaxDepth) {
      return false;
    }
    ++p_;
    s_.startObject();
    space();
    if (p_ < end_ && *p_ == '}') {
      ++p_;
      s_.end();
      return true;
    }
    for (;;) {
      std::string_view k;
      bool escaped = false;
      if (p_ == end_ || *p_ != '"' || !string(k, escaped) || (escaped && s_.wantsKey())) {
        return false;
      }
      s_.key(k);
      space();
      if (p_ == end_ || *p_ != ':') {
        return false;
      }
      ++p_;
      space();
      if (!value(depth)) {
        return false;
      }
      space();
      if (p_ == end_) {
        return false;
      }
      if (*p_ == ',') {
        ++p_;
        space();
        continue;
      }
      if (*p_ != '}') {
        return false;
      }
      ++p_;
      s_.end();
      return true;
    }
  }

  bool array(int depth) {
    if (depth > kMaxDepth) {
      return false;
    }
    ++p_;
    s_.startArray();
    space();
    if (p_ < end_ && *p_ == ']') {
      ++p_;
      s_.end();
      return true;
    }
    for (;;) {
      if (!value(depth)) {
        return false;
      }
      space();
      if (p_ == end_) {
        return false;
      }
      if (*p_ == ',') {
        ++p_;
        space();
        continue;
      }
      if (*p_ != ']') {
        return false;
      }
      ++p_;
      s_.end();
      return true;
    }
  }

  static bool cont(unsigned char c, unsigned char lo = 0x80, unsigned char hi = 0xBF) { return c >= lo && c <= hi; }

  /// Four hex digits at p_ (after "\u"): their value, or -1.
  int hex4() const {
    if (end_ - p_ < 4) {
      return -1;
    }
    int v = 0;
    for (int i = 0; i < 4; ++i) {
      const char c = p_[i];
      v <<= 4;
      if (c >= '0' && c <= '9') {
        v |= c - '0';
      } else if (c >= 'a' && c <= 'f') {
        v |= c - 'a' + 10;
      } else if (c >= 'A' && c <= 'F') {
        v |= c - 'A' + 10;
      } else {
        return -1;
      }
    }
    return v;
  }

  /// A string as nlohmann's lexer accepts it; `raw` views its text between the quotes, which
  /// is its value unless `escaped`.
  bool string(std::string_view& raw, bool& escaped) {
    const char* start = ++p_;
    while (p_ < end_) {
      while (p_ < end_ && kPlainStringByte[static_cast<unsigned char>(*p_)]) {
        ++p_;
      }
      if (p_ == end_) {
        break;
      }
      const auto c = static_cast<unsigned char>(*p_);
      if (c == '"') {
        raw = std::string_view(start, static_cast<size_t>(p_ - start));
        ++p_;
        return true;
      }
      if (c < 0x20) {
        return false;
      }
      if (c == '\\') {
        escaped = true;
        if (end_ - p_ < 2) {
          return false;
        }
        const char e = p_[1];
        p_ += 2;
        if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
          continue;
        }
        if (e != 'u') {
          return false;
        }
        const int u = hex4();
        if (u < 0) {
          return false;
        }
        p_ += 4;
        if (u >= 0xDC00 && u <= 0xDFFF) {
          return false; // a low surrogate alone
        }
        if (u >= 0xD800 && u <= 0xDBFF) {
          if (end_ - p_ < 6 || p_[0] != '\\' || p_[1] != 'u') {
            return false;
          }
          p_ += 2;
          const int low = hex4();
          if (low < 0xDC00 || low > 0xDFFF) {
            return false;
          }
          p_ += 4;
        }
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
      } else if (((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) && left >= 3 && cont(b(1)) && cont(b(2))) {
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

  /// JSON's number grammar; what nlohmann reads as an integer reaches the state as one.
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
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
        ++p_;
      }
    } else {
      return false;
    }
    bool integer = true;
    if (p_ < end_ && *p_ == '.') {
      integer = false;
      ++p_;
      if (p_ == end_ || *p_ < '0' || *p_ > '9') {
        return false;
      }
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
        ++p_;
      }
    }
    if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
      integer = false;
      ++p_;
      if (p_ < end_ && (*p_ == '+' || *p_ == '-')) {
        ++p_;
      }
      if (p_ == end_ || *p_ < '0' || *p_ > '9') {
        return false;
      }
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
        ++p_;
      }
    }
    if (integer) {
      if (*start == '-') {
        int64_t v = 0;
        if (auto r = std::from_chars(start, p_, v); r.ec == std::errc() && r.ptr == p_) {
          s_.integer(v);
          return true;
        }
      } else {
        uint64_t v = 0;
        if (auto r = std::from_chars(start, p_, v); r.ec == std::errc() && r.ptr == p_) {
          s_.integer(static_cast<int64_t>(std::min<uint64_t>(v, INT64_MAX)));
          return true;
        }
      }
      // Past 64 bits nlohmann reads a float.
    }
    // nlohmann refuses a float that overflows a double; leave anything unusual to it.
    const size_t len = static_cast<size_t>(p_ - start);
    if (len > 64) {
      return false;
    }
    char text[72];
    std::memcpy(text, start, len);
    text[len] = '\0';
    char* parsed_end = nullptr;
    const double d = std::strtod(text, &parsed_end);
    if (parsed_end != text + len || !std::isfinite(d)) {
      return false;
    }
    s_.other();
    return true;
  }

  const char* p_;
  const char* end_;
  ProbeState& s_;
};

} // namespace

RequestProbe RequestProbe::of(std::string_view body) {
  {
    RequestProbe probe;
    ProbeState state(probe);
    if (BodyScanner(body, state).scan()) {
      probe.valid_json = true;
      return probe;
    }
  }
  RequestProbe probe;
  ProbeState state(probe);
  ProbeHandler handler(state);
  probe.valid_json = Json::sax_parse(body.begin(), body.end(), &handler, nlohmann::json::input_format_t::json,
                                     /*strict=*/true);
  return probe;
}

} // namespace switchyard
