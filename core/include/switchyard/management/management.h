/// @file switchyard/management/management.h
/// @brief API management: the admin REST API over the store, and the data-plane snapshot
/// that turns app keys, APIs and subscriptions into per-call decisions.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "switchyard/config/config.h"
#include "switchyard/http/http_types.h"
#include "switchyard/ingress/ingress_adapter.h"
#include "switchyard/management/quota.h"
#include "switchyard/management/rest_service.h"
#include "switchyard/store/store.h"

namespace switchyard {

/// A call through a managed API, cleared to go to the AI proxy or the REST proxy.
struct ManagedCall {
  sy_operation op = SY_OP_CHAT_COMPLETIONS;
  Principal principal;              ///< scheme "management": tenant and app names, key id
  std::string api;                  ///< "<name>@<version>", the call record's `api`
  std::string app_id;               ///< the calling app (its quota applies)
  std::string subscription_id;      ///< the app's subscription to the API (its quota applies)
  std::vector<std::string> models;  ///< the model routes the API's service offers
  /// Set for a prompt API: the call's request and answer are translated by it (see
  /// switchyard/management/prompt_api.h).
  ingress::IngressAdapterPtr ingress;
  RestUpstreamSharedPtr rest;       ///< REST service: its targets, timeouts and retries
  std::string rest_path;            ///< REST service: the path after the mount ("/" at least)
};

/**
 * Owns the store, the admin API (/admin/v1/...) and the data plane's in-memory snapshot,
 * which a background thread refreshes within 200 ms of any change to the store.
 */
class ManagementPlane {
 public:
  /// Opens and migrates the store, creates the bootstrap system admin from
  /// SWITCHYARD_ADMIN_EMAIL / SWITCHYARD_ADMIN_PASSWORD when the store has no user yet, loads
  /// the session secret and takes a first snapshot. `model_routed` says whether a name is a
  /// model route of the running config (prompt services must name one); unset, any name passes.
  /// @throw std::runtime_error (start-up only).
  explicit ManagementPlane(const GatewayConfig& config,
                           std::function<bool(const std::string&)> model_routed = nullptr);
  ~ManagementPlane();

  /// Serves /admin/v1/... on the admin port. @return false when the path is not under it.
  bool handleAdmin(const HttpRequest& request, HttpResponseWriter& response);

  enum class Route {
    kNotManaged,  ///< no routable API is mounted at this path: the ordinary data plane serves it
    kAnswered,    ///< the response is sent (refusal, 410, a model list, a prompt API's OpenAPI
                  ///< document)
    kAi,          ///< cleared: `call` says what the AI proxy should serve
    kRest,        ///< cleared: `call` names the REST service and the path to relay
  };
  /// Data plane: never throws, never touches the store (reads the snapshot only).
  Route route(const HttpRequest& request, HttpResponseWriter& response, ManagedCall* call) const;

  /// The data port as bound (the configured one may be 0), for the servers of API documents.
  void setDataPort(uint16_t port);

  /// Reloads the snapshot now if the store changed (the refresher does this every 200 ms).
  void refresh();
  Store& store();
  /// The quota counters of managed calls on this node; the AI proxy admits and settles calls
  /// through it.
  QuotaLedger& quotas() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace switchyard
