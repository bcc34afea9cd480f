#include "switchyard/upstream/rate_limit.h"

#include <gtest/gtest.h>

namespace switchyard {
namespace {

using std::chrono::milliseconds;

const auto kNow =
    std::chrono::system_clock::from_time_t(1764158400);  // Wed, 26 Nov 2025 12:00:00 GMT

std::optional<milliseconds> cooldown(HeaderList headers) {
  return rateLimitCooldown(headers, kNow);
}

TEST(RateLimit, OpenAiResetDurations) {
  EXPECT_EQ(parseResetDuration("20ms"), milliseconds(20));
  EXPECT_EQ(parseResetDuration("1s"), milliseconds(1000));
  EXPECT_EQ(parseResetDuration("6m0s"), milliseconds(360000));
  EXPECT_EQ(parseResetDuration("1h2m3.5s"), milliseconds(3723500));
  EXPECT_EQ(parseResetDuration("0.25s"), milliseconds(250));
  EXPECT_EQ(parseResetDuration("999h"), milliseconds(86400000));  // capped at a day
  for (const char* bad : {"", "s", "1", "1x", "-1s", "1s2", "abc", "1..2s"}) {
    EXPECT_FALSE(parseResetDuration(bad)) << bad;
  }
}

TEST(RateLimit, RetryAfterTakesPrecedence) {
  EXPECT_EQ(cooldown({{"Retry-After-Ms", "1500"}, {"retry-after", "9"}}), milliseconds(1500));
  EXPECT_EQ(cooldown({{"retry-after", "2"}, {"x-ratelimit-reset-requests", "30s"}}),
            milliseconds(2000));
  EXPECT_EQ(cooldown({{"Retry-After", "Wed, 26 Nov 2025 12:00:07 GMT"}}), milliseconds(7000));
  EXPECT_EQ(cooldown({{"Retry-After", "Wed, 26 Nov 2025 11:00:00 GMT"}}),
            milliseconds(0));  // already past
  // An unusable Retry-After does not hide the reset headers.
  EXPECT_EQ(cooldown({{"retry-after", "soon"}, {"x-ratelimit-reset-requests", "3s"}}),
            milliseconds(3000));
  EXPECT_FALSE(cooldown({}));
  EXPECT_FALSE(cooldown({{"retry-after", "soon"}}));
}

TEST(RateLimit, TheExhaustedLimitDecides) {
  const HeaderList tokens_out = {{"x-ratelimit-remaining-requests", "499"},
                                 {"x-ratelimit-reset-requests", "120ms"},
                                 {"x-ratelimit-remaining-tokens", "0"},
                                 {"x-ratelimit-reset-tokens", "6m0s"}};
  EXPECT_EQ(cooldown(tokens_out), milliseconds(360000));
  const HeaderList requests_out = {{"x-ratelimit-remaining-requests", "0"},
                                   {"x-ratelimit-reset-requests", "120ms"},
                                   {"x-ratelimit-remaining-tokens", "9000"},
                                   {"x-ratelimit-reset-tokens", "6m0s"}};
  EXPECT_EQ(cooldown(requests_out), milliseconds(120));
  // Without the remaining counts, the longer wait is the safe one.
  EXPECT_EQ(cooldown({{"x-ratelimit-reset-requests", "1s"}, {"x-ratelimit-reset-tokens", "20ms"}}),
            milliseconds(1000));
  EXPECT_EQ(cooldown({{"x-ratelimit-reset-tokens", "20ms"}}), milliseconds(20));
}

}  // namespace
}  // namespace switchyard
