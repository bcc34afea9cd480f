/// @file switchyard/log/call_record.h
/// @brief The record of one call (schema "switchyard.call.v1") handed to log sinks and analytics.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "switchyard/common/api_error.h"
#include "switchyard/plugin/plugin_types.h"

namespace switchyard {

struct TokenUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t total_tokens = 0;
};

/// One try of a call on one target.
struct AttemptRecord {
  std::string target; ///< "provider/upstream_model"
  std::string outcome;
  int upstream_status = 0;
  double ms = 0;
  std::optional<double> ttfb_ms; ///< from the attempt's start to the upstream's response head
};

struct CallRecord {
  std::string request_id;
  int64_t start_unix_ms = 0;
  std::chrono::steady_clock::time_point start{};
  std::optional<double> ttfb_ms;     ///< first upstream response byte, from the start
  std::optional<double> upstream_ms; ///< time spent waiting on the upstream
  double latency_ms = 0;
  Principal principal;
  std::string client_address;
  std::string endpoint;
  std::string operation;
  std::string model;
  std::string provider;
  std::string provider_type;
  std::string upstream_model;
  bool stream = false;
  bool partial = false; ///< a stream that ended in an error after bytes reached the client
  int status = 0;
  int upstream_status = 0;
  std::string upstream_failure; ///< failure class when the upstream exchange broke
  std::optional<TokenUsage> usage;
  std::optional<ApiError> error;
  std::vector<AttemptRecord> attempts;
  /// Envoy-style response flags: UH no healthy upstream, UF connect failure, UT timeout,
  /// UC connection terminated, URX retries exhausted, NR no route; RL upstream rate-limited,
  /// PS partial stream.
  std::vector<std::string> flags;

  void flag(const std::string& f) {
    for (const auto& existing : flags) {
      if (existing == f) {
        return;
      }
    }
    flags.push_back(f);
  }

  /// The JSON object sinks receive. Never contains key material.
  std::string toJson() const;
};

} // namespace switchyard
