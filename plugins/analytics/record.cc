#include "record.h"

#include <nlohmann/json.hpp>

namespace switchyard::analytics {
namespace {

using Json = nlohmann::json;

/// Tracks the path of the current value two levels deep ("usage" / "prompt_tokens"); the
/// record's nested arrays (attempts, response_flags) are skipped by depth.
class Reader : public nlohmann::json_sax<Json> {
 public:
  explicit Reader(Observation& o) : o_(o) {}

  bool null() override { return true; }
  bool boolean(bool v) override {
    if (depth_ == 1 && key_ == "stream") {
      o_.stream = v;
    }
    return true;
  }
  bool number_integer(number_integer_t v) override {
    if (depth_ == 1 && key_ == "start_unix_ms") {
      o_.start_unix_ms = v;
      return true;
    }
    return number(static_cast<double>(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (depth_ == 1 && key_ == "start_unix_ms") {
      o_.start_unix_ms = static_cast<int64_t>(v);
      return true;
    }
    return number(static_cast<double>(v));
  }
  bool number_float(number_float_t v, const string_t&) override { return number(v); }
  bool string(string_t& v) override {
    if (depth_ == 1) {
      if (key_ == "model") {
        o_.dims.model = v;
      } else if (key_ == "provider") {
        o_.dims.provider = v;
      } else if (key_ == "api") {
        o_.dims.api = v;
      } else if (key_ == "endpoint") {
        endpoint_ = v;
      } else if (key_ == "provider_type") {
        o_.provider_type = v;
      } else if (key_ == "operation") {
        o_.operation = v;
      }
    } else if (depth_ == 2 && parent_ == "principal") {
      if (key_ == "tenant") {
        o_.dims.tenant = v;
      } else if (key_ == "app") {
        o_.dims.app = v;
      }
    } else if (depth_ == 2 && parent_ == "error" && key_ == "type") {
      o_.error_type = v;
    }
    return true;
  }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override { return open(); }
  bool end_object() override { return close(); }
  bool start_array(std::size_t) override { return open(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    key_ = k;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

  void finish() {
    if (o_.dims.api.empty()) {
      o_.dims.api = endpoint_;
    }
    if (o_.error_type.empty() && status_ >= 400) {
      o_.error_type = "http_" + std::to_string(status_);
    }
    if (!o_.cost_usd && cost_total_) {
      o_.cost_usd = cost_total_;
    }
    if (!o_.ttft_ms) {
      o_.ttft_ms = ttfb_ms_;
    }
  }

 private:
  bool open() {
    if (depth_ == 1) {
      parent_ = key_;
    }
    ++depth_;
    return true;
  }
  bool close() {
    if (--depth_ == 1) {
      parent_.clear();
    }
    return true;
  }

  bool number(double v) {
    const auto count = [&] { return v > 0 ? static_cast<uint64_t>(v) : 0; };
    if (depth_ == 1) {
      if (key_ == "status") {
        status_ = static_cast<int>(v);
      } else if (key_ == "latency_ms") {
        o_.latency_ms = v;
      } else if (key_ == "ttft_ms") {
        o_.ttft_ms = v;
      } else if (key_ == "ttfb_ms") {
        ttfb_ms_ = v;
      } else if (key_ == "cost_usd") {
        o_.cost_usd = v;
      }
    } else if (depth_ == 2 && parent_ == "usage") {
      o_.has_usage = true;
      if (key_ == "prompt_tokens") {
        o_.prompt_tokens = count();
      } else if (key_ == "completion_tokens") {
        o_.completion_tokens = count();
      } else if (key_ == "cached_tokens") {
        o_.cached_tokens = count();
      }
    } else if (depth_ == 2 && parent_ == "cost" && key_ == "total_usd") {
      cost_total_ = v;
    }
    return true;
  }

  Observation& o_;
  int depth_ = 0;
  int status_ = 0;
  std::string key_;
  std::string parent_;
  std::string endpoint_;
  std::optional<double> ttfb_ms_;
  std::optional<double> cost_total_;
};

}  // namespace

std::optional<Observation> readRecord(std::string_view text) {
  if (text.empty() || text.front() != '{') {
    return std::nullopt;
  }
  Observation o;
  Reader reader(o);
  if (!Json::sax_parse(text.begin(), text.end(), &reader)) {
    return std::nullopt;
  }
  reader.finish();
  return o;
}

}  // namespace switchyard::analytics
