#include "switchyard/log/call_record.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <system_error>

namespace switchyard {

namespace {

/// The usual USAGE payload, a flat object of integer counts and booleans (what the first-party
/// providers emit), read without a DOM. False for anything else (nested objects, other
/// values, escapes, spacing quirks are fine but malformed text is not): the DOM read decides.
bool flatUsage(std::string_view text, TokenUsage& t) {
  const char* p = text.data();
  const char* end = p + text.size();
  auto space = [&] {
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t')) {
      ++p;
    }
  };
  bool saw_cached = false;
  bool saw_reasoning = false;
  auto field = [&](std::string_view key) -> int64_t* {
    if (key == "prompt_tokens") {
      return &t.prompt_tokens;
    }
    if (key == "completion_tokens") {
      return &t.completion_tokens;
    }
    if (key == "total_tokens") {
      return &t.total_tokens;
    }
    if (key == "cache_creation_tokens") {
      return &t.cache_creation_tokens;
    }
    if (key == "cached_tokens") {
      saw_cached = true;
      return &t.cached_tokens;
    }
    if (key == "reasoning_tokens") {
      saw_reasoning = true;
      return &t.reasoning_tokens;
    }
    return nullptr;
  };
  space();
  if (p == end || *p != '{') {
    return false;
  }
  ++p;
  space();
  if (p < end && *p == '}') {
    ++p;
  } else {
    for (;;) {
      if (p == end || *p != '"') {
        return false;
      }
      const char* key_start = ++p;
      while (p < end && *p != '"') {
        const auto c = static_cast<unsigned char>(*p);
        if (c < 0x20 || c >= 0x80 || c == '\\') {
          return false;
        }
        ++p;
      }
      if (p == end) {
        return false;
      }
      const std::string_view key(key_start, static_cast<size_t>(p - key_start));
      ++p;
      space();
      if (p == end || *p != ':') {
        return false;
      }
      ++p;
      space();
      if (p == end) {
        return false;
      }
      if (*p == 't' || *p == 'f') {
        const bool v = *p == 't';
        const std::string_view word = v ? "true" : "false";
        if (static_cast<size_t>(end - p) < word.size() || std::string_view(p, word.size()) != word) {
          return false;
        }
        p += word.size();
        if (key == "estimated") {
          t.estimated = v;
        } else if (int64_t* f = field(key)) {
          *f = 0; // not an integer: counts 0, as the DOM read has it
        }
      } else {
        // An integer: JSON's grammar, no fraction or exponent (those go to the DOM read).
        const char* start = p;
        if (*p == '-') {
          ++p;
        }
        if (p == end || *p < '0' || *p > '9' || (*p == '0' && p + 1 < end && p[1] >= '0' && p[1] <= '9')) {
          return false;
        }
        while (p < end && *p >= '0' && *p <= '9') {
          ++p;
        }
        if (p < end && (*p == '.' || *p == 'e' || *p == 'E')) {
          return false;
        }
        int64_t v = 0;
        if (*start == '-') {
          auto r = std::from_chars(start, p, v);
          if (r.ec != std::errc() || r.ptr != p) {
            return false;
          }
        } else {
          uint64_t u = 0;
          auto r = std::from_chars(start, p, u);
          if (r.ec != std::errc() || r.ptr != p) {
            return false;
          }
          v = static_cast<int64_t>(u); // past INT64_MAX wraps negative, as get<int64_t>() does
        }
        if (int64_t* f = field(key)) {
          *f = std::max<int64_t>(0, v);
        } else if (key == "estimated") {
          t.estimated = false; // not a boolean
        }
      }
      space();
      if (p == end) {
        return false;
      }
      if (*p == ',') {
        ++p;
        space();
        continue;
      }
      if (*p != '}') {
        return false;
      }
      ++p;
      break;
    }
  }
  space();
  if (p != end) {
    return false;
  }
  // Without the flat keys the DOM read looks in the nested details, which this never has.
  if (!saw_cached) {
    t.cached_tokens = 0;
  }
  if (!saw_reasoning) {
    t.reasoning_tokens = 0;
  }
  if (t.total_tokens == 0) {
    t.total_tokens = t.prompt_tokens + t.completion_tokens;
  }
  return true;
}

} // namespace

std::optional<TokenUsage> TokenUsage::fromJson(std::string_view payload) {
  if (TokenUsage fast; flatUsage(payload, fast)) {
    return fast;
  }
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

namespace {

/// Appends JSON text straight into one string. The record used to be built as an nlohmann::json
/// object and dumped: ~120k instructions a call, most of it allocating and freeing the tree.
/// The output is byte for byte what that dump gave: keys in std::map (sorted) order, numbers
/// formatted by nlohmann's own routines, strings escaped as nlohmann escapes them.
class RecordWriter {
public:
  /// Writes into `out` through a cursor; `out` holds the text once finish() has run.
  explicit RecordWriter(std::string& out, size_t expected) : out_(out) { out_.resize(expected); }

  void finish() { out_.resize(pos_); }

  /// A key the code names: plain ASCII, so it needs no escaping.
  RecordWriter& key(std::string_view k) {
    char* p = room(k.size() + 4);
    if (!first_) {
      *p++ = ',';
    }
    *p++ = '"';
    std::memcpy(p, k.data(), k.size());
    p += k.size();
    *p++ = '"';
    *p++ = ':';
    done(p);
    first_ = true; // the value that follows needs no comma
    return *this;
  }
  /// A key from the call (a header name): escaped like any string.
  RecordWriter& anyKey(std::string_view k) {
    comma();
    string(k);
    put(':');
    first_ = true;
    return *this;
  }
  void open() {
    comma();
    put('{');
    first_ = true;
  }
  void close() {
    put('}');
    first_ = false;
  }
  void openArray() {
    comma();
    put('[');
    first_ = true;
  }
  void closeArray() {
    put(']');
    first_ = false;
  }
  void value(std::string_view s) {
    comma();
    string(s);
  }
  void value(bool b) {
    comma();
    raw(b ? std::string_view("true") : std::string_view("false"));
  }
  void value(int64_t n) {
    comma();
    char* p = room(24);
    done(std::to_chars(p, p + 24, n).ptr);
  }
  void value(int n) { value(static_cast<int64_t>(n)); }
  void value(double x) {
    comma();
    if (!std::isfinite(x)) {
      raw("null");
      return;
    }
    char* p = room(64); // nlohmann's serializer formats into 64 bytes too
    done(nlohmann::detail::to_chars(p, p + 64, x));
  }

private:
  /// Makes sure `n` more bytes fit and returns where they go; done() moves the cursor.
  char* room(size_t n) {
    if (pos_ + n > out_.size()) {
      out_.resize(std::max(out_.size() * 2, pos_ + n));
    }
    return out_.data() + pos_;
  }
  void done(const char* end) { pos_ = static_cast<size_t>(end - out_.data()); }
  void put(char c) { *room(1) = c, ++pos_; }
  void raw(std::string_view s) {
    if (!s.empty()) { // an empty view may have no storage, and memcpy must not see null
      std::memcpy(room(s.size()), s.data(), s.size());
    }
    pos_ += s.size();
  }
  void comma() {
    if (!first_) {
      put(',');
    }
    first_ = false;
  }
  /// nlohmann's escaping (ensure_ascii off): printable ASCII as is, the short escapes, other
  /// control characters as \u00xx. Text with non-ASCII bytes goes through nlohmann itself, which
  /// also replaces invalid UTF-8.
  void string(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\') {
        break;
      }
      ++i;
    }
    if (i == s.size()) { // the usual case: copied at once
      char* p = room(s.size() + 2);
      *p++ = '"';
      if (!s.empty()) {
        std::memcpy(p, s.data(), s.size());
      }
      p += s.size();
      *p++ = '"';
      done(p);
      return;
    }
    for (size_t j = i; j < s.size(); ++j) {
      if (static_cast<unsigned char>(s[j]) >= 0x80) {
        raw(nlohmann::json(std::string(s)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
        return;
      }
    }
    char* p = room(s.size() * 6 + 2); // at worst every byte becomes \u00xx
    *p++ = '"';
    std::memcpy(p, s.data(), i);
    p += i;
    for (; i < s.size(); ++i) {
      const auto c = static_cast<unsigned char>(s[i]);
      if (c >= 0x20 && c != '"' && c != '\\') {
        *p++ = static_cast<char>(c);
        continue;
      }
      *p++ = '\\';
      switch (c) {
      case '"': *p++ = '"'; break;
      case '\\': *p++ = '\\'; break;
      case '\b': *p++ = 'b'; break;
      case '\f': *p++ = 'f'; break;
      case '\n': *p++ = 'n'; break;
      case '\r': *p++ = 'r'; break;
      case '\t': *p++ = 't'; break;
      default: {
        static constexpr char kHex[] = "0123456789abcdef";
        *p++ = 'u';
        *p++ = '0';
        *p++ = '0';
        *p++ = kHex[c >> 4];
        *p++ = kHex[c & 0xF];
      }
      }
    }
    *p++ = '"';
    done(p);
  }

  std::string& out_;
  size_t pos_ = 0;
  bool first_ = true;
};

} // namespace

std::string CallRecord::toJson() const {
  std::string out;
  size_t bodies = (request_body ? request_body->size() : 0) + (response_body ? response_body->size() : 0);
  RecordWriter w(out, 1024 + bodies + bodies / 8);
  // Keys in sorted order: sinks have always received the record as nlohmann::json (std::map) dumped it.
  w.open();
  w.key("api").value(api);
  if (!attempts.empty()) {
    w.key("attempts").openArray();
    for (const auto& a : attempts) {
      w.open();
      w.key("ms").value(a.ms);
      w.key("outcome").value(a.outcome);
      w.key("target").value(a.target);
      w.key("upstream_status").value(a.upstream_status);
      w.close();
    }
    w.closeArray();
  }
  w.key("client_address").value(client_address);
  if (cost) {
    w.key("cost").open();
    w.key("cache_creation_usd").value(cost->cache_creation_usd);
    w.key("cached_usd").value(cost->cached_usd);
    w.key("catalog_id").value(cost->catalog_id);
    w.key("input_usd").value(cost->input_usd);
    w.key("output_usd").value(cost->output_usd);
    w.key("price_date").value(cost->price_date);
    w.key("total_usd").value(cost->total_usd);
    w.close();
    w.key("cost_usd").value(cost->total_usd);
  }
  w.key("end_unix_ms").value(end_unix_ms);
  w.key("endpoint").value(endpoint);
  if (error) {
    w.key("error").open();
    w.key("code").value(error->code);
    w.key("message").value(error->message);
    w.key("type").value(error->type);
    w.close();
  }
  w.key("gateway_overhead_ms").value(std::max(0.0, latency_ms - upstream_ms.value_or(0.0)));
  w.key("latency_ms").value(latency_ms);
  if (!method.empty()) {
    w.key("method").value(method);
  }
  w.key("model").value(model);
  w.key("operation").value(operation);
  if (partial) {
    w.key("partial").value(true);
  }
  w.key("principal").open();
  w.key("app").value(principal.app);
  w.key("key_id").value(principal.key_id);
  w.key("tenant").value(principal.tenant);
  w.close();
  w.key("provider").value(provider);
  w.key("provider_type").value(provider_type);
  if (request_body) {
    w.key("request_body").value(*request_body);
    if (request_body_truncated) {
      w.key("request_body_truncated").value(true);
    }
  }
  if (request_headers) {
    // A repeated header name keeps its last value, as assigning into the json object did.
    std::vector<const std::pair<std::string, std::string>*> sorted;
    sorted.reserve(request_headers->size());
    for (const auto& h : *request_headers) {
      sorted.push_back(&h);
    }
    std::stable_sort(sorted.begin(), sorted.end(), [](const auto* a, const auto* b) { return a->first < b->first; });
    w.key("request_headers").open();
    for (size_t i = 0; i < sorted.size(); ++i) {
      if (i + 1 < sorted.size() && sorted[i + 1]->first == sorted[i]->first) {
        continue;
      }
      w.anyKey(sorted[i]->first).value(sorted[i]->second);
    }
    w.close();
  }
  w.key("request_id").value(request_id);
  if (response_body) {
    w.key("response_body").value(*response_body);
    if (response_body_truncated) {
      w.key("response_body_truncated").value(true);
    }
  }
  if (!flags.empty()) {
    w.key("response_flags").openArray();
    for (const auto& f : flags) {
      w.value(f);
    }
    w.closeArray();
  }
  w.key("schema").value(std::string_view("switchyard.call.v1"));
  w.key("start_unix_ms").value(start_unix_ms);
  w.key("status").value(status);
  w.key("stream").value(stream);
  if (ttfb_ms) {
    w.key("ttfb_ms").value(*ttfb_ms);
  }
  if (ttft_ms) {
    w.key("ttft_ms").value(*ttft_ms);
  }
  if (!upstream_failure.empty()) {
    w.key("upstream_failure").value(upstream_failure);
  }
  w.key("upstream_model").value(upstream_model);
  if (upstream_ms) {
    w.key("upstream_ms").value(*upstream_ms);
  }
  w.key("upstream_status").value(upstream_status);
  if (usage) {
    w.key("usage").open();
    w.key("cache_creation_tokens").value(usage->cache_creation_tokens);
    w.key("cached_tokens").value(usage->cached_tokens);
    w.key("completion_tokens").value(usage->completion_tokens);
    w.key("estimated").value(usage->estimated);
    w.key("prompt_tokens").value(usage->prompt_tokens);
    w.key("reasoning_tokens").value(usage->reasoning_tokens);
    w.key("total_tokens").value(usage->total_tokens);
    w.close();
  }
  w.close();
  w.finish();
  return out;
}

} // namespace switchyard
