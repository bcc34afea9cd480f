/// @file store.h
/// @brief The aggregates on disk: one SQLite table of cells, merged into by batches, scanned by
/// queries, pruned by retention.
#pragma once

#include <sqlite3.h>

#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "aggregate.h"

namespace switchyard::analytics {

/// Allowed values per dimension name ("tenant", "app", "api", "model", "provider").
using DimensionFilter = std::map<std::string, std::vector<std::string>>;

/// Thread-safe: one connection behind a mutex (writes come from one thread, queries from the
/// admin port; neither is on the request path).
class Store {
 public:
  /// Opens or creates the database. Throws std::runtime_error when it cannot (start-up only).
  explicit Store(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Adds `cells` to what is stored, in one transaction. @return an error text, empty on success
  /// (on failure nothing was written).
  std::string merge(const std::map<CellKey, Aggregate>& cells);
  /// Deletes the cells of `g` that start before `before_ms`.
  std::string prune(Granularity g, int64_t before_ms);
  /// Visits every cell of `g` with from_ms <= start < to_ms matching `filter`.
  std::string scan(Granularity g, int64_t from_ms, int64_t to_ms, const DimensionFilter& filter,
                   const std::function<void(const CellKey&, const Aggregate&)>& visit);

 private:
  std::string exec(const char* sql);
  std::string lastError(const std::string& what) const;

  std::mutex mutex_;
  sqlite3* db_ = nullptr;
  sqlite3_stmt* select_ = nullptr;
  sqlite3_stmt* upsert_ = nullptr;
};

}  // namespace switchyard::analytics
