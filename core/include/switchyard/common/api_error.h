/// @file switchyard/common/api_error.h
/// @brief The OpenAI-shaped error every failure the gateway reports takes.
#pragma once

#include <cstdint>
#include <string>

namespace switchyard {

/// An error as the client sees it: {"error":{"message","type","code"}} with an HTTP status.
struct ApiError {
  int status = 500;
  std::string type;
  std::string code;
  std::string message;

  /// The JSON body, e.g. {"error":{"message":"…","type":"invalid_request_error","code":"…"}}.
  std::string toJson() const;

  static ApiError invalidRequest(std::string message, std::string code = "invalid_request") {
    return {400, "invalid_request_error", std::move(code), std::move(message)};
  }
  static ApiError unauthorized(std::string message, std::string code = "invalid_api_key") {
    return {401, "authentication_error", std::move(code), std::move(message)};
  }
  static ApiError notFound(std::string message, std::string code) {
    return {404, "invalid_request_error", std::move(code), std::move(message)};
  }
  static ApiError upstream(int status, std::string code, std::string message) {
    return {status, "upstream_error", std::move(code), std::move(message)};
  }
  static ApiError internal(std::string message) {
    return {500, "internal_error", "internal_error", std::move(message)};
  }
};

} // namespace switchyard
