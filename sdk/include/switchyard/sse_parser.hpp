/// @file switchyard/sse_parser.hpp
/// @brief An incremental Server-Sent Events parser for provider plugins; accepts bytes in any
/// split.
#pragma once

#include <cstddef>
#include <cstring>
#include <functional>
#include <string>
#include <string_view>

// Header-only and compiled into each plugin, like sdk.hpp: nothing here crosses the ABI.
namespace switchyard {
namespace sdk __attribute__((visibility("hidden"))) {

  /// The position of the first CR or LF in `s` at or after `pos`, or npos. Two memchr passes:
  /// std::string_view::find_first_of("\r\n") calls memchr on the set for every byte, which
  /// was a quarter of a relayed stream event's cost.
  inline size_t findLineBreak(std::string_view s, size_t pos = 0) {
    if (pos >= s.size()) {
      return std::string_view::npos;
    }
    const char* begin = s.data() + pos;
    const size_t n = s.size() - pos;
    const void* lf = std::memchr(begin, '\n', n);
    const size_t before_lf =
        lf != nullptr ? static_cast<size_t>(static_cast<const char*>(lf) - begin) : n;
    const void* cr = before_lf > 0 ? std::memchr(begin, '\r', before_lf) : nullptr;
    if (cr != nullptr) {
      return pos + static_cast<size_t>(static_cast<const char*>(cr) - begin);
    }
    return lf != nullptr ? pos + before_lf : std::string_view::npos;
  }

  /// Follows the WHATWG event-stream rules that matter for LLM APIs: lines end in CRLF, LF or CR
  /// (a CRLF may be split across feeds), a blank line dispatches the event, `data` lines are
  /// joined with "\n", comments and other fields are ignored, a leading BOM is dropped.
  class SseParser {
   public:
    enum class Result { kOk, kStopped, kTooLarge };
    /// Receives the data of one event; returns false to stop parsing.
    using EventFn = std::function<bool(std::string_view data)>;

    /// `max_event_bytes` bounds the memory one event (or one unterminated line) may use.
    explicit SseParser(size_t max_event_bytes = 16u << 20) : max_event_bytes_(max_event_bytes) {}

    Result feed(std::string_view bytes, const EventFn& on_event);

    /// At end of input: the data of an event that lacked its terminating blank line (the spec
    /// drops it; callers may still want to recognise a final "[DONE]"). Empty if none.
    std::string finish();

   private:
    Result feedLines(std::string_view bytes, const EventFn& on_event);
    /// Returns false when the event callback asked to stop.
    bool processLine(std::string_view line, const EventFn& on_event);

    size_t max_event_bytes_;
    std::string line_;
    std::string data_;
    bool has_data_ = false;
    bool skip_lf_ = false;  // the last byte seen was a CR; a following LF belongs to it
    bool bom_checked_ = false;
    std::string bom_prefix_;
  };

  namespace detail {
  inline constexpr std::string_view kSseBom = "\xEF\xBB\xBF";
  }  // namespace detail

  inline SseParser::Result SseParser::feed(std::string_view bytes, const EventFn& on_event) {
    if (bom_checked_) {
      return feedLines(bytes, on_event);
    }
    // The BOM may itself arrive split, so hold back bytes until the first three are known.
    bom_prefix_.append(bytes);
    if (bom_prefix_.size() < detail::kSseBom.size() &&
        detail::kSseBom.substr(0, bom_prefix_.size()) == bom_prefix_) {
      return Result::kOk;
    }
    bom_checked_ = true;
    std::string pending = std::move(bom_prefix_);
    bom_prefix_.clear();
    std::string_view rest = pending;
    if (rest.substr(0, detail::kSseBom.size()) == detail::kSseBom) {
      rest.remove_prefix(detail::kSseBom.size());
    }
    return feedLines(rest, on_event);
  }

  inline SseParser::Result SseParser::feedLines(std::string_view bytes, const EventFn& on_event) {
    size_t pos = 0;
    if (skip_lf_ && !bytes.empty()) {
      skip_lf_ = false;
      if (bytes[0] == '\n') {
        pos = 1;
      }
    }
    while (pos < bytes.size()) {
      const size_t eol = findLineBreak(bytes, pos);
      if (eol == std::string_view::npos) {
        line_.append(bytes.substr(pos));
        break;
      }
      line_.append(bytes.substr(pos, eol - pos));
      pos = eol + 1;
      if (bytes[eol] == '\r') {
        if (pos < bytes.size()) {
          if (bytes[pos] == '\n') {
            ++pos;
          }
        } else {
          skip_lf_ = true;
        }
      }
      const bool go_on = processLine(line_, on_event);
      line_.clear();
      if (!go_on) {
        return Result::kStopped;
      }
      if (data_.size() > max_event_bytes_) {
        return Result::kTooLarge;
      }
    }
    return line_.size() + data_.size() > max_event_bytes_ ? Result::kTooLarge : Result::kOk;
  }

  inline bool SseParser::processLine(std::string_view line, const EventFn& on_event) {
    if (line.empty()) {
      if (!has_data_) {
        return true;
      }
      // Every data line appended a "\n"; the last one is not part of the payload.
      data_.pop_back();
      std::string data = std::move(data_);
      data_.clear();
      has_data_ = false;
      return on_event(data);
    }
    if (line.front() == ':') {
      return true;
    }
    const size_t colon = line.find(':');
    const std::string_view field = line.substr(0, colon);
    std::string_view value;
    if (colon != std::string_view::npos) {
      value = line.substr(colon + 1);
      if (!value.empty() && value.front() == ' ') {
        value.remove_prefix(1);
      }
    }
    if (field == "data") {
      data_.append(value);
      data_.push_back('\n');
      has_data_ = true;
    }
    // "event", "id" and "retry" carry nothing an OpenAI-style stream needs.
    return true;
  }

  inline std::string SseParser::finish() {
    if (!bom_checked_) {
      bom_checked_ = true;
      line_ = std::move(bom_prefix_);
    }
    if (!line_.empty()) {
      std::string line = std::move(line_);
      line_.clear();
      processLine(line, [](std::string_view) { return true; });
    }
    if (!has_data_) {
      return {};
    }
    data_.pop_back();
    has_data_ = false;
    return std::move(data_);
  }

}  // namespace )
}  // namespace switchyard
