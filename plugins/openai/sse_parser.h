/// @file plugins/openai/sse_parser.h
/// @brief An incremental Server-Sent Events parser that accepts bytes in any split.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace switchyard {
namespace openai {

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

}  // namespace openai
}  // namespace switchyard
