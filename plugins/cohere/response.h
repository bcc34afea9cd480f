// Cohere v2 answers → OpenAI-format answers, usage and errors.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common.h"

namespace switchyard::cohere {

/// Cohere finish_reason → OpenAI finish_reason (COMPLETE/STOP_SEQUENCE→stop,
/// MAX_TOKENS→length, TOOL_CALL→tool_calls, ERROR→error, anything else lower-cased).
std::string finishReason(const Json& reason);

/// Cohere `usage` ({"tokens":{...},"billed_units":{...}}) → the gateway's usage object.
/// `tokens` is what the model processed; `billed_units` is the fallback when it is absent.
Json usageFromCohere(const Json& usage);

/// A chat response body → an OpenAI chat.completion.
Json translateChatResponse(const Json& cohere, std::string_view model, int64_t created);

/// An embed response body → an OpenAI embeddings list.
Json translateEmbedResponse(const Json& cohere, std::string_view model);

/// A Cohere error answer ({"message": ...}, sometimes with "id") → OpenAI error fields.
struct ClientError {
  uint32_t status;
  std::string type;
  std::string code;
  std::string message;
};
ClientError translateError(const Json& doc, uint32_t status);

/// Cuts upstream text to a bounded size without splitting a UTF-8 sequence.
std::string clip(std::string s);

}  // namespace switchyard::cohere
