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
  /// (Content-Type application/json) instead of the normal answer.
  void failNext(int status, std::string body, int times = 1);

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
