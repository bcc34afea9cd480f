#include "exposition.h"

namespace switchyard::analytics {
namespace {

// Bucket boundaries the semantic conventions recommend for each instrument.
const std::vector<double> kDurationBounds{0.01, 0.02, 0.04, 0.08,  0.16,  0.32,  0.64,
                                          1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92};
const std::vector<double> kTokenBounds{1,     4,     16,     64,      256,     1024,     4096,
                                       16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864};
const std::vector<double> kTtftBounds{0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1,
                                      0.25,  0.5,   0.75, 1.0,  2.5,  5.0,  7.5,  10.0};
const std::vector<double> kTpotBounds{0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2,
                                      0.3,  0.4,   0.5,  0.75,  1.0, 2.5};

/// gen_ai.operation.name values of the semantic conventions.
std::string operationName(const std::string& op) {
  if (op == "chat.completions" || op == "messages" || op == "responses") {
    return "chat";
  }
  if (op == "completions") {
    return "text_completion";
  }
  return op;
}

template <class K>
prometheus::FixedHistogram& histogram(std::map<K, prometheus::FixedHistogram>& m, const K& key,
                                      const std::vector<double>& bounds) {
  auto it = m.find(key);
  if (it == m.end()) {
    it = m.emplace(key, prometheus::FixedHistogram(&bounds)).first;
  }
  return it->second;
}

prometheus::Labels labelsOf(const std::tuple<std::string, std::string, std::string>& base) {
  return {{"gen_ai_system", std::get<0>(base)},
          {"gen_ai_request_model", std::get<1>(base)},
          {"gen_ai_operation_name", std::get<2>(base)}};
}

prometheus::Labels labelsOf(const std::tuple<std::string, std::string, std::string>& base,
                            const char* extra, const std::string& value) {
  prometheus::Labels labels = labelsOf(base);
  labels.emplace_back(extra, value);
  return labels;
}

}  // namespace

Exposition::Base Exposition::baseOf(const Observation& o) {
  Base base{o.provider_type.empty() ? o.dims.provider : o.provider_type, o.dims.model,
            operationName(o.operation)};
  if (known_.count(base) == 0) {
    // Past max_series label sets every new model shares one, so a flood of made-up model
    // names cannot grow the exposition without bound.
    if (known_.size() >= max_series_) {
      std::get<1>(base) = "(other)";
    }
    known_[base] = true;
  }
  return base;
}

void Exposition::add(const Observation& o) {
  std::lock_guard lock(mutex_);
  const Base base = baseOf(o);
  requests_[{base, o.error_type}] += 1;
  if (o.latency_ms) {
    histogram(duration_, WithExtra{base, o.error_type}, kDurationBounds)
        .observe(*o.latency_ms / 1000);
  }
  if (o.has_usage) {
    histogram(tokens_, WithExtra{base, "input"}, kTokenBounds)
        .observe(static_cast<double>(o.prompt_tokens));
    if (o.operation != "embeddings") {
      histogram(tokens_, WithExtra{base, "output"}, kTokenBounds)
          .observe(static_cast<double>(o.completion_tokens));
    }
  }
  if (o.cost_usd) {
    cost_[base] += *o.cost_usd;
  }
  if (o.cached_tokens > 0) {
    cached_tokens_[base] += static_cast<double>(o.cached_tokens);
  }
  // Embeddings have no first token; their time to first byte is only their duration.
  if (o.error_type.empty() && o.ttft_ms && o.operation != "embeddings") {
    histogram(ttft_, base, kTtftBounds).observe(*o.ttft_ms / 1000);
    // Time per output token after the first: only meaningful where tokens were streamed.
    if (o.stream && o.latency_ms && o.completion_tokens > 1 && *o.latency_ms > *o.ttft_ms) {
      histogram(tpot_, base, kTpotBounds)
          .observe((*o.latency_ms - *o.ttft_ms) / 1000 /
                   static_cast<double>(o.completion_tokens - 1));
    }
  }
}

std::string Exposition::render() {
  std::lock_guard lock(mutex_);
  prometheus::Writer w;
  w.family(
      "gen_ai_client_operation_duration_seconds", "histogram",
      "GenAI operation duration (gen_ai.client.operation.duration), by error_type on failures.");
  for (const auto& [key, h] : duration_) {
    h.write(w, "gen_ai_client_operation_duration_seconds",
            labelsOf(std::get<0>(key), "error_type", std::get<1>(key)));
  }
  w.family("gen_ai_client_token_usage", "histogram",
           "Tokens used per call (gen_ai.client.token.usage), input and output.");
  for (const auto& [key, h] : tokens_) {
    h.write(w, "gen_ai_client_token_usage",
            labelsOf(std::get<0>(key), "gen_ai_token_type", std::get<1>(key)));
  }
  w.family(
      "gen_ai_server_time_to_first_token_seconds", "histogram",
      "Time to the first content byte (gen_ai.server.time_to_first_token) of successful calls.");
  for (const auto& [base, h] : ttft_) {
    h.write(w, "gen_ai_server_time_to_first_token_seconds", labelsOf(base));
  }
  w.family("gen_ai_server_time_per_output_token_seconds", "histogram",
           "Time per output token after the first (gen_ai.server.time_per_output_token) of "
           "successful streams.");
  for (const auto& [base, h] : tpot_) {
    h.write(w, "gen_ai_server_time_per_output_token_seconds", labelsOf(base));
  }
  w.family("switchyard_gen_ai_requests_total", "counter",
           "Calls through the gateway, by error_type on failures.");
  for (const auto& [key, n] : requests_) {
    w.sample("switchyard_gen_ai_requests_total",
             labelsOf(std::get<0>(key), "error_type", std::get<1>(key)), n);
  }
  w.family("switchyard_gen_ai_cost_usd_total", "counter",
           "Cost of the calls in US dollars, from the model catalog's prices.");
  for (const auto& [base, v] : cost_) {
    w.sample("switchyard_gen_ai_cost_usd_total", labelsOf(base), v);
  }
  w.family("switchyard_gen_ai_cached_tokens_total", "counter",
           "Prompt tokens served from the provider's cache.");
  for (const auto& [base, v] : cached_tokens_) {
    w.sample("switchyard_gen_ai_cached_tokens_total", labelsOf(base), v);
  }
  return w.take();
}

}  // namespace switchyard::analytics
