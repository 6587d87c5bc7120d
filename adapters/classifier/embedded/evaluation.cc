#include "classifier/embedded/evaluation.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include "deskpilot/stats.h"

namespace deskpilot {
namespace {

// `thresholds[i]` is the auto-threshold that applies to item i (empty: no auto-threshold).
Evaluation EvaluateWith(const std::vector<std::string>& gold, const std::vector<Prediction>& predicted,
                        const std::vector<double>& thresholds) {
  Evaluation e;
  const size_t n = std::min(gold.size(), predicted.size());
  std::vector<std::string> scored;
  for (size_t i = 0; i < n; ++i) scored.push_back(ScoredLabel(predicted[i]));
  e.metrics = ComputeMetrics(std::vector<std::string>(gold.begin(), gold.begin() + n), scored);

  size_t in_scope_right = 0, oos_right = 0, auto_right = 0;
  std::map<std::string, LabelAutomation> by_label;
  std::vector<std::pair<double, bool>> answered;  // (confidence, right)
  e.reliability.resize(kCalibrationBins);
  for (int b = 0; b < kCalibrationBins; ++b) {
    e.reliability[b].lower = static_cast<double>(b) / kCalibrationBins;
    e.reliability[b].upper = static_cast<double>(b + 1) / kCalibrationBins;
  }
  for (size_t i = 0; i < n; ++i) {
    const Prediction& p = predicted[i];
    const bool oos = gold[i] == kOutOfScopeLabel;
    const bool right = oos ? p.abstained : (!p.abstained && p.label == gold[i]);
    if (oos) {
      ++e.oos_n;
      oos_right += right;
    } else {
      ++e.in_scope_n;
      in_scope_right += right;
    }
    if (p.abstained) continue;
    answered.emplace_back(p.confidence, right);
    const int b = std::clamp(static_cast<int>(p.confidence * kCalibrationBins), 0, kCalibrationBins - 1);
    ReliabilityBin& bin = e.reliability[b];
    ++bin.count;
    bin.mean_confidence += p.confidence;
    bin.accuracy += right;
    // A model-reported confidence never unlocks an automatic reply (Prediction::calibrated),
    // whatever its value: such answers are not automated.
    if (!thresholds.empty() && p.calibrated && p.confidence >= thresholds[i]) {
      ++e.auto_n;
      auto_right += right;
      if (!right) e.auto_errors.push_back(i);
      LabelAutomation& a = by_label[p.label];
      ++a.n;
      a.wrong += !right;
    }
  }
  for (auto& [label, a] : by_label) {
    a.label = label;
    e.auto_by_label.push_back(a);
  }
  std::stable_sort(e.auto_errors.begin(), e.auto_errors.end(),
                   [&](size_t a, size_t b) { return predicted[a].confidence > predicted[b].confidence; });
  e.answered = answered.size();
  e.in_scope_accuracy = e.in_scope_n ? static_cast<double>(in_scope_right) / e.in_scope_n : 0.0;
  e.oos_recall = e.oos_n ? static_cast<double>(oos_right) / e.oos_n : 0.0;
  if (!thresholds.empty()) {
    double sum = 0.0;
    for (double t : thresholds) sum += t;
    e.auto_threshold = n ? sum / static_cast<double>(n) : 0.0;
    e.auto_coverage = n ? static_cast<double>(e.auto_n) / n : 0.0;
    e.auto_precision = e.auto_n ? static_cast<double>(auto_right) / e.auto_n : 0.0;
  }
  for (ReliabilityBin& bin : e.reliability) {
    if (bin.count == 0) continue;
    bin.mean_confidence /= static_cast<double>(bin.count);
    bin.accuracy /= static_cast<double>(bin.count);
    e.ece += static_cast<double>(bin.count) / static_cast<double>(e.answered) *
             std::abs(bin.mean_confidence - bin.accuracy);
  }

  std::sort(answered.begin(), answered.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  size_t wrong = 0;
  for (size_t j = 0; j < answered.size(); ++j) {
    wrong += !answered[j].second;
    if (j + 1 < answered.size() && answered[j + 1].first == answered[j].first) continue;
    e.risk_coverage.push_back({answered[j].first, static_cast<double>(j + 1) / n,
                               static_cast<double>(wrong) / static_cast<double>(j + 1)});
  }
  return e;
}

// A plot area with axes from 0 to 1 (x) and 0 to y_max (y), ticks every fifth.
class SvgChart {
 public:
  SvgChart(const std::string& title, const std::string& x_label, const std::string& y_label, double y_max)
      : y_max_(y_max) {
    out_ << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
         << "\" viewBox=\"0 0 " << kWidth << " " << kHeight << "\" font-family=\"sans-serif\" font-size=\"12\">\n"
         << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
         << "<text x=\"" << kWidth / 2 << "\" y=\"24\" text-anchor=\"middle\" font-size=\"15\">" << title
         << "</text>\n";
    for (int t = 0; t <= 5; ++t) {
      const double v = t / 5.0;
      out_ << "<line x1=\"" << X(v) << "\" y1=\"" << Y(0) << "\" x2=\"" << X(v) << "\" y2=\"" << Y(y_max_)
           << "\" stroke=\"#ddd\"/>\n"
           << "<text x=\"" << X(v) << "\" y=\"" << Y(0) + 16 << "\" text-anchor=\"middle\">" << Num(v) << "</text>\n"
           << "<line x1=\"" << X(0) << "\" y1=\"" << Y(v * y_max_) << "\" x2=\"" << X(1) << "\" y2=\""
           << Y(v * y_max_) << "\" stroke=\"#ddd\"/>\n"
           << "<text x=\"" << X(0) - 6 << "\" y=\"" << Y(v * y_max_) + 4 << "\" text-anchor=\"end\">"
           << Num(v * y_max_) << "</text>\n";
    }
    out_ << "<rect x=\"" << X(0) << "\" y=\"" << Y(y_max_) << "\" width=\"" << X(1) - X(0) << "\" height=\""
         << Y(0) - Y(y_max_) << "\" fill=\"none\" stroke=\"black\"/>\n"
         << "<text x=\"" << (X(0) + X(1)) / 2 << "\" y=\"" << kHeight - 12 << "\" text-anchor=\"middle\">" << x_label
         << "</text>\n"
         << "<text transform=\"translate(18," << (Y(0) + Y(y_max_)) / 2 << ") rotate(-90)\" text-anchor=\"middle\">"
         << y_label << "</text>\n";
  }
  double X(double v) const { return kLeft + v * (kWidth - kLeft - kRight); }
  double Y(double v) const { return kHeight - kBottom - v / y_max_ * (kHeight - kTop - kBottom); }
  static std::string Num(double v) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.2f", v);
    return buf;
  }
  std::ostringstream& out() { return out_; }
  std::string Finish() {
    out_ << "</svg>\n";
    return out_.str();
  }

 private:
  static constexpr int kWidth = 520, kHeight = 440, kLeft = 64, kRight = 24, kTop = 40, kBottom = 56;
  double y_max_;
  std::ostringstream out_;
};

}  // namespace

std::vector<ShortLabel> LabelsShortOfTarget(const Evaluation& e, double target, double significance) {
  std::vector<ShortLabel> out;
  for (const LabelAutomation& a : e.auto_by_label) {
    const Shortfall s = TestShortfall(a.n, a.wrong, target, significance);
    if (s.short_of_target) out.push_back({a, s.p_value});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const ShortLabel& a, const ShortLabel& b) { return a.p_value < b.p_value; });
  return out;
}

Evaluation Evaluate(const std::vector<std::string>& gold, const std::vector<Prediction>& predicted,
                    std::optional<double> auto_threshold) {
  std::vector<double> thresholds;
  if (auto_threshold) thresholds.assign(std::min(gold.size(), predicted.size()), *auto_threshold);
  Evaluation e = EvaluateWith(gold, predicted, thresholds);
  // The mean of n equal doubles may differ from the value in the last bit.
  if (auto_threshold) e.auto_threshold = auto_threshold;
  return e;
}

Evaluation Evaluate(const LinearModel& model, const std::vector<LabeledText>& data) {
  std::vector<std::string> gold;
  std::vector<Prediction> predicted;
  for (const LabeledText& ex : data) {
    gold.push_back(ex.label);
    predicted.push_back(model.Predict(ex.text));
  }
  return Evaluate(gold, predicted, model.auto_threshold());
}

Result<CrossValidation> CrossValidate(const std::vector<LabeledText>& data, const TrainOptions& options,
                                      int k_folds, uint64_t seed, int threads,
                                      const std::function<void(int, double)>& progress) {
  if (k_folds < 2) return Status::InvalidArgument("cross-validation needs at least 2 folds");
  if (data.size() < static_cast<size_t>(k_folds)) return Status::InvalidArgument("fewer examples than folds");
  const std::vector<int> fold_of = AssignFolds(data, k_folds, seed);

  std::vector<Prediction> predicted(data.size());
  std::vector<double> thresholds(data.size(), 0.0);
  bool every_fold_has_threshold = true;
  std::vector<double> fold_accuracy(k_folds, 0.0);
  std::vector<Status> fold_status(k_folds);
  std::mutex mu;
  const int n_threads = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  TrainOptions inner = options;
  // Parallel outer folds already keep the cores busy.
  if (std::min(n_threads, k_folds) > 1) inner.threads = 1;
  RunFolds(k_folds, n_threads, [&](int f) {
    std::vector<LabeledText> train;
    std::vector<size_t> test;
    for (size_t i = 0; i < data.size(); ++i) {
      if (fold_of[i] == f) {
        test.push_back(i);
      } else {
        train.push_back(data[i]);
      }
    }
    auto model = TrainLinearModel(train, inner);
    if (!model.ok()) {
      fold_status[f] = model.status();
      return;
    }
    size_t correct = 0;
    for (size_t i : test) {
      predicted[i] = model->Predict(data[i].text);
      thresholds[i] = model->auto_threshold().value_or(0.0);
      correct += ScoredLabel(predicted[i]) == data[i].label;
    }
    fold_accuracy[f] = test.empty() ? 0.0 : static_cast<double>(correct) / test.size();
    std::lock_guard<std::mutex> lock(mu);
    if (!model->auto_threshold()) every_fold_has_threshold = false;
    if (progress) progress(f, fold_accuracy[f]);
  });
  for (const Status& s : fold_status) {
    if (!s.ok()) return s.WithContext("cross-validation fold");
  }
  std::vector<std::string> gold;
  for (const auto& ex : data) gold.push_back(ex.label);
  if (!every_fold_has_threshold) thresholds.clear();
  CrossValidation cv;
  cv.evaluation = EvaluateWith(gold, predicted, thresholds);
  cv.fold_accuracy = std::move(fold_accuracy);
  return cv;
}

std::string ReliabilitySvg(const Evaluation& e) {
  SvgChart c("Reliability diagram (" + std::to_string(e.answered) + " answered, ECE " + SvgChart::Num(e.ece) + ")",
             "confidence", "accuracy", 1.0);
  auto& o = c.out();
  o << "<line x1=\"" << c.X(0) << "\" y1=\"" << c.Y(0) << "\" x2=\"" << c.X(1) << "\" y2=\"" << c.Y(1)
    << "\" stroke=\"#888\" stroke-dasharray=\"5,4\"/>\n";
  for (const ReliabilityBin& b : e.reliability) {
    if (b.count == 0) continue;
    o << "<rect class=\"bin\" x=\"" << c.X(b.lower) + 1 << "\" y=\"" << c.Y(b.accuracy) << "\" width=\""
      << c.X(b.upper) - c.X(b.lower) - 2 << "\" height=\"" << c.Y(0) - c.Y(b.accuracy)
      << "\" fill=\"#4a7ebb\" fill-opacity=\"0.75\"><title>confidence " << SvgChart::Num(b.lower) << "-"
      << SvgChart::Num(b.upper) << ": " << b.count << " predictions, accuracy " << SvgChart::Num(b.accuracy)
      << ", mean confidence " << SvgChart::Num(b.mean_confidence) << "</title></rect>\n"
      << "<circle cx=\"" << c.X(b.mean_confidence) << "\" cy=\"" << c.Y(b.accuracy)
      << "\" r=\"3\" fill=\"#c0392b\"/>\n";
  }
  o << "<text x=\"" << c.X(0) + 8 << "\" y=\"" << c.Y(1) + 16
    << "\">bars: accuracy per bin; dots at mean confidence; dashed: perfect calibration</text>\n";
  return c.Finish();
}

std::string RiskCoverageSvg(const Evaluation& e) {
  double max_risk = 0.05;
  for (const CoveragePoint& p : e.risk_coverage) max_risk = std::max(max_risk, p.risk);
  // Round the axis up to a multiple of 0.05 so the tick labels stay readable.
  max_risk = std::min(1.0, std::ceil(max_risk * 20.0 - 1e-9) / 20.0);
  SvgChart c("Risk-coverage curve", "coverage (share of items answered)", "risk (share of answered that are wrong)",
             max_risk);
  auto& o = c.out();
  o << "<polyline class=\"curve\" fill=\"none\" stroke=\"#4a7ebb\" stroke-width=\"2\" points=\"";
  for (const CoveragePoint& p : e.risk_coverage) o << c.X(p.coverage) << "," << c.Y(p.risk) << " ";
  o << "\"/>\n";
  if (e.auto_threshold && e.auto_n > 0) {
    const double risk = 1.0 - e.auto_precision;
    o << "<circle cx=\"" << c.X(e.auto_coverage) << "\" cy=\"" << c.Y(std::min(risk, max_risk))
      << "\" r=\"5\" fill=\"#c0392b\"/>\n"
      << "<text x=\"" << c.X(e.auto_coverage) - 8 << "\" y=\"" << c.Y(std::min(risk, max_risk)) - 10
      << "\" text-anchor=\"end\">auto-threshold " << SvgChart::Num(*e.auto_threshold) << ": coverage "
      << SvgChart::Num(e.auto_coverage) << ", precision " << SvgChart::Num(e.auto_precision) << "</text>\n";
  }
  return c.Finish();
}

}  // namespace deskpilot
