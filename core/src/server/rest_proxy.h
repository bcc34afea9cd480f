/// @file rest_proxy.h
/// @brief Relays calls through managed APIs to REST services: target pool, timeouts, retries
/// of idempotent calls, and a call record for each, like the AI proxy's.
#pragma once

#include "switchyard/http/http_types.h"
#include "switchyard/log/call_record.h"
#include "switchyard/log/record_dispatcher.h"
#include "switchyard/management/management.h"
#include "switchyard/upstream/upstream_client.h"

namespace switchyard {

class RestProxy {
 public:
  RestProxy(UpstreamClient& upstream, RecordDispatcher& records)
      : upstream_(upstream), records_(records) {}

  /// Serves a call ManagementPlane::route() cleared for a REST service (Route::kRest): the
  /// request as it came, minus hop-by-hop headers and the caller's key, to one of the service's
  /// targets; the answer relayed as it arrives. Never throws.
  void serve(const HttpRequest& request, HttpResponseWriter& response, const ManagedCall& call);

 private:
  /// Tries the service's targets within its retry policy; the client has its answer after.
  void relay(const HttpRequest& request, HttpResponseWriter& response, const ManagedCall& call,
             CallRecord& record);
  /// Streams an upstream answer to the client.
  static void relayAnswer(UpstreamExchange& exchange, HttpResponseWriter& response,
                          CallRecord& record, const std::string& service);

  UpstreamClient& upstream_;
  RecordDispatcher& records_;
};

}  // namespace switchyard
