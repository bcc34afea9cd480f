/// @file switchyard/json_scan.hpp
/// @brief The JSON grammar pieces hand-written scanners share: a cursor with whitespace,
/// literals, numbers (with nlohmann's integer/float classification), strings checked as
/// nlohmann's lexer checks them, and skipping a whole value under a depth limit.
#pragma once

#include <array>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>
#include <system_error>

// Header-only and compiled into each plugin, like sdk.hpp: nothing here crosses the ABI.
//
// Scanners built on this read the common shapes of JSON at a few instructions a byte (nlohmann's
// lexer copies every byte into a token buffer, ~100 a byte) and leave anything they are unsure
// of to nlohmann, which stays the judge: every piece here accepts only text nlohmann accepts,
// and returns false rather than guess.
namespace switchyard {
namespace sdk __attribute__((visibility("hidden"))) {

  /// Bytes a JSON string holds as they are: printable ASCII but the quote and the backslash.
  /// Runs of them are skipped with one look-up a byte.
  inline constexpr std::array<bool, 256> kJsonPlainByte = [] {
    std::array<bool, 256> t{};
    for (int c = 0x20; c < 0x80; ++c) {
      t[static_cast<size_t>(c)] = c != '"' && c != '\\';
    }
    return t;
  }();

  /// The length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates,
  /// nothing past U+10FFFF) that starts with the non-ASCII byte at `p`, or 0.
  inline size_t jsonUtf8Length(const char* p, const char* end) {
    const auto b = [p](int i) { return static_cast<unsigned char>(p[i]); };
    const auto cont = [](unsigned char c, unsigned char lo = 0x80, unsigned char hi = 0xBF) {
      return c >= lo && c <= hi;
    };
    const unsigned char c = b(0);
    const auto left = end - p;
    if (c >= 0xC2 && c <= 0xDF && left >= 2 && cont(b(1))) {
      return 2;
    }
    if (c == 0xE0 && left >= 3 && cont(b(1), 0xA0) && cont(b(2))) {
      return 3;
    }
    if (((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) && left >= 3 && cont(b(1)) &&
        cont(b(2))) {
      return 3;
    }
    if (c == 0xED && left >= 3 && cont(b(1), 0x80, 0x9F) && cont(b(2))) {
      return 3;
    }
    if (c == 0xF0 && left >= 4 && cont(b(1), 0x90) && cont(b(2)) && cont(b(3))) {
      return 4;
    }
    if (c >= 0xF1 && c <= 0xF3 && left >= 4 && cont(b(1)) && cont(b(2)) && cont(b(3))) {
      return 4;
    }
    if (c == 0xF4 && left >= 4 && cont(b(1), 0x80, 0x8F) && cont(b(2)) && cont(b(3))) {
      return 4;
    }
    return 0;
  }

  /// A number as JSON's grammar has it, classified as nlohmann reads it.
  struct JsonNumber {
    /// kInt64: negative and fits int64 (`i`); kUint64: not negative and fits uint64 (`u`);
    /// kFloat: anything else, including integers past 64 bits.
    enum class Kind { kInt64, kUint64, kFloat };
    std::string_view text;
    bool integral = false;  // no fraction and no exponent, whatever its size
    Kind kind = Kind::kFloat;
    int64_t i = 0;
    uint64_t u = 0;
  };

  /// A string as the lexer accepts it; `raw` views the text between the quotes.
  struct JsonString {
    std::string_view raw;
    bool escaped = false;         // holds a backslash escape
    bool unicode_escape = false;  // among them a \u escape
    bool ascii = true;            // no byte at or above 0x80
    /// No escapes and ASCII only: `raw` is the value, byte for byte.
    bool plain() const { return !escaped && ascii; }
  };

  /// `text` read as strtod reads it (what nlohmann's lexer uses), if it is all consumed, the
  /// result is finite (nlohmann refuses overflow) and it is at most `max_len` (<= 64) bytes.
  inline bool jsonFiniteDouble(std::string_view text, size_t max_len, double& out) {
    if (text.size() > max_len || text.size() > 64) {
      return false;
    }
    char buf[72];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    char* parsed_end = nullptr;
    const double d = std::strtod(buf, &parsed_end);
    if (parsed_end != buf + text.size() || !std::isfinite(d)) {
      return false;
    }
    out = d;
    return true;
  }

  // The scanners are recursive, so GCC stops inlining into them early; the small pieces that
  // run for every token are marked always_inline (they were inline in each scanner before).

  /// A cursor over JSON text. Each reader starts at the first byte of what it reads and leaves
  /// the cursor after it; on false the cursor is somewhere inside and the caller gives up.
  class JsonCursor {
   public:
    explicit JsonCursor(std::string_view text) : p_(text.data()), end_(text.data() + text.size()) {}

    const char* pos() const { return p_; }
    bool atEnd() const { return p_ == end_; }
    /// Whether the next byte is `c`.
    bool at(char c) const { return p_ < end_ && *p_ == c; }
    /// The next byte; only when !atEnd().
    char peek() const { return *p_; }
    void advance(size_t n = 1) { p_ += n; }
    /// Steps over `c` if it is next.
    bool consume(char c) {
      if (!at(c)) {
        return false;
      }
      ++p_;
      return true;
    }

    [[gnu::always_inline]] void skipSpace() {
      while (p_ < end_ && (*p_ == ' ' || *p_ == '\n' || *p_ == '\r' || *p_ == '\t')) {
        ++p_;
      }
    }

    /// `word` (true, false, null) exactly.
    [[gnu::always_inline]] bool literal(std::string_view word) {
      if (static_cast<size_t>(end_ - p_) < word.size() ||
          std::string_view(p_, word.size()) != word) {
        return false;
      }
      p_ += word.size();
      return true;
    }

    /// After a member or element, with the space around: 1 a comma (another follows), 0 the
    /// container's `close`, -1 anything else.
    [[gnu::always_inline]] int afterMember(char close) {
      skipSpace();
      if (p_ == end_) {
        return -1;
      }
      if (*p_ == ',') {
        ++p_;
        skipSpace();
        return 1;
      }
      if (*p_ == close) {
        ++p_;
        return 0;
      }
      return -1;
    }

    /// JSON's number grammar; integers are converted, floats are left as text.
    [[gnu::always_inline]] bool number(JsonNumber& n) {
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
        digits();
      } else {
        return false;
      }
      n.integral = true;
      if (p_ < end_ && *p_ == '.') {
        n.integral = false;
        ++p_;
        if (p_ == end_ || *p_ < '0' || *p_ > '9') {
          return false;
        }
        digits();
      }
      if (p_ < end_ && (*p_ == 'e' || *p_ == 'E')) {
        n.integral = false;
        ++p_;
        if (p_ < end_ && (*p_ == '+' || *p_ == '-')) {
          ++p_;
        }
        if (p_ == end_ || *p_ < '0' || *p_ > '9') {
          return false;
        }
        digits();
      }
      n.text = std::string_view(start, static_cast<size_t>(p_ - start));
      n.kind = JsonNumber::Kind::kFloat;
      if (n.integral) {
        // Past 64 bits nlohmann reads a float.
        if (*start == '-') {
          if (auto r = std::from_chars(start, p_, n.i); r.ec == std::errc() && r.ptr == p_) {
            n.kind = JsonNumber::Kind::kInt64;
          }
        } else if (auto r = std::from_chars(start, p_, n.u); r.ec == std::errc() && r.ptr == p_) {
          n.kind = JsonNumber::Kind::kUint64;
        }
      }
      return true;
    }

    /// A string of printable ASCII without escapes; `out` views its contents. False for
    /// anything else (which may still be a valid string).
    bool plainString(std::string_view& out) {
      const char* start = ++p_;  // past the opening quote
      while (p_ < end_ && kJsonPlainByte[static_cast<unsigned char>(*p_)]) {
        ++p_;
      }
      if (p_ == end_ || *p_ != '"') {
        return false;
      }
      out = std::string_view(start, static_cast<size_t>(p_ - start));
      ++p_;
      return true;
    }

    /// A string as nlohmann's lexer accepts it: UTF-8 checked, escapes (and \u surrogate
    /// pairs) checked. `s.raw` is its value when s.plain(), or when !s.escaped.
    [[gnu::always_inline]] bool string(JsonString& s) {
      // Most strings are plain: this loop is all they cost, and it stays inline.
      const char* start = ++p_;
      while (p_ < end_ && kJsonPlainByte[static_cast<unsigned char>(*p_)]) {
        ++p_;
      }
      if (p_ < end_ && *p_ == '"') {
        s = JsonString{std::string_view(start, static_cast<size_t>(p_ - start))};
        ++p_;
        return true;
      }
      return stringRest(s, start);
    }

   private:
    /// string() past its plain start, at the first byte that is not plain.
    __attribute__((noinline)) bool stringRest(JsonString& s, const char* start) {
      s = JsonString{};
      while (p_ < end_) {
        while (p_ < end_ && kJsonPlainByte[static_cast<unsigned char>(*p_)]) {
          ++p_;
        }
        if (p_ == end_) {
          break;
        }
        const auto c = static_cast<unsigned char>(*p_);
        if (c == '"') {
          s.raw = std::string_view(start, static_cast<size_t>(p_ - start));
          ++p_;
          return true;
        }
        if (c < 0x20) {
          return false;
        }
        if (c == '\\') {
          s.escaped = true;
          if (end_ - p_ < 2) {
            return false;
          }
          const char e = p_[1];
          p_ += 2;
          if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' || e == 'r' ||
              e == 't') {
            continue;
          }
          if (e != 'u' || !unicodeEscape()) {
            return false;
          }
          s.unicode_escape = true;
          continue;
        }
        if (c < 0x80) {
          ++p_;
          continue;
        }
        const size_t len = jsonUtf8Length(p_, end_);
        if (len == 0) {
          return false;
        }
        s.ascii = false;
        p_ += len;
      }
      return false;
    }

    void digits() {
      while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
        ++p_;
      }
    }

    /// Four hex digits at the cursor: their value, or -1.
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

    /// After "\u": four hex digits, and for a high surrogate the "\uXXXX" low one after it.
    bool unicodeEscape() {
      const int u = hex4();
      if (u < 0) {
        return false;
      }
      p_ += 4;
      if (u >= 0xDC00 && u <= 0xDFFF) {
        return false;  // a low surrogate alone
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
      return true;
    }

    const char* p_;
    const char* end_;
  };

  namespace detail {
  template <class Handler>
  [[gnu::flatten]] bool walkJson(JsonCursor& c, Handler& h, int depth, int max_depth) {
    if (c.atEnd()) {
      return false;
    }
    switch (c.peek()) {
      case '{': {
        if (depth >= max_depth) {
          return false;
        }
        c.advance();
        if (!h.startObject()) {
          return false;
        }
        c.skipSpace();
        if (c.consume('}')) {
          return h.end();
        }
        for (;;) {
          JsonString key;
          if (!c.at('"') || !c.string(key) || !h.key(key)) {
            return false;
          }
          c.skipSpace();
          if (!c.consume(':')) {
            return false;
          }
          c.skipSpace();
          if (!walkJson(c, h, depth + 1, max_depth)) {
            return false;
          }
          const int next = c.afterMember('}');
          if (next <= 0) {
            return next == 0 && h.end();
          }
        }
      }
      case '[': {
        if (depth >= max_depth) {
          return false;
        }
        c.advance();
        if (!h.startArray()) {
          return false;
        }
        c.skipSpace();
        if (c.consume(']')) {
          return h.end();
        }
        for (;;) {
          if (!walkJson(c, h, depth + 1, max_depth)) {
            return false;
          }
          const int next = c.afterMember(']');
          if (next <= 0) {
            return next == 0 && h.end();
          }
        }
      }
      case '"': {
        JsonString s;
        return c.string(s) && h.string(s);
      }
      case 't':
        return c.literal("true") && h.boolean(true);
      case 'f':
        return c.literal("false") && h.boolean(false);
      case 'n':
        return c.literal("null") && h.null();
      default: {
        JsonNumber n;
        return c.number(n) && h.number(n);
      }
    }
  }
  }  // namespace detail

  /// Reads one value at the cursor and gives `h` its events in document order, as nlohmann's
  /// SAX parser would: startObject(), key(JsonString), startArray(), end() (of either),
  /// string(JsonString), number(JsonNumber), boolean(bool), null(), each returning false to
  /// stop (the walk is then false). Containers nested deeper than `max_depth` are refused
  /// before their start event.
  template <class Handler>
  bool walkJson(JsonCursor & c, Handler & h, int max_depth) {
    return detail::walkJson(c, h, 0, max_depth);
  }

  /// Steps over one value of any kind, checked as JsonCursor::string() and number() check it;
  /// false for containers nested deeper than `max_depth` (the value itself counting as depth 1)
  /// and for floats nlohmann would refuse (overflowing a double) or that need more than
  /// `max_float_len` bytes to tell.
  inline bool skipJsonValue(JsonCursor & c, int max_depth, size_t max_float_len = 64) {
    struct Skip {
      size_t max_float_len;
      bool startObject() { return true; }
      bool startArray() { return true; }
      bool end() { return true; }
      bool key(const JsonString&) { return true; }
      bool string(const JsonString&) { return true; }
      bool boolean(bool) { return true; }
      bool null() { return true; }
      bool number(const JsonNumber& n) {
        double d = 0;
        return n.kind != JsonNumber::Kind::kFloat || jsonFiniteDouble(n.text, max_float_len, d);
      }
    } skip{max_float_len};
    return walkJson(c, skip, max_depth);
  }

}  // namespace )
}  // namespace switchyard
