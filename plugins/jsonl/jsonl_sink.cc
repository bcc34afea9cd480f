// Log sink "jsonl": appends each call record as one line to a file and rotates it by size and
// by time (path -> path.1 -> ... -> path.<max_files>), deleting rotated files past max_files or
// older than max_age_days. Writes go straight to the file descriptor, so a batch is in the
// kernel when write_batch returns OK; a failed write is rolled back to the last whole line so
// the host's retry does not leave a torn record behind.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <switchyard/sdk.hpp>
#include <system_error>
#include <vector>

namespace switchyard {
namespace jsonl {
namespace {

using Json = nlohmann::json;

constexpr std::string_view kSource = "jsonl";
constexpr int64_t kMaxFilesLimit = 1000;
constexpr int64_t kSecondsPerDay = 86400;

int64_t nowUnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

sdk::Error configError(std::string message) {
  return sdk::Error(400, "invalid_request_error", "invalid_config",
                    "jsonl sink config: " + std::move(message));
}

int64_t positiveInteger(const Json& value, const std::string& key, int64_t min, int64_t max) {
  if (!value.is_number_integer() || value.get<int64_t>() < min || value.get<int64_t>() > max) {
    throw configError("\"" + key + "\" must be an integer from " + std::to_string(min) + " to " +
                      std::to_string(max));
  }
  return value.get<int64_t>();
}

std::string errnoText(const std::string& what, int err) {
  return what + ": " + std::strerror(err);
}

class JsonlSink : public sdk::LogSink {
 public:
  explicit JsonlSink(std::string_view config_text) {
    if (!config_text.empty()) {
      const Json config = Json::parse(config_text, nullptr, false);
      if (config.is_discarded() || !config.is_object()) {
        throw configError("must be a JSON object");
      }
      for (const auto& [key, value] : config.items()) {
        if (key == "path") {
          if (!value.is_string() || value.get<std::string>().empty()) {
            throw configError("\"path\" must be a non-empty string");
          }
          path_ = value.get<std::string>();
        } else if (key == "max_bytes") {
          max_bytes_ = static_cast<uint64_t>(positiveInteger(value, key, 1, INT64_MAX));
        } else if (key == "max_files") {
          max_files_ = static_cast<int>(positiveInteger(value, key, 0, kMaxFilesLimit));
        } else if (key == "rotate_interval") {
          // UTC-aligned periods; an integer is a period in seconds (e.g. 900 for quarter hours).
          if (value == "hourly") {
            interval_s_ = 3600;
          } else if (value == "daily") {
            interval_s_ = kSecondsPerDay;
          } else if (value == "none") {
            interval_s_ = 0;
          } else if (value.is_number_integer()) {
            interval_s_ = positiveInteger(value, key, 1, 366 * kSecondsPerDay);
          } else {
            throw configError(
                "\"rotate_interval\" must be \"hourly\", \"daily\", \"none\" or seconds");
          }
        } else if (key == "max_age_days") {
          max_age_days_ = positiveInteger(value, key, 0, 36500);
        } else {
          throw configError(
              "unknown key \"" + key +
              "\" (allowed: path, max_bytes, max_files, rotate_interval, max_age_days)");
        }
      }
    }
    // Fail at startup on a path that cannot work rather than on the first batch.
    std::string error;
    if (!open(error)) {
      throw configError(error);
    }
    applyRetention();
  }

  ~JsonlSink() override { close(); }

  sy_status writeBatch(const std::vector<std::string_view>& records,
                       const sdk::Output& out) override {
    std::string error;
    if (!ensureOpen(error)) {
      return fail(out, error);
    }
    if (interval_s_ > 0 && size_ > 0 && nowUnixSeconds() / interval_s_ != period_) {
      if (!rotate(error)) {
        return fail(out, error);
      }
    }
    std::string pending;
    for (std::string_view record : records) {
      // A record is one JSON value; a trailing newline would leave a blank line.
      while (!record.empty() && (record.back() == '\n' || record.back() == '\r')) {
        record.remove_suffix(1);
      }
      const uint64_t line_bytes = record.size() + 1;
      const uint64_t used = size_ + pending.size();
      if (used > 0 && used + line_bytes > max_bytes_) {
        if (!writeAll(pending, error) || !rotate(error)) {
          return fail(out, error);
        }
        pending.clear();
      }
      pending.append(record);
      pending.push_back('\n');
    }
    if (!writeAll(pending, error)) {
      return fail(out, error);
    }
    return SY_OK;
  }

 private:
  bool open(std::string& error) {
    const std::filesystem::path path(path_);
    if (path.has_parent_path()) {
      std::error_code ec;
      std::filesystem::create_directories(path.parent_path(), ec);
      if (ec) {
        error = "cannot create directory " + path.parent_path().string() + ": " + ec.message();
        return false;
      }
    }
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (fd_ < 0) {
      error = errnoText("cannot open " + path_, errno);
      return false;
    }
    struct stat st {};
    if (::fstat(fd_, &st) != 0) {
      error = errnoText("cannot stat " + path_, errno);
      close();
      return false;
    }
    size_ = static_cast<uint64_t>(st.st_size);
    inode_ = st.st_ino;
    device_ = st.st_dev;
    // A file carried over from before a restart belongs to the period it was last written in.
    if (interval_s_ > 0) {
      period_ =
          (size_ > 0 ? static_cast<int64_t>(st.st_mtim.tv_sec) : nowUnixSeconds()) / interval_s_;
    }
    return true;
  }

  /// Deletes rotated files older than max_age_days (max_files is kept by rotate()).
  void applyRetention() {
    if (max_age_days_ <= 0) {
      return;
    }
    const int64_t cutoff = nowUnixSeconds() - max_age_days_ * kSecondsPerDay;
    for (int i = 1; i <= kMaxFilesLimit; ++i) {
      const std::string file = path_ + "." + std::to_string(i);
      struct stat st {};
      if (::stat(file.c_str(), &st) != 0) {
        break;
      }
      if (st.st_mtim.tv_sec < cutoff && ::unlink(file.c_str()) != 0) {
        sdk::Host::log(SY_LOG_WARN, kSource, errnoText("cannot remove " + file, errno));
      }
    }
  }

  void close() {
    if (fd_ >= 0) {
      ::close(fd_);
      fd_ = -1;
    }
  }

  /// Reopens when the file was moved or deleted behind our back (an external logrotate), so
  /// records do not vanish into an unlinked inode.
  bool ensureOpen(std::string& error) {
    if (fd_ >= 0) {
      struct stat st {};
      if (::stat(path_.c_str(), &st) == 0 && st.st_ino == inode_ && st.st_dev == device_) {
        return true;
      }
      close();
    }
    return open(error);
  }

  bool writeAll(std::string_view bytes, std::string& error) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::write(fd_, bytes.data() + done, bytes.size() - done);
      if (n < 0 && errno == EINTR) {
        continue;
      }
      if (n <= 0) {
        const int err = n < 0 ? errno : EIO;
        // Drop the partial line; the host retries the whole batch.
        if (::ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
          sdk::Host::log(SY_LOG_WARN, kSource, "could not roll back a partial write");
        }
        error = errnoText("cannot write " + path_, err);
        return false;
      }
      done += static_cast<size_t>(n);
    }
    size_ += bytes.size();
    return true;
  }

  bool rotate(std::string& error) {
    close();
    if (max_files_ == 0) {
      if (::unlink(path_.c_str()) != 0 && errno != ENOENT) {
        error = errnoText("cannot remove " + path_, errno);
        return false;
      }
      return open(error);
    }
    const auto numbered = [&](int i) { return path_ + "." + std::to_string(i); };
    if (::unlink(numbered(max_files_).c_str()) != 0 && errno != ENOENT) {
      error = errnoText("cannot remove " + numbered(max_files_), errno);
      return false;
    }
    for (int i = max_files_ - 1; i >= 1; --i) {
      if (::rename(numbered(i).c_str(), numbered(i + 1).c_str()) != 0 && errno != ENOENT) {
        error = errnoText("cannot rename " + numbered(i), errno);
        return false;
      }
    }
    if (::rename(path_.c_str(), numbered(1).c_str()) != 0 && errno != ENOENT) {
      error = errnoText("cannot rename " + path_, errno);
      return false;
    }
    const bool opened = open(error);
    applyRetention();
    return opened;
  }

  sy_status fail(const sdk::Output& out, const std::string& error) {
    sdk::Host::log(SY_LOG_WARN, kSource, error);
    out.setError(500, "internal_error", "io_error", error);
    return SY_ERR_INTERNAL;
  }

  std::string path_ = "var/log/calls.jsonl";
  uint64_t max_bytes_ = 104857600;
  int max_files_ = 5;
  int64_t interval_s_ = 0;    // 0: no time rotation
  int64_t max_age_days_ = 0;  // 0: rotated files are kept by count only
  int64_t period_ = 0;        // the interval the current file belongs to
  int fd_ = -1;
  uint64_t size_ = 0;
  ino_t inode_ = 0;
  dev_t device_ = 0;
};

}  // namespace
}  // namespace jsonl
}  // namespace switchyard

SY_PLUGIN("jsonl", "1.0.0", "Switchyard", "Call records as JSON lines, rotated by size and time",
          switchyard::sdk::logSink<switchyard::jsonl::JsonlSink>(
              "jsonl", "Appends call records to a JSON-lines file, rotated by size and time"))
