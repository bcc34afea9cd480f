/// @file query.h
/// @brief The analytics query language: parsing a query object into a plan, and answering it
/// from the store as chart-ready JSON.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <variant>
#include <vector>

#include "store.h"

namespace switchyard::analytics {

/// How long each granularity is kept, in milliseconds.
struct Retention {
  int64_t minute_ms = 2 * 86'400'000LL;
  int64_t hour_ms = 90 * 86'400'000LL;
  int64_t day_ms = 730 * 86'400'000LL;

  int64_t of(Granularity g) const {
    return g == Granularity::kMinute ? minute_ms : g == Granularity::kHour ? hour_ms : day_ms;
  }
};

struct QueryPlan {
  int64_t from_ms = 0;      ///< aligned down to the source granularity
  int64_t to_ms = 0;        ///< exclusive, aligned up
  bool total_only = false;  ///< interval "all": one value per group
  Granularity source = Granularity::kMinute;
  std::vector<std::string> group_by;
  std::vector<std::string> metrics;
  DimensionFilter filter;
  size_t limit = 0;  ///< 0: every group
};

/// A 400 answer: code and message of the OpenAI-shaped error.
struct QueryError {
  std::string code;
  std::string message;
};

/// The dimension names, in the order they appear in answers.
const std::vector<std::string>& dimensionNames();
/// Every metric a query may ask for.
const std::vector<std::string>& metricNames();

/// Parses a query object (values may be strings, as they arrive from a URL query string).
std::variant<QueryPlan, QueryError> parseQuery(const nlohmann::json& query, int64_t now_ms,
                                               const Retention& retention);

/// Answers a plan. @return null with `error` set when the store fails.
nlohmann::json runQuery(const QueryPlan& plan, Store& store, std::string* error);

}  // namespace switchyard::analytics
