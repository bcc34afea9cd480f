/// @file request_parser.h
/// @brief Incremental HTTP/1.1 request parser: bytes in, one complete request (head and body) out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "switchyard/http/http_types.h"

namespace switchyard::http1 {

/// Limits on what a client may send before it is refused.
struct RequestLimits {
  size_t max_head_bytes = 64 * 1024;
  size_t max_header_count = 100;
  size_t max_body_bytes = 32u * 1024 * 1024;
};

/// Why a request could not be parsed; each maps to the status a client gets.
enum class ParseError {
  kNone,
  kMalformed,     ///< 400
  kHeadTooLarge,  ///< 431
  kBodyTooLarge,  ///< 413
  kBadVersion,    ///< 505
};

/**
 * Parses one request at a time from a connection's byte stream. The caller appends what it
 * reads to a buffer and calls feed() with the unconsumed part; the parser consumes what it can.
 * Requests are fully buffered (the gateway's handlers want the whole body), so a request is
 * ready once its last body byte has arrived. Never throws on client bytes.
 */
class RequestParser {
 public:
  enum class State {
    kHead,
    kBody,
    kChunkSize,
    kChunkData,
    kChunkDataEnd,
    kTrailers,
    kDone,
    kError
  };

  explicit RequestParser(RequestLimits limits) : limits_(limits) {}

  /// Consumes bytes from `in`; returns how many were consumed. Stops after a complete request.
  size_t feed(std::string_view in);

  bool done() const { return state_ == State::kDone; }
  bool failed() const { return state_ == State::kError; }
  ParseError error() const { return error_; }
  /// The head has been parsed (method, uri, headers are set; the body may still be arriving).
  bool headParsed() const { return state_ != State::kHead && state_ != State::kError; }
  /// The client asked for "100 Continue" before it sends the body.
  bool expectsContinue() const { return expect_continue_; }
  bool bodyComplete() const { return state_ == State::kDone; }
  /// Keep the connection open after the response (HTTP/1.1 default, or 1.0 with keep-alive).
  bool keepAlive() const { return keep_alive_; }
  bool http10() const { return http10_; }

  /// The parsed request (method, uri, path, query, headers, body); valid once done().
  HttpRequest& request() { return request_; }

  /// Prepares for the next request on the same connection.
  void reset();

 private:
  size_t parseHead(std::string_view in);
  bool parseRequestLine(std::string_view line);
  bool parseHeaderLine(std::string_view line);
  bool decideFraming();
  size_t fail(ParseError e) {
    state_ = State::kError;
    error_ = e;
    return 0;
  }

  RequestLimits limits_;
  State state_ = State::kHead;
  ParseError error_ = ParseError::kNone;
  HttpRequest request_;
  uint64_t remaining_ = 0;  ///< body bytes of the current Content-Length body or chunk
  size_t scanned_ = 0;      ///< head bytes already searched for the blank line
  bool keep_alive_ = true;
  bool http10_ = false;
  bool expect_continue_ = false;
};

/// Header names and tokens compare without regard to ASCII case.
bool iequals(std::string_view a, std::string_view b);

/// The reason phrase of a status code ("OK", "Not Found", ...).
std::string_view reasonPhrase(int status);

}  // namespace switchyard::http1
