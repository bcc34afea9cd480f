/// @file switchyard/log/call_record.h
/// @brief The record of one call (schema "switchyard.call.v1") handed to log sinks and analytics.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/common/api_error.h"
#include "switchyard/plugin/plugin_types.h"

namespace switchyard {

/// Token counts of a call. prompt_tokens includes cached and cache-write tokens;
/// completion_tokens includes reasoning tokens (OpenAI's convention, for every provider).
struct TokenUsage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t total_tokens = 0;
  int64_t cached_tokens = 0;         ///< prompt tokens read from the provider's cache
  int64_t cache_creation_tokens = 0; ///< prompt tokens written to the provider's cache
  int64_t reasoning_tokens = 0;      ///< completion tokens spent on reasoning/thinking
  bool estimated = false;            ///< counted by the gateway (about 4 characters a token)

  /// Reads a provider's SY_EVENT_USAGE payload (docs/sdk.md): the flat keys above, or
  /// OpenAI's nested prompt_tokens_details / completion_tokens_details. Null if not an object.
  static std::optional<TokenUsage> fromJson(std::string_view payload);
};

/// What a call cost in USD, by the catalog entry of the target that answered.
struct CallCost {
  double input_usd = 0;          ///< uncached prompt tokens
  double cached_usd = 0;         ///< prompt tokens read from the cache
  double cache_creation_usd = 0; ///< prompt tokens written to the cache
  double output_usd = 0;         ///< completion tokens, reasoning included
  double total_usd = 0;
  std::string price_date;  ///< the catalog entry's prices_as_of
  std::string catalog_id;  ///< the catalog entry's id
};

struct CatalogModel;
struct BodyLogPolicy;

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
  int64_t end_unix_ms = 0;
  std::optional<double> ttfb_ms;     ///< first upstream response byte, from the start
  std::optional<double> ttft_ms;     ///< streams: first bytes written to the client, from the start
  std::optional<double> upstream_ms; ///< time spent waiting on upstreams, every attempt summed
  double latency_ms = 0;
  Principal principal;
  std::string client_address;
  std::string endpoint;
  std::string api; ///< the API the call came through (today: the ingress endpoint path)
  std::string operation;
  std::string method; ///< the HTTP method, for REST calls (operation "rest")
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
  std::optional<CallCost> cost; ///< absent when the target's model has no catalog price
  std::optional<ApiError> error;
  std::vector<AttemptRecord> attempts;
  /// Envoy-style response flags: UH no healthy upstream, UF connect failure, UT timeout,
  /// UC connection terminated, URX retries exhausted, NR no route; RL upstream rate-limited,
  /// PS partial stream.
  std::vector<std::string> flags;
  /// Only when the route logs bodies: redacted, capped text (docs/call-record.md).
  std::optional<std::string> request_body;
  std::optional<std::string> response_body;
  bool request_body_truncated = false;
  bool response_body_truncated = false;
  std::optional<HeaderList> request_headers; ///< only with log_bodies.headers; no credentials

  // Working state of the data plane while the call runs; never serialized.
  std::chrono::steady_clock::time_point start{};
  const CatalogModel* catalog_model = nullptr; ///< prices the target tried last
  const BodyLogPolicy* body_log = nullptr;     ///< the called route's body logging, if on
  std::string response_text;                   ///< unredacted, only while body_log->response

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
