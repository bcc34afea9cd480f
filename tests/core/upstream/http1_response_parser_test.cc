#include "upstream/http1_response_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace switchyard::http1 {
namespace {

struct Parsed {
  bool ok = false;
  std::string error;
  ResponseHead head;
  std::string body;
  bool body_done = false;
  bool body_error = false;
};

/// Runs the scanner, parser and decoder over `wire` delivered in the given pieces (split
/// positions), as the client does with bytes arriving from a socket.
Parsed run(const std::string& wire, const std::vector<size_t>& splits, bool head_request = false,
           bool eof_after = false) {
  Parsed p;
  HeadScanner scanner;
  BodyDecoder decoder;
  std::string buffered;
  bool have_head = false;
  size_t from = 0;
  std::vector<size_t> cuts = splits;
  cuts.push_back(wire.size());
  for (size_t cut : cuts) {
    buffered.append(wire, from, cut - from);
    from = cut;
    if (!have_head) {
      const size_t len = scanner.scan(buffered);
      if (len == 0) continue;
      if (!parseResponseHead(std::string_view(buffered).substr(0, len), head_request, &p.head,
                             &p.error)) {
        return p;
      }
      p.ok = true;
      have_head = true;
      buffered.erase(0, len);
      decoder.reset(p.head.framing, p.head.content_length);
    }
    for (;;) {
      size_t used = 0;
      const auto r = decoder.feed(buffered, &used, p.body);
      buffered.erase(0, used);
      if (r == BodyDecoder::Result::kError) {
        p.body_error = true;
        p.error = decoder.error();
        return p;
      }
      if (r == BodyDecoder::Result::kDone || used == 0 || buffered.empty()) break;
    }
  }
  if (have_head && eof_after && !decoder.done()) {
    if (decoder.finishAtEof() == BodyDecoder::Result::kError) {
      p.body_error = true;
      p.error = decoder.error();
    }
  }
  p.body_done = have_head && decoder.done();
  return p;
}

Parsed runWhole(const std::string& wire, bool head_request = false, bool eof_after = false) {
  return run(wire, {}, head_request, eof_after);
}

const std::string kChunked =
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: text/event-stream\r\n"
    "Transfer-Encoding: chunked\r\n"
    "\r\n"
    "5;name=value\r\nhello\r\n"
    "1 ; quoted=\"a;b\"\r\n,\r\n"
    "A\r\n world 123\r\n"
    "0\r\n"
    "X-Trailer: one\r\n"
    "X-Other: two\r\n"
    "\r\n";

TEST(Http1ResponseParser, ParsesStatusHeadersAndLengthBody) {
  Parsed p = runWhole(
      "HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nX-Spaced:   padded value  \r\n"
      "Content-Length: 7\r\n\r\n{\"a\":1}");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.head.status, 201);
  EXPECT_EQ(p.head.framing, Framing::kLength);
  EXPECT_TRUE(p.head.keep_alive);
  ASSERT_EQ(p.head.headers.size(), 3u);
  EXPECT_EQ(p.head.headers[0].first, "Content-Type");
  EXPECT_EQ(p.head.headers[1].second, "padded value");
  EXPECT_EQ(p.body, "{\"a\":1}");
  EXPECT_TRUE(p.body_done);
}

TEST(Http1ResponseParser, ChunkedWithExtensionsAndTrailersAtEverySplit) {
  const std::string expected = "hello, world 123";
  for (size_t cut = 0; cut <= kChunked.size(); ++cut) {
    Parsed p = run(kChunked, {cut});
    ASSERT_TRUE(p.ok) << "split at " << cut << ": " << p.error;
    EXPECT_FALSE(p.body_error) << "split at " << cut << ": " << p.error;
    EXPECT_EQ(p.body, expected) << "split at " << cut;
    EXPECT_TRUE(p.body_done) << "split at " << cut;
  }
  std::vector<size_t> every;
  for (size_t i = 1; i < kChunked.size(); ++i) every.push_back(i);
  Parsed p = run(kChunked, every);
  EXPECT_EQ(p.body, expected);
  EXPECT_TRUE(p.body_done);
  EXPECT_EQ(p.head.framing, Framing::kChunked);
}

TEST(Http1ResponseParser, LengthBodyAtEveryTwoSplits) {
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\nhello world";
  for (size_t a = 0; a <= wire.size(); ++a) {
    for (size_t b = a; b <= wire.size(); ++b) {
      Parsed p = run(wire, {a, b});
      ASSERT_TRUE(p.ok);
      ASSERT_EQ(p.body, "hello world") << a << "," << b;
      ASSERT_TRUE(p.body_done);
    }
  }
}

TEST(Http1ResponseParser, DecoderStopsAtTheEndOfTheBody) {
  HeadScanner scanner;
  const std::string wire = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA";
  const size_t len = scanner.scan(wire);
  ASSERT_GT(len, 0u);
  ResponseHead head;
  std::string error;
  ASSERT_TRUE(parseResponseHead(std::string_view(wire).substr(0, len), false, &head, &error));
  BodyDecoder decoder;
  decoder.reset(head.framing, head.content_length);
  std::string body;
  size_t used = 0;
  EXPECT_EQ(decoder.feed(std::string_view(wire).substr(len), &used, body), BodyDecoder::Result::kDone);
  EXPECT_EQ(body, "ok");
  EXPECT_EQ(used, 2u);

  decoder.reset(Framing::kChunked, 0);
  body.clear();
  const std::string chunked = "2\r\nok\r\n0\r\n\r\nHTTP/1.1";
  EXPECT_EQ(decoder.feed(chunked, &used, body), BodyDecoder::Result::kMore);
  EXPECT_EQ(used, 5u);  // stops after the chunk's data
  EXPECT_EQ(body, "ok");
  size_t more = 0;
  EXPECT_EQ(decoder.feed(std::string_view(chunked).substr(used), &more, body), BodyDecoder::Result::kDone);
  EXPECT_EQ(used + more, chunked.size() - 8);
  EXPECT_EQ(body, "ok");
}

TEST(Http1ResponseParser, EachChunkIsDeliveredOnItsOwn) {
  BodyDecoder decoder;
  decoder.reset(Framing::kChunked, 0);
  std::string_view wire = "7\r\nevent 1\r\n7\r\nevent 2\r\n0\r\n\r\n";
  std::vector<std::string> pieces;
  BodyDecoder::Result r = BodyDecoder::Result::kMore;
  while (r == BodyDecoder::Result::kMore && !wire.empty()) {
    std::string out;
    size_t used = 0;
    r = decoder.feed(wire, &used, out);
    wire.remove_prefix(used);
    if (!out.empty()) pieces.push_back(out);
  }
  EXPECT_EQ(r, BodyDecoder::Result::kDone);
  EXPECT_EQ(pieces, (std::vector<std::string>{"event 1", "event 2"}));
}

TEST(Http1ResponseParser, BareLineFeedsAreAccepted) {
  Parsed p = runWhole("HTTP/1.1 200 OK\nContent-Length: 2\n\nok");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.body, "ok");
  p = runWhole("HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n2\nok\n0\n\n");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.body, "ok");
  EXPECT_TRUE(p.body_done);
}

TEST(Http1ResponseParser, ResponsesWithoutBody) {
  Parsed p = runWhole("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", /*head_request=*/true);
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.head.framing, Framing::kNone);
  EXPECT_TRUE(p.body_done);
  for (const char* status : {"204 No Content", "304 Not Modified", "100 Continue", "103 Early Hints"}) {
    p = runWhole(std::string("HTTP/1.1 ") + status + "\r\nContent-Length: 10\r\n\r\n");
    ASSERT_TRUE(p.ok) << status;
    EXPECT_EQ(p.head.framing, Framing::kNone) << status;
    EXPECT_TRUE(p.body_done) << status;
  }
  p = runWhole("HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n");
  EXPECT_FALSE(p.head.keep_alive);
}

TEST(Http1ResponseParser, CloseDelimitedBodyEndsAtEof) {
  Parsed p = runWhole("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", false, true);
  ASSERT_TRUE(p.ok);
  EXPECT_EQ(p.head.framing, Framing::kClose);
  EXPECT_FALSE(p.head.keep_alive);
  EXPECT_EQ(p.body, "all of it");
  EXPECT_TRUE(p.body_done);
  // Another coding than chunked last: only the close delimits the body.
  p = runWhole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\nxyz", false, true);
  EXPECT_EQ(p.head.framing, Framing::kClose);
  EXPECT_EQ(p.body, "xyz");
}

TEST(Http1ResponseParser, EofInsideAFramedBodyIsAnError) {
  Parsed p = runWhole("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", false, true);
  EXPECT_TRUE(p.body_error);
  p = runWhole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", false, true);
  EXPECT_TRUE(p.body_error);
  p = runWhole("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n", false, true);
  EXPECT_TRUE(p.body_error);
}

TEST(Http1ResponseParser, KeepAliveRules) {
  EXPECT_TRUE(runWhole("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").head.keep_alive);
  EXPECT_FALSE(runWhole("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n").head.keep_alive);
  EXPECT_FALSE(runWhole("HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\nContent-Length: 0\r\n\r\n").head.keep_alive);
  EXPECT_FALSE(runWhole("HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").head.keep_alive);
  EXPECT_TRUE(runWhole("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n").head.keep_alive);
  // Chunked and Content-Length together: chunked framing, and the connection is not reused.
  Parsed p = runWhole("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n");
  EXPECT_EQ(p.head.framing, Framing::kChunked);
  EXPECT_FALSE(p.head.keep_alive);
  EXPECT_EQ(p.body, "ok");
}

TEST(Http1ResponseParser, FoldedHeaderContinuesTheValue) {
  Parsed p = runWhole("HTTP/1.1 200 OK\r\nX-Long: one\r\n   two\r\nContent-Length: 0\r\n\r\n");
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_EQ(p.head.headers[0].second, "one two");
}

TEST(Http1ResponseParser, MalformedHeadsAreRejected) {
  for (const char* wire : {
           "garbage\r\n\r\n",
           "HTTP/2 200 OK\r\n\r\n",
           "HTTP/1.1 20 OK\r\n\r\n",
           "HTTP/1.1 2000 OK\r\n\r\n",
           "HTTP/1.1 099 Low\r\n\r\n",
           "HTTP/1.1 abc OK\r\n\r\n",
           "HTTP/1.1 200 OK\r\nNo colon here\r\n\r\n",
           "HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n",
           "HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
           "HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 12a\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
           "HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n",
           "\r\n\r\n",
           " HTTP/1.1 200 OK\r\n\r\n",
       }) {
    Parsed p = runWhole(wire);
    EXPECT_FALSE(p.ok) << wire;
    EXPECT_FALSE(p.error.empty()) << wire;
  }
  // The same length repeated is one length.
  Parsed p = runWhole("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok");
  EXPECT_TRUE(p.ok);
  EXPECT_EQ(p.body, "ok");
}

TEST(Http1ResponseParser, TooManyHeaderFieldsAreRejected) {
  std::string wire = "HTTP/1.1 200 OK\r\n";
  for (size_t i = 0; i <= kMaxHeaderFields; ++i) wire += "X-" + std::to_string(i) + ": v\r\n";
  wire += "\r\n";
  EXPECT_FALSE(runWhole(wire).ok);
}

TEST(Http1ResponseParser, MalformedChunksAreRejected) {
  const std::string head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (const std::string& body : {
           std::string("zz\r\n"),
           std::string("\r\n"),
           std::string(";ext\r\n"),
           std::string("5\r\nhelloXX"),
           std::string("5\r\nhello\rX"),
           std::string("5\rX"),
           std::string("-5\r\n"),
           std::string("1000000000000000\r\n"),
           std::string("5;") + std::string(kMaxChunkLineBytes, 'e') + "\r\n",
           std::string("0\r\n") + std::string(kMaxTrailerBytes + 10, 'x'),
           std::string("0\r\nX: y\r\n\rZ"),
       }) {
    Parsed p = runWhole(head + body);
    ASSERT_TRUE(p.ok);
    EXPECT_TRUE(p.body_error) << body.substr(0, 40);
    EXPECT_FALSE(p.body_done);
  }
  // The largest accepted size has 15 significant hex digits; leading zeros do not count.
  BodyDecoder decoder;
  decoder.reset(Framing::kChunked, 0);
  std::string out;
  size_t used = 0;
  EXPECT_EQ(decoder.feed("00000000000000000000fffffffffffffff\r\nab", &used, out),
            BodyDecoder::Result::kMore);
  EXPECT_EQ(out, "ab");
}

TEST(Http1ResponseParser, HeadScannerWaitsForTheBlankLine) {
  HeadScanner s;
  std::string buf = "HTTP/1.1 200 OK\r\n";
  EXPECT_EQ(s.scan(buf), 0u);
  buf += "A: b\r";
  EXPECT_EQ(s.scan(buf), 0u);
  buf += "\n";
  EXPECT_EQ(s.scan(buf), 0u);
  buf += "\r";
  EXPECT_EQ(s.scan(buf), 0u);
  buf += "\nbody";
  EXPECT_EQ(s.scan(buf), buf.size() - 4);
}

}  // namespace
}  // namespace switchyard::http1
