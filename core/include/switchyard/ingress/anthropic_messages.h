/// @file switchyard/ingress/anthropic_messages.h
/// @brief Anthropic's Messages API (/v1/messages) in front of the unified chat format.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "switchyard/ingress/ingress_adapter.h"

namespace switchyard::ingress {

/// A Messages API request → a unified chat completions request, or the 400 that says why not.
std::optional<ApiError> anthropicRequestToChat(const Json& request, Json& chat);

/// A unified chat.completion → a Messages API "message" answer. `model` is the name the client
/// asked for.
Json chatToAnthropicMessage(const Json& completion, const std::string& model);

/// Anthropic's status and {"type":"error","error":{"type","message"}} body for a gateway error.
int anthropicErrorStatus(const ApiError& error);
std::string anthropicErrorBody(const ApiError& error);

/// Unified chunks → Anthropic's event sequence: message_start, content_block_start /
/// content_block_delta (text_delta, input_json_delta) / content_block_stop per block,
/// message_delta (stop_reason, usage), message_stop; or an `error` event when the stream fails.
class AnthropicStreamEncoder : public StreamEncoder {
 public:
  explicit AnthropicStreamEncoder(std::string model) : model_(std::move(model)) {}
  std::string chunk(const Json& chunk) override;
  std::string done() override;
  std::string error(const ApiError& error) override;

 private:
  void start(const Json& chunk, std::string& out);
  void closeBlock(std::string& out);
  void openBlock(Json block, std::string& out);

  std::string model_;
  bool started_ = false;
  bool finished_ = false;
  int next_block_ = 0;
  int open_block_ = -1;  ///< index of the block that is open, or -1
  bool open_is_text_ = false;
  std::map<int64_t, int> tool_blocks_;  ///< unified tool_calls[].index → block index
  std::string stop_reason_ = "end_turn";
  Json usage_;
};

/// Serves /v1/messages.
class AnthropicMessagesAdapter : public IngressAdapter {
 public:
  std::optional<ApiError> toUnified(std::string_view body, std::string& unified) override;
  void answer(int& status, std::string& body) override;
  StreamEncoderPtr streamEncoder() override {
    return std::make_unique<AnthropicStreamEncoder>(model_);
  }

 private:
  std::string model_;
};

}  // namespace switchyard::ingress
