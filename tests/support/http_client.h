/// @file tests/support/http_client.h
/// @brief Minimal blocking HTTP/1.1 client for tests, with a streaming variant for SSE.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace switchyard::testing {

struct HttpResult {
  int status = 0;
  std::map<std::string, std::string> headers;  ///< Lower-case names.
  std::string body;
  bool ok = false;    ///< The exchange completed at the transport level (any HTTP status).
  std::string error;  ///< Why `ok` is false.
};

using Headers = std::map<std::string, std::string>;

/// One request to 127.0.0.1:`port` on a fresh connection. A non-empty body defaults to
/// Content-Type application/json unless `headers` sets it.
HttpResult httpRequest(uint16_t port, const std::string& method, const std::string& path,
                       const std::string& body = {}, const Headers& headers = {});

/// POSTs `body` and hands the response body to `onChunk` as bytes arrive (not when a buffer
/// fills), so a test can observe SSE events before the upstream has finished. The returned
/// body holds everything that was delivered.
HttpResult httpStream(uint16_t port, const std::string& path, const std::string& body,
                      const Headers& headers, const std::function<void(std::string_view)>& onChunk);

/// As httpStream, but the client hangs up as soon as `onChunk` returns false (to test
/// cancellation). `ok` is true when the hang-up was requested this way.
HttpResult httpStreamUntil(uint16_t port, const std::string& path, const std::string& body,
                           const Headers& headers,
                           const std::function<bool(std::string_view)>& onChunk);

}  // namespace switchyard::testing
