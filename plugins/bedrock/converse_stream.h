// Translates a ConverseStream answer (binary event stream, events documented at
// https://docs.aws.amazon.com/bedrock/latest/APIReference/API_runtime_ConverseStream.html)
// into OpenAI chat.completion.chunk events, as the frames arrive.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <switchyard/sdk.hpp>

#include "converse.h"
#include "eventstream.h"

namespace switchyard::bedrock {

class ConverseStream : public sdk::ProviderStream {
 public:
  ConverseStream(ResponseMeta meta, ChatOptions options)
      : meta_(std::move(meta)), options_(options) {}

  sy_status onData(std::string_view bytes, const sdk::Output& out) override;
  sy_status onEnd(const sdk::Output& out) override;

 private:
  sy_status onMessage(const eventstream::Message& message, const sdk::Output& out);
  sy_status onEvent(std::string_view type, const Json& payload, const sdk::Output& out);
  sy_status onBlockStart(const Json& payload, const sdk::Output& out);
  sy_status onBlockDelta(const Json& payload, const sdk::Output& out);
  sy_status onMetadata(const Json& payload, const sdk::Output& out);
  /// Emits one chunk whose single choice carries `delta` (and finish_reason when given).
  void emitDelta(Json delta, const sdk::Output& out, const char* finish_reason = nullptr);
  void finishIfComplete(const sdk::Output& out);
  sy_status fail(const sdk::Output& out, uint32_t status, std::string_view type,
                 std::string_view code, std::string_view message);

  const ResponseMeta meta_;
  const ChatOptions options_;
  eventstream::Decoder decoder_;
  std::map<int64_t, int> tool_index_;  ///< contentBlockIndex -> OpenAI tool_calls[].index
  int next_tool_index_ = 0;
  bool stopped_ = false;   ///< messageStop seen
  bool metadata_ = false;  ///< metadata (usage) seen
  bool done_ = false;
  bool failed_ = false;
};

}  // namespace switchyard::bedrock
