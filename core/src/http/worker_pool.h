/// @file worker_pool.h
/// @brief An elastic pool of small-stack threads that run blocking request handlers.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>

namespace switchyard {

/**
 * Runs submitted jobs on threads with a fixed small stack. A job never waits for a thread
 * while the pool is below its maximum: a new thread starts when every thread is busy. Threads
 * beyond the minimum end after an idle time, so a burst of ten thousand streams does not
 * leave ten thousand threads behind.
 */
class WorkerPool {
 public:
  using Job = std::function<void()>;

  /// @param nice added to each worker thread's nice value (0 leaves it as the creator's).
  WorkerPool(std::string name, size_t min_threads, size_t max_threads, size_t stack_bytes,
             std::chrono::milliseconds idle_time, int nice = 0);
  /// Waits for every job already submitted to finish.
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  /// Queues the job. @return false when the pool is stopping.
  bool submit(Job job);
  /// Called by a running job whose last step may let the next job arrive (a connection handed
  /// back to the event loop): its thread counts as free from here, so that next job does not
  /// start a thread of its own while this one is a few instructions from waiting.
  void finishingJob();
  size_t threads() const;

 private:
  void run();
  bool spawnLocked();

  const std::string name_;
  const size_t min_threads_;
  const size_t max_threads_;
  const size_t stack_bytes_;
  const std::chrono::milliseconds idle_time_;
  const int nice_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable all_done_;
  std::deque<Job> jobs_;
  size_t threads_ = 0;
  size_t waiting_ = 0;
  std::atomic<size_t> finishing_{0};
  bool stopping_ = false;
};

}  // namespace switchyard
