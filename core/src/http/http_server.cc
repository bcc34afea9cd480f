#include "switchyard/http/http_server.h"

#include "switchyard/http/poco_status.h"

#include <Poco/Net/HTTPRequestHandler.h>
#include <Poco/Net/HTTPRequestHandlerFactory.h>
#include <Poco/Delegate.h>
#include <Poco/Net/HTTPServerResponseImpl.h>
#include <Poco/Net/HTTPServerSession.h>
#include <Poco/Net/TCPServerConnection.h>
#include <Poco/Timestamp.h>
#include <poll.h>
#include <Poco/Net/HTTPServerParams.h>
#include <Poco/Net/HTTPServerRequest.h>
#include <Poco/Net/HTTPServerRequestImpl.h>
#include <Poco/Net/HTTPServerResponse.h>
#include <Poco/Net/NetException.h>
#include <Poco/Net/ServerSocket.h>
#include <Poco/Net/TCPServer.h>
#include <Poco/Net/TCPServerConnectionFactory.h>
#include <Poco/ThreadPool.h>
#include <spdlog/spdlog.h>
#include <strings.h>

#include <atomic>
#include <random>
#include <thread>

namespace switchyard {
namespace {

using Poco::Net::HTTPServerRequest;
using Poco::Net::HTTPServerResponse;

std::string newRequestId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char* kHex = "0123456789abcdef";
  std::string id = "req_";
  for (int i = 0; i < 2; ++i) {
    uint64_t v = rng();
    for (int j = 0; j < 16; ++j) {
      id += kHex[(v >> (j * 4)) & 15];
    }
  }
  return id;
}

struct Counters {
  std::atomic<int> open{0};
  std::atomic<uint64_t> refused{0};
};

/// Our writer over Poco's response: the only place that touches Poco's output streams.
class PocoResponseWriter : public HttpResponseWriter {
public:
  explicit PocoResponseWriter(HTTPServerResponse& response) : response_(response) {}

  void setHeader(const std::string& name, const std::string& value) override {
    if (!started_) {
      response_.set(name, value);
    }
  }

  bool send(int status, std::string_view content_type, std::string_view body) override {
    if (started_) {
      return false;
    }
    started_ = true;
    try {
      setStatusCode(response_, status);
      response_.setContentType(std::string(content_type));
      response_.setContentLength(static_cast<std::streamsize>(body.size()));
      response_.sendBuffer(body.data(), body.size());
      return true;
    } catch (...) {
      return false;
    }
  }

  bool beginStream(int status, std::string_view content_type) override {
    if (started_) {
      return false;
    }
    started_ = true;
    try {
      setStatusCode(response_, status);
      response_.setContentType(std::string(content_type));
      response_.setChunkedTransferEncoding(true);
      stream_ = &response_.send();
      stream_->flush();
      return stream_->good();
    } catch (...) {
      stream_ = nullptr;
      return false;
    }
  }

  bool write(std::string_view bytes) override {
    if (stream_ == nullptr || !stream_->good()) {
      return false;
    }
    try {
      stream_->write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
      stream_->flush();
      return stream_->good();
    } catch (...) {
      return false;
    }
  }

  void closeAfter() override { response_.setKeepAlive(false); }
  bool started() const override { return started_; }

private:
  HTTPServerResponse& response_;
  std::ostream* stream_ = nullptr;
  bool started_ = false;
};

bool readBody(HTTPServerRequest& request, size_t limit, std::string* body, bool* too_large) {
  *too_large = false;
  const bool has_length = request.hasContentLength();
  if (has_length) {
    const auto length = request.getContentLength64();
    if (length < 0 || static_cast<uint64_t>(length) > limit) {
      *too_large = true;
      return false;
    }
    body->reserve(static_cast<size_t>(length));
  } else if (!request.getChunkedTransferEncoding()) {
    return true; // no body
  }
  std::istream& in = request.stream();
  char buf[16384];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    body->append(buf, static_cast<size_t>(in.gcount()));
    if (body->size() > limit) {
      *too_large = true;
      return false;
    }
  }
  return !in.bad();
}

/// Closing with request bytes unread makes the kernel answer them with a reset, which can
/// destroy our 413 on the client's side before it is read. Like nginx's lingering close,
/// read and discard a bounded amount first.
void lingerOnUnreadBody(HTTPServerRequest& request) {
  try {
    auto& impl = static_cast<Poco::Net::HTTPServerRequestImpl&>(request);
    Poco::Net::StreamSocket& socket = impl.socket();
    socket.setReceiveTimeout(Poco::Timespan(0, 200000));
    char sink[16384];
    size_t discarded = 0;
    while (discarded < 4u * 1024 * 1024) {
      int n = socket.receiveBytes(sink, sizeof sink);
      if (n <= 0) {
        break;
      }
      discarded += static_cast<size_t>(n);
    }
  } catch (...) {
  }
}

class Adapter : public Poco::Net::HTTPRequestHandler {
public:
  Adapter(HttpHandler& handler, size_t max_body) : handler_(handler), max_body_(max_body) {}

  void handleRequest(HTTPServerRequest& request, HTTPServerResponse& response) override {
    PocoResponseWriter writer(response);
    try {
      HttpRequest req;
      req.request_id = newRequestId();
      writer.setHeader("x-request-id", req.request_id);
      req.method = request.getMethod();
      req.uri = request.getURI();
      const auto q = req.uri.find('?');
      req.path = req.uri.substr(0, q);
      if (q != std::string::npos) {
        req.query = req.uri.substr(q + 1);
      }
      for (const auto& [name, value] : request) {
        req.headers.emplace_back(name, value);
      }
      req.peer = request.clientAddress().toString();
      bool too_large = false;
      if (!readBody(request, max_body_, &req.body, &too_large)) {
        // The rest of the body is unread, so the connection cannot carry another request.
        writer.closeAfter();
        if (too_large) {
          ApiError e{413, "invalid_request_error", "request_too_large",
                     "Request body exceeds the gateway limit of " + std::to_string(max_body_) + " bytes"};
          writer.send(413, "application/json", e.toJson());
          lingerOnUnreadBody(request);
        }
        return;
      }
      handler_.handle(req, writer);
    } catch (const std::exception& e) {
      spdlog::error("unhandled error serving {}: {}", request.getURI(), e.what());
      writer.closeAfter();
      if (!writer.started()) {
        writer.send(500, "application/json", ApiError::internal("internal error").toJson());
      }
    } catch (...) {
      writer.closeAfter();
      if (!writer.started()) {
        writer.send(500, "application/json", ApiError::internal("internal error").toJson());
      }
    }
  }

private:
  HttpHandler& handler_;
  size_t max_body_;
};

class AdapterFactory : public Poco::Net::HTTPRequestHandlerFactory {
public:
  AdapterFactory(HttpHandler& handler, size_t max_body) : handler_(handler), max_body_(max_body) {}
  Poco::Net::HTTPRequestHandler* createRequestHandler(const HTTPServerRequest&) override {
    return new Adapter(handler_, max_body_);
  }
  /// abort=false waits for each connection's current request; abort=true cuts them.
  void notifyStopped(bool abort) { serverStopped.notify(this, abort); }
  template <class Connection> void subscribe(Connection* c, void (Connection::*fn)(const bool&)) {
    serverStopped += Poco::delegate(c, fn);
  }
  template <class Connection> void unsubscribe(Connection* c, void (Connection::*fn)(const bool&)) {
    serverStopped -= Poco::delegate(c, fn);
  }

private:
  HttpHandler& handler_;
  size_t max_body_;
};

/// HTTP/1.1 keep-alive loop, as Poco's HTTPServerConnection runs it, with two differences:
/// it counts itself in and out of the open connections, and it waits for the next request
/// with one poll(2) where Poco 1.11 creates, fills, waits on and closes an epoll set per
/// request (four syscalls and an fd on the hot path).
class KeepAliveConnection : public Poco::Net::TCPServerConnection {
public:
  KeepAliveConnection(const Poco::Net::StreamSocket& socket, Poco::Net::HTTPServerParams::Ptr params,
                      Poco::SharedPtr<AdapterFactory> factory, Counters& counters)
      : TCPServerConnection(socket), params_(std::move(params)), factory_(std::move(factory)),
        counters_(counters) {
    counters_.open++;
    factory_->subscribe(this, &KeepAliveConnection::onServerStopped);
    // Poco writes a response head and body (and every SSE chunk) as separate sends; with
    // Nagle on, each second send waits for the peer's delayed ACK (~40 ms).
    try {
      this->socket().setNoDelay(true);
    } catch (...) {
    }
  }

  ~KeepAliveConnection() override {
    try {
      factory_->unsubscribe(this, &KeepAliveConnection::onServerStopped);
    } catch (...) {
    }
    counters_.open--;
  }

  void run() override {
    Session session(socket(), params_);
    int remaining = params_->getMaxKeepAliveRequests(); // <= 0: unlimited
    bool first = true;
    while (!stopped_) {
      const Poco::Timespan wait = first ? params_->getTimeout() : params_->getKeepAliveTimeout();
      if (!first && (!session.getKeepAlive() || (params_->getMaxKeepAliveRequests() > 0 && remaining <= 0))) {
        break;
      }
      if (session.pending() == 0 && !readable(wait)) {
        break;
      }
      first = false;
      --remaining;
      try {
        Poco::FastMutex::ScopedLock lock(mutex_);
        if (stopped_) {
          break;
        }
        Poco::Net::HTTPServerResponseImpl response(session);
        Poco::Net::HTTPServerRequestImpl request(response, session, params_);
        response.setDate(Poco::Timestamp());
        response.setVersion(request.getVersion());
        response.setKeepAlive(params_->getKeepAlive() && request.getKeepAlive() && session.canKeepAlive());
        std::unique_ptr<Poco::Net::HTTPRequestHandler> handler(factory_->createRequestHandler(request));
        if (request.getExpectContinue() && response.getStatus() == Poco::Net::HTTPResponse::HTTP_OK) {
          response.sendContinue();
        }
        handler->handleRequest(request, response);
        session.setKeepAlive(params_->getKeepAlive() && response.getKeepAlive() && session.canKeepAlive());
      } catch (const Poco::Net::NoMessageException&) {
        break; // the client closed between requests
      } catch (const Poco::Net::MessageException&) {
        sendBadRequest(session);
        break;
      } catch (...) {
        break; // the connection broke; the handler already answered what it could
      }
    }
  }

private:
  /// Exposes how many request bytes Poco already buffered (they need no poll).
  class Session : public Poco::Net::HTTPServerSession {
  public:
    using HTTPServerSession::HTTPServerSession;
    int pending() { return buffered(); }
  };

  bool readable(const Poco::Timespan& wait) {
    pollfd pfd{socket().impl()->sockfd(), POLLIN, 0};
    const int ms = static_cast<int>(wait.totalMilliseconds());
    for (;;) {
      const int rc = ::poll(&pfd, 1, ms);
      if (rc < 0 && errno == EINTR) {
        continue;
      }
      return rc > 0;
    }
  }

  static void sendBadRequest(Poco::Net::HTTPServerSession& session) {
    try {
      Poco::Net::HTTPServerResponseImpl response(session);
      response.setVersion(Poco::Net::HTTPMessage::HTTP_1_1);
      response.setStatusAndReason(Poco::Net::HTTPResponse::HTTP_BAD_REQUEST);
      response.setKeepAlive(false);
      static const std::string kBody =
          ApiError::invalidRequest("Malformed HTTP request", "malformed_http").toJson();
      response.setContentType("application/json");
      response.sendBuffer(kBody.data(), kBody.size());
    } catch (...) {
    }
  }

  /// abort=false waits for the request in progress (the mutex), then ends the connection.
  void onServerStopped(const bool& abort) {
    stopped_ = true;
    if (abort) {
      try {
        socket().shutdown();
      } catch (...) {
      }
      return;
    }
    Poco::FastMutex::ScopedLock lock(mutex_);
    try {
      socket().shutdown();
    } catch (...) {
    }
  }

  Poco::Net::HTTPServerParams::Ptr params_;
  Poco::SharedPtr<AdapterFactory> factory_;
  Counters& counters_;
  Poco::FastMutex mutex_;
  std::atomic<bool> stopped_{false};
};

class CountedConnectionFactory : public Poco::Net::TCPServerConnectionFactory {
public:
  CountedConnectionFactory(Poco::Net::HTTPServerParams::Ptr params, Poco::SharedPtr<AdapterFactory> factory,
                           Counters& counters)
      : params_(std::move(params)), factory_(std::move(factory)), counters_(counters) {}
  Poco::Net::TCPServerConnection* createConnection(const Poco::Net::StreamSocket& socket) override {
    return new KeepAliveConnection(socket, params_, factory_, counters_);
  }

private:
  Poco::Net::HTTPServerParams::Ptr params_;
  Poco::SharedPtr<AdapterFactory> factory_;
  Counters& counters_;
};

/// Admits connections up to the cap; beyond it answers 503 itself instead of queueing.
/// Connections count from the moment a thread takes them, plus those Poco still queues (a
/// queued socket Poco discards at stop never becomes a connection, so it must not be counted
/// as one).
class CapFilter : public Poco::Net::TCPServerConnectionFilter {
public:
  CapFilter(int cap, Counters& counters) : cap_(cap), counters_(counters) {}
  void setServer(const Poco::Net::TCPServer* server) { server_ = server; }

  bool accept(const Poco::Net::StreamSocket& socket) override {
    const int queued = server_ != nullptr ? server_->queuedConnections() : 0;
    if (counters_.open.load() + queued < cap_) {
      return true;
    }
    counters_.refused++;
    refuse(socket);
    return false;
  }

private:
  static void refuse(const Poco::Net::StreamSocket& s) {
    static const std::string kBody =
        ApiError{503, "overloaded_error", "gateway_overloaded",
                 "The gateway is at its connection limit; retry shortly"}
            .toJson();
    static const std::string kResponse = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
                                         "Retry-After: 1\r\nConnection: close\r\nContent-Length: " +
                                         std::to_string(kBody.size()) + "\r\n\r\n" + kBody;
    try {
      Poco::Net::StreamSocket socket(s);
      // Read what the client already sent so closing does not turn into a reset that
      // would discard our answer on its side.
      char sink[4096];
      if (socket.poll(Poco::Timespan(0, 10000), Poco::Net::Socket::SELECT_READ) && socket.available() > 0) {
        socket.receiveBytes(sink, sizeof sink);
      }
      socket.setSendTimeout(Poco::Timespan(0, 100000));
      socket.sendBytes(kResponse.data(), static_cast<int>(kResponse.size()));
      socket.shutdownSend();
    } catch (...) {
    }
  }

  int cap_;
  Counters& counters_;
  const Poco::Net::TCPServer* server_ = nullptr;
};

} // namespace

struct HttpServer::Impl {
  HttpServerOptions options;
  Counters counters;
  Poco::Net::ServerSocket socket;
  std::unique_ptr<Poco::ThreadPool> pool;
  Poco::SharedPtr<AdapterFactory> factory;
  std::unique_ptr<Poco::Net::TCPServer> server;
  bool accepting = false;
  std::thread drainer; // delivers the graceful stop, which blocks on in-flight requests
};

HttpServer::HttpServer(HttpServerOptions options, HttpHandler& handler) : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  const auto& o = impl_->options;
  Poco::Net::SocketAddress address(o.listen.host, o.listen.port);
  impl_->socket.bind(address, /*reuseAddress=*/true);
  impl_->socket.listen(o.listen_backlog);

  auto* params = new Poco::Net::HTTPServerParams();
  params->setKeepAlive(true);
  params->setKeepAliveTimeout(Poco::Timespan(o.keep_alive_timeout_s, 0));
  params->setMaxKeepAliveRequests(o.max_keep_alive_requests);
  params->setTimeout(Poco::Timespan(o.request_timeout_s, 0));
  // Every admitted connection gets a thread at once: no queue in which Poco would
  // silently discard connections. The cap itself is enforced by CapFilter.
  params->setMaxThreads(o.max_connections);
  params->setMaxQueued(o.max_connections);
  // Poco 1.11's TCPServer::stop() wakes one dispatcher thread; every other one waits out this
  // idle time before it ends, and the pool's joinAll() at shutdown waits for them all. A long
  // idle time made each shutdown after a burst of connections hang that long.
  params->setThreadIdleTime(Poco::Timespan(1, 0));
  Poco::Net::HTTPServerParams::Ptr params_ptr(params);

  impl_->pool = std::make_unique<Poco::ThreadPool>(o.name, std::max(2, o.min_threads), o.max_connections + 2,
                                                  /*idleTime=*/60, o.thread_stack_kb * 1024);
  impl_->factory = new AdapterFactory(handler, o.max_body_bytes);
  impl_->server = std::make_unique<Poco::Net::TCPServer>(
      new CountedConnectionFactory(params_ptr, impl_->factory, impl_->counters), *impl_->pool, impl_->socket,
      params_ptr);
  Poco::AutoPtr<CapFilter> filter = new CapFilter(o.max_connections, impl_->counters);
  filter->setServer(impl_->server.get());
  impl_->server->setConnectionFilter(filter);
}

HttpServer::~HttpServer() {
  stopAccepting();
  if (!waitIdle(std::chrono::milliseconds(200))) {
    impl_->factory->notifyStopped(/*abort=*/true);
  }
  if (impl_->drainer.joinable()) {
    impl_->drainer.join();
  }
  impl_->server.reset();
  impl_->pool->joinAll();
}

void HttpServer::start() {
  impl_->server->start();
  impl_->accepting = true;
}

uint16_t HttpServer::port() const { return impl_->socket.address().port(); }

void HttpServer::stopAccepting() {
  if (!impl_->accepting) {
    return;
  }
  impl_->accepting = false;
  impl_->server->stop();
  try {
    impl_->socket.close();
  } catch (...) {
  }
  impl_->drainer = std::thread([factory = impl_->factory]() mutable { factory->notifyStopped(/*abort=*/false); });
}

bool HttpServer::waitIdle(std::chrono::milliseconds deadline) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (impl_->counters.open.load() > 0) {
    if (std::chrono::steady_clock::now() >= until) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

int HttpServer::openConnections() const { return impl_->counters.open.load(); }
uint64_t HttpServer::refusedConnections() const { return impl_->counters.refused.load(); }

} // namespace switchyard
