/// @file tests/support/named_sse.h
/// @brief Parses an SSE body of named events ("event: x\ndata: {…}\n\n"), as Anthropic and the
/// Responses API send them, failing the test on anything else.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

namespace switchyard::testing {

/// (event name, parsed data) in order.
inline std::vector<std::pair<std::string, nlohmann::json>> namedEvents(const std::string& sse) {
  std::vector<std::pair<std::string, nlohmann::json>> out;
  size_t at = 0;
  while (at < sse.size()) {
    const size_t end = sse.find("\n\n", at);
    if (end == std::string::npos) {
      ADD_FAILURE() << "unterminated event: " << sse.substr(at);
      break;
    }
    const std::string ev = sse.substr(at, end - at);
    at = end + 2;
    const size_t nl = ev.find('\n');
    if (ev.rfind("event: ", 0) != 0 || nl == std::string::npos ||
        ev.compare(nl + 1, 6, "data: ") != 0) {
      ADD_FAILURE() << "not a named event: " << ev;
      continue;
    }
    nlohmann::json data = nlohmann::json::parse(ev.substr(nl + 7), nullptr, false);
    EXPECT_FALSE(data.is_discarded()) << ev;
    out.emplace_back(ev.substr(7, nl - 7), std::move(data));
  }
  return out;
}

/// The event names alone.
inline std::vector<std::string> eventNames(
    const std::vector<std::pair<std::string, nlohmann::json>>& events) {
  std::vector<std::string> names;
  for (const auto& e : events) {
    names.push_back(e.first);
  }
  return names;
}

}  // namespace switchyard::testing
