/// @file plugins/anthropic/response_translator.h
/// @brief Anthropic Messages API answers (messages, usage, stop reasons, errors) → OpenAI.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common.h"

namespace switchyard {
namespace anthropic {

/// OpenAI finish_reason for an Anthropic stop_reason; null while it is unknown.
Json finishReason(const Json& stop_reason);

/// Token counts as Anthropic reports them. Every field is a running total, so a later report
/// replaces an earlier one (never adds to it).
struct Usage {
  int64_t input = 0;
  int64_t output = 0;
  int64_t cache_read = 0;
  int64_t cache_creation = 0;
  bool seen = false;

  /// Takes the fields present in an Anthropic "usage" object.
  void merge(const Json& usage);
  /// Anthropic's input_tokens exclude cached input; OpenAI's prompt_tokens include it.
  int64_t promptTokens() const { return input + cache_read + cache_creation; }
  /// The "usage" object of an OpenAI response or usage chunk.
  Json openAi() const;
  /// The payload of SY_EVENT_USAGE.
  Json event() const;
};

/// A whole Anthropic message → an OpenAI chat.completion.
Json toChatCompletion(const Json& message, int64_t created);

/// An error for the client in OpenAI's shape.
struct ClientError {
  uint32_t status = 502;
  std::string type;
  std::string code;
  std::string message;
};

/// The HTTP status Anthropic documents for an error type (for errors inside a stream).
uint32_t statusForErrorType(std::string_view type);

/// Maps an Anthropic error document {"type":"error","error":{"type","message"}}; `status` is
/// the HTTP status it came with.
ClientError mapError(const Json& doc, uint32_t status);

}  // namespace anthropic
}  // namespace switchyard
