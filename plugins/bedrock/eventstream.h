// A decoder for the binary `application/vnd.amazon.eventstream` framing that Bedrock's
// ConverseStream answers with (https://docs.aws.amazon.com/transcribe/latest/dg/event-stream.html
// describes the same encoding):
//
//   [total length u32][headers length u32][prelude CRC32 u32][headers][payload][message CRC32 u32]
//
// big-endian; the prelude CRC covers the first 8 bytes, the message CRC everything before it.
// A header is [name length u8][name][value type u8][value]; only string values (type 7) are
// kept, the others are skipped by their documented sizes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard::bedrock::eventstream {

/// CRC-32 (IEEE 802.3, the zlib/gzip one), continuing from `crc` (0 to start).
uint32_t crc32(std::string_view data, uint32_t crc = 0);

struct Message {
  std::vector<std::pair<std::string, std::string>> headers;  ///< string-typed headers only
  std::string payload;

  /// The value of a string header, empty when absent.
  std::string_view header(std::string_view name) const;
};

/// Incremental decoder: bytes may arrive split anywhere, messages come out whole.
class Decoder {
 public:
  /// The largest message accepted (AWS SDKs use the same 16 MiB bound).
  static constexpr uint32_t kMaxMessageBytes = 16u << 20;

  /// Consumes `bytes`, calling `on_message` for every complete message (return false from it to
  /// stop early). Returns false on a framing error (bad length, bad CRC, bad header); error()
  /// says which, and the decoder stays failed.
  bool feed(std::string_view bytes, const std::function<bool(Message&&)>& on_message);

  /// True when no partial message is buffered.
  bool idle() const { return buffer_.empty() && !failed_; }
  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }

 private:
  bool fail(std::string why);
  /// Decodes the one whole message at the front of the buffer.
  bool decode(std::string_view frame, Message* out);

  std::string buffer_;
  size_t offset_ = 0;  ///< start of the next undecoded message in buffer_
  bool failed_ = false;
  std::string error_;
};

}  // namespace switchyard::bedrock::eventstream
