/// @file switchyard/prometheus.hpp
/// @brief Header-only writer of the Prometheus text exposition format 0.0.4, and a
/// fixed-bucket histogram to expose with it.
///
/// Shared by the core's /metrics endpoint and by analytics plugins that answer
/// {"format":"prometheus"} queries, so both escape and format numbers the same way.
#pragma once

#include <charconv>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard {
namespace prometheus {

using Labels = std::vector<std::pair<std::string, std::string>>;

/// A sample value: integers as integers, others in the shortest form that reads back exactly;
/// NaN and infinities in the spelling Prometheus expects.
inline std::string formatValue(double v) {
  if (std::isnan(v)) {
    return "NaN";
  }
  if (std::isinf(v)) {
    return v > 0 ? "+Inf" : "-Inf";
  }
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    const auto r = std::to_chars(buf, buf + sizeof buf, static_cast<int64_t>(v));
    return std::string(buf, r.ptr);
  }
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

/// Label values escape backslash, double quote and line feed; nothing else.
inline void appendLabelValue(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

/// HELP text escapes backslash and line feed.
inline void appendHelp(std::string& out, std::string_view help) {
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
}

/// Replaces every character a metric or label name may not hold with '_' (and a leading digit).
inline std::string sanitizeName(std::string_view name) {
  std::string out;
  out.reserve(name.size());
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == ':';
    out += ok ? c : '_';
  }
  if (out.empty() || (out[0] >= '0' && out[0] <= '9')) {
    out.insert(out.begin(), '_');
  }
  return out;
}

/// Appends families to one exposition. Call family() once per metric name, then its samples.
class Writer {
 public:
  void family(std::string_view name, std::string_view type, std::string_view help) {
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    appendHelp(text_, help);
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += ' ';
    text_ += type;
    text_ += '\n';
  }

  /// One sample line; labels with an empty value are left out (the same series to Prometheus).
  void sample(std::string_view name, const Labels& labels, double value,
              std::pair<std::string_view, std::string_view> extra = {}) {
    text_ += name;
    bool open = false;
    const auto label = [&](std::string_view k, std::string_view v) {
      if (v.empty()) {
        return;
      }
      text_ += open ? ',' : '{';
      open = true;
      text_ += k;
      text_ += "=\"";
      appendLabelValue(text_, v);
      text_ += '"';
    };
    for (const auto& [k, v] : labels) {
      label(k, v);
    }
    label(extra.first, extra.second);
    if (open) {
      text_ += '}';
    }
    text_ += ' ';
    text_ += formatValue(value);
    text_ += '\n';
  }

  const std::string& text() const { return text_; }
  std::string take() { return std::move(text_); }

 private:
  std::string text_;
};

/// A cumulative histogram over fixed upper bounds (ascending), as Prometheus exposes it.
class FixedHistogram {
 public:
  FixedHistogram() = default;
  explicit FixedHistogram(const std::vector<double>* bounds)
      : bounds_(bounds), counts_(bounds->size() + 1, 0) {}

  void observe(double v) {
    if (bounds_ == nullptr || std::isnan(v)) {
      return;
    }
    size_t i = 0;
    while (i < bounds_->size() && v > (*bounds_)[i]) {
      ++i;
    }
    ++counts_[i];
    sum_ += v;
    ++count_;
  }

  /// Writes name_bucket (cumulative, ending with le="+Inf"), name_sum and name_count.
  void write(Writer& w, std::string_view name, const Labels& labels) const {
    if (bounds_ == nullptr) {
      return;
    }
    const std::string bucket = std::string(name) + "_bucket";
    uint64_t cumulative = 0;
    for (size_t i = 0; i < bounds_->size(); ++i) {
      cumulative += counts_[i];
      const std::string le = formatValue((*bounds_)[i]);
      w.sample(bucket, labels, static_cast<double>(cumulative), {"le", le});
    }
    w.sample(bucket, labels, static_cast<double>(count_), {"le", "+Inf"});
    w.sample(std::string(name) + "_sum", labels, sum_);
    w.sample(std::string(name) + "_count", labels, static_cast<double>(count_));
  }

  uint64_t count() const { return count_; }

 private:
  const std::vector<double>* bounds_ = nullptr;
  std::vector<uint64_t> counts_;
  double sum_ = 0;
  uint64_t count_ = 0;
};

}  // namespace prometheus
}  // namespace switchyard
