#include "switchyard/management/management.h"

#include <spdlog/spdlog.h>
#include <strings.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <ctime>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "admin_api.h"
#include "api_documents.h"
#include "quota_admin.h"
#include "quota_call.h"
#include "switchyard/management/credentials.h"
#include "switchyard/management/prompt_api.h"
#include "switchyard/management/rest_service.h"

namespace switchyard {
namespace {

using nlohmann::json;

constexpr auto kRefreshInterval = std::chrono::milliseconds(200);
constexpr int kSpendFlushTicks = 5;  // budget spend goes to the store once a second

/// What the data plane knows, rebuilt from the store as a whole and swapped in atomically.
struct View {
  int64_t change_seq = -1;
  struct Key {
    AppKey key;
    std::string app_name;
    std::string tenant_name;
  };
  std::unordered_map<std::string, Key> keys_by_hash;
  struct Mounted {
    Api api;
    Service service;
    PromptSpecPtr prompt;  ///< a prompt service's spec, parsed once per snapshot
    RestUpstreamSharedPtr rest;  ///< a REST service's pool; null for AI services
  };
  std::vector<Mounted> apis;  ///< routable (not draft), longest mount first
  std::map<std::pair<std::string, std::string>, SubscriptionState>
      subscriptions;  ///< (app, api) → state
  std::map<std::pair<std::string, std::string>, std::string> subscription_ids;
};
using ViewPtr = std::shared_ptr<const View>;

/// A REST service's pool: the previous snapshot's while the service is unchanged (so its
/// balancing and retry budget carry on), else a new one over the same target health.
RestUpstreamSharedPtr restUpstreamOf(const Service& s, const View& previous,
                                     HealthRegistry& health) {
  RestServiceSettings settings;
  if (const std::string e = parseRestSettings(s, &settings); !e.empty()) {
    spdlog::error("REST service {} ({}) is not served: {}", s.name, s.id, e);
    return nullptr;
  }
  const std::string fingerprint = toJson(s).dump();
  for (const auto& m : previous.apis) {
    if (m.rest && m.rest->service_id == s.id && m.rest->fingerprint == fingerprint) {
      return m.rest;
    }
  }
  return makeRestUpstream(s, settings, health);
}

ViewPtr buildView(const StoreSnapshotData& d, const View& previous, HealthRegistry& health) {
  auto v = std::make_shared<View>();
  v->change_seq = d.change_seq;
  std::map<std::string, std::string> tenant_names;
  for (const auto& t : d.tenants) {
    tenant_names[t.id] = t.name;
  }
  std::map<std::string, std::string> app_names;
  for (const auto& a : d.apps) {
    app_names[a.id] = a.name;
  }
  for (const auto& k : d.keys) {
    v->keys_by_hash[k.hash] = View::Key{k, app_names[k.app_id], tenant_names[k.tenant_id]};
  }
  std::map<std::string, Service> services;
  for (const auto& s : d.services) {
    services[s.id] = s;
  }
  std::map<std::string, RestUpstreamSharedPtr> rest;
  for (const auto& a : d.apis) {
    if (a.state != ApiState::kDraft && services.count(a.service_id) != 0) {
      View::Mounted m{a, services[a.service_id], nullptr, nullptr};
      if (m.service.kind == "prompt") {
        auto spec = std::make_shared<PromptSpec>();
        if (auto e = parsePromptSpec(m.service.prompt, spec.get())) {
          spdlog::error("prompt service {} has an invalid spec ({}); API {} is not mounted",
                        m.service.id, *e, a.mount());
          continue;
        }
        m.prompt = std::move(spec);
      }
      if (m.service.kind == "rest") {
        if (rest.count(m.service.id) == 0) {
          rest[m.service.id] = restUpstreamOf(m.service, previous, health);
        }
        m.rest = rest[m.service.id];
      }
      v->apis.push_back(std::move(m));
    }
  }
  std::sort(v->apis.begin(), v->apis.end(), [](const auto& x, const auto& y) {
    return x.api.mount().size() > y.api.mount().size();
  });
  for (const auto& s : d.subscriptions) {
    v->subscriptions[{s.app_id, s.api_id}] = s.state;
    v->subscription_ids[{s.app_id, s.api_id}] = s.id;
  }
  return v;
}

std::string httpDate(int64_t unix_s) {
  const time_t t = static_cast<time_t>(unix_s);
  struct tm tm {};
  gmtime_r(&t, &tm);
  char buf[64];
  strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

/// The caller's key from "Authorization: Bearer <key>" or "x-api-key".
std::string presentedKey(const HttpRequest& request) {
  std::string_view auth = request.header("authorization");
  if (auth.size() > 7 && strncasecmp(auth.data(), "Bearer ", 7) == 0) {
    return std::string(auth.substr(7));
  }
  return std::string(request.header("x-api-key"));
}

bool sendError(HttpResponseWriter& response, const ApiError& e) {
  return response.send(e.status, "application/json", e.toJson());
}

/// A prompt API answers its run (POST on the mount) and its OpenAPI document, nothing else.
ManagementPlane::Route servePrompt(const View::Mounted& m, const std::string& rest,
                                   const HttpRequest& request, HttpResponseWriter& response,
                                   ManagedCall* call) {
  const std::string mount = m.api.mount();
  auto only = [&](const char* method) {
    if (request.method == method) {
      return false;
    }
    response.setHeader("Allow", method);
    sendError(response,
              ApiError{405, "invalid_request_error", "method_not_allowed",
                       "Method " + request.method + " is not allowed on " + request.path});
    return true;
  };
  if (rest == "/openapi.json") {
    if (!only("GET")) {
      response.send(
          200, "application/json",
          promptOpenApi(m.api, m.service).dump(-1, ' ', false, json::error_handler_t::replace));
    }
    return ManagementPlane::Route::kAnswered;
  }
  if (!rest.empty() && rest != "/") {
    sendError(response, ApiError::notFound("Prompt API " + m.api.name + "@" + m.api.version +
                                               " has no endpoint " + rest + "; POST to " + mount +
                                               ", its description is " + mount + "/openapi.json",
                                           "unknown_url"));
    return ManagementPlane::Route::kAnswered;
  }
  if (only("POST")) {
    return ManagementPlane::Route::kAnswered;
  }
  call->op = SY_OP_CHAT_COMPLETIONS;
  call->models = {m.prompt->model};
  call->ingress = makePromptAdapter(m.prompt);
  return ManagementPlane::Route::kAi;
}

}  // namespace

struct ManagementPlane::Impl {
  StorePtr store;
  HealthRegistry rest_health;  ///< REST services' targets; outlives every snapshot
  std::unique_ptr<AdminApi> admin;
  std::string data_host;  ///< the data port's configured listen address
  std::atomic<uint16_t> data_port{0};

  /// The data port's URL for documents, as the admin request's client would reach it: the
  /// listen address, or for a wildcard one the host the client used for the admin port.
  std::string gatewayUrl(const HttpRequest& request) const {
    std::string host = data_host;
    if (host.empty() || host == "0.0.0.0" || host == "::" || host == "[::]") {
      host = std::string(request.header("host"));
      if (!host.empty() && host.front() == '[') {
        host = host.substr(0, host.find(']') + 1);  // "[::1]:8081"
      } else if (std::count(host.begin(), host.end(), ':') == 1) {
        host.resize(host.find(':'));  // "gw.example.com:8081"
      }
      if (host.empty()) {
        host = "127.0.0.1";
      }
    }
    if (host.find(':') != std::string::npos && host.front() != '[') {
      host = "[" + host + "]";
    }
    return "http://" + host + ":" + std::to_string(data_port.load());
  }
  QuotaLedgerPtr quotas = std::make_unique<QuotaLedger>();

  mutable std::mutex view_mutex;
  ViewPtr view = std::make_shared<View>();

  std::mutex refresh_mutex;  // one refresh at a time
  std::mutex stop_mutex;
  std::condition_variable stop_cv;
  bool stopping = false;
  std::thread refresher;

  ViewPtr current() const {
    std::lock_guard lock(view_mutex);
    return view;
  }

  void refresh() {
    std::lock_guard one(refresh_mutex);
    if (store->changeSeq() == current()->change_seq) {
      return;
    }
    // A quota is the last thing an admin sets up for a call (API, subscription, key come
    // first), and its usage showing on this node is what tells them it is in force: so the
    // quotas are read before the snapshot (which then holds every write made before them)
    // and reach the ledger only after the view is published. Read after the snapshot and set
    // first, a quota could be in force and show usage while its API still answered 404.
    // The view is stamped with the change counter as it was before the quotas were read, so a
    // write that lands after that read (a quota this pass does not have) brings another pass.
    const int64_t seq = store->changeSeq();
    std::vector<Quota> next_quotas = store->quotas();
    StoreSnapshotData snapshot = store->snapshot();
    snapshot.change_seq = std::min(snapshot.change_seq, seq);
    ViewPtr next = buildView(snapshot, *current(), rest_health);
    {
      std::lock_guard lock(view_mutex);
      view = std::move(next);
    }
    quotas->setQuotas(next_quotas);
    quotas->flush(*store);  // reads the spend of budgets that are new to this node
  }

  bool spend_failing = false;  // logged once per outage, like the refresh
  void flushSpend() {
    try {
      quotas->flush(*store);
      if (spend_failing) {
        spdlog::info("quota spend reaches the store again");
        spend_failing = false;
      }
    } catch (const std::exception& e) {
      if (!spend_failing) {
        spdlog::error("quota spend could not be written to the store, kept for the next try: {}",
                      e.what());
        spend_failing = true;
      }
    }
  }

  void bootstrap() {
    const char* email = std::getenv("SWITCHYARD_ADMIN_EMAIL");
    const char* password = std::getenv("SWITCHYARD_ADMIN_PASSWORD");
    if (store->userCount() > 0) {
      return;
    }
    if (email == nullptr || *email == '\0' || password == nullptr ||
        std::string(password).size() < 8) {
      spdlog::warn(
          "the management store has no user yet: set SWITCHYARD_ADMIN_EMAIL and "
          "SWITCHYARD_ADMIN_PASSWORD "
          "(8+ characters) and restart to create the first system admin");
      return;
    }
    User u{newId("usr"), email, "", Role::kSystemAdmin, hashPassword(password), unixNow()};
    bool created = false;
    store->write([&](std::vector<AuditEntry>& log) {
      // Asked again under the writer lock: nodes sharing a store may all start at once.
      if (store->userCount() > 0) {
        return;
      }
      store->insertUser(u);
      log.push_back(AuditEntry{"", 0, "bootstrap", "SWITCHYARD_ADMIN_EMAIL", "", "user.bootstrap",
                               "user", u.id, nullptr, toJson(u)});
      created = true;
    });
    if (created) {
      spdlog::info("created the bootstrap system admin {}", u.email);
    }
  }
};

ManagementPlane::ManagementPlane(const GatewayConfig& config,
                                 std::function<bool(const std::string&)> model_routed)
    : impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  const std::string where = config.store.driver == "postgresql" ? postgresTarget(config.store.url)
                                                                : config.store.path.string();
  m.store =
      openStore(config.store.driver,
                config.store.driver == "postgresql" ? config.store.url : config.store.path.string(),
                storePassword(config.store));
  m.bootstrap();
  m.admin = std::make_unique<AdminApi>(*m.store, SessionSigner(loadSessionSecret(config.data_dir)),
                                       config.store.session_ttl_s, std::move(model_routed));
  m.data_host = config.server.listen.host;
  m.data_port = config.server.listen.port;
  m.admin->addFamily(apiDocumentFamily([&m](const HttpRequest& r) { return m.gatewayUrl(r); }));
  m.admin->addFamily(quotaAdminFamily(*m.quotas));
  m.refresh();
  spdlog::info("management store {} ({}, schema version {})", where, m.store->driver(),
               m.store->schemaVersion());
  m.refresher = std::thread([&m] {
    std::unique_lock lock(m.stop_mutex);
    bool failing = false;  // an outage of a store server is logged once, not five times a second
    for (int tick = 1; !m.stop_cv.wait_for(lock, kRefreshInterval, [&m] { return m.stopping; });
         ++tick) {
      lock.unlock();
      try {
        m.refresh();
        if (failing) {
          spdlog::info("management snapshot refresh works again");
          failing = false;
        }
      } catch (const std::exception& e) {
        if (!failing) {
          spdlog::error("management snapshot refresh failed, the previous one keeps serving: {}",
                        e.what());
          failing = true;
        }
      }
      if (tick % kSpendFlushTicks == 0) {
        m.flushSpend();
      }
      lock.lock();
    }
  });
}

ManagementPlane::~ManagementPlane() {
  {
    std::lock_guard lock(impl_->stop_mutex);
    impl_->stopping = true;
  }
  impl_->stop_cv.notify_all();
  if (impl_->refresher.joinable()) {
    impl_->refresher.join();
  }
  impl_->flushSpend();  // what this node spent since the last flush survives the restart
}

void ManagementPlane::refresh() {
  impl_->refresh();
}
Store& ManagementPlane::store() {
  return *impl_->store;
}
QuotaLedger& ManagementPlane::quotas() const {
  return *impl_->quotas;
}

bool ManagementPlane::handleAdmin(const HttpRequest& request, HttpResponseWriter& response) {
  if (request.path != "/admin/v1" && request.path.rfind("/admin/v1/", 0) != 0) {
    return false;
  }
  // Documentation, readable before signing in.
  if (request.path == "/admin/v1/openapi.json" && request.method == "GET") {
    response.send(200, "application/json", adminOpenApi().dump());
    return true;
  }
  impl_->admin->handle(request, response);
  return true;
}

void ManagementPlane::setDataPort(uint16_t port) {
  impl_->data_port = port;
}

ManagementPlane::Route ManagementPlane::route(const HttpRequest& request,
                                              HttpResponseWriter& response,
                                              ManagedCall* call) const {
  ViewPtr view = impl_->current();
  const std::string& path = request.path;
  const View::Mounted* hit = nullptr;
  for (const auto& m : view->apis) {
    const std::string mount = m.api.mount();
    if (path.size() >= mount.size() && path.compare(0, mount.size(), mount) == 0 &&
        (path.size() == mount.size() || path[mount.size()] == '/')) {
      hit = &m;
      break;
    }
  }
  if (hit == nullptr) {
    return Route::kNotManaged;
  }
  const Api& api = hit->api;
  const std::string api_name = api.name + "@" + api.version;
  if (api.state == ApiState::kRetired) {
    sendError(response, ApiError{410, "invalid_request_error", "api_retired",
                                 "API " + api_name + " was retired"});
    return Route::kAnswered;
  }

  const std::string rest_path = path.substr(api.mount().size());
  if (hit->prompt && rest_path == "/openapi.json" && request.method == "GET" &&
      api.visibility == "public") {
    // A public prompt API's description is discovery material, like the catalog: no key.
    response.send(
        200, "application/json",
        promptOpenApi(api, hit->service).dump(-1, ' ', false, json::error_handler_t::replace));
    return Route::kAnswered;
  }

  const std::string presented = presentedKey(request);
  if (presented.empty()) {
    sendError(response, ApiError::unauthorized(
                            "Missing API key. Send an app key as 'Authorization: Bearer <key>'.",
                            "missing_api_key"));
    return Route::kAnswered;
  }
  auto key = view->keys_by_hash.find(sha256Hex(presented));
  if (key == view->keys_by_hash.end()) {
    sendError(response, ApiError::unauthorized("Invalid API key"));
    return Route::kAnswered;
  }
  const AppKey& k = key->second.key;
  if (k.revoked_at != 0) {
    sendError(response,
              ApiError::unauthorized("API key " + k.prefix + "… was revoked", "key_revoked"));
    return Route::kAnswered;
  }
  if (k.expires_at != 0 && k.expires_at <= unixNow()) {
    sendError(response,
              ApiError::unauthorized("API key " + k.prefix + "… has expired", "key_expired"));
    return Route::kAnswered;
  }

  auto sub = view->subscriptions.find({k.app_id, api.id});
  if (sub == view->subscriptions.end() || sub->second != SubscriptionState::kApproved) {
    const std::string app = "App " + key->second.app_name;
    ApiError e{
        403, "permission_error", "subscription_required",
        app + " has no subscription to API " + api_name + "; request one through the admin API"};
    if (sub != view->subscriptions.end()) {
      switch (sub->second) {
        case SubscriptionState::kPending:
          e.code = "subscription_pending";
          e.message = app + "'s subscription to API " + api_name + " is pending approval";
          break;
        case SubscriptionState::kRejected:
          e.code = "subscription_rejected";
          e.message = app + "'s subscription to API " + api_name + " was rejected";
          break;
        default:
          e.code = "subscription_revoked";
          e.message = app + "'s subscription to API " + api_name + " was revoked";
          break;
      }
    }
    sendError(response, e);
    return Route::kAnswered;
  }

  if (api.state == ApiState::kDeprecated) {
    response.setHeader("Deprecation", "@" + std::to_string(api.deprecated_at));  // RFC 9745
    if (api.sunset_at != 0) {
      response.setHeader("Sunset", httpDate(api.sunset_at));  // RFC 8594
    }
  }
  if (std::find(api.methods.begin(), api.methods.end(), request.method) == api.methods.end()) {
    std::string allowed;
    for (const auto& m : api.methods) {
      allowed += (allowed.empty() ? "" : ", ") + m;
    }
    response.setHeader("Allow", allowed);
    sendError(response, ApiError{405, "invalid_request_error", "method_not_allowed",
                                 "API " + api_name + " does not accept " + request.method});
    return Route::kAnswered;
  }

  call->principal.authenticated = true;
  call->principal.scheme = "management";
  call->principal.tenant = key->second.tenant_name;
  call->principal.app = key->second.app_name;
  call->principal.key_id = k.id;
  call->api = api_name;
  call->app_id = k.app_id;
  if (auto id = view->subscription_ids.find({k.app_id, api.id});
      id != view->subscription_ids.end()) {
    call->subscription_id = id->second;
  }
  std::string rest = rest_path;
  if (hit->prompt) {
    return servePrompt(*hit, rest, request, response, call);
  }
  if (hit->service.kind == "rest") {
    if (!admitRestCall(*impl_->quotas, *call, response)) {
      return Route::kAnswered;
    }
    if (!hit->rest) {
      sendError(response, ApiError::upstream(502, "service_misconfigured",
                                             "Service " + hit->service.name +
                                                 " has invalid settings; see the gateway log"));
      return Route::kAnswered;
    }
    call->rest = hit->rest;
    call->rest_path = rest.empty() ? "/" : rest;
    return Route::kRest;
  }
  // An AI service answers the OpenAI surface under the mount, with or without a "/v1".
  if (rest.rfind("/v1/", 0) == 0) {
    rest = rest.substr(3);
  }
  auto wrongMethod = [&](const char* allowed) {
    response.setHeader("Allow", allowed);
    sendError(response, ApiError{405, "invalid_request_error", "method_not_allowed",
                                 "Method " + request.method + " is not allowed on " + path});
    return Route::kAnswered;
  };
  if (rest == "/models") {
    if (request.method != "GET") {
      return wrongMethod("GET");
    }
    json data = json::array();
    for (const auto& m : hit->service.models) {
      data.push_back({{"id", m}, {"object", "model"}, {"owned_by", "switchyard"}});
    }
    response.send(200, "application/json", json{{"object", "list"}, {"data", data}}.dump());
    return Route::kAnswered;
  }
  if (rest != "/chat/completions" && rest != "/embeddings") {
    sendError(response,
              ApiError::notFound("API " + api_name + " has no endpoint " + rest +
                                     "; it serves chat/completions, embeddings and models",
                                 "unknown_url"));
    return Route::kAnswered;
  }
  if (request.method != "POST") {
    return wrongMethod("POST");
  }
  call->op = rest == "/embeddings" ? SY_OP_EMBEDDINGS : SY_OP_CHAT_COMPLETIONS;
  call->models = hit->service.models;
  return Route::kAi;
}

}  // namespace switchyard
