// Call records through a real gateway into the sqlite sink, across an outage of the database
// (another writer holding its lock) and a gateway restart: every record stored once, none
// dropped.
#include <sqlite3.h>

#include <chrono>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "gateway_fixture.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

json userChat() {
  return {{"model", "gpt-test"}, {"messages", {{{"role", "user"}, {"content", "ping"}}}}};
}

/// Another process's write transaction on the database: the sink's batches fail while it lasts.
class DbLock {
 public:
  explicit DbLock(const fs::path& path) {
    EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK);
    EXPECT_EQ(sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
  }
  ~DbLock() {
    sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr);
    sqlite3_close(db_);
  }

 private:
  sqlite3* db_ = nullptr;
};

std::string scalar(const fs::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &s, nullptr) == SQLITE_OK &&
        sqlite3_step(s) == SQLITE_ROW) {
      const auto* t = sqlite3_column_text(s, 0);
      out = t ? reinterpret_cast<const char*>(t) : "";
    }
    sqlite3_finalize(s);
  }
  sqlite3_close(db);
  return out;
}

class RecordDeliveryTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    installFirstPartyPlugins();
    installPlugin(fs::path(SY_PLUGIN_BUILD_DIR) / "libswitchyard_sqlite.so");
  }
  json config() const {
    json c = baseConfig();
    c["log_sinks"] =
        json::array({{{"name", "history"},
                      {"type", "sqlite"},
                      {"config", {{"path", "${data_dir}/calls.db"}, {"busy_timeout_ms", 20}}}}});
    c["delivery"] = {{"flush_interval_ms", 20}, {"stop_deadline_ms", 1000}};
    return c;
  }
  fs::path db() const { return dir_ / "data" / "calls.db"; }
  json history() {
    const json rt = admin("/admin/runtime");
    for (const auto& c : rt["record_consumers"]) {
      if (c["name"] == "history") {
        return c;
      }
    }
    return rt;
  }
  bool waitFor(const std::function<bool()>& done) {
    for (int i = 0; i < 3000; ++i) {
      if (done()) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  /// Makes `n` calls one after another; returns their request ids.
  std::vector<std::string> calls(int n) {
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
      HttpResult r = chat(userChat());
      EXPECT_TRUE(r.ok) << r.error;
      EXPECT_EQ(r.status, 200);
      ids.push_back(r.headers["x-request-id"]);
    }
    return ids;
  }
  /// The request ids of the stored rows, in the order they were inserted.
  std::vector<std::string> rowsInOrder() {
    std::vector<std::string> ids;
    sqlite3* db = nullptr;
    if (sqlite3_open_v2(this->db().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) == SQLITE_OK) {
      sqlite3_stmt* s = nullptr;
      if (sqlite3_prepare_v2(db, "SELECT request_id FROM calls ORDER BY id", -1, &s, nullptr) ==
          SQLITE_OK) {
        while (sqlite3_step(s) == SQLITE_ROW) {
          const auto* t = sqlite3_column_text(s, 0);
          ids.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
        }
      }
      sqlite3_finalize(s);
    }
    sqlite3_close(db);
    return ids;
  }
};

TEST_F(RecordDeliveryTest, CallsBecomeRowsInTheDefaultSqliteSink) {
  startGateway(config());
  calls(5);
  ASSERT_TRUE(waitFor([&] { return history()["delivered"] == 5; })) << history();
  EXPECT_EQ(scalar(db(), "SELECT count(DISTINCT request_id) FROM calls"), "5");
  EXPECT_EQ(
      scalar(db(),
             "SELECT group_concat(DISTINCT tenant || '/' || model || '/' || status) FROM calls"),
      "team-a/gpt-test/200");
  EXPECT_EQ(history()["dropped"], 0);
  EXPECT_EQ(history()["spooled"], 0);
}

TEST_F(RecordDeliveryTest, DatabaseOutageAndRestartLoseAndDuplicateNothing) {
  // Each phase's calls, in the order the phases ran.
  std::vector<std::vector<std::string>> phases;
  startGateway(config());
  phases.push_back(calls(2));  // creates the table
  ASSERT_TRUE(waitFor([&] { return history()["delivered"] == 2; })) << history();
  {
    DbLock lock(db());
    phases.push_back(calls(20));
    ASSERT_TRUE(waitFor([&] { return history()["spooled"] == 20; })) << history();
    EXPECT_GT(history()["failed_batches"].get<int>(), 0);
    EXPECT_NE(history()["last_error"].get<std::string>().find("locked"), std::string::npos)
        << history();
    EXPECT_TRUE(fs::exists(dir_ / "data" / "spool" / "history"));
  }
  ASSERT_TRUE(waitFor([&] { return history()["delivered"] == 22 && history()["spooled"] == 0; }))
      << history();
  EXPECT_EQ(scalar(db(), "SELECT count(*) FROM calls"), "22");

  // Down again, and the gateway stops while it is: the records wait on disk for the next run.
  {
    DbLock lock(db());
    phases.push_back(calls(10));
    gateway_->shutdown();
    gateway_.reset();
  }
  EXPECT_EQ(scalar(db(), "SELECT count(*) FROM calls"), "22");
  startGateway(config());
  ASSERT_TRUE(waitFor([&] { return history()["delivered"] == 10; })) << history();
  phases.push_back(calls(3));
  ASSERT_TRUE(waitFor([&] { return history()["delivered"] == 13; })) << history();
  EXPECT_EQ(scalar(db(), "SELECT count(*) FROM calls"), "35");
  EXPECT_EQ(scalar(db(), "SELECT count(DISTINCT request_id) FROM calls"), "35");
  EXPECT_EQ(history()["dropped"], 0);
  // In order: every phase's rows come after the rows of the phases before it (through memory,
  // the spool during an outage, and the spool left for the next run). Within a phase the calls
  // follow each other, but a call's record is made after its answer has left, so the next
  // call's record may be submitted first: their order within a phase is not the log's promise.
  const std::vector<std::string> rows = rowsInOrder();
  ASSERT_EQ(rows.size(), 35u);
  size_t at = 0;
  for (size_t p = 0; p < phases.size(); ++p) {
    std::set<std::string> expected(phases[p].begin(), phases[p].end());
    std::set<std::string> stored(rows.begin() + static_cast<std::ptrdiff_t>(at),
                                 rows.begin() + static_cast<std::ptrdiff_t>(at + phases[p].size()));
    EXPECT_EQ(stored, expected) << "rows " << at << ".." << at + phases[p].size() - 1
                                << " are not phase " << p << "'s calls";
    at += phases[p].size();
  }
}

}  // namespace
}  // namespace switchyard::testing
