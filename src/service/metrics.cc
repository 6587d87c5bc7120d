#include "service/metrics.h"

#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace deskpilot {

Metrics::Metrics()
    : bounds_{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30} {}

std::string Metrics::Key(const Labels& labels) {
  std::string out;
  for (const auto& [k, v] : labels) {
    if (!out.empty()) out += ',';
    out += k + "=\"";
    for (char c : v) {
      if (c == '\\' || c == '"') out += '\\';
      if (c == '\n') {
        out += "\\n";
        continue;
      }
      out += c;
    }
    out += '"';
  }
  return out;
}

void Metrics::Inc(const std::string& name, const Labels& labels, double by) {
  std::lock_guard lock(mu_);
  counters_[name][Key(labels)] += by;
}

void Metrics::Set(const std::string& name, const Labels& labels, double value) {
  std::lock_guard lock(mu_);
  gauges_[name][Key(labels)] = value;
}

void Metrics::Observe(const std::string& name, const Labels& labels, double seconds) {
  std::lock_guard lock(mu_);
  Histogram& h = histograms_[name][Key(labels)];
  if (h.buckets.empty()) h.buckets.assign(bounds_.size(), 0);
  for (size_t i = 0; i < bounds_.size(); ++i)
    if (seconds <= bounds_[i]) ++h.buckets[i];
  ++h.count;
  h.sum += seconds;
}

void Metrics::Describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mu_);
  meta_[name] = {type, help};
}

namespace {
// Shortest text that reads back as the same double (0.0025, not 0.0025000000000000001).
std::string Num(double v) {
  char buf[64];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}
std::string WithLabels(const std::string& name, const std::string& key, const std::string& extra = "") {
  std::string all = key;
  if (!extra.empty()) all += (all.empty() ? "" : ",") + extra;
  return all.empty() ? name : name + "{" + all + "}";
}
}  // namespace

std::string Metrics::Render() const {
  std::lock_guard lock(mu_);
  std::ostringstream out;
  auto header = [&](const std::string& name, const char* default_type) {
    auto it = meta_.find(name);
    if (it != meta_.end()) {
      out << "# HELP " << name << ' ' << it->second.second << '\n';
      out << "# TYPE " << name << ' ' << it->second.first << '\n';
    } else {
      out << "# TYPE " << name << ' ' << default_type << '\n';
    }
  };
  for (const auto& [name, series] : counters_) {
    header(name, "counter");
    for (const auto& [key, v] : series) out << WithLabels(name, key) << ' ' << Num(v) << '\n';
  }
  for (const auto& [name, series] : gauges_) {
    header(name, "gauge");
    for (const auto& [key, v] : series) out << WithLabels(name, key) << ' ' << Num(v) << '\n';
  }
  for (const auto& [name, series] : histograms_) {
    header(name, "histogram");
    for (const auto& [key, h] : series) {
      for (size_t i = 0; i < bounds_.size(); ++i)
        out << WithLabels(name + "_bucket", key, "le=\"" + Num(bounds_[i]) + "\"") << ' '
            << h.buckets[i] << '\n';
      out << WithLabels(name + "_bucket", key, "le=\"+Inf\"") << ' ' << h.count << '\n';
      out << WithLabels(name + "_sum", key) << ' ' << Num(h.sum) << '\n';
      out << WithLabels(name + "_count", key) << ' ' << h.count << '\n';
    }
  }
  return out.str();
}

}  // namespace deskpilot
