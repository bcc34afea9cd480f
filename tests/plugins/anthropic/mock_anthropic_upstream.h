/// @file tests/plugins/anthropic/mock_anthropic_upstream.h
/// @brief In-process fake of Anthropic's Messages API (test fixture only) that records every
/// request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/mock_openai_upstream.h"  // RecordedRequest

namespace switchyard::testing {

/// An HTTP server on 127.0.0.1:<ephemeral> speaking Anthropic's documented wire format:
///
///  - POST /v1/messages requires `x-api-key`, `anthropic-version`, `max_tokens` and a
///    non-empty `messages` array, and answers Anthropic's error shape
///    ({"type":"error","error":{"type","message"},"request_id"}) otherwise.
///  - Without "tools": a text message "echo: <last user text>" (stop_reason end_turn).
///    With "tools": a text block and one tool_use block per tool, at most two (stop_reason
///    tool_use), input {"city":"Paris"}.
///  - With "stream": true, `text/event-stream` with named events flushed one by one:
///    message_start, a ping, the text block as "tok0 ", "tok1 ", "tok2 " deltas (or the text
///    and tool_use blocks, their input split over three input_json_delta events each),
///    message_delta and message_stop.
///
/// Usage: input_tokens 11, cache_read_input_tokens 3, cache_creation_input_tokens 2,
/// output_tokens 7 (non-stream) or the number of deltas (stream). Thread-safe.
class MockAnthropicUpstream {
 public:
  MockAnthropicUpstream();
  ~MockAnthropicUpstream();
  MockAnthropicUpstream(const MockAnthropicUpstream&) = delete;
  MockAnthropicUpstream& operator=(const MockAnthropicUpstream&) = delete;

  /// "http://127.0.0.1:<port>/v1", the value a provider's base_url takes.
  std::string baseUrl() const;

  std::vector<RecordedRequest> requests() const;
  RecordedRequest lastRequest() const;
  size_t requestCount() const;

  /// The next `times` requests are answered with `status` and `body` (application/json).
  void failNext(int status, std::string body, int times = 1);
  /// The next stream sends `body` (raw SSE) after its first text delta, then closes.
  void injectIntoNextStream(std::string sse);

  /// While on, every stream pauses after its first text delta until releaseStreams().
  void holdStreams(bool hold);
  void releaseStreams();
  int openStreams() const;

  struct State;  // shared with the request handlers; defined in the .cc

 private:
  struct Server;
  std::shared_ptr<State> state_;
  std::unique_ptr<Server> server_;
};

}  // namespace switchyard::testing
