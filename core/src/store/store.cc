#include "switchyard/store/store.h"

#include <openssl/rand.h>

#include <chrono>

namespace switchyard {
namespace {

using nlohmann::json;

/// One schema version: statements applied together in one transaction. Append only: a
/// released migration never changes, a later one alters what it made.
struct Migration {
  int version;
  const char* name;
  std::vector<const char*> statements;
};

const std::vector<Migration>& migrations() {
  static const std::vector<Migration> kMigrations = {
      {1,
       "management entities",
       {
           "CREATE TABLE store_meta (key TEXT PRIMARY KEY, value BIGINT NOT NULL)",
           "INSERT INTO store_meta (key, value) VALUES ('change_seq', 0)",
           "CREATE TABLE tenants (id TEXT PRIMARY KEY, name TEXT NOT NULL UNIQUE, created_at "
           "BIGINT NOT NULL)",
           "CREATE TABLE users (id TEXT PRIMARY KEY, email TEXT NOT NULL UNIQUE, tenant_id TEXT "
           "REFERENCES "
           "tenants(id), role TEXT NOT NULL, password_hash TEXT NOT NULL, created_at BIGINT NOT "
           "NULL)",
           "CREATE TABLE apps (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES "
           "tenants(id), name TEXT NOT "
           "NULL, description TEXT NOT NULL, created_at BIGINT NOT NULL, UNIQUE (tenant_id, name))",
           "CREATE TABLE app_keys (id TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES apps(id) "
           "ON DELETE CASCADE, "
           "tenant_id TEXT NOT NULL, name TEXT NOT NULL, prefix TEXT NOT NULL, hash TEXT NOT NULL "
           "UNIQUE, "
           "expires_at BIGINT NOT NULL, revoked_at BIGINT NOT NULL, created_at BIGINT NOT NULL)",
           "CREATE TABLE services (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES "
           "tenants(id), name TEXT "
           "NOT NULL, kind TEXT NOT NULL, models TEXT NOT NULL, base_url TEXT NOT NULL, created_at "
           "BIGINT NOT "
           "NULL, UNIQUE (tenant_id, name))",
           "CREATE TABLE apis (id TEXT PRIMARY KEY, tenant_id TEXT NOT NULL REFERENCES "
           "tenants(id), name TEXT NOT "
           "NULL, description TEXT NOT NULL, path TEXT NOT NULL, version TEXT NOT NULL, methods "
           "TEXT NOT NULL, "
           "service_id TEXT NOT NULL REFERENCES services(id), visibility TEXT NOT NULL, "
           "approval_required BIGINT "
           "NOT NULL, state TEXT NOT NULL, deprecated_at BIGINT NOT NULL, sunset_at BIGINT NOT "
           "NULL, created_at "
           "BIGINT NOT NULL, updated_at BIGINT NOT NULL, UNIQUE (path, version))",
           "CREATE TABLE subscriptions (id TEXT PRIMARY KEY, app_id TEXT NOT NULL REFERENCES "
           "apps(id) ON DELETE "
           "CASCADE, app_tenant_id TEXT NOT NULL, api_id TEXT NOT NULL REFERENCES apis(id) ON "
           "DELETE CASCADE, "
           "api_tenant_id TEXT NOT NULL, state TEXT NOT NULL, requested_by TEXT NOT NULL, "
           "decided_by TEXT NOT "
           "NULL, decided_at BIGINT NOT NULL, reason TEXT NOT NULL, created_at BIGINT NOT NULL, "
           "UNIQUE (app_id, "
           "api_id))",
           "CREATE TABLE audit_log (id TEXT PRIMARY KEY, seq BIGINT NOT NULL, at BIGINT NOT NULL, "
           "actor_id TEXT "
           "NOT NULL, actor_email TEXT NOT NULL, tenant_id TEXT NOT NULL, action TEXT NOT NULL, "
           "object_type TEXT "
           "NOT NULL, object_id TEXT NOT NULL, before_json TEXT NOT NULL, after_json TEXT NOT "
           "NULL)",
           "CREATE INDEX audit_log_tenant ON audit_log (tenant_id, seq)",
       }},
      {2,
       "quotas",
       {
           "CREATE TABLE quotas (scope TEXT NOT NULL, owner_id TEXT NOT NULL, tenant_id TEXT NOT "
           "NULL, rpm BIGINT NOT NULL, tpm BIGINT NOT NULL, budget_micros BIGINT NOT NULL, "
           "budget_period TEXT NOT NULL, shadow TEXT NOT NULL, updated_by TEXT NOT NULL, "
           "updated_at BIGINT NOT NULL, PRIMARY KEY (scope, owner_id))",
           "CREATE TABLE quota_spend (scope TEXT NOT NULL, owner_id TEXT NOT NULL, period_start "
           "BIGINT NOT NULL, spent_micros BIGINT NOT NULL, PRIMARY KEY (scope, owner_id, "
           "period_start))",
       }},
      {3,
       "prompt services",
       {
           // The whole spec as one JSON document: it is read and written as a unit.
           "ALTER TABLE services ADD COLUMN prompt TEXT NOT NULL DEFAULT ''",
       }},
      {4,
       "REST service targets, timeouts and retries",
       {
           // One JSON document, so later settings need no migration of their own.
           "ALTER TABLE services ADD COLUMN settings TEXT NOT NULL DEFAULT '{}'",
        }},
      {5,
       "owner-attached OpenAPI documents of APIs",
       {
           "ALTER TABLE apis ADD COLUMN openapi TEXT NOT NULL DEFAULT ''",
       }},
  };
  return kMigrations;
}

json parseJsonText(const std::string& s) {
  json j = json::parse(s, nullptr, false);
  return j.is_discarded() ? json() : j;
}

std::vector<std::string> stringList(const std::string& s) {
  std::vector<std::string> out;
  json j = parseJsonText(s);
  if (j.is_array()) {
    for (const auto& v : j) {
      if (v.is_string()) {
        out.push_back(v.get<std::string>());
      }
    }
  }
  return out;
}

std::string listText(const std::vector<std::string>& v) {
  return json(v).dump();
}

// Column lists and the row readers that match them, one pair per table.
const char* kTenantCols = "id, name, created_at";
Tenant tenantOf(const SqlRow& r) {
  return Tenant{sqlText(r[0]), sqlText(r[1]), sqlInt(r[2])};
}

const char* kUserCols = "id, email, tenant_id, role, password_hash, created_at";
User userOf(const SqlRow& r) {
  return User{sqlText(r[0]), sqlText(r[1]),
              sqlText(r[2]), parseRole(sqlText(r[3])).value_or(Role::kMember),
              sqlText(r[4]), sqlInt(r[5])};
}

const char* kAppCols = "id, tenant_id, name, description, created_at";
App appOf(const SqlRow& r) {
  return App{sqlText(r[0]), sqlText(r[1]), sqlText(r[2]), sqlText(r[3]), sqlInt(r[4])};
}

const char* kKeyCols =
    "id, app_id, tenant_id, name, prefix, hash, expires_at, revoked_at, created_at";
AppKey keyOf(const SqlRow& r) {
  return AppKey{sqlText(r[0]), sqlText(r[1]), sqlText(r[2]), sqlText(r[3]), sqlText(r[4]),
                sqlText(r[5]), sqlInt(r[6]),  sqlInt(r[7]),  sqlInt(r[8])};
}

const char* kServiceCols =
    "id, tenant_id, name, kind, models, base_url, created_at, prompt, settings";
Service serviceOf(const SqlRow& r) {
  Service s;
  s.id = sqlText(r[0]);
  s.tenant_id = sqlText(r[1]);
  s.name = sqlText(r[2]);
  s.kind = sqlText(r[3]);
  s.models = stringList(sqlText(r[4]));
  s.base_url = sqlText(r[5]);
  s.created_at = sqlInt(r[6]);
  s.prompt = sqlText(r[7]).empty() ? json() : parseJsonText(sqlText(r[7]));
  const json settings = parseJsonText(sqlText(r[8]));
  if (settings.is_object()) {
    s.base_urls = stringList(settings.value("base_urls", json::array()).dump());
    s.timeouts = settings.value("timeouts", json::object());
    s.retry = settings.value("retry", json::object());
  }
  // Services written before the settings column have their one URL only.
  if (s.base_urls.empty() && !s.base_url.empty()) {
    s.base_urls = {s.base_url};
  }
  return s;
}
std::string promptText(const Service& s) {
  return s.prompt.is_null() ? std::string() : s.prompt.dump();
}

std::string serviceSettingsText(const Service& s) {
  if (s.kind != "rest") {
    return "{}";
  }
  return json{{"base_urls", s.base_urls}, {"timeouts", s.timeouts}, {"retry", s.retry}}.dump();
}

const char* kApiCols =
    "id, tenant_id, name, description, path, version, methods, service_id, visibility, "
    "approval_required, state, deprecated_at, sunset_at, created_at, updated_at, openapi";
ApiState apiStateOf(const std::string& s) {
  return s == "published"    ? ApiState::kPublished
         : s == "deprecated" ? ApiState::kDeprecated
         : s == "retired"    ? ApiState::kRetired
                             : ApiState::kDraft;
}
Api apiOf(const SqlRow& r) {
  Api a;
  a.id = sqlText(r[0]);
  a.tenant_id = sqlText(r[1]);
  a.name = sqlText(r[2]);
  a.description = sqlText(r[3]);
  a.path = sqlText(r[4]);
  a.version = sqlText(r[5]);
  a.methods = stringList(sqlText(r[6]));
  a.service_id = sqlText(r[7]);
  a.visibility = sqlText(r[8]);
  a.approval_required = sqlInt(r[9]) != 0;
  a.state = apiStateOf(sqlText(r[10]));
  a.deprecated_at = sqlInt(r[11]);
  a.sunset_at = sqlInt(r[12]);
  a.created_at = sqlInt(r[13]);
  a.updated_at = sqlInt(r[14]);
  a.openapi = sqlText(r[15]);
  return a;
}

const char* kSubCols =
    "id, app_id, app_tenant_id, api_id, api_tenant_id, state, requested_by, decided_by, "
    "decided_at, reason, created_at";
SubscriptionState subStateOf(const std::string& s) {
  return s == "approved"   ? SubscriptionState::kApproved
         : s == "rejected" ? SubscriptionState::kRejected
         : s == "revoked"  ? SubscriptionState::kRevoked
                           : SubscriptionState::kPending;
}
Subscription subOf(const SqlRow& r) {
  return Subscription{sqlText(r[0]), sqlText(r[1]), sqlText(r[2]),
                      sqlText(r[3]), sqlText(r[4]), subStateOf(sqlText(r[5])),
                      sqlText(r[6]), sqlText(r[7]), sqlInt(r[8]),
                      sqlText(r[9]), sqlInt(r[10])};
}

template <typename T, typename F>
std::vector<T> all(const std::vector<SqlRow>& rows, F of) {
  std::vector<T> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    out.push_back(of(r));
  }
  return out;
}

template <typename T, typename F>
std::optional<T> one(const std::vector<SqlRow>& rows, F of) {
  if (rows.empty()) {
    return std::nullopt;
  }
  return of(rows.front());
}

std::string select(const char* cols, const char* table, const std::string& rest) {
  return std::string("SELECT ") + cols + " FROM " + table + " " + rest;
}

}  // namespace

std::string roleName(Role r) {
  switch (r) {
    case Role::kSystemAdmin:
      return "system_admin";
    case Role::kTenantAdmin:
      return "tenant_admin";
    default:
      return "member";
  }
}

std::optional<Role> parseRole(const std::string& s) {
  if (s == "system_admin") {
    return Role::kSystemAdmin;
  }
  if (s == "tenant_admin") {
    return Role::kTenantAdmin;
  }
  if (s == "member") {
    return Role::kMember;
  }
  return std::nullopt;
}

std::string apiStateName(ApiState s) {
  switch (s) {
    case ApiState::kPublished:
      return "published";
    case ApiState::kDeprecated:
      return "deprecated";
    case ApiState::kRetired:
      return "retired";
    default:
      return "draft";
  }
}

std::string subscriptionStateName(SubscriptionState s) {
  switch (s) {
    case SubscriptionState::kApproved:
      return "approved";
    case SubscriptionState::kRejected:
      return "rejected";
    case SubscriptionState::kRevoked:
      return "revoked";
    default:
      return "pending";
  }
}

json toJson(const Tenant& t) {
  return {{"id", t.id}, {"name", t.name}, {"created_at", t.created_at}};
}

json toJson(const User& u) {
  return {{"id", u.id},
          {"email", u.email},
          {"tenant_id", u.tenant_id.empty() ? json() : json(u.tenant_id)},
          {"role", roleName(u.role)},
          {"created_at", u.created_at}};
}

json toJson(const App& a) {
  return {{"id", a.id},
          {"tenant_id", a.tenant_id},
          {"name", a.name},
          {"description", a.description},
          {"created_at", a.created_at}};
}

json toJson(const AppKey& k) {
  return {{"id", k.id},
          {"app_id", k.app_id},
          {"tenant_id", k.tenant_id},
          {"name", k.name},
          {"prefix", k.prefix},
          {"expires_at", k.expires_at == 0 ? json() : json(k.expires_at)},
          {"revoked_at", k.revoked_at == 0 ? json() : json(k.revoked_at)},
          {"created_at", k.created_at}};
}

json toJson(const Service& s) {
  json j = {{"id", s.id},
            {"tenant_id", s.tenant_id},
            {"name", s.name},
            {"kind", s.kind},
            {"created_at", s.created_at}};
  if (s.kind == "ai") {
    j["models"] = s.models;
  } else if (s.kind == "prompt") {
    // The spec's fields sit beside the others, as they are given to the admin API.
    if (s.prompt.is_object()) {
      j.update(s.prompt);
    }
  } else {
    j["base_url"] = s.base_url;
    j["base_urls"] = s.base_urls;
    j["timeouts"] = s.timeouts;
    j["retry"] = s.retry;
  }
  return j;
}

json toJson(const Api& a) {
  return {{"id", a.id},
          {"tenant_id", a.tenant_id},
          {"name", a.name},
          {"description", a.description},
          {"path", a.path},
          {"version", a.version},
          {"mount", a.mount()},
          {"methods", a.methods},
          {"service_id", a.service_id},
          {"visibility", a.visibility},
          {"approval_required", a.approval_required},
          {"state", apiStateName(a.state)},
          {"deprecated_at", a.deprecated_at == 0 ? json() : json(a.deprecated_at)},
          {"sunset_at", a.sunset_at == 0 ? json() : json(a.sunset_at)},
          {"created_at", a.created_at},
          {"updated_at", a.updated_at},
          {"has_openapi", !a.openapi.empty()}};
}

json toJson(const Subscription& s) {
  return {{"id", s.id},
          {"app_id", s.app_id},
          {"app_tenant_id", s.app_tenant_id},
          {"api_id", s.api_id},
          {"api_tenant_id", s.api_tenant_id},
          {"state", subscriptionStateName(s.state)},
          {"requested_by", s.requested_by},
          {"decided_by", s.decided_by.empty() ? json() : json(s.decided_by)},
          {"decided_at", s.decided_at == 0 ? json() : json(s.decided_at)},
          {"reason", s.reason},
          {"created_at", s.created_at}};
}

json toJson(const AuditEntry& e) {
  return {{"id", e.id},
          {"at", e.at},
          {"actor", {{"id", e.actor_id}, {"email", e.actor_email}}},
          {"tenant_id", e.tenant_id.empty() ? json() : json(e.tenant_id)},
          {"action", e.action},
          {"object_type", e.object_type},
          {"object_id", e.object_id},
          {"before", e.before},
          {"after", e.after}};
}

std::string newId(const std::string& prefix) {
  unsigned char bytes[8];
  if (RAND_bytes(bytes, sizeof bytes) != 1) {
    throw StoreError("no randomness for an id");
  }
  static const char* kHex = "0123456789abcdef";
  std::string out = prefix + "_";
  for (unsigned char b : bytes) {
    out += kHex[b >> 4];
    out += kHex[b & 15];
  }
  return out;
}

int64_t unixNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

Store::Store(DatabasePtr db) : db_(std::move(db)), driver_(db_->driver()) {}

int Store::migrate() {
  // Under the writer lock: two PostgreSQL sessions creating the same table at once would
  // otherwise clash on the catalog even with IF NOT EXISTS.
  db_->transaction([&] {
    db_->execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, name TEXT NOT "
        "NULL, "
        "applied_at BIGINT NOT NULL)");
  });
  int applied = 0;
  for (const auto& m : migrations()) {
    bool done = false;
    // The check runs inside the transaction so two gateways starting together apply it once.
    db_->transaction([&] {
      if (!db_->query("SELECT version FROM schema_migrations WHERE version = ?",
                      {int64_t{m.version}})
               .empty()) {
        done = true;
        return;
      }
      for (const char* sql : m.statements) {
        db_->execute(sql);
      }
      db_->execute("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)",
                   {int64_t{m.version}, std::string(m.name), unixNow()});
    });
    applied += done ? 0 : 1;
  }
  return applied;
}

int Store::schemaVersion() {
  auto rows = db_->query("SELECT MAX(version) FROM schema_migrations");
  return rows.empty() ? 0 : static_cast<int>(sqlInt(rows[0][0]));
}

int64_t Store::changeSeq() {
  auto rows = db_->query("SELECT value FROM store_meta WHERE key = 'change_seq'");
  return rows.empty() ? 0 : sqlInt(rows[0][0]);
}

void Store::write(const std::function<void(std::vector<AuditEntry>& audit)>& work) {
  db_->transaction([&] {
    std::vector<AuditEntry> audit;
    work(audit);
    db_->execute("UPDATE store_meta SET value = value + 1 WHERE key = 'change_seq'");
    const int64_t now = unixNow();
    for (auto& e : audit) {
      e.id = newId("aud");
      e.at = now;
      insertAudit(e);
    }
  });
}

void Store::insertTenant(const Tenant& t) {
  db_->execute("INSERT INTO tenants (id, name, created_at) VALUES (?, ?, ?)",
               {t.id, t.name, t.created_at});
}
std::optional<Tenant> Store::tenant(const std::string& id) {
  return one<Tenant>(db_->query(select(kTenantCols, "tenants", "WHERE id = ?"), {id}), tenantOf);
}
std::vector<Tenant> Store::tenants() {
  return all<Tenant>(db_->query(select(kTenantCols, "tenants", "ORDER BY created_at, id")),
                     tenantOf);
}
void Store::updateTenant(const Tenant& t) {
  db_->execute("UPDATE tenants SET name = ? WHERE id = ?", {t.name, t.id});
}

void Store::insertUser(const User& u) {
  db_->execute(
      "INSERT INTO users (id, email, tenant_id, role, password_hash, created_at) VALUES (?, ?, ?, "
      "?, ?, ?)",
      {u.id, u.email, u.tenant_id.empty() ? SqlValue{} : SqlValue{u.tenant_id}, roleName(u.role),
       u.password_hash, u.created_at});
}
std::optional<User> Store::user(const std::string& id) {
  return one<User>(db_->query(select(kUserCols, "users", "WHERE id = ?"), {id}), userOf);
}
std::optional<User> Store::userByEmail(const std::string& email) {
  return one<User>(db_->query(select(kUserCols, "users", "WHERE email = ?"), {email}), userOf);
}
std::vector<User> Store::users(const std::string& tenant_id) {
  return tenant_id.empty()
             ? all<User>(db_->query(select(kUserCols, "users", "ORDER BY created_at, id")), userOf)
             : all<User>(db_->query(select(kUserCols, "users",
                                           "WHERE tenant_id = ? ORDER BY created_at, id"),
                                    {tenant_id}),
                         userOf);
}
int64_t Store::userCount() {
  return sqlInt(db_->query("SELECT COUNT(*) FROM users")[0][0]);
}
void Store::updateUser(const User& u) {
  db_->execute("UPDATE users SET email = ?, role = ?, password_hash = ? WHERE id = ?",
               {u.email, roleName(u.role), u.password_hash, u.id});
}
void Store::deleteUser(const std::string& id) {
  db_->execute("DELETE FROM users WHERE id = ?", {id});
}

void Store::insertApp(const App& a) {
  db_->execute(
      "INSERT INTO apps (id, tenant_id, name, description, created_at) VALUES (?, ?, ?, ?, ?)",
      {a.id, a.tenant_id, a.name, a.description, a.created_at});
}
std::optional<App> Store::app(const std::string& id) {
  return one<App>(db_->query(select(kAppCols, "apps", "WHERE id = ?"), {id}), appOf);
}
std::vector<App> Store::apps(const std::string& tenant_id) {
  return tenant_id.empty()
             ? all<App>(db_->query(select(kAppCols, "apps", "ORDER BY created_at, id")), appOf)
             : all<App>(db_->query(
                            select(kAppCols, "apps", "WHERE tenant_id = ? ORDER BY created_at, id"),
                            {tenant_id}),
                        appOf);
}
void Store::updateApp(const App& a) {
  db_->execute("UPDATE apps SET name = ?, description = ? WHERE id = ?",
               {a.name, a.description, a.id});
}
void Store::deleteApp(const std::string& id) {
  // Explicit rather than relying on ON DELETE CASCADE, which SQLite only honours per connection.
  deleteQuotasOf("app_id", id);
  db_->execute("DELETE FROM subscriptions WHERE app_id = ?", {id});
  db_->execute("DELETE FROM app_keys WHERE app_id = ?", {id});
  db_->execute("DELETE FROM apps WHERE id = ?", {id});
}

void Store::insertKey(const AppKey& k) {
  db_->execute(
      "INSERT INTO app_keys (id, app_id, tenant_id, name, prefix, hash, expires_at, revoked_at, "
      "created_at) "
      "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {k.id, k.app_id, k.tenant_id, k.name, k.prefix, k.hash, k.expires_at, k.revoked_at,
       k.created_at});
}
std::optional<AppKey> Store::key(const std::string& id) {
  return one<AppKey>(db_->query(select(kKeyCols, "app_keys", "WHERE id = ?"), {id}), keyOf);
}
std::vector<AppKey> Store::keys(const std::string& app_id) {
  return all<AppKey>(
      db_->query(select(kKeyCols, "app_keys", "WHERE app_id = ? ORDER BY created_at, id"),
                 {app_id}),
      keyOf);
}
void Store::updateKey(const AppKey& k) {
  db_->execute("UPDATE app_keys SET name = ?, expires_at = ?, revoked_at = ? WHERE id = ?",
               {k.name, k.expires_at, k.revoked_at, k.id});
}

void Store::insertService(const Service& s) {
  db_->execute(
      "INSERT INTO services (id, tenant_id, name, kind, models, base_url, created_at, prompt, "
      "settings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {s.id, s.tenant_id, s.name, s.kind, listText(s.models), s.base_url, s.created_at,
       promptText(s), serviceSettingsText(s)});
}
std::optional<Service> Store::service(const std::string& id) {
  return one<Service>(db_->query(select(kServiceCols, "services", "WHERE id = ?"), {id}),
                      serviceOf);
}
std::vector<Service> Store::services(const std::string& tenant_id) {
  return tenant_id.empty()
             ? all<Service>(db_->query(select(kServiceCols, "services", "ORDER BY created_at, id")),
                            serviceOf)
             : all<Service>(db_->query(select(kServiceCols, "services",
                                              "WHERE tenant_id = ? ORDER BY created_at, id"),
                                       {tenant_id}),
                            serviceOf);
}
void Store::updateService(const Service& s) {
  db_->execute(
      "UPDATE services SET name = ?, models = ?, base_url = ?, prompt = ?, settings = ? WHERE id "
      "= ?",
      {s.name, listText(s.models), s.base_url, promptText(s), serviceSettingsText(s), s.id});
}
void Store::deleteService(const std::string& id) {
  db_->execute("DELETE FROM services WHERE id = ?", {id});
}
int64_t Store::apisUsingService(const std::string& service_id) {
  return sqlInt(db_->query("SELECT COUNT(*) FROM apis WHERE service_id = ?", {service_id})[0][0]);
}

void Store::insertApi(const Api& a) {
  db_->execute("INSERT INTO apis (" + std::string(kApiCols) +
                   ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
               {a.id, a.tenant_id, a.name, a.description, a.path, a.version, listText(a.methods),
                a.service_id, a.visibility, int64_t{a.approval_required ? 1 : 0},
                apiStateName(a.state), a.deprecated_at, a.sunset_at, a.created_at, a.updated_at,
                a.openapi});
}
std::optional<Api> Store::api(const std::string& id) {
  return one<Api>(db_->query(select(kApiCols, "apis", "WHERE id = ?"), {id}), apiOf);
}
std::vector<Api> Store::apis(const std::string& tenant_id) {
  return tenant_id.empty()
             ? all<Api>(db_->query(select(kApiCols, "apis", "ORDER BY created_at, id")), apiOf)
             : all<Api>(db_->query(
                            select(kApiCols, "apis", "WHERE tenant_id = ? ORDER BY created_at, id"),
                            {tenant_id}),
                        apiOf);
}
void Store::updateApi(const Api& a) {
  db_->execute(
      "UPDATE apis SET name = ?, description = ?, path = ?, version = ?, methods = ?, service_id = "
      "?, "
      "visibility = ?, approval_required = ?, state = ?, deprecated_at = ?, sunset_at = ?, "
      "updated_at = ?, openapi = ? "
      "WHERE id = ?",
      {a.name, a.description, a.path, a.version, listText(a.methods), a.service_id, a.visibility,
       int64_t{a.approval_required ? 1 : 0}, apiStateName(a.state), a.deprecated_at, a.sunset_at,
       a.updated_at, a.openapi, a.id});
}
void Store::deleteApi(const std::string& id) {
  deleteQuotasOf("api_id", id);
  db_->execute("DELETE FROM subscriptions WHERE api_id = ?", {id});
  db_->execute("DELETE FROM apis WHERE id = ?", {id});
}

void Store::insertSubscription(const Subscription& s) {
  db_->execute(
      "INSERT INTO subscriptions (" + std::string(kSubCols) +
          ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {s.id, s.app_id, s.app_tenant_id, s.api_id, s.api_tenant_id, subscriptionStateName(s.state),
       s.requested_by, s.decided_by, s.decided_at, s.reason, s.created_at});
}
std::optional<Subscription> Store::subscription(const std::string& id) {
  return one<Subscription>(db_->query(select(kSubCols, "subscriptions", "WHERE id = ?"), {id}),
                           subOf);
}
std::vector<Subscription> Store::subscriptions(const std::string& tenant_id) {
  return tenant_id.empty()
             ? all<Subscription>(
                   db_->query(select(kSubCols, "subscriptions", "ORDER BY created_at, id")), subOf)
             : all<Subscription>(
                   db_->query(select(kSubCols, "subscriptions",
                                     "WHERE app_tenant_id = ? OR api_tenant_id = ? ORDER BY "
                                     "created_at, id"),
                              {tenant_id, tenant_id}),
                   subOf);
}
std::optional<Subscription> Store::subscriptionOf(const std::string& app_id,
                                                  const std::string& api_id) {
  return one<Subscription>(
      db_->query(select(kSubCols, "subscriptions", "WHERE app_id = ? AND api_id = ?"),
                 {app_id, api_id}),
      subOf);
}
void Store::updateSubscription(const Subscription& s) {
  db_->execute(
      "UPDATE subscriptions SET state = ?, decided_by = ?, decided_at = ?, reason = ? WHERE id = ?",
      {subscriptionStateName(s.state), s.decided_by, s.decided_at, s.reason, s.id});
}

bool Store::updateSubscriptionFrom(const Subscription& s, SubscriptionState from) {
  return db_->execute(
             "UPDATE subscriptions SET state = ?, decided_by = ?, decided_at = ?, reason = ? "
             "WHERE id = ? AND state = ?",
             {subscriptionStateName(s.state), s.decided_by, s.decided_at, s.reason, s.id,
              subscriptionStateName(from)}) == 1;
}

std::vector<AuditEntry> Store::audit(const std::string& tenant_id, int64_t limit) {
  const std::string cols =
      "SELECT id, at, actor_id, actor_email, tenant_id, action, object_type, object_id, "
      "before_json, after_json "
      "FROM audit_log ";
  auto rows = tenant_id.empty()
                  ? db_->query(cols + "ORDER BY seq DESC, id LIMIT ?", {limit})
                  : db_->query(cols + "WHERE tenant_id = ? ORDER BY seq DESC, id LIMIT ?",
                               {tenant_id, limit});
  return all<AuditEntry>(rows, [](const SqlRow& r) {
    return AuditEntry{sqlText(r[0]),
                      sqlInt(r[1]),
                      sqlText(r[2]),
                      sqlText(r[3]),
                      sqlText(r[4]),
                      sqlText(r[5]),
                      sqlText(r[6]),
                      sqlText(r[7]),
                      parseJsonText(sqlText(r[8])),
                      parseJsonText(sqlText(r[9]))};
  });
}

StoreSnapshotData Store::snapshot() {
  StoreSnapshotData d;
  // One read transaction: the snapshot never mixes two states of the store.
  db_->transaction([&] {
    d.change_seq = changeSeq();
    d.tenants = tenants();
    d.apps = apps();
    d.keys = all<AppKey>(db_->query(select(kKeyCols, "app_keys", "")), keyOf);
    d.services = services();
    d.apis = apis();
    d.subscriptions = subscriptions();
  });
  return d;
}

void Store::insertAudit(const AuditEntry& e) {
  db_->execute(
      "INSERT INTO audit_log (id, seq, at, actor_id, actor_email, tenant_id, action, object_type, "
      "object_id, before_json, after_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {e.id, changeSeq(), e.at, e.actor_id, e.actor_email, e.tenant_id, e.action, e.object_type,
       e.object_id, e.before.dump(), e.after.dump()});
}

StorePtr openStore(const std::string& driver, const std::string& location,
                   const std::string& password) {
  DatabasePtr db;
  if (driver == "sqlite") {
    db = openSqliteDatabase(location);
  } else if (driver == "postgresql") {
    db = openPostgresDatabase(location, password);
  } else {
    throw StoreError("unknown store driver " + driver);
  }
  auto store = std::make_unique<Store>(std::move(db));
  store->migrate();
  return store;
}

}  // namespace switchyard
