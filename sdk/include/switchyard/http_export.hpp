/// @file switchyard/http_export.hpp
/// @brief Opt-in helper for log sinks that deliver over HTTP(S): one blocking POST through
/// Poco::Net with a deadline, optional gzip and an honest outcome.
///
/// Providers never do I/O (the host owns their sockets); log sinks run on a host background
/// thread and do their own. A plugin that includes this header links Poco::Net, Poco::NetSSL
/// and Poco::Foundation itself. Nothing here throws: every failure becomes a PostResult.
#pragma once

#include <Poco/DeflatingStream.h>
#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetSSL.h>
#include <Poco/SHA2Engine.h>
#include <Poco/Timespan.h>
#include <Poco/URI.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <ostream>
#include <sstream>
#include <streambuf>
#include <string>
#include <string_view>
#include <switchyard/text.hpp>
#include <utility>
#include <vector>

namespace switchyard {
namespace sdk __attribute__((visibility("hidden"))) {

  /// Where and how to POST. Header values may be secrets: the helper never logs them and
  /// never puts them into an error text.
  struct PostTarget {
    std::string scheme;  ///< "http" or "https"
    std::string host;
    uint16_t port = 0;
    std::string path_and_query;
    std::vector<std::pair<std::string, std::string>> headers;
    int timeout_ms = 10000;
    bool gzip = false;
    std::string ca_file;  ///< https: extra trust anchors (PEM); the system store is always used
  };

  struct PostResult {
    bool sent = false;  ///< a response came back (any status)
    int status = 0;     ///< its status code; 0 when nothing came back
    std::string body;   ///< the response body, capped at max_body bytes
    std::string error;  ///< transport failure text when !sent (never a header value)
    bool success() const { return sent && status >= 200 && status < 300; }
  };

  /// Parses an http(s) URL into `target`. False (with `error`) for anything else.
  inline bool parseUrl(std::string_view url, PostTarget & target, std::string & error) {
    try {
      const Poco::URI uri{std::string(url)};
      if (uri.getScheme() != "http" && uri.getScheme() != "https") {
        error = "the URL must start with http:// or https://";
        return false;
      }
      if (uri.getHost().empty()) {
        error = "the URL has no host";
        return false;
      }
      if (!uri.getUserInfo().empty()) {
        // Credentials in a URL end up in logs and error texts; headers from env vars do not.
        error = "the URL must not carry credentials; use a header with value_env";
        return false;
      }
      target.scheme = uri.getScheme();
      target.host = uri.getHost();
      target.port = uri.getPort();
      target.path_and_query = uri.getPathAndQuery().empty() ? "/" : uri.getPathAndQuery();
      return true;
    } catch (const Poco::Exception& e) {
      error = "invalid URL: " + e.displayText();
      return false;
    }
  }

  /**
   * Reads the delivery settings every HTTP sink shares from its JSON config object (any
   * nlohmann::json-like type): "url" (required), "headers" ({"Name": "literal"} or
   * {"Name": {"value_env": "VAR"}} for secrets), "timeout_ms", "gzip", "ca_file". Keys it does
   * not know are left to the caller. False (with `error`) when a value is wrong or a header's
   * environment variable is unset; the error names the variable, never its value.
   */
  template <class Json>
  bool targetFromConfig(const Json& config, PostTarget& target, std::string& error) {
    if (!config.contains("url") || !config["url"].is_string()) {
      error = "\"url\" is required and must be a string";
      return false;
    }
    if (!parseUrl(config["url"].template get<std::string>(), target, error)) {
      return false;
    }
    if (config.contains("timeout_ms")) {
      const auto& t = config["timeout_ms"];
      if (!t.is_number_integer() || t.template get<int64_t>() < 1 ||
          t.template get<int64_t>() > 600000) {
        error = "\"timeout_ms\" must be an integer from 1 to 600000";
        return false;
      }
      target.timeout_ms = t.template get<int>();
    }
    if (config.contains("gzip")) {
      if (!config["gzip"].is_boolean()) {
        error = "\"gzip\" must be true or false";
        return false;
      }
      target.gzip = config["gzip"].template get<bool>();
    }
    if (config.contains("ca_file")) {
      if (!config["ca_file"].is_string()) {
        error = "\"ca_file\" must be a string";
        return false;
      }
      target.ca_file = config["ca_file"].template get<std::string>();
    }
    if (config.contains("headers")) {
      const auto& headers = config["headers"];
      if (!headers.is_object()) {
        error = "\"headers\" must be an object of name: value";
        return false;
      }
      for (const auto& [name, value] : headers.items()) {
        if (!validHeaderName(name)) {
          error = "invalid header name \"" + name + "\"";
          return false;
        }
        if (value.is_string()) {
          if (!validHeaderValue(value.template get<std::string>())) {
            error = "header \"" + name + "\" has an invalid value";
            return false;
          }
          target.headers.emplace_back(name, value.template get<std::string>());
          continue;
        }
        if (!value.is_object() || value.size() != 1 || !value.contains("value_env") ||
            !value["value_env"].is_string()) {
          error = "header \"" + name + "\" must be a string or {\"value_env\": \"VAR\"}";
          return false;
        }
        const std::string var = value["value_env"].template get<std::string>();
        const char* secret = std::getenv(var.c_str());
        if (secret == nullptr || *secret == '\0') {
          error = "header \"" + name + "\": environment variable " + var + " is not set";
          return false;
        }
        if (!validHeaderValue(secret)) {
          error = "header \"" + name + "\": environment variable " + var +
                  " holds characters a header cannot carry";
          return false;
        }
        target.headers.emplace_back(name, std::string(secret));
      }
    }
    return true;
  }

  /// The status code of a parsed response. Poco keeps it in an enum that ends at 511, so a
  /// receiver's 529 read through getStatus() would be undefined behaviour; the status line
  /// Poco writes is read back instead.
  inline int statusOf(const Poco::Net::HTTPResponse& response) {
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

  /// Lower-case hex SHA-256 of `bytes`: stable ids (idempotency keys, trace ids) derived from
  /// request ids, so a redelivered batch carries the same ids as the first try.
  inline std::string sha256Hex(std::string_view bytes) {
    Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
    engine.update(bytes.data(), static_cast<unsigned>(bytes.size()));
    return Poco::DigestEngine::digestToHex(engine.digest());
  }

  /// gzip-compresses `bytes` (Content-Encoding: gzip).
  inline std::string gzipped(std::string_view bytes) {
    std::ostringstream sink;
    Poco::DeflatingOutputStream deflate(sink, Poco::DeflatingStreamBuf::STREAM_GZIP);
    deflate.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    deflate.close();
    return std::move(sink).str();
  }

  /**
   * Sends `body` to `target` on a fresh connection and reads the answer. Blocking, bounded by
   * target.timeout_ms per socket operation. A fresh connection per batch costs a handshake but
   * never trips over a keep-alive connection the receiver closed while the sink was idle.
   */
  inline PostResult post(const PostTarget& target, std::string_view content_type,
                         std::string_view body, size_t max_body = 64 * 1024) {
    PostResult result;
    try {
      std::unique_ptr<Poco::Net::HTTPClientSession> session;
      if (target.scheme == "https") {
        Poco::Net::Context::Ptr context =
            new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, "", "", target.ca_file,
                                   Poco::Net::Context::VERIFY_RELAXED, 9, true);
        session =
            std::make_unique<Poco::Net::HTTPSClientSession>(target.host, target.port, context);
      } else {
        session = std::make_unique<Poco::Net::HTTPClientSession>(target.host, target.port);
      }
      const Poco::Timespan timeout(static_cast<Poco::Timespan::TimeDiff>(target.timeout_ms) * 1000);
      session->setTimeout(timeout, timeout, timeout);
      session->setKeepAlive(false);

      Poco::Net::HTTPRequest request(Poco::Net::HTTPRequest::HTTP_POST, target.path_and_query,
                                     Poco::Net::HTTPMessage::HTTP_1_1);
      for (const auto& [name, value] : target.headers) {
        request.set(name, value);
      }
      request.setContentType(std::string(content_type));
      std::string compressed;
      if (target.gzip) {
        compressed = gzipped(body);
        body = compressed;
        request.set("Content-Encoding", "gzip");
      }
      request.setContentLength(static_cast<std::streamsize>(body.size()));
      std::ostream& out = session->sendRequest(request);
      out.write(body.data(), static_cast<std::streamsize>(body.size()));
      out.flush();
      if (!out.good()) {
        result.error = "connection lost while sending the request";
        return result;
      }
      Poco::Net::HTTPResponse response;
      std::istream& in = session->receiveResponse(response);
      result.sent = true;
      result.status = statusOf(response);
      char buf[8192];
      while (in.good() && result.body.size() < max_body) {
        in.read(buf,
                static_cast<std::streamsize>(std::min(sizeof buf, max_body - result.body.size())));
        result.body.append(buf, static_cast<size_t>(in.gcount()));
      }
      return result;
    } catch (const Poco::Exception& e) {
      result.sent = result.status != 0;
      result.error = e.displayText();
    } catch (const std::exception& e) {
      result.sent = result.status != 0;
      result.error = e.what();
    }
    return result;
  }

  /// Keeps OpenSSL set up for Poco while a sink that may speak https lives.
  class SslScope {
   public:
    SslScope() { Poco::Net::initializeSSL(); }
    ~SslScope() { Poco::Net::uninitializeSSL(); }
    SslScope(const SslScope&) = delete;
    SslScope& operator=(const SslScope&) = delete;
  };

}  // namespace )
}  // namespace switchyard
