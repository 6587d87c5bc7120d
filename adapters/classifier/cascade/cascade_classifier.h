// The "cascade" classifier: the cheap calibrated model first, the model-backed one only
// where it adds something. This is how deskpilot keeps model spend low.
//
// For each ticket the first classifier (the embedded model) labels every dimension.
// The second (the llm classifier) is called only when, on a dimension both classify,
// the first abstained or its confidence is below its own auto-threshold (the stored
// per-dimension threshold at which it reaches its target precision; `threshold` from
// config where the model has none). When called, the second classifier's prediction
// replaces the first's on exactly those uncertain dimensions; confident ones keep
// the calibrated answer; dimensions only the second labels are added. Triage.usage
// carries the model calls. Every 100 tickets the running Summary() is logged.
//
// AutoThreshold is the first classifier's: predictions the model supplied are held to
// the same bar (never below policy.min_confidence) as those it did not.
//
// Thread-safe when both classifiers are; the counters are atomics.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "deskpilot/classifier.h"
#include "deskpilot/registry.h"

namespace deskpilot {

struct CascadeStats {
  int64_t tickets = 0;         // classified
  int64_t model_tickets = 0;   // that needed the model
  int64_t model_errors = 0;    // model calls that failed (the ticket went on as an error)
  std::map<std::string, int64_t> uncertain;  // dimension → tickets uncertain on it
  // Share of tickets that needed the model (0 when none were classified).
  double model_share() const { return tickets == 0 ? 0.0 : static_cast<double>(model_tickets) / tickets; }
};

class CascadeClassifier : public Classifier {
 public:
  // `dimensions`: the dimensions the second classifier labels (only these are checked).
  // `fallback_threshold` applies where the first has no AutoThreshold.
  CascadeClassifier(std::unique_ptr<Classifier> first, std::unique_ptr<Classifier> second,
                    std::vector<std::string> dimensions, double fallback_threshold);

  // Classifier:
  // Errors: the first classifier's; the second's when it was needed (so a model
  // failure reaches the pipeline, which hands the ticket to a human or retries).
  Result<Triage> Classify(const Ticket& redacted_ticket) override;
  std::optional<double> AutoThreshold(const std::string& dimension) const override;
  // Per dimension, the union of both classifiers' labels: the model's answer replaces
  // the embedded one's on uncertain dimensions. nullopt when either cannot enumerate.
  std::optional<std::map<std::string, std::vector<std::string>>> Labels() const override;
  // {"tickets", "model_calls" (tickets that needed the model: one llm-classifier call
  // each, its client's retries and repair not counted), "model_share", "model_errors",
  // "uncertain": {dimension: tickets}}; what `deskpilot eval --config` reports.
  std::optional<nlohmann::json> Report() const override;

  CascadeStats Stats() const;
  // "cascade: 12 of 40 tickets (30.0%) needed the model; uncertain on category 10, ..."
  std::string Summary() const;

 private:
  std::unique_ptr<Classifier> first_;
  std::unique_ptr<Classifier> second_;
  const std::vector<std::string> dimensions_;
  const double fallback_threshold_;
  mutable std::mutex mu_;
  CascadeStats stats_;  // guarded by mu_
};

// Registry factory. One [classifier] section configures both stages: the embedded
// classifier's keys (`models`) and the llm classifier's (`labels`, `examples_file`, ...),
// plus `threshold` (default 0.85, used where the embedded model stores no
// auto-threshold). Needs ctx.llm and ctx.prompts.
Result<std::unique_ptr<CascadeClassifier>> MakeCascadeClassifier(AdapterContext& ctx);

}  // namespace deskpilot
