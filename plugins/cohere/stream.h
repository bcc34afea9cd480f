// Cohere v2 chat stream events → OpenAI chat.completion.chunk objects.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <switchyard/sdk.hpp>
#include <switchyard/sse_parser.hpp>

#include "common.h"

namespace switchyard::cohere {

/// Translates the SSE stream of POST /chat with "stream": true. Each `data:` is a JSON object
/// with a `type`: message-start, content-start/-delta/-end, tool-plan-delta,
/// tool-call-start/-delta/-end, citation-*, message-end. Text and tool plan deltas become
/// `delta.content`; tool calls become `delta.tool_calls[]` with OpenAI indexes (0, 1, ... in
/// the order they start); message-end gives the finish chunk, usage and [DONE].
class CohereStream : public sdk::ProviderStream {
 public:
  CohereStream(std::string model, int64_t created, bool client_wants_usage, bool json_body);

  sy_status onData(std::string_view bytes, const sdk::Output& out) override;
  sy_status onEnd(const sdk::Output& out) override;

 private:
  sy_status onEvent(std::string_view data, const sdk::Output& out);
  void emitDelta(const sdk::Output& out, Json delta, const Json& finish = Json());
  void onToolCallStart(const Json& event, const sdk::Output& out);
  void onToolCallDelta(const Json& event, const sdk::Output& out);
  void onMessageEnd(const Json& event, const sdk::Output& out);
  sy_status fail(const sdk::Output& out, uint32_t status, std::string_view type,
                 std::string_view code, std::string_view message);

  const std::string model_;
  const int64_t created_;
  const bool client_wants_usage_;
  const bool json_body_;
  sdk::SseParser parser_;
  std::string body_;
  std::string id_;
  std::map<int64_t, int> tool_index_;  ///< Cohere's tool call index → OpenAI's.
  int current_tool_ = -1;
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace switchyard::cohere
