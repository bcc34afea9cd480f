/// @file json_access.h
/// @brief Non-throwing reads of untrusted JSON, shared by the ingress translators.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "switchyard/ingress/ingress_adapter.h"

namespace switchyard::ingress::detail {

/// The member `key` of `o`, or null when `o` is not an object or has no such member.
inline const Json* member(const Json& o, const char* key) {
  if (!o.is_object()) {
    return nullptr;
  }
  auto it = o.find(key);
  return it == o.end() ? nullptr : &*it;
}

/// Present and not JSON null.
inline const Json* given(const Json& o, const char* key) {
  const Json* m = member(o, key);
  return m != nullptr && !m->is_null() ? m : nullptr;
}

inline std::string stringOr(const Json& o, const char* key, std::string fallback = {}) {
  const Json* m = member(o, key);
  return m != nullptr && m->is_string() ? m->get<std::string>() : fallback;
}

inline int64_t intOr(const Json& o, const char* key, int64_t fallback) {
  const Json* m = member(o, key);
  return m != nullptr && m->is_number_integer() ? m->get<int64_t>() : fallback;
}

/// choices[0] of a unified completion or chunk, or null.
inline const Json& firstChoice(const Json& doc) {
  static const Json kNone;
  const Json* choices = member(doc, "choices");
  return choices != nullptr && choices->is_array() && !choices->empty() ? (*choices)[0] : kNone;
}

/// Serializes without throwing on invalid UTF-8 (replaced): text comes from upstreams and clients.
inline std::string dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

inline ApiError badRequest(std::string message, std::string code = "invalid_request") {
  return ApiError::invalidRequest(std::move(message), std::move(code));
}

/// A 400 naming a parameter the ingress cannot honour.
inline ApiError unsupported(const std::string& api, const std::string& param,
                            const std::string& why) {
  return ApiError::invalidRequest("'" + param + "' is not supported on " + api + ": " + why,
                                  "unsupported_parameter");
}

/// The first top-level key of `in` that is not in `known`, if any.
template <size_t N>
std::optional<std::string> unknownKey(const Json& in, const std::string_view (&known)[N]) {
  for (const auto& [key, value] : in.items()) {
    bool found = false;
    for (std::string_view k : known) {
      found = found || k == key;
    }
    if (!found) {
      return key;
    }
  }
  return std::nullopt;
}

/// temperature and top_p: the same name and meaning in both APIs; each provider checks its range.
inline std::optional<ApiError> copySampling(const Json& in, Json& chat) {
  for (const char* key : {"temperature", "top_p"}) {
    if (const Json* v = given(in, key)) {
      if (!v->is_number()) {
        return badRequest(std::string("'") + key + "' must be a number", "invalid_type");
      }
      chat[key] = *v;
    }
  }
  return std::nullopt;
}

/// "stream": true asks the unified call for usage too, which both APIs report at the end.
inline std::optional<ApiError> copyStream(const Json& in, Json& chat) {
  if (const Json* stream = given(in, "stream")) {
    if (!stream->is_boolean()) {
      return badRequest("'stream' must be a boolean", "invalid_type");
    }
    if (stream->get<bool>()) {
      chat["stream"] = true;
      chat["stream_options"] = {{"include_usage", true}};
    }
  }
  return std::nullopt;
}

/// `prefix` + the unified id (without OpenAI's own prefix), or random hex when there is none.
inline std::string prefixedId(const std::string& prefix, std::string id) {
  if (id.rfind(prefix, 0) == 0) {
    return id;
  }
  if (id.rfind("chatcmpl-", 0) == 0) {
    id.erase(0, 9);
  }
  if (id.empty()) {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    static constexpr char kHex[] = "0123456789abcdef";
    for (int i = 0; i < 24; ++i) {
      id.push_back(kHex[rng() & 15]);
    }
  }
  return prefix + id;
}

/// The unified usage object's numbers (absent ones are 0).
struct UnifiedUsage {
  int64_t prompt = 0;
  int64_t completion = 0;
  int64_t cached = 0;
  int64_t cache_creation = 0;
  int64_t reasoning = 0;
  bool seen = false;

  static UnifiedUsage of(const Json& usage) {
    UnifiedUsage u;
    if (!usage.is_object()) {
      return u;
    }
    u.seen = true;
    u.prompt = intOr(usage, "prompt_tokens", 0);
    u.completion = intOr(usage, "completion_tokens", 0);
    if (const Json* d = member(usage, "prompt_tokens_details")) {
      u.cached = intOr(*d, "cached_tokens", 0);
      u.cache_creation = intOr(*d, "cache_creation_tokens", 0);
    }
    // Some providers put these beside the totals rather than in the details.
    u.cached = intOr(usage, "cached_tokens", u.cached);
    u.cache_creation = intOr(usage, "cache_creation_tokens", u.cache_creation);
    if (const Json* d = member(usage, "completion_tokens_details")) {
      u.reasoning = intOr(*d, "reasoning_tokens", 0);
    }
    return u;
  }
};

/// One SSE event with a name, the way Anthropic and the Responses API frame them.
inline void appendEvent(std::string& out, const char* name, const Json& data) {
  out.append("event: ").append(name).append("\ndata: ").append(dump(data)).append("\n\n");
}

}  // namespace switchyard::ingress::detail
