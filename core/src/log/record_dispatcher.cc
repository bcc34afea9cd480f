#include "switchyard/log/record_dispatcher.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <thread>
#include <vector>

#include "switchyard/plugin/plugin_types.h"

namespace switchyard {

using RecordPtr = std::shared_ptr<const std::string>;

class RecordDispatcher::Worker {
 public:
  using Clock = std::chrono::steady_clock;

  Worker(RecordConsumer consumer, const Options& options, RecordSpoolSharedPtr spool)
      : consumer_(std::move(consumer)),
        options_(options),
        spool_(std::move(spool)),
        thread_([this] { run(); }) {}

  ~Worker() { stop(); }

  const RecordConsumer& consumer() const { return consumer_; }

  void submit(const RecordPtr& record) {
    bool wake = false;
    {
      std::lock_guard lock(mutex_);
      if (queue_.size() >= options_.queue_capacity) {
        dropped_++;
        return;
      }
      queue_.push_back(record);
      // Waking the worker per record would cost a context switch per request; it wakes by
      // itself every flush interval, or at once when a full batch is waiting or the queue
      // reaches the mark where it goes to disk.
      wake = queue_.size() == options_.batch_size ||
             (spool_ && queue_.size() == options_.spool_high_water);
    }
    if (wake) {
      cv_.notify_one();
    }
  }

  void stop() {
    {
      std::lock_guard lock(mutex_);
      if (stopping_) {
        return;
      }
      stopping_ = true;
      stop_by_ = Clock::now() + options_.stop_deadline;
    }
    cv_.notify_all();
    thread_.join();
  }

  bool idle() const {
    const bool spool_settled = !spool_ || spool_->empty();
    std::lock_guard lock(mutex_);
    // Spooled records of a failing sink are safe; waiting for the sink would only stall shutdown.
    return queue_.empty() && in_flight_ == 0 && (spool_settled || failing_);
  }

  ConsumerStats stats() const {
    ConsumerStats s;
    if (spool_) {
      s.spooled = spool_->pendingRecords();
      s.spool_bytes = spool_->bytes();
    }
    std::lock_guard lock(mutex_);
    s.name = consumer_.name;
    s.kind = consumer_.instance ? kindName(consumer_.instance->kind()) : "log_sink";
    s.delivered = delivered_;
    s.dropped = dropped_;
    s.failed_batches = failed_batches_;
    s.queued = queue_.size() + in_flight_;
    s.last_error = last_error_;
    return s;
  }

 private:
  /// Sleeps until there is something to do: a full batch, records past the high-water mark,
  /// spooled records for a sink not in backoff, the flush interval, or stop.
  void waitForWork(std::unique_lock<std::mutex>& lock, bool spool_pending, bool holding_batch) {
    const auto now = Clock::now();
    const bool backing_off = failing_ && now < retry_at_;
    if (stopping_) {
      if (backing_off && !spool_) {
        cv_.wait_until(lock, std::min(retry_at_, stop_by_));
      }
      return;
    }
    if (!backing_off && (spool_pending || holding_batch || queue_.size() >= options_.batch_size)) {
      return;
    }
    if (spool_ && queue_.size() >= options_.spool_high_water) {
      return;
    }
    auto until = now + options_.flush_interval;
    if (backing_off) {
      until = std::min(until, retry_at_);
    }
    cv_.wait_until(lock, until, [&] {
      return stopping_ || queue_.size() >= options_.batch_size ||
             (spool_ && queue_.size() >= options_.spool_high_water);
    });
  }

  void run() {
    std::vector<RecordPtr> batch;  // taken from memory, not yet accepted
    auto backoff = kFirstBackoff;
    for (;;) {
      std::deque<RecordPtr> to_spool;
      bool exit_after_spool = false;
      bool stopping = false;
      bool backing_off = false;
      bool past_deadline = false;
      // Read outside mutex_: the spool may be busy with another worker's fsync, and submit()
      // must never wait for a disk.
      const bool spool_pending = spool_ && !spool_->empty();
      {
        std::unique_lock lock(mutex_);
        waitForWork(lock, spool_pending, !batch.empty());
        const auto now = Clock::now();
        stopping = stopping_;
        past_deadline = stopping && now >= stop_by_;
        backing_off = failing_ && now < retry_at_;
        if (spool_ && stopping && (failing_ || past_deadline)) {
          // The sink is down (or too slow) at shutdown: everything goes to disk for the next run.
          exit_after_spool = true;
          to_spool.swap(queue_);
        } else if (spool_ &&
                   (failing_ || spool_pending || queue_.size() >= options_.spool_high_water)) {
          // Once anything is on disk, newer records queue behind it there, so order holds.
          to_spool.swap(queue_);
        } else if (batch.empty()) {
          while (!queue_.empty() && batch.size() < options_.batch_size) {
            batch.push_back(std::move(queue_.front()));
            queue_.pop_front();
          }
          in_flight_ = batch.size();
        }
        in_flight_ += to_spool.size();
      }
      if (!to_spool.empty()) {
        spoolOut(std::vector<RecordPtr>(to_spool.begin(), to_spool.end()), to_spool.size());
      }
      if (exit_after_spool) {
        return;
      }
      if (!spool_ && past_deadline) {
        std::lock_guard lock(mutex_);
        const size_t left = batch.size() + queue_.size();
        if (left > 0) {
          dropped_ += left;
          spdlog::error(
              "log sink {}: dropping {} records at shutdown, the sink is not accepting them and "
              "there is no spool",
              consumer_.name, left);
        }
        queue_.clear();
        in_flight_ = 0;
        return;
      }
      if (backing_off) {
        continue;
      }
      if (spool_ && !spool_->empty()) {
        deliverFromSpool(backoff);
        continue;
      }
      if (batch.empty()) {
        std::lock_guard lock(mutex_);
        if (stopping && queue_.empty()) {
          return;
        }
        continue;
      }
      std::string error;
      if (deliver(viewsOf(batch), &error)) {
        std::lock_guard lock(mutex_);
        delivered_ += batch.size();
        in_flight_ = 0;
        failing_ = false;
        batch.clear();
        backoff = kFirstBackoff;
        continue;
      }
      failed(error, backoff);
      if (spool_) {
        // The failed batch heads the spool; the queue follows it on the next pass.
        spoolOut(std::move(batch), 0);
        batch.clear();
        std::lock_guard lock(mutex_);
        in_flight_ = 0;
      }
    }
  }

  void deliverFromSpool(std::chrono::milliseconds& backoff) {
    auto reader = spool_->tryLockReader();
    if (!reader.owns_lock()) {
      // The other worker of this consumer (during a reload) is draining it.
      std::this_thread::sleep_for(options_.flush_interval);
      return;
    }
    RecordSpool::Batch b = spool_->peek(options_.batch_size);
    if (b.records.empty()) {
      return;
    }
    std::vector<std::string_view> views(b.records.begin(), b.records.end());
    std::string error;
    if (!deliver(views, &error)) {
      failed(error, backoff);
      return;
    }
    spool_->commit(b);
    std::lock_guard lock(mutex_);
    delivered_ += b.records.size();
    failing_ = false;
    backoff = kFirstBackoff;
  }

  void failed(const std::string& error, std::chrono::milliseconds& backoff) {
    std::lock_guard lock(mutex_);
    failed_batches_++;
    failing_ = true;
    last_error_ = error;
    retry_at_ = Clock::now() + backoff;
    backoff = std::min(backoff * 2, options_.retry_backoff_max);
  }

  /// Appends to the spool; counts what the cap (or a disk error) refused as dropped.
  /// `in_flight` is how many of them were counted in in_flight_.
  void spoolOut(std::vector<RecordPtr> records, size_t in_flight) {
    const size_t stored = spool_->append(viewsOf(records));
    std::lock_guard lock(mutex_);
    in_flight_ -= std::min(in_flight_, in_flight);
    if (stored < records.size()) {
      dropped_ += records.size() - stored;
      last_error_ = spool_->lastError().empty()
                        ? "spool is full (" + std::to_string(options_.spool_max_bytes) + " bytes)"
                        : spool_->lastError();
      spdlog::error("log sink {}: dropped {} records: {}", consumer_.name, records.size() - stored,
                    last_error_);
    }
  }

  static std::vector<std::string_view> viewsOf(const std::vector<RecordPtr>& records) {
    std::vector<std::string_view> views;
    views.reserve(records.size());
    for (const auto& r : records) {
      views.emplace_back(*r);
    }
    return views;
  }

  bool deliver(const std::vector<std::string_view>& records, std::string* error) {
    if (!consumer_.instance) {
      const bool ok = consumer_.deliver && consumer_.deliver(records, error);
      if (!ok) {
        spdlog::warn("log sink {} failed a batch of {} records: {}", consumer_.name, records.size(),
                     *error);
      }
      return ok;
    }
    std::vector<sy_str> views;
    views.reserve(records.size());
    for (const auto& r : records) {
      views.push_back(sy_str{r.data(), r.size()});
    }
    const auto& inst = *consumer_.instance;
    if (inst.kind() == SY_KIND_ANALYTICS) {
      inst.table<sy_analytics_vtable>().observe(inst.handle(), views.data(), views.size());
      return true;
    }
    sy_out_host_t out;
    const auto& table = inst.table<sy_log_sink_vtable>();
    sy_status st = table.write_batch(inst.handle(), views.data(), views.size(), &out);
    if (st == SY_OK && table.flush != nullptr) {
      st = table.flush(inst.handle());
    }
    if (st != SY_OK) {
      *error = out.error ? out.error->message : "status " + std::to_string(st);
      spdlog::warn("log sink {} failed a batch of {} records: {}", consumer_.name, records.size(),
                   *error);
    }
    return st == SY_OK;
  }

  static constexpr std::chrono::milliseconds kFirstBackoff{100};

  RecordConsumer consumer_;
  const Options options_;
  const RecordSpoolSharedPtr spool_;  // null: no spool, failed batches wait in memory
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<RecordPtr> queue_;
  size_t in_flight_ = 0;
  bool stopping_ = false;
  bool failing_ = false;
  Clock::time_point retry_at_{};
  Clock::time_point stop_by_{};
  uint64_t delivered_ = 0;
  uint64_t dropped_ = 0;
  uint64_t failed_batches_ = 0;
  std::string last_error_;
  std::thread thread_;  // last: starts after every member above exists
};

RecordDispatcher::RecordDispatcher(Options options)
    : options_(options), workers_(std::make_shared<std::vector<std::shared_ptr<Worker>>>()) {}

RecordDispatcher::~RecordDispatcher() {
  setConsumers({});
}

void RecordDispatcher::setConsumers(const std::vector<RecordConsumer>& consumers) {
  std::shared_ptr<const std::vector<std::shared_ptr<Worker>>> old;
  {
    std::lock_guard lock(mutex_);
    old = workers_;
  }
  auto next = std::make_shared<std::vector<std::shared_ptr<Worker>>>();
  for (const auto& c : consumers) {
    std::shared_ptr<Worker> reuse;
    for (const auto& w : *old) {
      if (c.instance && w->consumer().instance == c.instance && w->consumer().name == c.name) {
        reuse = w;
      }
    }
    next->push_back(reuse ? reuse : std::make_shared<Worker>(c, options_, spoolFor(c)));
  }
  {
    std::lock_guard lock(mutex_);
    workers_ = next;
  }
  for (const auto& w : *old) {
    bool kept = false;
    for (const auto& n : *next) {
      kept = kept || n == w;
    }
    if (!kept) {
      w->stop();  // delivers what it holds first
    }
  }
}

RecordSpoolSharedPtr RecordDispatcher::spoolFor(const RecordConsumer& consumer) {
  if (options_.spool_dir.empty()) {
    return nullptr;
  }
  // Sink and analytics names are unique only within their own list; '@' is never in a name.
  std::string dir = consumer.name;
  if (consumer.instance && consumer.instance->kind() == SY_KIND_ANALYTICS) {
    dir += "@analytics";
  }
  // Names may be "." or ".."; they must not climb out of the spool directory.
  if (dir.find_first_not_of('.') == std::string::npos) {
    dir = "_" + dir;
  }
  std::lock_guard lock(mutex_);
  auto& spool = spools_[dir];
  if (!spool) {
    spool = std::make_shared<RecordSpool>(RecordSpool::Options{
        options_.spool_dir / dir, options_.spool_max_bytes, options_.spool_segment_bytes});
  }
  return spool;
}

void RecordDispatcher::submit(std::string record) {
  std::shared_ptr<const std::vector<std::shared_ptr<Worker>>> workers;
  {
    std::lock_guard lock(mutex_);
    workers = workers_;
  }
  if (workers->empty()) {
    return;
  }
  auto shared = std::make_shared<const std::string>(std::move(record));
  for (const auto& w : *workers) {
    w->submit(shared);
  }
}

bool RecordDispatcher::flush(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  std::shared_ptr<const std::vector<std::shared_ptr<Worker>>> workers;
  {
    std::lock_guard lock(mutex_);
    workers = workers_;
  }
  for (;;) {
    bool idle = true;
    for (const auto& w : *workers) {
      idle = idle && w->idle();
    }
    if (idle) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= until) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

std::vector<ConsumerStats> RecordDispatcher::stats() const {
  std::shared_ptr<const std::vector<std::shared_ptr<Worker>>> workers;
  {
    std::lock_guard lock(mutex_);
    workers = workers_;
  }
  std::vector<ConsumerStats> out;
  for (const auto& w : *workers) {
    out.push_back(w->stats());
  }
  return out;
}

}  // namespace switchyard
