// Unit tests of the bedrock plugin's two wire-level pieces, compiled from the plugin's sources:
// the SigV4 signer against AWS's published test vectors, and the event stream decoder against
// frames from AWS's own SDK test vectors and from an independent (zlib-CRC) encoder.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "eventstream.h"
#include "eventstream_encoder.h"
#include "sigv4.h"

namespace switchyard::bedrock {
namespace {

// ---- SigV4 -------------------------------------------------------------------------------
// aws-sig-v4-test-suite
// (https://docs.aws.amazon.com/general/latest/gr/signature-v4-test-suite.html): service "service",
// region us-east-1, 2015-08-30T12:36:00Z, the documentation credentials.
const sigv4::Credentials kSuiteCredentials{"AKIDEXAMPLE",
                                           "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", ""};
const sigv4::Scope kSuiteScope{"us-east-1", "service", "20150830T123600Z"};
const std::string kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
const std::string kSuitePrefix =
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, ";

sigv4::Signed suite(std::string_view method, std::string_view query,
                    std::vector<std::pair<std::string, std::string>> extra = {},
                    const sigv4::Credentials& credentials = kSuiteCredentials) {
  sigv4::Request r{std::string(method), "/", std::string(query), {}, kEmptySha256};
  r.headers = {{"Host", "example.amazonaws.com"}, {"X-Amz-Date", "20150830T123600Z"}};
  for (auto& h : extra) r.headers.push_back(std::move(h));
  return sigv4::sign(r, kSuiteScope, credentials);
}

TEST(SigV4, GetVanilla) {
  const auto s = suite("GET", "");
  EXPECT_EQ(
      s.canonical_request,
      "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n" +
          kEmptySha256);
  EXPECT_EQ(s.authorization,
            kSuitePrefix +
                "SignedHeaders=host;x-amz-date, "
                "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31");
}

TEST(SigV4, PostVanilla) {
  const auto s = suite("POST", "");
  // The suite publishes the string to sign too.
  EXPECT_EQ(s.string_to_sign,
            "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n"
            "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87");
  EXPECT_EQ(s.signature, "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b");
}

TEST(SigV4, GetVanillaQueryOrderKeyCase) {
  const auto s = suite("GET", "Param2=value2&Param1=value1");
  EXPECT_EQ(s.signature, "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500");
}

TEST(SigV4, PostHeaderValueCase) {
  const auto s = suite("POST", "", {{"My-Header1", "VALUE1"}});
  EXPECT_EQ(s.signed_headers, "host;my-header1;x-amz-date");
  EXPECT_EQ(s.signature, "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d");
}

TEST(SigV4, PostStsHeaderBefore) {
  sigv4::Credentials c = kSuiteCredentials;
  c.session_token =
      "AQoDYXdzEPT//////////"
      "wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwth"
      "Ax7mSEI/qkPpKPi/"
      "kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcH"
      "NVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+"
      "scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";
  const auto s = suite("POST", "", {{"X-Amz-Security-Token", c.session_token}}, c);
  EXPECT_EQ(s.authorization,
            kSuitePrefix +
                "SignedHeaders=host;x-amz-date;x-amz-security-token, "
                "Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead");
}

// The S3 "GET Object" example of the SigV4 documentation
// (https://docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html): signs
// x-amz-content-sha256 and a Range header.
TEST(SigV4, S3GetObjectExample) {
  sigv4::Request r{"GET", "/test.txt", "", {}, kEmptySha256};
  r.headers = {{"Host", "examplebucket.s3.amazonaws.com"},
               {"Range", "bytes=0-9"},
               {"x-amz-content-sha256", kEmptySha256},
               {"x-amz-date", "20130524T000000Z"}};
  const auto s =
      sigv4::sign(r, {"us-east-1", "s3", "20130524T000000Z"},
                  {"AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", ""});
  EXPECT_EQ(sigv4::sha256Hex(s.canonical_request),
            "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2dc43964946972");
  EXPECT_EQ(s.signature, "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4, CanonicalUriEncodesTheModelIdTwice) {
  const std::string wire =
      "/model/" + sigv4::uriEncode("anthropic.claude-3-5-sonnet-20240620-v1:0") + "/converse";
  EXPECT_EQ(wire, "/model/anthropic.claude-3-5-sonnet-20240620-v1%3A0/converse");
  EXPECT_EQ(sigv4::canonicalUri(wire),
            "/model/anthropic.claude-3-5-sonnet-20240620-v1%253A0/converse");
  // An inference-profile ARN is one segment: its '/' is encoded too.
  EXPECT_EQ(sigv4::uriEncode("arn:aws:bedrock:us-east-1:123:inference-profile/us.x"),
            "arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.x");
}

TEST(SigV4, AmzDate) {
  EXPECT_EQ(sigv4::amzDate(1440938160000), "20150830T123600Z");
  EXPECT_EQ(sigv4::amzDate(1718884800999), "20240620T120000Z");
}

// ---- Event stream -------------------------------------------------------------------------
// Vectors from the AWS SDK for JavaScript v3 (packages/eventstream-marshaller TestVectors).
std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int v : b) s.push_back(static_cast<char>(v));
  return s;
}

const std::string kPayloadOneStrHeader =
    bytes({0,   0,   0,   61,  0,   0,   0,   32,  7,   253, 131, 150, 12,  99,  111, 110,
           116, 101, 110, 116, 45,  116, 121, 112, 101, 7,   0,   16,  97,  112, 112, 108,
           105, 99,  97,  116, 105, 111, 110, 47,  106, 115, 111, 110, 123, 39,  102, 111,
           111, 39,  58,  39,  98,  97,  114, 39,  125, 141, 156, 8,   177});

std::vector<eventstream::Message> decodeAll(const std::string& data, bool* ok = nullptr,
                                            size_t split = 0) {
  eventstream::Decoder d;
  std::vector<eventstream::Message> out;
  auto sink = [&](eventstream::Message&& m) {
    out.push_back(std::move(m));
    return true;
  };
  bool good = true;
  if (split > 0 && split < data.size()) {
    good = d.feed(data.substr(0, split), sink) && d.feed(data.substr(split), sink);
  } else {
    good = d.feed(data, sink);
  }
  if (ok != nullptr) *ok = good;
  return out;
}

TEST(EventStream, AwsVectorEmptyMessage) {
  bool ok = false;
  auto m = decodeAll(bytes({0, 0, 0, 16, 0, 0, 0, 0, 5, 194, 72, 235, 125, 152, 200, 255}), &ok);
  ASSERT_TRUE(ok);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(m[0].headers.empty());
  EXPECT_TRUE(m[0].payload.empty());
}

TEST(EventStream, AwsVectorPayloadNoHeaders) {
  bool ok = false;
  auto m = decodeAll(bytes({0,   0,   0,  29, 0,  0,  0,  0,   253, 82,  140, 90,  123, 39, 102,
                            111, 111, 39, 58, 39, 98, 97, 114, 39,  125, 195, 101, 57,  54}),
                     &ok);
  ASSERT_TRUE(ok);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0].payload, "{'foo':'bar'}");
}

TEST(EventStream, AwsVectorOneStringHeaderAtEverySplit) {
  for (size_t split = 0; split < kPayloadOneStrHeader.size(); ++split) {
    bool ok = false;
    auto m = decodeAll(kPayloadOneStrHeader, &ok, split);
    ASSERT_TRUE(ok) << split;
    ASSERT_EQ(m.size(), 1u) << split;
    EXPECT_EQ(m[0].header("content-type"), "application/json");
    EXPECT_EQ(m[0].payload, "{'foo':'bar'}");
  }
}

TEST(EventStream, AwsVectorInt32HeaderIsSkipped) {
  bool ok = false;
  auto m = decodeAll(bytes({0,   0,   0,   43, 0,   0,   0,   14, 52,  139, 236, 123, 8,  101, 118,
                            101, 110, 116, 45, 105, 100, 4,   0,  0,   160, 12,  123, 39, 102, 111,
                            111, 39,  58,  39, 98,  97,  114, 39, 125, 211, 137, 2,   133}),
                     &ok);
  ASSERT_TRUE(ok);
  ASSERT_EQ(m.size(), 1u);
  EXPECT_TRUE(m[0].headers.empty());  // only string headers are kept
  EXPECT_EQ(m[0].payload, "{'foo':'bar'}");
}

TEST(EventStream, AwsVectorsCorruptedAreErrors) {
  std::string corrupted_headers = kPayloadOneStrHeader;
  corrupted_headers[20] = 43;  // '-' -> '+' in the header name: message CRC fails
  std::string corrupted_header_len = kPayloadOneStrHeader;
  corrupted_header_len[6] = 1;  // prelude CRC fails
  const std::string corrupted_length =
      bytes({1,   0,   0,  29, 0,  0,  0,  0,   253, 82,  140, 90,  123, 39, 102,
             111, 111, 39, 58, 39, 98, 97, 114, 39,  125, 195, 101, 57,  54});
  const std::string corrupted_payload =
      bytes({0,   0,   0,  29, 0,  0,  0,  0,   253, 82,  140, 90,  123, 39, 102,
             111, 111, 39, 58, 39, 98, 97, 114, 39,  141, 195, 101, 57,  54});
  for (const std::string& frame :
       {corrupted_headers, corrupted_header_len, corrupted_length, corrupted_payload}) {
    eventstream::Decoder d;
    EXPECT_FALSE(d.feed(frame, [](eventstream::Message&&) { return true; }));
    EXPECT_TRUE(d.failed());
    EXPECT_NE(d.error().find("CRC"), std::string::npos) << d.error();
  }
}

TEST(EventStream, CrcMatchesZlib) {
  EXPECT_EQ(eventstream::crc32("123456789"), 0xCBF43926u);  // the CRC-32 check value
  const std::string s = "The quick brown fox jumps over the lazy dog";
  EXPECT_EQ(eventstream::crc32(s), testing::eventstream::zcrc(s));
}

TEST(EventStream, IndependentEncoderFramesAtEverySplit) {
  const std::string stream =
      testing::eventstream::event("messageStart", {{"role", "assistant"}}) +
      testing::eventstream::event("contentBlockDelta",
                                  {{"contentBlockIndex", 0}, {"delta", {{"text", "Hi"}}}});
  for (size_t split = 0; split < stream.size(); ++split) {
    bool ok = false;
    auto m = decodeAll(stream, &ok, split);
    ASSERT_TRUE(ok);
    ASSERT_EQ(m.size(), 2u);
    EXPECT_EQ(m[0].header(":event-type"), "messageStart");
    EXPECT_EQ(m[0].header(":message-type"), "event");
    EXPECT_EQ(m[1].header(":event-type"), "contentBlockDelta");
    EXPECT_EQ(m[1].payload, R"({"contentBlockIndex":0,"delta":{"text":"Hi"}})");
  }
}

TEST(EventStream, OneByteAtATime) {
  const std::string stream = testing::eventstream::exception("throttlingException", "slow down");
  eventstream::Decoder d;
  int n = 0;
  for (char c : stream) {
    ASSERT_TRUE(d.feed(std::string(1, c), [&](eventstream::Message&& m) {
      EXPECT_EQ(m.header(":message-type"), "exception");
      ++n;
      return true;
    }));
  }
  EXPECT_EQ(n, 1);
  EXPECT_TRUE(d.idle());
}

}  // namespace
}  // namespace switchyard::bedrock
