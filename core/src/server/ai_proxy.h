/// @file ai_proxy.h
/// @brief The unified OpenAI-compatible data plane: auth, routing, translation, relay, records.
#pragma once

#include <atomic>
#include <functional>
#include <optional>

#include "rest_proxy.h"
#include "switchyard/http/http_types.h"
#include "switchyard/log/call_record.h"
#include "switchyard/log/record_dispatcher.h"
#include "switchyard/management/management.h"
#include "switchyard/runtime/runtime.h"
#include "switchyard/upstream/upstream_client.h"

namespace switchyard {
namespace ingress {
class IngressAdapter;
}

/// Serves the data port: /v1/chat/completions, /v1/embeddings, /v1/models, /healthz, /readyz, and
/// the translated ingress APIs /v1/messages and /v1/responses.
class AiProxy : public HttpHandler {
public:
  AiProxy(std::function<RuntimeSharedPtr()> runtime, UpstreamClient& upstream, RecordDispatcher& records,
          const std::atomic<bool>& draining)
      : runtime_(std::move(runtime)), upstream_(upstream), records_(records), draining_(draining),
        rest_(upstream, records) {}

  void handle(const HttpRequest& request, HttpResponseWriter& response) override;
  /// Serves APIs managed through the admin API in front of the ordinary routes. Set before start.
  void setManagement(const ManagementPlane* management) { management_ = management; }

  /// `first`, then the fallbacks it can reach, each once, in the order a call tries them;
  /// `parent[i]` is the route that listed chain[i].
  static std::vector<const ModelRoute*> routeChain(const Runtime& rt, const ModelRoute& first,
                                                   std::vector<size_t>* parent = nullptr);

private:
  /// How one attempt on one target ended.
  struct AttemptResult {
    enum class Kind {
      kAnswered,  ///< the client has its answer (success, or an error after bytes were sent)
      kRetryable, ///< nothing reached the client and another target may do better
      kFinal,     ///< an error the client should get as it is
    };
    Kind kind = Kind::kAnswered;
    AttemptOutcome outcome = AttemptOutcome::kSuccess;
    std::optional<ApiError> error;
    std::optional<std::chrono::milliseconds> retry_after;

    static AttemptResult answered(AttemptOutcome o) { return {Kind::kAnswered, o, std::nullopt, std::nullopt}; }
    static AttemptResult retryable(AttemptOutcome o, ApiError e) { return {Kind::kRetryable, o, std::move(e), std::nullopt}; }
    static AttemptResult final(AttemptOutcome o, ApiError e) { return {Kind::kFinal, o, std::move(e), std::nullopt}; }
  };

  /// With `ingress`, the body is translated to a unified chat request after authentication and
  /// `response` is the ingress adapter's writer. `managed`: a call through a managed API, already
  /// authenticated and limited to its models.
  void serveAi(sy_operation op, const HttpRequest& request, HttpResponseWriter& response,
               ingress::IngressAdapter* ingress = nullptr, const ManagedCall* managed = nullptr);
  /// Tries the route's targets, then its fallbacks, within each route's retry policy.
  void routeCall(sy_operation op, const Runtime& rt, const ModelRoute& route, const HttpRequest& request,
                 HttpResponseWriter& response, CallRecord& record);
  AttemptResult attempt(sy_operation op, const Runtime& rt, const ModelRoute& route, const RouteTarget& target,
                        const HttpRequest& request, HttpResponseWriter& response, CallRecord& record);
  AttemptResult relayStream(const ProviderTarget& target, const sy_provider_request& preq, UpstreamExchange& exchange,
                            HttpResponseWriter& response, CallRecord& record);
  static AttemptResult transportFailure(UpstreamFailure failure, CallRecord& record, bool retry_unsafe);
  static AttemptResult classifyAnswer(int status, const ApiError& error, const HeaderList& headers, CallRecord& record,
                                      bool retry_unsafe);
  /// The FallbackClass bit of an error the route's retries would return as it is (0: none).
  static uint32_t fallbackClassOf(const AttemptResult& result);
  static void backoff(const ModelRoute& route, uint32_t retry);
  void finish(CallRecord& record);

  std::function<RuntimeSharedPtr()> runtime_;
  UpstreamClient& upstream_;
  RecordDispatcher& records_;
  const std::atomic<bool>& draining_;
  const ManagementPlane* management_ = nullptr;
  RestProxy rest_;
};

} // namespace switchyard
