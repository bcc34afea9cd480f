/// @file switchyard/log/record_dispatcher.h
/// @brief Delivers finished call records to log sinks and analytics, off the request path.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/log/record_spool.h"
#include "switchyard/plugin/plugin_manager.h"

namespace switchyard {

/// Takes a batch; false (with a reason) when it was not stored and must be offered again.
using RecordBatchFn =
    std::function<bool(const std::vector<std::string_view>& records, std::string* error)>;

struct RecordConsumer {
  std::string name;                     ///< also names its spool directory
  ComponentInstanceSharedPtr instance;  ///< a log sink or an analytics module
  RecordBatchFn deliver;                ///< used instead when there is no instance (core consumers)
};

struct ConsumerStats {
  std::string name;
  std::string kind;
  uint64_t delivered = 0;
  uint64_t dropped = 0;  ///< only when the memory queue or the spool was full, or no spool exists
  uint64_t failed_batches = 0;
  size_t queued = 0;     ///< in memory
  uint64_t spooled = 0;  ///< on disk, waiting for the consumer
  uint64_t spool_bytes = 0;
  std::string last_error;
};

/**
 * One worker thread and one bounded queue per consumer, so a slow or failing sink delays only
 * itself. submit() never blocks and never touches the disk.
 *
 * With a spool directory, a consumer's records go to its disk spool (RecordSpool, under
 * `<spool_dir>/<consumer name>/`, `<name>@analytics/` for analytics) when its sink fails a
 * batch or its memory queue passes the high-water mark; from then on everything goes through
 * the spool, in order, until the sink has taken all of it. At stop, what the sink does not take
 * before the deadline is spooled, and a spool left by a previous run is delivered first. Records
 * are dropped (and counted) only when the memory queue is full while the worker is inside one long
 * sink call, or the spool reached its size cap; without a spool directory a failed batch is retried
 * from memory as before.
 */
class RecordDispatcher {
 public:
  struct Options {
    size_t queue_capacity = 100000;
    size_t batch_size = 256;
    std::chrono::milliseconds flush_interval{100};  ///< how long a record may wait for its batch
    std::chrono::milliseconds stop_deadline{5000};
    std::filesystem::path spool_dir;        ///< empty: no spool
    uint64_t spool_max_bytes = 1ull << 30;  ///< per consumer
    uint64_t spool_segment_bytes = 64ull << 20;
    size_t spool_high_water = 10000;  ///< queued records beyond which the worker spools the queue
    std::chrono::milliseconds retry_backoff_max{5000};
  };
  explicit RecordDispatcher(Options options);
  RecordDispatcher() : RecordDispatcher(Options{}) {}
  ~RecordDispatcher();

  /// Replaces the consumers. Workers of instances still present are kept; removed ones
  /// deliver what they hold (up to the stop deadline) and end.
  void setConsumers(const std::vector<RecordConsumer>& consumers);
  void submit(std::string record);
  /// Waits until every record is delivered, or safely spooled while its sink is failing, or
  /// the deadline passes. @return true when nothing is left only in memory.
  bool flush(std::chrono::milliseconds deadline);
  std::vector<ConsumerStats> stats() const;

  class Worker;

 private:
  RecordSpoolSharedPtr spoolFor(const RecordConsumer& consumer);

  Options options_;
  mutable std::mutex mutex_;
  std::shared_ptr<const std::vector<std::shared_ptr<Worker>>> workers_;
  /// By spool directory: a reload's old and new worker of one consumer share it.
  std::map<std::string, RecordSpoolSharedPtr> spools_;
};

}  // namespace switchyard
