#include <sqlite3.h>

#include <filesystem>
#include <mutex>

#include "switchyard/store/database.h"

namespace switchyard {
namespace {

class SqliteDatabase : public Database {
 public:
  explicit SqliteDatabase(const std::string& path) {
    std::error_code ec;
    const auto dir = std::filesystem::path(path).parent_path();
    if (!dir.empty()) {
      std::filesystem::create_directories(dir, ec);
    }
    if (sqlite3_open_v2(path.c_str(), &db_,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        nullptr) != SQLITE_OK) {
      std::string why = db_ != nullptr ? sqlite3_errmsg(db_) : "out of memory";
      sqlite3_close(db_);
      db_ = nullptr;
      throw StoreError("cannot open store " + path + ": " + why);
    }
    // The file holds password hashes: owner only.
    std::filesystem::permissions(
        path, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write,
        std::filesystem::perm_options::replace, ec);
    // Another gateway process may hold the write lock for a moment; wait rather than fail.
    sqlite3_busy_timeout(db_, 5000);
    execute("PRAGMA journal_mode=WAL", {});
    execute("PRAGMA foreign_keys=ON", {});
    execute("PRAGMA synchronous=NORMAL", {});
  }
  ~SqliteDatabase() override { sqlite3_close(db_); }

  std::vector<SqlRow> query(const std::string& sql, const std::vector<SqlValue>& params) override {
    std::lock_guard lock(mutex_);
    return run(sql, params, nullptr);
  }

  int64_t execute(const std::string& sql, const std::vector<SqlValue>& params) override {
    std::lock_guard lock(mutex_);
    int64_t changes = 0;
    run(sql, params, &changes);
    return changes;
  }

  void transaction(const std::function<void()>& work) override {
    std::lock_guard lock(mutex_);
    // IMMEDIATE takes the write lock up front: two processes never both read, then both write.
    run("BEGIN IMMEDIATE", {}, nullptr);
    try {
      work();
      run("COMMIT", {}, nullptr);
    } catch (...) {
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
      throw;
    }
  }

  std::string driver() const override { return "sqlite"; }

 private:
  std::vector<SqlRow> run(const std::string& sql, const std::vector<SqlValue>& params,
                          int64_t* changes) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), static_cast<int>(sql.size()), &stmt, nullptr) !=
        SQLITE_OK) {
      throw StoreError(std::string("store: ") + sqlite3_errmsg(db_));
    }
    std::unique_ptr<sqlite3_stmt, int (*)(sqlite3_stmt*)> guard(stmt, sqlite3_finalize);
    for (size_t i = 0; i < params.size(); ++i) {
      const int at = static_cast<int>(i + 1);
      if (const auto* n = std::get_if<int64_t>(&params[i])) {
        sqlite3_bind_int64(stmt, at, *n);
      } else if (const auto* s = std::get_if<std::string>(&params[i])) {
        sqlite3_bind_text(stmt, at, s->data(), static_cast<int>(s->size()), SQLITE_TRANSIENT);
      } else {
        sqlite3_bind_null(stmt, at);
      }
    }
    std::vector<SqlRow> rows;
    for (;;) {
      const int rc = sqlite3_step(stmt);
      if (rc == SQLITE_DONE) {
        break;
      }
      if (rc != SQLITE_ROW) {
        const int ext = sqlite3_extended_errcode(db_);
        std::string why = std::string("store: ") + sqlite3_errmsg(db_);
        if ((ext & 0xff) == SQLITE_CONSTRAINT) {
          throw StoreConflict(why);
        }
        throw StoreError(why);
      }
      SqlRow row;
      const int n = sqlite3_column_count(stmt);
      for (int c = 0; c < n; ++c) {
        switch (sqlite3_column_type(stmt, c)) {
          case SQLITE_INTEGER:
            row.emplace_back(static_cast<int64_t>(sqlite3_column_int64(stmt, c)));
            break;
          case SQLITE_NULL:
            row.emplace_back(std::monostate{});
            break;
          default: {
            const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, c));
            row.emplace_back(
                std::string(text != nullptr ? text : "", sqlite3_column_bytes(stmt, c)));
          }
        }
      }
      rows.push_back(std::move(row));
    }
    if (changes != nullptr) {
      *changes = sqlite3_changes(db_);
    }
    return rows;
  }

  sqlite3* db_ = nullptr;
  std::recursive_mutex mutex_;  // a transaction's work runs statements while holding it
};

}  // namespace

DatabasePtr openSqliteDatabase(const std::string& path) {
  return std::make_unique<SqliteDatabase>(path);
}

}  // namespace switchyard
