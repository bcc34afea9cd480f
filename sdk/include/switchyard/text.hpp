/// @file switchyard/text.hpp
/// @brief Small text helpers every provider plugin needs: trimming, case-insensitive compare,
/// and the header checks that keep configured values from smuggling headers upstream.
#pragma once

#include <cstddef>
#include <string_view>

// Header-only and compiled into each plugin, like sdk.hpp: nothing here crosses the ABI.
namespace switchyard {
namespace sdk __attribute__((visibility("hidden"))) {

  /// Without leading and trailing spaces, tabs, CR and LF.
  inline std::string_view trim(std::string_view s) {
    constexpr std::string_view kSpace = " \t\r\n";
    const size_t begin = s.find_first_not_of(kSpace);
    if (begin == std::string_view::npos) {
      return {};
    }
    return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
  }

  /// ASCII case-insensitive equality (header names, media types).
  inline bool equalsIgnoreCase(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) {
      return false;
    }
    for (size_t i = 0; i < a.size(); ++i) {
      const auto lower = [](char c) {
        return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
      };
      if (lower(a[i]) != lower(b[i])) {
        return false;
      }
    }
    return true;
  }

  /// An RFC 9110 token character, the alphabet of header names.
  inline bool isTokenChar(char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      return true;
    }
    return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
  }

  inline bool validHeaderName(std::string_view name) {
    if (name.empty()) {
      return false;
    }
    for (char c : name) {
      if (!isTokenChar(c)) {
        return false;
      }
    }
    return true;
  }

  /// CR, LF and NUL would let a value smuggle extra headers into the upstream request.
  inline bool validHeaderValue(std::string_view value) {
    return value.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
  }

}  // namespace )
}  // namespace switchyard
