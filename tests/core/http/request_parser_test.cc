#include "http/request_parser.h"

#include <gtest/gtest.h>

#include <string>

namespace switchyard::http1 {
namespace {

/// Feeds `wire` the way a connection would: appended to a buffer `step` bytes at a time,
/// the parser consuming from the front.
RequestParser parseInSteps(const std::string& wire, size_t step, std::string* left = nullptr,
                           RequestLimits limits = {}) {
  RequestParser parser(limits);
  std::string buffer;
  for (size_t at = 0; at < wire.size() && !parser.done() && !parser.failed(); at += step) {
    buffer += wire.substr(at, step);
    buffer.erase(0, parser.feed(buffer));
  }
  if (!parser.done() && !parser.failed() && !buffer.empty()) {
    buffer.erase(0, parser.feed(buffer));
  }
  if (left != nullptr) {
    *left = buffer;
  }
  return parser;
}

TEST(RequestParser, AGetWithHeadersParsesAtEverySplit) {
  const std::string wire =
      "GET /v1/models?limit=2 HTTP/1.1\r\nHost: gw\r\nAuthorization:  Bearer k \r\n\r\n";
  for (size_t step = 1; step <= wire.size(); ++step) {
    RequestParser p = parseInSteps(wire, step);
    ASSERT_TRUE(p.done()) << step;
    EXPECT_EQ(p.request().method, "GET");
    EXPECT_EQ(p.request().uri, "/v1/models?limit=2");
    EXPECT_EQ(p.request().path, "/v1/models");
    EXPECT_EQ(p.request().query, "limit=2");
    EXPECT_EQ(p.request().header("authorization"), "Bearer k");
    EXPECT_TRUE(p.request().body.empty());
    EXPECT_TRUE(p.keepAlive());
  }
}

TEST(RequestParser, ContentLengthAndChunkedBodiesParseAtEverySplit) {
  const std::string length = "POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\nhello world";
  const std::string chunked =
      "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
      "5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n";
  for (const std::string& wire : {length, chunked}) {
    for (size_t step = 1; step <= wire.size(); ++step) {
      std::string left;
      RequestParser p = parseInSteps(wire, step, &left);
      ASSERT_TRUE(p.done()) << wire << " step " << step;
      EXPECT_EQ(p.request().body, "hello world");
      EXPECT_TRUE(left.empty());
    }
  }
}

TEST(RequestParser, PipelinedRequestsAreTakenOneAtATime) {
  RequestParser p({});
  std::string buffer = "POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\nAGET /b HTTP/1.1\r\n\r\n";
  buffer.erase(0, p.feed(buffer));
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.request().path, "/a");
  EXPECT_EQ(p.request().body, "A");
  EXPECT_EQ(buffer, "GET /b HTTP/1.1\r\n\r\n");
  p.reset();
  buffer.erase(0, p.feed(buffer));
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.request().path, "/b");
  EXPECT_TRUE(buffer.empty());
}

TEST(RequestParser, ConnectionSemanticsFollowTheVersion) {
  EXPECT_TRUE(parseInSteps("GET / HTTP/1.1\r\n\r\n", 64).keepAlive());
  EXPECT_FALSE(parseInSteps("GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 64).keepAlive());
  EXPECT_FALSE(parseInSteps("GET / HTTP/1.0\r\n\r\n", 64).keepAlive());
  RequestParser kept = parseInSteps("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 64);
  EXPECT_TRUE(kept.keepAlive());
  EXPECT_TRUE(kept.http10());
}

TEST(RequestParser, ExpectContinueIsSeenOnceTheHeadIsIn) {
  RequestParser p({});
  std::string buffer = "POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n";
  buffer.erase(0, p.feed(buffer));
  EXPECT_TRUE(p.headParsed());
  EXPECT_FALSE(p.done());
  EXPECT_TRUE(p.expectsContinue());
  buffer += "abc";
  buffer.erase(0, p.feed(buffer));
  EXPECT_TRUE(p.done());
}

TEST(RequestParser, BadInputIsRefusedWithTheRightReason) {
  const struct {
    std::string wire;
    ParseError error;
  } cases[] = {
      {"GARBAGE\r\n\r\n", ParseError::kMalformed},
      {"GET /\r\n\r\n", ParseError::kMalformed},
      {"GET / HTTP/1.1\r\nNoColon\r\n\r\n", ParseError::kMalformed},
      {"GET / HTTP/1.1\r\nA: b\r\n  folded\r\n\r\n", ParseError::kMalformed},
      {"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n", ParseError::kMalformed},
      {"G(T / HTTP/1.1\r\n\r\n", ParseError::kMalformed},
      {"GET /a b HTTP/1.1\r\n\r\n", ParseError::kMalformed},
      {"POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n",
       ParseError::kMalformed},
      {"POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n", ParseError::kMalformed},
      {"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", ParseError::kMalformed},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", ParseError::kMalformed},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", ParseError::kMalformed},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabX", ParseError::kMalformed},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
       ParseError::kMalformed},
      {"GET / HTTP/2.0\r\n\r\n", ParseError::kBadVersion},
      {"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", ParseError::kBodyTooLarge},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n" + std::string(64, 'a') +
           "\r\n40\r\n",
       ParseError::kBodyTooLarge},
      {"GET / HTTP/1.1\r\nA: " + std::string(300, 'a') + "\r\n\r\n", ParseError::kHeadTooLarge},
      {"GET / HTTP/1.1\r\nA: " + std::string(300, 'a'), ParseError::kHeadTooLarge},
  };
  RequestLimits limits;
  limits.max_body_bytes = 100;
  limits.max_head_bytes = 256;
  for (const auto& c : cases) {
    for (size_t step : {size_t{1}, size_t{7}, c.wire.size()}) {
      RequestParser p = parseInSteps(c.wire, step, nullptr, limits);
      EXPECT_TRUE(p.failed()) << c.wire << " step " << step;
      EXPECT_EQ(p.error(), c.error) << c.wire << " step " << step;
    }
  }
}

TEST(RequestParser, TooManyHeaderFieldsAreRefused) {
  std::string wire = "GET / HTTP/1.1\r\n";
  for (int i = 0; i < 101; ++i) {
    wire += "X-" + std::to_string(i) + ": v\r\n";
  }
  wire += "\r\n";
  RequestParser p = parseInSteps(wire, wire.size());
  EXPECT_EQ(p.error(), ParseError::kHeadTooLarge);
}

TEST(RequestParser, LeadingBlankLinesAndBareLineFeedsAreTolerated) {
  RequestParser p = parseInSteps("\r\n\r\nGET /x HTTP/1.1\nHost: a\n\n", 3);
  ASSERT_TRUE(p.done());
  EXPECT_EQ(p.request().path, "/x");
  EXPECT_EQ(p.request().header("host"), "a");
}

}  // namespace
}  // namespace switchyard::http1
