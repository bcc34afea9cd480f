#include "switchyard/log/record_spool.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace switchyard {
namespace fs = std::filesystem;

namespace {

constexpr size_t kHeaderBytes = 8;
// A frame longer than this is corruption, not a record (records are capped far below it).
constexpr uint32_t kMaxFrameBytes = 256u << 20;

uint32_t fnv1a(std::string_view bytes) {
  uint32_t h = 2166136261u;
  for (unsigned char c : bytes) {
    h = (h ^ c) * 16777619u;
  }
  return h;
}

void putU32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

uint32_t getU32(const unsigned char* p) {
  return static_cast<uint32_t>(p[0]) | static_cast<uint32_t>(p[1]) << 8 |
         static_cast<uint32_t>(p[2]) << 16 | static_cast<uint32_t>(p[3]) << 24;
}

bool preadAll(int fd, void* buf, size_t n, uint64_t offset) {
  auto* p = static_cast<char*>(buf);
  size_t done = 0;
  while (done < n) {
    const ssize_t r = ::pread(fd, p + done, n - done, static_cast<off_t>(offset + done));
    if (r < 0 && errno == EINTR) {
      continue;
    }
    if (r <= 0) {
      return false;
    }
    done += static_cast<size_t>(r);
  }
  return true;
}

/// Reads the frame at `offset`; false at the end of the file or on a torn/corrupt frame.
bool readFrame(int fd, uint64_t offset, uint64_t file_size, std::string* payload) {
  if (offset + kHeaderBytes > file_size) {
    return false;
  }
  unsigned char header[kHeaderBytes];
  if (!preadAll(fd, header, kHeaderBytes, offset)) {
    return false;
  }
  const uint32_t len = getU32(header);
  if (len > kMaxFrameBytes || offset + kHeaderBytes + len > file_size) {
    return false;
  }
  payload->resize(len);
  if (len > 0 && !preadAll(fd, payload->data(), len, offset + kHeaderBytes)) {
    return false;
  }
  return fnv1a(*payload) == getU32(header + 4);
}

void syncDir(const fs::path& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

std::string errnoText(const std::string& what) {
  return what + ": " + std::strerror(errno);
}

}  // namespace

RecordSpool::RecordSpool(Options options) : options_(std::move(options)) {
  std::lock_guard lock(mutex_);
  load();
}

RecordSpool::~RecordSpool() {
  if (write_fd_ >= 0) {
    ::close(write_fd_);
  }
}

fs::path RecordSpool::segmentPath(uint64_t id) const {
  std::string name = std::to_string(id);
  name.insert(0, name.size() < 20 ? 20 - name.size() : 0, '0');
  return options_.dir / (name + ".seg");
}

void RecordSpool::load() {
  std::error_code ec;
  if (!fs::is_directory(options_.dir, ec)) {
    return;
  }
  for (const auto& entry : fs::directory_iterator(options_.dir, ec)) {
    const fs::path& p = entry.path();
    const std::string stem = p.stem().string();
    if (p.extension() != ".seg" || stem.empty() ||
        !std::all_of(stem.begin(), stem.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    segments_.push_back(Segment{std::stoull(stem), static_cast<uint64_t>(entry.file_size(ec))});
  }
  if (ec) {
    error_ = "cannot read spool " + options_.dir.string() + ": " + ec.message();
    spdlog::error("{}", error_);
    segments_.clear();
    return;
  }
  std::sort(segments_.begin(), segments_.end(),
            [](const Segment& a, const Segment& b) { return a.id < b.id; });
  if (segments_.empty()) {
    return;
  }
  next_id_ = segments_.back().id + 1;
  cursor_segment_ = segments_.front().id;
  cursor_offset_ = 0;
  {
    std::ifstream in(options_.dir / "cursor");
    uint64_t seg = 0, off = 0;
    if (in >> seg >> off) {
      cursor_segment_ = seg;
      cursor_offset_ = off;
    }
  }
  // Segments wholly before the cursor were delivered; a crash may have left them behind.
  while (!segments_.empty() && segments_.front().id < cursor_segment_) {
    fs::remove(segmentPath(segments_.front().id), ec);
    segments_.erase(segments_.begin());
  }
  if (segments_.empty() || segments_.front().id != cursor_segment_) {
    cursor_offset_ = 0;
  }
  for (auto& s : segments_) {
    const int fd = ::open(segmentPath(s.id).c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) {
      continue;
    }
    uint64_t offset = s.id == cursor_segment_ ? cursor_offset_ : 0;
    if (offset > s.size) {
      offset = s.size;
    }
    std::string payload;
    while (readFrame(fd, offset, s.size, &payload)) {
      offset += kHeaderBytes + payload.size();
      pending_++;
    }
    if (offset < s.size) {
      spdlog::warn("spool {}: cutting a torn or corrupt tail of {} bytes from segment {}",
                   options_.dir.string(), s.size - offset, s.id);
      if (::ftruncate(fd, static_cast<off_t>(offset)) == 0) {
        s.size = offset;
      }
    }
    ::close(fd);
    bytes_ += s.size;
  }
  if (pending_ == 0) {
    removeAllLocked();
  } else {
    cursor_segment_ =
        segments_.front().id == cursor_segment_ ? cursor_segment_ : segments_.front().id;
    spdlog::info("spool {}: {} records from a previous run wait for delivery",
                 options_.dir.string(), pending_);
  }
}

void RecordSpool::removeAllLocked() {
  if (write_fd_ >= 0) {
    ::close(write_fd_);
    write_fd_ = -1;
  }
  std::error_code ec;
  for (const auto& s : segments_) {
    fs::remove(segmentPath(s.id), ec);
  }
  fs::remove(options_.dir / "cursor", ec);
  segments_.clear();
  pending_ = 0;
  bytes_ = 0;
  cursor_offset_ = 0;
}

bool RecordSpool::openWriter(std::string* error) {
  const bool roll = segments_.empty() || segments_.back().size >= options_.segment_bytes;
  if (!roll && write_fd_ >= 0) {
    return true;
  }
  std::error_code ec;
  fs::create_directories(options_.dir, ec);
  if (ec) {
    *error = "cannot create spool directory " + options_.dir.string() + ": " + ec.message();
    return false;
  }
  const uint64_t id = roll ? next_id_ : segments_.back().id;
  const int fd = ::open(segmentPath(id).c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = errnoText("cannot open " + segmentPath(id).string());
    return false;
  }
  if (write_fd_ >= 0) {
    ::close(write_fd_);
  }
  write_fd_ = fd;
  if (roll) {
    next_id_++;
    if (segments_.empty()) {
      cursor_segment_ = id;
      cursor_offset_ = 0;
    }
    segments_.push_back(Segment{id, 0});
    syncDir(options_.dir);  // the new file's name must survive a crash as well as its bytes
  }
  return true;
}

size_t RecordSpool::append(const std::vector<std::string_view>& records) {
  std::lock_guard lock(mutex_);
  if (records.empty()) {
    return 0;
  }
  std::string error;
  if (!openWriter(&error)) {
    error_ = error;
    return 0;
  }
  std::string buf;
  size_t stored = 0;
  for (std::string_view r : records) {
    const uint64_t frame = kHeaderBytes + r.size();
    if (r.size() > kMaxFrameBytes || bytes_ + buf.size() + frame > options_.max_bytes) {
      break;
    }
    putU32(buf, static_cast<uint32_t>(r.size()));
    putU32(buf, fnv1a(r));
    buf.append(r);
    stored++;
  }
  if (buf.empty()) {
    return 0;
  }
  Segment& seg = segments_.back();
  size_t done = 0;
  while (done < buf.size()) {
    const ssize_t n = ::write(write_fd_, buf.data() + done, buf.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n <= 0) {
      error_ = errnoText("cannot write spool " + segmentPath(seg.id).string());
      // Cut the partial frame so the file stays a clean run of frames.
      if (::ftruncate(write_fd_, static_cast<off_t>(seg.size)) != 0) {
        spdlog::warn("spool {}: could not roll back a partial write", options_.dir.string());
      }
      return 0;
    }
    done += static_cast<size_t>(n);
  }
  if (::fdatasync(write_fd_) != 0) {
    error_ = errnoText("cannot sync spool " + segmentPath(seg.id).string());
    // The bytes are in the page cache and will normally reach the disk; keep them counted.
  }
  seg.size += buf.size();
  bytes_ += buf.size();
  pending_ += stored;
  return stored;
}

RecordSpool::Batch RecordSpool::peek(size_t max) {
  std::lock_guard lock(mutex_);
  Batch batch;
  batch.end_segment = cursor_segment_;
  batch.end_offset = cursor_offset_;
  for (size_t i = 0; i < segments_.size() && batch.records.size() < max; ++i) {
    const Segment& s = segments_[i];
    if (s.id < batch.end_segment) {
      continue;
    }
    const int fd = ::open(segmentPath(s.id).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      error_ = errnoText("cannot read " + segmentPath(s.id).string());
      return batch;  // try again later; the records are still there
    }
    uint64_t offset = s.id == batch.end_segment ? batch.end_offset : 0;
    std::string payload;
    while (batch.records.size() < max && readFrame(fd, offset, s.size, &payload)) {
      offset += kHeaderBytes + payload.size();
      batch.records.push_back(std::move(payload));
      payload.clear();
    }
    ::close(fd);
    if (offset < s.size && batch.records.size() < max) {
      // Damaged after it was written (a disk error): what cannot be read cannot be delivered.
      spdlog::error("spool {}: segment {} is unreadable from byte {}; skipping its rest",
                    options_.dir.string(), s.id, offset);
      offset = s.size;
    }
    batch.end_segment = s.id;
    batch.end_offset = offset;
  }
  if (batch.records.empty() && pending_ > 0) {
    // Only damaged frames were left; forget them rather than look for them forever.
    spdlog::error("spool {}: {} records could not be read back and are lost", options_.dir.string(),
                  pending_.load());
    removeAllLocked();
  }
  return batch;
}

bool RecordSpool::writeCursor(uint64_t segment, uint64_t offset, std::string* error) {
  const fs::path tmp = options_.dir / "cursor.tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = errnoText("cannot write " + tmp.string());
    return false;
  }
  const std::string text = std::to_string(segment) + " " + std::to_string(offset) + "\n";
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                  ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), (options_.dir / "cursor").c_str()) != 0) {
    *error = errnoText("cannot replace " + (options_.dir / "cursor").string());
    return false;
  }
  syncDir(options_.dir);
  return true;
}

bool RecordSpool::commit(const Batch& batch) {
  std::lock_guard lock(mutex_);
  if (batch.records.empty()) {
    return true;
  }
  pending_ -= std::min<uint64_t>(pending_.load(), batch.records.size());
  if (pending_ == 0) {
    removeAllLocked();  // fully drained: start the next outage from a clean directory
    return true;
  }
  cursor_segment_ = batch.end_segment;
  cursor_offset_ = batch.end_offset;
  std::error_code ec;
  while (segments_.size() > 1 &&
         (segments_.front().id < cursor_segment_ ||
          (segments_.front().id == cursor_segment_ && cursor_offset_ >= segments_.front().size))) {
    if (segments_.front().id == cursor_segment_) {
      cursor_segment_ = segments_[1].id;
      cursor_offset_ = 0;
    }
    bytes_ -= segments_.front().size;
    fs::remove(segmentPath(segments_.front().id), ec);
    segments_.erase(segments_.begin());
  }
  std::string error;
  if (!writeCursor(cursor_segment_, cursor_offset_, &error)) {
    error_ = error;
    spdlog::error("spool {}: {}; a restart may deliver this batch again", options_.dir.string(),
                  error);
    return false;
  }
  return true;
}

std::string RecordSpool::lastError() const {
  std::lock_guard lock(mutex_);
  return error_;
}

}  // namespace switchyard
