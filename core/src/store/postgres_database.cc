// The PostgreSQL driver under the management store, through libpq. One connection, serialised
// like the SQLite driver's; writers exclude each other across every gateway sharing the
// database with a transaction-level advisory lock, the counterpart of SQLite's BEGIN IMMEDIATE.
// A connection the server dropped (a restart, a failover) is noticed before it is used and
// opened again, so the control plane recovers by itself once the server is back.
#include <libpq-fe.h>
#include <poll.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string_view>
#include <utility>

#include "switchyard/store/database.h"

namespace switchyard {
namespace {

// Arbitrary, fixed: every gateway's store transactions take this lock (per database), so the
// change counter and the audit log see one writer at a time. Distinct from the postgres sink's.
constexpr const char* kWriterLockKey = "7406231958";

// Type OIDs of the results the portable schema produces (pg_type.h is not in libpq-dev).
constexpr Oid kBoolOid = 16;
constexpr Oid kInt8Oid = 20;
constexpr Oid kInt2Oid = 21;
constexpr Oid kInt4Oid = 23;
constexpr Oid kNumericOid = 1700;  // SUM(bigint)

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Connection = std::unique_ptr<PGconn, ConnDeleter>;

/// libpq's message on one line: it spreads a hint over several, which splits a log line.
std::string trimmed(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\n' || c == '\r' || c == '\t') {
      c = ' ';
    }
    if (c != ' ' || (!out.empty() && out.back() != ' ')) {
      out += c;
    }
  }
  while (!out.empty() && out.back() == ' ') {
    out.pop_back();
  }
  return out;
}

bool integral(std::string_view s) {
  if (!s.empty() && s[0] == '-') {
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 18) {
    return false;
  }
  for (char c : s) {
    if (c < '0' || c > '9') {
      return false;
    }
  }
  return true;
}

bool startsWithSelect(const std::string& sql) {
  size_t at = 0;
  while (at < sql.size() && std::isspace(static_cast<unsigned char>(sql[at]))) {
    ++at;
  }
  static constexpr std::string_view kSelect = "select";
  if (sql.size() - at < kSelect.size()) {
    return false;
  }
  for (size_t i = 0; i < kSelect.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(sql[at + i])) != kSelect[i]) {
      return false;
    }
  }
  return true;
}

/// The parsed keywords of a conninfo string or URI. @throw StoreError when it does not parse.
struct Conninfo {
  explicit Conninfo(const std::string& url) {
    char* why = nullptr;
    options = PQconninfoParse(url.c_str(), &why);
    if (options == nullptr) {
      std::string message = why != nullptr ? trimmed(why) : "cannot parse it";
      PQfreemem(why);
      throw StoreError(message);
    }
  }
  ~Conninfo() { PQconninfoFree(options); }
  Conninfo(const Conninfo&) = delete;
  Conninfo& operator=(const Conninfo&) = delete;

  std::string get(std::string_view keyword) const {
    for (const PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
      if (keyword == o->keyword && o->val != nullptr) {
        return o->val;
      }
    }
    return "";
  }

  PQconninfoOption* options = nullptr;
};

class PostgresDatabase : public Database {
 public:
  PostgresDatabase(std::string url, std::string password)
      : url_(std::move(url)), password_(std::move(password)), target_(postgresTarget(url_)) {
    std::lock_guard lock(mutex_);
    connect();
  }

  std::vector<SqlRow> query(const std::string& sql, const std::vector<SqlValue>& params) override {
    std::lock_guard lock(mutex_);
    // A read outside a transaction changes nothing, so one lost on a dropped connection is
    // simply asked again on a fresh one.
    return withRetry(startsWithSelect(sql), [&] { return run(sql, params, nullptr); });
  }

  int64_t execute(const std::string& sql, const std::vector<SqlValue>& params) override {
    std::lock_guard lock(mutex_);
    int64_t changes = 0;
    withRetry(false, [&] { return run(sql, params, &changes); });
    return changes;
  }

  void transaction(const std::function<void()>& work) override {
    std::lock_guard lock(mutex_);
    if (in_transaction_) {
      // PostgreSQL would only warn, and the inner COMMIT would end the outer transaction.
      throw StoreError("store: a transaction cannot begin inside another");
    }
    // BEGIN and the lock have changed nothing yet: when the connection turns out dead there,
    // the whole transaction starts over on a new one.
    withRetry(true, [&] {
      run("BEGIN", {}, nullptr);
      in_transaction_ = true;
      return std::vector<SqlRow>{};
    });
    try {
      run(std::string("SELECT pg_advisory_xact_lock(") + kWriterLockKey + ")", {}, nullptr);
      work();
      run("COMMIT", {}, nullptr);
      in_transaction_ = false;
    } catch (...) {
      in_transaction_ = false;
      if (conn_ && PQstatus(conn_.get()) == CONNECTION_OK) {
        Result(PQexec(conn_.get(), "ROLLBACK"));
      }
      throw;
    }
  }

  std::string driver() const override { return "postgresql"; }

 private:
  void connect() {
    conn_.reset();
    // Our defaults come first, the operator's url after them (it may override any), the
    // password last: libpq keeps the last value of a repeated keyword.
    // A server that vanished without a word (a dead host, a cut network) is given up on in
    // about a minute rather than the kernel's two hours, and a statement stuck behind a lock
    // ends in one: admin calls answer an error instead of hanging on the store's mutex.
    static constexpr std::pair<const char*, const char*> kDefaults[] = {
        {"connect_timeout", "10"},     {"application_name", "switchyard"},
        {"keepalives", "1"},           {"keepalives_idle", "30"},
        {"keepalives_interval", "10"}, {"keepalives_count", "3"},
        {"tcp_user_timeout", "60000"}, {"options", "-c statement_timeout=60000"},
    };
    std::vector<const char*> keys;
    std::vector<const char*> values;
    for (const auto& [key, value] : kDefaults) {
      keys.push_back(key);
      values.push_back(value);
    }
    keys.push_back("dbname");
    values.push_back(url_.c_str());
    if (!password_.empty()) {
      keys.push_back("password");
      values.push_back(password_.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    Connection conn(PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1));
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
      // libpq's message names host and port, never the password.
      throw StoreError("cannot connect to the PostgreSQL store " + target_ + ": " +
                       (conn ? trimmed(PQerrorMessage(conn.get())) : "out of memory"));
    }
    // CREATE TABLE IF NOT EXISTS and friends send notices; they are not worth a log line.
    PQsetNoticeProcessor(
        conn.get(), [](void*, const char*) {}, nullptr);
    conn_ = std::move(conn);
  }

  /// Drops a connection the server has closed while it sat idle (after a restart the
  /// server's goodbye waits unread in the socket), so the next statement runs on a new one.
  void ensureConnected() {
    // The goodbye (a FATAL notice) and the end of the stream may need a read each.
    for (int reads = 0; reads < 4 && conn_ && PQstatus(conn_.get()) == CONNECTION_OK &&
                        PQtransactionStatus(conn_.get()) == PQTRANS_IDLE;
         ++reads) {
      pollfd p{PQsocket(conn_.get()), POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0) {
        break;
      }
      if (PQconsumeInput(conn_.get()) == 0) {
        conn_.reset();
      }
    }
    if (!conn_ || PQstatus(conn_.get()) != CONNECTION_OK) {
      connect();
    }
  }

  /// Runs `step` on a live connection; when `retry` and the connection broke under it (and
  /// no transaction is open), runs it once more on a new connection.
  std::vector<SqlRow> withRetry(bool retry, const std::function<std::vector<SqlRow>()>& step) {
    if (in_transaction_) {
      return step();
    }
    ensureConnected();
    try {
      return step();
    } catch (const StoreConflict&) {
      throw;
    } catch (const StoreError&) {
      if (!retry || (conn_ && PQstatus(conn_.get()) == CONNECTION_OK)) {
        throw;
      }
    }
    connect();
    return step();
  }

  std::vector<SqlRow> run(const std::string& sql, const std::vector<SqlValue>& params,
                          int64_t* changes) {
    const std::string text = postgresPlaceholders(sql);
    std::vector<std::string> storage(params.size());
    std::vector<const char*> values(params.size(), nullptr);
    for (size_t i = 0; i < params.size(); ++i) {
      if (const auto* n = std::get_if<int64_t>(&params[i])) {
        storage[i] = std::to_string(*n);
        values[i] = storage[i].c_str();
      } else if (const auto* s = std::get_if<std::string>(&params[i])) {
        values[i] = s->c_str();
      }
    }
    // Parameter types are left to the server (0): it infers them from where they stand, as
    // SQLite's dynamic typing would accept them.
    Result result(PQexecParams(conn_.get(), text.c_str(), static_cast<int>(params.size()), nullptr,
                               values.data(), nullptr, nullptr, /*resultFormat=*/0));
    const ExecStatusType status = result ? PQresultStatus(result.get()) : PGRES_FATAL_ERROR;
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      const char* state = result ? PQresultErrorField(result.get(), PG_DIAG_SQLSTATE) : nullptr;
      std::string why = "store: " + trimmed(PQerrorMessage(conn_.get()));
      // Class 23: integrity constraint violation (unique, foreign key, not null, check).
      if (state != nullptr && std::string_view(state).substr(0, 2) == "23") {
        throw StoreConflict(why);
      }
      throw StoreError(why);
    }
    if (changes != nullptr) {
      const char* n = PQcmdTuples(result.get());
      *changes = n != nullptr && *n != '\0' ? std::strtoll(n, nullptr, 10) : 0;
    }
    std::vector<SqlRow> rows;
    const int nrows = PQntuples(result.get());
    const int ncols = PQnfields(result.get());
    rows.reserve(nrows);
    for (int r = 0; r < nrows; ++r) {
      SqlRow row;
      row.reserve(ncols);
      for (int c = 0; c < ncols; ++c) {
        if (PQgetisnull(result.get(), r, c)) {
          row.emplace_back(std::monostate{});
          continue;
        }
        std::string value(PQgetvalue(result.get(), r, c), PQgetlength(result.get(), r, c));
        const Oid type = PQftype(result.get(), c);
        if (type == kInt8Oid || type == kInt4Oid || type == kInt2Oid ||
            (type == kNumericOid && integral(value))) {
          row.emplace_back(static_cast<int64_t>(std::strtoll(value.c_str(), nullptr, 10)));
        } else if (type == kBoolOid) {
          row.emplace_back(int64_t{value == "t" ? 1 : 0});
        } else {
          row.emplace_back(std::move(value));
        }
      }
      rows.push_back(std::move(row));
    }
    return rows;
  }

  const std::string url_;
  const std::string password_;  // SECRET: never logged, never in an error
  const std::string target_;
  Connection conn_;
  bool in_transaction_ = false;
  std::recursive_mutex mutex_;  // a transaction's work runs statements while holding it
};

}  // namespace

std::string postgresPlaceholders(const std::string& sql) {
  std::string out;
  out.reserve(sql.size() + 8);
  int next = 1;
  for (size_t i = 0; i < sql.size(); ++i) {
    const char c = sql[i];
    if (c == '\'' || c == '"') {
      // A literal or a quoted identifier, copied whole; a doubled quote stays inside it.
      const size_t end = sql.find(c, i + 1);
      const size_t stop = end == std::string::npos ? sql.size() : end + 1;
      out.append(sql, i, stop - i);
      i = stop - 1;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      const size_t end = sql.find('\n', i);
      const size_t stop = end == std::string::npos ? sql.size() : end;
      out.append(sql, i, stop - i);
      i = stop - 1;
    } else if (c == '/' && i + 1 < sql.size() && sql[i + 1] == '*') {
      const size_t end = sql.find("*/", i + 2);
      const size_t stop = end == std::string::npos ? sql.size() : end + 2;
      out.append(sql, i, stop - i);
      i = stop - 1;
    } else if (c == '?') {
      out += '$' + std::to_string(next++);
    } else {
      out += c;
    }
  }
  return out;
}

std::string postgresTarget(const std::string& url) {
  try {
    Conninfo info(url);
    std::string host = info.get("host");
    if (host.empty()) {
      host = info.get("hostaddr");
    }
    std::string port = info.get("port");
    std::string user = info.get("user");
    std::string db = info.get("dbname");
    return (user.empty() ? "" : user + "@") + (host.empty() ? "localhost" : host) + ":" +
           (port.empty() ? "5432" : port) + "/" + (db.empty() ? (user.empty() ? "?" : user) : db);
  } catch (const StoreError&) {
    return "(unparsable url)";
  }
}

std::string postgresUrlProblem(const std::string& url) {
  if (url.empty()) {
    return "is required for the postgresql driver (a libpq conninfo or postgresql:// URI)";
  }
  try {
    Conninfo info(url);
    if (!info.get("password").empty()) {
      // A password in the config file ends up in backups and diffs; the environment does not.
      return "must not contain a password; name an environment variable in store.password_env";
    }
  } catch (const StoreError& e) {
    return std::string("is not a libpq conninfo or postgresql:// URI: ") + e.what();
  }
  return "";
}

DatabasePtr openPostgresDatabase(const std::string& url, const std::string& password) {
  return std::make_unique<PostgresDatabase>(url, password);
}

}  // namespace switchyard
