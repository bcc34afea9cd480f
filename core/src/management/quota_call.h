/// @file quota_call.h
/// @brief Where quotas meet the data plane: a managed call's worst case, its admission (the
/// answer's X-RateLimit-* headers, or a 429), and its settlement from the call record.
#pragma once

#include <switchyard/abi.h>

#include <cstdint>
#include <string_view>

#include "server/request_probe.h"
#include "switchyard/http/http_types.h"
#include "switchyard/log/call_record.h"
#include "switchyard/management/management.h"
#include "switchyard/management/quota.h"
#include "switchyard/runtime/runtime.h"

namespace switchyard {

/// The completion cap of a chat call that names none, when the catalog knows no output limit
/// for any of the route's models either.
inline constexpr int64_t kQuotaDefaultMaxOutputTokens = 4096;

/// Response flag of a call that went over a limit in shadow mode (let through, reported).
inline constexpr const char* kQuotaShadowFlag = "QS";
/// Response flag of a call a quota refused.
inline constexpr const char* kQuotaRefusedFlag = "QL";

/**
 * The most an AI call can use: the estimated prompt (about four characters a token, plus
 * OpenAI's per-message framing), plus `n` × the completion cap (max_completion_tokens, else
 * max_tokens, else the largest max_output_tokens the catalog gives the route's models and
 * fallbacks, else kQuotaDefaultMaxOutputTokens), priced at the dearest of those models.
 */
QuotaDemand worstCase(sy_operation op, const Runtime& rt, const ModelRoute& route,
                      const RequestProbe& probe, std::string_view body);

/// Admits an AI call through a managed API and reserves its worst case into `out`. Sets the
/// rate-limit headers on `response`; when refused, sends the 429 and records it, and returns
/// false.
bool admitAiCall(QuotaLedger& ledger, const ManagedCall& call, sy_operation op, const Runtime& rt,
                 const ModelRoute& route, const RequestProbe& probe, std::string_view body,
                 HttpResponseWriter& response, CallRecord& record, QuotaReservation* out);

/// Charges what the call really used (the record's usage, at the price of the target that
/// answered) in place of its reservation; a call without usage (an error) gives the
/// reservation back whole. Settling twice charges once.
void settleAiCall(QuotaReservation& reservation, const CallRecord& record);

/**
 * Settles the reservation as a complete answer leaves (send()), so a caller's next call
 * already sees the refund; streams are settled by the caller once they end.
 */
class QuotaSettlingWriter : public HttpResponseWriter {
 public:
  QuotaSettlingWriter(HttpResponseWriter& inner, QuotaReservation& reservation,
                      const CallRecord& record)
      : inner_(inner), reservation_(reservation), record_(record) {}
  void setHeader(const std::string& name, const std::string& value) override {
    inner_.setHeader(name, value);
  }
  bool send(int status, std::string_view content_type, std::string_view body) override {
    settleAiCall(reservation_, record_);
    return inner_.send(status, content_type, body);
  }
  bool beginStream(int status, std::string_view content_type) override {
    return inner_.beginStream(status, content_type);
  }
  bool write(std::string_view bytes) override { return inner_.write(bytes); }
  void closeAfter() override { inner_.closeAfter(); }
  bool started() const override { return inner_.started(); }

 private:
  HttpResponseWriter& inner_;
  QuotaReservation& reservation_;
  const CallRecord& record_;
};

/// Admits a REST call (it counts against requests per minute only). When refused, sends the
/// 429 and returns false.
bool admitRestCall(QuotaLedger& ledger, const ManagedCall& call, HttpResponseWriter& response);

}  // namespace switchyard
