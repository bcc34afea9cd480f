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
