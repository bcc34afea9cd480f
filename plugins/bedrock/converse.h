// Translation between the unified (OpenAI Chat Completions) format and Bedrock's Converse API
// (https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_Converse.html).
// Pure functions over JSON; failures are sdk::Error (client-visible, 4xx) thrown to the caller.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace switchyard::bedrock {

using Json = nlohmann::ordered_json;

/// What the stream translator needs from the client's request.
struct ChatOptions {
  bool include_usage = false;  ///< stream_options.include_usage
};

/// Builds the Converse request body from an OpenAI chat request. Throws sdk::Error (400) for
/// input Bedrock cannot express, naming the parameter.
Json toConverseRequest(const Json& openai);

/// Parameters of a chat request the translation drops rather than refuses: extras the answer
/// can come without (`logprobs`, `store`, `user`); the gateway reports them to the client.
std::vector<std::string> droppedParams(const Json& openai);

/// Reads the stream options of an OpenAI chat request (a non-object body gives defaults).
ChatOptions chatOptions(const Json& openai);

/// Identity of the answer we are building (OpenAI's id/created/model fields).
struct ResponseMeta {
  std::string id;
  int64_t created = 0;
  std::string model;
};

/// OpenAI finish_reason for a Converse stopReason.
std::string finishReason(std::string_view stop_reason);

/// The usage JSON the host expects (SY_EVENT_USAGE) from a Converse "usage" object; OpenAI
/// semantics: prompt_tokens includes cached prompt tokens, cached_tokens is a subset of it.
Json usageEvent(const Json& usage);
/// The same usage in OpenAI response form (with prompt_tokens_details.cached_tokens).
Json openAiUsage(const Json& usage);

/// A whole Converse response as an OpenAI chat.completion. Throws sdk::Error(502) when the
/// body is not a Converse response.
Json toChatCompletion(const Json& converse, const ResponseMeta& meta);

/// A Bedrock error mapped to the client-visible OpenAI error.
struct MappedError {
  uint32_t status;
  std::string type;
  std::string code;
  std::string message;
};

/// Maps an exception name ("ThrottlingException", "throttlingException",
/// "ValidationException:http://...", "com.amazon...#ValidationException") plus the upstream
/// status (0 when in-band) and message to an OpenAI error.
MappedError mapBedrockError(std::string_view exception_name, uint32_t upstream_status,
                            std::string message);

/// Bounds upstream text passed to clients.
std::string clip(std::string s);

}  // namespace switchyard::bedrock
