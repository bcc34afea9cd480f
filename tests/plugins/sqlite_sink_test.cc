// Behaviour of the "sqlite" log sink plugin, loaded from its built library: records become
// queryable rows, a batch is atomic, redelivery never duplicates, WAL mode, the configured path.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <switchyard/testing/fake_host.hpp>
#include <vector>

namespace switchyard {
namespace {

namespace fs = std::filesystem;
using testing::FakeHost;
using testing::FakeOutput;
using testing::LoadedPlugin;
using testing::LogSinkInstance;

std::string record(int i, const std::string& extra = "") {
  return R"({"schema":"switchyard.call.v1","request_id":"req-)" + std::to_string(i) +
         R"(","start_unix_ms":)" + std::to_string(1700000000000 + i) +
         R"(,"principal":{"tenant":"team-a","app":"checkout","key_id":"k1"},"endpoint":"/v1/chat/completions",)"
         R"("model":"gpt-test","provider":"mock","status":200,"stream":true,"latency_ms":12.5,)"
         R"("usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15})" +
         extra + "}";
}

/// Read side of the database, as an operator's query tool would open it.
class Db {
 public:
  explicit Db(const fs::path& path) { EXPECT_EQ(sqlite3_open(path.c_str(), &db_), SQLITE_OK); }
  ~Db() { sqlite3_close(db_); }
  std::vector<std::vector<std::string>> query(const std::string& sql) {
    std::vector<std::vector<std::string>> rows;
    sqlite3_stmt* s = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db_, sql.c_str(), -1, &s, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db_);
    while (s != nullptr && sqlite3_step(s) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int c = 0; c < sqlite3_column_count(s); ++c) {
        const auto* text = sqlite3_column_text(s, c);
        row.push_back(text ? reinterpret_cast<const char*>(text) : "NULL");
      }
      rows.push_back(row);
    }
    sqlite3_finalize(s);
    return rows;
  }
  std::string one(const std::string& sql) {
    auto rows = query(sql);
    return rows.empty() || rows[0].empty() ? "" : rows[0][0];
  }
  void exec(const std::string& sql) {
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK)
        << (err ? err : "");
    sqlite3_free(err);
  }

 private:
  sqlite3* db_ = nullptr;
};

class SqliteSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "sy-sqlite-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    plugin_ = std::make_unique<LoadedPlugin>(SY_TEST_PLUGIN_PATH, host_);
  }
  void TearDown() override {
    plugin_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  std::unique_ptr<LogSinkInstance> create(const fs::path& path) {
    auto created = plugin_->createLogSink("sqlite", R"({"path":")" + path.string() + R"("})");
    EXPECT_TRUE(created.ok()) << created.output.error.message;
    return std::move(created.instance);
  }

  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
  fs::path dir_;
};

TEST_F(SqliteSinkTest, RecordsBecomeQueryableRowsWithTheMainFieldsAsColumns) {
  const fs::path path = dir_ / "data" / "calls.db";
  auto sink = create(path);
  ASSERT_NE(sink, nullptr);
  EXPECT_TRUE(fs::exists(path)) << "created at the configured path, parents included";
  FakeOutput out;
  ASSERT_EQ(
      sink->writeBatch({record(1), record(2, R"(,"api":"/v1/messages","cost_usd":0.0125,)"
                                             R"("error":{"type":"rate_limit_error","code":"x"},)"
                                             R"("response_flags":["RL","UO"],"ttft_ms":40)")},
                       out),
      SY_OK);
  Db db(path);
  EXPECT_EQ(db.one("SELECT count(*) FROM calls"), "2");
  auto rows = db.query(
      "SELECT request_id, start_unix_ms, tenant, app, api, model, provider, status, "
      "total_tokens, latency_ms, stream, error_type, cost_usd, response_flags, ttft_ms "
      "FROM calls ORDER BY start_unix_ms");
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0], (std::vector<std::string>{"req-1", "1700000000001", "team-a", "checkout",
                                               "/v1/chat/completions", "gpt-test", "mock", "200",
                                               "15", "12.5", "1", "NULL", "NULL", "NULL", "NULL"}));
  EXPECT_EQ(rows[1],
            (std::vector<std::string>{"req-2", "1700000000002", "team-a", "checkout",
                                      "/v1/messages", "gpt-test", "mock", "200", "15", "12.5", "1",
                                      "rate_limit_error", "0.0125", "RL,UO", "40.0"}));
  // The full record is kept verbatim for anything the columns do not carry.
  EXPECT_EQ(db.one("SELECT record FROM calls WHERE request_id = 'req-1'"), record(1));
  EXPECT_EQ(
      db.one(
          "SELECT json_extract(record, '$.principal.key_id') FROM calls WHERE request_id='req-1'"),
      "k1");
  // start_unix_ms is indexed for time-range queries.
  auto plan = db.query("EXPLAIN QUERY PLAN SELECT * FROM calls WHERE start_unix_ms > 5");
  ASSERT_FALSE(plan.empty());
  EXPECT_NE(plan[0].back().find("calls_start_unix_ms"), std::string::npos) << plan[0].back();
}

TEST_F(SqliteSinkTest, RedeliveredBatchIsStoredOnce) {
  const fs::path path = dir_ / "calls.db";
  auto sink = create(path);
  FakeOutput out;
  const std::vector<std::string> batch = {record(1), record(2), record(3)};
  ASSERT_EQ(sink->writeBatch(batch, out), SY_OK);
  ASSERT_EQ(sink->writeBatch(batch, out), SY_OK);
  ASSERT_EQ(sink->writeBatch({record(3), record(4)}, out), SY_OK);
  Db db(path);
  EXPECT_EQ(db.one("SELECT count(*) FROM calls"), "4");
  EXPECT_EQ(db.one("SELECT count(DISTINCT request_id) FROM calls"), "4");
}

TEST_F(SqliteSinkTest, ABatchIsStoredWholeOrNotAtAll) {
  const fs::path path = dir_ / "calls.db";
  auto sink = create(path);
  {
    // A fault on the second insert of a batch, the way a full disk would strike mid-batch.
    Db db(path);
    db.exec(
        "CREATE TRIGGER fault BEFORE INSERT ON calls WHEN NEW.request_id = 'req-2' "
        "BEGIN SELECT RAISE(ABORT, 'injected fault'); END");
  }
  FakeOutput failed;
  EXPECT_NE(sink->writeBatch({record(1), record(2), record(3)}, failed), SY_OK);
  EXPECT_NE(failed.error.message.find("injected fault"), std::string::npos) << failed.error.message;
  Db db(path);
  EXPECT_EQ(db.one("SELECT count(*) FROM calls"), "0") << "nothing of a failed batch is kept";
  db.exec("DROP TRIGGER fault");
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({record(1), record(2), record(3)}, out), SY_OK) << out.error.message;
  EXPECT_EQ(
      db.one("SELECT group_concat(request_id) FROM (SELECT request_id FROM calls ORDER BY id)"),
      "req-1,req-2,req-3");
}

TEST_F(SqliteSinkTest, UsesWalAndKeepsRowsAcrossReopen) {
  const fs::path path = dir_ / "calls.db";
  {
    auto sink = create(path);
    FakeOutput out;
    ASSERT_EQ(sink->writeBatch({record(1)}, out), SY_OK);
  }
  auto sink = create(path);
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({record(2)}, out), SY_OK);
  Db db(path);
  EXPECT_EQ(db.one("PRAGMA journal_mode"), "wal");
  EXPECT_EQ(db.one("PRAGMA user_version"), "1");
  EXPECT_EQ(db.one("SELECT count(*) FROM calls"), "2");
}

TEST_F(SqliteSinkTest, ARecordThatIsNotACallRecordIsKeptNotFatal) {
  const fs::path path = dir_ / "calls.db";
  auto sink = create(path);
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({"not json", R"({"status":500})", "not json"}, out), SY_OK);
  Db db(path);
  EXPECT_EQ(db.one("SELECT count(*) FROM calls"), "2") << "the same text twice is the same record";
  EXPECT_EQ(db.one("SELECT status FROM calls WHERE record = '{\"status\":500}'"), "500");
}

TEST_F(SqliteSinkTest, RejectsBadConfig) {
  std::ofstream(dir_ / "file") << "x";
  for (const auto& [config, mentions] : std::vector<std::pair<std::string, std::string>>{
           {R"({"path":")" + (dir_ / "file" / "calls.db").string() + R"("})",
            "cannot create directory"},
           {R"({"path":""})", "path"},
           {R"({"synchronous":"off"})", "synchronous"},
           {R"({"busy_timeout_ms":-1})", "busy_timeout_ms"},
           {R"({"table":"x"})", "unknown key"},
           {"[]", "JSON object"},
       }) {
    auto created = plugin_->createLogSink("sqlite", config);
    EXPECT_FALSE(created.ok()) << config;
    EXPECT_NE(created.output.error.message.find(mentions), std::string::npos)
        << config << " -> " << created.output.error.message;
  }
}

}  // namespace
}  // namespace switchyard
