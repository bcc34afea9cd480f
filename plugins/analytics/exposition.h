/// @file exposition.h
/// @brief Since-start Prometheus series of the observed calls, named after the OpenTelemetry
/// GenAI semantic conventions (gen_ai.client.*, gen_ai.server.*).
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <switchyard/prometheus.hpp>
#include <tuple>

#include "record.h"

namespace switchyard::analytics {

/// Thread-safe. Counters restart from zero with the process, as Prometheus expects.
class Exposition {
 public:
  explicit Exposition(size_t max_series) : max_series_(max_series) {}
  void add(const Observation& o);
  std::string render();

 private:
  /// gen_ai_system, gen_ai_request_model, gen_ai_operation_name
  using Base = std::tuple<std::string, std::string, std::string>;
  using WithExtra = std::tuple<Base, std::string>;  ///< + error_type or gen_ai_token_type

  Base baseOf(const Observation& o);

  std::mutex mutex_;
  size_t max_series_;
  std::map<WithExtra, double> requests_;
  std::map<WithExtra, prometheus::FixedHistogram> duration_;
  std::map<WithExtra, prometheus::FixedHistogram> tokens_;
  std::map<Base, prometheus::FixedHistogram> ttft_;
  std::map<Base, prometheus::FixedHistogram> tpot_;
  std::map<Base, double> cost_;
  std::map<Base, double> cached_tokens_;
  std::map<Base, bool> known_;
};

}  // namespace switchyard::analytics
