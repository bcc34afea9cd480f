/// @file switchyard/store/database.h
/// @brief The SQL driver seam under the management store: one connection, portable SQL.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

namespace switchyard {

/// A failure of the database itself (I/O, corruption, a bad statement). Control plane only.
class StoreError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A unique or foreign-key constraint refused a write (a name already taken, say).
class StoreConflict : public StoreError {
 public:
  using StoreError::StoreError;
};

/// NULL, an integer or text: the only column types the store's schema uses, so every SQL
/// database can hold it unchanged.
using SqlValue = std::variant<std::monostate, int64_t, std::string>;
using SqlRow = std::vector<SqlValue>;

/**
 * One connection to a SQL database. Statements use `?` placeholders and the portable subset
 * of SQL the migrations are written in (TEXT, BIGINT, no autoincrement: ids come from the
 * application); a driver translates placeholders where its dialect differs. Thread-safe:
 * calls are serialised, and a transaction holds the connection until it ends.
 */
class Database {
 public:
  virtual ~Database() = default;

  /// Runs one statement. @return its rows (empty for writes). @throw StoreError, StoreConflict.
  virtual std::vector<SqlRow> query(const std::string& sql,
                                    const std::vector<SqlValue>& params = {}) = 0;
  /// Runs one statement. @return the number of rows it changed.
  virtual int64_t execute(const std::string& sql, const std::vector<SqlValue>& params = {}) = 0;

  /// Runs `work` in one transaction that excludes other writers; commits when it returns,
  /// rolls back and rethrows when it throws.
  virtual void transaction(const std::function<void()>& work) = 0;

  /// "sqlite" (or, later, "postgresql").
  virtual std::string driver() const = 0;
};
using DatabasePtr = std::unique_ptr<Database>;

/// Opens (creating when missing, with its directory) a SQLite database file. @throw StoreError.
DatabasePtr openSqliteDatabase(const std::string& path);

inline int64_t sqlInt(const SqlValue& v) {
  return std::holds_alternative<int64_t>(v) ? std::get<int64_t>(v) : 0;
}
inline std::string sqlText(const SqlValue& v) {
  return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::string();
}

}  // namespace switchyard
