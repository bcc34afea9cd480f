/// @file call_accounting.h
/// @brief What the data plane measures about a call besides relaying it: the overhead header,
/// estimated usage, the assembled stream content and the bodies the record may carry.
#pragma once

#include <switchyard/abi.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/http/http_types.h"
#include "switchyard/log/call_record.h"
#include "switchyard/runtime/runtime.h"
#include "switchyard/upstream/upstream_client.h"

namespace switchyard {

inline constexpr const char* kOverheadHeader = "x-switchyard-overhead-ms";

/**
 * Stamps x-switchyard-overhead-ms on the response head: the time from `start` until the head
 * is sent, minus the time spent waiting on upstreams (`upstream_ms`, when given). Writers may
 * be nested; only the innermost stamp is sent.
 */
class OverheadStampingWriter : public HttpResponseWriter {
public:
  OverheadStampingWriter(HttpResponseWriter& inner, std::chrono::steady_clock::time_point start,
                         const std::optional<double>* upstream_ms = nullptr)
      : inner_(inner), start_(start), upstream_ms_(upstream_ms) {}

  void setHeader(const std::string& name, const std::string& value) override;
  bool send(int status, std::string_view content_type, std::string_view body) override;
  bool beginStream(int status, std::string_view content_type) override;
  bool write(std::string_view bytes) override { return inner_.write(bytes); }
  void closeAfter() override { inner_.closeAfter(); }
  bool started() const override { return inner_.started(); }

private:
  void stamp();

  HttpResponseWriter& inner_;
  std::chrono::steady_clock::time_point start_;
  const std::optional<double>* upstream_ms_;
  bool stamped_ = false;
};

/// Opens the record of a call arriving now: id, start times, client address and endpoint.
void beginRecord(CallRecord& record, const HttpRequest& request);

/// The client's error for an upstream exchange that broke: 504 for a timeout, else 502, the
/// message naming the upstream as "<noun> <name>" (noun: "provider", "service").
ApiError upstreamFailureError(UpstreamFailure failure, const std::string& noun, const std::string& name);

/// Characters (code points) of the generated text in a chat completion or chunk: content,
/// reasoning, refusals and tool-call arguments. Reads without building a DOM.
uint64_t completionChars(std::string_view response_json);

/**
 * Usage counted by the gateway where the provider reported none: about four characters a
 * token, rounded up. Prompt: every string in the request body but model, role and type names;
 * completion: `completion_chars`. Flagged estimated.
 */
TokenUsage estimateUsage(std::string_view request_body, uint64_t completion_chars);

/// Follows a stream's chat.completion.chunk payloads: counts the generated characters and,
/// when asked, assembles the final message as one chat.completion.
class StreamContent {
public:
  explicit StreamContent(bool assemble) : assemble_(assemble) {}
  void add(std::string_view chunk_json);
  uint64_t completionChars() const { return chars_; }
  /// The assembled chat.completion (JSON text); empty unless assembling.
  std::string assembled(const std::optional<TokenUsage>& usage) const;

private:
  struct Choice {
    std::string role;
    std::string content;
    std::string reasoning;
    std::string refusal;
    std::string finish_reason;
    struct Call {
      std::string id, type, name, arguments;
    };
    std::vector<Call> tool_calls; ///< by the chunks' tool_call index
  };
  bool assemble_;
  uint64_t chars_ = 0;
  std::string id_, model_;
  int64_t created_ = 0;
  std::vector<Choice> choices_; ///< by choice index
};

/// The caller's credential as sent (Authorization bearer, x-api-key, api-key): redacted
/// wherever it occurs in logged text.
std::vector<std::string_view> callSecrets(const HttpRequest& request, const Runtime& rt);

/// Fills the record's request/response bodies and headers as its route's log_bodies says.
void captureBodies(const HttpRequest& request, const Runtime& rt, CallRecord& record);

} // namespace switchyard
