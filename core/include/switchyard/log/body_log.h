/// @file switchyard/log/body_log.h
/// @brief Per-route logging of request and response bodies into the call record: cap and redaction.
#pragma once

#include <cstddef>
#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/plugin/plugin_types.h"

namespace re2 {
class RE2;
}

namespace switchyard {

/// A redacted, capped body as the record carries it.
struct CapturedBody {
  std::string text;
  bool truncated = false;
};

/**
 * What a route logs of its calls' bodies (`log_bodies` on a model route) and how it redacts
 * them. Built at config load (throws there); capture never throws and never fails a call.
 */
struct BodyLogPolicy {
  static constexpr const char* kRedacted = "[REDACTED]";

  bool request = false;
  bool response = false;
  bool headers = false; ///< request headers too; credential headers are never recorded
  size_t max_bytes = 65536;
  std::vector<std::vector<std::string>> redact_json_paths; ///< split at '.'; "*" is any key or index
  std::vector<std::string> redact_patterns;
  std::vector<std::shared_ptr<const re2::RE2>> compiled_patterns;

  /**
   * Reads a `log_bodies` object.
   * @throw ConfigError naming the offending field (a pattern RE2 cannot compile included).
   */
  static std::shared_ptr<const BodyLogPolicy> parse(const nlohmann::json& config, const std::string& where);

  /**
   * Redacts a body: JSON fields by path (when it is JSON), then the patterns, then any of
   * `secrets` that occurs verbatim; then caps it at max_bytes on a UTF-8 boundary.
   */
  CapturedBody capture(std::string_view body, const std::vector<std::string_view>& secrets) const;

  /// The request headers without credential headers, values redacted like bodies.
  HeaderList captureHeaders(const HeaderList& headers, const std::vector<std::string_view>& secrets) const;

  /// Headers that carry credentials by their name (Authorization, x-api-key, cookies, tokens …).
  static bool isCredentialHeader(std::string_view name);
};

} // namespace switchyard
