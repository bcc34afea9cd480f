#include "request_probe.h"

#include <algorithm>
#include <cstdint>
#include <nlohmann/json.hpp>

namespace switchyard {
namespace {

using Json = nlohmann::json;
using Kind = RequestProbe::Kind;

/// SAX handler: follows depth, remembers the top-level key whose value comes next, and counts
/// the elements of a top-level "messages" array.
class ProbeHandler : public nlohmann::json_sax<Json> {
public:
  explicit ProbeHandler(RequestProbe& probe) : p_(probe) {}

  bool null() override { return value(Kind::kNull); }
  bool boolean(bool v) override {
    if (depth_ == 1 && key_ == "stream") {
      p_.stream_value = v;
    }
    return value(Kind::kBool);
  }
  bool number_integer(number_integer_t v) override {
    integer(v);
    return value(Kind::kOther);
  }
  bool number_unsigned(number_unsigned_t v) override {
    integer(static_cast<int64_t>(std::min<number_unsigned_t>(v, INT64_MAX)));
    return value(Kind::kOther);
  }
  bool number_float(number_float_t, const string_t&) override { return value(Kind::kOther); }
  bool string(string_t& v) override {
    if (depth_ == 1 && key_ == "model") {
      p_.model_value = v;
    }
    return value(Kind::kString);
  }
  bool binary(binary_t&) override { return value(Kind::kOther); }
  bool start_object(std::size_t) override {
    if (depth_ == 0) {
      p_.is_object = true;
    }
    value(Kind::kObject);
    ++depth_;
    return true;
  }
  bool end_object() override {
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    value(Kind::kArray);
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) {
      key_ = k;
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

private:
  void integer(int64_t v) {
    if (depth_ != 1) {
      return;
    }
    if (key_ == "max_tokens") {
      p_.max_tokens = v;
    } else if (key_ == "max_completion_tokens") {
      p_.max_completion_tokens = v;
    } else if (key_ == "n") {
      p_.n = v;
    }
  }

  /// A value starts at the current depth: top-level fields by key, or a "messages" element.
  bool value(Kind kind) {
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
    return true;
  }

  RequestProbe& p_;
  int depth_ = 0;
  std::string key_;
};

} // namespace

RequestProbe RequestProbe::of(std::string_view body) {
  RequestProbe probe;
  ProbeHandler handler(probe);
  probe.valid_json = Json::sax_parse(body.begin(), body.end(), &handler, nlohmann::json::input_format_t::json,
                                     /*strict=*/true);
  return probe;
}

} // namespace switchyard
