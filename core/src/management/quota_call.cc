#include "quota_call.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "server/ai_proxy.h"
#include "server/call_accounting.h"
#include "switchyard/catalog/model_catalog.h"

namespace switchyard {
namespace {

/// OpenAI's chat framing: about 3 tokens per message and 3 to prime the reply; 4 per message
/// leaves a margin for names and tool-call wrappers.
constexpr int64_t kTokensPerMessage = 4;
constexpr int64_t kTokensPerReply = 3;

void applyHeaders(const QuotaDecision& d, HttpResponseWriter& response) {
  for (const auto& [name, value] : d.headers) {
    response.setHeader(name, value);
  }
  if (!d.shadow_breaches.empty()) {
    std::string list;
    for (const auto& b : d.shadow_breaches) {
      list += (list.empty() ? "" : ", ") + b;
    }
    response.setHeader("x-switchyard-quota-shadow", list);
  }
}

}  // namespace

QuotaDemand worstCase(sy_operation op, const Runtime& rt, const ModelRoute& route,
                      const RequestProbe& probe, std::string_view body) {
  QuotaDemand d;
  d.metered = true;
  const bool chat = op == SY_OP_CHAT_COMPLETIONS;
  int64_t prompt = estimateUsage(body, 0).prompt_tokens;
  if (chat) {
    prompt += kTokensPerMessage * static_cast<int64_t>(probe.message_count) + kTokensPerReply;
  }
  double input_price = 0;
  double output_price = 0;
  int64_t catalog_cap = 0;
  for (const ModelRoute* r : AiProxy::routeChain(rt, route)) {
    for (const RouteTarget& t : r->targets) {
      auto provider = rt.providers.find(t.provider);
      if (provider == rt.providers.end() || !rt.config->catalog) {
        continue;
      }
      const CatalogModel* m =
          rt.config->catalog->find(provider->second->config.catalog_provider, t.upstream_model);
      if (m != nullptr) {
        input_price = std::max(input_price, m->price.input);
        output_price = std::max(output_price, m->price.output);
        catalog_cap = std::max(catalog_cap, m->max_output_tokens);
      }
    }
  }
  int64_t completion = 0;
  if (chat) {
    int64_t cap = probe.max_completion_tokens >= 0 ? probe.max_completion_tokens
                  : probe.max_tokens >= 0          ? probe.max_tokens
                  : catalog_cap > 0                ? catalog_cap
                                                   : kQuotaDefaultMaxOutputTokens;
    const int64_t n = std::clamp<int64_t>(probe.n, 1, 128);
    completion = n * std::min<int64_t>(cap, int64_t{1} << 40);
  }
  d.tokens = prompt + completion;
  // USD per million tokens is micro-dollars per token.
  d.cost_micros = static_cast<int64_t>(std::ceil(static_cast<double>(prompt) * input_price +
                                                 static_cast<double>(completion) * output_price));
  return d;
}

bool admitAiCall(QuotaLedger& ledger, const ManagedCall& call, sy_operation op, const Runtime& rt,
                 const ModelRoute& route, const RequestProbe& probe, std::string_view body,
                 HttpResponseWriter& response, CallRecord& record, QuotaReservation* out) {
  bool metered = false;
  if (!ledger.applies(call.app_id, call.subscription_id, &metered)) {
    return true;
  }
  // The estimate reads the whole body: only worth it when tokens or spend are limited.
  QuotaDemand demand = metered ? worstCase(op, rt, route, probe, body) : QuotaDemand{};
  QuotaDecision d = ledger.admit(call.app_id, call.subscription_id, demand, out);
  applyHeaders(d, response);
  if (!d.shadow_breaches.empty()) {
    record.flag(kQuotaShadowFlag);
  }
  if (d.refusal) {
    record.flag(kQuotaRefusedFlag);
    record.status = d.refusal->status;
    record.error = d.refusal;
    response.send(d.refusal->status, "application/json", d.refusal->toJson());
    return false;
  }
  return true;
}

void settleAiCall(QuotaReservation& reservation, const CallRecord& record) {
  if (reservation.empty()) {
    return;
  }
  if (!record.usage) {
    reservation.release();
    return;
  }
  int64_t micros = 0;
  if (record.catalog_model != nullptr) {
    micros = std::llround(priceUsage(*record.catalog_model, *record.usage).total_usd * 1e6);
  }
  reservation.settle(record.usage->total_tokens, micros);
}

bool admitRestCall(QuotaLedger& ledger, const ManagedCall& call, HttpResponseWriter& response) {
  QuotaReservation requests;  // requests are never refunded: nothing to settle
  QuotaDecision d = ledger.admit(call.app_id, call.subscription_id, QuotaDemand{}, &requests);
  applyHeaders(d, response);
  if (d.refusal) {
    response.send(d.refusal->status, "application/json", d.refusal->toJson());
    return false;
  }
  return true;
}

}  // namespace switchyard
