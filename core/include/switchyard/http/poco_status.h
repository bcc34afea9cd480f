/// @file switchyard/http/poco_status.h
/// @brief Reads and sets HTTP status codes on Poco messages without its HTTPStatus enum.
#pragma once

#include <Poco/Net/HTTPResponse.h>

#include <cstdlib>
#include <ostream>
#include <streambuf>
#include <string>

namespace switchyard {

/**
 * The status code of a parsed response. Poco stores any code in its HTTPStatus enum, whose
 * range ends at 511: loading a provider's 529 through getStatus() is undefined behaviour
 * (UBSan flags it). Poco's own write() prints the code as an integer, so the first line it
 * writes is read instead; the buffer refuses everything after that line, which keeps it cheap.
 */
inline int statusCodeOf(const Poco::Net::HTTPResponse& response) {
  struct FirstLine : std::streambuf {
    std::string line;
    int overflow(int c) override {
      if (c == traits_type::eof() || c == '\r' || c == '\n' || line.size() >= 64) {
        return traits_type::eof();
      }
      line.push_back(static_cast<char>(c));
      return c;
    }
  } buffer;
  std::ostream out(&buffer);
  response.write(out);
  const auto space = buffer.line.find(' ');
  return space == std::string::npos ? 0 : std::atoi(buffer.line.c_str() + space + 1);
}

/// The standard reason phrase of a status code, or "Unknown".
inline const char* reasonFor(int status) {
  switch (status) {
  case 200: return "OK";
  case 201: return "Created";
  case 204: return "No Content";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 413: return "Content Too Large";
  case 415: return "Unsupported Media Type";
  case 422: return "Unprocessable Content";
  case 429: return "Too Many Requests";
  case 499: return "Client Closed Request";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 529: return "Site Overloaded";
  default: return "Unknown";
  }
}

/// Sets any status code (a provider's 529 included) without going through HTTPStatus.
inline void setStatusCode(Poco::Net::HTTPResponse& response, int status) {
  response.setStatus(std::to_string(status));
  response.setReason(reasonFor(status));
}

} // namespace switchyard
