#include "store.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>

namespace switchyard::analytics {
namespace {

using Json = nlohmann::json;

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS cells (
  granularity TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  tenant TEXT NOT NULL, app TEXT NOT NULL, api TEXT NOT NULL, model TEXT NOT NULL, provider TEXT NOT NULL,
  requests INTEGER NOT NULL, errors INTEGER NOT NULL, errors_by_type TEXT NOT NULL,
  prompt_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL,
  cost_usd REAL NOT NULL, latency_ms TEXT NOT NULL, ttft_ms TEXT NOT NULL,
  PRIMARY KEY (granularity, start_ms, tenant, app, api, model, provider)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta (key, value) VALUES ('schema', 'switchyard.analytics.v1');
)sql";

constexpr const char* kColumns =
    "granularity, start_ms, tenant, app, api, model, provider, requests, errors, errors_by_type, "
    "prompt_tokens, "
    "completion_tokens, cached_tokens, cost_usd, latency_ms, ttft_ms";

const char* text(sqlite3_stmt* s, int col) {
  const unsigned char* t = sqlite3_column_text(s, col);
  return t == nullptr ? "" : reinterpret_cast<const char*>(t);
}

void bindText(sqlite3_stmt* s, int i, const std::string& v) {
  sqlite3_bind_text(s, i, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
}

void bindKey(sqlite3_stmt* s, const CellKey& k) {
  bindText(s, 1, granularityName(k.granularity));
  sqlite3_bind_int64(s, 2, k.start_ms);
  bindText(s, 3, k.dims.tenant);
  bindText(s, 4, k.dims.app);
  bindText(s, 5, k.dims.api);
  bindText(s, 6, k.dims.model);
  bindText(s, 7, k.dims.provider);
}

/// Reads the aggregate columns starting at `col` (requests …). A damaged histogram or error
/// map reads as empty rather than failing the whole query.
Aggregate readAggregate(sqlite3_stmt* s, int col) {
  Aggregate a;
  a.requests = static_cast<uint64_t>(sqlite3_column_int64(s, col));
  a.errors = static_cast<uint64_t>(sqlite3_column_int64(s, col + 1));
  const Json types = Json::parse(text(s, col + 2), nullptr, false);
  if (types.is_object()) {
    for (const auto& [type, n] : types.items()) {
      if (n.is_number_unsigned()) {
        a.errors_by_type[type] = n.get<uint64_t>();
      }
    }
  }
  a.prompt_tokens = static_cast<uint64_t>(sqlite3_column_int64(s, col + 3));
  a.completion_tokens = static_cast<uint64_t>(sqlite3_column_int64(s, col + 4));
  a.cached_tokens = static_cast<uint64_t>(sqlite3_column_int64(s, col + 5));
  a.cost_usd = sqlite3_column_double(s, col + 6);
  a.latency_ms = Histogram::parse(text(s, col + 7)).value_or(Histogram{});
  a.ttft_ms = Histogram::parse(text(s, col + 8)).value_or(Histogram{});
  return a;
}

std::optional<Granularity> granularityOf(std::string_view name) {
  for (Granularity g : kGranularities) {
    if (name == granularityName(g)) {
      return g;
    }
  }
  return std::nullopt;
}

}  // namespace

Store::Store(const std::string& path) {
  if (sqlite3_open_v2(path.c_str(), &db_,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                      nullptr) != SQLITE_OK) {
    const std::string error = lastError("cannot open " + path);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error(error);
  }
  sqlite3_busy_timeout(db_, 5000);
  // WAL: a crash loses at most the last batch and never corrupts the file; NORMAL sync is
  // durable across a process crash, which is what a gateway restart is.
  std::string error = exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;");
  if (error.empty()) {
    error = exec(kSchema);
  }
  if (error.empty() &&
      sqlite3_prepare_v2(
          db_,
          (std::string("SELECT ") + kColumns +
           " FROM cells WHERE granularity=?1 AND start_ms=?2 AND tenant=?3 AND app=?4 AND api=?5 "
           "AND model=?6 AND provider=?7")
              .c_str(),
          -1, &select_, nullptr) != SQLITE_OK) {
    error = lastError("cannot prepare select");
  }
  if (error.empty() &&
      sqlite3_prepare_v2(db_,
                         (std::string("INSERT OR REPLACE INTO cells (") + kColumns +
                          ") VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)")
                             .c_str(),
                         -1, &upsert_, nullptr) != SQLITE_OK) {
    error = lastError("cannot prepare upsert");
  }
  if (!error.empty()) {
    sqlite3_finalize(select_);
    sqlite3_finalize(upsert_);
    sqlite3_close(db_);
    db_ = nullptr;
    throw std::runtime_error(path + ": " + error);
  }
}

Store::~Store() {
  sqlite3_finalize(select_);
  sqlite3_finalize(upsert_);
  sqlite3_close(db_);
}

std::string Store::lastError(const std::string& what) const {
  return what + ": " + (db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory");
}

std::string Store::exec(const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db_, sql, nullptr, nullptr, &message) != SQLITE_OK) {
    std::string error = message != nullptr ? message : "unknown error";
    sqlite3_free(message);
    return error;
  }
  return {};
}

std::string Store::merge(const std::map<CellKey, Aggregate>& cells) {
  std::lock_guard lock(mutex_);
  if (std::string e = exec("BEGIN IMMEDIATE"); !e.empty()) {
    return "begin: " + e;
  }
  for (const auto& [key, add] : cells) {
    Aggregate merged = add;
    sqlite3_reset(select_);
    bindKey(select_, key);
    const int step = sqlite3_step(select_);
    if (step == SQLITE_ROW) {
      merged.merge(readAggregate(select_, 7));
    } else if (step != SQLITE_DONE) {
      std::string error = lastError("select");
      sqlite3_reset(select_);
      exec("ROLLBACK");
      return error;
    }
    sqlite3_reset(select_);

    sqlite3_reset(upsert_);
    bindKey(upsert_, key);
    sqlite3_bind_int64(upsert_, 8, static_cast<int64_t>(merged.requests));
    sqlite3_bind_int64(upsert_, 9, static_cast<int64_t>(merged.errors));
    bindText(upsert_, 10,
             Json(merged.errors_by_type).dump(-1, ' ', false, Json::error_handler_t::replace));
    sqlite3_bind_int64(upsert_, 11, static_cast<int64_t>(merged.prompt_tokens));
    sqlite3_bind_int64(upsert_, 12, static_cast<int64_t>(merged.completion_tokens));
    sqlite3_bind_int64(upsert_, 13, static_cast<int64_t>(merged.cached_tokens));
    sqlite3_bind_double(upsert_, 14, merged.cost_usd);
    bindText(upsert_, 15, merged.latency_ms.serialize());
    bindText(upsert_, 16, merged.ttft_ms.serialize());
    if (sqlite3_step(upsert_) != SQLITE_DONE) {
      std::string error = lastError("upsert");
      sqlite3_reset(upsert_);
      exec("ROLLBACK");
      return error;
    }
    sqlite3_reset(upsert_);
  }
  if (std::string e = exec("COMMIT"); !e.empty()) {
    exec("ROLLBACK");
    return "commit: " + e;
  }
  return {};
}

std::string Store::prune(Granularity g, int64_t before_ms) {
  std::lock_guard lock(mutex_);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, "DELETE FROM cells WHERE granularity=?1 AND start_ms<?2", -1, &s,
                         nullptr) != SQLITE_OK) {
    return lastError("prune");
  }
  bindText(s, 1, granularityName(g));
  sqlite3_bind_int64(s, 2, before_ms);
  std::string error = sqlite3_step(s) == SQLITE_DONE ? std::string() : lastError("prune");
  sqlite3_finalize(s);
  return error;
}

std::string Store::scan(Granularity g, int64_t from_ms, int64_t to_ms,
                        const DimensionFilter& filter,
                        const std::function<void(const CellKey&, const Aggregate&)>& visit) {
  // Dimension names come from a fixed list checked by the caller; values are bound.
  std::string sql = std::string("SELECT ") + kColumns +
                    " FROM cells WHERE granularity=? AND start_ms>=? AND start_ms<?";
  for (const auto& [dim, values] : filter) {
    sql += " AND " + dim + " IN (";
    for (size_t i = 0; i < values.size(); ++i) {
      sql += i == 0 ? "?" : ",?";
    }
    sql += ")";
  }
  sql += " ORDER BY start_ms";
  std::lock_guard lock(mutex_);
  sqlite3_stmt* s = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr) != SQLITE_OK) {
    return lastError("scan");
  }
  int i = 1;
  bindText(s, i++, granularityName(g));
  sqlite3_bind_int64(s, i++, from_ms);
  sqlite3_bind_int64(s, i++, to_ms);
  for (const auto& [dim, values] : filter) {
    for (const auto& v : values) {
      bindText(s, i++, v);
    }
  }
  int step = SQLITE_ROW;
  while ((step = sqlite3_step(s)) == SQLITE_ROW) {
    CellKey key;
    key.granularity = granularityOf(text(s, 0)).value_or(g);
    key.start_ms = sqlite3_column_int64(s, 1);
    key.dims = Dimensions{text(s, 2), text(s, 3), text(s, 4), text(s, 5), text(s, 6)};
    visit(key, readAggregate(s, 7));
  }
  std::string error = step == SQLITE_DONE ? std::string() : lastError("scan");
  sqlite3_finalize(s);
  return error;
}

}  // namespace switchyard::analytics
