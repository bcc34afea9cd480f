/// @file plugins/anthropic/stream_translator.h
/// @brief Anthropic's SSE event sequence → OpenAI chat.completion.chunk events, as they arrive.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "common.h"
#include "response_translator.h"
#include <switchyard/sse_parser.hpp>

namespace switchyard {
namespace anthropic {

/// One streamed answer. Anthropic numbers content blocks (text, tool_use, thinking, ...) in
/// one sequence; OpenAI has one text channel and numbers tool calls separately, so each
/// tool_use block gets the next OpenAI tool_calls index.
class StreamTranslator : public sdk::ProviderStream {
 public:
  StreamTranslator(bool client_wants_usage, bool json_body, int64_t created)
      : client_wants_usage_(client_wants_usage), json_body_(json_body), created_(created) {}

  sy_status onData(std::string_view bytes, const sdk::Output& out) override;
  sy_status onEnd(const sdk::Output& out) override;

 private:
  sy_status onEvent(std::string_view data, const sdk::Output& out);
  void onMessageStart(const Json& event, const sdk::Output& out);
  void onBlockStart(const Json& event, const sdk::Output& out);
  void onBlockDelta(const Json& event, const sdk::Output& out);
  void onMessageDelta(const Json& event, const sdk::Output& out);
  void onMessageStop(const sdk::Output& out);
  sy_status onJsonBodyEnd(const sdk::Output& out);

  /// Emits one chunk whose only choice carries `delta` and `finish_reason`.
  void emitChunk(Json delta, Json finish_reason, const sdk::Output& out) const;
  Json chunkHead() const;
  /// Fails with an Anthropic error document that came inside a 2xx answer.
  sy_status failInBand(const Json& doc, const sdk::Output& out);
  sy_status fail(const sdk::Output& out, uint32_t status, std::string_view type,
                 std::string_view code, std::string_view message);

  const bool client_wants_usage_;
  const bool json_body_;  // the upstream answered with JSON, not an event stream
  const int64_t created_;
  sdk::SseParser parser_;
  std::string body_;
  std::string id_;
  std::string model_;
  Usage usage_;
  std::map<int64_t, int> tool_index_;  // Anthropic block index → OpenAI tool_calls index
  int next_tool_index_ = 0;
  bool started_ = false;
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace anthropic
}  // namespace switchyard
