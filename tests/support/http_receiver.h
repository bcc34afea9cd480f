/// @file tests/support/http_receiver.h
/// @brief In-process HTTP receiver for log-sink tests (a webhook or an OTLP collector): records
/// every POST, answers with a scripted status, and can go down and come back on its port.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "mock_openai_upstream.h"

namespace switchyard::testing {

/// One request as the receiver got it. `body` is decompressed when the request carried
/// Content-Encoding: gzip; `wire_body` is what came over the socket.
struct ReceivedRequest : RecordedRequest {
  std::string wire_body;
};

/// An HTTP/1.1 server on 127.0.0.1:<ephemeral>. Every request is recorded first and then
/// answered with the current scripted answer (default 200 with an empty JSON object).
/// Thread-safe.
class HttpReceiver {
 public:
  /// Starts listening; ready when the constructor returns.
  HttpReceiver();
  ~HttpReceiver();
  HttpReceiver(const HttpReceiver&) = delete;
  HttpReceiver& operator=(const HttpReceiver&) = delete;

  uint16_t port() const;
  /// "http://127.0.0.1:<port><path>".
  std::string url(const std::string& path = "/") const;

  /// Closes the listening socket and aborts open connections: clients get "connection
  /// refused" until start(). The port stays reserved for start() by nothing but luck, which
  /// on 127.0.0.1 with an ephemeral port is good enough for tests.
  void stop();
  /// Listens again on the same port.
  void start();
  bool running() const;

  /// Answers every following request with `status` and `body` (Content-Type
  /// application/json).
  void respondWith(int status, std::string body = "{}");
  /// Answers the next `times` requests with `status`/`body`, then the scripted answer again.
  void failNext(int status, std::string body, int times = 1);

  std::vector<ReceivedRequest> requests() const;
  size_t requestCount() const;
  void clearRequests();

  /// Waits until `done()` (evaluated under no lock) holds; false when `timeout` passes first.
  bool waitUntil(const std::function<bool()>& done,
                 std::chrono::milliseconds timeout = std::chrono::seconds(60)) const;

  struct State;  // Shared with the request handlers; defined in the .cc.

 private:
  struct Server;
  std::shared_ptr<State> state_;
  std::unique_ptr<Server> server_;
  uint16_t port_ = 0;
};

}  // namespace switchyard::testing
