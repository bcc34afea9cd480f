// The store's quota tables: limits (configuration, audited through Store::write) and the spend
// of budget periods (usage, written by the data plane's background flush).
#include "switchyard/store/store.h"

namespace switchyard {
namespace {

using nlohmann::json;

const char* kQuotaCols =
    "scope, owner_id, tenant_id, rpm, tpm, budget_micros, budget_period, shadow, updated_by, "
    "updated_at";

Quota quotaOf(const SqlRow& r) {
  Quota q;
  q.scope = sqlText(r[0]);
  q.owner_id = sqlText(r[1]);
  q.tenant_id = sqlText(r[2]);
  q.rpm = sqlInt(r[3]);
  q.tpm = sqlInt(r[4]);
  q.budget_micros = sqlInt(r[5]);
  q.budget_period = sqlText(r[6]);
  json shadow = json::parse(sqlText(r[7]), nullptr, false);
  if (shadow.is_array()) {
    for (const auto& s : shadow) {
      if (s.is_string()) {
        q.shadow.push_back(s.get<std::string>());
      }
    }
  }
  q.updated_by = sqlText(r[8]);
  q.updated_at = sqlInt(r[9]);
  return q;
}

json limitOrNull(int64_t v) {
  return v == 0 ? json() : json(v);
}

}  // namespace

json toJson(const Quota& q) {
  json j = {{"scope", q.scope},
            {q.scope == "app" ? "app_id" : "subscription_id", q.owner_id},
            {"tenant_id", q.tenant_id},
            {"rpm", limitOrNull(q.rpm)},
            {"tpm", limitOrNull(q.tpm)},
            {"budget_usd", q.budget_micros == 0 ? json() : json(q.budget_micros / 1e6)},
            {"budget_period", q.budget_period},
            {"shadow", q.shadow},
            {"updated_by", q.updated_by},
            {"updated_at", q.updated_at}};
  return j;
}

void Store::putQuota(const Quota& q) {
  // Delete + insert rather than an upsert: the portable subset has no ON CONFLICT.
  deleteQuota(q.scope, q.owner_id);
  db_->execute(
      "INSERT INTO quotas (" + std::string(kQuotaCols) + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      {q.scope, q.owner_id, q.tenant_id, q.rpm, q.tpm, q.budget_micros, q.budget_period,
       json(q.shadow).dump(), q.updated_by, q.updated_at});
}

std::optional<Quota> Store::quota(const std::string& scope, const std::string& owner_id) {
  auto rows = db_->query(
      "SELECT " + std::string(kQuotaCols) + " FROM quotas WHERE scope = ? AND owner_id = ?",
      {scope, owner_id});
  if (rows.empty()) {
    return std::nullopt;
  }
  return quotaOf(rows.front());
}

std::vector<Quota> Store::quotas() {
  std::vector<Quota> out;
  for (const auto& r :
       db_->query("SELECT " + std::string(kQuotaCols) + " FROM quotas ORDER BY scope, owner_id")) {
    out.push_back(quotaOf(r));
  }
  return out;
}

void Store::deleteQuota(const std::string& scope, const std::string& owner_id) {
  db_->execute("DELETE FROM quotas WHERE scope = ? AND owner_id = ?", {scope, owner_id});
}

void Store::deleteQuotasOf(const char* column, const std::string& id) {
  if (std::string(column) == "app_id") {
    deleteQuota("app", id);
  }
  db_->execute(std::string("DELETE FROM quotas WHERE scope = 'subscription' AND owner_id IN "
                           "(SELECT id FROM subscriptions WHERE ") +
                   column + " = ?)",
               {id});
}

void Store::addQuotaSpend(const std::string& scope, const std::string& owner_id,
                          int64_t period_start, int64_t micros) {
  auto add = [&] {
    db_->transaction([&] {
      if (db_->execute("UPDATE quota_spend SET spent_micros = spent_micros + ? WHERE scope = ? "
                       "AND owner_id = ? AND period_start = ?",
                       {micros, scope, owner_id, period_start}) == 0) {
        db_->execute(
            "INSERT INTO quota_spend (scope, owner_id, period_start, spent_micros) VALUES (?, ?, "
            "?, ?)",
            {scope, owner_id, period_start, micros});
      }
    });
  };
  try {
    add();
  } catch (const StoreConflict&) {
    add();  // another gateway inserted the period's row first: now the update finds it
  }
}

std::vector<QuotaSpend> Store::quotaSpend(int64_t since) {
  std::vector<QuotaSpend> out;
  for (const auto& r :
       db_->query("SELECT scope, owner_id, period_start, spent_micros FROM quota_spend WHERE "
                  "period_start >= ?",
                  {since})) {
    out.push_back(QuotaSpend{sqlText(r[0]), sqlText(r[1]), sqlInt(r[2]), sqlInt(r[3])});
  }
  return out;
}

}  // namespace switchyard
