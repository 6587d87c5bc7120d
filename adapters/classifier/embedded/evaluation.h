// How far a classifier's predictions (and its confidences) can be trusted: accuracy and
// macro-F1, in-scope accuracy and out-of-scope recall, precision and coverage at the
// auto-threshold, expected calibration error, and cross-validation that measures all of it
// on models the held-out examples never trained.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "classifier/embedded/linear_model.h"
#include "deskpilot/stats.h"
#include "deskpilot/status.h"

namespace deskpilot {

struct ReliabilityBin {
  double lower = 0.0;  // confidence range [lower, upper); the last bin includes 1.0
  double upper = 0.0;
  size_t count = 0;
  double mean_confidence = 0.0;  // 0 when empty
  double accuracy = 0.0;         // 0 when empty
};

struct CoveragePoint {
  double confidence = 0.0;  // answer only predictions at or above this
  double coverage = 0.0;    // share of all items answered
  double risk = 0.0;        // share of the answered ones that are wrong
};

// The automated answers (those counted in Evaluation::auto_n) that named one label.
struct LabelAutomation {
  std::string label;
  size_t n = 0;      // automated answers naming it
  size_t wrong = 0;  // of them, wrong
  double precision() const { return n ? 1.0 - static_cast<double>(wrong) / static_cast<double>(n) : 0.0; }
};

struct Evaluation {
  // Over labels as scored (ScoredLabel: abstaining counts as predicting `oos`).
  EvalMetrics metrics;
  // Gold `oos` items: abstaining on them is right, naming a label is wrong. In-scope items:
  // only the gold label is right, abstaining is wrong.
  size_t in_scope_n = 0;
  size_t oos_n = 0;
  double in_scope_accuracy = 0.0;
  double oos_recall = 0.0;  // 0 when oos_n == 0
  // Non-abstained, calibrated predictions with confidence >= the auto-threshold: what
  // automation would answer (a model-reported confidence never unlocks it).
  std::optional<double> auto_threshold;
  size_t auto_n = 0;
  double auto_coverage = 0.0;   // auto_n / n
  double auto_precision = 0.0;  // right among them (0 when auto_n == 0)
  // The wrong ones among them, by index into the items, most confident first: the answers
  // automation would have got wrong.
  std::vector<size_t> auto_errors;
  // Every label automation named, by label.
  std::vector<LabelAutomation> auto_by_label;
  // Over non-abstained predictions: |confidence - accuracy| per bin, weighted by the bin's
  // share of them.
  double ece = 0.0;
  size_t answered = 0;  // non-abstained predictions
  std::vector<ReliabilityBin> reliability;
  // One point per distinct confidence, most confident first.
  std::vector<CoveragePoint> risk_coverage;
};

inline constexpr int kCalibrationBins = 15;

// A label whose automated answers fall short of the target precision beyond chance.
struct ShortLabel {
  LabelAutomation automation;
  // The chance that a label truly at the target precision gives at least this many wrong
  // answers out of this many (one-sided binomial tail).
  double p_value = 1.0;
};

// The labels of e.auto_by_label whose precision falls short of `target` beyond chance
// (TestShortfall), least likely first. Precision pooled over all labels can meet the target
// while a few labels carry most of the errors (BANKING77 cross-validated: 0.981 pooled,
// top_up_failed 0.917); those are the categories to keep from answering alone.
std::vector<ShortLabel> LabelsShortOfTarget(const Evaluation& e, double target,
                                            double significance = kShortfallSignificance);

// Scores parallel gold labels and predictions.
Evaluation Evaluate(const std::vector<std::string>& gold, const std::vector<Prediction>& predicted,
                    std::optional<double> auto_threshold);

// Predicts every example and scores it against its label, at the model's own auto-threshold;
// labels the model does not know count as errors.
Evaluation Evaluate(const LinearModel& model, const std::vector<LabeledText>& data);

struct CrossValidation {
  // Pooled held-out predictions of the fold models, each with that model's own auto-threshold
  // and abstention rule; `evaluation.auto_threshold` is the mean of the folds' thresholds.
  Evaluation evaluation;
  std::vector<double> fold_accuracy;
};

// Stratified k-fold cross-validation (folds drawn with `seed`). Folds train in parallel on
// up to `threads` threads (0 = hardware concurrency); the result does not depend on it.
// `progress(fold, accuracy)` is called as each fold finishes (serially).
Result<CrossValidation> CrossValidate(const std::vector<LabeledText>& data, const TrainOptions& options,
                                      int k_folds, uint64_t seed, int threads = 0,
                                      const std::function<void(int, double)>& progress = nullptr);

// Hand-written SVG charts of an Evaluation: the reliability diagram (accuracy against
// confidence per bin, with the diagonal of perfect calibration) and the risk–coverage curve.
std::string ReliabilitySvg(const Evaluation& e);
std::string RiskCoverageSvg(const Evaluation& e);

}  // namespace deskpilot
