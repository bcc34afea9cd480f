#include "rest_proxy.h"

#include <spdlog/spdlog.h>
#include <strings.h>

#include <algorithm>

#include "call_accounting.h"
#include "switchyard/upstream/target_pool.h"

namespace switchyard {
namespace {

using Clock = std::chrono::steady_clock;

constexpr int kMaxIdleConnections = 16;

double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

/// Hop-by-hop headers (RFC 9110 7.6.1) and the caller's credentials never cross the proxy.
bool forwarded(const std::string& name) {
  static const char* kDropped[] = {"authorization",
                                   "x-api-key",
                                   "host",
                                   "connection",
                                   "keep-alive",
                                   "proxy-connection",
                                   "te",
                                   "trailer",
                                   "transfer-encoding",
                                   "upgrade",
                                   "content-length",
                                   "x-switchyard-tenant",
                                   "x-switchyard-app"};
  for (const char* d : kDropped) {
    if (strcasecmp(name.c_str(), d) == 0) {
      return false;
    }
  }
  return true;
}

/// Methods RFC 9110 9.2.2 makes idempotent: sending one twice does no more than once.
bool idempotent(const std::string& method) {
  return method == "GET" || method == "HEAD" || method == "PUT" || method == "DELETE" ||
         method == "OPTIONS";
}

/// 502, 503 and 504 say the target could not serve: they count against its health.
bool unavailableAnswer(int status) {
  return status == 502 || status == 503 || status == 504;
}

bool sendError(HttpResponseWriter& response, CallRecord& record, const ApiError& e) {
  record.status = e.status;
  record.error = e;
  return response.send(e.status, "application/json", e.toJson());
}

/// Takes a retry from the pool's budget for as long as it lives.
class RetryTicket {
 public:
  explicit RetryTicket(TargetPool& pool) : pool_(pool), held_(pool.tryBeginRetry()) {}
  RetryTicket(const RetryTicket&) = delete;
  RetryTicket& operator=(const RetryTicket&) = delete;
  ~RetryTicket() {
    if (held_) {
      pool_.endRetry();
    }
  }
  bool held() const { return held_; }

 private:
  TargetPool& pool_;
  bool held_;
};

}  // namespace

void RestProxy::serve(const HttpRequest& request, HttpResponseWriter& client,
                      const ManagedCall& call) {
  CallRecord record;
  beginRecord(record, request);
  OverheadStampingWriter response(client, record.start, &record.upstream_ms);
  record.api = call.api;
  record.operation = "rest";
  record.method = request.method;
  record.principal = call.principal;
  record.provider = call.rest->service_name;
  record.provider_type = "rest";
  relay(request, response, call, record);
  record.latency_ms = msSince(record.start);
  record.end_unix_ms = record.start_unix_ms + static_cast<int64_t>(record.latency_ms + 0.5);
  records_.submit(record.toJson());
}

void RestProxy::relay(const HttpRequest& request, HttpResponseWriter& response,
                      const ManagedCall& managed, CallRecord& record) {
  const RestUpstream& service = *managed.rest;
  TargetPool& pool = *service.pool;
  UpstreamCall call;
  call.method = request.method;
  call.path = managed.rest_path + (request.query.empty() ? "" : "?" + request.query);
  for (const auto& [name, value] : request.headers) {
    if (forwarded(name)) {
      call.headers.emplace_back(name, value);
    }
  }
  // The upstream learns who called from the gateway, never from the caller's own headers.
  call.headers.emplace_back("X-Switchyard-Tenant", managed.principal.tenant);
  call.headers.emplace_back("X-Switchyard-App", managed.principal.app);
  call.body = request.body;
  call.timeouts = service.settings.timeouts.over(UpstreamTimeouts{});

  const bool may_repeat = idempotent(request.method);
  TargetPool::ActiveRequest active(pool);  // the retry budget is a share of these
  std::vector<size_t> tried;
  std::optional<ApiError> last_error;
  // A 502/503/504 answer kept open while another target is tried: relayed as it is when none is
  // left.
  UpstreamExchangePtr held;
  bool overflow = false;
  for (uint32_t n = 0; n < service.settings.retry.attempts; ++n) {
    TargetPool::Empty why = TargetPool::Empty::kExhausted;
    auto pick = pool.pick(tried, SteadyClock::now(), &why);
    if (!pick) {
      overflow = why == TargetPool::Empty::kOverflow;
      break;
    }
    std::optional<RetryTicket> ticket;
    if (n > 0) {
      ticket.emplace(pool);
      if (!ticket->held()) {
        break;  // an outage must not turn into a retry storm
      }
      backoffBeforeRetry(service.settings.retry, n);
    }
    const size_t index = pick->index;
    tried.push_back(index);
    const std::string& url = pool.target(index).upstream_model;
    record.attempts.push_back(AttemptRecord{url, "", 0, 0, std::nullopt});
    response.setHeader("x-switchyard-attempts", std::to_string(record.attempts.size()));
    TargetHealth::InFlight in_flight(pool.health(index));
    const auto attempt_start = Clock::now();
    UpstreamStartResult started = upstream_.start(url, kMaxIdleConnections, call);
    record.upstream_ms = record.upstream_ms.value_or(0.0) + msSince(attempt_start);
    AttemptRecord& attempt = record.attempts.back();
    attempt.ms = msSince(attempt_start);
    if (!started.exchange) {
      const UpstreamFailure f = started.failure;
      const AttemptOutcome outcome = f == UpstreamFailure::kConnect
                                         ? AttemptOutcome::kConnectFailure
                                     : f == UpstreamFailure::kTimeout ? AttemptOutcome::kTimeout
                                                                      : AttemptOutcome::kReset;
      pool.report(index, outcome, std::nullopt, SteadyClock::now());
      attempt.outcome = outcomeName(outcome);
      record.upstream_failure = failureName(f);
      record.flag(f == UpstreamFailure::kConnect   ? "UF"
                  : f == UpstreamFailure::kTimeout ? "UT"
                                                   : "UC");
      spdlog::warn("request {}: REST service {} target {} failed: {} ({})", record.request_id,
                   service.service_name, url, failureName(f), started.message);
      held.reset();
      last_error = upstreamFailureError(f, "service", service.service_name);
      // A connect failure never sent a byte; anything later may have reached the service.
      if (f != UpstreamFailure::kConnect && !may_repeat) {
        break;
      }
      continue;
    }
    const int status = started.exchange->status();
    attempt.upstream_status = status;
    attempt.ttfb_ms = msSince(attempt_start);
    record.ttfb_ms = msSince(record.start);
    record.upstream_status = status;
    const AttemptOutcome outcome =
        unavailableAnswer(status) ? AttemptOutcome::kServerError : AttemptOutcome::kSuccess;
    attempt.outcome = outcomeName(outcome);
    pool.report(index, outcome, std::nullopt, SteadyClock::now(),
                outcome == AttemptOutcome::kSuccess ? attempt.ttfb_ms : std::nullopt);
    if (outcome == AttemptOutcome::kServerError && may_repeat) {
      held = std::move(started.exchange);
      last_error.reset();
      continue;
    }
    return relayAnswer(*started.exchange, response, record, service.service_name);
  }
  if (record.attempts.size() > 1) {
    record.flag("URX");
  }
  if (held) {
    return relayAnswer(*held, response, record, service.service_name);
  }
  if (last_error) {
    sendError(response, record, *last_error);
    return;
  }
  // Nothing could be tried: every target is ejected or full. Say so at once.
  record.flag(overflow ? "UO" : "UH");
  const auto now = SteadyClock::now();
  const auto soonest = pool.soonestRecovery(now);
  const int64_t wait =
      soonest <= now ? 1 : std::chrono::ceil<std::chrono::seconds>(soonest - now).count();
  response.setHeader("Retry-After", std::to_string(std::max<int64_t>(1, wait)));
  sendError(response, record,
            overflow ? ApiError{503, "upstream_overflow", "upstream_overflow",
                                "Every target of service " + service.service_name +
                                    " is at its concurrency limit"}
                     : ApiError{503, "no_healthy_upstream", "no_healthy_upstream",
                                "No healthy upstream for service " + service.service_name +
                                    ": every target is unavailable"});
}

void RestProxy::relayAnswer(UpstreamExchange& exchange, HttpResponseWriter& response,
                            CallRecord& record, const std::string& service) {
  std::string content_type = "application/octet-stream";
  for (const auto& [name, value] : exchange.headers()) {
    if (strcasecmp(name.c_str(), "content-type") == 0) {
      content_type = value;
    } else if (forwarded(name)) {
      response.setHeader(name, value);
    }
  }
  record.status = exchange.status();
  if (record.status >= 400) {
    // Relayed as it is, but counted as the error it is in records and analytics.
    record.error =
        ApiError{record.status, record.status >= 500 ? "upstream_error" : "invalid_request_error",
                 "http_" + std::to_string(record.status),
                 "Service " + service + " answered " + std::to_string(record.status)};
  }
  // Relayed as it arrives, so long or server-sent responses are never buffered whole.
  if (!response.beginStream(exchange.status(), content_type)) {
    record.error = ApiError{499, "client_error", "client_closed", "The client went away"};
    return;
  }
  std::string chunk;
  for (;;) {
    chunk.clear();
    const auto read_start = Clock::now();
    const UpstreamExchange::Read r = exchange.readSome(chunk);
    record.upstream_ms = record.upstream_ms.value_or(0.0) + msSince(read_start);
    if (!chunk.empty() && !response.write(chunk)) {
      record.error =
          ApiError{499, "client_error", "client_closed", "The client went away during the answer"};
      record.partial = true;
      return;
    }
    if (r == UpstreamExchange::Read::kData) {
      continue;
    }
    if (r == UpstreamExchange::Read::kFailed) {
      // The head is gone: a truncated body must not look complete.
      response.closeAfter();
      const UpstreamFailure f = exchange.failure();
      record.upstream_failure = failureName(f);
      record.flag(f == UpstreamFailure::kTimeout ? "UT" : "UC");
      record.flag("PS");
      record.partial = true;
      record.error = upstreamFailureError(f, "service", service);
    }
    return;
  }
}

}  // namespace switchyard
