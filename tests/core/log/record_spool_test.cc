// The on-disk record spool: order, durability of the delivered cursor across reopen, the size
// cap, segment reclamation and recovery from a torn tail.
#include "switchyard/log/record_spool.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace switchyard {
namespace {

namespace fs = std::filesystem;

class RecordSpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sy-spool-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  RecordSpool::Options options() const { return {root_ / "calls", 1 << 20, 1 << 12}; }
  static std::vector<std::string_view> views(const std::vector<std::string>& v) {
    return {v.begin(), v.end()};
  }
  static std::vector<std::string> records(int from, int to) {
    std::vector<std::string> out;
    for (int i = from; i < to; ++i) {
      out.push_back("record-" + std::to_string(i) + std::string(static_cast<size_t>(i % 7), '\n'));
    }
    return out;
  }
  size_t segmentFiles() const {
    size_t n = 0;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(root_ / "calls", ec)) {
      n += e.path().extension() == ".seg" ? 1 : 0;
    }
    return n;
  }

  fs::path root_;
};

TEST_F(RecordSpoolTest, IdleSpoolTouchesNoDisk) {
  RecordSpool spool(options());
  EXPECT_TRUE(spool.empty());
  EXPECT_TRUE(spool.peek(10).records.empty());
  EXPECT_FALSE(fs::exists(root_ / "calls"));
}

TEST_F(RecordSpoolTest, DeliversInOrderAndACommittedBatchSurvivesReopen) {
  const auto all = records(0, 100);
  {
    RecordSpool spool(options());
    ASSERT_EQ(spool.append(views(all)), 100u);
    auto b = spool.peek(30);
    ASSERT_EQ(b.records.size(), 30u);
    EXPECT_EQ(b.records.front(), all[0]);
    ASSERT_TRUE(spool.commit(b));
    // Read but not committed: a crash here must deliver these again.
    EXPECT_EQ(spool.peek(10).records.front(), all[30]);
    EXPECT_EQ(spool.pendingRecords(), 70u);
  }
  RecordSpool reopened(options());
  EXPECT_EQ(reopened.pendingRecords(), 70u);
  std::vector<std::string> rest;
  while (!reopened.empty()) {
    auto b = reopened.peek(16);
    ASSERT_FALSE(b.records.empty());
    rest.insert(rest.end(), b.records.begin(), b.records.end());
    ASSERT_TRUE(reopened.commit(b));
  }
  EXPECT_EQ(rest, std::vector<std::string>(all.begin() + 30, all.end()));
  EXPECT_EQ(segmentFiles(), 0u) << "a drained spool removes its files";
  EXPECT_EQ(reopened.bytes(), 0u);
}

TEST_F(RecordSpoolTest, ReadSegmentsAreDeletedWhileWritingContinues) {
  RecordSpool spool(options());  // 4 KiB segments
  const auto first = records(0, 400);
  ASSERT_EQ(spool.append(views(first)), 400u);
  EXPECT_EQ(segmentFiles(), 1u) << "one append stays in one segment, however large";
  const auto more = records(400, 800);
  for (size_t i = 0; i < more.size(); i += 50) {
    ASSERT_EQ(spool.append(views({more.begin() + i, more.begin() + i + 50})), 50u);
  }
  const size_t total = segmentFiles();
  ASSERT_GT(total, 1u) << "later appends start new segments once one is full";
  std::vector<std::string> got;
  for (int i = 0; i < 10; ++i) {
    auto b = spool.peek(50);
    got.insert(got.end(), b.records.begin(), b.records.end());
    ASSERT_TRUE(spool.commit(b));
  }
  std::vector<std::string> expected(first.begin(), first.end());
  expected.insert(expected.end(), more.begin(), more.begin() + 100);
  EXPECT_EQ(got, expected);
  EXPECT_EQ(segmentFiles(), total - 1) << "the first segment, read through, is gone";
  RecordSpool reopened(options());
  auto b = reopened.peek(1);
  ASSERT_EQ(b.records.size(), 1u);
  EXPECT_EQ(b.records[0], more[100]);
  EXPECT_EQ(reopened.pendingRecords(), 300u);
}

TEST_F(RecordSpoolTest, CapRefusesWhatDoesNotFit) {
  auto o = options();
  o.max_bytes = 1000;
  RecordSpool spool(o);
  std::vector<std::string> big(20, std::string(92, 'x'));  // 100 bytes a frame
  EXPECT_EQ(spool.append(views(big)), 10u);
  EXPECT_EQ(spool.append(views(big)), 0u);
  EXPECT_EQ(spool.bytes(), 1000u);
  auto b = spool.peek(100);
  ASSERT_TRUE(spool.commit(b));
  EXPECT_EQ(spool.append(views(big)), 10u) << "space comes back once delivered";
}

TEST_F(RecordSpoolTest, TornTailFromACrashIsCutAndTheRestKept) {
  const auto all = records(0, 10);
  {
    RecordSpool spool(options());
    ASSERT_EQ(spool.append(views(all)), 10u);
  }
  fs::path seg;
  for (const auto& e : fs::directory_iterator(root_ / "calls")) {
    if (e.path().extension() == ".seg") {
      seg = e.path();
    }
  }
  const auto whole = fs::file_size(seg);
  {
    // Half a frame header and a few payload bytes, as a crash mid-append leaves them.
    std::ofstream out(seg, std::ios::binary | std::ios::app);
    out << std::string("\x40\x00\x00\x00\x12\x34", 6) << "partial";
  }
  RecordSpool spool(options());
  EXPECT_EQ(spool.pendingRecords(), 10u);
  EXPECT_EQ(fs::file_size(seg), whole);
  EXPECT_EQ(spool.peek(100).records, all);
  ASSERT_EQ(spool.append(views(records(10, 12))), 2u);
  auto b = spool.peek(100);
  ASSERT_EQ(b.records.size(), 12u);
  EXPECT_EQ(b.records[11], records(11, 12)[0]);
}

}  // namespace
}  // namespace switchyard
