// Re-dumping the client's body through ordered_json was the openai provider's largest cost
// per small call (~27k instructions: a node and a string allocation per value, then the
// dump). This scanner writes the same bytes in one pass over the text.
#include "request_body.h"

#include <array>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <switchyard/json_scan.hpp>
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

class Rewriter {
 public:
  Rewriter(std::string_view body, std::string& out) : c_(body), out_(out) {}

  /// The top-level object, with `model` and `stream` handled as rewriteRequestBody says.
  bool run(std::string_view model, bool stream_false) {
    c_.skipSpace();
    if (!c_.consume('{')) {
      return false;
    }
    out_.push_back('{');
    KeySet keys;
    bool saw_model = false;
    c_.skipSpace();
    if (!c_.consume('}')) {
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
    c_.skipSpace();
    return c_.atEnd();
  }

 private:
  static constexpr int kMaxDepth = 128;

  /// A key, its colon and the space after it; written to the output. Repeated keys (which
  /// ordered_json would merge) and keys with escapes are left to the DOM path.
  bool memberKey(KeySet& keys, std::string_view& key) {
    sdk::JsonString k;
    if (!c_.at('"') || !c_.string(k) || k.escaped || !keys.insert(k.raw)) {
      return false;
    }
    key = k.raw;
    out_.push_back('"');
    out_.append(key);
    out_.push_back('"');
    c_.skipSpace();
    if (!c_.consume(':')) {
      return false;
    }
    out_.push_back(':');
    c_.skipSpace();
    return true;
  }

  /// After a member or element: 1 another follows (comma written), 0 the container closed
  /// (not written), -1 malformed.
  int afterMember(char close) {
    const int next = c_.afterMember(close);
    if (next > 0) {
      out_.push_back(',');
    }
    return next;
  }

  bool value(int depth) {
    if (c_.atEnd()) {
      return false;
    }
    switch (c_.peek()) {
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
    if (!c_.literal(word)) {
      return false;
    }
    out_.append(word);
    return true;
  }

  bool object(int depth) {
    if (depth > kMaxDepth) {
      return false;
    }
    c_.advance();
    out_.push_back('{');
    c_.skipSpace();
    if (c_.consume('}')) {
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
    c_.advance();
    out_.push_back('[');
    c_.skipSpace();
    if (c_.consume(']')) {
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

  /// A string as nlohmann's lexer accepts it, written as its serializer writes it back:
  /// UTF-8 as is, "\/" as "/", the other short escapes unchanged. \u escapes are refused.
  bool string() {
    sdk::JsonString s;
    if (!c_.string(s) || s.unicode_escape) {
      return false;
    }
    out_.push_back('"');
    if (!s.escaped) {
      out_.append(s.raw);
    } else {
      // Every backslash in a checked string starts a two-byte escape.
      size_t run = 0;  // bytes not yet copied
      for (size_t i = s.raw.find('\\'); i != std::string_view::npos;
           i = s.raw.find('\\', i)) {
        if (s.raw[i + 1] == '/') {
          out_.append(s.raw.substr(run, i - run));
          out_.push_back('/');
          run = i + 2;
        }
        i += 2;
      }
      out_.append(s.raw.substr(run));
    }
    out_.push_back('"');
    return true;
  }

  /// JSON's number grammar; integers written back as they are ("-0" as "0", as nlohmann
  /// reads it as the integer 0), other numbers through strtod and nlohmann's own to_chars.
  bool number() {
    sdk::JsonNumber n;
    if (!c_.number(n)) {
      return false;
    }
    if (n.integral) {
      if (n.kind == sdk::JsonNumber::Kind::kFloat) {
        return false;  // past 64 bits nlohmann reads a float; leave that to it
      }
      if (n.kind == sdk::JsonNumber::Kind::kInt64 && n.i == 0) {
        out_.push_back('0');
        return true;
      }
      out_.append(n.text);
      return true;
    }
    double d = 0;
    if (!sdk::jsonFiniteDouble(n.text, 40, d)) {  // strtod, what nlohmann's lexer uses
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

  sdk::JsonCursor c_;
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
