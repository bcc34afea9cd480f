/// @file exposition_checker.h
/// @brief A strict checker of the Prometheus text exposition format 0.0.4 for tests: names,
/// HELP/TYPE lines, label syntax and escaping, sample values, family grouping, and histogram
/// invariants (ascending le ending with +Inf, monotone counts, _sum and _count).
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace switchyard::testing {

struct Sample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Exposition {
  std::vector<std::string> errors;           ///< empty when the text is valid
  std::map<std::string, std::string> types;  ///< family → type
  std::vector<Sample> samples;

  /// Samples of `name` whose labels include every pair of `match`.
  std::vector<Sample> find(const std::string& name,
                           const std::map<std::string, std::string>& match = {}) const {
    std::vector<Sample> out;
    for (const auto& s : samples) {
      bool ok = s.name == name;
      for (const auto& [k, v] : match) {
        auto it = s.labels.find(k);
        ok = ok && it != s.labels.end() && it->second == v;
      }
      if (ok) {
        out.push_back(s);
      }
    }
    return out;
  }
};

namespace detail {

inline bool isMetricName(const std::string& n) {
  if (n.empty() ||
      !(std::isalpha(static_cast<unsigned char>(n[0])) || n[0] == '_' || n[0] == ':')) {
    return false;
  }
  for (char c : n) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == ':')) {
      return false;
    }
  }
  return true;
}

inline bool isLabelName(const std::string& n) {
  return isMetricName(n) && n.find(':') == std::string::npos && n.rfind("__", 0) != 0;
}

inline bool parseValue(const std::string& s, double& v) {
  if (s == "+Inf" || s == "Inf") {
    v = INFINITY;
    return true;
  }
  if (s == "-Inf") {
    v = -INFINITY;
    return true;
  }
  if (s == "NaN") {
    v = NAN;
    return true;
  }
  if (s.empty()) {
    return false;
  }
  char* end = nullptr;
  v = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && s.find_first_of("iInN") == std::string::npos;
}

/// The family a sample belongs to, given the declared types.
inline std::string familyOf(const std::string& name,
                            const std::map<std::string, std::string>& types) {
  if (types.count(name) != 0) {
    return name;
  }
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    const std::string sfx = suffix;
    if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
      const std::string base = name.substr(0, name.size() - sfx.size());
      auto it = types.find(base);
      if (it != types.end() &&
          (it->second == "histogram" || (it->second == "summary" && sfx != "_bucket"))) {
        return base;
      }
    }
  }
  return name;
}

}  // namespace detail

inline Exposition checkExposition(const std::string& text) {
  Exposition out;
  auto fail = [&](size_t line_no, const std::string& why, const std::string& line) {
    out.errors.push_back("line " + std::to_string(line_no) + ": " + why + ": " + line);
  };
  if (text.empty() || text.back() != '\n') {
    out.errors.push_back("the exposition must end with a line feed");
  }
  std::set<std::string> helped;
  std::set<std::string> finished;  // families whose block ended
  std::string current;             // family of the current block
  std::set<std::string> series;    // name + labels, to find duplicates
  std::set<std::string> sampled;   // families with samples so far
  std::istringstream lines(text);
  size_t n = 0;
  for (std::string line; std::getline(lines, line);) {
    ++n;
    if (line.empty()) {
      fail(n, "empty line", line);
      continue;
    }
    if (line[0] == '#') {
      std::istringstream words(line);
      std::string hash, kind, name;
      words >> hash >> kind >> name;
      if (kind != "HELP" && kind != "TYPE") {
        continue;  // a plain comment
      }
      if (!detail::isMetricName(name)) {
        fail(n, "bad metric name in " + kind, line);
        continue;
      }
      if (name != current) {
        if (!current.empty()) {
          finished.insert(current);
        }
        if (finished.count(name) != 0) {
          fail(n, "family " + name + " appears in two blocks", line);
        }
        current = name;
      }
      if (kind == "HELP") {
        if (!helped.insert(name).second) {
          fail(n, "second HELP for " + name, line);
        }
        const std::string help =
            line.size() > 7 + name.size() ? line.substr(7 + name.size() + 1) : "";
        for (size_t i = 0; i < help.size(); ++i) {
          if (help[i] == '\\' &&
              (i + 1 >= help.size() || (help[i + 1] != '\\' && help[i + 1] != 'n'))) {
            fail(n, "bad escape in HELP", line);
          }
          i += help[i] == '\\' ? 1 : 0;
        }
      } else {
        std::string type, extra;
        words >> type >> extra;
        static const std::set<std::string> kTypes{"counter", "gauge", "histogram", "summary",
                                                  "untyped"};
        if (kTypes.count(type) == 0 || !extra.empty()) {
          fail(n, "bad TYPE", line);
        }
        if (out.types.count(name) != 0) {
          fail(n, "second TYPE for " + name, line);
        }
        if (sampled.count(name) != 0) {
          fail(n, "TYPE after samples of " + name, line);
        }
        out.types[name] = type;
      }
      continue;
    }
    // name{label="value",...} value [timestamp]
    Sample s;
    size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') {
      ++i;
    }
    s.name = line.substr(0, i);
    if (!detail::isMetricName(s.name)) {
      fail(n, "bad metric name", line);
      continue;
    }
    bool ok = true;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (ok && i < line.size() && line[i] != '}') {
        size_t eq = line.find('=', i);
        if (eq == std::string::npos) {
          ok = false;
          break;
        }
        const std::string label = line.substr(i, eq - i);
        if (!detail::isLabelName(label) || eq + 1 >= line.size() || line[eq + 1] != '"') {
          ok = false;
          break;
        }
        std::string value;
        size_t j = eq + 2;
        for (; j < line.size() && line[j] != '"'; ++j) {
          if (line[j] == '\\') {
            if (j + 1 >= line.size()) {
              ok = false;
              break;
            }
            const char e = line[++j];
            if (e == '\\' || e == '"') {
              value += e;
            } else if (e == 'n') {
              value += '\n';
            } else {
              ok = false;
              break;
            }
          } else {
            value += line[j];
          }
        }
        if (!ok || j >= line.size()) {
          ok = false;
          break;
        }
        if (!s.labels.emplace(label, value).second) {
          fail(n, "duplicate label " + label, line);
        }
        i = j + 1;
        if (i < line.size() && line[i] == ',') {
          ++i;
        } else if (i >= line.size() || line[i] != '}') {
          ok = false;
        }
      }
      if (!ok || i >= line.size() || line[i] != '}') {
        fail(n, "bad label set", line);
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      fail(n, "no value", line);
      continue;
    }
    std::istringstream rest(line.substr(i + 1));
    std::string value, timestamp, extra;
    rest >> value >> timestamp >> extra;
    if (!detail::parseValue(value, s.value) || !extra.empty() ||
        (!timestamp.empty() && timestamp.find_first_not_of("-0123456789") != std::string::npos)) {
      fail(n, "bad value", line);
      continue;
    }
    const std::string family = detail::familyOf(s.name, out.types);
    if (out.types.count(family) == 0) {
      fail(n, "sample without a TYPE", line);
    } else if (family != current) {
      fail(n, "sample outside its family's block", line);
    }
    sampled.insert(family);
    const std::string type = out.types.count(family) ? out.types.at(family) : "";
    if (type == "counter" && (s.value < 0 || std::isnan(s.value))) {
      fail(n, "negative counter", line);
    }
    if (type == "histogram" && s.name == family) {
      fail(n, "histogram sample without _bucket/_sum/_count", line);
    }
    if ((s.name == family + "_bucket") != (s.labels.count("le") != 0) && type == "histogram") {
      fail(n, "le belongs on _bucket samples only", line);
    }
    std::string key = s.name + "{";
    for (const auto& [k, v] : s.labels) {
      key += k + "=" + v + ",";
    }
    if (!series.insert(key + "}").second) {
      fail(n, "duplicate series", line);
    }
    out.samples.push_back(std::move(s));
  }

  // Histogram invariants per series (labels without le).
  for (const auto& [family, type] : out.types) {
    if (type != "histogram") {
      continue;
    }
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    std::map<std::map<std::string, std::string>, double> sums, counts;
    for (const auto& s : out.samples) {
      auto labels = s.labels;
      if (s.name == family + "_bucket") {
        double le = 0;
        if (!detail::parseValue(labels["le"], le)) {
          out.errors.push_back(family + ": bad le " + labels["le"]);
        }
        labels.erase("le");
        buckets[labels].emplace_back(le, s.value);
      } else if (s.name == family + "_sum") {
        sums[labels] = s.value;
      } else if (s.name == family + "_count") {
        counts[labels] = s.value;
      }
    }
    for (const auto& [labels, list] : buckets) {
      std::string id = family;
      for (const auto& [k, v] : labels) {
        id += " " + k + "=" + v;
      }
      for (size_t i = 1; i < list.size(); ++i) {
        if (!(list[i].first > list[i - 1].first)) {
          out.errors.push_back(id + ": le not ascending");
        }
        if (list[i].second < list[i - 1].second) {
          out.errors.push_back(id + ": bucket counts decrease");
        }
      }
      if (list.empty() || !std::isinf(list.back().first)) {
        out.errors.push_back(id + ": no le=\"+Inf\" bucket last");
      }
      if (sums.count(labels) == 0 || counts.count(labels) == 0) {
        out.errors.push_back(id + ": _sum or _count missing");
      } else if (!list.empty() && counts[labels] != list.back().second) {
        out.errors.push_back(id + ": _count differs from the +Inf bucket");
      }
    }
    for (const auto& [labels, c] : counts) {
      if (buckets.count(labels) == 0) {
        out.errors.push_back(family + ": _count without buckets");
      }
    }
  }
  return out;
}

}  // namespace switchyard::testing
