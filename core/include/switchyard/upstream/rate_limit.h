/// @file switchyard/upstream/rate_limit.h
/// @brief How long a rate-limited target (one provider key) should rest, from its 429's headers.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

#include "switchyard/plugin/plugin_types.h"

namespace switchyard {

/// Parses a Go-style duration as OpenAI sends in x-ratelimit-reset-*: "20ms", "1s", "6m0s",
/// "1h2m3.5s". Empty on anything else (no exceptions).
std::optional<std::chrono::milliseconds> parseResetDuration(std::string_view text);

/**
 * The cooldown a 429 asks for. In order of precedence: `retry-after-ms` (Azure, OpenAI),
 * `retry-after` (seconds or an HTTP date), then `x-ratelimit-reset-requests` /
 * `x-ratelimit-reset-tokens` — the one whose `x-ratelimit-remaining-*` is 0, or the longer of the
 * two when the remaining counts are not given. Capped at a day; empty when none is usable.
 * @param now the wall clock, for an HTTP-date Retry-After.
 */
std::optional<std::chrono::milliseconds> rateLimitCooldown(
    const HeaderList& headers, std::chrono::system_clock::time_point now);

}  // namespace switchyard
