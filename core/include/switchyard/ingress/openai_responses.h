/// @file switchyard/ingress/openai_responses.h
/// @brief OpenAI's Responses API (/v1/responses, stateless subset) in front of the unified chat
/// format.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "switchyard/ingress/ingress_adapter.h"

namespace switchyard::ingress {

/// A Responses API request → a unified chat completions request, or the 400 that says why not.
/// `echo` receives the request parameters a response object repeats (instructions, tools, …).
std::optional<ApiError> responsesRequestToChat(const Json& request, Json& chat, Json& echo);

/// A unified chat.completion → a Responses API "response" object. `echo` as filled above.
Json chatToResponse(const Json& completion, const Json& echo, int64_t created_at);

/// Unified chunks → the Responses API's event sequence: response.created, response.in_progress,
/// response.output_item.added, response.content_part.added, response.output_text.delta/.done,
/// response.content_part.done, response.function_call_arguments.delta/.done,
/// response.output_item.done, then response.completed or response.incomplete; on failure
/// `error` and response.failed. Every event carries its sequence_number.
class ResponsesStreamEncoder : public StreamEncoder {
 public:
  ResponsesStreamEncoder(Json echo, int64_t created_at)
      : echo_(std::move(echo)), created_at_(created_at) {}
  std::string chunk(const Json& chunk) override;
  std::string done() override;
  std::string error(const ApiError& error) override;

 private:
  void emit(std::string& out, const char* type, Json event);
  Json response(const char* status) const;
  void closeItem(std::string& out);
  void openItem(Json item, std::string& out);

  Json echo_;
  int64_t created_at_;
  int64_t seq_ = 0;
  bool started_ = false;
  bool finished_ = false;
  std::string id_;
  Json output_ = Json::array();        ///< items as they stand
  int open_item_ = -1;                 ///< output index of the open item, or -1
  std::map<int64_t, int> tool_items_;  ///< unified tool_calls[].index → output index
  std::string finish_ = "stop";
  Json usage_;
};

/// Serves /v1/responses.
class OpenAiResponsesAdapter : public IngressAdapter {
 public:
  std::optional<ApiError> toUnified(std::string_view body, std::string& unified) override;
  void answer(int& status, std::string& body) override;
  StreamEncoderPtr streamEncoder() override;

 private:
  Json echo_ = Json::object();
};

}  // namespace switchyard::ingress
