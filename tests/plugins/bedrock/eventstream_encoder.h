/// @file eventstream_encoder.h
/// @brief Test fixture: encodes application/vnd.amazon.eventstream frames the way Bedrock
/// sends them. Its CRCs come from zlib, not from the plugin's own CRC code, so the plugin's
/// decoder is checked against an independent implementation.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace switchyard::testing::eventstream {

inline void putU32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

inline uint32_t zcrc(const std::string& bytes) {
  return static_cast<uint32_t>(
      ::crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
}

/// One message with string (type 7) headers.
inline std::string encode(const std::vector<std::pair<std::string, std::string>>& headers,
                          const std::string& payload) {
  std::string h;
  for (const auto& [name, value] : headers) {
    h.push_back(static_cast<char>(name.size()));
    h += name;
    h.push_back(7);
    h.push_back(static_cast<char>(value.size() >> 8));
    h.push_back(static_cast<char>(value.size() & 0xFF));
    h += value;
  }
  std::string out;
  putU32(out, static_cast<uint32_t>(12 + h.size() + payload.size() + 4));
  putU32(out, static_cast<uint32_t>(h.size()));
  putU32(out, zcrc(out));
  out += h;
  out += payload;
  putU32(out, zcrc(out));
  return out;
}

/// A ConverseStream event ("messageStart", "contentBlockDelta", ...).
inline std::string event(const std::string& type, const nlohmann::ordered_json& payload) {
  return encode(
      {{":event-type", type}, {":content-type", "application/json"}, {":message-type", "event"}},
      payload.dump());
}

/// An in-band exception ("throttlingException", "validationException", ...).
inline std::string exception(const std::string& type, const std::string& message) {
  return encode({{":exception-type", type},
                 {":content-type", "application/json"},
                 {":message-type", "exception"}},
                nlohmann::json{{"message", message}}.dump());
}

}  // namespace switchyard::testing::eventstream
