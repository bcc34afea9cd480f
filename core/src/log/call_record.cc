#include "switchyard/log/call_record.h"

#include <nlohmann/json.hpp>

namespace switchyard {

std::optional<TokenUsage> TokenUsage::fromJson(std::string_view payload) {
  using nlohmann::json;
  json u = json::parse(payload, nullptr, false);
  if (!u.is_object()) {
    return std::nullopt;
  }
  auto num = [](const json& obj, const char* key) -> int64_t {
    auto it = obj.find(key);
    return it != obj.end() && it->is_number_integer() ? std::max<int64_t>(0, it->get<int64_t>()) : 0;
  };
  // OpenAI's own shape, for provider plugins that pass the upstream's usage on as it is.
  auto nested = [&](const char* object, const char* key) -> int64_t {
    auto it = u.find(object);
    return it != u.end() && it->is_object() ? num(*it, key) : 0;
  };
  TokenUsage t;
  t.prompt_tokens = num(u, "prompt_tokens");
  t.completion_tokens = num(u, "completion_tokens");
  t.total_tokens = num(u, "total_tokens");
  if (t.total_tokens == 0) {
    t.total_tokens = t.prompt_tokens + t.completion_tokens;
  }
  t.cached_tokens = u.contains("cached_tokens") ? num(u, "cached_tokens") : nested("prompt_tokens_details", "cached_tokens");
  t.cache_creation_tokens = num(u, "cache_creation_tokens");
  t.reasoning_tokens =
      u.contains("reasoning_tokens") ? num(u, "reasoning_tokens") : nested("completion_tokens_details", "reasoning_tokens");
  auto estimated = u.find("estimated");
  t.estimated = estimated != u.end() && estimated->is_boolean() && estimated->get<bool>();
  return t;
}

std::string CallRecord::toJson() const {
  nlohmann::json j = {
      {"schema", "switchyard.call.v1"},
      {"request_id", request_id},
      {"start_unix_ms", start_unix_ms},
      {"end_unix_ms", end_unix_ms},
      {"latency_ms", latency_ms},
      {"principal", {{"tenant", principal.tenant}, {"app", principal.app}, {"key_id", principal.key_id}}},
      {"client_address", client_address},
      {"endpoint", endpoint},
      {"api", api},
      {"operation", operation},
      {"model", model},
      {"provider", provider},
      {"provider_type", provider_type},
      {"upstream_model", upstream_model},
      {"stream", stream},
      {"status", status},
      {"upstream_status", upstream_status},
  };
  if (!method.empty()) {
    j["method"] = method;
  }
  if (ttfb_ms) {
    j["ttfb_ms"] = *ttfb_ms;
  }
  if (ttft_ms) {
    j["ttft_ms"] = *ttft_ms;
  }
  if (upstream_ms) {
    j["upstream_ms"] = *upstream_ms;
  }
  j["gateway_overhead_ms"] = std::max(0.0, latency_ms - upstream_ms.value_or(0.0));
  if (partial) {
    j["partial"] = true;
  }
  if (!upstream_failure.empty()) {
    j["upstream_failure"] = upstream_failure;
  }
  if (usage) {
    j["usage"] = {{"prompt_tokens", usage->prompt_tokens},
                  {"completion_tokens", usage->completion_tokens},
                  {"total_tokens", usage->total_tokens},
                  {"cached_tokens", usage->cached_tokens},
                  {"cache_creation_tokens", usage->cache_creation_tokens},
                  {"reasoning_tokens", usage->reasoning_tokens},
                  {"estimated", usage->estimated}};
  }
  if (cost) {
    j["cost_usd"] = cost->total_usd;
    j["cost"] = {{"input_usd", cost->input_usd},
                 {"cached_usd", cost->cached_usd},
                 {"cache_creation_usd", cost->cache_creation_usd},
                 {"output_usd", cost->output_usd},
                 {"total_usd", cost->total_usd},
                 {"price_date", cost->price_date},
                 {"catalog_id", cost->catalog_id}};
  }
  if (!attempts.empty()) {
    nlohmann::json list = nlohmann::json::array();
    for (const auto& a : attempts) {
      list.push_back({{"target", a.target}, {"outcome", a.outcome}, {"upstream_status", a.upstream_status}, {"ms", a.ms}});
    }
    j["attempts"] = std::move(list);
  }
  if (!flags.empty()) {
    j["response_flags"] = flags;
  }
  if (error) {
    j["error"] = {{"type", error->type}, {"code", error->code}, {"message", error->message}};
  }
  if (request_headers) {
    nlohmann::json h = nlohmann::json::object();
    for (const auto& [name, value] : *request_headers) {
      h[name] = value;
    }
    j["request_headers"] = std::move(h);
  }
  auto body = [&](const char* name, const std::optional<std::string>& text, bool truncated) {
    if (text) {
      j[name] = *text;
      if (truncated) {
        j[std::string(name) + "_truncated"] = true;
      }
    }
  };
  body("request_body", request_body, request_body_truncated);
  body("response_body", response_body, response_body_truncated);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace switchyard
