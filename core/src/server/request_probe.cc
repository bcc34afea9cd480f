#include "request_probe.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <switchyard/json_scan.hpp>

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
  BodyScanner(std::string_view text, ProbeState& state) : c_(text), s_(state) {}

  bool scan() {
    c_.skipSpace();
    if (!c_.at('{') || !sdk::walkJson(c_, *this, kMaxDepth)) {
      return false;
    }
    c_.skipSpace();
    return c_.atEnd();
  }

  // sdk::walkJson's events.
  bool startObject() { return s_.startObject(), true; }
  bool startArray() { return s_.startArray(), true; }
  bool end() { return s_.end(), true; }
  bool key(const sdk::JsonString& k) {
    if (k.escaped && s_.wantsKey()) {
      return false;
    }
    s_.key(k.raw);
    return true;
  }
  bool string(const sdk::JsonString& v) {
    if (v.escaped && s_.wantsString()) {
      return false;
    }
    s_.string(v.raw);
    return true;
  }
  bool boolean(bool v) { return s_.boolean(v), true; }
  bool null() { return s_.null(), true; }

  /// What nlohmann reads as an integer reaches the state as one; it refuses a float that
  /// overflows a double, so anything unusual is left to it.
  bool number(const sdk::JsonNumber& n) {
    if (n.kind == sdk::JsonNumber::Kind::kInt64) {
      s_.integer(n.i);
      return true;
    }
    if (n.kind == sdk::JsonNumber::Kind::kUint64) {
      s_.integer(static_cast<int64_t>(std::min<uint64_t>(n.u, INT64_MAX)));
      return true;
    }
    double d = 0;
    if (!sdk::jsonFiniteDouble(n.text, 64, d)) {
      return false;
    }
    s_.other();
    return true;
  }

private:
  static constexpr int kMaxDepth = 128; // the request threads' stacks are small

  sdk::JsonCursor c_;
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
