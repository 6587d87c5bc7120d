// A small Prometheus text-format registry: counters and histograms with labels.
// Lock-light: one mutex per metric family; scrapes are rare, updates are cheap.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace deskpilot {

using Labels = std::vector<std::pair<std::string, std::string>>;

class Metrics {
 public:
  Metrics();
  void Inc(const std::string& name, const Labels& labels = {}, double by = 1.0);
  // Observes a latency (seconds) into the histogram `name` (buckets 0.5 ms .. 30 s).
  void Observe(const std::string& name, const Labels& labels, double seconds);
  // Gauges are set at scrape time (e.g. jobs by state, read from the store).
  void Set(const std::string& name, const Labels& labels, double value);
  // Declares HELP/TYPE for a family; families without a declaration are untyped.
  void Describe(const std::string& name, const std::string& type, const std::string& help);
  std::string Render() const;

 private:
  struct Histogram {
    std::vector<uint64_t> buckets;  // cumulative at render time
    uint64_t count = 0;
    double sum = 0;
  };
  static std::string Key(const Labels& labels);
  mutable std::mutex mu_;
  std::map<std::string, std::pair<std::string, std::string>> meta_;  // name → (type, help)
  std::map<std::string, std::map<std::string, double>> counters_;    // name → labels → value
  std::map<std::string, std::map<std::string, double>> gauges_;
  std::map<std::string, std::map<std::string, Histogram>> histograms_;
  std::vector<double> bounds_;
};

}  // namespace deskpilot
