/// @file tests/core/config/parse_config.h
/// @brief The config tests' way in: a config text parsed as if read from /etc/sy, and the
/// message of the ConfigError it raises.
#pragma once

#include <string>

#include "switchyard/config/config.h"

namespace switchyard::config_testing {

inline GatewayConfig parse(const std::string& text) {
  return parseConfig(text, "/etc/sy", "/opt/sy/bin");
}

/// The ConfigError's message, or "" when the text is accepted.
inline std::string errorOf(const std::string& text) {
  try {
    parse(text);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace switchyard::config_testing
