#include "switchyard/log/record_dispatcher.h"

#include <spdlog/spdlog.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <thread>

#include "switchyard/plugin/plugin_types.h"

namespace switchyard {

using RecordPtr = std::shared_ptr<const std::string>;

class RecordDispatcher::Worker {
public:
  Worker(RecordConsumer consumer, const Options& options)
      : consumer_(std::move(consumer)), options_(options), thread_([this] { run(); }) {}

  ~Worker() { stop(); }

  const ComponentInstanceSharedPtr& instance() const { return consumer_.instance; }

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
      // itself every flush interval, or at once when a full batch is waiting.
      wake = queue_.size() == options_.batch_size;
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
      stop_by_ = std::chrono::steady_clock::now() + options_.stop_deadline;
    }
    cv_.notify_all();
    thread_.join();
  }

  bool idle() const {
    std::lock_guard lock(mutex_);
    return queue_.empty() && in_flight_ == 0;
  }

  ConsumerStats stats() const {
    std::lock_guard lock(mutex_);
    return ConsumerStats{consumer_.name, kindName(consumer_.instance->kind()), delivered_, dropped_,
                         failed_batches_, queue_.size() + in_flight_};
  }

private:
  void run() {
    std::vector<RecordPtr> batch;
    auto backoff = std::chrono::milliseconds(100);
    for (;;) {
      {
        std::unique_lock lock(mutex_);
        if (batch.empty()) {
          cv_.wait_for(lock, options_.flush_interval,
                       [&] { return stopping_ || queue_.size() >= options_.batch_size; });
          if (queue_.empty() && !stopping_) {
            continue;
          }
          if (queue_.empty() && stopping_) {
            return;
          }
          while (!queue_.empty() && batch.size() < options_.batch_size) {
            batch.push_back(std::move(queue_.front()));
            queue_.pop_front();
          }
          in_flight_ = batch.size();
        }
      }
      if (deliver(batch)) {
        std::lock_guard lock(mutex_);
        delivered_ += batch.size();
        in_flight_ = 0;
        batch.clear();
        backoff = std::chrono::milliseconds(100);
        continue;
      }
      std::unique_lock lock(mutex_);
      failed_batches_++;
      if (stopping_ && std::chrono::steady_clock::now() >= stop_by_) {
        dropped_ += batch.size() + queue_.size();
        spdlog::error("log sink {}: dropping {} records at shutdown, the sink is not accepting them",
                      consumer_.name, batch.size() + queue_.size());
        queue_.clear();
        in_flight_ = 0;
        return;
      }
      // Keep the batch and retry; the queue behind it keeps its bound.
      cv_.wait_for(lock, backoff, [&] { return stopping_ && std::chrono::steady_clock::now() >= stop_by_; });
      backoff = std::min(backoff * 2, std::chrono::milliseconds(5000));
    }
  }

  bool deliver(const std::vector<RecordPtr>& batch) {
    std::vector<sy_str> views;
    views.reserve(batch.size());
    for (const auto& r : batch) {
      views.push_back(sy_str{r->data(), r->size()});
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
      spdlog::warn("log sink {} failed a batch of {} records{}; will retry", consumer_.name, batch.size(),
                   out.error ? ": " + out.error->message : "");
    }
    return st == SY_OK;
  }

  RecordConsumer consumer_;
  const Options& options_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<RecordPtr> queue_;
  size_t in_flight_ = 0;
  bool stopping_ = false;
  std::chrono::steady_clock::time_point stop_by_{};
  uint64_t delivered_ = 0;
  uint64_t dropped_ = 0;
  uint64_t failed_batches_ = 0;
  std::thread thread_; // last: starts after every member above exists
};

RecordDispatcher::RecordDispatcher(Options options)
    : options_(options), workers_(std::make_shared<std::vector<std::shared_ptr<Worker>>>()) {}

RecordDispatcher::~RecordDispatcher() { setConsumers({}); }

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
      if (w->instance() == c.instance) {
        reuse = w;
      }
    }
    next->push_back(reuse ? reuse : std::make_shared<Worker>(c, options_));
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
      w->stop(); // delivers what it holds first
    }
  }
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

} // namespace switchyard
