/// @file request_probe.h
/// @brief Reads the few top-level fields routing needs from a request body without a DOM.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace switchyard {

/// What the core needs from a unified request body. The body itself goes to the provider
/// untouched, so building a DOM of it here (megabytes of tool definitions from coding agents)
/// would cost memory and time for nothing.
struct RequestProbe {
  enum class Kind { kAbsent, kNull, kBool, kString, kArray, kObject, kOther };

  bool valid_json = false;
  bool is_object = false;
  Kind model = Kind::kAbsent;
  std::string model_value;
  Kind stream = Kind::kAbsent;
  bool stream_value = false;
  Kind messages = Kind::kAbsent;
  size_t message_count = 0;
  Kind input = Kind::kAbsent;
  /// Top-level integers a quota's worst case reads; -1 when absent or not an integer.
  int64_t max_tokens = -1;
  int64_t max_completion_tokens = -1;
  int64_t n = -1;

  static RequestProbe of(std::string_view body);
};

} // namespace switchyard
