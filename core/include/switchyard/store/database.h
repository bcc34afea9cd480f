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
 *
 * A statement that fails inside a transaction ends it: let the exception leave the work
 * (PostgreSQL refuses every later statement of an aborted transaction), never catch and go on.
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

  /// "sqlite" or "postgresql".
  virtual std::string driver() const = 0;
};
using DatabasePtr = std::unique_ptr<Database>;

/// Opens (creating when missing, with its directory) a SQLite database file. @throw StoreError.
DatabasePtr openSqliteDatabase(const std::string& path);

/// Connects to PostgreSQL. `url` is a libpq conninfo ("host=… dbname=…") or a postgresql://
/// URI; `password` (may be empty) is added to it and never appears in an error. Writers on
/// every connection to one database exclude each other (transaction-level advisory lock); a
/// connection the server dropped is re-opened on the next call. @throw StoreError naming
/// user, host, port and database when the server cannot be reached.
DatabasePtr openPostgresDatabase(const std::string& url, const std::string& password);
/// "user@host:port/dbname" of a conninfo or URI, for logs and errors (never the password).
std::string postgresTarget(const std::string& url);
/// What is wrong with `url` as a store url (unparsable, a password inline), or "" when fine.
std::string postgresUrlProblem(const std::string& url);
/// The statement with its `?` placeholders numbered `$1`, `$2`… (quotes and comments skipped).
std::string postgresPlaceholders(const std::string& sql);

inline int64_t sqlInt(const SqlValue& v) {
  return std::holds_alternative<int64_t>(v) ? std::get<int64_t>(v) : 0;
}
inline std::string sqlText(const SqlValue& v) {
  return std::holds_alternative<std::string>(v) ? std::get<std::string>(v) : std::string();
}

}  // namespace switchyard
