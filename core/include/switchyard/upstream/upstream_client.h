/// @file switchyard/upstream/upstream_client.h
/// @brief Upstream HTTP(S) exchanges with pooled keep-alive connections and timeouts.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "switchyard/config/config.h"
#include "switchyard/plugin/plugin_types.h"

namespace switchyard {

/// Why an upstream exchange failed, in the classes a client and the call record care about.
enum class UpstreamFailure {
  kNone,
  kConnect,  ///< could not connect (refused, unreachable, TLS handshake): the request never left
  kTimeout,  ///< connect, first byte, idle or total timeout
  kReset,    ///< the connection broke after the request was sent
  kProtocol, ///< the upstream answered with something that is not HTTP
  kTooLarge, ///< the response exceeded the gateway's limit
};
const char* failureName(UpstreamFailure failure);

struct UpstreamCall {
  std::string method = "POST";
  std::string path; ///< path and query relative to the target's base URL
  HeaderList headers;
  std::string body;
  UpstreamTimeouts timeouts;
};

/// An upstream response being read. Data-plane API: no exceptions, results only.
class UpstreamExchange {
public:
  enum class Read { kData, kEnd, kFailed };
  virtual ~UpstreamExchange() = default;
  virtual int status() const = 0;
  virtual const HeaderList& headers() const = 0;
  /// Appends whatever has arrived to `out`, waiting at most the idle timeout for it.
  virtual Read readSome(std::string& out) = 0;
  virtual UpstreamFailure failure() const = 0;
  virtual const std::string& failureMessage() const = 0;

  /// Reads the rest of the body, up to `limit` bytes.
  Read readAll(std::string& out, size_t limit);
};
using UpstreamExchangePtr = std::unique_ptr<UpstreamExchange>;

struct UpstreamStartResult {
  UpstreamExchangePtr exchange; ///< set when the response head arrived
  UpstreamFailure failure = UpstreamFailure::kNone;
  std::string message;
};

/// Sends requests to upstream targets identified by base URL, reusing connections.
class UpstreamClient {
public:
  virtual ~UpstreamClient() = default;
  /// Sends the request and waits for the response head (status and headers).
  virtual UpstreamStartResult start(const std::string& base_url, int max_idle, const UpstreamCall& call) = 0;
};
using UpstreamClientSharedPtr = std::shared_ptr<UpstreamClient>;

/// The Poco-based client (HTTP and HTTPS through OpenSSL, system CA store).
UpstreamClientSharedPtr makePocoUpstreamClient();

/// The gateway's client: `http://` base URLs go over the gateway's own HTTP/1.1 client on
/// non-blocking sockets, everything else (`https://`) over the Poco client.
UpstreamClientSharedPtr makeUpstreamClient();

} // namespace switchyard
