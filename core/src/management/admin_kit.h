/// @file admin_kit.h
/// @brief What every /admin/v1 endpoint family shares: refusals, the signed-in actor, typed
/// body fields, and the per-request context a family handler receives.
#pragma once

#include <algorithm>
#include <functional>
#include <initializer_list>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "switchyard/common/api_error.h"
#include "switchyard/http/http_types.h"
#include "switchyard/store/store.h"

namespace switchyard::admin {

using nlohmann::json;

/// An answer decided deep inside a handler. The admin API is control plane: unwinding to
/// one catch keeps every check a single line.
struct Refusal {
  ApiError error;
};

[[noreturn]] inline void refuse(int status, std::string type, std::string code,
                                std::string message) {
  throw Refusal{ApiError{status, std::move(type), std::move(code), std::move(message)}};
}
[[noreturn]] inline void badRequest(std::string message, std::string code = "invalid_request") {
  refuse(400, "invalid_request_error", std::move(code), std::move(message));
}
[[noreturn]] inline void notFound(const std::string& what, const std::string& id) {
  // Foreign tenants' objects answer exactly like missing ones: existence is not leaked.
  refuse(404, "invalid_request_error", "not_found", "No " + what + " " + id);
}
[[noreturn]] inline void forbidden(std::string message) {
  refuse(403, "permission_error", "permission_denied", std::move(message));
}
[[noreturn]] inline void conflict(std::string message, std::string code = "conflict") {
  refuse(409, "invalid_request_error", std::move(code), std::move(message));
}

/// The signed-in user and what their role lets them reach.
struct Actor {
  User user;
  bool system() const { return user.role == Role::kSystemAdmin; }
  bool admin() const { return user.role != Role::kMember; }
  /// May see this tenant's objects.
  bool reaches(const std::string& tenant_id) const {
    return system() || user.tenant_id == tenant_id;
  }
};

/// Request body helpers: typed fields with the field's name in every complaint.
class Body {
 public:
  explicit Body(const std::string& text) {
    if (text.empty()) {
      j_ = json::object();
      return;
    }
    j_ = json::parse(text, nullptr, false);
    if (j_.is_discarded() || !j_.is_object()) {
      badRequest("The request body must be a JSON object", "invalid_json");
    }
  }
  bool has(const char* k) const { return j_.contains(k) && !j_[k].is_null(); }
  /// Present, even as null (null can mean "remove it").
  bool present(const char* k) const { return j_.contains(k); }
  /// A field as sent (null when absent), for values that are JSON themselves.
  const json& raw(const char* k) const {
    static const json kNull;
    return j_.contains(k) ? j_[k] : kNull;
  }
  std::string str(const char* k, bool required = false, const std::string& fallback = "") const {
    if (!has(k)) {
      if (required) {
        badRequest(std::string("'") + k + "' is required", "missing_field");
      }
      return fallback;
    }
    if (!j_[k].is_string()) {
      badRequest(std::string("'") + k + "' must be a string", "invalid_type");
    }
    return j_[k].get<std::string>();
  }
  int64_t integer(const char* k, int64_t fallback) const {
    if (!has(k)) {
      return fallback;
    }
    if (!j_[k].is_number_integer()) {
      badRequest(std::string("'") + k + "' must be an integer", "invalid_type");
    }
    return j_[k].get<int64_t>();
  }
  bool boolean(const char* k, bool fallback) const {
    if (!has(k)) {
      return fallback;
    }
    if (!j_[k].is_boolean()) {
      badRequest(std::string("'") + k + "' must be a boolean", "invalid_type");
    }
    return j_[k].get<bool>();
  }
  std::vector<std::string> list(const char* k, const std::vector<std::string>& fallback) const {
    if (!has(k)) {
      return fallback;
    }
    std::vector<std::string> out;
    if (j_[k].is_array()) {
      for (const auto& v : j_[k]) {
        if (!v.is_string()) {
          out.clear();
          break;
        }
        out.push_back(v.get<std::string>());
      }
    }
    if (out.empty()) {
      badRequest(std::string("'") + k + "' must be a non-empty array of strings", "invalid_type");
    }
    return out;
  }
  /// A JSON object field as it came; the caller validates its members.
  json object(const char* k, const json& fallback) const {
    if (!has(k)) {
      return fallback;
    }
    if (!j_[k].is_object()) {
      badRequest(std::string("'") + k + "' must be an object", "invalid_type");
    }
    return j_[k];
  }

 private:
  json j_;
};

inline std::string requireName(const std::string& name, const char* field) {
  if (name.empty() || name.size() > 128) {
    badRequest(std::string("'") + field + "' must be 1-128 characters", "invalid_name");
  }
  return name;
}

inline void requirePassword(const std::string& password) {
  if (password.size() < 8 || password.size() > 1024) {
    badRequest("'password' must be 8-1024 characters", "weak_password");
  }
}

/// Mount points must not shadow the gateway's own endpoints.
inline void requireApiPath(const std::string& path, const std::string& version) {
  auto segmentOk = [](const std::string& s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
      return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
  };
  if (path.size() < 2 || path[0] != '/' || path.back() == '/' || path.size() > 256) {
    badRequest("'path' must start with '/', not end with one, and be at most 256 characters",
               "invalid_path");
  }
  size_t start = 1;
  while (start <= path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    if (!segmentOk(path.substr(start, end - start))) {
      badRequest("'path' segments are [A-Za-z0-9-_.] and not empty", "invalid_path");
    }
    start = end + 1;
  }
  const std::string first = path.substr(
      1, path.find('/', 1) == std::string::npos ? std::string::npos : path.find('/', 1) - 1);
  static const std::set<std::string> kReserved = {"v1",   "healthz",    "readyz", "admin",
                                                  "chat", "embeddings", "models", "metrics"};
  if (kReserved.count(first) != 0) {
    badRequest("'path' must not start with /" + first + ": the gateway serves it", "reserved_path");
  }
  if (!segmentOk(version) || version.size() > 32) {
    badRequest("'version' must be 1-32 characters of [A-Za-z0-9-_.]", "invalid_version");
  }
}

inline std::vector<std::string> segments(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < path.size()) {
    const size_t end = std::min(path.find('/', start), path.size());
    if (end > start) {
      out.push_back(path.substr(start, end - start));
    }
    start = end + 1;
  }
  return out;
}

inline json list(const std::string& kind, json data) {
  return {{"object", "list"}, {"kind", kind}, {"data", std::move(data)}};
}

template <typename T, typename Keep>
json listOf(const std::vector<T>& items, Keep keep) {
  json out = json::array();
  for (const auto& item : items) {
    if (keep(item)) {
      out.push_back(toJson(item));
    }
  }
  return out;
}

/// The catalog's rule: published and deprecated APIs, every tenant's public ones and the
/// actor's own private ones.
inline bool catalogShows(const Actor& actor, const Api& a) {
  return (a.state == ApiState::kPublished || a.state == ApiState::kDeprecated) &&
         (a.visibility == "public" || actor.reaches(a.tenant_id));
}

/// Where a catalog entry's OpenAPI document is served (on the admin port).
inline std::string catalogDocumentUrl(const std::string& api_id) {
  return "/admin/v1/catalog/" + api_id + "/openapi";
}

/// The path segments are `pattern` ("*" matches any one segment) and the method is `m`.
inline bool matches(const std::vector<std::string>& seg, const std::string& method,
                    std::initializer_list<const char*> pattern, const char* m) {
  if (seg.size() != pattern.size() || method != m) {
    return false;
  }
  size_t i = 0;
  for (const char* p : pattern) {
    if (std::string(p) != "*" && seg[i] != p) {
      return false;
    }
    ++i;
  }
  return true;
}

/// One admin request after sign-in, as an endpoint family sees it. Families (admin_api.cc's
/// core entities, quotas, prompts, ...) each get the call in turn; the first that recognises
/// the path answers it.
struct AdminCall {
  const HttpRequest& request;
  const std::vector<std::string>& seg;  ///< path segments after /admin/v1
  const std::map<std::string, std::string>& query;
  const Body& body;
  const Actor& actor;
  Store& store;
  int64_t now;
  HttpResponseWriter& response;

  const std::string& method() const { return request.method; }
  std::string at(size_t i) const { return i < seg.size() ? seg[i] : std::string(); }
  bool is(std::initializer_list<const char*> pattern, const char* m) const {
    return matches(seg, request.method, pattern, m);
  }
  void send(int status, const json& body_out) const {
    response.send(status, "application/json",
                  body_out.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  /// Appends an audit entry by the signed-in user; Store::write persists it with the change.
  void audit(std::vector<AuditEntry>& log, const std::string& tenant_id, const std::string& action,
             const std::string& type, const std::string& id, json before, json after) const {
    log.push_back(AuditEntry{"", 0, actor.user.id, actor.user.email, tenant_id, action, type, id,
                             std::move(before), std::move(after)});
  }
  /// Which tenant a new object goes to: a system admin names it, everyone else gets their own.
  std::string targetTenant() const {
    const std::string t = body.str("tenant_id", false, actor.user.tenant_id);
    if (t.empty()) {
      badRequest("'tenant_id' is required", "missing_field");
    }
    if (!actor.reaches(t) || !store.tenant(t)) {
      notFound("tenant", t);
    }
    return t;
  }
  void requireAdmin(const std::string& what) const {
    if (!actor.admin()) {
      forbidden("Only a tenant admin may " + what);
    }
  }
  /// The tenant lists are narrowed to: a system admin's `?tenant_id=` (or all), else their own.
  std::string filterTenant() const {
    if (!actor.system()) {
      return actor.user.tenant_id;
    }
    auto it = query.find("tenant_id");
    return it == query.end() ? std::string() : it->second;
  }
};

/// An endpoint family: answers the call and returns true, or returns false when the path is
/// not its own. May throw Refusal (and the store's errors); AdminApi::handle turns them into
/// OpenAI-shaped answers.
using AdminFamily = std::function<bool(const AdminCall&)>;

}  // namespace switchyard::admin
