/// @file mock_bedrock_upstream.h
/// @brief In-process fake of AWS Bedrock Runtime's Converse / ConverseStream (test fixture
/// only) that verifies SigV4 signatures and records every request.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "support/mock_openai_upstream.h"  // RecordedRequest

namespace switchyard::testing {

/// An HTTP server on 127.0.0.1:<ephemeral> speaking Bedrock Runtime's documented wire format:
///
///  - POST /model/{modelId}/converse: a Converse answer echoing the last user text
///    ("echo: <text>"), or one toolUse (input {"city":"Paris"}) when the request has a
///    toolConfig and does not end in a toolResult. Usage {inputTokens 11, outputTokens 7}.
///  - POST /model/{modelId}/converse-stream: `application/vnd.amazon.eventstream` frames with
///    real CRCs, each flushed on its own: messageStart, N text deltas ("tok0 ", "tok1 ", ...)
///    or a toolUse block whose input arrives in 3-byte fragments, contentBlockStop,
///    messageStop, metadata (inputTokens 11, outputTokens N).
///
/// Every request must carry a valid SigV4 signature (service "bedrock") for the access key
/// and secret given to the constructor; otherwise the answer is Bedrock's 403
/// InvalidSignatureException. The recorded path is the raw request target.
class MockBedrockUpstream {
 public:
  MockBedrockUpstream(std::string access_key_id, std::string secret_access_key,
                      std::string region = "us-east-1");
  ~MockBedrockUpstream();
  MockBedrockUpstream(const MockBedrockUpstream&) = delete;
  MockBedrockUpstream& operator=(const MockBedrockUpstream&) = delete;

  uint16_t port() const;
  /// "http://127.0.0.1:<port>".
  std::string baseUrl() const;

  std::vector<RecordedRequest> requests() const;
  RecordedRequest lastRequest() const;
  /// How many requests failed signature verification.
  int badSignatures() const;

  void setStreamChunks(int n);
  /// The next request is answered with `status`, x-amzn-ErrorType `error_type` and
  /// {"message": message}.
  void failNext(int status, std::string error_type, std::string message);
  /// The next stream sends an in-band exception frame after its first text delta.
  void streamExceptionNext(std::string exception_type, std::string message);
  /// While on, every stream pauses after its first text delta until releaseStreams().
  void holdStreams(bool hold);
  void releaseStreams();

  struct State;

 private:
  struct Server;
  std::shared_ptr<State> state_;
  std::unique_ptr<Server> server_;
};

}  // namespace switchyard::testing
