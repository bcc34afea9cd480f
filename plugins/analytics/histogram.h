/// @file histogram.h
/// @brief A sparse log-bucketed histogram of durations whose buckets are the same everywhere,
/// so histograms of any minute, hour, day or group merge by adding counts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace switchyard::analytics {

/// Bucket i >= 1 holds (kMinMs * kGamma^(i-1), kMinMs * kGamma^i]; bucket 0 everything up to
/// kMinMs. A quantile answers 2lu/(l+u) of its bucket [l,u], so its relative error is at most
/// (kGamma-1)/(kGamma+1), about 2%, and it is clamped to the exact observed min and max.
/// Only non-empty buckets are stored: a minute of one model usually fills a dozen.
class Histogram {
 public:
  static constexpr double kGamma = 1.04;
  static constexpr double kMinMs = 0.01;
  static constexpr int kMaxBucket = 600;  // kMinMs * 1.04^600 ≈ 1.6e8 ms; longer lands here

  void add(double ms);
  void merge(const Histogram& other);
  std::optional<double> quantile(double q) const;

  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  bool empty() const { return count_ == 0; }

  /// Compact text form "count;sum;min;max;i:c,i:c,…", stored in SQLite.
  std::string serialize() const;
  /// @return nullopt when the text is not a histogram this class wrote.
  static std::optional<Histogram> parse(std::string_view text);

  static int bucketOf(double ms);

 private:
  std::map<int, uint64_t> buckets_;
  uint64_t count_ = 0;
  double sum_ = 0;
  double min_ = 0;
  double max_ = 0;
};

}  // namespace switchyard::analytics
