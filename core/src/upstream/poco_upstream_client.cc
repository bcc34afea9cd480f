#include <Poco/Net/AcceptCertificateHandler.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/RejectCertificateHandler.h>
#include <Poco/Net/SSLManager.h>
#include <Poco/URI.h>
#include <spdlog/spdlog.h>

#include <deque>
#include <mutex>
#include <unordered_map>

#include "switchyard/http/poco_status.h"
#include "switchyard/upstream/upstream_client.h"

namespace switchyard {
namespace {

using Clock = std::chrono::steady_clock;
using Poco::Net::HTTPClientSession;

struct Origin {
  bool tls = false;
  std::string host;
  uint16_t port = 0;
  std::string prefix; ///< path of the base URL, e.g. "/v1"
};

bool parseOrigin(const std::string& base_url, Origin* out) {
  try {
    Poco::URI uri(base_url);
    out->tls = uri.getScheme() == "https";
    if (!out->tls && uri.getScheme() != "http") {
      return false;
    }
    out->host = uri.getHost();
    out->port = uri.getPort();
    out->prefix = uri.getPathEtc();
    while (!out->prefix.empty() && out->prefix.back() == '/') {
      out->prefix.pop_back();
    }
    return !out->host.empty();
  } catch (const Poco::Exception&) {
    return false;
  }
}

Poco::Timespan toTimespan(std::chrono::milliseconds ms) {
  return Poco::Timespan(static_cast<Poco::Timespan::TimeDiff>(std::max<int64_t>(ms.count(), 1)) * 1000);
}

/// A client session with the socket options it was last given, so that options are set
/// only when they change (a setsockopt per request per option otherwise).
struct PooledSession {
  std::unique_ptr<HTTPClientSession> http;
  Poco::Timespan receive_timeout{-1};

  void setReceiveTimeout(const Poco::Timespan& t) {
    if (t != receive_timeout) {
      http->socket().setReceiveTimeout(t);
      receive_timeout = t;
    }
  }
};
using PooledSessionPtr = std::unique_ptr<PooledSession>;

/// Idle keep-alive sessions of one origin.
class SessionPool : public std::enable_shared_from_this<SessionPool> {
public:
  SessionPool(Origin origin, Poco::Net::Context::Ptr tls) : origin_(std::move(origin)), tls_(std::move(tls)) {}

  const Origin& origin() const { return origin_; }

  /// @param reused set to true when the session was idle in the pool.
  PooledSessionPtr acquire(bool* reused) {
    {
      std::lock_guard lock(mutex_);
      if (!idle_.empty()) {
        auto s = std::move(idle_.back());
        idle_.pop_back();
        *reused = true;
        return s;
      }
    }
    *reused = false;
    auto s = std::make_unique<PooledSession>();
    if (origin_.tls) {
      s->http = std::make_unique<Poco::Net::HTTPSClientSession>(origin_.host, origin_.port, tls_);
    } else {
      s->http = std::make_unique<HTTPClientSession>(origin_.host, origin_.port);
    }
    s->http->setKeepAlive(true);
    // No proactive reconnects by Poco: a connection the upstream closed while idle is caught
    // by the retry in start(), and the socket options cached in PooledSession stay true.
    s->http->setKeepAliveTimeout(Poco::Timespan(24 * 3600, 0));
    return s;
  }

  void release(PooledSessionPtr s, size_t max_idle) {
    std::lock_guard lock(mutex_);
    if (idle_.size() < max_idle) {
      idle_.push_back(std::move(s));
    }
  }

private:
  Origin origin_;
  Poco::Net::Context::Ptr tls_;
  std::mutex mutex_;
  std::vector<PooledSessionPtr> idle_;
};
using SessionPoolSharedPtr = std::shared_ptr<SessionPool>;

UpstreamFailure classify(const Poco::Exception& e, bool sent) {
  if (dynamic_cast<const Poco::TimeoutException*>(&e) != nullptr) {
    return UpstreamFailure::kTimeout;
  }
  if (!sent) {
    return UpstreamFailure::kConnect;
  }
  if (dynamic_cast<const Poco::Net::MessageException*>(&e) != nullptr &&
      dynamic_cast<const Poco::Net::NoMessageException*>(&e) == nullptr) {
    return UpstreamFailure::kProtocol;
  }
  return UpstreamFailure::kReset;
}

class PocoExchange : public UpstreamExchange {
public:
  PocoExchange(SessionPoolSharedPtr pool, PooledSessionPtr session, size_t max_idle,
               std::istream& body, const Poco::Net::HTTPResponse& response, const UpstreamTimeouts& timeouts,
               Clock::time_point first_data_deadline, Clock::time_point deadline)
      : pool_(std::move(pool)), session_(std::move(session)), max_idle_(max_idle), body_(body),
        status_(statusCodeOf(response)), idle_(timeouts.idle), first_data_deadline_(first_data_deadline),
        deadline_(deadline) {
    for (const auto& [name, value] : response) {
      headers_.emplace_back(name, value);
    }
    body_.exceptions(std::ios::badbit);
  }

  ~PocoExchange() override {
    // Only a response read to its end leaves the connection reusable.
    if (complete_ && session_ && session_->http->getKeepAlive()) {
      pool_->release(std::move(session_), max_idle_);
    } else if (session_) {
      try {
        session_->http->reset();
      } catch (...) {
      }
    }
  }

  int status() const override { return status_; }
  const HeaderList& headers() const override { return headers_; }
  UpstreamFailure failure() const override { return failure_; }
  const std::string& failureMessage() const override { return message_; }

  Read readSome(std::string& out) override {
    if (complete_) {
      return Read::kEnd;
    }
    if (failure_ != UpstreamFailure::kNone) {
      return Read::kFailed;
    }
    const auto now = Clock::now();
    auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - now);
    if (remaining.count() <= 0) {
      return fail(UpstreamFailure::kTimeout, "upstream total timeout");
    }
    // A stream's head comes at once and its first token much later: until body bytes arrive,
    // the first-byte timeout still runs, so a stream that stalls before its first token is
    // caught by it rather than by the (often longer) idle timeout.
    auto wait = std::min(idle_, remaining);
    if (!got_data_) {
      const auto first = std::chrono::duration_cast<std::chrono::milliseconds>(first_data_deadline_ - now);
      if (first.count() <= 0) {
        return fail(UpstreamFailure::kTimeout, "upstream first byte timeout");
      }
      wait = std::min(first, remaining);
    }
    try {
      session_->setReceiveTimeout(toTimespan(wait));
      if (body_.peek() == std::char_traits<char>::eof()) {
        complete_ = true;
        return Read::kEnd;
      }
      got_data_ = true;
      char buf[16384];
      std::streamsize n = body_.readsome(buf, sizeof buf);
      out.append(buf, static_cast<size_t>(n));
      return Read::kData;
    } catch (const Poco::Exception& e) {
      return fail(classify(e, true), e.displayText());
    } catch (const std::exception& e) {
      return fail(UpstreamFailure::kReset, e.what());
    }
  }

private:
  Read fail(UpstreamFailure f, std::string message) {
    failure_ = f;
    message_ = std::move(message);
    return Read::kFailed;
  }

  SessionPoolSharedPtr pool_;
  PooledSessionPtr session_;
  size_t max_idle_;
  std::istream& body_;
  int status_;
  HeaderList headers_;
  std::chrono::milliseconds idle_;
  Clock::time_point first_data_deadline_;
  Clock::time_point deadline_;
  bool got_data_ = false;
  bool complete_ = false;
  UpstreamFailure failure_ = UpstreamFailure::kNone;
  std::string message_;
};

class PocoUpstreamClient : public UpstreamClient {
public:
  PocoUpstreamClient() {
    Poco::Net::initializeSSL();
    Poco::Net::Context::Params params;
    params.verificationMode = Poco::Net::Context::VERIFY_RELAXED;
    params.loadDefaultCAs = true;
    params.cipherList = "HIGH:!aNULL:!MD5:!RC4";
    tls_ = new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
    tls_->requireMinimumProtocol(Poco::Net::Context::PROTO_TLSV1_2);
    Poco::SharedPtr<Poco::Net::InvalidCertificateHandler> reject =
        new Poco::Net::RejectCertificateHandler(false);
    Poco::Net::SSLManager::instance().initializeClient(nullptr, reject, tls_);
  }

  UpstreamStartResult start(const std::string& base_url, int max_idle, const UpstreamCall& call) override {
    SessionPoolSharedPtr pool = poolFor(base_url);
    if (!pool) {
      return {nullptr, UpstreamFailure::kConnect, "bad upstream base URL"};
    }
    const auto deadline = Clock::now() + call.timeouts.total;
    // A pooled connection the upstream closed while idle fails before any answer; that
    // proves the request was not processed, so it is sent once more on a fresh connection.
    for (int attempt = 0; attempt < 2; ++attempt) {
      bool reused = false;
      auto session = pool->acquire(&reused);
      bool sent = false;
      try {
        const auto first_byte = std::min(call.timeouts.first_byte, call.timeouts.total);
        const bool fresh = !session->http->connected();
        if (fresh) {
          // Poco applies these when it connects; the cache then holds the receive timeout.
          session->http->setTimeout(toTimespan(call.timeouts.connect), toTimespan(call.timeouts.total),
                                    toTimespan(first_byte));
        } else {
          session->setReceiveTimeout(toTimespan(first_byte));
        }
        Poco::Net::HTTPRequest request(call.method, pool->origin().prefix + call.path,
                                       Poco::Net::HTTPMessage::HTTP_1_1);
        request.setKeepAlive(true);
        for (const auto& [name, value] : call.headers) {
          request.set(name, value);
        }
        request.setHost(pool->origin().host, pool->origin().port);
        if (call.method != "GET" || !call.body.empty()) {
          request.setContentLength(static_cast<std::streamsize>(call.body.size()));
        }
        std::ostream& os = session->http->sendRequest(request);
        sent = true;
        if (fresh) {
          // Head and body leave as separate sends; without this the body waits for a delayed ACK.
          session->http->socket().setNoDelay(true);
          session->receive_timeout = toTimespan(first_byte);
        }
        os.write(call.body.data(), static_cast<std::streamsize>(call.body.size()));
        os.flush();
        if (!os.good()) {
          throw Poco::Net::ConnectionResetException("upstream closed the connection while sending");
        }
        const auto first_data_deadline = Clock::now() + first_byte;
        Poco::Net::HTTPResponse response;
        std::istream& body = session->http->receiveResponse(response);
        return {std::make_unique<PocoExchange>(pool, std::move(session), static_cast<size_t>(max_idle), body,
                                               response, call.timeouts, first_data_deadline, deadline),
                UpstreamFailure::kNone,
                {}};
      } catch (const Poco::Exception& e) {
        const bool stale = reused && (dynamic_cast<const Poco::Net::NoMessageException*>(&e) != nullptr ||
                                      dynamic_cast<const Poco::Net::ConnectionResetException*>(&e) != nullptr ||
                                      dynamic_cast<const Poco::Net::ConnectionAbortedException*>(&e) != nullptr);
        if (stale && attempt == 0) {
          continue;
        }
        return {nullptr, classify(e, sent), e.displayText()};
      } catch (const std::exception& e) {
        return {nullptr, sent ? UpstreamFailure::kReset : UpstreamFailure::kConnect, e.what()};
      }
    }
    return {nullptr, UpstreamFailure::kReset, "upstream closed the connection"};
  }

private:
  SessionPoolSharedPtr poolFor(const std::string& base_url) {
    std::lock_guard lock(mutex_);
    auto it = pools_.find(base_url);
    if (it != pools_.end()) {
      return it->second;
    }
    Origin origin;
    if (!parseOrigin(base_url, &origin)) {
      return nullptr;
    }
    auto pool = std::make_shared<SessionPool>(std::move(origin), tls_);
    pools_.emplace(base_url, pool);
    return pool;
  }

  Poco::Net::Context::Ptr tls_;
  std::mutex mutex_;
  std::unordered_map<std::string, SessionPoolSharedPtr> pools_;
};

} // namespace

const char* failureName(UpstreamFailure failure) {
  switch (failure) {
  case UpstreamFailure::kNone: return "none";
  case UpstreamFailure::kConnect: return "connect_failure";
  case UpstreamFailure::kTimeout: return "timeout";
  case UpstreamFailure::kReset: return "connection_reset";
  case UpstreamFailure::kProtocol: return "protocol_error";
  case UpstreamFailure::kTooLarge: return "response_too_large";
  }
  return "unknown";
}

UpstreamExchange::Read UpstreamExchange::readAll(std::string& out, size_t limit) {
  for (;;) {
    Read r = readSome(out);
    if (r != Read::kData) {
      return r;
    }
    if (out.size() > limit) {
      return Read::kFailed;
    }
  }
}

UpstreamClientSharedPtr makePocoUpstreamClient() { return std::make_shared<PocoUpstreamClient>(); }

} // namespace switchyard
