#include "admin_api.h"

#include <Poco/URI.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>

#include "admin_kit.h"
#include "api_documents.h"
#include "switchyard/management/prompt_api.h"
#include "switchyard/management/rest_service.h"

namespace switchyard {

using namespace admin;

void AdminApi::handle(const HttpRequest& request, HttpResponseWriter& response) {
  const std::vector<std::string> seg =
      segments(request.path.substr(std::string("/admin/v1").size()));
  const std::string& method = request.method;
  auto send = [&](int status, const json& body) {
    response.send(status, "application/json",
                  body.dump(-1, ' ', false, json::error_handler_t::replace));
  };
  std::map<std::string, std::string> query;
  try {
    for (const auto& [k, v] : Poco::URI("/?" + request.query).getQueryParameters()) {
      query[k] = v;
    }
  } catch (...) {
    response.send(400, "application/json",
                  ApiError::invalidRequest("Malformed query string").toJson());
    return;
  }
  const auto at = [&](size_t i) -> std::string { return i < seg.size() ? seg[i] : std::string(); };
  const auto is = [&](std::initializer_list<const char*> pattern, const char* m) {
    return matches(seg, method, pattern, m);
  };

  try {
    const Body body(request.body);
    const int64_t now = unixNow();

    if (is({"sessions"}, "POST")) {
      const std::string email = body.str("email", true);
      const std::string password = body.str("password", true);
      auto user = store_.userByEmail(email);
      // Unknown emails cost a hash too, so timing does not tell which emails exist.
      static const std::string kDummy = hashPassword("timing-equaliser");
      const bool ok =
          verifyPassword(password, user ? user->password_hash : kDummy) && user.has_value();
      if (!ok) {
        spdlog::info("admin login refused for {}", email);
        refuse(401, "authentication_error", "invalid_credentials", "Wrong email or password");
      }
      const SessionClaims claims{user->id, now, now + session_ttl_s_};
      send(201, {{"token", signer_.sign(claims)},
                 {"expires_at", claims.expires_at},
                 {"user", toJson(*user)}});
      return;
    }

    // Everything else needs a session.
    Actor actor;
    {
      std::string_view auth = request.header("authorization");
      const std::string_view bearer = "Bearer ";
      if (auth.size() <= bearer.size() || auth.substr(0, bearer.size()) != bearer) {
        refuse(401, "authentication_error", "missing_session",
               "Sign in with POST /admin/v1/sessions and send 'Authorization: Bearer <token>'");
      }
      auto claims = signer_.verify(std::string(auth.substr(bearer.size())), now);
      auto user = claims ? store_.user(claims->user_id) : std::nullopt;
      if (!user) {
        refuse(401, "authentication_error", "invalid_session",
               "The session token is invalid or expired");
      }
      actor.user = *user;
    }
    const User& me = actor.user;
    const AdminCall call{request, seg, query, body, actor, store_, now, response};
    auto audit = [&](std::vector<AuditEntry>& log, const std::string& tenant_id,
                     const std::string& action, const std::string& type, const std::string& id,
                     json before, json after) {
      call.audit(log, tenant_id, action, type, id, std::move(before), std::move(after));
    };
    auto targetTenant = [&]() { return call.targetTenant(); };
    auto requireAdmin = [&](const std::string& what) { call.requireAdmin(what); };
    const std::string filter_tenant = call.filterTenant();

    // Families with endpoints of their own, in their own files.
    for (const AdminFamily& family : families_) {
      if (family(call)) {
        return;
      }
    }

    if (is({"me"}, "GET")) {
      send(200, toJson(me));
      return;
    }

    // ---- tenants
    if (at(0) == "tenants") {
      if (is({"tenants"}, "GET")) {
        send(200, list("tenant", listOf(store_.tenants(),
                                        [&](const Tenant& t) { return actor.reaches(t.id); })));
        return;
      }
      if (is({"tenants"}, "POST")) {
        if (!actor.system()) {
          forbidden("Only a system admin may create tenants");
        }
        Tenant t{newId("ten"), requireName(body.str("name", true), "name"), now};
        store_.write([&](auto& log) {
          store_.insertTenant(t);
          audit(log, t.id, "tenant.create", "tenant", t.id, nullptr, toJson(t));
        });
        send(201, toJson(t));
        return;
      }
      auto t = actor.reaches(at(1)) ? store_.tenant(at(1)) : std::nullopt;
      if (!t) {
        notFound("tenant", at(1));
      }
      if (is({"tenants", "*"}, "GET")) {
        send(200, toJson(*t));
        return;
      }
      if (is({"tenants", "*"}, "PATCH")) {
        requireAdmin("rename a tenant");
        Tenant next = *t;
        next.name = requireName(body.str("name", false, t->name), "name");
        store_.write([&](auto& log) {
          store_.updateTenant(next);
          audit(log, t->id, "tenant.update", "tenant", t->id, toJson(*t), toJson(next));
        });
        send(200, toJson(next));
        return;
      }
    }

    // ---- users
    if (at(0) == "users") {
      if (is({"users"}, "GET")) {
        send(200, list("user", listOf(store_.users(filter_tenant), [&](const User& u) {
                         return actor.system() ||
                                (!u.tenant_id.empty() && u.tenant_id == me.tenant_id);
                       })));
        return;
      }
      if (is({"users"}, "POST")) {
        requireAdmin("create users");
        const auto role = parseRole(body.str("role", false, "member"));
        if (!role) {
          badRequest("'role' must be system_admin, tenant_admin or member", "invalid_role");
        }
        if (*role == Role::kSystemAdmin && !actor.system()) {
          forbidden("Only a system admin may create system admins");
        }
        const std::string password = body.str("password", true);
        requirePassword(password);
        User u{newId("usr"),
               requireName(body.str("email", true), "email"),
               *role == Role::kSystemAdmin ? "" : targetTenant(),
               *role,
               hashPassword(password),
               now};
        store_.write([&](auto& log) {
          store_.insertUser(u);
          audit(log, u.tenant_id, "user.create", "user", u.id, nullptr, toJson(u));
        });
        send(201, toJson(u));
        return;
      }
      auto u = store_.user(at(1));
      // System admins (no tenant) are visible to system admins only.
      if (!u || !(actor.system() || (!u->tenant_id.empty() && actor.reaches(u->tenant_id)))) {
        notFound("user", at(1));
      }
      if (is({"users", "*"}, "GET")) {
        send(200, toJson(*u));
        return;
      }
      if (is({"users", "*"}, "PATCH")) {
        const bool self = u->id == me.id;
        if (!self && !actor.admin()) {
          forbidden("Only a tenant admin may change other users");
        }
        User next = *u;
        if (body.has("role")) {
          requireAdmin("change roles");
          const auto role = parseRole(body.str("role"));
          if (!role || (*role == Role::kSystemAdmin) != u->tenant_id.empty()) {
            badRequest("'role' must be tenant_admin or member for a tenant's user", "invalid_role");
          }
          next.role = *role;
        }
        if (body.has("password")) {
          const std::string password = body.str("password");
          requirePassword(password);
          next.password_hash = hashPassword(password);
        }
        store_.write([&](auto& log) {
          store_.updateUser(next);
          audit(log, u->tenant_id, body.has("password") ? "user.update_password" : "user.update",
                "user", u->id, toJson(*u), toJson(next));
        });
        send(200, toJson(next));
        return;
      }
      if (is({"users", "*"}, "DELETE")) {
        requireAdmin("delete users");
        if (u->id == me.id) {
          conflict("You cannot delete yourself");
        }
        store_.write([&](auto& log) {
          store_.deleteUser(u->id);
          audit(log, u->tenant_id, "user.delete", "user", u->id, toJson(*u), nullptr);
        });
        send(200, {{"id", u->id}, {"deleted", true}});
        return;
      }
    }

    // ---- apps and their keys
    if (at(0) == "apps") {
      if (is({"apps"}, "GET")) {
        send(200, list("app", listOf(store_.apps(filter_tenant), [](const App&) { return true; })));
        return;
      }
      if (is({"apps"}, "POST")) {
        App a{newId("app"), targetTenant(), requireName(body.str("name", true), "name"),
              body.str("description"), now};
        store_.write([&](auto& log) {
          store_.insertApp(a);
          audit(log, a.tenant_id, "app.create", "app", a.id, nullptr, toJson(a));
        });
        send(201, toJson(a));
        return;
      }
      auto a = store_.app(at(1));
      if (!a || !actor.reaches(a->tenant_id)) {
        notFound("app", at(1));
      }
      if (is({"apps", "*"}, "GET")) {
        send(200, toJson(*a));
        return;
      }
      if (is({"apps", "*"}, "PATCH")) {
        App next = *a;
        next.name = requireName(body.str("name", false, a->name), "name");
        next.description = body.str("description", false, a->description);
        store_.write([&](auto& log) {
          store_.updateApp(next);
          audit(log, a->tenant_id, "app.update", "app", a->id, toJson(*a), toJson(next));
        });
        send(200, toJson(next));
        return;
      }
      if (is({"apps", "*"}, "DELETE")) {
        store_.write([&](auto& log) {
          store_.deleteApp(a->id);
          audit(log, a->tenant_id, "app.delete", "app", a->id, toJson(*a), nullptr);
        });
        send(200, {{"id", a->id}, {"deleted", true}});
        return;
      }
      if (is({"apps", "*", "keys"}, "GET")) {
        send(200, list("key", listOf(store_.keys(a->id), [](const AppKey&) { return true; })));
        return;
      }
      if (is({"apps", "*", "keys"}, "POST")) {
        const NewAppKey secret = generateAppKey();
        int64_t expires_at = body.integer("expires_at", 0);
        if (body.has("expires_in_s")) {
          const int64_t in = body.integer("expires_in_s", 0);
          if (in <= 0) {
            badRequest("'expires_in_s' must be positive", "invalid_expiry");
          }
          expires_at = now + in;
        }
        if (expires_at < 0) {
          badRequest("'expires_at' must be a unix time", "invalid_expiry");
        }
        AppKey k{newId("key"),
                 a->id,
                 a->tenant_id,
                 body.str("name", false, "default"),
                 secret.prefix,
                 secret.hash,
                 expires_at,
                 0,
                 now};
        store_.write([&](auto& log) {
          store_.insertKey(k);
          audit(log, a->tenant_id, "key.create", "key", k.id, nullptr, toJson(k));
        });
        json out = toJson(k);
        out["key"] = secret.key;  // the only time it is ever shown
        send(201, out);
        return;
      }
      auto k = store_.key(at(3));
      if (!k || k->app_id != a->id) {
        notFound("key", at(3));
      }
      if (is({"apps", "*", "keys", "*"}, "GET")) {
        send(200, toJson(*k));
        return;
      }
      if (is({"apps", "*", "keys", "*", "revoke"}, "POST")) {
        if (k->revoked_at != 0) {
          conflict("Key " + k->id + " is already revoked", "already_revoked");
        }
        AppKey next = *k;
        next.revoked_at = now;
        store_.write([&](auto& log) {
          store_.updateKey(next);
          audit(log, a->tenant_id, "key.revoke", "key", k->id, toJson(*k), toJson(next));
        });
        send(200, toJson(next));
        return;
      }
    }

    // ---- services
    if (at(0) == "services") {
      auto parseService = [&](Service s) {
        if (s.kind == "ai") {
          s.models = body.list("models", s.models);
          if (s.models.empty()) {
            badRequest("'models' (the model routes the service offers) is required",
                       "missing_field");
          }
        } else if (s.kind == "rest") {
          if (body.has("base_url") && body.has("base_urls")) {
            badRequest("Give 'base_url' (one target) or 'base_urls' (a pool), not both",
                       "invalid_field");
          }
          if (body.has("base_urls")) {
            s.base_urls = body.list("base_urls", {});
          } else if (body.has("base_url") || s.base_urls.empty()) {
            s.base_urls = {body.str("base_url", true)};
          }
          s.base_url = s.base_urls.front();
          s.timeouts = body.object("timeouts", s.timeouts);
          s.retry = body.object("retry", s.retry);
          RestServiceSettings settings;
          if (const std::string e = parseRestSettings(s, &settings); !e.empty()) {
            badRequest(e, "invalid_service");
          }
        } else if (s.kind == "prompt") {
          PromptSpecResult spec =
              mergePromptSpec(s.prompt, json::parse(request.body, nullptr, false), model_routed_);
          if (!spec.error.empty()) {
            badRequest(spec.error, "invalid_prompt");
          }
          s.prompt = std::move(spec.spec);
        } else {
          badRequest("'kind' must be \"ai\", \"rest\" or \"prompt\"", "invalid_kind");
        }
        return s;
      };
      if (is({"services"}, "GET")) {
        send(200, list("service", listOf(store_.services(filter_tenant),
                                         [](const Service&) { return true; })));
        return;
      }
      if (is({"services"}, "POST")) {
        requireAdmin("create services");
        Service s = parseService(Service{newId("svc"),
                                         targetTenant(),
                                         requireName(body.str("name", true), "name"),
                                         body.str("kind", true),
                                         {},
                                         "",
                                         now,
                                         nullptr});
        store_.write([&](auto& log) {
          store_.insertService(s);
          audit(log, s.tenant_id, "service.create", "service", s.id, nullptr, toJson(s));
        });
        send(201, toJson(s));
        return;
      }
      auto s = store_.service(at(1));
      if (!s || !actor.reaches(s->tenant_id)) {
        notFound("service", at(1));
      }
      if (is({"services", "*"}, "GET")) {
        send(200, toJson(*s));
        return;
      }
      if (is({"services", "*"}, "PATCH")) {
        requireAdmin("change services");
        Service next = *s;
        next.name = requireName(body.str("name", false, s->name), "name");
        next = parseService(next);
        store_.write([&](auto& log) {
          store_.updateService(next);
          audit(log, s->tenant_id, "service.update", "service", s->id, toJson(*s), toJson(next));
        });
        send(200, toJson(next));
        return;
      }
      if (is({"services", "*"}, "DELETE")) {
        requireAdmin("delete services");
        if (store_.apisUsingService(s->id) > 0) {
          conflict("Service " + s->id + " is used by an API; delete or move the API first",
                   "service_in_use");
        }
        store_.write([&](auto& log) {
          store_.deleteService(s->id);
          audit(log, s->tenant_id, "service.delete", "service", s->id, toJson(*s), nullptr);
        });
        send(200, {{"id", s->id}, {"deleted", true}});
        return;
      }
    }

    // ---- APIs and their lifecycle
    if (at(0) == "apis") {
      auto ownService = [&](const std::string& tenant_id, const std::string& id) {
        auto svc = store_.service(id);
        if (!svc || svc->tenant_id != tenant_id) {
          notFound("service", id);
        }
        return *svc;
      };
      auto parseApi = [&](Api a) {
        a.name = requireName(body.str("name", a.name.empty(), a.name), "name");
        a.description = body.str("description", false, a.description);
        a.methods = body.list("methods", a.methods);
        for (auto& m : a.methods) {
          std::transform(m.begin(), m.end(), m.begin(), ::toupper);
          static const std::set<std::string> kMethods = {"GET",    "POST", "PUT",    "PATCH",
                                                         "DELETE", "HEAD", "OPTIONS"};
          if (kMethods.count(m) == 0) {
            badRequest("'methods' holds an unknown method " + m, "invalid_method");
          }
        }
        a.visibility = body.str("visibility", false, a.visibility);
        if (a.visibility != "public" && a.visibility != "private") {
          badRequest("'visibility' must be \"public\" or \"private\"", "invalid_visibility");
        }
        a.approval_required = body.boolean("approval_required", a.approval_required);
        if (a.state == ApiState::kDraft) {
          a.path = body.str("path", a.path.empty(), a.path);
          a.version = body.str("version", false, a.version.empty() ? "v1" : a.version);
          requireApiPath(a.path, a.version);
          a.service_id =
              ownService(a.tenant_id, body.str("service_id", a.service_id.empty(), a.service_id))
                  .id;
        } else if (body.has("path") || body.has("version") || body.has("service_id")) {
          conflict(
              "'path', 'version' and 'service_id' are fixed once an API leaves draft; publish a "
              "new version "
              "instead",
              "api_not_draft");
        }
        a.openapi = ownerDocumentOf(body, a, store_);
        return a;
      };
      if (is({"apis"}, "GET")) {
        send(200, list("api", listOf(store_.apis(filter_tenant), [](const Api&) { return true; })));
        return;
      }
      if (is({"apis"}, "POST")) {
        requireAdmin("create APIs");
        Api a;
        a.id = newId("api");
        a.tenant_id = targetTenant();
        a.methods = {"GET", "POST"};
        a.created_at = a.updated_at = now;
        a = parseApi(a);
        store_.write([&](auto& log) {
          store_.insertApi(a);
          audit(log, a.tenant_id, "api.create", "api", a.id, nullptr, toJson(a));
        });
        send(201, toJson(a));
        return;
      }
      auto a = store_.api(at(1));
      if (!a || !actor.reaches(a->tenant_id)) {
        notFound("API", at(1));
      }
      if (is({"apis", "*"}, "GET")) {
        send(200, toJson(*a));
        return;
      }
      auto change = [&](const Api& next, const std::string& action) {
        store_.write([&](auto& log) {
          store_.updateApi(next);
          audit(log, a->tenant_id, action, "api", a->id, toJson(*a), toJson(next));
        });
        send(200, toJson(next));
      };
      if (is({"apis", "*"}, "PATCH")) {
        requireAdmin("change APIs");
        if (a->state == ApiState::kRetired) {
          conflict("API " + a->id + " is retired", "api_retired");
        }
        Api next = parseApi(*a);
        next.updated_at = now;
        change(next, "api.update");
        return;
      }
      if (is({"apis", "*"}, "DELETE")) {
        requireAdmin("delete APIs");
        if (a->state != ApiState::kDraft && a->state != ApiState::kRetired) {
          conflict("Only draft or retired APIs can be deleted; retire it first", "api_live");
        }
        store_.write([&](auto& log) {
          store_.deleteApi(a->id);
          audit(log, a->tenant_id, "api.delete", "api", a->id, toJson(*a), nullptr);
        });
        send(200, {{"id", a->id}, {"deleted", true}});
        return;
      }
      if (seg.size() == 3 && method == "POST") {
        requireAdmin("change an API's lifecycle");
        const std::string& to = seg[2];
        Api next = *a;
        next.updated_at = now;
        if (to == "publish" &&
            (a->state == ApiState::kDraft || a->state == ApiState::kDeprecated)) {
          next.state = ApiState::kPublished;
          next.deprecated_at = 0;
          next.sunset_at = 0;
        } else if (to == "deprecate" && a->state == ApiState::kPublished) {
          next.state = ApiState::kDeprecated;
          next.deprecated_at = now;
          next.sunset_at = body.integer("sunset_at", 0);
          if (next.sunset_at != 0 && next.sunset_at < now) {
            badRequest("'sunset_at' must be in the future", "invalid_sunset");
          }
        } else if (to == "retire" &&
                   (a->state == ApiState::kPublished || a->state == ApiState::kDeprecated)) {
          next.state = ApiState::kRetired;
        } else if (to == "publish" || to == "deprecate" || to == "retire") {
          conflict("API " + a->id + " is " + apiStateName(a->state) + "; it cannot " + to +
                       " from there",
                   "invalid_transition");
        } else {
          notFound("action", to);
        }
        change(next, "api." + to);
        return;
      }
    }

    // ---- the catalog: published APIs, across tenants
    auto inCatalog = [&](const Api& a) { return catalogShows(actor, a); };
    auto catalogEntry = [&](const Api& a) {
      auto t = store_.tenant(a.tenant_id);
      return json{{"id", a.id},
                  {"name", a.name},
                  {"description", a.description},
                  {"tenant", {{"id", a.tenant_id}, {"name", t ? t->name : ""}}},
                  {"mount", a.mount()},
                  {"version", a.version},
                  {"methods", a.methods},
                  {"state", apiStateName(a.state)},
                  {"approval_required", a.approval_required},
                  {"sunset_at", a.sunset_at == 0 ? json() : json(a.sunset_at)},
                  {"openapi_url", catalogDocumentUrl(a.id)}};
    };
    if (is({"catalog"}, "GET")) {
      json data = json::array();
      for (const auto& a : store_.apis()) {
        if (inCatalog(a)) {
          data.push_back(catalogEntry(a));
        }
      }
      send(200, list("catalog_entry", data));
      return;
    }
    if (is({"catalog", "*"}, "GET")) {
      auto a = store_.api(at(1));
      if (!a || !inCatalog(*a)) {
        notFound("API", at(1));
      }
      send(200, catalogEntry(*a));
      return;
    }

    // ---- subscriptions: requested by the app's tenant, decided by the API's
    if (at(0) == "subscriptions") {
      if (is({"subscriptions"}, "GET")) {
        send(200, list("subscription", listOf(store_.subscriptions(filter_tenant),
                                              [](const Subscription&) { return true; })));
        return;
      }
      auto auditBoth = [&](std::vector<AuditEntry>& log, const Subscription& before,
                           const Subscription& after, const std::string& action, bool created) {
        for (const auto& t : std::set<std::string>{after.app_tenant_id, after.api_tenant_id}) {
          audit(log, t, action, "subscription", after.id, created ? json() : toJson(before),
                toJson(after));
        }
      };
      if (is({"subscriptions"}, "POST")) {
        auto app = store_.app(body.str("app_id", true));
        if (!app || !actor.reaches(app->tenant_id)) {
          notFound("app", body.str("app_id"));
        }
        auto api = store_.api(body.str("api_id", true));
        if (!api || !inCatalog(*api)) {
          notFound("API", body.str("api_id"));
        }
        if (api->state == ApiState::kDeprecated) {
          conflict("API " + api->id + " is deprecated and closed to new subscriptions",
                   "api_deprecated");
        }
        auto existing = store_.subscriptionOf(app->id, api->id);
        if (existing && (existing->state == SubscriptionState::kPending ||
                         existing->state == SubscriptionState::kApproved)) {
          conflict("App " + app->id + " already has a " + subscriptionStateName(existing->state) +
                       " subscription to API " + api->id + " (" + existing->id + ")",
                   "subscription_exists");
        }
        Subscription s = existing.value_or(
            Subscription{newId("sub"), app->id, app->tenant_id, api->id, api->tenant_id,
                         SubscriptionState::kPending, me.id, "", 0, "", now});
        s.requested_by = me.id;
        s.reason.clear();
        s.state =
            api->approval_required ? SubscriptionState::kPending : SubscriptionState::kApproved;
        s.decided_by = api->approval_required ? "" : "auto";
        s.decided_at = api->approval_required ? 0 : now;
        store_.write([&](auto& log) {
          if (existing) {
            store_.updateSubscription(s);
          } else {
            store_.insertSubscription(s);
          }
          auditBoth(log, existing.value_or(s), s, "subscription.request", !existing);
        });
        send(201, toJson(s));
        return;
      }
      auto s = store_.subscription(at(1));
      if (!s || !(actor.reaches(s->app_tenant_id) || actor.reaches(s->api_tenant_id))) {
        notFound("subscription", at(1));
      }
      if (is({"subscriptions", "*"}, "GET")) {
        send(200, toJson(*s));
        return;
      }
      if (seg.size() == 3 && method == "POST") {
        const std::string& to = seg[2];
        Subscription next = *s;
        next.decided_by = me.id;
        next.decided_at = now;
        next.reason = body.str("reason");
        const bool api_side = actor.reaches(s->api_tenant_id);
        if (to == "approve" || to == "reject") {
          if (!api_side) {
            forbidden("Only an admin of the API's tenant may " + to + " subscriptions to it");
          }
          requireAdmin(to + " subscriptions");
          if (s->state != SubscriptionState::kPending) {
            conflict("Subscription " + s->id + " is " + subscriptionStateName(s->state) +
                         ", not pending",
                     "invalid_transition");
          }
          next.state =
              to == "approve" ? SubscriptionState::kApproved : SubscriptionState::kRejected;
        } else if (to == "revoke") {
          // The API's owner withdraws access; the app's owner cancels its own subscription.
          requireAdmin("revoke subscriptions");
          if (s->state != SubscriptionState::kApproved && s->state != SubscriptionState::kPending) {
            conflict("Subscription " + s->id + " is " + subscriptionStateName(s->state),
                     "invalid_transition");
          }
          next.state = SubscriptionState::kRevoked;
        } else {
          notFound("action", to);
        }
        store_.write([&](auto& log) {
          // Decided against the state read above: if another admin decided meanwhile, the
          // conditional update changes nothing and this decision is refused (rolled back).
          if (!store_.updateSubscriptionFrom(next, s->state)) {
            auto now_is = store_.subscription(s->id);
            conflict("Subscription " + s->id + " was " +
                         (now_is ? subscriptionStateName(now_is->state) : "deleted") +
                         " by someone else meanwhile; reload it and decide again",
                     "concurrent_change");
          }
          auditBoth(log, *s, next, "subscription." + to, false);
        });
        send(200, toJson(next));
        return;
      }
    }

    // ---- audit log
    if (is({"audit"}, "GET")) {
      requireAdmin("read the audit log");
      int64_t limit = 100;
      if (query.count("limit")) {
        limit = std::clamp<int64_t>(std::atoll(query["limit"].c_str()), 1, 1000);
      }
      json data = json::array();
      for (const auto& e : store_.audit(filter_tenant, limit)) {
        data.push_back(toJson(e));
      }
      send(200, list("audit_entry", data));
      return;
    }

    refuse(404, "invalid_request_error", "unknown_url",
           "Unknown admin endpoint " + method + " " + request.path);
  } catch (const Refusal& r) {
    response.send(r.error.status, "application/json", r.error.toJson());
  } catch (const StoreConflict& e) {
    response.send(
        409, "application/json",
        ApiError{409, "invalid_request_error", "conflict", "The name, path or key is already taken"}
            .toJson());
  } catch (const std::exception& e) {
    spdlog::error("admin request {} {} failed: {}", method, request.path, e.what());
    response.send(500, "application/json",
                  ApiError::internal("The management store failed").toJson());
  }
}

}  // namespace switchyard
