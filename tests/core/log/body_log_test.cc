// Body logging: what a route's log_bodies accepts, and that captured bodies are redacted
// (JSON paths, patterns, the call's secrets) and capped without breaking UTF-8.
#include "switchyard/log/body_log.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "switchyard/config/config.h"

namespace switchyard {
namespace {

using nlohmann::json;

std::shared_ptr<const BodyLogPolicy> policy(json config) { return BodyLogPolicy::parse(config, "models.m.log_bodies"); }

std::string parseError(json config) {
  try {
    policy(config);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(BodyLog, ConfigIsValidatedAtLoad) {
  auto p = policy({{"request", true}, {"max_bytes", 100}, {"redact_patterns", {"sk-[A-Za-z0-9]+"}}});
  EXPECT_TRUE(p->request);
  EXPECT_FALSE(p->response);
  EXPECT_EQ(p->max_bytes, 100u);
  EXPECT_EQ(policy(json::object())->max_bytes, 65536u);
  EXPECT_NE(parseError({{"requests", true}}).find("unknown field \"requests\""), std::string::npos);
  EXPECT_NE(parseError({{"request", "yes"}}).find("models.m.log_bodies.request"), std::string::npos);
  EXPECT_NE(parseError({{"max_bytes", 0}}).find("max_bytes"), std::string::npos);
  EXPECT_NE(parseError({{"redact_patterns", {"(unclosed"}}}).find("not a valid RE2 pattern"), std::string::npos);
  EXPECT_NE(parseError({{"redact_json_paths", {"messages..content"}}}).find("empty segment"), std::string::npos);
  EXPECT_NE(parseError({{"redact_json_paths", "messages"}}).find("array"), std::string::npos);
  EXPECT_NE(parseError(json::array()).find("must be an object"), std::string::npos);
}

TEST(BodyLog, JsonPathsRedactByKeyWildcardAndIndex) {
  auto p = policy({{"redact_json_paths", {"messages.*.content", "tools.0.function", "metadata.card", "absent.path"}}});
  nlohmann::ordered_json body = {{"model", "m"},
               {"messages", {{{"role", "system"}, {"content", "be brief"}}, {{"role", "user"}, {"content", "hi"}}}},
               {"tools", {{{"type", "function"}, {"function", {{"name", "f"}}}}, {{"type", "function"}}}},
               {"metadata", {{"card", "4111"}, {"keep", "me"}}}};
  CapturedBody c = p->capture(body.dump(), {});
  json got = json::parse(c.text);
  EXPECT_EQ(got["messages"][0]["content"], BodyLogPolicy::kRedacted);
  EXPECT_EQ(got["messages"][1]["content"], BodyLogPolicy::kRedacted);
  EXPECT_EQ(got["messages"][1]["role"], "user");
  EXPECT_EQ(got["tools"][0]["function"], BodyLogPolicy::kRedacted);
  EXPECT_EQ(got["metadata"]["card"], BodyLogPolicy::kRedacted);
  EXPECT_EQ(got["metadata"]["keep"], "me");
  EXPECT_FALSE(c.truncated);
  // Key order is kept, so the logged body reads like the one sent.
  EXPECT_LT(c.text.find("\"model\""), c.text.find("\"messages\""));
}

TEST(BodyLog, PatternsAndSecretsRedactAnyText) {
  auto p = policy({{"redact_json_paths", {"x"}}, {"redact_patterns", {"sk-[A-Za-z0-9]+", "\\b\\d{16}\\b"}}});
  const std::string secret = "gw-Key-0123456789";
  CapturedBody c = p->capture("not json: sk-abcDEF123 card 4111111111111111 key " + secret + " end", {secret, ""});
  EXPECT_EQ(c.text, "not json: [REDACTED] card [REDACTED] key [REDACTED] end");
  // Too short to be a credential: left alone rather than redacting ordinary words.
  EXPECT_EQ(p->capture("a b c", {"b"}).text, "a b c");
}

TEST(BodyLog, CapKeepsUtf8WholeAndSaysSo) {
  auto p = policy({{"max_bytes", 5}});
  CapturedBody c = p->capture("abc\xC3\xA9\xC3\xA9", {}); // "abcéé": the cap falls inside the second é
  EXPECT_EQ(c.text, "abc\xC3\xA9");
  EXPECT_TRUE(c.truncated);
  CapturedBody small = p->capture("abc", {});
  EXPECT_EQ(small.text, "abc");
  EXPECT_FALSE(small.truncated);
}

TEST(BodyLog, ASecretAcrossTheCapIsStillRedacted) {
  auto p = policy({{"max_bytes", 16}});
  const std::string secret = "sk-live-secret-value";
  CapturedBody c = p->capture("0123456789" + secret + std::string(10000, 'x'), {secret});
  EXPECT_TRUE(c.truncated);
  EXPECT_EQ(c.text, "0123456789[REDAC");
}

TEST(BodyLog, CredentialHeadersAreNeverCaptured) {
  auto p = policy({{"headers", true}, {"redact_patterns", {"secret-[0-9]+"}}});
  HeaderList in = {{"Authorization", "Bearer sk-gw"},   {"x-api-key", "k"},         {"Api-Key", "k"},
                   {"Cookie", "s=1"},                   {"X-Amz-Security-Token", "t"}, {"Proxy-Authorization", "p"},
                   {"Content-Type", "application/json"}, {"X-Trace", "secret-42"}};
  HeaderList out = p->captureHeaders(in, {});
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0], (std::pair<std::string, std::string>{"content-type", "application/json"}));
  EXPECT_EQ(out[1], (std::pair<std::string, std::string>{"x-trace", "[REDACTED]"}));
}

} // namespace
} // namespace switchyard
