/// @file switchyard/http/http_types.h
/// @brief The server-side HTTP request and response types handlers see (no Poco streams).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "switchyard/plugin/plugin_types.h"

namespace switchyard {

/// A client request with its body already read (within the configured limit).
struct HttpRequest {
  std::string request_id; ///< the gateway's id for this request, also in the x-request-id header
  std::string method;
  std::string path;  ///< without the query
  std::string query; ///< without the '?'
  std::string uri;   ///< as received
  HeaderList headers;
  std::string peer; ///< "address:port"
  std::string body;

  /// The first header with this name (case-insensitive), or empty.
  std::string_view header(std::string_view name) const;
};

/// Writes one response. Data-plane API: results, never exceptions; false means the client is gone.
class HttpResponseWriter {
public:
  virtual ~HttpResponseWriter() = default;
  virtual void setHeader(const std::string& name, const std::string& value) = 0;
  /// Sends a complete response with a Content-Length.
  virtual bool send(int status, std::string_view content_type, std::string_view body) = 0;
  /// Sends the head of a chunked response; bytes then follow through write().
  virtual bool beginStream(int status, std::string_view content_type) = 0;
  /// Writes and flushes bytes of a started stream.
  virtual bool write(std::string_view bytes) = 0;
  /// Closes the connection after this response instead of keeping it alive.
  virtual void closeAfter() = 0;
  virtual bool started() const = 0;
};

/// Serves requests of one listener.
class HttpHandler {
public:
  virtual ~HttpHandler() = default;
  virtual void handle(const HttpRequest& request, HttpResponseWriter& response) = 0;
};

} // namespace switchyard
