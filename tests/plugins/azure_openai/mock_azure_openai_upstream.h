/// @file tests/plugins/azure_openai/mock_azure_openai_upstream.h
/// @brief In-process fake of the Azure OpenAI data-plane API (test fixture only) that records
/// requests.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace switchyard::testing {

/// One request as the mock received it.
struct AzureRecordedRequest {
  std::string method;
  std::string
      path;  ///< Path and query, e.g. "/openai/deployments/d/chat/completions?api-version=v".
  std::map<std::string, std::string> headers;  ///< Lower-case names.
  std::string body;
};

/// An HTTP server on 127.0.0.1:<ephemeral> speaking Azure OpenAI's documented wire format
/// under "/openai":
///
///  - POST /deployments/{deployment}/chat/completions?api-version=<v> and
///    POST /v1/chat/completions → a chat.completion with prompt_filter_results and
///    content_filter_results: "echo: <last user text>", or, when the request declares tools,
///    two parallel tool calls of the first tool ({"city":"Paris"}, {"city":"Lyon"}).
///    With "stream":true the same as SSE, in Azure's order: the choices-less
///    prompt_filter_results frame, the role chunk, "tok0 " "tok1 " "tok2 " (or text + first
///    call in one chunk, argument fragments, the second call), the finish chunk, the usage
///    chunk when stream_options.include_usage is true, then [DONE].
///  - POST /deployments/{deployment}/embeddings?api-version=<v> → 3-dimensional embeddings.
///
/// Without an `api-key` header: Azure's 401; a deployments path without `api-version`: 404
/// "Resource not found" (as Azure answers). Usage is {11, 7, 18}.
class MockAzureOpenAiUpstream {
 public:
  MockAzureOpenAiUpstream();
  ~MockAzureOpenAiUpstream();
  MockAzureOpenAiUpstream(const MockAzureOpenAiUpstream&) = delete;
  MockAzureOpenAiUpstream& operator=(const MockAzureOpenAiUpstream&) = delete;

  /// "http://127.0.0.1:<port>/openai", the value a provider's base_url takes.
  std::string baseUrl() const;

  std::vector<AzureRecordedRequest> requests() const;
  AzureRecordedRequest lastRequest() const;

  /// The next request is answered with `status`, `body` (application/json) and `headers`.
  void failNext(int status, std::string body, std::map<std::string, std::string> headers = {});

  struct State;

 private:
  struct Server;
  std::shared_ptr<State> state_;
  std::unique_ptr<Server> server_;
};

}  // namespace switchyard::testing
