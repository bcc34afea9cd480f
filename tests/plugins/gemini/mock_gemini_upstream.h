/// @file tests/plugins/gemini/mock_gemini_upstream.h
/// @brief In-process fake of the Google AI Gemini API (test fixture only) that records requests.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace switchyard::testing {

/// One request as the mock received it.
struct GeminiRecordedRequest {
  std::string method;
  std::string path;  ///< Path and query, e.g. "/v1beta/models/x:generateContent".
  std::map<std::string, std::string> headers;  ///< Lower-case names.
  std::string body;
};

/// An HTTP server on 127.0.0.1:<ephemeral> speaking Gemini's documented wire format under
/// "/v1beta":
///
///  - POST /models/{model}:generateContent → a GenerateContentResponse: "echo: <last user
///    text>", or, when the request declares functions, a text part plus one functionCall of
///    the first declared function with args {"city":"Paris"} and a second one of the same
///    function with {"city":"Lyon"} (parallel calls).
///  - POST /models/{model}:streamGenerateContent?alt=sse → the same answer as
///    `text/event-stream`, one GenerateContentResponse per `data:` event ("tok0 ", "tok1 ",
///    "tok2 " then a finishReason STOP event with usage; with functions: a text event, an event
///    with text and a functionCall, one with the second call, then the finish). Gemini sends no
///    terminator: the response simply ends.
///  - POST /models/{model}:embedContent and :batchEmbedContents → 3-dimensional embeddings.
///
/// A request without an `x-goog-api-key` header gets Gemini's 403 PERMISSION_DENIED error.
/// Usage is {promptTokenCount 11, candidatesTokenCount 7, totalTokenCount 18}.
class MockGeminiUpstream {
 public:
  MockGeminiUpstream();
  ~MockGeminiUpstream();
  MockGeminiUpstream(const MockGeminiUpstream&) = delete;
  MockGeminiUpstream& operator=(const MockGeminiUpstream&) = delete;

  /// "http://127.0.0.1:<port>/v1beta", the value a provider's base_url takes.
  std::string baseUrl() const;

  std::vector<GeminiRecordedRequest> requests() const;
  GeminiRecordedRequest lastRequest() const;

  /// The next request is answered with `status` and `body` (application/json).
  void failNext(int status, std::string body);

  struct State;

 private:
  struct Server;
  std::shared_ptr<State> state_;
  std::unique_ptr<Server> server_;
};

}  // namespace switchyard::testing
