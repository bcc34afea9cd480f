// Log sink "sqlite": every call record becomes one row of table `calls` in a local SQLite
// database, the main fields as columns (for SQL over the history without parsing JSON) and the
// whole record in `record`. One transaction per batch: the batch is stored whole or the sink
// reports failure and stores nothing, so the host's retry is clean. request_id is UNIQUE and
// rows go in with INSERT OR IGNORE, so a batch delivered twice (a retry after a lost
// acknowledgement, a spool replayed after a crash) is stored once. WAL journal: readers (the
// sqlite3 shell, a dashboard) never block the writer.
//
// sqlite3's C API directly rather than Poco::Data: the plugin stays free of Poco (it builds
// against the SDK alone), statements are prepared once and reused, and every failure is a
// return code to turn into a sink error, never an exception.
#include <sqlite3.h>

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <switchyard/sdk.hpp>
#include <system_error>
#include <vector>

namespace switchyard {
namespace sqlite {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kSource = "sqlite";

sdk::Error configError(std::string message) {
  return sdk::Error(400, "invalid_request_error", "invalid_config",
                    "sqlite sink config: " + std::move(message));
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS calls (
  id                  INTEGER PRIMARY KEY,
  request_id          TEXT NOT NULL UNIQUE,
  start_unix_ms       INTEGER,
  end_unix_ms         INTEGER,
  tenant              TEXT,
  app                 TEXT,
  key_id              TEXT,
  api                 TEXT,
  operation           TEXT,
  model               TEXT,
  provider            TEXT,
  upstream_model      TEXT,
  status              INTEGER,
  upstream_status     INTEGER,
  error_type          TEXT,
  error_code          TEXT,
  prompt_tokens       INTEGER,
  completion_tokens   INTEGER,
  total_tokens        INTEGER,
  cached_tokens       INTEGER,
  reasoning_tokens    INTEGER,
  cost_usd            REAL,
  latency_ms          REAL,
  ttfb_ms             REAL,
  ttft_ms             REAL,
  upstream_ms         REAL,
  gateway_overhead_ms REAL,
  stream              INTEGER,
  partial             INTEGER,
  response_flags      TEXT,
  record              TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_start_unix_ms ON calls(start_unix_ms);
CREATE INDEX IF NOT EXISTS calls_tenant_start ON calls(tenant, start_unix_ms);
CREATE INDEX IF NOT EXISTS calls_model_start ON calls(model, start_unix_ms);
PRAGMA user_version = 1;
)sql";

constexpr const char* kInsert = R"sql(
INSERT OR IGNORE INTO calls (request_id, start_unix_ms, end_unix_ms, tenant, app, key_id, api,
  operation, model, provider, upstream_model, status, upstream_status, error_type, error_code,
  prompt_tokens, completion_tokens, total_tokens, cached_tokens, reasoning_tokens, cost_usd,
  latency_ms, ttfb_ms, ttft_ms, upstream_ms, gateway_overhead_ms, stream, partial,
  response_flags, record)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
  ?20, ?21, ?22, ?23, ?24, ?25, ?26, ?27, ?28, ?29, ?30)
)sql";

/// A stable id for a record that has none (not JSON, or no request_id), so redelivering it is
/// still idempotent.
std::string contentId(std::string_view record) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : record) {
    h = (h ^ c) * 1099511628211ull;
  }
  char buf[40];
  std::snprintf(buf, sizeof(buf), "content-%016llx", static_cast<unsigned long long>(h));
  return buf;
}

const Json* at(const Json& obj, std::initializer_list<const char*> path) {
  const Json* cur = &obj;
  for (const char* key : path) {
    if (!cur->is_object()) {
      return nullptr;
    }
    auto it = cur->find(key);
    if (it == cur->end()) {
      return nullptr;
    }
    cur = &*it;
  }
  return cur->is_null() ? nullptr : cur;
}

class Statement {
 public:
  Statement() = default;
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;
  ~Statement() { sqlite3_finalize(stmt_); }
  sqlite3_stmt*& get() { return stmt_; }

 private:
  sqlite3_stmt* stmt_ = nullptr;
};

class SqliteSink : public sdk::LogSink {
 public:
  explicit SqliteSink(std::string_view config_text) {
    if (!config_text.empty()) {
      const Json config = Json::parse(config_text, nullptr, false);
      if (config.is_discarded() || !config.is_object()) {
        throw configError("must be a JSON object");
      }
      for (const auto& [key, value] : config.items()) {
        if (key == "path") {
          if (!value.is_string() || value.get<std::string>().empty()) {
            throw configError("\"path\" must be a non-empty string");
          }
          path_ = value.get<std::string>();
        } else if (key == "synchronous") {
          if (value != "normal" && value != "full") {
            throw configError("\"synchronous\" must be \"normal\" or \"full\"");
          }
          synchronous_ = value.get<std::string>();
        } else if (key == "busy_timeout_ms") {
          if (!value.is_number_integer() || value.get<int64_t>() < 0 ||
              value.get<int64_t>() > 600000) {
            throw configError("\"busy_timeout_ms\" must be an integer from 0 to 600000");
          }
          busy_timeout_ms_ = value.get<int>();
        } else {
          throw configError("unknown key \"" + key +
                            "\" (allowed: path, synchronous, busy_timeout_ms)");
        }
      }
    }
    // A database that cannot be opened is a configuration error, found at start-up.
    std::string error;
    if (!open(error)) {
      close();
      throw configError(error);
    }
  }

  ~SqliteSink() override { close(); }

  sy_status writeBatch(const std::vector<std::string_view>& records,
                       const sdk::Output& out) override {
    std::string error;
    if (db_ == nullptr && !open(error)) {
      close();
      return fail(out, error);
    }
    if (!exec("BEGIN IMMEDIATE", error)) {
      return fail(out, error);
    }
    for (std::string_view record : records) {
      if (!insert(record, error)) {
        std::string ignored;
        exec("ROLLBACK", ignored);
        return fail(out, error);
      }
    }
    if (!exec("COMMIT", error)) {
      std::string ignored;
      exec("ROLLBACK", ignored);
      return fail(out, error);
    }
    return SY_OK;
  }

 private:
  bool open(std::string& error) {
    const std::filesystem::path path(path_);
    if (path.has_parent_path()) {
      std::error_code ec;
      std::filesystem::create_directories(path.parent_path(), ec);
      if (ec) {
        error = "cannot create directory " + path.parent_path().string() + ": " + ec.message();
        return false;
      }
    }
    // One worker writes per instance (the host serializes write_batch), so no SQLite mutexes.
    const int rc =
        sqlite3_open_v2(path_.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
    if (rc != SQLITE_OK) {
      error = "cannot open " + path_ + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
      return false;
    }
    sqlite3_busy_timeout(db_, busy_timeout_ms_);
    // NORMAL in WAL mode survives a crash of the process (a committed batch is in the WAL);
    // FULL also survives losing power, at one fsync per batch.
    if (!exec("PRAGMA journal_mode = WAL", error) ||
        !exec("PRAGMA synchronous = " + synchronous_, error) || !exec(kSchema, error)) {
      error = path_ + ": " + error;
      return false;
    }
    if (sqlite3_prepare_v3(db_, kInsert, -1, SQLITE_PREPARE_PERSISTENT, &insert_.get(), nullptr) !=
        SQLITE_OK) {
      error = path_ + ": " + sqlite3_errmsg(db_);
      return false;
    }
    return true;
  }

  void close() {
    if (insert_.get() != nullptr) {
      sqlite3_finalize(insert_.get());
      insert_.get() = nullptr;
    }
    if (db_ != nullptr) {
      sqlite3_close_v2(db_);
      db_ = nullptr;
    }
  }

  bool exec(const std::string& sql, std::string& error) {
    char* message = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &message) != SQLITE_OK) {
      error = message != nullptr ? message : sqlite3_errmsg(db_);
      sqlite3_free(message);
      return false;
    }
    return true;
  }

  void bindText(int index, const Json* v) {
    sqlite3_stmt* s = insert_.get();
    if (v != nullptr && v->is_string()) {
      const auto& str = v->get_ref<const std::string&>();
      sqlite3_bind_text(s, index, str.data(), static_cast<int>(str.size()), SQLITE_TRANSIENT);
    } else if (v != nullptr && (v->is_number() || v->is_boolean())) {
      const std::string str = v->dump();
      sqlite3_bind_text(s, index, str.data(), static_cast<int>(str.size()), SQLITE_TRANSIENT);
    } else {
      sqlite3_bind_null(s, index);
    }
  }

  void bindInt(int index, const Json* v) {
    sqlite3_stmt* s = insert_.get();
    if (v != nullptr && v->is_boolean()) {
      sqlite3_bind_int64(s, index, v->get<bool>() ? 1 : 0);
    } else if (v != nullptr && v->is_number_integer()) {
      sqlite3_bind_int64(s, index, v->get<int64_t>());
    } else if (v != nullptr && v->is_number()) {
      sqlite3_bind_int64(s, index, static_cast<int64_t>(v->get<double>()));
    } else {
      sqlite3_bind_null(s, index);
    }
  }

  void bindReal(int index, const Json* v) {
    if (v != nullptr && v->is_number()) {
      sqlite3_bind_double(insert_.get(), index, v->get<double>());
    } else {
      sqlite3_bind_null(insert_.get(), index);
    }
  }

  bool insert(std::string_view text, std::string& error) {
    sqlite3_stmt* s = insert_.get();
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
    Json r = Json::parse(text, nullptr, false);
    if (r.is_discarded() || !r.is_object()) {
      r = Json::object();  // still stored, with its text, so nothing the gateway sent is lost
    }
    const Json* id = at(r, {"request_id"});
    const std::string request_id =
        id != nullptr && id->is_string() && !id->get_ref<const std::string&>().empty()
            ? id->get<std::string>()
            : contentId(text);
    sqlite3_bind_text(s, 1, request_id.data(), static_cast<int>(request_id.size()),
                      SQLITE_TRANSIENT);
    bindInt(2, at(r, {"start_unix_ms"}));
    bindInt(3, at(r, {"end_unix_ms"}));
    bindText(4, at(r, {"principal", "tenant"}));
    bindText(5, at(r, {"principal", "app"}));
    bindText(6, at(r, {"principal", "key_id"}));
    // The API dimension: `api`, or the ingress endpoint for records that predate it.
    const Json* api = at(r, {"api"});
    bindText(7, api != nullptr ? api : at(r, {"endpoint"}));
    bindText(8, at(r, {"operation"}));
    bindText(9, at(r, {"model"}));
    bindText(10, at(r, {"provider"}));
    bindText(11, at(r, {"upstream_model"}));
    bindInt(12, at(r, {"status"}));
    bindInt(13, at(r, {"upstream_status"}));
    bindText(14, at(r, {"error", "type"}));
    bindText(15, at(r, {"error", "code"}));
    bindInt(16, at(r, {"usage", "prompt_tokens"}));
    bindInt(17, at(r, {"usage", "completion_tokens"}));
    bindInt(18, at(r, {"usage", "total_tokens"}));
    bindInt(19, at(r, {"usage", "cached_tokens"}));
    bindInt(20, at(r, {"usage", "reasoning_tokens"}));
    const Json* cost = at(r, {"cost_usd"});
    bindReal(21, cost != nullptr ? cost : at(r, {"cost", "total_usd"}));
    bindReal(22, at(r, {"latency_ms"}));
    bindReal(23, at(r, {"ttfb_ms"}));
    bindReal(24, at(r, {"ttft_ms"}));
    bindReal(25, at(r, {"upstream_ms"}));
    bindReal(26, at(r, {"gateway_overhead_ms"}));
    bindInt(27, at(r, {"stream"}));
    bindInt(28, at(r, {"partial"}));
    const Json* flags = at(r, {"response_flags"});
    std::string joined;
    if (flags != nullptr && flags->is_array()) {
      for (const auto& f : *flags) {
        if (f.is_string()) {
          joined += (joined.empty() ? "" : ",") + f.get<std::string>();
        }
      }
    }
    if (joined.empty()) {
      sqlite3_bind_null(s, 29);
    } else {
      sqlite3_bind_text(s, 29, joined.data(), static_cast<int>(joined.size()), SQLITE_TRANSIENT);
    }
    sqlite3_bind_text(s, 30, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE) {
      error = "cannot insert into " + path_ + ": " + sqlite3_errmsg(db_);
      return false;
    }
    return true;
  }

  sy_status fail(const sdk::Output& out, const std::string& error) {
    sdk::Host::log(SY_LOG_WARN, kSource, error);
    out.setError(500, "internal_error", "db_error", error);
    return SY_ERR_INTERNAL;
  }

  std::string path_ = "var/lib/switchyard/calls.db";
  std::string synchronous_ = "normal";
  int busy_timeout_ms_ = 5000;
  sqlite3* db_ = nullptr;
  Statement insert_;
};

}  // namespace
}  // namespace sqlite
}  // namespace switchyard

SY_PLUGIN("sqlite", "1.0.0", "Switchyard", "Call records in a local SQLite database",
          switchyard::sdk::logSink<switchyard::sqlite::SqliteSink>(
              "sqlite", "Stores call records as rows of a SQLite table, one transaction per batch"))
