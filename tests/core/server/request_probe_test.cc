#include "server/request_probe.h"

#include <gtest/gtest.h>

namespace switchyard {
namespace {

using Kind = RequestProbe::Kind;

TEST(RequestProbe, ReadsTheRoutingFields) {
  auto p = RequestProbe::of(
      R"({"model":"gpt-x","stream":true,"messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}],
          "tools":[{"type":"function","function":{"name":"f","parameters":{"model":"not-this","stream":false}}}]})");
  EXPECT_TRUE(p.valid_json);
  EXPECT_TRUE(p.is_object);
  EXPECT_EQ(p.model, Kind::kString);
  EXPECT_EQ(p.model_value, "gpt-x");
  EXPECT_EQ(p.stream, Kind::kBool);
  EXPECT_TRUE(p.stream_value); // the nested "stream": false inside tools is not the request's
  EXPECT_EQ(p.messages, Kind::kArray);
  EXPECT_EQ(p.message_count, 2u);
  EXPECT_EQ(p.input, Kind::kAbsent);
}

TEST(RequestProbe, TellsKindsApart) {
  auto p = RequestProbe::of(R"({"model":42,"stream":"yes","messages":{},"input":["a","b"]})");
  EXPECT_EQ(p.model, Kind::kOther);
  EXPECT_EQ(p.stream, Kind::kString);
  EXPECT_EQ(p.messages, Kind::kObject);
  EXPECT_EQ(p.input, Kind::kArray);
  EXPECT_EQ(RequestProbe::of(R"({"messages":[]})").message_count, 0u);
  EXPECT_EQ(RequestProbe::of(R"({"stream":null})").stream, Kind::kNull);
}

TEST(RequestProbe, RejectsWhatIsNotAJsonObject) {
  EXPECT_FALSE(RequestProbe::of("{bad").valid_json);
  EXPECT_FALSE(RequestProbe::of("").valid_json);
  EXPECT_FALSE(RequestProbe::of(R"({"a":1} trailing)").valid_json);
  auto array = RequestProbe::of("[1,2]");
  EXPECT_TRUE(array.valid_json);
  EXPECT_FALSE(array.is_object);
}

// Plain bodies are read by the core's own scanner, the rest by nlohmann: both must agree on
// what is valid JSON and on every field.
TEST(RequestProbe, ReadsEscapesUnicodeAndNumbersAsNlohmannDoes) {
  auto p = RequestProbe::of("{\"messages\":[{\"content\":\"caf\\u00e9 \\ud83d\\ude00 \\\" \\\\ \\/ \\n "
                            "\xC3\xA9 \xF0\x9F\x98\x80\"}], \"model\" : \"m\", \"max_tokens\" : 18446744073709551615,"
                            "\"n\":-2,\"max_completion_tokens\":1.5e3}\n");
  EXPECT_TRUE(p.valid_json);
  EXPECT_EQ(p.model_value, "m");
  EXPECT_EQ(p.message_count, 1u);
  EXPECT_EQ(p.max_tokens, INT64_MAX);
  EXPECT_EQ(p.n, -2);
  EXPECT_EQ(p.max_completion_tokens, -1); // a float is not an integer
  // Escaped names are decoded (nlohmann reads these).
  auto escaped = RequestProbe::of(R"({"\u006dodel":"g\u0070t","max_tokens":-9223372036854775809})");
  EXPECT_TRUE(escaped.valid_json);
  EXPECT_EQ(escaped.model, Kind::kString);
  EXPECT_EQ(escaped.model_value, "gpt");
  EXPECT_EQ(escaped.max_tokens, -1); // past int64 it is a float
  for (const std::string& bad : {std::string(R"({"a":"\ud83d"})"), std::string(R"({"a":"\ude00"})"),
                                std::string(R"({"a":"\x"})"), std::string("{\"a\":\"\xC0\xAF\"}"),
                                std::string("{\"a\":\"\xED\xA0\x80\"}"), std::string("{\"a\":\"\x01\"}"),
                                std::string(R"({"a":01})"), std::string(R"({"a":1.})"), std::string(R"({"a":1e400})"),
                                std::string(R"({"a":-})"), std::string(R"({"a":1,})"), std::string(R"({"a" 1})"),
                                std::string(R"({"a":tru})"), std::string(R"({"a":[1,]})")}) {
    EXPECT_FALSE(RequestProbe::of(bad).valid_json) << bad;
  }
  EXPECT_TRUE(RequestProbe::of(R"({"a":1e-400,"b":-0,"c":0.0e+0,"d":[{},[],null,true,false]})").valid_json);
  EXPECT_TRUE(RequestProbe::of("\xEF\xBB\xBF{\"model\":\"bom\"}").valid_json); // nlohmann skips a BOM
}

TEST(RequestProbe, HandlesDeepAndLargeBodies) {
  std::string deep(500, '[');
  deep += std::string(500, ']');
  std::string body = R"({"model":"m","messages":[{"role":"user","content":")" + std::string(1 << 20, 'x') +
                     R"("}],"tools":)" + deep + "}";
  auto p = RequestProbe::of(body);
  EXPECT_TRUE(p.valid_json);
  EXPECT_EQ(p.model_value, "m");
  EXPECT_EQ(p.message_count, 1u);
}

} // namespace
} // namespace switchyard
