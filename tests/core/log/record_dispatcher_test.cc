// Delivery guarantees of the record dispatcher: spooling to disk through a sink outage, in-order
// exactly-once delivery after recovery and across a restart, and drops only at the spool cap.
#include "switchyard/log/record_dispatcher.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace switchyard {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

/// A log sink that can be switched off, as a database or webhook going down would be.
class FakeSink {
 public:
  RecordConsumer consumer(const std::string& name) {
    return RecordConsumer{name, nullptr,
                          [this](const std::vector<std::string_view>& records, std::string* error) {
                            std::lock_guard lock(mutex_);
                            calls_++;
                            if (failing_) {
                              *error = "sink is down";
                              return false;
                            }
                            for (auto r : records) {
                              received_.emplace_back(r);
                            }
                            return true;
                          }};
  }
  void setFailing(bool failing) {
    std::lock_guard lock(mutex_);
    failing_ = failing;
  }
  std::vector<std::string> received() const {
    std::lock_guard lock(mutex_);
    return received_;
  }
  int calls() const {
    std::lock_guard lock(mutex_);
    return calls_;
  }

 private:
  mutable std::mutex mutex_;
  bool failing_ = false;
  int calls_ = 0;
  std::vector<std::string> received_;
};

std::string record(int i) {
  return R"({"request_id":"req-)" + std::to_string(i) + R"(","status":200})";
}

void submitRange(RecordDispatcher& d, int from, int to) {
  for (int i = from; i < to; ++i) {
    d.submit(record(i));
  }
}

bool waitFor(const std::function<bool()>& done, std::chrono::milliseconds limit = 30s) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(10ms);
  }
  return done();
}

/// Every record i in [0, n) exactly once and in order.
void expectExactlyInOrder(const std::vector<std::string>& got, int n) {
  ASSERT_EQ(got.size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ(got[i], record(i)) << "at position " << i;
  }
}

class RecordDispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sy-dispatch-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  RecordDispatcher::Options options() const {
    RecordDispatcher::Options o;
    o.batch_size = 50;
    o.flush_interval = 20ms;
    o.stop_deadline = 500ms;
    o.retry_backoff_max = 100ms;
    o.spool_dir = dir_ / "spool";
    return o;
  }
  static ConsumerStats statsOf(const RecordDispatcher& d) { return d.stats().at(0); }

  fs::path dir_;
};

TEST_F(RecordDispatcherTest, NormalOperationDeliversAllInOrderWithoutDropsOrDisk) {
  FakeSink sink;
  RecordDispatcher d(options());
  d.setConsumers({sink.consumer("calls")});
  submitRange(d, 0, 5000);
  ASSERT_TRUE(d.flush(30s));
  expectExactlyInOrder(sink.received(), 5000);
  const auto s = statsOf(d);
  EXPECT_EQ(s.delivered, 5000u);
  EXPECT_EQ(s.dropped, 0u);
  EXPECT_EQ(s.spooled, 0u);
  EXPECT_FALSE(fs::exists(dir_ / "spool" / "calls")) << "a healthy sink never touches the disk";
}

TEST_F(RecordDispatcherTest, OutageSpoolsToDiskAndRecoveryDeliversEachRecordOnceInOrder) {
  FakeSink sink;
  sink.setFailing(true);
  RecordDispatcher d(options());
  d.setConsumers({sink.consumer("calls")});
  submitRange(d, 0, 600);
  ASSERT_TRUE(waitFor([&] { return statsOf(d).spooled == 600; })) << statsOf(d).spooled;
  EXPECT_TRUE(fs::exists(dir_ / "spool" / "calls"));
  EXPECT_GT(statsOf(d).failed_batches, 0u);
  EXPECT_EQ(statsOf(d).last_error, "sink is down");
  EXPECT_TRUE(d.flush(5s)) << "spooled records of a failing sink count as safe";
  // More traffic while the sink is still down queues behind the spool.
  submitRange(d, 600, 1000);
  ASSERT_TRUE(waitFor([&] { return statsOf(d).spooled == 1000; }));
  sink.setFailing(false);
  submitRange(d, 1000, 1200);
  ASSERT_TRUE(waitFor([&] { return statsOf(d).delivered == 1200; })) << statsOf(d).delivered;
  ASSERT_TRUE(d.flush(10s));
  expectExactlyInOrder(sink.received(), 1200);
  const auto s = statsOf(d);
  EXPECT_EQ(s.dropped, 0u);
  EXPECT_EQ(s.spooled, 0u);
  EXPECT_EQ(s.spool_bytes, 0u);
  EXPECT_TRUE(fs::is_empty(dir_ / "spool" / "calls")) << "a drained spool leaves no files";
}

TEST_F(RecordDispatcherTest, ShutdownWithSinkDownSpoolsAndTheNextRunDeliversFirst) {
  {
    FakeSink down;
    down.setFailing(true);
    RecordDispatcher d(options());
    d.setConsumers({down.consumer("calls")});
    submitRange(d, 0, 700);
    // Destroyed at once: whatever is in memory must reach the spool, none dropped.
  }
  FakeSink up;
  RecordDispatcher d(options());
  d.setConsumers({up.consumer("calls")});
  EXPECT_EQ(statsOf(d).dropped, 0u);
  submitRange(d, 700, 800);
  ASSERT_TRUE(waitFor([&] { return statsOf(d).delivered == 800; })) << statsOf(d).delivered;
  ASSERT_TRUE(d.flush(10s));
  expectExactlyInOrder(up.received(), 800);
  EXPECT_EQ(statsOf(d).dropped, 0u);
}

TEST_F(RecordDispatcherTest, ShutdownWithHealthySinkDeliversEverything) {
  FakeSink sink;
  {
    RecordDispatcher d(options());
    d.setConsumers({sink.consumer("calls")});
    submitRange(d, 0, 3000);
  }
  expectExactlyInOrder(sink.received(), 3000);
  EXPECT_FALSE(fs::exists(dir_ / "spool" / "calls"));
}

TEST_F(RecordDispatcherTest, EachConsumerHasItsOwnSpoolAndAHealthyOneIsNotDelayed) {
  FakeSink down, up;
  down.setFailing(true);
  RecordDispatcher d(options());
  d.setConsumers({down.consumer("webhook"), up.consumer("calls")});
  submitRange(d, 0, 300);
  ASSERT_TRUE(
      waitFor([&] { return d.stats().at(1).delivered == 300 && d.stats().at(0).spooled == 300; }));
  expectExactlyInOrder(up.received(), 300);
  EXPECT_TRUE(fs::exists(dir_ / "spool" / "webhook"));
  EXPECT_FALSE(fs::exists(dir_ / "spool" / "calls"));
  down.setFailing(false);
  ASSERT_TRUE(waitFor([&] { return d.stats().at(0).delivered == 300; }));
  expectExactlyInOrder(down.received(), 300);
}

TEST_F(RecordDispatcherTest, SpoolCapIsTheOnlyReasonToDropAndDropsAreCounted) {
  auto o = options();
  o.spool_max_bytes = 8 * 1024;  // about 200 of these records
  o.spool_segment_bytes = 2 * 1024;
  FakeSink sink;
  sink.setFailing(true);
  RecordDispatcher d(o);
  d.setConsumers({sink.consumer("calls")});
  submitRange(d, 0, 500);
  ASSERT_TRUE(waitFor([&] {
    const auto s = statsOf(d);
    return s.spooled + s.dropped == 500;
  }));
  const auto full = statsOf(d);
  EXPECT_GT(full.dropped, 0u);
  EXPECT_GT(full.spooled, 100u);
  EXPECT_LE(full.spool_bytes, o.spool_max_bytes);
  EXPECT_NE(full.last_error.find("spool is full"), std::string::npos) << full.last_error;
  sink.setFailing(false);
  ASSERT_TRUE(waitFor([&] { return statsOf(d).delivered == full.spooled; }));
  // What was kept is the oldest records, in order.
  expectExactlyInOrder(sink.received(), static_cast<int>(full.spooled));
}

TEST_F(RecordDispatcherTest, QueuePastHighWaterGoesToDiskWhileTheSinkIsSlow) {
  auto o = options();
  o.spool_high_water = 100;
  o.batch_size = 20;
  std::mutex m;
  std::vector<std::string> got;
  std::atomic<uint64_t> max_spooled{0};
  RecordConsumer slow{"calls", nullptr,
                      [&](const std::vector<std::string_view>& records, std::string*) {
                        std::this_thread::sleep_for(20ms);
                        std::lock_guard lock(m);
                        for (auto r : records) {
                          got.emplace_back(r);
                        }
                        return true;
                      }};
  RecordDispatcher d(o);
  d.setConsumers({slow});
  for (int i = 0; i < 2000; ++i) {
    d.submit(record(i));
    max_spooled = std::max<uint64_t>(max_spooled, statsOf(d).spooled);
  }
  ASSERT_TRUE(waitFor(
      [&] {
        max_spooled = std::max<uint64_t>(max_spooled, statsOf(d).spooled);
        return statsOf(d).delivered == 2000;
      },
      120s));
  EXPECT_GT(max_spooled.load(), 0u);
  EXPECT_EQ(statsOf(d).dropped, 0u);
  std::lock_guard lock(m);
  expectExactlyInOrder(got, 2000);
}

TEST_F(RecordDispatcherTest, WithoutASpoolAFailedBatchIsRetriedFromMemory) {
  auto o = options();
  o.spool_dir.clear();
  FakeSink sink;
  sink.setFailing(true);
  RecordDispatcher d(o);
  d.setConsumers({sink.consumer("calls")});
  submitRange(d, 0, 100);
  ASSERT_TRUE(waitFor([&] { return sink.calls() >= 2; }));
  sink.setFailing(false);
  ASSERT_TRUE(waitFor([&] { return statsOf(d).delivered == 100; }));
  expectExactlyInOrder(sink.received(), 100);
}

}  // namespace
}  // namespace switchyard
