#include "ai_proxy.h"

#include "call_accounting.h"
#include "management/quota_call.h"
#include "request_probe.h"
#include "switchyard/catalog/model_catalog.h"
#include "switchyard/log/body_log.h"
#include "switchyard/ingress/ingress_adapter.h"
#include "switchyard/upstream/rate_limit.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

namespace switchyard {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr size_t kMaxUpstreamResponseBytes = 64u * 1024 * 1024;

sy_str sv(std::string_view s) { return sy_str{s.data(), s.size()}; }

double msSince(Clock::time_point t) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
}

bool sendJson(HttpResponseWriter& w, int status, const std::string& body) {
  return w.send(status, "application/json", body);
}

void sendError(HttpResponseWriter& w, CallRecord& record, const ApiError& error) {
  record.status = error.status;
  record.error = error;
  if (error.status == 503 || error.status == 429) {
    w.setHeader("Retry-After", "1");
  }
  sendJson(w, error.status, error.toJson());
}

std::vector<sy_header> headerViews(const HeaderList& headers) {
  std::vector<sy_header> out;
  out.reserve(headers.size());
  for (const auto& [name, value] : headers) {
    out.push_back(sy_header{sv(name), sv(value)});
  }
  return out;
}

/// Adds the time since `since` to the call's upstream wait (the overhead header and record subtract it).
void addUpstreamWait(CallRecord& record, Clock::time_point since) {
  record.upstream_ms = record.upstream_ms.value_or(0.0) + msSince(since);
}

/// Runs the configured auth schemes in order; the first that recognises the caller decides.
bool authenticate(const Runtime& rt, const HttpRequest& req, Principal* principal, ApiError* error) {
  if (rt.auth.empty()) {
    return true;
  }
  auto headers = headerViews(req.headers);
  sy_http_request view{sizeof(sy_http_request), sv(req.method), sv(req.uri), sv(req.peer), headers.data(),
                       headers.size()};
  for (const auto& scheme : rt.auth) {
    sy_out_host_t out;
    Principal candidate;
    out.principal = &candidate;
    const auto& inst = *scheme.instance;
    sy_status st = inst.table<sy_auth_vtable>().authenticate(inst.handle(), &view, &out);
    if (st == SY_DECLINED) {
      continue;
    }
    if (st == SY_OK) {
      *principal = std::move(candidate);
      principal->authenticated = true;
      principal->scheme = scheme.config.name;
      return true;
    }
    *error = out.error.value_or(ApiError::unauthorized("Authentication failed"));
    if (error->status < 400 || error->status > 499) {
      error->status = 401;
    }
    return false;
  }
  *error = ApiError::unauthorized(
      "Missing API key. Send it as 'Authorization: Bearer <key>' or in the 'x-api-key' header.",
      "missing_api_key");
  return false;
}

/// Owns a provider's per-request stream state and destroys it exactly once.
class StreamHandle {
public:
  StreamHandle(const sy_provider_vtable& table, void* stream) : table_(table), stream_(stream) {}
  ~StreamHandle() {
    if (stream_ != nullptr) {
      table_.stream_destroy(stream_);
    }
  }
  void* get() const { return stream_; }

private:
  const sy_provider_vtable& table_;
  void* stream_;
};

} // namespace

void AiProxy::handle(const HttpRequest& request, HttpResponseWriter& client) {
  OverheadStampingWriter response(client, Clock::now());
  const std::string& path = request.path;
  if (management_ != nullptr) {
    ManagedCall call;
    switch (management_->route(request, response, &call)) {
    case ManagementPlane::Route::kAnswered:
      return;
    case ManagementPlane::Route::kAi:
      if (call.ingress) {  // a prompt API: its own request and answer shapes around the chat call
        auto translating = call.ingress->wrap(response);
        return serveAi(call.op, request, *translating, call.ingress.get(), &call);
      }
      return serveAi(call.op, request, response, nullptr, &call);
    case ManagementPlane::Route::kRest:
      return rest_.serve(request, response, call);
    default:
      break;
    }
  }
  auto methodNotAllowed = [&](const char* allowed) {
    response.setHeader("Allow", allowed);
    sendJson(response, 405,
             ApiError{405, "invalid_request_error", "method_not_allowed",
                      "Method " + request.method + " is not allowed on " + path}
                 .toJson());
  };
  if (path == "/v1/chat/completions" || path == "/chat/completions") {
    return request.method == "POST" ? serveAi(SY_OP_CHAT_COMPLETIONS, request, response) : methodNotAllowed("POST");
  }
  if (path == "/v1/embeddings" || path == "/embeddings") {
    return request.method == "POST" ? serveAi(SY_OP_EMBEDDINGS, request, response) : methodNotAllowed("POST");
  }
  if (ingress::IngressAdapterPtr adapter = ingress::adapterForPath(path)) {
    if (request.method != "POST") {
      return methodNotAllowed("POST");
    }
    auto translating = adapter->wrap(response); // errors and answers leave in the ingress API's shape
    return serveAi(SY_OP_CHAT_COMPLETIONS, request, *translating, adapter.get());
  }
  if (path == "/healthz") {
    sendJson(response, 200, R"({"status":"ok"})");
    return;
  }
  if (path == "/readyz") {
    const bool ready = !draining_.load() && runtime_() != nullptr;
    sendJson(response, ready ? 200 : 503, ready ? R"({"status":"ready"})" : R"({"status":"draining"})");
    return;
  }
  if (path == "/v1/models" || path == "/models") {
    if (request.method != "GET") {
      return methodNotAllowed("GET");
    }
    RuntimeSharedPtr rt = runtime_();
    CallRecord record;
    Principal principal;
    ApiError error;
    if (!authenticate(*rt, request, &principal, &error)) {
      sendError(response, record, error);
      return;
    }
    sendJson(response, 200, rt->models_json);
    return;
  }
  sendJson(response, 404,
           ApiError::notFound("Unknown endpoint " + request.method + " " + path, "unknown_url").toJson());
}

void AiProxy::serveAi(sy_operation op, const HttpRequest& request, HttpResponseWriter& client,
                      ingress::IngressAdapter* ingress, const ManagedCall* managed) {
  CallRecord record;
  beginRecord(record, request);
  OverheadStampingWriter response(client, record.start, &record.upstream_ms);
  record.api = request.path;
  record.operation = op == SY_OP_CHAT_COMPLETIONS ? "chat.completions" : "embeddings";

  RuntimeSharedPtr rt = runtime_(); // held to the end: keeps this call's plugin versions loaded
  ApiError error;
  if (managed != nullptr) {
    record.principal = managed->principal;
    record.api = managed->api;
  } else if (!authenticate(*rt, request, &record.principal, &error)) {
    sendError(response, record, error);
    return finish(record);
  }
  // An ingress API is served as the unified call it translates to; the record keeps its path.
  HttpRequest unified;
  if (ingress != nullptr) {
    unified = HttpRequest{request.request_id, request.method, request.path, request.query,
                          request.uri,        request.headers, request.peer, {}};
    if (auto e = ingress->toUnified(request.body, unified.body)) {
      sendError(response, record, *e);
      return finish(record);
    }
  }
  const HttpRequest& call = ingress != nullptr ? unified : request;

  const RequestProbe body = RequestProbe::of(call.body);
  if (!body.valid_json || !body.is_object) {
    sendError(response, record,
              ApiError::invalidRequest(!body.valid_json ? "The request body is not valid JSON"
                                                        : "The request body must be a JSON object",
                                       "invalid_json"));
    return finish(record);
  }
  if (body.model != RequestProbe::Kind::kString || body.model_value.empty()) {
    sendError(response, record, ApiError::invalidRequest("You must provide a model parameter", "missing_model"));
    return finish(record);
  }
  record.model = body.model_value;
  if (body.stream != RequestProbe::Kind::kAbsent && body.stream != RequestProbe::Kind::kNull) {
    if (body.stream != RequestProbe::Kind::kBool) {
      sendError(response, record, ApiError::invalidRequest("'stream' must be a boolean", "invalid_type"));
      return finish(record);
    }
    record.stream = op == SY_OP_CHAT_COMPLETIONS && body.stream_value;
  }
  if (op == SY_OP_CHAT_COMPLETIONS) {
    if (body.messages != RequestProbe::Kind::kArray || body.message_count == 0) {
      sendError(response, record,
                ApiError::invalidRequest("'messages' must be a non-empty array", "invalid_messages"));
      return finish(record);
    }
  } else if (body.input == RequestProbe::Kind::kAbsent) {
    sendError(response, record, ApiError::invalidRequest("You must provide an input parameter", "missing_input"));
    return finish(record);
  }

  auto route = rt->config->models.find(record.model);
  const bool offered = managed == nullptr || std::find(managed->models.begin(), managed->models.end(),
                                                       record.model) != managed->models.end();
  if (route == rt->config->models.end() || !offered) {
    record.flag("NR");
    sendError(response, record,
              ApiError::notFound("The model `" + record.model + "` does not exist or is not routed by this gateway",
                                 "model_not_found"));
    return finish(record);
  }
  record.body_log = route->second.log_bodies.get();
  QuotaReservation quota; // a managed call's worst case, held until its real usage is known
  if (managed != nullptr && !admitAiCall(management_->quotas(), *managed, op, *rt, route->second, body,
                                         call.body, response, record, &quota)) {
    return finish(record);
  }
  QuotaSettlingWriter settling(response, quota, record);
  routeCall(op, *rt, route->second, call, settling, record);
  settleAiCall(quota, record); // streams, which end without a send()
  captureBodies(request, *rt, record);
  finish(record);
}

std::vector<const ModelRoute*> AiProxy::routeChain(const Runtime& rt, const ModelRoute& first,
                                                   std::vector<size_t>* parent) {
  std::vector<const ModelRoute*> chain{&first};
  std::vector<size_t> parents{0};
  for (size_t i = 0; i < chain.size(); ++i) {
    for (const auto& f : chain[i]->fallbacks) {
      auto it = rt.config->models.find(f);
      if (it != rt.config->models.end() && std::find(chain.begin(), chain.end(), &it->second) == chain.end()) {
        chain.push_back(&it->second);
        parents.push_back(i);
      }
    }
  }
  if (parent != nullptr) {
    *parent = std::move(parents);
  }
  return chain;
}

void AiProxy::routeCall(sy_operation op, const Runtime& rt, const ModelRoute& first, const HttpRequest& request,
                        HttpResponseWriter& response, CallRecord& record) {
  // The route, then its fallbacks in order (each once), until one answers. parent[i] is the
  // route that listed chain[i]: its fallback_on says which final errors move the call on to it.
  std::vector<size_t> parent;
  const std::vector<const ModelRoute*> chain = routeChain(rt, first, &parent);
  std::optional<ApiError> last_error;
  SteadyClock::time_point soonest = SteadyClock::time_point::max();
  bool overflow = false;
  bool gave_up = false; // the retry budget or the failover window ended the call
  TargetPool& first_pool = *rt.pools.at(first.name);
  TargetPool::ActiveRequest active(first_pool); // the retry budget is a share of these
  for (size_t r = 0; r < chain.size() && !gave_up; ++r) {
    const ModelRoute* route = chain[r];
    TargetPool& pool = *rt.pools.at(route->name);
    std::vector<size_t> tried;
    for (uint32_t n = 0; n < route->retry.attempts; ++n) {
      const auto now = SteadyClock::now();
      TargetPool::Empty why = TargetPool::Empty::kExhausted;
      auto pick = pool.pick(tried, now, &why);
      if (!pick) {
        overflow = overflow || why == TargetPool::Empty::kOverflow;
        soonest = std::min(soonest, pool.soonestRecovery(now));
        break;
      }
      const bool is_retry = !record.attempts.empty();
      // The client named `first`: its window bounds how late another attempt may start.
      if (is_retry && first.failover_within.count() > 0 && now - record.start > first.failover_within) {
        gave_up = true; // a slow failure: a second long wait would serve the client worse
        break;
      }
      if (is_retry && !first_pool.tryBeginRetry()) {
        gave_up = true; // an outage must not turn into a retry storm
        break;
      }
      tried.push_back(pick->index);
      if (is_retry) {
        backoff(*route, static_cast<uint32_t>(record.attempts.size()));
      }
      AttemptResult result;
      {
        TargetHealth::InFlight in_flight(pool.health(pick->index));
        result = attempt(op, rt, *route, pool.target(pick->index), request, response, record);
      }
      if (is_retry) {
        first_pool.endRetry();
      }
      pool.report(pick->index, result.outcome, result.retry_after, SteadyClock::now(),
                  record.attempts.back().ttfb_ms);
      if (result.kind == AttemptResult::Kind::kAnswered) {
        return;
      }
      if (result.kind == AttemptResult::Kind::kFinal) {
        const bool next_allows =
            r + 1 < chain.size() && (chain[parent[r + 1]]->fallback_on & fallbackClassOf(result)) != 0;
        if (!next_allows) {
          sendError(response, record, *result.error);
          return;
        }
        last_error = result.error;
        break; // on to the fallback: this pool's other targets would fail the same way
      }
      last_error = result.error;
    }
  }
  if (!last_error) {
    // Nothing was tried: every target is ejected, cooling down or full. Say so at once.
    record.flag(overflow ? "UO" : "UH");
    const auto now = SteadyClock::now();
    const auto wait = soonest == SteadyClock::time_point::max() || soonest <= now
                          ? std::chrono::seconds(1)
                          : std::chrono::ceil<std::chrono::seconds>(soonest - now);
    response.setHeader("Retry-After", std::to_string(std::max<int64_t>(1, wait.count())));
    ApiError e = overflow ? ApiError{503, "upstream_overflow", "upstream_overflow",
                                     "Every target of model `" + record.model + "` is at its concurrency limit"}
                          : ApiError{503, "no_healthy_upstream", "no_healthy_upstream",
                                     "No healthy upstream for model `" + record.model + "`: every target is unavailable"};
    record.status = e.status;
    record.error = e;
    sendJson(response, e.status, e.toJson());
    return;
  }
  record.flag("URX");
  sendError(response, record, *last_error);
}

uint32_t AiProxy::fallbackClassOf(const AttemptResult& result) {
  const std::string code = result.error ? result.error->code : std::string();
  FallbackClass c;
  if (code == "context_length_exceeded") {
    c = FallbackClass::kContextLengthExceeded;
  } else if (code == "content_filter" || code == "content_policy_violation") {
    c = FallbackClass::kContentFilter;
  } else if (result.outcome == AttemptOutcome::kTimeout) {
    c = FallbackClass::kTimeout;
  } else if (result.outcome == AttemptOutcome::kReset) {
    c = FallbackClass::kConnectionReset;
  } else if (result.outcome == AttemptOutcome::kServerError) {
    c = FallbackClass::kServerError;
  } else {
    return 0;
  }
  return static_cast<uint32_t>(c);
}

void AiProxy::backoff(const ModelRoute& route, uint32_t retry) { backoffBeforeRetry(route.retry, retry); }

AiProxy::AttemptResult AiProxy::attempt(sy_operation op, const Runtime& rt, const ModelRoute& route,
                                        const RouteTarget& route_target, const HttpRequest& request,
                                        HttpResponseWriter& response, CallRecord& record) {
  const bool retry_unsafe = route.retry.retry_unsafe;
  const ProviderTarget& target = *rt.providers.at(route_target.provider);
  record.provider = target.config.name;
  record.provider_type = target.config.type;
  record.upstream_model = route_target.upstream_model;
  record.catalog_model = rt.config->catalog ? rt.config->catalog->find(target.config.catalog_provider,
                                                                       route_target.upstream_model)
                                            : nullptr;
  record.usage.reset(); // the usage and price are those of the attempt that answers
  const std::string target_key = TargetPool::key(route_target);
  record.attempts.push_back(AttemptRecord{target_key, "", 0, 0, std::nullopt});
  const auto attempt_start = Clock::now();
  response.setHeader("x-switchyard-target", target_key);
  response.setHeader("x-switchyard-attempts", std::to_string(record.attempts.size()));
  auto done = [&](AttemptResult r) {
    AttemptRecord& a = record.attempts.back();
    a.outcome = outcomeName(r.outcome);
    a.ms = msSince(attempt_start);
    return r;
  };

  const ComponentInstance& provider = *target.provider;
  const auto& table = provider.table<sy_provider_vtable>();
  sy_provider_request preq{sizeof(sy_provider_request), op, record.stream, sv(record.request_id),
                           sv(request.body), sv(record.model), sv(record.upstream_model),
                           sv(target.config.base_url), sv(target.api_key)};
  UpstreamRequestSpec spec;
  {
    std::vector<std::string> dropped;
    sy_out_host_t out;
    out.request = &spec;
    out.dropped_params = &dropped;
    sy_status st = table.build_request(provider.handle(), &preq, &out);
    if (st != SY_OK || out.error) {
      return done(AttemptResult::final(
          AttemptOutcome::kClientError,
          out.error.value_or(ApiError::internal("Provider " + record.provider + " could not build the request"))));
    }
    // Per attempt: a fallback to another provider replaces an earlier attempt's list.
    if (!dropped.empty() || record.attempts.size() > 1) {
      response.setHeader(kDroppedParamsHeader, joinDroppedParams(dropped));
    }
  }

  UpstreamCall call{std::move(spec.method), std::move(spec.path), std::move(spec.headers), std::move(spec.body),
                    route.timeouts.over(target.config.timeouts)};
  const auto wait_start = Clock::now();
  UpstreamStartResult started = upstream_.start(target.config.base_url, target.config.max_idle_connections, call);
  addUpstreamWait(record, wait_start);
  if (!started.exchange) {
    spdlog::warn("request {}: provider {} failed: {} ({})", record.request_id, record.provider,
                 failureName(started.failure), started.message);
    return done(transportFailure(started.failure, record, retry_unsafe));
  }
  UpstreamExchange& exchange = *started.exchange;
  record.ttfb_ms = msSince(record.start);
  record.upstream_status = exchange.status();
  record.attempts.back().upstream_status = exchange.status();
  record.attempts.back().ttfb_ms = msSince(attempt_start);
  const bool success = exchange.status() >= 200 && exchange.status() < 300;

  if (record.stream && success) {
    return done(relayStream(target, preq, exchange, response, record));
  }

  std::string upstream_body;
  const auto read_start = Clock::now();
  UpstreamExchange::Read read = exchange.readAll(upstream_body, kMaxUpstreamResponseBytes);
  addUpstreamWait(record, read_start);
  if (read != UpstreamExchange::Read::kEnd) {
    UpstreamFailure f = upstream_body.size() > kMaxUpstreamResponseBytes ? UpstreamFailure::kTooLarge : exchange.failure();
    return done(transportFailure(f, record, retry_unsafe));
  }
  auto headers = headerViews(exchange.headers());
  sy_upstream_response uresp{sizeof(sy_upstream_response), static_cast<uint32_t>(exchange.status()),
                             headers.data(), headers.size(), sv(upstream_body)};
  std::vector<PluginEvent> events;
  sy_out_host_t out;
  out.events = &events;
  sy_status st = table.parse_response(provider.handle(), &preq, &uresp, &out);
  const PluginEvent* answer = nullptr;
  for (const auto& e : events) {
    if (e.kind == SY_EVENT_RESPONSE) {
      answer = &e;
    } else if (e.kind == SY_EVENT_USAGE) {
      record.usage = TokenUsage::fromJson(e.payload);
    }
  }
  if (out.error || st != SY_OK || answer == nullptr) {
    ApiError e = out.error.value_or(ApiError::upstream(502, "bad_upstream_response",
                                                       "Provider " + record.provider + " returned no usable answer"));
    return done(classifyAnswer(exchange.status(), e, exchange.headers(), record, retry_unsafe));
  }
  record.status = success ? exchange.status() : 200;
  if (!record.usage) {
    record.usage = estimateUsage(request.body, completionChars(answer->payload));
  }
  if (record.body_log != nullptr && record.body_log->response) {
    record.response_text = answer->payload;
  }
  sendJson(response, record.status, answer->payload);
  return done(AttemptResult::answered(AttemptOutcome::kSuccess));
}

AiProxy::AttemptResult AiProxy::transportFailure(UpstreamFailure f, CallRecord& record, bool retry_unsafe) {
  record.upstream_failure = failureName(f);
  ApiError e = upstreamFailureError(f, "provider", record.provider);
  switch (f) {
  case UpstreamFailure::kConnect:
    record.flag("UF");
    return AttemptResult::retryable(AttemptOutcome::kConnectFailure, e); // never reached the upstream
  case UpstreamFailure::kTimeout:
    record.flag("UT");
    return retry_unsafe ? AttemptResult::retryable(AttemptOutcome::kTimeout, e)
                        : AttemptResult::final(AttemptOutcome::kTimeout, e);
  default:
    record.flag("UC");
    return retry_unsafe ? AttemptResult::retryable(AttemptOutcome::kReset, e)
                        : AttemptResult::final(AttemptOutcome::kReset, e);
  }
}

AiProxy::AttemptResult AiProxy::classifyAnswer(int status, const ApiError& error, const HeaderList& headers,
                                               CallRecord& record, bool retry_unsafe) {
  if (status == 429) {
    record.flag("RL");
    AttemptResult r = AttemptResult::retryable(AttemptOutcome::kRateLimited, error);
    r.retry_after = rateLimitCooldown(headers, std::chrono::system_clock::now());
    return r;
  }
  // 502 and 503 say the upstream did not process the call; 500 and 504 leave it unknown.
  if (status == 502 || status == 503 || (retry_unsafe && (status == 500 || status == 504))) {
    return AttemptResult::retryable(AttemptOutcome::kServerError, error);
  }
  return AttemptResult::final(status >= 500 ? AttemptOutcome::kServerError : AttemptOutcome::kClientError, error);
}

AiProxy::AttemptResult AiProxy::relayStream(const ProviderTarget& target, const sy_provider_request& preq,
                                            UpstreamExchange& exchange, HttpResponseWriter& response,
                                            CallRecord& record) {
  const ComponentInstance& provider = *target.provider;
  const auto& table = provider.table<sy_provider_vtable>();
  auto headers = headerViews(exchange.headers());
  sy_upstream_response head{sizeof(sy_upstream_response), static_cast<uint32_t>(exchange.status()), headers.data(),
                            headers.size(), sy_str{}};
  void* raw = nullptr;
  if (table.stream_open(provider.handle(), &preq, &head, &raw) != SY_OK || raw == nullptr) {
    if (raw != nullptr) {
      table.stream_destroy(raw);
    }
    return AttemptResult::final(AttemptOutcome::kClientError,
                                ApiError::internal("Provider " + record.provider + " could not open the stream translation"));
  }
  StreamHandle stream(table, raw);

  // Nothing reaches the client until the first translated bytes exist: until then a failed,
  // stalled or malformed upstream stream can still be retried or fall back, invisibly.
  bool committed = false;
  auto commit = [&]() {
    if (committed) {
      return true;
    }
    committed = true;
    response.setHeader("Cache-Control", "no-cache");
    response.setHeader("X-Accel-Buffering", "no");
    record.status = 200;
    return response.beginStream(200, "text/event-stream");
  };

  std::string in;
  std::string outbuf;
  std::vector<PluginEvent> events;
  StreamContent content(record.body_log != nullptr && record.body_log->response);
  // Once bytes reached the client the call is billed whatever happens next: count it.
  auto settle = [&]() {
    if (!record.usage) {
      record.usage = estimateUsage(preq.body.ptr == nullptr ? std::string_view()
                                                            : std::string_view(preq.body.ptr, preq.body.len),
                                   content.completionChars());
    }
    if (record.body_log != nullptr && record.body_log->response) {
      record.response_text = content.assembled(record.usage);
    }
  };
  bool done = false;
  std::optional<ApiError> failure;
  AttemptOutcome failure_outcome = AttemptOutcome::kReset;
  // Turns the events a hook emitted into SSE bytes.
  auto drain = [&](const sy_out_host_t& out) {
    for (const auto& e : events) {
      if (e.kind == SY_EVENT_CHUNK && !done) {
        content.add(e.payload);
        outbuf.append("data: ").append(e.payload).append("\n\n");
      } else if (e.kind == SY_EVENT_USAGE) {
        record.usage = TokenUsage::fromJson(e.payload);
      } else if (e.kind == SY_EVENT_DONE && !done) {
        done = true;
        outbuf.append("data: [DONE]\n\n");
      }
    }
    events.clear();
    if (out.error && !done) {
      failure = *out.error;
      failure_outcome = AttemptOutcome::kServerError;
    }
  };

  for (;;) {
    in.clear();
    const auto read_start = Clock::now();
    UpstreamExchange::Read r = exchange.readSome(in);
    addUpstreamWait(record, read_start);
    sy_out_host_t out;
    out.events = &events;
    if (r == UpstreamExchange::Read::kData) {
      if (!done) {
        table.stream_data(stream.get(), sv(in), &out);
        drain(out);
      }
    } else if (r == UpstreamExchange::Read::kEnd) {
      if (!done) {
        table.stream_end(stream.get(), &out);
        drain(out);
        if (!done && !failure) {
          failure = ApiError::upstream(502, "stream_truncated", "The provider closed the stream before it was complete");
        }
      }
    } else if (!done) {
      record.upstream_failure = failureName(exchange.failure());
      failure = upstreamFailureError(exchange.failure(), "provider", record.provider);
      failure_outcome = exchange.failure() == UpstreamFailure::kTimeout ? AttemptOutcome::kTimeout : AttemptOutcome::kReset;
      record.flag(exchange.failure() == UpstreamFailure::kTimeout ? "UT" : "UC");
    }
    if (failure && !committed) {
      // Before the first byte: the client has seen nothing, so another target may answer.
      return AttemptResult::retryable(failure_outcome, *failure);
    }
    if (!outbuf.empty()) {
      if (!commit() || !response.write(outbuf)) {
        record.error = ApiError{499, "client_error", "client_closed", "The client went away during the stream"};
        record.partial = true;
        settle();
        return AttemptResult::answered(AttemptOutcome::kSuccess);
      }
      if (!record.ttft_ms) {
        record.ttft_ms = msSince(record.start);
      }
      outbuf.clear();
    }
    if (failure) {
      // Bytes already reached the client: end with an in-band error, never a [DONE].
      response.write("data: " + failure->toJson() + "\n\n");
      response.closeAfter();
      record.error = failure;
      record.partial = true;
      record.flag("PS");
      settle();
      return AttemptResult::answered(failure_outcome);
    }
    if (r != UpstreamExchange::Read::kData) {
      settle();
      return AttemptResult::answered(AttemptOutcome::kSuccess);
    }
  }
}

void AiProxy::finish(CallRecord& record) {
  record.latency_ms = msSince(record.start);
  record.end_unix_ms = record.start_unix_ms + static_cast<int64_t>(record.latency_ms + 0.5);
  if (record.usage && record.catalog_model != nullptr) {
    record.cost = priceUsage(*record.catalog_model, *record.usage);
  }
  records_.submit(record.toJson());
}

} // namespace switchyard
