#include "switchyard/log/body_log.h"

#include <re2/re2.h>

#include <algorithm>
#include <cctype>
#include <nlohmann/json.hpp>

#include "switchyard/config/config.h"

namespace switchyard {
namespace {

using nlohmann::json;
using nlohmann::ordered_json; // keeps the body's key order in what the record shows

constexpr size_t kMinSecretLength = 6; // shorter "secrets" would redact ordinary text
constexpr size_t kMaxBodyBytesLimit = 64u * 1024 * 1024;

[[noreturn]] void fail(const std::string& where, const std::string& what) {
  throw ConfigError(where + ": " + what);
}

bool boolAt(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    return false;
  }
  if (!it->is_boolean()) {
    fail(where + "." + key, "must be a boolean");
  }
  return it->get<bool>();
}

std::vector<std::string> stringsAt(const json& obj, const char* key, const std::string& where) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end()) {
    return out;
  }
  if (!it->is_array()) {
    fail(where + "." + key, "must be an array of strings");
  }
  for (const auto& v : *it) {
    if (!v.is_string() || v.get_ref<const std::string&>().empty()) {
      fail(where + "." + key, "must be an array of non-empty strings");
    }
    out.push_back(v.get<std::string>());
  }
  return out;
}

std::vector<std::string> splitPath(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    const size_t dot = path.find('.', start);
    parts.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) {
      return parts;
    }
    start = dot + 1;
  }
}

bool isIndex(const std::string& s, size_t* index) {
  if (s.empty() || s.size() > 9 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return false;
  }
  *index = std::stoul(s);
  return true;
}

/// Replaces every value the path reaches; true if any was replaced.
bool redactPath(ordered_json& node, const std::vector<std::string>& path, size_t depth) {
  if (depth == path.size()) {
    node = BodyLogPolicy::kRedacted;
    return true;
  }
  const std::string& part = path[depth];
  bool any = false;
  if (node.is_object()) {
    if (part == "*") {
      for (auto& [k, child] : node.items()) {
        any = redactPath(child, path, depth + 1) || any;
      }
    } else if (auto it = node.find(part); it != node.end()) {
      any = redactPath(*it, path, depth + 1);
    }
  } else if (node.is_array()) {
    size_t index = 0;
    if (part == "*") {
      for (auto& child : node) {
        any = redactPath(child, path, depth + 1) || any;
      }
    } else if (isIndex(part, &index) && index < node.size()) {
      any = redactPath(node[index], path, depth + 1);
    }
  }
  return any;
}

void replaceAll(std::string& text, std::string_view what, std::string_view with) {
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + with.size())) {
    text.replace(at, what.size(), with);
  }
}

void redactText(const BodyLogPolicy& policy, std::string& text, const std::vector<std::string_view>& secrets) {
  for (const auto& re : policy.compiled_patterns) {
    RE2::GlobalReplace(&text, *re, BodyLogPolicy::kRedacted);
  }
  for (std::string_view s : secrets) {
    if (s.size() >= kMinSecretLength) {
      replaceAll(text, s, BodyLogPolicy::kRedacted);
    }
  }
}

/// Cuts at most `max` bytes without splitting a UTF-8 sequence.
bool capUtf8(std::string& text, size_t max) {
  if (text.size() <= max) {
    return false;
  }
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
    --cut;
  }
  text.resize(cut);
  return true;
}

} // namespace

std::shared_ptr<const BodyLogPolicy> BodyLogPolicy::parse(const json& config, const std::string& where) {
  if (!config.is_object()) {
    fail(where, "must be an object");
  }
  for (const auto& [key, value] : config.items()) {
    static const char* kKnown[] = {"request", "response", "headers", "max_bytes", "redact_json_paths",
                                   "redact_patterns"};
    if (std::none_of(std::begin(kKnown), std::end(kKnown), [&](const char* k) { return key == k; })) {
      fail(where, "unknown field \"" + key + "\"");
    }
  }
  auto policy = std::make_shared<BodyLogPolicy>();
  policy->request = boolAt(config, "request", where);
  policy->response = boolAt(config, "response", where);
  policy->headers = boolAt(config, "headers", where);
  if (auto it = config.find("max_bytes"); it != config.end()) {
    if (!it->is_number_integer() || it->get<int64_t>() < 1 || it->get<int64_t>() > int64_t(kMaxBodyBytesLimit)) {
      fail(where + ".max_bytes", "must be an integer between 1 and " + std::to_string(kMaxBodyBytesLimit));
    }
    policy->max_bytes = it->get<size_t>();
  }
  for (const auto& path : stringsAt(config, "redact_json_paths", where)) {
    auto parts = splitPath(path);
    if (std::any_of(parts.begin(), parts.end(), [](const std::string& p) { return p.empty(); })) {
      fail(where + ".redact_json_paths", "\"" + path + "\" has an empty segment");
    }
    policy->redact_json_paths.push_back(std::move(parts));
  }
  policy->redact_patterns = stringsAt(config, "redact_patterns", where);
  for (const auto& pattern : policy->redact_patterns) {
    RE2::Options options;
    options.set_log_errors(false);
    auto re = std::make_shared<const RE2>(pattern, options);
    if (!re->ok()) {
      fail(where + ".redact_patterns", "\"" + pattern + "\" is not a valid RE2 pattern: " + re->error());
    }
    policy->compiled_patterns.push_back(std::move(re));
  }
  return policy;
}

CapturedBody BodyLogPolicy::capture(std::string_view body, const std::vector<std::string_view>& secrets) const {
  CapturedBody out;
  if (!redact_json_paths.empty()) {
    ordered_json doc = ordered_json::parse(body, nullptr, false);
    bool changed = false;
    if (!doc.is_discarded()) {
      for (const auto& path : redact_json_paths) {
        changed = redactPath(doc, path, 0) || changed;
      }
    }
    if (changed) {
      out.text = doc.dump(-1, ' ', false, ordered_json::error_handler_t::replace);
    }
  }
  if (out.text.empty()) {
    out.text.assign(body);
  }
  // Patterns and secrets run on a little more than the cap keeps, so that text cut at the
  // cap cannot leave a secret's beginning unredacted, and a huge body costs no more than that.
  constexpr size_t kOverlap = 4096;
  if (out.text.size() > max_bytes + kOverlap) {
    out.text.resize(max_bytes + kOverlap);
    out.truncated = true;
  }
  redactText(*this, out.text, secrets);
  out.truncated = capUtf8(out.text, max_bytes) || out.truncated;
  return out;
}

HeaderList BodyLogPolicy::captureHeaders(const HeaderList& headers, const std::vector<std::string_view>& secrets) const {
  HeaderList out;
  for (const auto& [name, value] : headers) {
    if (isCredentialHeader(name)) {
      continue;
    }
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
    std::string v = value;
    redactText(*this, v, secrets);
    capUtf8(v, max_bytes);
    out.emplace_back(std::move(lower), std::move(v));
  }
  return out;
}

bool BodyLogPolicy::isCredentialHeader(std::string_view name) {
  std::string lower(name);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  // By fragment, not by a list of names: providers and auth schemes invent new ones
  // (x-goog-api-key, api-key, x-amz-security-token, x-auth-token …).
  for (const char* fragment : {"auth", "key", "token", "secret", "cookie", "password", "credential", "session",
                               "signature"}) {
    if (lower.find(fragment) != std::string::npos) {
      return true;
    }
  }
  return false;
}

} // namespace switchyard
