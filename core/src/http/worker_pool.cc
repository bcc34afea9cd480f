#include "http/worker_pool.h"

#include <pthread.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace switchyard {
namespace {
thread_local bool t_finishing = false;
}

WorkerPool::WorkerPool(std::string name, size_t min_threads, size_t max_threads, size_t stack_bytes,
                       std::chrono::milliseconds idle_time, int nice)
    : name_(std::move(name)),
      min_threads_(min_threads),
      max_threads_(std::max(max_threads, min_threads)),
      stack_bytes_(stack_bytes),
      idle_time_(idle_time),
      nice_(nice) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < min_threads_; ++i) {
    if (!spawnLocked()) {
      throw std::runtime_error("cannot start the " + name_ + " worker threads");
    }
  }
}

WorkerPool::~WorkerPool() {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  wake_.notify_all();
  all_done_.wait(lock, [this] { return threads_ == 0; });
}

bool WorkerPool::submit(Job job) {
  std::lock_guard lock(mutex_);
  if (stopping_) {
    return false;
  }
  jobs_.push_back(std::move(job));
  // Every queued job needs a thread of its own that is not yet spoken for; a handler may
  // block for the whole life of a stream, so a queued job must never wait behind one.
  if (jobs_.size() > waiting_ + finishing_.load() && threads_ < max_threads_) {
    if (!spawnLocked() && waiting_ == 0 && threads_ == 0) {
      spdlog::error("{}: no worker thread could be started", name_);
    }
  }
  wake_.notify_one();
  return true;
}

void WorkerPool::finishingJob() {
  if (!t_finishing) {
    t_finishing = true;
    finishing_++;
  }
}

size_t WorkerPool::threads() const {
  std::lock_guard lock(mutex_);
  return threads_;
}

bool WorkerPool::spawnLocked() {
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) {
    return false;
  }
  pthread_attr_setstacksize(&attr, stack_bytes_);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  const int rc = pthread_create(
      &thread, &attr,
      [](void* self) -> void* {
        static_cast<WorkerPool*>(self)->run();
        return nullptr;
      },
      this);
  pthread_attr_destroy(&attr);
  if (rc != 0) {
    return false;
  }
  ++threads_;
  return true;
}

void WorkerPool::run() {
  if (nice_ > 0) {
    // Linux keeps a nice value per thread; raising one's own needs no privilege.
    const auto tid = static_cast<id_t>(::syscall(SYS_gettid));
    ::setpriority(PRIO_PROCESS, tid, ::getpriority(PRIO_PROCESS, tid) + nice_);
  }
  std::unique_lock lock(mutex_);
  for (;;) {
    while (jobs_.empty() && !stopping_) {
      ++waiting_;
      const bool woke =
          wake_.wait_for(lock, idle_time_, [this] { return !jobs_.empty() || stopping_; });
      --waiting_;
      if (!woke && threads_ > min_threads_) {
        --threads_;
        all_done_.notify_all();
        return;
      }
    }
    if (jobs_.empty()) {  // stopping, and nothing left to run
      --threads_;
      all_done_.notify_all();
      return;
    }
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    lock.unlock();
    job();
    job = nullptr;
    lock.lock();
    if (t_finishing) {
      t_finishing = false;
      finishing_--;
    }
  }
}

}  // namespace switchyard
