#include "sse_parser.h"

namespace switchyard {
namespace openai {
namespace {
constexpr std::string_view kBom = "\xEF\xBB\xBF";
}  // namespace

SseParser::Result SseParser::feed(std::string_view bytes, const EventFn& on_event) {
  if (bom_checked_) {
    return feedLines(bytes, on_event);
  }
  // The BOM may itself arrive split, so hold back bytes until the first three are known.
  bom_prefix_.append(bytes);
  if (bom_prefix_.size() < kBom.size() && kBom.substr(0, bom_prefix_.size()) == bom_prefix_) {
    return Result::kOk;
  }
  bom_checked_ = true;
  std::string pending = std::move(bom_prefix_);
  bom_prefix_.clear();
  std::string_view rest = pending;
  if (rest.substr(0, kBom.size()) == kBom) {
    rest.remove_prefix(kBom.size());
  }
  return feedLines(rest, on_event);
}

SseParser::Result SseParser::feedLines(std::string_view bytes, const EventFn& on_event) {
  size_t pos = 0;
  if (skip_lf_ && !bytes.empty()) {
    skip_lf_ = false;
    if (bytes[0] == '\n') {
      pos = 1;
    }
  }
  while (pos < bytes.size()) {
    const size_t eol = bytes.find_first_of("\r\n", pos);
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

bool SseParser::processLine(std::string_view line, const EventFn& on_event) {
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

std::string SseParser::finish() {
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

}  // namespace openai
}  // namespace switchyard
