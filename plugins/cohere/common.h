// Shared types of the "cohere" provider plugin.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <switchyard/sdk.hpp>

namespace switchyard::cohere {

// ordered_json keeps a readable, stable key order in what we send and emit.
using Json = nlohmann::ordered_json;

inline std::string dumpJson(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

/// A 400 naming an OpenAI parameter Cohere has no equivalent for.
inline sdk::Error unsupported(const std::string& parameter, const std::string& why) {
  return sdk::Error(
      400, "invalid_request_error", "unsupported_parameter",
      "parameter '" + parameter + "' is not supported by the cohere provider: " + why);
}

/// A 400 for a parameter with a value Cohere cannot take.
inline sdk::Error invalidValue(const std::string& parameter, const std::string& why) {
  return sdk::Error(400, "invalid_request_error", "invalid_value",
                    "parameter '" + parameter + "' " + why);
}

/// What the plugin's config says (see README.md).
struct Settings {
  std::string embed_input_type = "search_document";
};

}  // namespace switchyard::cohere
