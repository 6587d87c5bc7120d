#include "classifier/cascade/cascade_classifier.h"

#include <algorithm>
#include <cstdio>

#include <spdlog/spdlog.h>

#include "classifier/embedded/embedded_classifier.h"
#include "classifier/llm/llm_classifier.h"

namespace deskpilot {
namespace {

// How often the running share of tickets that needed the model is logged.
constexpr int64_t kReportEvery = 100;

}  // namespace

CascadeClassifier::CascadeClassifier(std::unique_ptr<Classifier> first, std::unique_ptr<Classifier> second,
                                     std::vector<std::string> dimensions, double fallback_threshold)
    : first_(std::move(first)),
      second_(std::move(second)),
      dimensions_(std::move(dimensions)),
      fallback_threshold_(fallback_threshold) {}

Result<Triage> CascadeClassifier::Classify(const Ticket& ticket) {
  DP_ASSIGN_OR_RETURN(Triage triage, first_->Classify(ticket));
  std::vector<std::string> uncertain;
  for (const auto& dim : dimensions_) {
    const Prediction* p = triage.Get(dim);
    // A dimension the first model does not know is not a reason to pay for a call.
    if (p == nullptr) continue;
    const double bar = first_->AutoThreshold(dim).value_or(fallback_threshold_);
    if (p->abstained || p->confidence < bar) uncertain.push_back(dim);
  }
  bool report = false;
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.tickets;
    if (!uncertain.empty()) ++stats_.model_tickets;
    for (const auto& d : uncertain) ++stats_.uncertain[d];
    report = stats_.tickets % kReportEvery == 0;
  }
  if (report) spdlog::info("{}", Summary());
  if (uncertain.empty()) {
    spdlog::debug("cascade: ticket {}: embedded model confident on every dimension", ticket.id);
    return triage;
  }
  spdlog::debug("cascade: ticket {}: {} uncertain dimension(s): calling the model", ticket.id, uncertain.size());
  auto second = second_->Classify(ticket);
  if (!second.ok()) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.model_errors;
    return second.status().WithContext("cascade model");
  }
  for (const auto& dim : uncertain) {
    if (const Prediction* p = second->Get(dim)) triage.predictions[dim] = *p;
  }
  // Dimensions only the model labels come free with a call that was needed anyway.
  for (const auto& [dim, p] : second->predictions) triage.predictions.try_emplace(dim, p);
  triage.usage.insert(triage.usage.end(), second->usage.begin(), second->usage.end());
  return triage;
}

std::optional<std::map<std::string, std::vector<std::string>>> CascadeClassifier::Labels() const {
  auto out = first_->Labels();
  const auto second = second_->Labels();
  if (!out || !second) return std::nullopt;
  for (const auto& [dimension, labels] : *second) {
    std::vector<std::string>& merged = (*out)[dimension];
    for (const auto& label : labels)
      if (std::find(merged.begin(), merged.end(), label) == merged.end()) merged.push_back(label);
  }
  return out;
}

std::optional<double> CascadeClassifier::AutoThreshold(const std::string& dimension) const {
  return first_->AutoThreshold(dimension);
}

CascadeStats CascadeClassifier::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::optional<nlohmann::json> CascadeClassifier::Report() const {
  const CascadeStats s = Stats();
  return nlohmann::json{{"tickets", s.tickets},
                        {"model_calls", s.model_tickets},
                        {"model_share", s.model_share()},
                        {"model_errors", s.model_errors},
                        {"uncertain", s.uncertain}};
}

std::string CascadeClassifier::Summary() const {
  const CascadeStats s = Stats();
  char share[32];
  std::snprintf(share, sizeof share, "%.1f%%", 100.0 * s.model_share());
  std::string out = "cascade: " + std::to_string(s.model_tickets) + " of " + std::to_string(s.tickets) +
                    " tickets (" + share + ") needed the model";
  if (s.model_errors > 0) out += ", " + std::to_string(s.model_errors) + " model errors";
  std::string dims;
  for (const auto& [dim, n] : s.uncertain) dims += (dims.empty() ? "" : ", ") + dim + " " + std::to_string(n);
  if (!dims.empty()) out += "; uncertain on " + dims;
  return out;
}

Result<std::unique_ptr<CascadeClassifier>> MakeCascadeClassifier(AdapterContext& ctx) {
  if (ctx.section == nullptr) return Status::InvalidArgument("classifier: the cascade needs a [classifier] section");
  ConfigSection& section = *ctx.section;
  section.String("type", "cascade");
  const double threshold = section.Double("threshold", 0.85);
  if (threshold < 0 || threshold > 1) return Status::InvalidArgument(section.path() + ".threshold: must be in [0, 1]");
  // Both stages read their own keys from the same section; the llm one first, so a
  // missing [llm] is reported before minutes of sample-model training.
  DP_ASSIGN_OR_RETURN(std::unique_ptr<LlmClassifier> second, MakeLlmClassifier(ctx));
  DP_ASSIGN_OR_RETURN(std::unique_ptr<EmbeddedClassifier> first, EmbeddedClassifier::Create(ctx));
  std::vector<std::string> dimensions = second->dimensions();
  for (const auto& dim : dimensions) {
    if (!first->models().contains(dim)) {
      spdlog::warn("cascade: the embedded model has no \"{}\" dimension: it is labelled only when the model "
                   "is called for another one", dim);
    }
  }
  return std::make_unique<CascadeClassifier>(std::move(first), std::move(second), std::move(dimensions), threshold);
}

}  // namespace deskpilot
