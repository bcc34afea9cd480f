/// @file quota_admin.h
/// @brief /admin/v1 endpoints of quotas: an app's (its tenant's admins) and a subscription's
/// (the API's tenant's admins; the consuming tenant may read it).
#pragma once

#include "admin_kit.h"
#include "switchyard/management/quota.h"

namespace switchyard {

/// GET/PUT/DELETE /apps/{id}/quota and /subscriptions/{id}/quota. `ledger` (which must outlive
/// the family) supplies this node's counters for the GET answers.
admin::AdminFamily quotaAdminFamily(const QuotaLedger& ledger);

}  // namespace switchyard
