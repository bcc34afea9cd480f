#include "switchyard/log/call_record.h"

#include <nlohmann/json.hpp>

namespace switchyard {

std::string CallRecord::toJson() const {
  nlohmann::json j = {
      {"schema", "switchyard.call.v1"},
      {"request_id", request_id},
      {"start_unix_ms", start_unix_ms},
      {"latency_ms", latency_ms},
      {"principal", {{"tenant", principal.tenant}, {"app", principal.app}, {"key_id", principal.key_id}}},
      {"client_address", client_address},
      {"endpoint", endpoint},
      {"operation", operation},
      {"model", model},
      {"provider", provider},
      {"provider_type", provider_type},
      {"upstream_model", upstream_model},
      {"stream", stream},
      {"status", status},
      {"upstream_status", upstream_status},
  };
  if (ttfb_ms) {
    j["ttfb_ms"] = *ttfb_ms;
  }
  if (upstream_ms) {
    j["upstream_ms"] = *upstream_ms;
    j["gateway_overhead_ms"] = std::max(0.0, latency_ms - *upstream_ms);
  }
  if (partial) {
    j["partial"] = true;
  }
  if (!upstream_failure.empty()) {
    j["upstream_failure"] = upstream_failure;
  }
  if (usage) {
    j["usage"] = {{"prompt_tokens", usage->prompt_tokens},
                  {"completion_tokens", usage->completion_tokens},
                  {"total_tokens", usage->total_tokens}};
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
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace switchyard
