/// @file plugins/anthropic/common.h
/// @brief Small helpers shared by the translators of the "anthropic" provider.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <switchyard/sdk.hpp>

namespace switchyard {
namespace anthropic {

// ordered_json keeps keys in the order we write them, so upstream bodies and client answers
// are stable (and readable in golden files).
using Json = nlohmann::ordered_json;

/// Serializes without throwing on invalid UTF-8 (replaced), as upstream text may contain it.
inline std::string dumpJson(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

/// A 400 for an OpenAI parameter that Anthropic has no equivalent for.
inline sdk::Error unsupportedParameter(const std::string& name, const std::string& why) {
  return sdk::Error(400, "invalid_request_error", "unsupported_parameter",
                    "'" + name + "' is not supported by the anthropic provider: " + why);
}

/// A 400 for a malformed OpenAI request.
inline sdk::Error badRequest(const std::string& message,
                             const std::string& code = "invalid_request") {
  return sdk::Error(400, "invalid_request_error", code, message);
}

}  // namespace anthropic
}  // namespace switchyard
