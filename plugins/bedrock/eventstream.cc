#include "eventstream.h"

#include <array>

namespace switchyard::bedrock::eventstream {
namespace {

constexpr size_t kPreludeBytes = 12;  // total length, headers length, prelude CRC
constexpr size_t kMinMessageBytes = kPreludeBytes + 4;

constexpr std::array<uint32_t, 256> makeCrcTable() {
  std::array<uint32_t, 256> table{};
  for (uint32_t i = 0; i < 256; ++i) {
    uint32_t c = i;
    for (int k = 0; k < 8; ++k) {
      c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    table[i] = c;
  }
  return table;
}
constexpr auto kCrcTable = makeCrcTable();

uint32_t readU32(std::string_view s, size_t at) {
  return (uint32_t(uint8_t(s[at])) << 24) | (uint32_t(uint8_t(s[at + 1])) << 16) |
         (uint32_t(uint8_t(s[at + 2])) << 8) | uint32_t(uint8_t(s[at + 3]));
}

uint16_t readU16(std::string_view s, size_t at) {
  return static_cast<uint16_t>((uint8_t(s[at]) << 8) | uint8_t(s[at + 1]));
}

/// Size of a fixed-size header value of `type`, or -1 for variable-size / unknown types.
int fixedValueSize(uint8_t type) {
  switch (type) {
    case 0:  // bool true
    case 1:  // bool false
      return 0;
    case 2:  // byte
      return 1;
    case 3:  // short
      return 2;
    case 4:  // integer
      return 4;
    case 5:  // long
    case 8:  // timestamp
      return 8;
    case 9:  // uuid
      return 16;
    default:
      return -1;
  }
}

}  // namespace

uint32_t crc32(std::string_view data, uint32_t crc) {
  crc = ~crc;
  for (unsigned char c : data) {
    crc = kCrcTable[(crc ^ c) & 0xFF] ^ (crc >> 8);
  }
  return ~crc;
}

std::string_view Message::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n == name) return v;
  }
  return {};
}

bool Decoder::fail(std::string why) {
  failed_ = true;
  error_ = std::move(why);
  buffer_.clear();
  offset_ = 0;
  return false;
}

bool Decoder::feed(std::string_view bytes, const std::function<bool(Message&&)>& on_message) {
  if (failed_) return false;
  buffer_.append(bytes);
  bool keep_going = true;
  while (keep_going && buffer_.size() - offset_ >= kPreludeBytes) {
    const std::string_view rest = std::string_view(buffer_).substr(offset_);
    // The prelude is checked before trusting the length in it, so a corrupt length never makes
    // the decoder wait for (or buffer) bytes that will not come.
    if (crc32(rest.substr(0, 8)) != readU32(rest, 8)) {
      return fail("event stream prelude CRC mismatch");
    }
    const uint32_t total = readU32(rest, 0);
    const uint32_t headers_len = readU32(rest, 4);
    if (total < kMinMessageBytes || total > kMaxMessageBytes) {
      return fail("event stream message length out of range");
    }
    if (headers_len > total - kMinMessageBytes) {
      return fail("event stream headers length exceeds the message");
    }
    if (rest.size() < total) break;  // wait for the rest of this message
    Message message;
    if (!decode(rest.substr(0, total), &message)) return false;
    offset_ += total;
    keep_going = on_message(std::move(message));
  }
  // Drop consumed bytes now and then rather than on every message.
  if (offset_ > 0 && (offset_ == buffer_.size() || offset_ > (64u << 10))) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  return true;
}

bool Decoder::decode(std::string_view frame, Message* out) {
  const size_t total = frame.size();
  if (crc32(frame.substr(0, total - 4)) != readU32(frame, total - 4)) {
    return fail("event stream message CRC mismatch");
  }
  const size_t headers_len = readU32(frame, 4);
  std::string_view headers = frame.substr(kPreludeBytes, headers_len);
  while (!headers.empty()) {
    const size_t name_len = uint8_t(headers[0]);
    if (name_len == 0 || headers.size() < 1 + name_len + 1) {
      return fail("event stream header is truncated");
    }
    std::string name(headers.substr(1, name_len));
    const uint8_t type = uint8_t(headers[1 + name_len]);
    headers.remove_prefix(2 + name_len);
    if (type == 6 || type == 7) {  // byte array or string: u16 length + bytes
      if (headers.size() < 2 || headers.size() < 2u + readU16(headers, 0)) {
        return fail("event stream header value is truncated");
      }
      const size_t value_len = readU16(headers, 0);
      if (type == 7) {
        out->headers.emplace_back(std::move(name), std::string(headers.substr(2, value_len)));
      }
      headers.remove_prefix(2 + value_len);
      continue;
    }
    const int size = fixedValueSize(type);
    if (size < 0 || headers.size() < size_t(size)) {
      return fail("event stream header has an unknown type or is truncated");
    }
    headers.remove_prefix(size_t(size));
  }
  out->payload = std::string(
      frame.substr(kPreludeBytes + headers_len, total - kPreludeBytes - headers_len - 4));
  return true;
}

}  // namespace switchyard::bedrock::eventstream
