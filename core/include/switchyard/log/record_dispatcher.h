/// @file switchyard/log/record_dispatcher.h
/// @brief Delivers finished call records to log sinks and analytics, off the request path.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "switchyard/plugin/plugin_manager.h"

namespace switchyard {

struct RecordConsumer {
  std::string name;
  ComponentInstanceSharedPtr instance; ///< a log sink or an analytics module
};

struct ConsumerStats {
  std::string name;
  std::string kind;
  uint64_t delivered = 0;
  uint64_t dropped = 0;
  uint64_t failed_batches = 0;
  size_t queued = 0;
};

/**
 * One worker thread and one bounded queue per consumer, so a slow or failing sink delays
 * only itself. submit() never blocks: when a queue is full the record is dropped for that
 * consumer and counted. A failed batch is kept and retried with backoff.
 */
class RecordDispatcher {
public:
  struct Options {
    size_t queue_capacity = 100000;
    size_t batch_size = 256;
    std::chrono::milliseconds flush_interval{100}; ///< how long a record may wait for its batch
    std::chrono::milliseconds stop_deadline{5000};
  };
  explicit RecordDispatcher(Options options);
  RecordDispatcher() : RecordDispatcher(Options{}) {}
  ~RecordDispatcher();

  /// Replaces the consumers. Workers of instances still present are kept; removed ones
  /// deliver what they hold (up to the stop deadline) and end.
  void setConsumers(const std::vector<RecordConsumer>& consumers);
  void submit(std::string record);
  /// Waits until every queue is empty or the deadline passes. @return true when drained.
  bool flush(std::chrono::milliseconds deadline);
  std::vector<ConsumerStats> stats() const;

  class Worker;

private:
  Options options_;
  mutable std::mutex mutex_;
  std::shared_ptr<const std::vector<std::shared_ptr<Worker>>> workers_;
};

} // namespace switchyard
