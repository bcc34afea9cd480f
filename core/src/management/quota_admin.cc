#include "quota_admin.h"

#include <cmath>

namespace switchyard {

using namespace admin;

namespace {

/// A quota from a PUT body: the whole quota, replacing any before it.
Quota parseQuota(const std::string& text) {
  const json j = json::parse(text.empty() ? "{}" : text, nullptr, false);
  if (!j.is_object()) {
    badRequest("The request body must be a JSON object", "invalid_json");
  }
  static const std::set<std::string> kFields = {"rpm", "tpm", "budget_usd", "budget_period",
                                                "shadow"};
  for (const auto& [k, v] : j.items()) {
    if (kFields.count(k) == 0) {
      badRequest(
          "Unknown field '" + k + "'; a quota has rpm, tpm, budget_usd, budget_period and shadow",
          "unknown_field");
    }
  }
  auto limit = [&](const char* k) -> int64_t {
    if (!j.contains(k) || j[k].is_null()) {
      return 0;
    }
    if (!j[k].is_number_integer() || j[k].get<int64_t>() < 0) {
      badRequest(std::string("'") + k + "' must be a non-negative integer or null", "invalid_type");
    }
    return j[k].get<int64_t>();
  };
  Quota q;
  q.rpm = limit("rpm");
  q.tpm = limit("tpm");
  if (j.contains("budget_usd") && !j["budget_usd"].is_null()) {
    const json& b = j["budget_usd"];
    if (!b.is_number() || b.get<double>() < 0 || b.get<double>() > 1e12) {
      badRequest("'budget_usd' must be a non-negative number of US dollars or null",
                 "invalid_type");
    }
    q.budget_micros = std::llround(b.get<double>() * 1e6);
  }
  if (j.contains("budget_period") && !j["budget_period"].is_null()) {
    if (!j["budget_period"].is_string() ||
        (j["budget_period"] != "day" && j["budget_period"] != "month")) {
      badRequest("'budget_period' must be \"day\" or \"month\" (UTC)", "invalid_period");
    }
    q.budget_period = j["budget_period"].get<std::string>();
  }
  if (j.contains("shadow") && !j["shadow"].is_null()) {
    const json& s = j["shadow"];
    if (s.is_boolean()) {
      q.shadow = s.get<bool>() ? std::vector<std::string>{"rpm", "tpm", "budget"}
                               : std::vector<std::string>{};
    } else if (s.is_array()) {
      for (const auto& v : s) {
        if (!v.is_string() || (v != "rpm" && v != "tpm" && v != "budget")) {
          badRequest("'shadow' lists limits out of \"rpm\", \"tpm\" and \"budget\"",
                     "invalid_shadow");
        }
        if (std::find(q.shadow.begin(), q.shadow.end(), v.get<std::string>()) == q.shadow.end()) {
          q.shadow.push_back(v.get<std::string>());
        }
      }
    } else {
      badRequest("'shadow' must be true, false or a list of \"rpm\", \"tpm\", \"budget\"",
                 "invalid_shadow");
    }
  }
  if (q.rpm == 0 && q.tpm == 0 && q.budget_micros == 0) {
    badRequest("A quota needs at least one of rpm, tpm or budget_usd; DELETE clears a quota",
               "empty_quota");
  }
  return q;
}

json withUsage(const Quota& q, const QuotaLedger& ledger) {
  json j = toJson(q);
  if (auto u = ledger.usage(q.scope, q.owner_id)) {
    j["usage"] = {{"requests_last_minute", u->requests},
                  {"tokens_last_minute", u->tokens},
                  {"budget_spent_usd", u->spent_micros / 1e6},
                  {"budget_reserved_usd", u->reserved_micros / 1e6},
                  {"period_start", u->period_start},
                  {"period_end", u->period_end}};
  }
  return j;
}

/// GET, PUT or DELETE one owner's quota once the caller may see the owner.
void serveQuota(const AdminCall& call, const QuotaLedger& ledger, const std::string& scope,
                const std::string& owner_id, const std::string& tenant_id, bool may_write,
                const std::string& who_writes) {
  const std::string what = scope + " " + owner_id;
  auto current = call.store.quota(scope, owner_id);
  if (call.method() == "GET") {
    if (!current) {
      notFound("quota on " + scope, owner_id);
    }
    call.send(200, withUsage(*current, ledger));
    return;
  }
  if (!may_write) {
    forbidden("Only " + who_writes + " may change the quota of " + what);
  }
  const json before = current ? toJson(*current) : json();
  if (call.method() == "DELETE") {
    if (!current) {
      notFound("quota on " + scope, owner_id);
    }
    call.store.write([&](std::vector<AuditEntry>& log) {
      call.store.deleteQuota(scope, owner_id);
      call.audit(log, tenant_id, "quota.clear", "quota", owner_id, before, nullptr);
    });
    call.send(200, {{"scope", scope}, {"owner_id", owner_id}, {"deleted", true}});
    return;
  }
  Quota q = parseQuota(call.request.body);
  q.scope = scope;
  q.owner_id = owner_id;
  q.tenant_id = tenant_id;
  q.updated_by = call.actor.user.id;
  q.updated_at = call.now;
  call.store.write([&](std::vector<AuditEntry>& log) {
    call.store.putQuota(q);
    call.audit(log, tenant_id, "quota.set", "quota", owner_id, before, toJson(q));
  });
  call.send(200, toJson(q));
}

}  // namespace

AdminFamily quotaAdminFamily(const QuotaLedger& ledger) {
  return [&ledger](const AdminCall& call) {
    const bool quota_path = call.seg.size() == 3 && call.seg[2] == "quota" &&
                            (call.seg[0] == "apps" || call.seg[0] == "subscriptions");
    if (!quota_path) {
      return false;
    }
    if (call.method() != "GET" && call.method() != "PUT" && call.method() != "DELETE") {
      call.response.setHeader("Allow", "GET, PUT, DELETE");
      refuse(405, "invalid_request_error", "method_not_allowed",
             "Method " + call.method() + " is not allowed on a quota");
    }
    const Actor& actor = call.actor;
    if (call.seg[0] == "apps") {
      auto app = call.store.app(call.seg[1]);
      if (!app || !actor.reaches(app->tenant_id)) {
        notFound("app", call.seg[1]);
      }
      serveQuota(call, ledger, "app", app->id, app->tenant_id, actor.admin(),
                 "an admin of the app's tenant");
      return true;
    }
    // The API's owner decides what a consumer may use; the consumer may read it.
    auto sub = call.store.subscription(call.seg[1]);
    if (!sub || !(actor.reaches(sub->app_tenant_id) || actor.reaches(sub->api_tenant_id))) {
      notFound("subscription", call.seg[1]);
    }
    serveQuota(call, ledger, "subscription", sub->id, sub->api_tenant_id,
               actor.admin() && actor.reaches(sub->api_tenant_id), "an admin of the API's tenant");
    return true;
  };
}

}  // namespace switchyard
