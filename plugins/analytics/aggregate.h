/// @file aggregate.h
/// @brief The counters and histograms of one (granularity, time bucket, dimensions) cell.
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "histogram.h"
#include "record.h"

namespace switchyard::analytics {

enum class Granularity { kMinute, kHour, kDay };
inline constexpr Granularity kGranularities[] = {Granularity::kMinute, Granularity::kHour,
                                                 Granularity::kDay};

inline int64_t granularityMs(Granularity g) {
  switch (g) {
    case Granularity::kMinute:
      return 60'000;
    case Granularity::kHour:
      return 3'600'000;
    case Granularity::kDay:
      return 86'400'000;
  }
  return 60'000;
}
inline const char* granularityName(Granularity g) {
  switch (g) {
    case Granularity::kMinute:
      return "minute";
    case Granularity::kHour:
      return "hour";
    case Granularity::kDay:
      return "day";
  }
  return "minute";
}
/// The start of the UTC bucket holding `unix_ms` (floor, also for times before 1970).
inline int64_t bucketStart(int64_t unix_ms, Granularity g) {
  const int64_t size = granularityMs(g);
  const int64_t q = unix_ms / size;
  return (unix_ms % size < 0 ? q - 1 : q) * size;
}

struct Aggregate {
  uint64_t requests = 0;
  uint64_t errors = 0;
  std::map<std::string, uint64_t> errors_by_type;
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  uint64_t cached_tokens = 0;
  double cost_usd = 0;
  Histogram latency_ms;
  Histogram ttft_ms;

  void add(const Observation& o) {
    ++requests;
    if (!o.error_type.empty()) {
      ++errors;
      ++errors_by_type[o.error_type];
    }
    prompt_tokens += o.prompt_tokens;
    completion_tokens += o.completion_tokens;
    cached_tokens += o.cached_tokens;
    cost_usd += o.cost_usd.value_or(0);
    if (o.latency_ms) {
      latency_ms.add(*o.latency_ms);
    }
    if (o.ttft_ms) {
      ttft_ms.add(*o.ttft_ms);
    }
  }

  void merge(const Aggregate& a) {
    requests += a.requests;
    errors += a.errors;
    for (const auto& [type, n] : a.errors_by_type) {
      errors_by_type[type] += n;
    }
    prompt_tokens += a.prompt_tokens;
    completion_tokens += a.completion_tokens;
    cached_tokens += a.cached_tokens;
    cost_usd += a.cost_usd;
    latency_ms.merge(a.latency_ms);
    ttft_ms.merge(a.ttft_ms);
  }
};

struct CellKey {
  Granularity granularity = Granularity::kMinute;
  int64_t start_ms = 0;
  Dimensions dims;

  bool operator<(const CellKey& o) const {
    return std::tie(granularity, start_ms, dims) < std::tie(o.granularity, o.start_ms, o.dims);
  }
};

}  // namespace switchyard::analytics
