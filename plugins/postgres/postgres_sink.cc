// Log sink "postgres": writes call records into a PostgreSQL table through libpq. Each batch
// is one INSERT ... ON CONFLICT (request_id) DO NOTHING, so it commits whole or not at all,
// and a batch the host redelivers (after a lost answer, a restart, a spool replay) never
// duplicates a row. The schema is created and migrated on the first connection, under an
// advisory lock so that several gateways sharing one database do not race. A broken
// connection is dropped and re-opened on the next batch, so the sink resumes by itself when
// the server comes back.
#include <libpq-fe.h>

#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <switchyard/sdk.hpp>
#include <vector>

namespace switchyard {
namespace postgres {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kSource = "postgres";
// Arbitrary, fixed: the advisory lock key every Switchyard gateway takes while migrating.
constexpr const char* kMigrationLockKey = "7406231957";

sdk::Error configError(std::string message) {
  return sdk::Error(400, "invalid_request_error", "invalid_config",
                    "postgres sink config: " + std::move(message));
}

struct ResultDeleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using Result = std::unique_ptr<PGresult, ResultDeleter>;

struct ConnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Connection = std::unique_ptr<PGconn, ConnDeleter>;

bool validIdentifier(const std::string& name) {
  if (name.empty() || name.size() > 63 || (name[0] >= '0' && name[0] <= '9')) {
    return false;
  }
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_')) {
      return false;
    }
  }
  return true;
}

std::string trimmed(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

// A JSON number at `path` as SQL numeric, NULL when absent or not a number: a stray value
// must not make a whole batch fail forever.
std::string numberAt(const char* path) {
  return std::string("(CASE WHEN jsonb_typeof(r #> '{") + path + "}') = 'number' THEN (r #>> '{" +
         path + "}')::numeric END)";
}
std::string textAt(const char* path) {
  return std::string("(r #>> '{") + path + "}')";
}

/// Schema migrations, in order; version N is the Nth entry. Only ever append.
std::vector<std::string> migrations(const std::string& table) {
  return {
      "CREATE TABLE IF NOT EXISTS " + table +
          " ("
          "request_id text PRIMARY KEY,"
          "start_time timestamptz NOT NULL,"
          "tenant text, app text, api text, model text, provider text, upstream_model text,"
          "status integer, error_type text,"
          "prompt_tokens bigint, completion_tokens bigint, total_tokens bigint,"
          "cached_tokens bigint, reasoning_tokens bigint,"
          "cost_usd double precision, latency_ms double precision, ttft_ms double precision,"
          "stream boolean, flags text[],"
          "record jsonb NOT NULL,"
          "inserted_at timestamptz NOT NULL DEFAULT now())",
      "CREATE INDEX IF NOT EXISTS " + table + "_start_idx ON " + table + " (start_time)",
      "CREATE INDEX IF NOT EXISTS " + table + "_tenant_idx ON " + table + " (tenant, start_time)",
      "CREATE INDEX IF NOT EXISTS " + table + "_model_idx ON " + table + " (model, start_time)",
  };
}

class PostgresSink : public sdk::LogSink {
 public:
  explicit PostgresSink(std::string_view config_text) {
    const Json config = Json::parse(config_text, nullptr, false);
    if (config.is_discarded() || !config.is_object()) {
      throw configError("must be a JSON object with at least \"conninfo\"");
    }
    for (const auto& [key, value] : config.items()) {
      if (key == "conninfo") {
        if (!value.is_string() || value.get<std::string>().empty()) {
          throw configError("\"conninfo\" must be a libpq connection string or URI");
        }
        conninfo_ = value.get<std::string>();
      } else if (key == "password_env") {
        if (!value.is_string() || value.get<std::string>().empty()) {
          throw configError("\"password_env\" must name an environment variable");
        }
        password_env_ = value.get<std::string>();
      } else if (key == "table") {
        if (!value.is_string() || !validIdentifier(value.get<std::string>())) {
          throw configError("\"table\" must be a lower-case SQL identifier ([a-z_][a-z0-9_]*)");
        }
        table_ = value.get<std::string>();
      } else if (key == "connect_timeout_s" || key == "statement_timeout_ms") {
        if (!value.is_number_integer() || value.get<int64_t>() < 1 ||
            value.get<int64_t>() > 3600000) {
          throw configError("\"" + key + "\" must be a positive integer");
        }
        (key == "connect_timeout_s" ? connect_timeout_s_ : statement_timeout_ms_) =
            value.get<int>();
      } else {
        throw configError("unknown key \"" + key +
                          "\" (allowed: conninfo, password_env, table, connect_timeout_s, "
                          "statement_timeout_ms)");
      }
    }
    if (conninfo_.empty()) {
      throw configError("\"conninfo\" is required");
    }
    checkConninfo();
    if (!password_env_.empty()) {
      const char* password = std::getenv(password_env_.c_str());
      if (password == nullptr || *password == '\0') {
        throw configError("environment variable " + password_env_ + " is not set");
      }
      password_ = password;
    }
    insert_sql_ = insertStatement();
    // The database may be down while the gateway starts: records wait in the host's queue
    // (and spool) and go in once it is reachable, so this only warns.
    std::string error;
    if (!ensureConnected(error)) {
      sdk::Host::log(SY_LOG_WARN, kSource, "not connected yet: " + error);
    }
  }

  sy_status writeBatch(const std::vector<std::string_view>& records,
                       const sdk::Output& out) override {
    std::string array = "[";
    size_t kept = 0;
    for (std::string_view text : records) {
      const Json record = Json::parse(text, nullptr, false);
      const auto id = record.is_object() ? record.find("request_id") : record.end();
      if (record.is_discarded() || !record.is_object() || id == record.end() || !id->is_string() ||
          id->get<std::string>().empty()) {
        sdk::Host::log(SY_LOG_ERROR, kSource, "skipping a record without a request_id");
        sdk::Host::metric(SY_METRIC_COUNTER, "postgres_invalid_records", 1);
        continue;
      }
      if (kept++ > 0) {
        array.push_back(',');
      }
      // jsonb has no NUL character; the replacement character keeps the rest of the text.
      std::string dumped = record.dump(-1, ' ', false, Json::error_handler_t::replace);
      for (size_t at = dumped.find("\\u0000"); at != std::string::npos;
           at = dumped.find("\\u0000", at)) {
        dumped.replace(at, 6, "\\ufffd");
      }
      array += dumped;
    }
    array.push_back(']');
    if (kept == 0) {
      return SY_OK;
    }
    std::string error;
    // One retry on a fresh connection: after a server restart the old connection fails on
    // first use, and there is no reason to make the host wait a backoff for that.
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (!ensureConnected(error)) {
        break;
      }
      const char* params[] = {array.c_str()};
      Result result(
          PQexecParams(conn_.get(), insert_sql_.c_str(), 1, nullptr, params, nullptr, nullptr, 0));
      if (PQresultStatus(result.get()) == PGRES_COMMAND_OK) {
        return SY_OK;
      }
      error = trimmed(PQerrorMessage(conn_.get()));
      if (PQstatus(conn_.get()) == CONNECTION_OK) {
        break;  // the server refused the statement itself; a new connection will not help
      }
      conn_.reset();
    }
    sdk::Host::log(SY_LOG_WARN, kSource,
                   "batch of " + std::to_string(kept) + " records not written: " + error);
    sdk::Host::metric(SY_METRIC_COUNTER, "postgres_failed_batches", 1);
    out.setError(502, "upstream_error", "sink_unavailable", error);
    return SY_ERR_UPSTREAM;
  }

 private:
  void checkConninfo() {
    char* why = nullptr;
    PQconninfoOption* options = PQconninfoParse(conninfo_.c_str(), &why);
    if (options == nullptr) {
      std::string message = why != nullptr ? trimmed(why) : "cannot parse it";
      PQfreemem(why);
      throw configError("\"conninfo\": " + message);
    }
    bool has_password = false;
    for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
      has_password = has_password || (std::string_view(o->keyword) == "password" &&
                                      o->val != nullptr && *o->val != '\0');
    }
    PQconninfoFree(options);
    if (has_password) {
      // A password in the config file ends up in backups and diffs; the env var does not.
      throw configError("\"conninfo\" must not contain a password; use \"password_env\"");
    }
  }

  std::string insertStatement() const {
    return "INSERT INTO " + table_ +
           " (request_id, start_time, tenant, app, api, model, provider, upstream_model, status,"
           " error_type, prompt_tokens, completion_tokens, total_tokens, cached_tokens,"
           " reasoning_tokens, cost_usd, latency_ms, ttft_ms, stream, flags, record)"
           " SELECT r ->> 'request_id',"
           " to_timestamp(coalesce(" +
           numberAt("start_unix_ms") + ", 0) / 1000.0)," + textAt("principal,tenant") + "," +
           textAt("principal,app") + "," + "coalesce(" + textAt("api") + "," + textAt("endpoint") +
           ")," + textAt("model") + "," + textAt("provider") + "," + textAt("upstream_model") +
           "," + numberAt("status") + "::integer," + textAt("error,type") + "," +
           numberAt("usage,prompt_tokens") + "::bigint," + numberAt("usage,completion_tokens") +
           "::bigint," + numberAt("usage,total_tokens") + "::bigint," +
           numberAt("usage,cached_tokens") + "::bigint," + numberAt("usage,reasoning_tokens") +
           "::bigint," + numberAt("cost_usd") + "::double precision," + numberAt("latency_ms") +
           "::double precision," + numberAt("ttft_ms") +
           "::double precision,"
           " CASE WHEN jsonb_typeof(r -> 'stream') = 'boolean' THEN (r ->> 'stream')::boolean END,"
           " CASE WHEN jsonb_typeof(r -> 'response_flags') = 'array' THEN"
           " ARRAY(SELECT jsonb_array_elements_text(r -> 'response_flags')) END,"
           " r"
           " FROM jsonb_array_elements($1::jsonb) AS r"
           " ON CONFLICT (request_id) DO NOTHING";
  }

  bool ensureConnected(std::string& error) {
    if (conn_ && PQstatus(conn_.get()) == CONNECTION_OK) {
      return true;
    }
    conn_.reset();
    const std::string timeout = std::to_string(connect_timeout_s_);
    const std::string options = "-c statement_timeout=" + std::to_string(statement_timeout_ms_);
    std::vector<const char*> keys = {"dbname",  "connect_timeout", "application_name",
                                     "options", "keepalives",      "keepalives_idle"};
    std::vector<const char*> values = {
        conninfo_.c_str(), timeout.c_str(), "switchyard", options.c_str(), "1", "30"};
    if (!password_.empty()) {
      keys.push_back("password");
      values.push_back(password_.c_str());
    }
    keys.push_back(nullptr);
    values.push_back(nullptr);
    Connection conn(PQconnectdbParams(keys.data(), values.data(), 1));
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
      error = conn ? trimmed(PQerrorMessage(conn.get())) : "out of memory";
      return false;
    }
    // CREATE ... IF NOT EXISTS notices would go to stderr otherwise.
    PQsetNoticeProcessor(
        conn.get(), [](void*, const char*) {}, nullptr);
    if (!migrate(conn.get(), error)) {
      return false;
    }
    conn_ = std::move(conn);
    sdk::Host::log(SY_LOG_INFO, kSource, "connected; table " + table_ + " is ready");
    return true;
  }

  static bool exec(PGconn* conn, const std::string& sql, std::string& error) {
    Result result(PQexec(conn, sql.c_str()));
    const ExecStatusType status = PQresultStatus(result.get());
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
      error = trimmed(PQerrorMessage(conn));
      return false;
    }
    return true;
  }

  /// Brings the table to the newest schema version, recorded in switchyard_schema.
  bool migrate(PGconn* conn, std::string& error) {
    const auto steps = migrations(table_);
    if (!exec(conn, "BEGIN", error) ||
        !exec(conn, std::string("SELECT pg_advisory_xact_lock(") + kMigrationLockKey + ")",
              error) ||
        !exec(conn,
              "CREATE TABLE IF NOT EXISTS switchyard_schema (name text PRIMARY KEY,"
              " version integer NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())",
              error)) {
      std::string ignored;
      exec(conn, "ROLLBACK", ignored);
      return false;
    }
    const char* params[] = {table_.c_str()};
    Result current(PQexecParams(conn, "SELECT version FROM switchyard_schema WHERE name = $1", 1,
                                nullptr, params, nullptr, nullptr, 0));
    if (PQresultStatus(current.get()) != PGRES_TUPLES_OK) {
      error = trimmed(PQerrorMessage(conn));
      std::string ignored;
      exec(conn, "ROLLBACK", ignored);
      return false;
    }
    const int version =
        PQntuples(current.get()) > 0 ? std::atoi(PQgetvalue(current.get(), 0, 0)) : 0;
    if (version > static_cast<int>(steps.size())) {
      error = "table " + table_ + " has schema version " + std::to_string(version) +
              ", newer than this plugin's " + std::to_string(steps.size());
      std::string ignored;
      exec(conn, "ROLLBACK", ignored);
      return false;
    }
    for (size_t i = static_cast<size_t>(version); i < steps.size(); ++i) {
      if (!exec(conn, steps[i], error)) {
        std::string ignored;
        exec(conn, "ROLLBACK", ignored);
        return false;
      }
    }
    const std::string latest = std::to_string(steps.size());
    const char* upsert[] = {table_.c_str(), latest.c_str()};
    Result stored(PQexecParams(conn,
                               "INSERT INTO switchyard_schema (name, version) VALUES ($1, $2)"
                               " ON CONFLICT (name) DO UPDATE SET version = excluded.version,"
                               " updated_at = now()",
                               2, nullptr, upsert, nullptr, nullptr, 0));
    if (PQresultStatus(stored.get()) != PGRES_COMMAND_OK) {
      error = trimmed(PQerrorMessage(conn));
      std::string ignored;
      exec(conn, "ROLLBACK", ignored);
      return false;
    }
    return exec(conn, "COMMIT", error);
  }

  std::string conninfo_;
  std::string password_env_;
  std::string password_;  // SECRET: never logged
  std::string table_ = "switchyard_calls";
  int connect_timeout_s_ = 5;
  int statement_timeout_ms_ = 30000;
  std::string insert_sql_;
  Connection conn_;
};

}  // namespace
}  // namespace postgres
}  // namespace switchyard

SY_PLUGIN("postgres", "1.0.0", "Switchyard", "Call records in a PostgreSQL table",
          switchyard::sdk::logSink<switchyard::postgres::PostgresSink>(
              "postgres", "Writes call records to a PostgreSQL table, one transaction per batch"))
