/// @file record.h
/// @brief What one call record contributes to the aggregates, read without building a DOM.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>

namespace switchyard::analytics {

/// The dimensions every aggregate is keyed by.
struct Dimensions {
  std::string tenant;
  std::string app;
  std::string api;
  std::string model;
  std::string provider;

  auto tie() const { return std::tie(tenant, app, api, model, provider); }
  bool operator<(const Dimensions& o) const { return tie() < o.tie(); }
  bool operator==(const Dimensions& o) const { return tie() == o.tie(); }
};

struct Observation {
  Dimensions dims;
  std::string provider_type;  ///< gen_ai_system
  std::string operation;      ///< "chat.completions", "embeddings", …
  std::optional<int64_t> start_unix_ms;
  bool stream = false;
  std::string error_type;  ///< empty on success
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  uint64_t cached_tokens = 0;
  bool has_usage = false;
  std::optional<double> cost_usd;
  std::optional<double> latency_ms;
  std::optional<double> ttft_ms;  ///< ttft_ms, else ttfb_ms
};

/// @return nullopt when the text is not a JSON object.
std::optional<Observation> readRecord(std::string_view text);

}  // namespace switchyard::analytics
