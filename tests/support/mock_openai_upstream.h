/// @file tests/support/mock_openai_upstream.h
/// @brief In-process fake of the OpenAI HTTP API (test fixture only) that records every request.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace switchyard::testing {

/// One request as the mock received it.
struct RecordedRequest {
  std::string method;
  std::string path;                            ///< Path and query, e.g. "/v1/chat/completions".
  std::map<std::string, std::string> headers;  ///< Lower-case names.
  std::string body;
};

/// A failure the mock injects instead of, or into, its normal answer (see injectFault).
struct Fault {
  enum class Kind {
    kStatus,  ///< answer `status` with `body` (JSON) and `headers`: a 5xx, a 429 + Retry-After, ...
    kSlowFirstByte,       ///< wait `delay` before the response head, then answer normally
    kResetBeforeHeaders,  ///< read the request, then reset the connection (RST) without a byte of
                          ///< answer
    kResetMidStream,      ///< streams: send `after_events` SSE events, then reset the connection
    kStallMidStream,      ///< streams: send `after_events` events, then stall for `delay` (0: until
                          ///< released)
    kMalformedChunk,      ///< streams: send `after_events` events, then one that is not JSON, then
                          ///< carry on
  };
  Kind kind = Kind::kStatus;
  int status = 500;
  std::string body;
  std::map<std::string, std::string> headers;
  std::string content_type = "application/json";  ///< of a kStatus answer
  std::chrono::milliseconds delay{0};
  /// SSE events (the role chunk is the first) sent before a stream fault; 0 = right after the head.
  int after_events = 1;

  static Fault httpStatus(int status, std::string body = "",
                          std::map<std::string, std::string> headers = {});
  /// 429 with a Retry-After (seconds or an HTTP date) and OpenAI's rate_limit_exceeded body.
  static Fault rateLimited(const std::string& retry_after);
  static Fault slowFirstByte(std::chrono::milliseconds delay);
  static Fault resetBeforeHeaders();
  static Fault resetMidStream(int after_events);
  static Fault stallMidStream(int after_events,
                              std::chrono::milliseconds delay = std::chrono::milliseconds(0));
  static Fault malformedChunk(int after_events);
  bool streamOnly() const {
    return kind == Kind::kResetMidStream || kind == Kind::kStallMidStream ||
           kind == Kind::kMalformedChunk;
  }
};

/// An HTTP server on 127.0.0.1:<ephemeral> that speaks OpenAI's documented wire format:
///
///  - POST /v1/chat/completions: a `chat.completion` echoing the last user message
///    ("echo: <content>"), or one tool call when the request has "tools"; with "stream":true,
///    `text/event-stream` chunks flushed one by one ("tok0 ", "tok1 ", ...), an optional usage
///    chunk (stream_options.include_usage) and `data: [DONE]`.
///  - POST /v1/embeddings: one 3-dimensional embedding per input.
///  - GET /v1/models: a fixed list.
///
/// Usage is always {prompt_tokens 11, completion_tokens 7, total_tokens 18} for non-stream
/// chat and {11, N, 11+N} for a stream of N content chunks, so tests can assert on it.
/// All methods are thread-safe.
class MockOpenAiUpstream {
 public:
  /// Starts listening; the server is ready when the constructor returns.
  MockOpenAiUpstream();
  /// Releases held streams, aborts open connections and joins the server threads.
  ~MockOpenAiUpstream();
  MockOpenAiUpstream(const MockOpenAiUpstream&) = delete;
  MockOpenAiUpstream& operator=(const MockOpenAiUpstream&) = delete;

  uint16_t port() const;
  /// "http://127.0.0.1:<port>/v1", the value a provider's base_url takes.
  std::string baseUrl() const;

  std::vector<RecordedRequest> requests() const;
  /// The most recent request; an empty RecordedRequest when there was none.
  RecordedRequest lastRequest() const;
  size_t requestCount() const;
  /// Forgets the recorded requests (the counters used by failNext are unaffected).
  void clearRequests();

  /// Number of content chunks a stream carries (default 3).
  void setStreamChunks(int n);
  /// Pause between two content chunks of a stream (default 0).
  void setChunkDelay(int ms);
  void setChunkDelay(std::chrono::milliseconds delay) { setChunkDelay(int(delay.count())); }

  /// While on, every stream pauses after its first content chunk until releaseStreams().
  void holdStreams(bool hold);
  /// Lets every held stream continue and turns holding off.
  void releaseStreams();
  /// Streams whose response has started and not yet finished.
  int openStreams() const;

  /// The next `times` requests (any endpoint) are answered with `status` and `body`
  /// (Content-Type application/json) instead of the normal answer. Same as
  /// injectFault(Fault::httpStatus(status, body), times).
  void failNext(int status, std::string body, int times = 1);
  /// Like failNext with any content type: e.g. a scripted `text/event-stream` answer that the
  /// normal stream cannot produce (text and tool calls in one chunk, parallel calls).
  void answerNext(int status, std::string content_type, std::string body, int times = 1);

  /// The next `times` requests the fault applies to get it (times < 0: every one until
  /// clearFaults()). Stream faults apply to streaming chat requests only, the others to any
  /// request (health-check probes included). Replaces the fault set before.
  void injectFault(Fault fault, int times = 1);
  void clearFaults();
  /// Requests that got a fault so far.
  int faultsInjected() const;
  /// Down: the port refuses connections and open ones are cut. Up: it listens on the same port
  /// again, as a restarted upstream would.
  void setDown(bool down);

  /// Helpers for tests that must wait for the server side to catch up: until exactly `n`
  /// streams are open (0 works too), until at least `n` requests were recorded. They return
  /// false when `timeout` passes first; the timeout is a safety net, not a performance check.
  bool waitForOpenStreams(int n, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  bool waitForRequests(size_t n, std::chrono::milliseconds timeout = std::chrono::seconds(30));

  struct State;  // Shared with the request handlers; defined in the .cc.

 private:
  struct Server;
  std::shared_ptr<State> state_;
  std::unique_ptr<Server> server_;
};

}  // namespace switchyard::testing
