#include "classifier/embedded/evaluation.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>

#include "classifier/embedded/test_util.h"

namespace deskpilot {
namespace {

using testing::SeparableData;
using testing::TempDir;
using testing::WriteFile;

Prediction Answer(const std::string& label, double confidence) {
  Prediction p;
  p.label = label;
  p.confidence = confidence;
  return p;
}

Prediction Abstain(double confidence) {
  Prediction p;
  p.abstained = true;
  p.confidence = confidence;
  return p;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Separable topics plus out-of-scope texts from a vocabulary none of them uses.
std::vector<LabeledText> DataWithOos(int per_label, uint32_t seed) {
  auto data = SeparableData(per_label, seed);
  const std::vector<std::string> other = {"weather", "pizza", "football", "guitar", "holiday", "movie", "garden"};
  std::mt19937 rng(seed);
  for (int i = 0; i < per_label; ++i) {
    std::string text;
    for (int w = 0; w < 5; ++w) text += (w ? " " : "") + other[rng() % other.size()];
    data.push_back({text, kOutOfScopeLabel});
  }
  return data;
}

TEST(AutoThresholdTest, LowestConfidenceThatReachesTheTargetPrecision) {
  // Confidence descending: 1.0 .. 0.01; items are right except every 10th below 0.5, and
  // every 4th below 0.3.
  std::vector<std::string> gold;
  std::vector<Prediction> predicted;
  for (int i = 100; i >= 1; --i) {
    const double c = i / 100.0;
    const bool wrong = (c < 0.5 && i % 10 == 0) || (c < 0.3 && i % 4 == 0);
    gold.push_back("a");
    predicted.push_back(Answer(wrong ? "b" : "a", c));
  }
  predicted.push_back(Abstain(0.99));  // abstentions never count toward auto
  gold.push_back("a");
  for (double target : {0.9, 0.95, 0.98, 1.0}) {
    const double t = ChooseAutoThreshold(gold, predicted, target);
    size_t at = 0, right = 0;
    for (size_t i = 0; i < gold.size(); ++i) {
      if (predicted[i].abstained || predicted[i].confidence < t) continue;
      ++at;
      right += predicted[i].label == gold[i];
    }
    ASSERT_GT(at, 0u) << target;
    EXPECT_GE(static_cast<double>(right) / at, target) << "threshold " << t;
    // Lowest: one step further down the precision falls below the target.
    size_t at2 = 0, right2 = 0;
    for (size_t i = 0; i < gold.size(); ++i) {
      if (predicted[i].abstained || predicted[i].confidence < t - 0.01 - 1e-9) continue;
      ++at2;
      right2 += predicted[i].label == gold[i];
    }
    if (t > 0.01) {
      EXPECT_LT(static_cast<double>(right2) / at2, target) << "threshold " << t;
    }
  }
  // Everything 0.5 and above is right, 0.4 is the first wrong one: target 1.0 stops at 0.41.
  EXPECT_DOUBLE_EQ(ChooseAutoThreshold(gold, predicted, 1.0), 0.41);
  // Nothing reaches the target: 1.0, which no confidence below certainty passes.
  EXPECT_EQ(ChooseAutoThreshold({"a", "a"}, {Answer("b", 0.9), Answer("b", 0.8)}, 0.98), 1.0);
}

TEST(AbstentionTest, OutOfScopeTextAbstainsAndThresholdsRoundTrip) {
  TempDir dir;
  auto model = TrainLinearModel(DataWithOos(40, 3), TrainOptions{});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_TRUE(model->has_out_of_scope());
  ASSERT_TRUE(model->auto_threshold().has_value());
  EXPECT_GT(*model->auto_threshold(), 0.0);
  EXPECT_LE(*model->auto_threshold(), 1.0);

  const Prediction out = model->Predict("pizza and a movie this holiday");
  EXPECT_TRUE(out.abstained);
  EXPECT_EQ(out.label, "");
  for (const auto& [label, p] : out.alternatives) EXPECT_NE(label, kOutOfScopeLabel);
  const Prediction in = model->Predict("refund the payment on my invoice");
  EXPECT_FALSE(in.abstained);
  EXPECT_EQ(in.label, "billing");

  ASSERT_TRUE(model->Save(dir.File("m.model")).ok());
  auto loaded = LinearModel::Load(dir.File("m.model"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->auto_threshold(), model->auto_threshold());
  EXPECT_EQ(loaded->abstain_threshold(), model->abstain_threshold());
  EXPECT_TRUE(loaded->Predict("guitar in the garden").abstained);
}

TEST(AbstentionTest, OutOfFoldPredictionsComeWithTheModel) {
  const auto data = DataWithOos(30, 4);
  std::vector<Prediction> oof;
  auto model = TrainLinearModel(data, TrainOptions{}, &oof);
  ASSERT_TRUE(model.ok());
  ASSERT_EQ(oof.size(), data.size());
  size_t oos_abstained = 0, in_scope_right = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    if (data[i].label == kOutOfScopeLabel) {
      oos_abstained += oof[i].abstained;
    } else {
      in_scope_right += !oof[i].abstained && oof[i].label == data[i].label;
    }
  }
  EXPECT_EQ(oos_abstained, 30u);
  EXPECT_GE(in_scope_right, 85u);  // of 90

  // Too little data to calibrate: no folds, no thresholds.
  auto tiny = TrainLinearModel(SeparableData(5), TrainOptions{}, &oof);
  ASSERT_TRUE(tiny.ok());
  EXPECT_TRUE(oof.empty());
  EXPECT_FALSE(tiny->auto_threshold().has_value());
}

TEST(AbstentionTest, FamiliarityMeasuresSeenWordEvidence) {
  const auto data = SeparableData(20);
  auto model = TrainLinearModel(data, TrainOptions{});
  ASSERT_TRUE(model.ok());
  EXPECT_DOUBLE_EQ(model->Familiarity(data[0].text), 1.0);  // every word and word pair seen
  EXPECT_DOUBLE_EQ(model->Familiarity("pizza and a movie this holiday"), 0.0);
  EXPECT_DOUBLE_EQ(model->Familiarity("?!"), 0.0);
  // "recipe" shares character n-grams with "receipt", but no word: still unfamiliar.
  EXPECT_DOUBLE_EQ(model->Familiarity("recipe"), 0.0);
  const double half = model->Familiarity("refund lasagna");
  EXPECT_GT(half, 0.0);
  EXPECT_LT(half, 1.0);
  // A model without word features measures its character n-grams instead.
  TrainOptions chars;
  chars.features.word_ngram_max = 0;
  auto char_model = TrainLinearModel(SeparableData(20), chars);
  ASSERT_TRUE(char_model.ok());
  EXPECT_DOUBLE_EQ(char_model->Familiarity("refund invoice"), 1.0);
  EXPECT_GT(char_model->Familiarity("recipe"), 0.0);
  EXPECT_LT(char_model->Familiarity("recipe"), 1.0);
}

TEST(AbstentionTest, UnfamiliarTextAbstainsWithoutOosExamples) {
  TempDir dir;
  const auto data = testing::SeparableDataWithNoise(40, 5);
  TrainOptions off;  // the default: no familiarity floor
  std::vector<Prediction> oof_off, oof_on;
  auto plain = TrainLinearModel(data, off, &oof_off);
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(plain->familiarity_floor(), 0.0);
  EXPECT_FALSE(plain->Predict("pizza and a movie this holiday").abstained);

  TrainOptions on;
  on.familiarity_budget = 0.05;
  auto model = TrainLinearModel(data, on, &oof_on);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_FALSE(model->has_out_of_scope());
  EXPECT_GT(model->familiarity_floor(), 0.0);
  EXPECT_LT(model->familiarity_floor(), 1.0);
  const Prediction out = model->Predict("pizza and a movie this holiday");
  EXPECT_TRUE(out.abstained);
  EXPECT_EQ(out.label, "");
  EXPECT_FALSE(out.alternatives.empty());  // the agent still sees the candidates
  // A training text without made-up words: seen in full.
  const auto clean = std::find_if(data.begin(), data.end(), [](const LabeledText& ex) {
    return std::count(ex.text.begin(), ex.text.end(), ' ') == 5;
  });
  ASSERT_NE(clean, data.end());
  const Prediction in = model->Predict(clean->text);
  EXPECT_FALSE(in.abstained);
  EXPECT_EQ(in.label, clean->label);

  // The floor spends at most its budget of held-out in-scope accuracy (same seed, same
  // models: only the floor differs), and it does abstain on some held-out rows.
  ASSERT_EQ(oof_on.size(), oof_off.size());
  size_t right_off = 0, right_on = 0, abstained = 0;
  for (size_t i = 0; i < data.size(); ++i) {
    right_off += !oof_off[i].abstained && oof_off[i].label == data[i].label;
    right_on += !oof_on[i].abstained && oof_on[i].label == data[i].label;
    abstained += oof_on[i].abstained;
  }
  EXPECT_GT(abstained, 0u);
  EXPECT_LE(static_cast<double>(right_off - right_on), on.familiarity_budget * static_cast<double>(data.size()));

  ASSERT_TRUE(model->Save(dir.File("m.model")).ok());
  auto loaded = LinearModel::Load(dir.File("m.model"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->familiarity_floor(), model->familiarity_floor());
  EXPECT_TRUE(loaded->Predict("guitar in the garden").abstained);

  TrainOptions bad = on;
  bad.familiarity_budget = -0.1;
  EXPECT_EQ(TrainLinearModel(data, bad).status().code(), Code::kInvalidArgument);
}

// FNV-1a as the model file uses it for its checksum.
uint64_t Fnv(std::string_view bytes) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

TEST(AbstentionTest, VersionOneFilesStillLoadWithoutThresholds) {
  TempDir dir;
  auto model = TrainLinearModel(SeparableData(30), TrainOptions{});
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE(model->Save(dir.File("current.model")).ok());
  std::string current = ReadAll(dir.File("current.model"));
  // Version 1 is the current version without the two doubles after the temperature, the
  // network section (for a linear model, its zero hidden-unit count) and the familiarity
  // floor before the checksum.
  const size_t temperature_at = 8 + 4 + 4 * 4 + 2 * 4;
  std::string v1 = current.substr(0, temperature_at + 8) + current.substr(temperature_at + 8 + 16);
  v1.resize(v1.size() - 8 - 8 - 4);
  v1[8] = 1;
  const uint64_t sum = Fnv(v1);
  v1.append(reinterpret_cast<const char*>(&sum), sizeof(sum));
  WriteFile(dir.File("v1.model"), v1);
  auto old = LinearModel::Load(dir.File("v1.model"));
  ASSERT_TRUE(old.ok()) << old.status().ToString();
  EXPECT_FALSE(old->auto_threshold().has_value());
  EXPECT_EQ(old->abstain_threshold(), 0.0);
  EXPECT_EQ(old->Probabilities("refund my invoice"), model->Probabilities("refund my invoice"));
}

TEST(EvaluateTest, ArithmeticOnAHandCheckedSet) {
  // 4 in-scope items, 2 oos; threshold 0.8.
  const std::vector<std::string> gold = {"a", "a", "b", "b", "oos", "oos"};
  const std::vector<Prediction> predicted = {Answer("a", 0.9), Answer("b", 0.85), Answer("b", 0.5),
                                             Abstain(0.3), Abstain(0.4), Answer("a", 0.95)};
  const Evaluation e = Evaluate(gold, predicted, 0.8);
  EXPECT_EQ(e.metrics.n, 6u);
  EXPECT_EQ(e.metrics.correct, 3u);  // a, b, and the abstained oos
  EXPECT_DOUBLE_EQ(e.metrics.accuracy, 0.5);
  EXPECT_EQ(e.in_scope_n, 4u);
  EXPECT_DOUBLE_EQ(e.in_scope_accuracy, 0.5);
  EXPECT_EQ(e.oos_n, 2u);
  EXPECT_DOUBLE_EQ(e.oos_recall, 0.5);
  ASSERT_TRUE(e.auto_threshold.has_value());
  EXPECT_EQ(*e.auto_threshold, 0.8);
  EXPECT_EQ(e.auto_n, 3u);  // 0.9 right, 0.85 wrong, 0.95 wrong (oos)
  EXPECT_DOUBLE_EQ(e.auto_coverage, 0.5);
  EXPECT_DOUBLE_EQ(e.auto_precision, 1.0 / 3.0);
  // The two wrong ones automation would have sent, most confident first; the wrong 0.5
  // and the abstentions were never going out.
  EXPECT_EQ(e.auto_errors, (std::vector<size_t>{5, 1}));
  EXPECT_EQ(e.answered, 4u);
  // Bins of width 1/15 hold one answer each: 0.5 right, 0.85 wrong, 0.9 right, 0.95 wrong.
  EXPECT_NEAR(e.ece, (0.5 + 0.85 + 0.1 + 0.95) / 4, 1e-12);
  // Risk–coverage: most confident first.
  ASSERT_EQ(e.risk_coverage.size(), 4u);
  EXPECT_DOUBLE_EQ(e.risk_coverage[0].confidence, 0.95);
  EXPECT_DOUBLE_EQ(e.risk_coverage[0].risk, 1.0);
  EXPECT_DOUBLE_EQ(e.risk_coverage[3].coverage, 4.0 / 6.0);
  EXPECT_DOUBLE_EQ(e.risk_coverage[3].risk, 0.5);

  EXPECT_FALSE(Evaluate(gold, predicted, std::nullopt).auto_threshold.has_value());
  EXPECT_TRUE(Evaluate(gold, predicted, std::nullopt).auto_errors.empty());

  // An LLM's self-reported 0.99 is never automated, right or wrong.
  std::vector<Prediction> with_model = predicted;
  with_model[0].calibrated = false;
  with_model[5].calibrated = false;
  const Evaluation m = Evaluate(gold, with_model, 0.8);
  EXPECT_EQ(m.auto_n, 1u);
  EXPECT_DOUBLE_EQ(m.auto_precision, 0.0);
  EXPECT_EQ(m.auto_errors, (std::vector<size_t>{1}));
  EXPECT_EQ(m.answered, 4u);  // still answers: they count for accuracy and calibration
}

// Automated answers by label, and the labels that fall short of the target beyond chance:
// p-values are binomial tails checked against exact sums (Python's math.comb).
TEST(EvaluateTest, LabelsWhoseAutomatedAnswersFallShortOfTheTarget) {
  std::vector<std::string> gold;
  std::vector<Prediction> predicted;
  auto add = [&](const std::string& label, int n, int wrong, double confidence = 0.95) {
    for (int i = 0; i < n; ++i) {
      gold.push_back(i < wrong ? "other" : label);
      predicted.push_back(Answer(label, confidence));
    }
  };
  add("refund", 20, 5);     // P(X >= 5 | 20, 0.02) = 3.859e-05: short
  add("delivery", 10, 1);   // P(X >= 1 | 10, 0.02) = 0.1829: could be chance
  add("invoice", 40, 3);    // P(X >= 3 | 40, 0.02) = 0.04567: short, barely
  add("account", 30, 0);    // no error
  add("login", 8, 8, 0.5);  // all wrong, but under the threshold: never automated
  predicted.push_back(Abstain(0.99));  // an abstention is never automated either
  gold.push_back("refund");
  const Evaluation e = Evaluate(gold, predicted, 0.9);
  ASSERT_EQ(e.auto_by_label.size(), 4u);  // by label; login was never automated
  EXPECT_EQ(e.auto_by_label[0].label, "account");
  EXPECT_EQ(e.auto_by_label[0].n, 30u);
  EXPECT_EQ(e.auto_by_label[0].wrong, 0u);
  EXPECT_EQ(e.auto_by_label[3].label, "refund");
  EXPECT_EQ(e.auto_by_label[3].n, 20u);
  EXPECT_EQ(e.auto_by_label[3].wrong, 5u);
  EXPECT_DOUBLE_EQ(e.auto_by_label[3].precision(), 0.75);

  const std::vector<ShortLabel> short_labels = LabelsShortOfTarget(e, 0.98);
  ASSERT_EQ(short_labels.size(), 2u);
  EXPECT_EQ(short_labels[0].automation.label, "refund");  // least likely by chance first
  EXPECT_NEAR(short_labels[0].p_value, 3.859090324326966e-05, 1e-12);
  EXPECT_EQ(short_labels[1].automation.label, "invoice");
  EXPECT_NEAR(short_labels[1].p_value, 0.04567023044071665, 1e-12);
  // A laxer target forgives invoice (3 of 40 is within chance of 0.95); a stricter
  // significance level forgives it too.
  EXPECT_EQ(LabelsShortOfTarget(e, 0.95).size(), 1u);
  EXPECT_EQ(LabelsShortOfTarget(e, 0.98, 0.01).size(), 1u);
  // Thousands of answers: the tail stays exact (P(X >= 4 | 3000, 0.0005) = 0.0656).
  std::vector<std::string> many_gold(3000, "a");
  std::vector<Prediction> many(3000, Answer("a", 0.99));
  for (int i = 0; i < 4; ++i) many_gold[i] = "b";
  const std::vector<ShortLabel> big = LabelsShortOfTarget(Evaluate(many_gold, many, 0.9), 0.9995, 0.07);
  ASSERT_EQ(big.size(), 1u);
  EXPECT_NEAR(big[0].p_value, 0.06559537184055844, 1e-9);
  EXPECT_TRUE(LabelsShortOfTarget(Evaluate(many_gold, many, 0.9), 0.9995).empty());
  // Without a threshold nothing is automated.
  EXPECT_TRUE(Evaluate(gold, predicted, std::nullopt).auto_by_label.empty());
}

TEST(EvaluateTest, PerfectlyCalibratedSetHasZeroEce) {
  // In each bin, the share right equals the confidence: 10 at 0.7 with 7 right, 5 at 0.2 with 1.
  std::vector<std::string> gold;
  std::vector<Prediction> predicted;
  for (int i = 0; i < 10; ++i) {
    gold.push_back("a");
    predicted.push_back(Answer(i < 7 ? "a" : "b", 0.7));
  }
  for (int i = 0; i < 5; ++i) {
    gold.push_back("a");
    predicted.push_back(Answer(i < 1 ? "a" : "b", 0.2));
  }
  const Evaluation e = Evaluate(gold, predicted, std::nullopt);
  EXPECT_NEAR(e.ece, 0.0, 1e-12);
  EXPECT_EQ(e.reliability.size(), static_cast<size_t>(kCalibrationBins));
  EXPECT_EQ(e.reliability[10].count, 10u);  // 0.7 falls in [0.667, 0.733)
  EXPECT_DOUBLE_EQ(e.reliability[10].accuracy, 0.7);
}

TEST(EvaluateTest, SvgChartsAreWellFormed) {
  const std::vector<std::string> gold = {"a", "a", "b", "b", "a"};
  const std::vector<Prediction> predicted = {Answer("a", 0.95), Answer("a", 0.7), Answer("a", 0.6),
                                             Answer("b", 0.9), Answer("a", 0.3)};
  const Evaluation e = Evaluate(gold, predicted, 0.8);
  for (const std::string& svg : {ReliabilitySvg(e), RiskCoverageSvg(e)}) {
    EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
    EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
    // Every element opened is closed (the charts use no self-nesting beyond rect/title).
    size_t opens = 0, closes = 0;
    for (size_t p = svg.find('<'); p != std::string::npos; p = svg.find('<', p + 1)) {
      if (svg[p + 1] == '/') {
        ++closes;
      } else if (svg.find('>', p) != std::string::npos && svg[svg.find('>', p) - 1] != '/') {
        ++opens;
      }
    }
    EXPECT_EQ(opens, closes);
  }
  EXPECT_NE(ReliabilitySvg(e).find(">confidence</text>"), std::string::npos);
  EXPECT_NE(RiskCoverageSvg(e).find(">coverage (share of items answered)</text>"), std::string::npos);
  const std::string reliability = ReliabilitySvg(e);
  EXPECT_EQ(std::count_if(e.reliability.begin(), e.reliability.end(), [](const auto& b) { return b.count > 0; }),
            [&] {
              size_t n = 0;
              for (size_t p = reliability.find("class=\"bin\""); p != std::string::npos;
                   p = reliability.find("class=\"bin\"", p + 1)) {
                ++n;
              }
              return static_cast<long>(n);
            }());
  const std::string curve = RiskCoverageSvg(e);
  const size_t points = curve.find("class=\"curve\"");
  ASSERT_NE(points, std::string::npos);
  // One x,y pair per distinct confidence.
  const size_t from = curve.find("points=\"", points) + 8;
  const std::string list = curve.substr(from, curve.find('"', from) - from);
  EXPECT_EQ(static_cast<size_t>(std::count(list.begin(), list.end(), ',')), e.risk_coverage.size());
  EXPECT_NE(curve.find("auto-threshold 0.80"), std::string::npos);
}

TEST(CrossValidateTest, SeparableDataAndThreadCountDoesNotMatter) {
  const auto data = SeparableData(20);
  int calls = 0;
  auto one = CrossValidate(data, TrainOptions{}, 4, 3, 1, [&](int, double) { ++calls; });
  auto two = CrossValidate(data, TrainOptions{}, 4, 3, 2);
  ASSERT_TRUE(one.ok() && two.ok());
  EXPECT_EQ(calls, 4);
  EXPECT_DOUBLE_EQ(one->evaluation.metrics.accuracy, 1.0);
  EXPECT_DOUBLE_EQ(one->evaluation.metrics.macro_f1, 1.0);
  EXPECT_EQ(one->fold_accuracy, two->fold_accuracy);
  EXPECT_EQ(CrossValidate(data, TrainOptions{}, 1, 3).status().code(), Code::kInvalidArgument);
}

// One stratified 80/20 split of a public train file (every fifth example of each label).
bool SplitShared(const std::string& name, std::vector<LabeledText>* train, std::vector<LabeledText>* test) {
  const std::string path = std::string(DESKPILOT_SHARED_DATA_DIR) + "/" + name + "/train.jsonl";
  if (!std::filesystem::exists(path)) return false;
  auto data = LoadJsonl(path, "label");
  EXPECT_TRUE(data.ok()) << data.status().ToString();
  std::map<std::string, int> seen;
  for (auto& ex : *data) (seen[ex.label]++ % 5 == 4 ? *test : *train).push_back(std::move(ex));
  return true;
}

Evaluation HoldOut(const std::vector<LabeledText>& train, const std::vector<LabeledText>& test, double* seconds) {
  const auto start = std::chrono::steady_clock::now();
  auto model = TrainLinearModel(train, TrainOptions{});
  *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_LT(model->MemoryBytes(), 40u << 20);
  return Evaluate(*model, test);
}

// The bars on BANKING77 (77 fine-grained intents): accuracy, and held-out precision and
// coverage at the stored auto-threshold. Measured 0.917 / 0.975 / 0.822, ECE 0.018, balanced
// accuracy 0.915 (with the training label prior: 0.920 / 0.975 / 0.818, ECE 0.022; one
// network, format 4: 0.918 / 0.977 / 0.808, ECE 0.017; linear model of format 3: 0.915 /
// 0.980 / 0.791, ECE 0.018; softmax model of format 2: 0.905 / 0.981 / 0.767, ECE 0.013).
// Precision is checked two standard errors under the 0.98 target: on ~1,640 answered rows
// one standard error is 0.0035 and one more wrong answer moves it 0.0006, so a model that
// truly holds 0.98 lands under 0.975 about one split in fourteen. The pooled 5-fold CV
// figure (10,003 rows, README.md) is the precise one: 0.981.
TEST(Banking77Test, StoredAutoThresholdHoldsOnHeldOutData) {
  std::vector<LabeledText> train, test;
  if (!SplitShared("banking77", &train, &test)) GTEST_SKIP() << "dataset not present: banking77/train.jsonl";
  double seconds = 0;
  const Evaluation e = HoldOut(train, test, &seconds);
  std::printf("banking77 80/20: accuracy=%.4f balanced=%.4f auto_threshold=%.4f auto_precision=%.4f "
              "auto_coverage=%.4f ece=%.4f train=%.1fs\n",
              e.metrics.accuracy, e.metrics.balanced_accuracy, e.auto_threshold.value_or(-1), e.auto_precision,
              e.auto_coverage, e.ece, seconds);
  EXPECT_GE(e.metrics.accuracy, 0.905);
  EXPECT_GE(e.auto_precision, 0.973);
  EXPECT_GE(e.auto_coverage, 0.77);
  EXPECT_LT(e.ece, 0.025);
}

// Abstention on CLINC150: the train split's 100 `oos` rows teach the model "none of these".
// Measured 0.955 in-scope accuracy, oos recall 0.65 (13 of the 20 held-out oos rows; linear
// model of format 3: 0.954 / 0.65; softmax model of format 2: 0.946 / 0.60).
TEST(Clinc150Test, HeldOutInScopeAccuracyAndOosRecall) {
  std::vector<LabeledText> train, test;
  if (!SplitShared("clinc150", &train, &test)) GTEST_SKIP() << "dataset not present: clinc150/train.jsonl";
  double seconds = 0;
  const Evaluation e = HoldOut(train, test, &seconds);
  std::printf("clinc150 80/20: in_scope_accuracy=%.4f oos_recall=%.4f (n=%zu) train=%.1fs\n", e.in_scope_accuracy,
              e.oos_recall, e.oos_n, seconds);
  EXPECT_GE(e.in_scope_accuracy, 0.94);
  EXPECT_GE(e.oos_recall, 0.55);
}

}  // namespace
}  // namespace deskpilot
