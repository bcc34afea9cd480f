// Analytics "stats": since-start aggregates of call records per model and per principal, with
// latency and time-to-first-byte percentiles from fixed log-bucket histograms, so memory per
// group is constant however many calls are observed.
#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <system_error>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <switchyard/json_scan.hpp>
#include <switchyard/sdk.hpp>
#include <vector>

namespace switchyard {
namespace stats {
namespace {

using Json = nlohmann::json;

sdk::Error configError(std::string message) {
  return sdk::Error(400, "invalid_request_error", "invalid_config",
                    "stats analytics config: " + std::move(message));
}

/// Log-bucketed histogram of millisecond durations. Bucket i >= 1 holds
/// (kMinMs * kGamma^(i-1), kMinMs * kGamma^i]; reporting 2lu/(l+u) for a bucket [l,u] bounds
/// the relative error by (kGamma-1)/(kGamma+1), about 2%. Values outside [kMinMs, 1e8] land
/// in the edge buckets, and answers are clamped to the exact observed min and max.
class LogHistogram {
 public:
  void add(double ms) {
    if (!(ms >= 0) || std::isinf(ms)) {
      return;  // NaN, negative, infinite: not a duration
    }
    ++counts_[bucketOf(ms)];
    min_ = count_ == 0 ? ms : std::min(min_, ms);
    max_ = count_ == 0 ? ms : std::max(max_, ms);
    ++count_;
  }

  std::optional<double> quantile(double q) const {
    if (count_ == 0) {
      return std::nullopt;
    }
    const auto rank = std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * count_)));
    uint64_t seen = 0;
    for (size_t i = 0; i < counts_.size(); ++i) {
      seen += counts_[i];
      if (seen >= rank) {
        // The last bucket is open-ended; its only honest bound is the observed maximum.
        return i == kBuckets - 1 ? max_ : std::clamp(representative(i), min_, max_);
      }
    }
    return max_;
  }

 private:
  static constexpr double kGamma = 1.04;
  static constexpr double kMinMs = 1e-3;
  // Bucket 0, then ceil(log(1e8 / kMinMs) / log(kGamma)) = 646 buckets up to 1e8 ms (~28 h);
  // the last one also takes everything longer.
  static constexpr size_t kBuckets = 647;

  static size_t bucketOf(double ms) {
    if (ms <= kMinMs) {
      return 0;
    }
    const double i = std::ceil(std::log(ms / kMinMs) / std::log(kGamma));
    return static_cast<size_t>(std::clamp(i, 1.0, static_cast<double>(kBuckets - 1)));
  }
  static double representative(size_t i) {
    if (i == 0) {
      return kMinMs;
    }
    const double upper = kMinMs * std::pow(kGamma, static_cast<double>(i));
    const double lower = upper / kGamma;
    return 2 * lower * upper / (lower + upper);
  }

  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  double min_ = 0;
  double max_ = 0;
};

struct Aggregate {
  uint64_t requests = 0;
  uint64_t errors = 0;
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  uint64_t total_tokens = 0;
  LogHistogram latency_ms;
  LogHistogram ttfb_ms;
};

/// What one record contributes, extracted before taking the lock.
struct Observation {
  std::string model;
  std::string principal;
  bool error = false;
  uint64_t prompt_tokens = 0;
  uint64_t completion_tokens = 0;
  uint64_t total_tokens = 0;
  std::optional<double> latency_ms;
  std::optional<double> ttfb_ms;
};

/// Reads only the fields the aggregates need, without building a DOM: at thousands of calls a
/// second a full parse of every record (attempts and all) kept this module behind. `Text` is
/// std::string when nlohmann's SAX parser drives it (its strings do not outlive a callback)
/// and std::string_view into the record when FastScanner does.
template <class Text>
class RecordState {
 public:
  explicit RecordState(Observation& o) : o_(o) {}

  void string(std::string_view v) {
    if (depth_ == 1 && key_ == "model") {
      o_.model.assign(v);
    } else if (depth_ == 2 && parent_ == "principal") {
      if (key_ == "tenant") {
        tenant_ = v;
      } else if (key_ == "app") {
        app_ = v;
      } else if (key_ == "key_id") {
        key_id_ = v;
      }
    }
  }
  void start() {
    if (depth_ == 1) {
      parent_ = key_;
    }
    ++depth_;
  }
  void end() {
    if (--depth_ == 1) {
      parent_ = Text();
    }
  }
  void key(std::string_view k) { key_ = k; }
  /// Whether the number under the current key is read (the others need no conversion).
  bool wantsNumber() const {
    return depth_ == 1 || (depth_ == 2 && parent_ == "usage");
  }
  void number(double v) {
    const auto count = [&] { return v > 0 ? static_cast<uint64_t>(v) : 0; };
    if (depth_ == 1) {
      if (key_ == "status") {
        o_.error = v >= 400;
      } else if (key_ == "latency_ms") {
        o_.latency_ms = v;
      } else if (key_ == "ttfb_ms") {
        o_.ttfb_ms = v;
      }
    } else if (depth_ == 2 && parent_ == "usage") {
      if (key_ == "prompt_tokens") {
        o_.prompt_tokens = count();
      } else if (key_ == "completion_tokens") {
        o_.completion_tokens = count();
      } else if (key_ == "total_tokens") {
        o_.total_tokens = count();
        saw_total_ = true;
      }
    }
  }

  void finish() {
    if (o_.model.empty()) {
      o_.model = "unknown";
    }
    if (tenant_.empty() && app_.empty() && key_id_.empty()) {
      o_.principal = "anonymous";
    } else {
      o_.principal.reserve(tenant_.size() + app_.size() + key_id_.size() + 2);
      o_.principal.append(tenant_).append("/").append(app_).append("/").append(key_id_);
    }
    if (!saw_total_) {
      o_.total_tokens = o_.prompt_tokens + o_.completion_tokens;
    }
  }

 private:
  Observation& o_;
  int depth_ = 0;
  Text key_;
  Text parent_;
  Text tenant_, app_, key_id_;
  bool saw_total_ = false;
};

/// nlohmann's SAX events, for records FastScanner leaves to it.
class RecordReader : public nlohmann::json_sax<Json> {
 public:
  explicit RecordReader(Observation& o) : state_(o) {}

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t v) override { return number(static_cast<double>(v)); }
  bool number_unsigned(number_unsigned_t v) override { return number(static_cast<double>(v)); }
  bool number_float(number_float_t v, const string_t&) override { return number(v); }
  bool string(string_t& v) override {
    state_.string(v);
    return true;
  }
  bool binary(binary_t&) override { return true; }
  bool start_object(std::size_t) override {
    state_.start();
    return true;
  }
  bool end_object() override {
    state_.end();
    return true;
  }
  bool start_array(std::size_t) override {
    state_.start();
    return true;
  }
  bool end_array() override {
    state_.end();
    return true;
  }
  bool key(string_t& k) override {
    state_.key(k);
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

  void finish() { state_.finish(); }

 private:
  bool number(double v) {
    state_.number(v);
    return true;
  }

  RecordState<std::string> state_;
};

/// Feeds a RecordState the events nlohmann's SAX parser would, for the JSON the core writes:
/// plain-ASCII strings without escapes. nlohmann's lexer copies every byte into a token buffer
/// (for its error messages) and costs ~100 instructions a byte; this costs a few. Anything else
/// (an escape, a non-ASCII byte, malformed or very deep input) makes scan() return false, and
/// the caller parses the record again with nlohmann, which stays the judge of what is valid.
class FastScanner {
 public:
  FastScanner(std::string_view text, RecordState<std::string_view>& reader)
      : c_(text), reader_(reader) {}

  bool scan() {
    c_.skipSpace();
    if (!sdk::walkJson(c_, *this, kMaxDepth)) {
      return false;
    }
    c_.skipSpace();
    return c_.atEnd();
  }

  // sdk::walkJson's events. Strings must be plain: an escape or a non-ASCII byte goes to
  // nlohmann.
  bool startObject() { return reader_.start(), true; }
  bool startArray() { return reader_.start(), true; }
  bool end() { return reader_.end(), true; }
  bool key(const sdk::JsonString& k) { return k.plain() && (reader_.key(k.raw), true); }
  bool string(const sdk::JsonString& v) { return v.plain() && (reader_.string(v.raw), true); }
  bool boolean(bool) { return true; }
  bool null() { return true; }

  /// Integers that fit 64 bits are integers to nlohmann, the rest doubles; the state reads
  /// every number as a double, as RecordReader does.
  bool number(const sdk::JsonNumber& n) {
    double d = 0;
    if (n.kind == sdk::JsonNumber::Kind::kInt64) {
      d = static_cast<double>(n.i);
    } else if (n.kind == sdk::JsonNumber::Kind::kUint64) {
      d = static_cast<double>(n.u);
    } else if (auto r = std::from_chars(n.text.data(), n.text.data() + n.text.size(), d);
               r.ec != std::errc() || r.ptr != n.text.data() + n.text.size()) {
      return false;  // including overflow: nlohmann decides what an overflowing literal is
    }
    if (reader_.wantsNumber()) {
      reader_.number(d);
    }
    return true;
  }

 private:
  static constexpr int kMaxDepth = 256;  // deeper records go to nlohmann, which does not recurse

  sdk::JsonCursor c_;
  RecordState<std::string_view>& reader_;
};

std::optional<Observation> parseRecord(std::string_view text) {
  if (text.empty() || text.front() != '{') {
    return std::nullopt;
  }
  {
    Observation o;
    RecordState<std::string_view> state(o);
    if (FastScanner(text, state).scan()) {
      state.finish();
      return o;
    }
  }
  Observation o;
  RecordReader reader(o);
  if (!Json::sax_parse(text.begin(), text.end(), &reader)) {
    return std::nullopt;
  }
  reader.finish();
  return o;
}

Json percentiles(const LogHistogram& h) {
  Json out = Json::object();
  for (const auto& [name, q] : {std::pair{"p50", 0.50}, {"p90", 0.90}, {"p99", 0.99}}) {
    const auto v = h.quantile(q);
    out[name] = v ? Json(std::round(*v * 1000) / 1000) : Json(nullptr);
  }
  return out;
}

Json describe(const Aggregate& a) {
  return Json{{"requests", a.requests},           {"errors", a.errors},
              {"prompt_tokens", a.prompt_tokens}, {"completion_tokens", a.completion_tokens},
              {"total_tokens", a.total_tokens},   {"latency_ms", percentiles(a.latency_ms)},
              {"ttfb_ms", percentiles(a.ttfb_ms)}};
}

class StatsAnalytics : public sdk::AnalyticsModule {
 public:
  explicit StatsAnalytics(std::string_view config_text) : since_unix_ms_(sdk::Host::nowUnixMs()) {
    if (config_text.empty()) {
      return;
    }
    const Json config = Json::parse(config_text, nullptr, false);
    if (config.is_discarded() || !config.is_object()) {
      throw configError("must be a JSON object");
    }
    for (const auto& [key, value] : config.items()) {
      if (key == "max_groups") {
        if (!value.is_number_integer() || value.get<int64_t>() < 1) {
          throw configError("\"max_groups\" must be a positive integer");
        }
        max_groups_ = value.get<uint64_t>();
      } else {
        throw configError("unknown key \"" + key + "\" (allowed: max_groups)");
      }
    }
  }

  void observe(const std::vector<std::string_view>& records) override {
    std::vector<Observation> batch;
    batch.reserve(records.size());
    for (std::string_view text : records) {
      if (auto o = parseRecord(text)) {
        batch.push_back(std::move(*o));
      }
    }
    std::lock_guard<std::mutex> lock(mutex_);
    for (const Observation& o : batch) {
      apply(groupFor(models_, o.model), o);
      apply(groupFor(principals_, o.principal), o);
    }
  }

  sy_status query(std::string_view query_json, const sdk::Output& out) override {
    bool want_models = true;
    bool want_principals = true;
    if (!query_json.empty()) {
      const Json q = Json::parse(query_json, nullptr, false);
      if (q.is_discarded() || !q.is_object()) {
        out.setError(400, "invalid_request_error", "invalid_query",
                     "the query must be a JSON object");
        return SY_ERR_INVALID_ARG;
      }
      if (auto g = q.find("group_by"); g != q.end() && !g->is_null()) {
        const std::string group = g->is_string() ? g->get<std::string>() : g->dump();
        if (group == "model") {
          want_principals = false;
        } else if (group == "principal") {
          want_models = false;
        } else if (!group.empty()) {
          out.setError(400, "invalid_request_error", "invalid_group_by",
                       "group_by must be \"model\" or \"principal\"");
          return SY_ERR_INVALID_ARG;
        }
      }
    }
    Json answer = Json{{"since_unix_ms", since_unix_ms_}};
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (want_models) {
        answer["models"] = describeAll(models_);
      }
      if (want_principals) {
        answer["principals"] = describeAll(principals_);
      }
    }
    out.emit(SY_EVENT_QUERY_RESULT, answer.dump(-1, ' ', false, Json::error_handler_t::replace));
    return SY_OK;
  }

 private:
  using Groups = std::map<std::string, Aggregate, std::less<>>;

  /// Past max_groups new names share one "(other)" group, keeping memory bounded even if
  /// record fields come from an unbounded set.
  Aggregate& groupFor(Groups& groups, const std::string& name) {
    if (auto it = groups.find(name); it != groups.end()) {
      return it->second;
    }
    if (groups.size() >= max_groups_) {
      return groups["(other)"];
    }
    return groups[name];
  }

  static void apply(Aggregate& a, const Observation& o) {
    ++a.requests;
    a.errors += o.error ? 1 : 0;
    a.prompt_tokens += o.prompt_tokens;
    a.completion_tokens += o.completion_tokens;
    a.total_tokens += o.total_tokens;
    if (o.latency_ms) {
      a.latency_ms.add(*o.latency_ms);
    }
    if (o.ttfb_ms) {
      a.ttfb_ms.add(*o.ttfb_ms);
    }
  }

  static Json describeAll(const Groups& groups) {
    Json out = Json::object();
    for (const auto& [name, aggregate] : groups) {
      out[name] = describe(aggregate);
    }
    return out;
  }

  const int64_t since_unix_ms_;
  uint64_t max_groups_ = 10000;
  std::mutex mutex_;
  Groups models_;
  Groups principals_;
};

}  // namespace
}  // namespace stats
}  // namespace switchyard

SY_PLUGIN("stats", "1.0.0", "Switchyard", "In-memory call statistics",
          switchyard::sdk::analytics<switchyard::stats::StatsAnalytics>(
              "stats", "Requests, errors, tokens and latency percentiles per model and principal"))
