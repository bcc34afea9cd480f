// Behaviour of the "jsonl" log sink plugin, loaded from its built library.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <switchyard/testing/fake_host.hpp>
#include <thread>
#include <vector>

namespace switchyard {
namespace {

namespace fs = std::filesystem;
using testing::FakeHost;
using testing::FakeOutput;
using testing::LoadedPlugin;
using testing::LogSinkInstance;

std::string readFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<std::string> lines(const fs::path& path) {
  std::vector<std::string> out;
  std::istringstream in(readFile(path));
  for (std::string line; std::getline(in, line);) {
    out.push_back(line);
  }
  return out;
}

std::string record(int i) {
  return R"({"schema":"switchyard.call.v1","request_id":"req-)" + std::to_string(1000 + i) +
         R"(","status":200})";
}

class JsonlSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ = (fs::temp_directory_path() / "sy-jsonl-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    plugin_ = std::make_unique<LoadedPlugin>(SY_TEST_PLUGIN_PATH, host_);
  }
  void TearDown() override {
    plugin_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  std::unique_ptr<LogSinkInstance> create(const std::string& config) {
    auto created = plugin_->createLogSink("jsonl", config);
    EXPECT_TRUE(created.ok()) << created.output.error.message;
    return std::move(created.instance);
  }
  std::string configFor(const fs::path& path, int max_bytes = 104857600, int max_files = 5) {
    return R"({"path":")" + path.string() + R"(","max_bytes":)" + std::to_string(max_bytes) +
           R"(,"max_files":)" + std::to_string(max_files) + "}";
  }

  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
  fs::path dir_;
};

TEST_F(JsonlSinkTest, AppendsRecordsVerbatimOnePerLine) {
  const fs::path path = dir_ / "var" / "log" / "calls.jsonl";
  auto sink = create(configFor(path));
  ASSERT_NE(sink, nullptr);
  EXPECT_TRUE(fs::exists(path));  // parent directories are created

  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({record(1), record(2)}, out), SY_OK);
  // Visible on disk as soon as the batch returns, before any flush.
  EXPECT_EQ(readFile(path), record(1) + "\n" + record(2) + "\n");
  ASSERT_EQ(sink->writeBatch({record(3) + "\n"}, out), SY_OK);
  ASSERT_EQ(sink->writeBatch({}, out), SY_OK);
  EXPECT_EQ(sink->flush(), SY_OK);
  EXPECT_EQ(lines(path), (std::vector<std::string>{record(1), record(2), record(3)}));
  EXPECT_FALSE(out.error.set);
}

TEST_F(JsonlSinkTest, AppendsToAnExistingFile) {
  const fs::path path = dir_ / "calls.jsonl";
  {
    auto sink = create(configFor(path));
    FakeOutput out;
    ASSERT_EQ(sink->writeBatch({record(1)}, out), SY_OK);
  }
  auto sink = create(configFor(path));
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({record(2)}, out), SY_OK);
  EXPECT_EQ(lines(path), (std::vector<std::string>{record(1), record(2)}));
}

TEST_F(JsonlSinkTest, RotatesBySizeKeepingMaxFiles) {
  const fs::path path = dir_ / "calls.jsonl";
  const size_t line_bytes = record(0).size() + 1;
  // Room for exactly three lines per file, three rotated files kept.
  auto sink = create(configFor(path, static_cast<int>(3 * line_bytes), 3));
  ASSERT_NE(sink, nullptr);
  FakeOutput out;
  // Uneven batches, so rotation also happens in the middle of a batch.
  std::vector<std::vector<int>> batches = {{0}, {1, 2, 3, 4}, {5, 6}, {7, 8, 9, 10, 11}, {12, 13}};
  for (const auto& batch : batches) {
    std::vector<std::string> records;
    for (int i : batch) {
      records.push_back(record(i));
    }
    ASSERT_EQ(sink->writeBatch(records, out), SY_OK) << out.error.message;
  }
  // Files hold, newest first: path {12,13}, .1 {9,10,11}, .2 {6,7,8}, .3 {3,4,5}; {0,1,2} dropped.
  EXPECT_EQ(lines(path), (std::vector<std::string>{record(12), record(13)}));
  EXPECT_EQ(lines(path.string() + ".1"),
            (std::vector<std::string>{record(9), record(10), record(11)}));
  EXPECT_EQ(lines(path.string() + ".2"),
            (std::vector<std::string>{record(6), record(7), record(8)}));
  EXPECT_EQ(lines(path.string() + ".3"),
            (std::vector<std::string>{record(3), record(4), record(5)}));
  EXPECT_FALSE(fs::exists(path.string() + ".4"));
  for (const char* suffix : {"", ".1", ".2", ".3"}) {
    EXPECT_LE(fs::file_size(path.string() + suffix), 3 * line_bytes) << suffix;
  }
}

TEST_F(JsonlSinkTest, MaxFilesZeroKeepsOnlyTheCurrentFile) {
  const fs::path path = dir_ / "calls.jsonl";
  const size_t line_bytes = record(0).size() + 1;
  auto sink = create(configFor(path, static_cast<int>(2 * line_bytes), 0));
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({record(1), record(2), record(3)}, out), SY_OK);
  EXPECT_EQ(lines(path), (std::vector<std::string>{record(3)}));
  EXPECT_FALSE(fs::exists(path.string() + ".1"));
}

TEST_F(JsonlSinkTest, OversizedRecordGetsAFileOfItsOwn) {
  const fs::path path = dir_ / "calls.jsonl";
  auto sink = create(configFor(path, 10, 2));
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({record(1), record(2)}, out), SY_OK);
  EXPECT_EQ(lines(path), (std::vector<std::string>{record(2)}));
  EXPECT_EQ(lines(path.string() + ".1"), (std::vector<std::string>{record(1)}));
}

TEST_F(JsonlSinkTest, ReopensAfterExternalRotation) {
  const fs::path path = dir_ / "calls.jsonl";
  auto sink = create(configFor(path));
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({record(1)}, out), SY_OK);
  fs::rename(path, dir_ / "calls.jsonl.old");
  ASSERT_EQ(sink->writeBatch({record(2)}, out), SY_OK);
  EXPECT_EQ(lines(dir_ / "calls.jsonl.old"), std::vector<std::string>{record(1)});
  EXPECT_EQ(lines(path), std::vector<std::string>{record(2)});
}

TEST_F(JsonlSinkTest, IoFailureIsReportedAndRetryable) {
  const fs::path logdir = dir_ / "logs";
  const fs::path path = logdir / "calls.jsonl";
  auto sink = create(configFor(path));
  ASSERT_NE(sink, nullptr);
  // The directory turns into a regular file: the sink can neither find nor recreate its file.
  fs::remove_all(logdir);
  std::ofstream(logdir.string()) << "in the way";
  FakeOutput failed;
  EXPECT_NE(sink->writeBatch({record(1)}, failed), SY_OK);
  EXPECT_TRUE(failed.error.set);
  EXPECT_NE(failed.error.message.find(logdir.string()), std::string::npos) << failed.error.message;
  // Once the cause is gone, the host's retry of the same batch succeeds.
  fs::remove(logdir);
  FakeOutput retried;
  ASSERT_EQ(sink->writeBatch({record(1)}, retried), SY_OK) << retried.error.message;
  EXPECT_EQ(lines(path), std::vector<std::string>{record(1)});
}

void setAge(const fs::path& file, std::chrono::hours age) {
  fs::last_write_time(file, fs::file_time_type::clock::now() - age);
}

TEST_F(JsonlSinkTest, RotatesWhenTheTimePeriodChanges) {
  const fs::path path = dir_ / "calls.jsonl";
  auto sink = create(R"({"path":")" + path.string() + R"(","rotate_interval":1})");
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({record(1), record(2)}, out), SY_OK);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));  // into the next 1-second period
  ASSERT_EQ(sink->writeBatch({record(3)}, out), SY_OK);
  EXPECT_EQ(lines(fs::path(path.string() + ".1")),
            (std::vector<std::string>{record(1), record(2)}));
  EXPECT_EQ(lines(path), std::vector<std::string>{record(3)});
}

TEST_F(JsonlSinkTest, DailyFileFromAnEarlierDayRotatesOnTheFirstWriteAfterRestart) {
  const fs::path path = dir_ / "calls.jsonl";
  std::ofstream(path) << record(1) << "\n";
  setAge(path, std::chrono::hours(48));
  auto sink = create(R"({"path":")" + path.string() + R"(","rotate_interval":"daily"})");
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({record(2)}, out), SY_OK);
  ASSERT_EQ(sink->writeBatch({record(3)}, out), SY_OK);
  EXPECT_EQ(lines(fs::path(path.string() + ".1")), std::vector<std::string>{record(1)});
  EXPECT_EQ(lines(path), (std::vector<std::string>{record(2), record(3)}));
}

TEST_F(JsonlSinkTest, HourlyRotationKeepsWritingWithinTheHour) {
  const fs::path path = dir_ / "calls.jsonl";
  auto sink = create(R"({"path":")" + path.string() + R"(","rotate_interval":"hourly"})");
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({record(1)}, out), SY_OK);
  ASSERT_EQ(sink->writeBatch({record(2)}, out), SY_OK);
  // Unless the test straddles an hour boundary, both lines share one file.
  EXPECT_EQ(lines(path).size() + (fs::exists(path.string() + ".1") ? 1u : 0u), 2u);
}

TEST_F(JsonlSinkTest, MaxAgeDaysDeletesOldRotatedFiles) {
  const fs::path path = dir_ / "calls.jsonl";
  for (int i = 1; i <= 3; ++i) {
    std::ofstream(path.string() + "." + std::to_string(i)) << record(i) << "\n";
  }
  setAge(path.string() + ".2", std::chrono::hours(24 * 10));
  setAge(path.string() + ".3", std::chrono::hours(24 * 30));
  auto sink = create(R"({"path":")" + path.string() + R"(","max_age_days":7,"max_files":5})");
  EXPECT_TRUE(fs::exists(path.string() + ".1"));
  EXPECT_FALSE(fs::exists(path.string() + ".2"));
  EXPECT_FALSE(fs::exists(path.string() + ".3"));
  // Retention runs again at each rotation.
  setAge(path.string() + ".1", std::chrono::hours(24 * 8));
  auto small = create(R"({"path":")" + path.string() + R"(","max_age_days":7,"max_bytes":60})");
  FakeOutput out;
  ASSERT_EQ(small->writeBatch({record(4), record(5)}, out), SY_OK);
  EXPECT_EQ(lines(fs::path(path.string() + ".1")), std::vector<std::string>{record(4)});
  EXPECT_FALSE(fs::exists(path.string() + ".2")) << "the 8-day-old file aged out when it became .2";
}

TEST_F(JsonlSinkTest, RejectsBadConfig) {
  std::ofstream(dir_ / "file") << "x";
  const std::string in_file = (dir_ / "file" / "calls.jsonl").string();
  struct Case {
    std::string config;
    const char* mentions;
  };
  for (const Case& c : {
           Case{R"({"path":")" + in_file + R"("})", "cannot create directory"},
           Case{R"({"path":""})", "path"},
           Case{R"({"path":7})", "path"},
           Case{R"({"path":"x","max_bytes":0})", "max_bytes"},
           Case{R"({"path":"x","max_bytes":"1MB"})", "max_bytes"},
           Case{R"({"path":"x","max_files":-1})", "max_files"},
           Case{R"({"path":"x","rotate":true})", "unknown key \"rotate\""},
           Case{R"({"path":"x","rotate_interval":"weekly"})", "rotate_interval"},
           Case{R"({"path":"x","rotate_interval":0})", "rotate_interval"},
           Case{R"({"path":"x","max_age_days":-1})", "max_age_days"},
           Case{"[]", "JSON object"},
       }) {
    auto created = plugin_->createLogSink("jsonl", c.config);
    EXPECT_FALSE(created.ok()) << c.config;
    EXPECT_EQ(created.status, SY_ERR_INVALID_ARG);
    EXPECT_NE(created.output.error.message.find(c.mentions), std::string::npos)
        << c.config << " -> " << created.output.error.message;
  }
}

}  // namespace
}  // namespace switchyard
