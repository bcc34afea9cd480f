#include "switchyard/management/quota.h"

#include <algorithm>
#include <array>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <exception>

namespace switchyard {
namespace quota_detail {

constexpr int64_t kWindowS = 60;

/// One second of the sliding window.
struct Slot {
  int64_t second = -1;
  int64_t requests = 0;
  int64_t tokens = 0;  ///< reservations of calls in flight, settled usage of finished ones
};

/// The counters of one quota. Every field is guarded by `m`.
struct Bucket {
  std::mutex m;
  Quota q;
  bool shadow_rpm = false, shadow_tpm = false, shadow_budget = false;
  std::array<Slot, kWindowS> slots;

  int64_t period_start = 0, period_end = 0;  ///< the budget period now running
  int64_t base_micros = 0;      ///< the period's spend in the store at the last flush, every node's
  int64_t flushing_micros = 0;  ///< being written by a flush
  int64_t flushing_period = 0;
  std::map<int64_t, int64_t> unflushed;  ///< period start → spend settled since the last flush
  int64_t reserved_micros = 0;           ///< held by calls in flight

  Slot& slot(int64_t second) {
    Slot& s = slots[static_cast<size_t>(second % kWindowS)];
    if (s.second != second) {
      s = Slot{second, 0, 0};
    }
    return s;
  }
  bool live(const Slot& s, int64_t now_s) const {
    return s.second > now_s - kWindowS && s.second <= now_s;
  }
  void used(int64_t now_s, int64_t* requests, int64_t* tokens) const {
    *requests = 0;
    *tokens = 0;
    for (const Slot& s : slots) {
      if (live(s, now_s)) {
        *requests += s.requests;
        *tokens += s.tokens;
      }
    }
  }
  /// Seconds until `need` more fits under `limit` as old slots leave the window; -1: never.
  int64_t secondsUntilFits(int64_t now_s, int64_t used, int64_t limit, int64_t need,
                           int64_t Slot::*field) const {
    if (need > limit) {
      return -1;
    }
    int64_t freed = 0;
    for (int64_t t = now_s - kWindowS + 1; t <= now_s; ++t) {
      const Slot& s = slots[static_cast<size_t>(t % kWindowS)];
      if (s.second == t) {
        freed += s.*field;
      }
      if (used - freed + need <= limit) {
        return t + kWindowS - now_s;
      }
    }
    return kWindowS;
  }
  /// Seconds until the window holds nothing of `field` (OpenAI's x-ratelimit-reset-*).
  int64_t secondsUntilEmpty(int64_t now_s, int64_t Slot::*field) const {
    int64_t newest = -1;
    for (const Slot& s : slots) {
      if (live(s, now_s) && s.*field > 0) {
        newest = std::max(newest, s.second);
      }
    }
    return newest < 0 ? 0 : newest + kWindowS - now_s;
  }
  void roll(int64_t now_s) {
    if (now_s < period_end) {
      return;
    }
    auto [start, end] = QuotaLedger::periodOf(q.budget_period, now_s);
    period_start = start;
    period_end = end;
    base_micros = 0;  // the next flush reads the new period's figure (other nodes' share)
  }
  int64_t spent() const {
    auto it = unflushed.find(period_start);
    return base_micros + (flushing_period == period_start ? flushing_micros : 0) +
           (it == unflushed.end() ? 0 : it->second);
  }
  void configure(const Quota& next) {
    if (next.budget_period != q.budget_period) {
      period_end = 0;  // roll() recomputes the period
    }
    q = next;
    auto has = [&](const char* limit) {
      return std::find(q.shadow.begin(), q.shadow.end(), limit) != q.shadow.end();
    };
    shadow_rpm = has("rpm");
    shadow_tpm = has("tpm");
    shadow_budget = has("budget");
  }
};

}  // namespace quota_detail

namespace {

using quota_detail::Bucket;
using quota_detail::Slot;
using BucketPtr = std::shared_ptr<Bucket>;

int64_t systemClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string keyOf(const std::string& scope, const std::string& owner) {
  return scope + ":" + owner;
}

std::string seconds(int64_t s) {
  return std::to_string(s) + "s";
}

std::string usd(int64_t micros) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6f", static_cast<double>(micros) / 1e6);
  return buf;
}

struct Breach {
  std::string code;
  std::string scope;
  std::string message;
  int64_t retry_after = 0;  ///< seconds; -1: the call can never fit
  bool shadow = false;
};

/// Locks one or two buckets together (std::scoped_lock orders them, so no deadlock).
class BucketLocks {
 public:
  explicit BucketLocks(const std::vector<BucketPtr>& b) {
    if (b.size() == 1) {
      one_.emplace(b[0]->m);
    } else if (b.size() == 2) {
      two_.emplace(b[0]->m, b[1]->m);
    }
  }

 private:
  std::optional<std::unique_lock<std::mutex>> one_;
  std::optional<std::scoped_lock<std::mutex, std::mutex>> two_;
};

}  // namespace

QuotaReservation::QuotaReservation(QuotaReservation&& o) noexcept
    : holds_(std::move(o.holds_)), clock_(o.clock_) {
  o.holds_.clear();
}

QuotaReservation& QuotaReservation::operator=(QuotaReservation&& o) noexcept {
  if (this != &o) {
    release();
    holds_ = std::move(o.holds_);
    clock_ = o.clock_;
    o.holds_.clear();
  }
  return *this;
}

QuotaReservation::~QuotaReservation() {
  release();
}

void QuotaReservation::settle(int64_t tokens, int64_t cost_micros) {
  if (holds_.empty()) {
    return;
  }
  const int64_t now_s = (clock_ != nullptr ? clock_() : systemClockMs()) / 1000;
  for (const Hold& h : holds_) {
    Bucket& b = *h.bucket;
    std::lock_guard lock(b.m);
    // Tokens stay in the second they were reserved in; once it left the window there is
    // nothing left to correct.
    Slot& s = b.slots[static_cast<size_t>(h.second % quota_detail::kWindowS)];
    if (s.second == h.second && b.live(s, now_s)) {
      s.tokens = std::max<int64_t>(0, s.tokens + tokens - h.tokens);
    }
    b.roll(now_s);
    b.reserved_micros = std::max<int64_t>(0, b.reserved_micros - h.cost_micros);
    if (cost_micros > 0) {
      b.unflushed[b.period_start] += cost_micros;
    }
  }
  holds_.clear();
}

QuotaLedger::QuotaLedger(int64_t (*clock)()) : clock_(clock != nullptr ? clock : systemClockMs) {}
QuotaLedger::~QuotaLedger() = default;

std::pair<int64_t, int64_t> QuotaLedger::periodOf(const std::string& period, int64_t unix_s) {
  if (period == "day") {
    const int64_t start = unix_s - unix_s % 86400;
    return {start, start + 86400};
  }
  const time_t t = static_cast<time_t>(unix_s);
  struct tm now {};
  gmtime_r(&t, &now);
  struct tm first {};
  first.tm_year = now.tm_year;
  first.tm_mon = now.tm_mon;
  first.tm_mday = 1;
  const int64_t start = timegm(&first);
  first.tm_mon += 1;  // timegm normalises December + 1 into January of the next year
  return {start, static_cast<int64_t>(timegm(&first))};
}

void QuotaLedger::setQuotas(const std::vector<Quota>& quotas) {
  std::map<std::string, BucketPtr> next;
  std::lock_guard lock(mutex_);
  for (const Quota& q : quotas) {
    const std::string key = keyOf(q.scope, q.owner_id);
    auto it = buckets_.find(key);
    BucketPtr b = it != buckets_.end() ? it->second : std::make_shared<Bucket>();
    {
      std::lock_guard bl(b->m);
      b->configure(q);
    }
    next[key] = std::move(b);
  }
  buckets_ = std::move(next);
}

bool QuotaLedger::applies(const std::string& app_id, const std::string& subscription_id,
                          bool* metered) const {
  std::lock_guard lock(mutex_);
  bool any = false;
  bool meters = false;
  for (const auto& key : {keyOf("app", app_id), keyOf("subscription", subscription_id)}) {
    auto it = buckets_.find(key);
    if (it != buckets_.end()) {
      any = true;
      std::lock_guard bl(it->second->m);
      meters = meters || it->second->q.tpm > 0 || it->second->q.budget_micros > 0;
    }
  }
  if (metered != nullptr) {
    *metered = meters;
  }
  return any;
}

QuotaDecision QuotaLedger::admit(const std::string& app_id, const std::string& subscription_id,
                                 const QuotaDemand& demand, QuotaReservation* out) {
  std::vector<BucketPtr> buckets;
  {
    std::lock_guard lock(mutex_);
    for (const auto& key : {keyOf("app", app_id), keyOf("subscription", subscription_id)}) {
      auto it = buckets_.find(key);
      if (it != buckets_.end()) {
        buckets.push_back(it->second);
      }
    }
  }
  QuotaDecision decision;
  if (buckets.empty()) {
    return decision;
  }
  BucketLocks locks(buckets);
  const int64_t now_s = clock_() / 1000;
  const bool metered = demand.metered;

  // Check every limit of every bucket before reserving anything: all or nothing.
  std::vector<Breach> breaches;
  for (const BucketPtr& bp : buckets) {
    Bucket& b = *bp;
    const Quota& q = b.q;
    const std::string who = q.scope == "app" ? "App" : "Subscription";
    b.roll(now_s);
    int64_t requests = 0;
    int64_t tokens = 0;
    b.used(now_s, &requests, &tokens);
    if (q.rpm > 0 && requests + 1 > q.rpm) {
      breaches.push_back(
          Breach{"rpm_exceeded", q.scope,
                 who + " quota exceeded: " + std::to_string(q.rpm) + " requests per minute",
                 b.secondsUntilFits(now_s, requests, q.rpm, 1, &Slot::requests), b.shadow_rpm});
    }
    if (metered && q.tpm > 0 && tokens + demand.tokens > q.tpm) {
      const int64_t wait = b.secondsUntilFits(now_s, tokens, q.tpm, demand.tokens, &Slot::tokens);
      std::string message = who + " quota exceeded: " + std::to_string(q.tpm) +
                            " tokens per minute, this call may use " +
                            std::to_string(demand.tokens);
      if (wait < 0) {
        message += ", more than the whole limit: lower max_tokens or shorten the prompt";
      }
      breaches.push_back(Breach{"tpm_exceeded", q.scope, message, wait, b.shadow_tpm});
    }
    if (metered && q.budget_micros > 0 &&
        b.spent() + b.reserved_micros + demand.cost_micros > q.budget_micros) {
      breaches.push_back(Breach{"budget_exhausted", q.scope,
                                who + " budget of " + usd(q.budget_micros) + " USD per " +
                                    q.budget_period + " is exhausted until the period ends",
                                b.period_end - now_s, b.shadow_budget});
    }
  }
  const Breach* refusal = nullptr;
  for (const Breach& br : breaches) {
    if (br.shadow) {
      decision.shadow_breaches.push_back(br.code + " (" + br.scope + ")");
    } else if (refusal == nullptr ||
               (refusal->retry_after >= 0 &&
                (br.retry_after < 0 || br.retry_after > refusal->retry_after))) {
      refusal = &br;  // the longest wait: the call fits only once every limit has room
    }
  }

  if (refusal == nullptr) {
    for (const BucketPtr& bp : buckets) {
      Slot& s = bp->slot(now_s);
      s.requests += 1;
      if (metered) {
        s.tokens += demand.tokens;
        bp->reserved_micros += demand.cost_micros;
      }
      out->holds_.push_back(QuotaReservation::Hold{bp, now_s, metered ? demand.tokens : 0,
                                                   metered ? demand.cost_micros : 0});
    }
    out->clock_ = clock_;
  }

  // Headers: per dimension, the quota with the least room left speaks.
  struct Tightest {
    int64_t limit = 0, remaining = 0, reset = 0;
    bool set = false;
    void offer(int64_t l, int64_t r, int64_t s) {
      r = std::max<int64_t>(0, r);
      if (!set || r < remaining) {
        *this = Tightest{l, r, s, true};
      }
    }
  } req, tok, budget;
  for (const BucketPtr& bp : buckets) {
    const Bucket& b = *bp;
    int64_t requests = 0;
    int64_t tokens = 0;
    b.used(now_s, &requests, &tokens);
    if (b.q.rpm > 0) {
      req.offer(b.q.rpm, b.q.rpm - requests, b.secondsUntilEmpty(now_s, &Slot::requests));
    }
    if (b.q.tpm > 0) {
      tok.offer(b.q.tpm, b.q.tpm - tokens, b.secondsUntilEmpty(now_s, &Slot::tokens));
    }
    if (b.q.budget_micros > 0) {
      budget.offer(b.q.budget_micros, b.q.budget_micros - b.spent() - b.reserved_micros,
                   b.period_end - now_s);
    }
  }
  if (req.set) {
    decision.headers.emplace_back("x-ratelimit-limit-requests", std::to_string(req.limit));
    decision.headers.emplace_back("x-ratelimit-remaining-requests", std::to_string(req.remaining));
    decision.headers.emplace_back("x-ratelimit-reset-requests", seconds(req.reset));
  }
  if (tok.set) {
    decision.headers.emplace_back("x-ratelimit-limit-tokens", std::to_string(tok.limit));
    decision.headers.emplace_back("x-ratelimit-remaining-tokens", std::to_string(tok.remaining));
    decision.headers.emplace_back("x-ratelimit-reset-tokens", seconds(tok.reset));
  }
  if (budget.set) {
    decision.headers.emplace_back("x-switchyard-budget-limit-usd", usd(budget.limit));
    decision.headers.emplace_back("x-switchyard-budget-remaining-usd", usd(budget.remaining));
    decision.headers.emplace_back("x-switchyard-budget-reset", seconds(budget.reset));
  }
  if (refusal != nullptr) {
    const bool budget_refusal = refusal->code == "budget_exhausted";
    decision.refusal = ApiError{429, budget_refusal ? "insufficient_quota" : "rate_limit_error",
                                refusal->code, refusal->message};
    if (refusal->retry_after >= 0) {
      decision.headers.emplace_back("Retry-After",
                                    std::to_string(std::max<int64_t>(1, refusal->retry_after)));
    }
    decision.headers.emplace_back("x-switchyard-quota-scope", refusal->scope);
  }
  return decision;
}

void QuotaLedger::flush(Store& store) {
  std::lock_guard one(flush_mutex_);
  std::vector<BucketPtr> buckets;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [key, b] : buckets_) {
      buckets.push_back(b);
    }
  }
  const int64_t now_s = clock_() / 1000;
  std::exception_ptr failure;
  for (const BucketPtr& bp : buckets) {
    std::map<int64_t, int64_t> taking;
    std::string scope, owner;
    {
      std::lock_guard bl(bp->m);
      bp->roll(now_s);
      taking.swap(bp->unflushed);
      bp->flushing_period = bp->period_start;
      bp->flushing_micros = taking.count(bp->period_start) ? taking[bp->period_start] : 0;
      scope = bp->q.scope;
      owner = bp->q.owner_id;
    }
    for (auto it = taking.begin(); it != taking.end(); ++it) {
      try {
        if (it->second != 0) {
          store.addQuotaSpend(scope, owner, it->first, it->second);
        }
      } catch (...) {
        failure = failure ? failure : std::current_exception();
        std::lock_guard bl(bp->m);
        for (; it != taking.end(); ++it) {
          bp->unflushed[it->first] += it->second;  // the next flush tries again
        }
        bp->flushing_micros = 0;
        break;
      }
      std::lock_guard bl(bp->m);
      if (it->first == bp->flushing_period) {
        bp->base_micros += bp->flushing_micros;  // in the store now; the read below confirms it
        bp->flushing_micros = 0;
      }
    }
  }
  if (failure) {
    std::rethrow_exception(failure);
  }
  // Every period that can be running starts at or after the first of this month.
  const int64_t since = periodOf("month", now_s).first;
  std::map<std::string, int64_t> spent;
  for (const QuotaSpend& s : store.quotaSpend(since)) {
    spent[keyOf(s.scope, s.owner_id) + "@" + std::to_string(s.period_start)] = s.spent_micros;
  }
  for (const BucketPtr& bp : buckets) {
    std::lock_guard bl(bp->m);
    if (bp->flushing_period == bp->period_start) {
      auto it =
          spent.find(keyOf(bp->q.scope, bp->q.owner_id) + "@" + std::to_string(bp->period_start));
      bp->base_micros = it == spent.end() ? 0 : it->second;
    }
    bp->flushing_micros = 0;
  }
}

std::optional<QuotaUsage> QuotaLedger::usage(const std::string& scope,
                                             const std::string& owner_id) const {
  BucketPtr b;
  {
    std::lock_guard lock(mutex_);
    auto it = buckets_.find(keyOf(scope, owner_id));
    if (it == buckets_.end()) {
      return std::nullopt;
    }
    b = it->second;
  }
  std::lock_guard bl(b->m);
  const int64_t now_s = clock_() / 1000;
  b->roll(now_s);
  QuotaUsage u;
  b->used(now_s, &u.requests, &u.tokens);
  u.spent_micros = b->spent();
  u.reserved_micros = b->reserved_micros;
  u.period_start = b->period_start;
  u.period_end = b->period_end;
  return u;
}

}  // namespace switchyard
