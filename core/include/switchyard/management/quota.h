/// @file switchyard/management/quota.h
/// @brief Quotas of managed APIs: requests and tokens per minute and a spend budget per period,
/// per app and per subscription, enforced by reserving each call's worst case before it is sent.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "switchyard/common/api_error.h"
#include "switchyard/plugin/plugin_types.h"
#include "switchyard/store/store.h"

namespace switchyard {

/// What one call may use at most, known before it is sent.
struct QuotaDemand {
  bool metered = false;     ///< tokens and cost apply (AI calls); REST calls count requests only
  int64_t tokens = 0;       ///< worst case: estimated prompt + the completion's cap
  int64_t cost_micros = 0;  ///< `tokens` at the model's price, in micro-dollars
};

/// The answer to one admission.
struct QuotaDecision {
  std::optional<ApiError> refusal;  ///< 429: rpm_exceeded, tpm_exceeded or budget_exhausted
  /// X-RateLimit-* (OpenAI's names), budget headers, and with a refusal Retry-After.
  HeaderList headers;
  /// Limits in shadow mode the call went over ("tpm_exceeded (app)"); it was let through.
  std::vector<std::string> shadow_breaches;
};

/// Where a quota's counters stand on this node (the admin API shows it with the quota).
struct QuotaUsage {
  int64_t requests = 0;         ///< in the last 60 s
  int64_t tokens = 0;           ///< in the last 60 s, reservations of calls in flight included
  int64_t spent_micros = 0;     ///< this period, every node sharing the store (approximately)
  int64_t reserved_micros = 0;  ///< held by calls in flight on this node
  int64_t period_start = 0;
  int64_t period_end = 0;
};

class QuotaLedger;
namespace quota_detail {
struct Bucket;
}

/**
 * What a call reserved. settle() charges its real usage and gives back the rest; destroyed
 * unsettled, it gives back everything (a call that failed before any usage).
 */
class QuotaReservation {
 public:
  QuotaReservation() = default;
  QuotaReservation(QuotaReservation&&) noexcept;
  QuotaReservation& operator=(QuotaReservation&&) noexcept;
  QuotaReservation(const QuotaReservation&) = delete;
  QuotaReservation& operator=(const QuotaReservation&) = delete;
  ~QuotaReservation();

  /// Charges the call's real tokens and cost (micro-dollars) in place of the reservation.
  void settle(int64_t tokens, int64_t cost_micros);
  /// Charges nothing: the reservation is given back whole.
  void release() { settle(0, 0); }
  /// Holds nothing (no quota applied, or already settled).
  bool empty() const { return holds_.empty(); }

 private:
  friend class QuotaLedger;
  struct Hold {
    std::shared_ptr<quota_detail::Bucket> bucket;
    int64_t second = 0;  ///< the window slot the tokens were reserved in
    int64_t tokens = 0;
    int64_t cost_micros = 0;
  };
  std::vector<Hold> holds_;
  int64_t (*clock_)() = nullptr;  ///< unix ms; the ledger's clock
};

/**
 * The quota counters of one gateway node. Requests and tokens are counted in a sliding 60 s
 * window of one-second slots, in memory; budget spend per UTC day or month is flushed to the
 * store by flush() (a background thread, never the request path) and read back from it, so it
 * survives restarts and is shared, approximately, by every node on one store. Each admission
 * checks and reserves under the locks of the buckets it touches, so concurrent calls never
 * reserve more than a limit.
 */
class QuotaLedger {
 public:
  /// `clock` gives unix milliseconds (tests pass their own).
  explicit QuotaLedger(int64_t (*clock)() = nullptr);
  ~QuotaLedger();

  /// Installs the configured quotas. Counters of quotas that stay survive; a budget whose
  /// period changed starts from the store's figure at the next flush().
  void setQuotas(const std::vector<Quota>& quotas);

  /// Whether any quota applies to this app or subscription, and whether one meters tokens or
  /// spend (so callers only estimate a call's worst case when it matters).
  bool applies(const std::string& app_id, const std::string& subscription_id,
               bool* metered = nullptr) const;

  /// Checks the app's and the subscription's quotas and, unless an enforced limit refuses,
  /// reserves `demand` in both at once into `out`.
  QuotaDecision admit(const std::string& app_id, const std::string& subscription_id,
                      const QuotaDemand& demand, QuotaReservation* out);

  /// Writes the spend settled since the last flush to the store, then reads every node's
  /// spend of the current periods back. Throws the store's errors (the caller logs them).
  void flush(Store& store);

  std::optional<QuotaUsage> usage(const std::string& scope, const std::string& owner_id) const;

  /// UTC period bounds [start, end) containing `unix_s` for "day" or "month".
  static std::pair<int64_t, int64_t> periodOf(const std::string& period, int64_t unix_s);

 private:
  int64_t (*clock_)();
  mutable std::mutex mutex_;  // guards the map; taken before a bucket's lock, never after
  std::map<std::string, std::shared_ptr<quota_detail::Bucket>> buckets_;
  std::mutex flush_mutex_;  // one flush at a time
};
using QuotaLedgerPtr = std::unique_ptr<QuotaLedger>;

}  // namespace switchyard
