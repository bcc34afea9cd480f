/// @file switchyard/store/store.h
/// @brief The management store: tenants, users, apps and keys, services, APIs, subscriptions
/// and the audit log, with versioned schema migrations and a change counter.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "switchyard/store/database.h"

namespace switchyard {

enum class Role { kSystemAdmin, kTenantAdmin, kMember };
std::string roleName(Role r);
std::optional<Role> parseRole(const std::string& s);

struct Tenant {
  std::string id;
  std::string name;
  int64_t created_at = 0;  ///< unix seconds, as every time in the store
};

struct User {
  std::string id;
  std::string email;
  std::string tenant_id;  ///< empty for a system admin
  Role role = Role::kMember;
  std::string password_hash;  ///< never leaves the store through toJson()
  int64_t created_at = 0;
};

struct App {
  std::string id;
  std::string tenant_id;
  std::string name;
  std::string description;
  int64_t created_at = 0;
};

/// A key of an app. The secret itself is never stored: only its SHA-256 and a visible prefix.
struct AppKey {
  std::string id;
  std::string app_id;
  std::string tenant_id;
  std::string name;
  std::string prefix;
  std::string hash;        ///< hex SHA-256 of the whole key
  int64_t expires_at = 0;  ///< 0: never
  int64_t revoked_at = 0;  ///< 0: live
  int64_t created_at = 0;
};

/// What an API fronts: model routes of this gateway ("ai"), an upstream base URL ("rest"), or a
/// prompt template over one model route ("prompt", see switchyard/management/prompt_api.h).
struct Service {
  std::string id;
  std::string tenant_id;
  std::string name;
  std::string kind;                 ///< "ai", "rest" or "prompt"
  std::vector<std::string> models;  ///< ai: the gateway's model routes it may call
  std::string base_url;             ///< rest: the first of base_urls
  int64_t created_at = 0;
  nlohmann::json prompt;  ///< prompt: {model, messages, parameters, variables}; null otherwise
  std::vector<std::string> base_urls{};  ///< rest: every target of the service's pool
  /// rest: {connect_ms, first_byte_ms, idle_ms, total_ms}, each optional (docs/admin.md)
  nlohmann::json timeouts = nlohmann::json::object();
  /// rest: {attempts, backoff_base_ms, backoff_max_ms}, each optional (docs/admin.md)
  nlohmann::json retry = nlohmann::json::object();
};

/// draft (not routable) → published → deprecated (still routable, headers warn) → retired (410).
enum class ApiState { kDraft, kPublished, kDeprecated, kRetired };
std::string apiStateName(ApiState s);

struct Api {
  std::string id;
  std::string tenant_id;
  std::string name;
  std::string description;
  std::string path;     ///< e.g. "/apis/support"; served under path + "/" + version
  std::string version;  ///< e.g. "v1"
  std::vector<std::string> methods;
  std::string service_id;
  std::string visibility =
      "public";  ///< "public": in every tenant's catalog; "private": own tenant only
  bool approval_required = true;
  ApiState state = ApiState::kDraft;
  int64_t deprecated_at = 0;
  int64_t sunset_at = 0;  ///< 0: none announced
  int64_t created_at = 0;
  int64_t updated_at = 0;
  std::string openapi;  ///< the owner's OpenAPI document (JSON text) for a REST API; "" when none
  std::string mount() const { return path + "/" + version; }
};

enum class SubscriptionState { kPending, kApproved, kRejected, kRevoked };
std::string subscriptionStateName(SubscriptionState s);

struct Subscription {
  std::string id;
  std::string app_id;
  std::string app_tenant_id;
  std::string api_id;
  std::string api_tenant_id;
  SubscriptionState state = SubscriptionState::kPending;
  std::string requested_by;  ///< user id
  std::string decided_by;  ///< user id, "auto" when the API needs no approval, empty while pending
  int64_t decided_at = 0;
  std::string reason;
  int64_t created_at = 0;
};

/// Limits on the managed calls of an app, or of one subscription (app → API); 0 = no limit.
/// Set by the app's tenant admins (scope "app") or the API's (scope "subscription").
struct Quota {
  std::string scope;      ///< "app" or "subscription"
  std::string owner_id;   ///< the app's or the subscription's id
  std::string tenant_id;  ///< the tenant whose admins set it
  int64_t rpm = 0;        ///< requests per minute
  int64_t tpm = 0;        ///< tokens per minute
  int64_t budget_micros = 0;            ///< spend per period, in micro-dollars
  std::string budget_period = "month";  ///< "day" or "month" (UTC)
  std::vector<std::string> shadow;      ///< limits evaluated but not enforced: rpm, tpm, budget
  std::string updated_by;               ///< user id
  int64_t updated_at = 0;
};

/// What a quota's calls spent in one budget period, across every gateway sharing the store.
struct QuotaSpend {
  std::string scope;
  std::string owner_id;
  int64_t period_start = 0;  ///< unix seconds (UTC day or month start)
  int64_t spent_micros = 0;
};

struct AuditEntry {
  std::string id;
  int64_t at = 0;
  std::string actor_id;  ///< user id
  std::string actor_email;
  std::string tenant_id;  ///< the tenant owning the object changed (empty: system-wide)
  std::string action;     ///< e.g. "api.publish"
  std::string object_type;
  std::string object_id;
  nlohmann::json before;  ///< null when created
  nlohmann::json after;   ///< null when deleted
};

nlohmann::json toJson(const Tenant& t);
nlohmann::json toJson(const User& u);
nlohmann::json toJson(const App& a);
nlohmann::json toJson(const AppKey& k);
nlohmann::json toJson(const Service& s);
nlohmann::json toJson(const Api& a);
nlohmann::json toJson(const Subscription& s);
nlohmann::json toJson(const AuditEntry& e);
nlohmann::json toJson(const Quota& q);

/// Everything the data plane needs, read in one consistent transaction.
struct StoreSnapshotData {
  int64_t change_seq = 0;
  std::vector<Tenant> tenants;
  std::vector<App> apps;
  std::vector<AppKey> keys;
  std::vector<Service> services;
  std::vector<Api> apis;
  std::vector<Subscription> subscriptions;
};

/**
 * The management store. What it promises:
 *  - the schema is brought to the newest version when opened, one migration per transaction,
 *    each recorded in `schema_migrations`, so opening an up-to-date store changes nothing;
 *  - every write, together with its audit entry, is one transaction, and bumps a change
 *    counter (changeSeq()) that gateways poll to refresh their data-plane snapshot;
 *  - ids are generated here ("ten_…", "app_…"), never by the database;
 *  - it knows nothing of roles or tenancy rules: callers authorise before they write.
 * Methods throw StoreError on database failure and StoreConflict on a uniqueness clash
 * (control plane only: the data plane reads snapshots, never the store).
 */
class Store {
 public:
  explicit Store(DatabasePtr db);

  /// Applies missing migrations. @return how many were applied.
  int migrate();
  int schemaVersion();
  int64_t changeSeq();
  const std::string& driver() const { return driver_; }

  /// Runs `work` as one transaction that also bumps the change counter and writes `audit`
  /// entries the work appends.
  void write(const std::function<void(std::vector<AuditEntry>& audit)>& work);

  // Tenants
  void insertTenant(const Tenant& t);
  std::optional<Tenant> tenant(const std::string& id);
  std::vector<Tenant> tenants();
  void updateTenant(const Tenant& t);

  // Users
  void insertUser(const User& u);
  std::optional<User> user(const std::string& id);
  std::optional<User> userByEmail(const std::string& email);
  std::vector<User> users(const std::string& tenant_id = "");  ///< "" = all
  int64_t userCount();
  void updateUser(const User& u);
  void deleteUser(const std::string& id);

  // Apps and keys
  void insertApp(const App& a);
  std::optional<App> app(const std::string& id);
  std::vector<App> apps(const std::string& tenant_id = "");
  void updateApp(const App& a);
  void deleteApp(const std::string& id);  ///< with its keys and subscriptions
  void insertKey(const AppKey& k);
  std::optional<AppKey> key(const std::string& id);
  std::vector<AppKey> keys(const std::string& app_id);
  void updateKey(const AppKey& k);

  // Services
  void insertService(const Service& s);
  std::optional<Service> service(const std::string& id);
  std::vector<Service> services(const std::string& tenant_id = "");
  void updateService(const Service& s);
  void deleteService(const std::string& id);
  int64_t apisUsingService(const std::string& service_id);

  // APIs
  void insertApi(const Api& a);
  std::optional<Api> api(const std::string& id);
  std::vector<Api> apis(const std::string& tenant_id = "");
  void updateApi(const Api& a);
  void deleteApi(const std::string& id);  ///< with its subscriptions

  // Subscriptions
  void insertSubscription(const Subscription& s);
  std::optional<Subscription> subscription(const std::string& id);
  /// Subscriptions whose app or whose API belongs to `tenant_id` ("" = all).
  std::vector<Subscription> subscriptions(const std::string& tenant_id = "");
  std::optional<Subscription> subscriptionOf(const std::string& app_id, const std::string& api_id);
  void updateSubscription(const Subscription& s);
  /// Writes `s` only if the subscription is still in state `from` (a compare-and-set, so two
  /// racing decisions cannot both win on any driver). @return false when its state moved on.
  bool updateSubscriptionFrom(const Subscription& s, SubscriptionState from);

  // Quotas (quota_store.cc)
  void putQuota(const Quota& q);  ///< inserts or replaces the scope's quota of the owner
  std::optional<Quota> quota(const std::string& scope, const std::string& owner_id);
  std::vector<Quota> quotas();
  void deleteQuota(const std::string& scope, const std::string& owner_id);
  /// Adds to a period's spend, in its own transaction. Spend is usage, not configuration: it
  /// neither bumps the change counter nor writes the audit log.
  void addQuotaSpend(const std::string& scope, const std::string& owner_id, int64_t period_start,
                     int64_t micros);
  /// The spend of every quota in periods that started at or after `since`.
  std::vector<QuotaSpend> quotaSpend(int64_t since);

  // Audit
  /// Newest first; entries about `tenant_id`'s objects ("" = all), at most `limit`.
  std::vector<AuditEntry> audit(const std::string& tenant_id, int64_t limit);

  StoreSnapshotData snapshot();

 private:
  void insertAudit(const AuditEntry& e);
  /// Deletes the quotas of an app (column "app_id") or an API (column "api_id") and of its
  /// subscriptions, before they go.
  void deleteQuotasOf(const char* column, const std::string& id);

  DatabasePtr db_;
  std::string driver_;
};
using StorePtr = std::unique_ptr<Store>;

/// Opens the configured store and migrates it: `driver` "sqlite" with the file's path as
/// `location`, or "postgresql" with a conninfo or URI and its password. @throw StoreError.
StorePtr openStore(const std::string& driver, const std::string& location,
                   const std::string& password = "");

/// A fresh random id with a readable prefix, e.g. newId("app") = "app_3f9c…" (16 hex digits).
std::string newId(const std::string& prefix);
int64_t unixNow();

}  // namespace switchyard
