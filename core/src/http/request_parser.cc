#include "http/request_parser.h"

#include <strings.h>

#include <algorithm>
#include <charconv>

namespace switchyard::http1 {
namespace {

bool isTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
    return true;
  }
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

/// Whether a comma-separated header value lists `token` (case-insensitive).
bool listsToken(std::string_view value, std::string_view token) {
  while (!value.empty()) {
    const size_t comma = value.find(',');
    if (iequals(trim(value.substr(0, comma)), token)) {
      return true;
    }
    if (comma == std::string_view::npos) {
      break;
    }
    value.remove_prefix(comma + 1);
  }
  return false;
}

/// One line without its terminator; tolerates a bare LF as the terminator, as Poco and nginx do.
std::string_view stripEol(std::string_view line) {
  if (!line.empty() && line.back() == '\r') {
    line.remove_suffix(1);
  }
  return line;
}

constexpr size_t kMaxChunkLine = 4096;

}  // namespace

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

void RequestParser::reset() {
  state_ = State::kHead;
  error_ = ParseError::kNone;
  // Keep the buffers of a keep-alive connection's last request for its next one, but not a
  // large body's: an idle connection should not pin megabytes.
  request_.request_id.clear();
  request_.method.clear();
  request_.path.clear();
  request_.query.clear();
  request_.uri.clear();
  request_.headers.clear();
  request_.peer.clear();
  if (request_.body.capacity() > 64 * 1024) {
    std::string().swap(request_.body);
  } else {
    request_.body.clear();
  }
  remaining_ = 0;
  scanned_ = 0;
  keep_alive_ = true;
  http10_ = false;
  expect_continue_ = false;
}

size_t RequestParser::feed(std::string_view in) {
  size_t used = 0;
  while (used < in.size() || state_ == State::kHead) {
    const std::string_view rest = in.substr(used);
    switch (state_) {
      case State::kHead: {
        const size_t n = parseHead(rest);
        if (n == 0) {
          return state_ == State::kError ? 0 : used;
        }
        used += n;
        break;
      }
      case State::kBody: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
        request_.body.append(rest.data(), n);
        used += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          state_ = State::kDone;
        }
        break;
      }
      case State::kChunkSize: {
        const size_t eol = rest.find('\n');
        if (eol == std::string_view::npos) {
          if (rest.size() > kMaxChunkLine) {
            return fail(ParseError::kMalformed);
          }
          return used;
        }
        std::string_view line = stripEol(rest.substr(0, eol));
        line = line.substr(0, line.find(';'));  // chunk extensions carry nothing we use
        line = trim(line);
        uint64_t size = 0;
        const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), size, 16);
        if (line.empty() || ec != std::errc() || end != line.data() + line.size()) {
          return fail(ParseError::kMalformed);
        }
        if (size > limits_.max_body_bytes || request_.body.size() + size > limits_.max_body_bytes) {
          return fail(ParseError::kBodyTooLarge);
        }
        used += eol + 1;
        remaining_ = size;
        state_ = size == 0 ? State::kTrailers : State::kChunkData;
        scanned_ = 0;
        break;
      }
      case State::kChunkData: {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(remaining_, rest.size()));
        request_.body.append(rest.data(), n);
        used += n;
        remaining_ -= n;
        if (remaining_ == 0) {
          state_ = State::kChunkDataEnd;
        }
        break;
      }
      case State::kChunkDataEnd: {
        if (rest[0] == '\n') {
          used += 1;
        } else if (rest[0] == '\r') {
          if (rest.size() < 2) {
            return used;
          }
          if (rest[1] != '\n') {
            return fail(ParseError::kMalformed);
          }
          used += 2;
        } else {
          return fail(ParseError::kMalformed);
        }
        state_ = State::kChunkSize;
        break;
      }
      case State::kTrailers: {
        const size_t eol = rest.find('\n');
        if (eol == std::string_view::npos) {
          if (scanned_ + rest.size() > limits_.max_head_bytes) {
            return fail(ParseError::kHeadTooLarge);
          }
          return used;
        }
        used += eol + 1;
        scanned_ += eol + 1;
        if (stripEol(rest.substr(0, eol)).empty()) {
          state_ = State::kDone;  // trailers are read and dropped: nothing downstream uses them
        }
        break;
      }
      case State::kDone:
      case State::kError:
        return used;
    }
    if (state_ == State::kDone || state_ == State::kError) {
      return used;
    }
  }
  return used;
}

size_t RequestParser::parseHead(std::string_view in) {
  // Leading blank lines before a request line are ignored (RFC 9112 2.2).
  size_t skipped = 0;
  while (skipped < in.size() && (in[skipped] == '\r' || in[skipped] == '\n')) {
    ++skipped;
  }
  if (skipped > 0 && scanned_ == 0) {
    return skipped;
  }
  if (in.empty()) {
    return 0;
  }
  const size_t from = scanned_ > 3 ? scanned_ - 3 : 0;
  size_t end = std::string_view::npos;
  size_t head_len = 0;
  for (size_t i = in.find('\n', from); i != std::string_view::npos; i = in.find('\n', i + 1)) {
    if (i + 1 < in.size() && in[i + 1] == '\n') {
      end = i;
      head_len = i + 2;
      break;
    }
    if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n') {
      end = i;
      head_len = i + 3;
      break;
    }
  }
  if (end == std::string_view::npos) {
    if (in.size() > limits_.max_head_bytes) {
      return fail(ParseError::kHeadTooLarge);
    }
    scanned_ = in.size();
    return 0;
  }
  if (head_len > limits_.max_head_bytes) {
    return fail(ParseError::kHeadTooLarge);
  }
  std::string_view head = in.substr(0, end + 1);
  size_t eol = head.find('\n');
  if (!parseRequestLine(stripEol(head.substr(0, eol)))) {
    return 0;
  }
  head.remove_prefix(eol + 1);
  while (!head.empty()) {
    eol = head.find('\n');
    if (!parseHeaderLine(stripEol(head.substr(0, eol)))) {
      return 0;
    }
    head.remove_prefix(eol + 1);
  }
  if (!decideFraming()) {
    return 0;
  }
  return head_len;
}

bool RequestParser::parseRequestLine(std::string_view line) {
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == 0 || sp2 == std::string_view::npos || sp2 == sp1 + 1) {
    fail(ParseError::kMalformed);
    return false;
  }
  const std::string_view method = line.substr(0, sp1);
  const std::string_view uri = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!std::all_of(method.begin(), method.end(), isTokenChar)) {
    fail(ParseError::kMalformed);
    return false;
  }
  for (const char c : uri) {
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) {
      fail(ParseError::kMalformed);
      return false;
    }
  }
  if (version == "HTTP/1.1") {
    http10_ = false;
    keep_alive_ = true;
  } else if (version == "HTTP/1.0") {
    http10_ = true;
    keep_alive_ = false;
  } else if (version.size() == 8 && version.substr(0, 5) == "HTTP/") {
    fail(ParseError::kBadVersion);
    return false;
  } else {
    fail(ParseError::kMalformed);
    return false;
  }
  request_.method.assign(method);
  request_.uri.assign(uri);
  const size_t q = uri.find('?');
  request_.path.assign(uri.substr(0, q));
  if (q != std::string_view::npos) {
    request_.query.assign(uri.substr(q + 1));
  }
  return true;
}

bool RequestParser::parseHeaderLine(std::string_view line) {
  if (line.empty() || line.front() == ' ' || line.front() == '\t') {
    fail(ParseError::kMalformed);  // obsolete line folding is refused, as RFC 9112 allows
    return false;
  }
  const size_t colon = line.find(':');
  if (colon == 0 || colon == std::string_view::npos) {
    fail(ParseError::kMalformed);
    return false;
  }
  const std::string_view name = line.substr(0, colon);
  if (!std::all_of(name.begin(), name.end(), isTokenChar)) {
    fail(ParseError::kMalformed);
    return false;
  }
  if (request_.headers.size() >= limits_.max_header_count) {
    fail(ParseError::kHeadTooLarge);
    return false;
  }
  request_.headers.emplace_back(std::string(name), std::string(trim(line.substr(colon + 1))));
  return true;
}

bool RequestParser::decideFraming() {
  bool chunked = false;
  bool has_length = false;
  uint64_t length = 0;
  for (const auto& [name, value] : request_.headers) {
    if (iequals(name, "content-length")) {
      uint64_t v = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
      if (value.empty() || ec != std::errc() || end != value.data() + value.size() ||
          (has_length && v != length)) {
        fail(ParseError::kMalformed);
        return false;
      }
      has_length = true;
      length = v;
    } else if (iequals(name, "transfer-encoding")) {
      // Only "chunked" as the final coding frames a request body (RFC 9112 6.3); anything
      // else cannot be delimited, and is refused rather than guessed at.
      std::string_view v = trim(value);
      const size_t comma = v.rfind(',');
      if (!iequals(trim(comma == std::string_view::npos ? v : v.substr(comma + 1)), "chunked")) {
        fail(ParseError::kMalformed);
        return false;
      }
      chunked = true;
    } else if (iequals(name, "connection")) {
      if (listsToken(value, "close")) {
        keep_alive_ = false;
      } else if (http10_ && listsToken(value, "keep-alive")) {
        keep_alive_ = true;
      }
    } else if (iequals(name, "expect")) {
      expect_continue_ = !http10_ && iequals(trim(value), "100-continue");
    }
  }
  if (chunked && has_length) {
    fail(ParseError::kMalformed);  // both framings at once is how requests get smuggled
    return false;
  }
  if (chunked) {
    if (http10_) {
      fail(ParseError::kMalformed);
      return false;
    }
    state_ = State::kChunkSize;
    scanned_ = 0;
    return true;
  }
  if (length > limits_.max_body_bytes) {
    fail(ParseError::kBodyTooLarge);
    return false;
  }
  if (length > 0) {
    // A client's claim is not memory it may pin: reserve at most 1 MiB up front.
    request_.body.reserve(static_cast<size_t>(std::min<uint64_t>(length, 1u << 20)));
    remaining_ = length;
    state_ = State::kBody;
  } else {
    state_ = State::kDone;
  }
  return true;
}

std::string_view reasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 206:
      return "Partial Content";
    case 301:
      return "Moved Permanently";
    case 302:
      return "Found";
    case 303:
      return "See Other";
    case 304:
      return "Not Modified";
    case 307:
      return "Temporary Redirect";
    case 308:
      return "Permanent Redirect";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 402:
      return "Payment Required";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 406:
      return "Not Acceptable";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 410:
      return "Gone";
    case 411:
      return "Length Required";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 425:
      return "Too Early";
    case 429:
      return "Too Many Requests";
    case 431:
      return "Request Header Fields Too Large";
    case 499:
      return "Client Closed Request";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return status < 200   ? "Informational"
             : status < 300 ? "Success"
             : status < 400 ? "Redirection"
             : status < 500 ? "Client Error"
                            : "Server Error";
  }
}

}  // namespace switchyard::http1
