/// @file upstream/http1_response_parser.h
/// @brief HTTP/1.x response head parser and body decoder for the socket upstream client.
///
/// Upstream bytes are untrusted: every input is bounded (head size, header count, chunk-size
/// and trailer lengths) and anything that is not HTTP/1.x ends in an error, never a crash or
/// an unbounded wait for more bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "switchyard/plugin/plugin_types.h"

namespace switchyard::http1 {

/// Largest response head (status line, headers, blank line) accepted.
inline constexpr size_t kMaxHeadBytes = 64 * 1024;
/// Most header fields in one response head.
inline constexpr size_t kMaxHeaderFields = 512;
/// Longest chunk-size line (size, extensions) and longest trailer section.
inline constexpr size_t kMaxChunkLineBytes = 4096;
inline constexpr size_t kMaxTrailerBytes = 64 * 1024;

/// How the body after a response head is delimited.
enum class Framing {
  kNone,    ///< no body (HEAD, 1xx, 204, 304)
  kLength,  ///< Content-Length bytes
  kChunked, ///< chunked transfer coding
  kClose,   ///< everything until the upstream closes the connection
};

struct ResponseHead {
  int status = 0;
  int minor_version = 1; ///< the x of HTTP/1.x
  HeaderList headers;
  Framing framing = Framing::kClose;
  uint64_t content_length = 0;
  /// The connection may carry another request once this response's body is read.
  bool keep_alive = false;
};

enum class HeadResult { kIncomplete, kDone, kError };

/// Finds the end of a response head in a buffer that grows between calls.
class HeadScanner {
public:
  /// @param buf everything received so far (the head starts at buf[0]).
  /// @return the head's length including the blank line, or 0 while it is incomplete.
  size_t scan(std::string_view buf);
  void reset() { scanned_ = 0; }

private:
  size_t scanned_ = 0;
};

/// Parses a complete head (as delimited by HeadScanner).
/// @param head_request the request was HEAD: the response has no body whatever it says.
/// @return false with `error` set when the head is not a valid HTTP/1.x response head.
bool parseResponseHead(std::string_view head, bool head_request, ResponseHead* out, std::string* error);

/// Turns framed body bytes into body bytes.
class BodyDecoder {
public:
  enum class Result { kMore, kDone, kError };

  void reset(Framing framing, uint64_t content_length);

  /// Consumes a prefix of `in` and appends the decoded body bytes to `out`. It stops where
  /// the body ends and after each chunk's data, so that a caller reading a stream sees one
  /// chunk (typically one server-sent event) at a time, as it was sent; feed again for more.
  /// @param consumed set to the number of bytes of `in` consumed.
  Result feed(std::string_view in, size_t* consumed, std::string& out);

  /// The upstream closed the connection: kDone when that ends the body, kError otherwise.
  Result finishAtEof();

  bool done() const { return state_ == State::kDone; }
  Framing framing() const { return framing_; }
  const char* error() const { return error_; }

private:
  enum class State {
    kBody,          ///< Content-Length or close-delimited bytes
    kSize,          ///< hex digits of a chunk size
    kSizeExt,       ///< chunk extensions up to the line's end
    kSizeLf,        ///< CR seen after the size: LF expected
    kData,          ///< chunk data
    kDataCr,        ///< CRLF after chunk data
    kDataLf,
    kTrailerStart,  ///< start of a trailer line (or of the final blank line)
    kTrailerLine,   ///< inside a trailer field
    kTrailerEndLf,  ///< CR of the final blank line seen: LF expected
    kDone,
    kError,
  };
  Result fail(const char* why);

  Framing framing_ = Framing::kNone;
  State state_ = State::kDone;
  uint64_t remaining_ = 0; ///< of the Content-Length body or of the current chunk
  uint64_t chunk_size_ = 0;
  size_t size_digits_ = 0;
  size_t line_bytes_ = 0;    ///< of the current chunk-size line
  size_t trailer_bytes_ = 0; ///< of the trailer section
  const char* error_ = "";
};

} // namespace switchyard::http1
