#include "switchyard/upstream/rate_limit.h"

#include <strings.h>
#include <time.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <string>

namespace switchyard {
namespace {

constexpr double kMaxMs = 86400000.0;

const std::string* header(const HeaderList& headers, const char* name) {
  for (const auto& [n, v] : headers) {
    if (strcasecmp(n.c_str(), name) == 0) {
      return &v;
    }
  }
  return nullptr;
}

std::optional<double> number(std::string_view text) {
  const std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end == s.c_str() || *end != '\0' || !std::isfinite(v) || v < 0) {
    return std::nullopt;
  }
  return v;
}

std::chrono::milliseconds capped(double ms) {
  return std::chrono::milliseconds(static_cast<int64_t>(std::min(ms, kMaxMs)));
}

/// RFC 9110 IMF-fixdate, the only form servers are required to send.
std::optional<std::chrono::milliseconds> fromHttpDate(const std::string& text,
                                                      std::chrono::system_clock::time_point now) {
  struct tm tm {};
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') {
    return std::nullopt;
  }
  const auto at = std::chrono::system_clock::from_time_t(timegm(&tm));
  // A date in the past means "now": the limit is already over.
  return std::chrono::duration_cast<std::chrono::milliseconds>(
      std::max(at - now, std::chrono::system_clock::duration::zero()));
}

}  // namespace

std::optional<std::chrono::milliseconds> parseResetDuration(std::string_view text) {
  // Trims surrounding blanks; headers sometimes carry them.
  while (!text.empty() && text.front() == ' ') {
    text.remove_prefix(1);
  }
  while (!text.empty() && text.back() == ' ') {
    text.remove_suffix(1);
  }
  if (text.empty()) {
    return std::nullopt;
  }
  double total = 0;
  while (!text.empty()) {
    size_t n = 0;
    while (n < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[n])) != 0 || text[n] == '.')) {
      ++n;
    }
    auto value = number(text.substr(0, n));
    if (n == 0 || !value) {
      return std::nullopt;
    }
    text.remove_prefix(n);
    size_t u = 0;
    while (u < text.size() && std::isalpha(static_cast<unsigned char>(text[u])) != 0) {
      ++u;
    }
    const std::string_view unit = text.substr(0, u);
    text.remove_prefix(u);
    double scale;
    if (unit == "ms") {
      scale = 1;
    } else if (unit == "s") {
      scale = 1000;
    } else if (unit == "m") {
      scale = 60000;
    } else if (unit == "h") {
      scale = 3600000;
    } else if (unit == "us") {
      scale = 0.001;
    } else if (unit == "ns") {
      scale = 0.000001;
    } else {
      return std::nullopt;
    }
    total += *value * scale;
    if (total > kMaxMs) {
      return capped(total);
    }
  }
  return capped(std::ceil(total));
}

std::optional<std::chrono::milliseconds> rateLimitCooldown(
    const HeaderList& headers, std::chrono::system_clock::time_point now) {
  if (const std::string* v = header(headers, "retry-after-ms")) {
    if (auto ms = number(*v)) {
      return capped(*ms);
    }
  }
  if (const std::string* v = header(headers, "retry-after")) {
    if (auto s = number(*v)) {
      return capped(*s * 1000);
    }
    if (auto at = fromHttpDate(*v, now)) {
      return std::min(*at, capped(kMaxMs));
    }
  }
  std::optional<std::chrono::milliseconds> requests;
  std::optional<std::chrono::milliseconds> tokens;
  if (const std::string* v = header(headers, "x-ratelimit-reset-requests")) {
    requests = parseResetDuration(*v);
  }
  if (const std::string* v = header(headers, "x-ratelimit-reset-tokens")) {
    tokens = parseResetDuration(*v);
  }
  auto exhausted = [&](const char* name) {
    const std::string* v = header(headers, name);
    auto n = v != nullptr ? number(*v) : std::nullopt;
    return n && *n == 0;
  };
  // The limit that ran out decides; waiting only for the other one would earn another 429.
  const bool requests_out = requests && exhausted("x-ratelimit-remaining-requests");
  const bool tokens_out = tokens && exhausted("x-ratelimit-remaining-tokens");
  if (requests_out != tokens_out) {
    return requests_out ? requests : tokens;
  }
  if (requests && tokens) {
    return std::max(*requests, *tokens);
  }
  return requests ? requests : tokens;
}

}  // namespace switchyard
