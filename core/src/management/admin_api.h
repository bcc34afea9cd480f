/// @file admin_api.h
/// @brief The /admin/v1 REST API: sessions, tenants, users, apps and keys, services, APIs,
/// the catalog, subscriptions and the audit log, each action authorised by role and tenant.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "admin_kit.h"
#include "switchyard/http/http_types.h"
#include "switchyard/management/credentials.h"
#include "switchyard/store/store.h"

namespace switchyard {

class AdminApi {
 public:
  AdminApi(Store& store, SessionSigner signer, int session_ttl_s,
           std::function<bool(const std::string&)> model_routed = nullptr)
      : store_(store),
        signer_(std::move(signer)),
        session_ttl_s_(session_ttl_s),
        model_routed_(std::move(model_routed)) {}

  /// Adds an endpoint family (quotas, prompts, ...), asked before the core entities' own.
  void addFamily(admin::AdminFamily family) { families_.push_back(std::move(family)); }

  /// Answers one request under /admin/v1/. Never throws.
  void handle(const HttpRequest& request, HttpResponseWriter& response);

 private:
  Store& store_;
  SessionSigner signer_;
  int session_ttl_s_;
  std::function<bool(const std::string&)> model_routed_;  ///< checks a prompt service's model
  std::vector<admin::AdminFamily> families_;
};

}  // namespace switchyard
