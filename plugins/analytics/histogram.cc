#include "histogram.h"

#include <algorithm>
#include <charconv>
#include <cmath>

namespace switchyard::analytics {
namespace {

double representative(int i) {
  if (i == 0) {
    return Histogram::kMinMs;
  }
  const double upper = Histogram::kMinMs * std::pow(Histogram::kGamma, static_cast<double>(i));
  const double lower = upper / Histogram::kGamma;
  return 2 * lower * upper / (lower + upper);
}

template <class T>
bool readNumber(std::string_view& text, char end, T& value) {
  const size_t stop = text.find(end);
  const std::string_view token = text.substr(0, stop);
  const auto r = std::from_chars(token.data(), token.data() + token.size(), value);
  if (r.ec != std::errc() || r.ptr != token.data() + token.size()) {
    return false;
  }
  text.remove_prefix(stop == std::string_view::npos ? text.size() : stop + 1);
  return true;
}

void appendNumber(std::string& out, double v) {
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr);
}

}  // namespace

int Histogram::bucketOf(double ms) {
  if (ms <= kMinMs) {
    return 0;
  }
  const double i = std::ceil(std::log(ms / kMinMs) / std::log(kGamma));
  return static_cast<int>(std::clamp(i, 1.0, static_cast<double>(kMaxBucket)));
}

void Histogram::add(double ms) {
  if (!(ms >= 0) || std::isinf(ms)) {
    return;  // NaN, negative, infinite: not a duration
  }
  ++buckets_[bucketOf(ms)];
  min_ = count_ == 0 ? ms : std::min(min_, ms);
  max_ = count_ == 0 ? ms : std::max(max_, ms);
  sum_ += ms;
  ++count_;
}

void Histogram::merge(const Histogram& other) {
  if (other.count_ == 0) {
    return;
  }
  for (const auto& [i, c] : other.buckets_) {
    buckets_[i] += c;
  }
  min_ = count_ == 0 ? other.min_ : std::min(min_, other.min_);
  max_ = count_ == 0 ? other.max_ : std::max(max_, other.max_);
  sum_ += other.sum_;
  count_ += other.count_;
}

std::optional<double> Histogram::quantile(double q) const {
  if (count_ == 0) {
    return std::nullopt;
  }
  const auto rank =
      std::max<uint64_t>(1, static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_))));
  uint64_t seen = 0;
  for (const auto& [i, c] : buckets_) {
    seen += c;
    if (seen >= rank) {
      // The last bucket is open-ended; its only honest bound is the observed maximum.
      return i == kMaxBucket ? max_ : std::clamp(representative(i), min_, max_);
    }
  }
  return max_;
}

std::string Histogram::serialize() const {
  std::string out = std::to_string(count_);
  for (double v : {sum_, min_, max_}) {
    out += ';';
    appendNumber(out, v);
  }
  out += ';';
  bool first = true;
  for (const auto& [i, c] : buckets_) {
    if (!first) {
      out += ',';
    }
    first = false;
    out += std::to_string(i);
    out += ':';
    out += std::to_string(c);
  }
  return out;
}

std::optional<Histogram> Histogram::parse(std::string_view text) {
  Histogram h;
  if (text.empty()) {
    return h;
  }
  if (!readNumber(text, ';', h.count_) || !readNumber(text, ';', h.sum_) ||
      !readNumber(text, ';', h.min_) || !readNumber(text, ';', h.max_)) {
    return std::nullopt;
  }
  uint64_t total = 0;
  while (!text.empty()) {
    int i = 0;
    uint64_t c = 0;
    if (!readNumber(text, ':', i) || !readNumber(text, ',', c) || i < 0 || i > kMaxBucket) {
      return std::nullopt;
    }
    h.buckets_[i] += c;
    total += c;
  }
  if (total != h.count_) {
    return std::nullopt;
  }
  return h;
}

}  // namespace switchyard::analytics
