// json_scan.hpp's cursor: the grammar pieces the hand-written scanners share, checked against
// what nlohmann's lexer accepts and how it classifies numbers.
#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <switchyard/json_scan.hpp>

namespace switchyard {
namespace sdk {
namespace {

using Kind = JsonNumber::Kind;

TEST(JsonScanTest, SkipsJsonWhitespaceOnly) {
  JsonCursor c(" \t\r\n x");
  c.skipSpace();
  ASSERT_FALSE(c.atEnd());
  EXPECT_EQ(c.peek(), 'x');
  JsonCursor v("\v1");
  v.skipSpace();
  EXPECT_EQ(v.peek(), '\v');
}

TEST(JsonScanTest, MatchesLiteralsExactly) {
  JsonCursor c("true,");
  EXPECT_TRUE(c.literal("true"));
  EXPECT_TRUE(c.at(','));
  JsonCursor shorter("tru");
  EXPECT_FALSE(shorter.literal("true"));
  JsonCursor other("nul1");
  EXPECT_FALSE(other.literal("null"));
}

TEST(JsonScanTest, ClassifiesNumbersAsNlohmannDoes) {
  struct Case {
    std::string_view text;
    Kind kind;
    bool integral;
  };
  for (const Case& k :
       {Case{"0", Kind::kUint64, true}, Case{"-0", Kind::kInt64, true},
        Case{"42", Kind::kUint64, true}, Case{"-42", Kind::kInt64, true},
        Case{"18446744073709551615", Kind::kUint64, true},
        Case{"18446744073709551616", Kind::kFloat, true},
        Case{"-9223372036854775808", Kind::kInt64, true},
        Case{"-9223372036854775809", Kind::kFloat, true}, Case{"1.5", Kind::kFloat, false},
        Case{"1e3", Kind::kFloat, false}, Case{"-2.5E-3", Kind::kFloat, false}}) {
    JsonCursor c(k.text);
    JsonNumber n;
    ASSERT_TRUE(c.number(n)) << k.text;
    EXPECT_TRUE(c.atEnd()) << k.text;
    EXPECT_EQ(n.text, k.text);
    EXPECT_EQ(n.kind, k.kind) << k.text;
    EXPECT_EQ(n.integral, k.integral) << k.text;
  }
  JsonNumber n;
  JsonCursor big("18446744073709551615");
  ASSERT_TRUE(big.number(n));
  EXPECT_EQ(n.u, UINT64_MAX);
  JsonCursor neg("-7");
  ASSERT_TRUE(neg.number(n));
  EXPECT_EQ(n.i, -7);
}

TEST(JsonScanTest, StopsANumberWhereTheGrammarEnds) {
  JsonCursor c("012");  // a leading zero ends the number; the caller sees the "12"
  JsonNumber n;
  ASSERT_TRUE(c.number(n));
  EXPECT_EQ(n.text, "0");
  EXPECT_TRUE(c.at('1'));
}

TEST(JsonScanTest, RefusesMalformedNumbers) {
  for (std::string_view text : {"-", "+1", ".5", "1.", "1.e3", "1e", "1e+", "-x", ""}) {
    JsonCursor c(text);
    JsonNumber n;
    EXPECT_FALSE(c.number(n)) << text;
  }
}

TEST(JsonScanTest, ReadsFiniteDoublesOnly) {
  double d = 0;
  EXPECT_TRUE(jsonFiniteDouble("2.5", 64, d));
  EXPECT_EQ(d, 2.5);
  EXPECT_TRUE(jsonFiniteDouble("1e-400", 64, d));  // underflow is 0 to strtod and to nlohmann
  EXPECT_FALSE(jsonFiniteDouble("1e400", 64, d));
  EXPECT_FALSE(jsonFiniteDouble("1.25", 3, d));  // longer than the caller allows
  EXPECT_FALSE(jsonFiniteDouble(std::string(65, '1'), 100, d));
}

TEST(JsonScanTest, ViewsPlainStrings) {
  JsonCursor c(R"("gpt-4o mini"x)");
  std::string_view v;
  ASSERT_TRUE(c.plainString(v));
  EXPECT_EQ(v, "gpt-4o mini");
  EXPECT_TRUE(c.at('x'));
  for (std::string_view text : {R"("a\"b")", "\"caf\xC3\xA9\"", "\"tab\there\"", "\"open"}) {
    JsonCursor d(text);
    EXPECT_FALSE(d.plainString(v)) << text;
  }
}

TEST(JsonScanTest, ReadsStringsAsTheLexerAcceptsThem) {
  JsonString s;
  JsonCursor plain(R"("abc")");
  ASSERT_TRUE(plain.string(s));
  EXPECT_EQ(s.raw, "abc");
  EXPECT_TRUE(s.plain());

  JsonCursor escaped(R"("a\n\/b")");
  ASSERT_TRUE(escaped.string(s));
  EXPECT_EQ(s.raw, R"(a\n\/b)");
  EXPECT_TRUE(s.escaped);
  EXPECT_FALSE(s.unicode_escape);
  EXPECT_FALSE(s.plain());

  JsonCursor unicode(R"("\u00e9 \ud83d\ude00")");
  ASSERT_TRUE(unicode.string(s));
  EXPECT_TRUE(s.unicode_escape);

  JsonCursor utf8("\"caf\xC3\xA9 \xF0\x9F\x98\x80\"");
  ASSERT_TRUE(utf8.string(s));
  EXPECT_FALSE(s.escaped);
  EXPECT_FALSE(s.ascii);
  EXPECT_FALSE(s.plain());
  EXPECT_TRUE(utf8.atEnd());
}

TEST(JsonScanTest, RefusesStringsTheLexerRefuses) {
  for (std::string_view text : {
           std::string_view("\"a\x01\""),             // a control byte
           std::string_view(R"("\x")"),               // an unknown escape
           std::string_view(R"("\u12")"),             // short \u
           std::string_view(R"("\udc00")"),           // a low surrogate alone
           std::string_view(R"("\ud800x")"),          // a high surrogate without its pair
           std::string_view(R"("\ud800\u0041")"),     // ... or with a non-surrogate after it
           std::string_view("\"\xC0\xAF\""),          // an overlong encoding
           std::string_view("\"\xED\xA0\x80\""),      // an encoded surrogate
           std::string_view("\"\xF4\x90\x80\x80\""),  // past U+10FFFF
           std::string_view("\"\xE2\x82\""),          // a truncated sequence
           std::string_view("\"open"),                // no closing quote
       }) {
    JsonCursor c(text);
    JsonString s;
    EXPECT_FALSE(c.string(s)) << text;
  }
}

TEST(JsonScanTest, TellsUtf8SequenceLengths) {
  const auto len = [](std::string_view s) { return jsonUtf8Length(s.data(), s.data() + s.size()); };
  EXPECT_EQ(len("\xC3\xA9"), 2u);
  EXPECT_EQ(len("\xE2\x82\xAC"), 3u);
  EXPECT_EQ(len("\xF0\x9F\x98\x80"), 4u);
  EXPECT_EQ(len("\xC1\xBF"), 0u);
  EXPECT_EQ(len("\x80"), 0u);
  EXPECT_EQ(len("\xE2\x82"), 0u);
}

TEST(JsonScanTest, ReportsWhatFollowsAMember) {
  JsonCursor c(" , 1 ] x");
  EXPECT_EQ(c.afterMember(']'), 1);
  EXPECT_TRUE(c.at('1'));
  c.advance();
  EXPECT_EQ(c.afterMember(']'), 0);
  EXPECT_EQ(c.afterMember(']'), -1);
}

TEST(JsonScanTest, SkipsWholeValues) {
  const std::string_view text =
      R"({"a": [1, -2.5e3, "x\u00e9", {"b": null}, true, false], "c": {}, "d": []} tail)";
  JsonCursor c(text);
  ASSERT_TRUE(skipJsonValue(c, 8));
  EXPECT_EQ(std::string_view(c.pos()), " tail");
}

TEST(JsonScanTest, RefusesMalformedOrTooDeepValues) {
  for (std::string_view text : {R"({"a" 1})", R"({"a":1,})", R"([1,])", R"({a:1})", R"([1 2])",
                                R"({"a":1e999})", "[", "{\"a\":", R"(["\q"])", "nul"}) {
    JsonCursor c(text);
    EXPECT_FALSE(skipJsonValue(c, 8)) << text;
  }
  const std::string deep = std::string(3, '[') + std::string(3, ']');
  JsonCursor fits(deep);
  EXPECT_TRUE(skipJsonValue(fits, 3));
  JsonCursor too_deep(deep);
  EXPECT_FALSE(skipJsonValue(too_deep, 2));
  JsonCursor long_float("1.00000000000000000000000001");
  EXPECT_FALSE(skipJsonValue(long_float, 8, 24));  // longer than the caller wants to judge
}

/// Writes the events down, and refuses a key named "stop".
struct Recorder {
  std::string log;
  bool startObject() { return log += "{", true; }
  bool startArray() { return log += "[", true; }
  bool end() { return log += "}", true; }
  bool key(const JsonString& k) {
    log += "k:" + std::string(k.raw) + " ";
    return k.raw != "stop";
  }
  bool string(const JsonString& s) { return log += "s:" + std::string(s.raw) + " ", true; }
  bool number(const JsonNumber& n) { return log += "n:" + std::string(n.text) + " ", true; }
  bool boolean(bool b) { return log += b ? "T " : "F ", true; }
  bool null() { return log += "N ", true; }
};

TEST(JsonScanTest, WalksEventsInDocumentOrder) {
  JsonCursor c(R"({"a": [1, "x", true, false, null], "b": {}})");
  Recorder r;
  ASSERT_TRUE(walkJson(c, r, 4));
  EXPECT_EQ(r.log, "{k:a [n:1 s:x T F N }k:b {}}");
  EXPECT_TRUE(c.atEnd());
}

TEST(JsonScanTest, StopsWhereTheHandlerSays) {
  JsonCursor c(R"({"a": 1, "stop": 2, "c": 3})");
  Recorder r;
  EXPECT_FALSE(walkJson(c, r, 4));
  EXPECT_EQ(r.log, "{k:a n:1 k:stop ");
}

TEST(JsonScanTest, RefusesTooDeepContainersBeforeTheirStart) {
  JsonCursor c("[[[]]]");
  Recorder r;
  EXPECT_FALSE(walkJson(c, r, 2));
  EXPECT_EQ(r.log, "[[");
}

}  // namespace
}  // namespace sdk
}  // namespace switchyard
