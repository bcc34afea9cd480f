/// @file switchyard/http/http_server.h
/// @brief An HTTP/1.1 listener with a connection cap, overload answers and graceful drain.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "switchyard/config/config.h"
#include "switchyard/http/http_types.h"

namespace switchyard {

struct HttpServerOptions {
  std::string name = "http";
  ListenAddress listen;
  int max_connections = 12000;  ///< beyond this, new connections get 503 + Retry-After
  int keep_alive_timeout_s = 5;
  int max_keep_alive_requests = 10000;
  int request_timeout_s = 60;  ///< reading a request head or body
  int thread_stack_kb = 256;
  int listen_backlog = 4096;
  int min_threads = 2;  ///< threads started up front
  int worker_nice = 0;  ///< handler threads' nice value above the loop's
  bool reuse_port = false;  ///< SO_REUSEPORT: other processes may listen on the same port
  size_t max_body_bytes = 32u * 1024 * 1024;
};

/**
 * HTTP/1.1 server: one epoll loop accepts connections and reads requests (an idle keep-alive
 * connection costs no thread), and an elastic pool of small-stack workers runs each complete
 * request's handler, which may block on its upstream for the whole life of a stream. It never
 * drops a connection silently: beyond the cap it writes a JSON 503 with Retry-After and closes.
 */
class HttpServer {
 public:
  /// Binds the listener. @throw std::exception when it cannot (start-up only).
  HttpServer(HttpServerOptions options, HttpHandler& handler);
  ~HttpServer();

  void start();
  uint16_t port() const;
  /// Stops accepting and asks keep-alive connections to close after their current request.
  void stopAccepting();
  /// Waits until no connection is open, or the deadline passes. @return true when idle.
  bool waitIdle(std::chrono::milliseconds deadline);

  int openConnections() const;
  /// Requests whose handler is running (streams included); 0 once every answer is complete.
  int activeRequests() const;
  uint64_t refusedConnections() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchyard
