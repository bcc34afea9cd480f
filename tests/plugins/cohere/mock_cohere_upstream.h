/// @file tests/plugins/cohere/mock_cohere_upstream.h
/// @brief In-process fake of Cohere's v2 Chat and Embed APIs (test fixture only) that records
/// requests.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace switchyard::testing {

/// One request as the mock received it.
struct CohereRecordedRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  ///< Lower-case names.
  std::string body;
};

/// An HTTP server on 127.0.0.1:<ephemeral> speaking Cohere's documented v2 wire format:
///
///  - POST /v2/chat → "echo: <last user text>" (finish COMPLETE), or, when the request has
///    tools, a tool_plan plus two calls of the first tool ({"location":"Paris"} and
///    {"location":"Lyon"}, finish TOOL_CALL). With "stream": true the same as SSE
///    (`event: <type>` + `data: <json>`): message-start, content-start, "tok0 " "tok1 "
///    "tok2 " content-deltas, content-end, message-end; or tool-plan-delta, tool-call-start,
///    argument tool-call-deltas, tool-call-end (twice), message-end.
///  - POST /v2/embed → 3-dimensional float embeddings per text.
///
/// Without `Authorization: Bearer <key>`: Cohere's 401. Usage tokens {11 in, 7 out}.
class MockCohereUpstream {
 public:
  MockCohereUpstream();
  ~MockCohereUpstream();
  MockCohereUpstream(const MockCohereUpstream&) = delete;
  MockCohereUpstream& operator=(const MockCohereUpstream&) = delete;

  /// "http://127.0.0.1:<port>/v2", the value a provider's base_url takes.
  std::string baseUrl() const;

  std::vector<CohereRecordedRequest> requests() const;
  CohereRecordedRequest lastRequest() const;

  /// The next request is answered with `status` and `body` (application/json).
  void failNext(int status, std::string body);

  struct State;

 private:
  struct Server;
  std::shared_ptr<State> state_;
  std::unique_ptr<Server> server_;
};

}  // namespace switchyard::testing
