#include "upstream/http1_response_parser.h"

#include <strings.h>

#include <algorithm>
#include <cstring>

namespace switchyard::http1 {
namespace {

bool isTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::strchr("!#$%&'*+-.^_`|~", c) != nullptr && c != '\0';
}

bool isOws(char c) { return c == ' ' || c == '\t'; }

std::string_view trimOws(std::string_view v) {
  while (!v.empty() && isOws(v.front())) v.remove_prefix(1);
  while (!v.empty() && isOws(v.back())) v.remove_suffix(1);
  return v;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && strncasecmp(a.data(), b.data(), a.size()) == 0;
}

/// Calls f(token) for each comma-separated, trimmed, non-empty element of a list value.
template <typename F>
void forEachListElement(std::string_view v, F&& f) {
  while (!v.empty()) {
    const size_t comma = v.find(',');
    std::string_view element = trimOws(v.substr(0, comma));
    if (!element.empty()) f(element);
    if (comma == std::string_view::npos) break;
    v.remove_prefix(comma + 1);
  }
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/// Parses the status line "HTTP/1.x SSS reason".
bool parseStatusLine(std::string_view line, ResponseHead* out) {
  if (line.size() < 12 || line.compare(0, 7, "HTTP/1.") != 0) return false;
  if (line[7] != '0' && line[7] != '1') return false;
  if (line[8] != ' ') return false;
  int status = 0;
  for (size_t i = 9; i < 12; ++i) {
    if (line[i] < '0' || line[i] > '9') return false;
    status = status * 10 + (line[i] - '0');
  }
  if (status < 100 || (line.size() > 12 && line[12] != ' ')) return false;
  out->minor_version = line[7] - '0';
  out->status = status;
  return true;
}

}  // namespace

size_t HeadScanner::scan(std::string_view buf) {
  size_t i = std::min(scanned_, buf.size());
  for (;;) {
    // An empty buffer may have no storage at all, and memchr must not see a null pointer.
    const void* p = i < buf.size() ? std::memchr(buf.data() + i, '\n', buf.size() - i) : nullptr;
    if (p == nullptr) {
      scanned_ = buf.size();
      return 0;
    }
    const size_t nl = static_cast<size_t>(static_cast<const char*>(p) - buf.data());
    // A blank line after this line end closes the head; without the bytes to tell, wait here.
    if (nl + 1 >= buf.size()) {
      scanned_ = nl;
      return 0;
    }
    if (buf[nl + 1] == '\n') return nl + 2;
    if (buf[nl + 1] == '\r') {
      if (nl + 2 >= buf.size()) {
        scanned_ = nl;
        return 0;
      }
      if (buf[nl + 2] == '\n') return nl + 3;
    }
    i = nl + 1;
  }
}

bool parseResponseHead(std::string_view head, bool head_request, ResponseHead* out,
                       std::string* error) {
  out->headers.clear();
  out->status = 0;
  bool first = true;
  bool chunked = false;
  bool has_transfer_encoding = false;
  bool has_length = false;
  uint64_t length = 0;
  bool close_token = false;
  bool keep_alive_token = false;
  while (!head.empty()) {
    const size_t nl = head.find('\n');
    std::string_view line = head.substr(0, nl);
    head.remove_prefix(nl == std::string_view::npos ? head.size() : nl + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // the blank line ending the head
    if (line.find('\r') != std::string_view::npos ||
        line.find('\0') != std::string_view::npos) {
      *error = "control character in the upstream response head";
      return false;
    }
    if (first) {
      first = false;
      if (!parseStatusLine(line, out)) {
        *error = "upstream answered with something that is not an HTTP/1.x status line";
        return false;
      }
      continue;
    }
    if (isOws(line.front())) {
      // Obsolete line folding continues the previous field's value.
      if (out->headers.empty()) {
        *error = "upstream response head starts with a continuation line";
        return false;
      }
      std::string_view more = trimOws(line);
      if (!more.empty()) out->headers.back().second.append(" ").append(more);
      continue;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) {
      *error = "malformed header line in the upstream response";
      return false;
    }
    const std::string_view name = line.substr(0, colon);
    for (char c : name) {
      if (!isTokenChar(static_cast<unsigned char>(c))) {
        *error = "malformed header name in the upstream response";
        return false;
      }
    }
    if (out->headers.size() >= kMaxHeaderFields) {
      *error = "too many header fields in the upstream response";
      return false;
    }
    out->headers.emplace_back(std::string(name), std::string(trimOws(line.substr(colon + 1))));
  }
  if (first) {
    *error = "empty upstream response head";
    return false;
  }

  for (const auto& [name, value] : out->headers) {
    if (iequals(name, "transfer-encoding")) {
      has_transfer_encoding = true;
      forEachListElement(value, [&](std::string_view coding) {
        chunked = iequals(coding, "chunked");
      });
    } else if (iequals(name, "content-length")) {
      bool ok = true;
      forEachListElement(value, [&](std::string_view v) {
        if (v.empty() || v.size() > 18) {
          ok = false;
          return;
        }
        uint64_t n = 0;
        for (char c : v) {
          if (c < '0' || c > '9') {
            ok = false;
            return;
          }
          n = n * 10 + static_cast<uint64_t>(c - '0');
        }
        if (has_length && n != length) ok = false;
        has_length = true;
        length = n;
      });
      if (!ok || value.empty()) {
        *error = "invalid Content-Length in the upstream response";
        return false;
      }
    } else if (iequals(name, "connection")) {
      forEachListElement(value, [&](std::string_view token) {
        if (iequals(token, "close")) close_token = true;
        if (iequals(token, "keep-alive")) keep_alive_token = true;
      });
    }
  }

  out->content_length = 0;
  out->keep_alive = !close_token && (out->minor_version >= 1 || keep_alive_token);
  if (head_request || out->status < 200 || out->status == 204 || out->status == 304) {
    out->framing = Framing::kNone;
  } else if (has_transfer_encoding) {
    out->framing = chunked ? Framing::kChunked : Framing::kClose;
    // Both framings in one message smell of smuggling: use the chunked one, then close.
    if (has_length) out->keep_alive = false;
  } else if (has_length) {
    out->framing = Framing::kLength;
    out->content_length = length;
  } else {
    out->framing = Framing::kClose;
  }
  // After 101 the connection no longer speaks HTTP; a close-delimited body ends it.
  if (out->framing == Framing::kClose || out->status == 101) out->keep_alive = false;
  return true;
}

void BodyDecoder::reset(Framing framing, uint64_t content_length) {
  framing_ = framing;
  error_ = "";
  chunk_size_ = 0;
  size_digits_ = 0;
  line_bytes_ = 0;
  trailer_bytes_ = 0;
  remaining_ = content_length;
  switch (framing) {
    case Framing::kNone:
      state_ = State::kDone;
      break;
    case Framing::kLength:
      state_ = content_length == 0 ? State::kDone : State::kBody;
      break;
    case Framing::kClose:
      state_ = State::kBody;
      break;
    case Framing::kChunked:
      state_ = State::kSize;
      break;
  }
}

BodyDecoder::Result BodyDecoder::fail(const char* why) {
  state_ = State::kError;
  error_ = why;
  return Result::kError;
}

BodyDecoder::Result BodyDecoder::feed(std::string_view in, size_t* consumed, std::string& out) {
  size_t i = 0;
  const size_t n = in.size();
  bool chunk_ended = false;
  while (i < n && !chunk_ended && state_ != State::kDone && state_ != State::kError) {
    const char c = in[i];
    switch (state_) {
      case State::kBody: {
        if (framing_ == Framing::kClose) {
          out.append(in.data() + i, n - i);
          i = n;
          break;
        }
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, n - i));
        out.append(in.data() + i, take);
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::kDone;
        break;
      }
      case State::kSize: {
        ++i;
        ++line_bytes_;
        const int v = hexValue(c);
        if (v >= 0) {
          if (size_digits_ == 15 && chunk_size_ != 0) {
            return fail("chunk size out of range in the upstream response");
          }
          chunk_size_ = chunk_size_ * 16 + static_cast<uint64_t>(v);
          if (chunk_size_ != 0) ++size_digits_;
          if (line_bytes_ > kMaxChunkLineBytes) return fail("chunk size line too long");
          break;
        }
        if (line_bytes_ == 1) return fail("missing chunk size in the upstream response");
        if (c == ';' || isOws(c)) {
          state_ = State::kSizeExt;
        } else if (c == '\r') {
          state_ = State::kSizeLf;
        } else if (c == '\n') {
          goto size_line_done;
        } else {
          return fail("invalid chunk size in the upstream response");
        }
        break;
      }
      case State::kSizeExt: {
        const void* p = std::memchr(in.data() + i, '\n', n - i);
        const size_t end = p == nullptr ? n : static_cast<size_t>(static_cast<const char*>(p) - in.data());
        line_bytes_ += end - i;
        if (line_bytes_ > kMaxChunkLineBytes) return fail("chunk size line too long");
        i = end;
        if (p != nullptr) {
          ++i;
          goto size_line_done;
        }
        break;
      }
      case State::kSizeLf:
        ++i;
        if (c != '\n') return fail("invalid chunk size line in the upstream response");
        goto size_line_done;
      case State::kData: {
        const size_t take = static_cast<size_t>(std::min<uint64_t>(remaining_, n - i));
        out.append(in.data() + i, take);
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) {
          state_ = State::kDataCr;
          chunk_ended = true;
        }
        break;
      }
      case State::kDataCr:
        ++i;
        if (c == '\r') {
          state_ = State::kDataLf;
        } else if (c == '\n') {
          state_ = State::kSize;
        } else {
          return fail("chunk data not followed by CRLF in the upstream response");
        }
        break;
      case State::kDataLf:
        ++i;
        if (c != '\n') return fail("chunk data not followed by CRLF in the upstream response");
        state_ = State::kSize;
        break;
      case State::kTrailerStart:
        ++i;
        if (++trailer_bytes_ > kMaxTrailerBytes) return fail("upstream trailer section too long");
        if (c == '\n') {
          state_ = State::kDone;
        } else if (c == '\r') {
          state_ = State::kTrailerEndLf;
        } else {
          state_ = State::kTrailerLine;
        }
        break;
      case State::kTrailerLine: {
        const void* p = std::memchr(in.data() + i, '\n', n - i);
        const size_t end = p == nullptr ? n : static_cast<size_t>(static_cast<const char*>(p) - in.data()) + 1;
        trailer_bytes_ += end - i;
        if (trailer_bytes_ > kMaxTrailerBytes) return fail("upstream trailer section too long");
        i = end;
        if (p != nullptr) state_ = State::kTrailerStart;
        break;
      }
      case State::kTrailerEndLf:
        ++i;
        if (c != '\n') return fail("malformed trailer section in the upstream response");
        state_ = State::kDone;
        break;
      case State::kDone:
      case State::kError:
        break;
    }
    continue;
  size_line_done:
    line_bytes_ = 0;
    size_digits_ = 0;
    if (chunk_size_ == 0) {
      state_ = State::kTrailerStart;
    } else {
      remaining_ = chunk_size_;
      chunk_size_ = 0;
      state_ = State::kData;
    }
  }
  *consumed = i;
  if (state_ == State::kError) return Result::kError;
  return state_ == State::kDone ? Result::kDone : Result::kMore;
}

BodyDecoder::Result BodyDecoder::finishAtEof() {
  if (state_ == State::kDone) return Result::kDone;
  if (state_ == State::kError) return Result::kError;
  if (framing_ == Framing::kClose) {
    state_ = State::kDone;
    return Result::kDone;
  }
  return fail(framing_ == Framing::kChunked
                  ? "upstream closed the connection inside a chunked body"
                  : "upstream closed the connection before the end of the body");
}

}  // namespace switchyard::http1
