/// @file plugins/anthropic/request_translator.h
/// @brief OpenAI chat completions request → Anthropic Messages API request.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common.h"

namespace switchyard {
namespace anthropic {

struct RequestOptions {
  std::string model;           ///< The upstream model name (wins over the client's "model").
  bool stream = false;         ///< The core will read the answer as a stream.
  int64_t default_max_tokens;  ///< Sent when the client gives no max_tokens.
  /// Receives the client parameters the policy drops (reported to the client by the gateway).
  std::vector<std::string>* dropped = nullptr;
};

/// Translates `openai` (a parsed chat completions body) into a Messages API body. Throws
/// sdk::Error (400) for malformed input and for parameters the policy rejects.
Json toAnthropicRequest(const Json& openai, const RequestOptions& options);

}  // namespace anthropic
}  // namespace switchyard
