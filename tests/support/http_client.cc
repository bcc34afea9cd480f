/// @file tests/support/http_client.cc
/// @brief Poco HTTPClientSession wrappers for tests.
#include "http_client.h"
#include "switchyard/http/poco_status.h"

#include <Poco/Exception.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Timespan.h>

#include <algorithm>
#include <cctype>
#include <istream>
#include <ostream>

namespace switchyard::testing {
namespace {

// Generous: it only stops a broken test from hanging forever, it measures nothing.
const Poco::Timespan kTimeout(120, 0);

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

void sendRequest(Poco::Net::HTTPClientSession& session, const std::string& method,
                 const std::string& path, const std::string& body, const Headers& headers) {
  session.setTimeout(kTimeout);
  Poco::Net::HTTPRequest request(method, path, Poco::Net::HTTPMessage::HTTP_1_1);
  bool has_content_type = false;
  for (const auto& [name, value] : headers) {
    request.set(name, value);
    has_content_type = has_content_type || lower(name) == "content-type";
  }
  if (!body.empty() || method == "POST" || method == "PUT") {
    if (!has_content_type) {
      request.setContentType("application/json");
    }
    request.setContentLength(static_cast<std::streamsize>(body.size()));
  }
  std::ostream& out = session.sendRequest(request);
  out << body;
}

void readHead(const Poco::Net::HTTPResponse& response, HttpResult& result) {
  result.status = switchyard::statusCodeOf(response);
  for (const auto& [name, value] : response) {
    result.headers[lower(name)] = value;
  }
}

// Delivers bytes as soon as the socket has them: peek() blocks for at least one byte, then
// readsome() takes whatever is already buffered without waiting for more.
template <class Fn>
bool pump(std::istream& in, std::string& body, Fn&& onChunk) {
  char buf[8192];
  while (true) {
    if (in.peek() == std::char_traits<char>::eof()) {
      return true;
    }
    const std::streamsize n = in.readsome(buf, sizeof buf);
    if (n <= 0) {
      continue;
    }
    std::string_view bytes(buf, static_cast<size_t>(n));
    body.append(bytes);
    if (!onChunk(bytes)) {
      return false;
    }
  }
}

HttpResult streamImpl(uint16_t port, const std::string& path, const std::string& body,
                      const Headers& headers,
                      const std::function<bool(std::string_view)>& onChunk) {
  HttpResult result;
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    sendRequest(session, "POST", path, body, headers);
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    readHead(response, result);
    if (!pump(in, result.body, onChunk)) {
      session.abort();  // Hang up mid-stream, the way a client that goes away does.
      result.ok = true;
      return result;
    }
    result.ok = !in.bad();
    if (in.bad()) {
      result.error = "connection failed while reading the body";
    }
  } catch (const Poco::Exception& e) {
    result.error = e.displayText();
  } catch (const std::exception& e) {
    result.error = e.what();
  }
  return result;
}

}  // namespace

HttpResult httpRequest(uint16_t port, const std::string& method, const std::string& path,
                       const std::string& body, const Headers& headers) {
  HttpResult result;
  try {
    Poco::Net::HTTPClientSession session("127.0.0.1", port);
    sendRequest(session, method, path, body, headers);
    Poco::Net::HTTPResponse response;
    std::istream& in = session.receiveResponse(response);
    readHead(response, result);
    pump(in, result.body, [](std::string_view) { return true; });
    result.ok = !in.bad();
    if (in.bad()) {
      result.error = "connection failed while reading the body";
    }
  } catch (const Poco::Exception& e) {
    result.error = e.displayText();
  } catch (const std::exception& e) {
    result.error = e.what();
  }
  return result;
}

HttpResult httpStream(uint16_t port, const std::string& path, const std::string& body,
                      const Headers& headers,
                      const std::function<void(std::string_view)>& onChunk) {
  return streamImpl(port, path, body, headers, [&](std::string_view bytes) {
    if (onChunk) {
      onChunk(bytes);
    }
    return true;
  });
}

HttpResult httpStreamUntil(uint16_t port, const std::string& path, const std::string& body,
                           const Headers& headers,
                           const std::function<bool(std::string_view)>& onChunk) {
  return streamImpl(port, path, body, headers, onChunk);
}

}  // namespace switchyard::testing
