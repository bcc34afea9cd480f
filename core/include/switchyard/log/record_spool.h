/// @file switchyard/log/record_spool.h
/// @brief A durable, append-only, size-capped FIFO of call records on disk, one per consumer.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard {

/**
 * Records a consumer could not take yet, kept on disk in arrival order until it takes them.
 *
 * Layout of the directory: segment files `<id>.seg` (20-digit id, appended in order, each a run
 * of frames `u32 length | u32 FNV-1a of the payload | payload`) and a `cursor` file naming the
 * first undelivered frame (`<segment id> <byte offset>`). Appends are fsynced before append()
 * returns; the cursor is replaced atomically (write, fsync, rename) on every commit, so a crash
 * redelivers at most the batch whose commit it interrupted. A torn frame at the tail (a crash
 * mid-append) fails its checksum and is cut off when the spool is opened.
 *
 * Nothing touches the disk until the first append: an idle spool is an absent directory.
 * Thread-safe; the dispatcher shares one spool between the old and new worker of a consumer
 * across a reload.
 */
class RecordSpool {
 public:
  struct Options {
    std::filesystem::path dir;
    uint64_t max_bytes =
        1ull << 30;  ///< cap on the segment files together; beyond it appends are refused
    uint64_t segment_bytes = 64ull
                             << 20;  ///< a segment is closed past this size and deleted once read
  };

  /// A batch read from the head; commit(batch.end) marks it delivered.
  struct Batch {
    std::vector<std::string> records;
    uint64_t end_segment = 0;
    uint64_t end_offset = 0;
  };

  /// Opens the spool, reading what a previous run left. Never throws; a directory that cannot be
  /// read makes `error` non-empty and the spool refuse appends.
  explicit RecordSpool(Options options);
  ~RecordSpool();
  RecordSpool(const RecordSpool&) = delete;
  RecordSpool& operator=(const RecordSpool&) = delete;

  /// Appends in order and fsyncs. @return how many of `records` (a prefix) were stored; the rest
  /// would have passed max_bytes or hit an I/O error (see lastError()).
  size_t append(const std::vector<std::string_view>& records);
  /// Reads up to `max` records from the head without consuming them.
  Batch peek(size_t max);
  /// Marks everything before the batch's end delivered, durably; drops finished segments.
  bool commit(const Batch& batch);

  /// Lock-free: callable from paths that must not wait for an fsync.
  bool empty() const { return pending_.load() == 0; }
  uint64_t pendingRecords() const { return pending_.load(); }
  uint64_t bytes() const { return bytes_.load(); }
  /// One reader at a time: held across peek, delivery and commit, so two workers of one
  /// consumer (a reload's old and new) never deliver the same batch.
  std::unique_lock<std::mutex> tryLockReader() {
    return std::unique_lock(reader_mutex_, std::try_to_lock);
  }
  std::string lastError() const;
  const std::filesystem::path& dir() const { return options_.dir; }

 private:
  struct Segment {
    uint64_t id = 0;
    uint64_t size = 0;
  };
  void load();
  bool openWriter(std::string* error);
  bool writeCursor(uint64_t segment, uint64_t offset, std::string* error);
  void removeAllLocked();
  std::filesystem::path segmentPath(uint64_t id) const;

  const Options options_;
  mutable std::mutex mutex_;
  std::vector<Segment> segments_;  ///< oldest first; the last one is appended to
  uint64_t cursor_segment_ = 0;
  uint64_t cursor_offset_ = 0;
  std::atomic<uint64_t> pending_{0};
  std::atomic<uint64_t> bytes_{0};
  std::mutex reader_mutex_;
  uint64_t next_id_ = 1;
  int write_fd_ = -1;
  std::string error_;
};
using RecordSpoolSharedPtr = std::shared_ptr<RecordSpool>;

}  // namespace switchyard
