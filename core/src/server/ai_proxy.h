/// @file ai_proxy.h
/// @brief The unified OpenAI-compatible data plane: auth, routing, translation, relay, records.
#pragma once

#include <atomic>
#include <functional>

#include "switchyard/http/http_types.h"
#include "switchyard/log/call_record.h"
#include "switchyard/log/record_dispatcher.h"
#include "switchyard/runtime/runtime.h"
#include "switchyard/upstream/upstream_client.h"

namespace switchyard {

/// Serves the data port: /v1/chat/completions, /v1/embeddings, /v1/models, /healthz, /readyz.
class AiProxy : public HttpHandler {
public:
  AiProxy(std::function<RuntimeSharedPtr()> runtime, UpstreamClient& upstream, RecordDispatcher& records,
          const std::atomic<bool>& draining)
      : runtime_(std::move(runtime)), upstream_(upstream), records_(records), draining_(draining) {}

  void handle(const HttpRequest& request, HttpResponseWriter& response) override;

private:
  void serveAi(sy_operation op, const HttpRequest& request, HttpResponseWriter& response);
  void relayStream(const ProviderTarget& target, const sy_provider_request& preq, UpstreamExchange& exchange,
                   HttpResponseWriter& response, CallRecord& record);
  void finish(CallRecord& record);

  std::function<RuntimeSharedPtr()> runtime_;
  UpstreamClient& upstream_;
  RecordDispatcher& records_;
  const std::atomic<bool>& draining_;
};

} // namespace switchyard
