#include "classifier/embedded/linear_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>
#include <random>
#include <set>
#include <sstream>

#include "classifier/embedded/evaluation.h"
#include "classifier/embedded/test_util.h"

namespace deskpilot {
namespace {

using testing::SeparableData;
using testing::SeparableDataWithNoise;
using testing::TempDir;
using testing::WriteFile;

std::vector<std::string> Features(std::string_view text, FeatureKind want, const FeatureOptions& o = {}) {
  std::vector<std::string> out;
  ForEachFeature(text, o, [&](FeatureKind kind, std::string_view f) {
    if (kind == want) out.emplace_back(f);
  });
  return out;
}

bool Contains(const std::vector<std::string>& v, const std::string& x) {
  return std::find(v.begin(), v.end(), x) != v.end();
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Trains on `data` with seed 7 twice and seed 8 once, expects the two seed-7 files to be
// byte-identical and the seed-8 file to differ (the seed really drives the example order),
// and returns the seed-7 model, saved as dir/"a".
LinearModel ExpectDeterministicForASeed(const std::vector<LabeledText>& data, TrainOptions o, TempDir& dir) {
  o.seed = 7;
  auto a = TrainLinearModel(data, o);
  auto b = TrainLinearModel(data, o);
  o.seed = 8;
  auto c = TrainLinearModel(data, o);
  EXPECT_TRUE(a.ok() && b.ok() && c.ok());
  if (!a.ok() || !b.ok() || !c.ok()) return LinearModel();
  EXPECT_TRUE(a->Save(dir.File("a")).ok());
  EXPECT_TRUE(b->Save(dir.File("b")).ok());
  EXPECT_TRUE(c->Save(dir.File("c")).ok());
  EXPECT_EQ(ReadAll(dir.File("a")), ReadAll(dir.File("b")));
  EXPECT_NE(ReadAll(dir.File("a")), ReadAll(dir.File("c")));
  return std::move(a).value();
}

TEST(FeaturesTest, WordUnigramsAndBigramsLowercasedWithDigitsFolded) {
  const auto words = Features("My CARD hasn't arrived in 2 weeks!", FeatureKind::kWord);
  const std::vector<std::string> expected = {"my",        "card",      "hasnt",    "arrived",  "in",
                                             "0",         "weeks",     "my card",  "card hasnt",
                                             "hasnt arrived", "arrived in", "in 0", "0 weeks"};
  EXPECT_EQ(words, expected);
}

TEST(FeaturesTest, CharNgramsStayInsideWordBoundaries) {
  FeatureOptions o;
  o.char_ngram_min = 2;
  o.char_ngram_max = 3;
  const auto chars = Features("ab cd", FeatureKind::kChar, o);
  const std::vector<std::string> expected = {" a", "ab", "b ", " ab", "ab ",
                                             " c", "cd", "d ", " cd", "cd "};
  EXPECT_EQ(chars, expected);
  for (const auto& f : chars) EXPECT_EQ(f.find("b c"), std::string::npos) << f;
}

TEST(FeaturesTest, Utf8CodePointsAreNeverSplit) {
  FeatureOptions o;
  o.char_ngram_min = 1;
  o.char_ngram_max = 5;
  const std::string text = "Café naïve 日本語 ok";
  const auto words = Features(text, FeatureKind::kWord, o);
  EXPECT_TRUE(Contains(words, "café"));
  EXPECT_TRUE(Contains(words, "naïve"));
  EXPECT_TRUE(Contains(words, "日本語"));
  const auto chars = Features(text, FeatureKind::kChar, o);
  EXPECT_TRUE(Contains(chars, "é"));
  EXPECT_TRUE(Contains(chars, "fé "));  // 3 code points, 4 bytes
  EXPECT_TRUE(Contains(chars, "本"));
  EXPECT_TRUE(Contains(chars, " 日本語 "));
  for (const auto& f : chars) {
    ASSERT_FALSE(f.empty());
    // No feature may start with a continuation byte or end inside a multi-byte sequence.
    EXPECT_NE(static_cast<unsigned char>(f.front()) & 0xC0, 0x80) << f;
    size_t i = f.size() - 1;
    while (i > 0 && (static_cast<unsigned char>(f[i]) & 0xC0) == 0x80) --i;
    const unsigned char lead = static_cast<unsigned char>(f[i]);
    const size_t len = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    EXPECT_EQ(f.size() - i, len) << f;
  }
}

// Each learner alone, their ensemble (the default), and the ensemble shipped as one fit on
// all the data instead of the fold average.
class LearnersTest : public ::testing::TestWithParam<int> {};

TrainOptions LearnerVariant(int variant) {
  TrainOptions o;
  if (variant == 0) o.learners = {{Loss::kCrammerSinger, 0.01}};
  if (variant == 1) o.learners = {{Loss::kSoftmax, 0.1}};
  if (variant == 3) o.average_fold_models = false;
  return o;
}

TEST_P(LearnersTest, LearnsSeparableDataPerfectly) {
  const auto data = SeparableData(30);
  auto model = TrainLinearModel(data, LearnerVariant(GetParam()));
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  EXPECT_EQ(model->labels(), (std::vector<std::string>{"billing", "login", "shipping"}));
  const EvalMetrics m = Evaluate(*model, data).metrics;
  EXPECT_EQ(m.correct, data.size());
  EXPECT_DOUBLE_EQ(m.accuracy, 1.0);
  // Unseen texts built from the same keywords.
  EXPECT_EQ(model->Predict("I was charged twice, where is my refund").label, "billing");
  EXPECT_EQ(model->Predict("the courier lost my parcel").label, "shipping");
  EXPECT_EQ(model->Predict("forgot my password and I am locked out").label, "login");
  EXPECT_GT(model->Predict("invoice refund payment").confidence, 0.9);
}

INSTANTIATE_TEST_SUITE_P(Variants, LearnersTest, ::testing::Values(0, 1, 2, 3));

// The shipped model is one linear model whose scores are the mean of the learners' fold
// models, so its predictions on the training texts are about as good as theirs were on the
// texts they did not see (and its scores are not those of any single fit).
TEST(LinearModelTest, FoldAverageShipsAndDiffersFromOneFullFit) {
  const auto data = SeparableData(40, 3);
  TrainOptions averaged = LearnerVariant(2), full = LearnerVariant(3);
  auto a = TrainLinearModel(data, averaged);
  auto b = TrainLinearModel(data, full);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->num_features(), b->num_features());
  EXPECT_EQ(a->temperature(), b->temperature());  // fitted on the same out-of-fold scores
  EXPECT_NE(a->Scores("refund my payment"), b->Scores("refund my payment"));
  EXPECT_EQ(Evaluate(*a, data).metrics.accuracy, 1.0);
}

// A hinge learner's margins are no probabilities: only the fitted temperature makes them
// confident where the data is clear.
TEST(LinearModelTest, HingeMarginsBecomeProbabilitiesThroughTheTemperature) {
  auto model = TrainLinearModel(SeparableData(30), LearnerVariant(0));
  ASSERT_TRUE(model.ok());
  EXPECT_LT(model->temperature(), 0.5);
  const auto p = LinearModel::Softmax(model->Scores("invoice refund payment"), 1.0);
  EXPECT_LT(*std::max_element(p.begin(), p.end()), model->Predict("invoice refund payment").confidence);
}

// `bytes` (a model file without its checksum) as format `version`, signed: the trailing
// checksum is FNV-1a over everything before it.
std::string Resigned(std::string bytes, uint8_t version) {
  bytes[8] = static_cast<char>(version);
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : bytes) h = (h ^ c) * 1099511628211ULL;
  bytes.append(reinterpret_cast<const char*>(&h), sizeof(h));
  return bytes;
}

// Versions 2 and 3 have the current layout without its network section (a linear model's
// file ends in a zero hidden-unit count) and without the familiarity floor that follows it,
// so their files load as linear models; versions 4 and 5 end at the hidden-unit count.
TEST(LinearModelTest, LoadsOlderFormatVersions) {
  TempDir dir;
  TrainOptions options;
  options.familiarity_budget = 0.05;
  auto model = TrainLinearModel(SeparableDataWithNoise(20), options);
  ASSERT_TRUE(model.ok());
  ASSERT_EQ(model->mlp_hidden(), 0u);  // under kMinMlpExamples
  ASSERT_GT(model->familiarity_floor(), 0.0);
  ASSERT_TRUE(model->Save(dir.File("current.model")).ok());
  const std::string current = ReadAll(dir.File("current.model"));
  ASSERT_EQ(static_cast<uint8_t>(current[8]), LinearModel::kFormatVersion);
  const size_t floor_at = current.size() - sizeof(uint64_t) - sizeof(double);
  for (uint8_t version : {2, 3, 4, 5}) {
    // Without the checksum and the floor; before version 4 also without the hidden-unit count.
    const std::string bytes = Resigned(current.substr(0, floor_at - (version < 4 ? sizeof(uint32_t) : 0)), version);
    std::string name = "v";  // (a "literal" + std::string here trips GCC 12's -Wrestrict)
    name += std::to_string(version);
    const std::string path = dir.File(name + ".model");
    WriteFile(path, bytes);
    auto loaded = LinearModel::Load(path);
    ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
    EXPECT_EQ(loaded->auto_threshold(), model->auto_threshold());
    EXPECT_EQ(loaded->familiarity_floor(), 0.0);
    EXPECT_EQ(loaded->Probabilities("refund my payment"), model->Probabilities("refund my payment"));
  }
  // A floor outside [0, 1] is refused.
  std::string bad = current.substr(0, floor_at);
  const double two = 2.0;
  bad.append(reinterpret_cast<const char*>(&two), sizeof(two));
  WriteFile(dir.File("bad.model"), Resigned(bad, LinearModel::kFormatVersion));
  EXPECT_EQ(LinearModel::Load(dir.File("bad.model")).status().code(), Code::kDataLoss);
}

// Labels that only a combination of two words decides ("red" with "circle" or "blue" with
// "square" is `same`, the other pairs `mixed`), the words in random order among fillers:
// every word is as frequent under both labels, so no linear model over these n-grams can
// do much better than chance, and a hidden layer can.
std::vector<LabeledText> XorData(int n, uint32_t seed) {
  const std::vector<std::string> filler = {"please", "help", "today", "thanks", "order", "need", "soon", "again"};
  std::mt19937 rng(seed);
  std::vector<LabeledText> out;
  for (int i = 0; i < n; ++i) {
    const bool red = rng() % 2, circle = rng() % 2;
    std::vector<std::string> words = {red ? "red" : "blue", circle ? "circle" : "square"};
    for (int w = 0; w < 4; ++w) words.push_back(filler[rng() % filler.size()]);
    std::shuffle(words.begin(), words.end(), rng);
    std::string text;
    for (const auto& w : words) {
      if (!text.empty()) text += ' ';
      text += w;
    }
    out.push_back({text, red == circle ? "same" : "mixed"});
  }
  return out;
}

double Accuracy(const LinearModel& m, const std::vector<LabeledText>& data) { return Evaluate(m, data).metrics.accuracy; }

TEST(MlpBlendTest, LearnsWhatNoLinearModelCanAndShipsOnlyWithEnoughData) {
  const auto train = XorData(1200, 1), test = XorData(400, 2);
  TrainOptions linear_only;
  linear_only.mlp_hidden = 0;
  std::vector<Prediction> oof;
  std::vector<size_t> rows;
  auto blend = TrainLinearModel(train, TrainOptions{}, &oof, &rows);
  auto linear = TrainLinearModel(train, linear_only);
  ASSERT_TRUE(blend.ok() && linear.ok()) << blend.status().ToString();
  EXPECT_EQ(blend->mlp_hidden(), 128u);
  EXPECT_EQ(blend->mlp_count(), 3u);  // the networks of all three held-out folds ship
  EXPECT_GT(blend->mlp_weight(), 0.0);
  EXPECT_EQ(linear->mlp_hidden(), 0u);
  EXPECT_LT(Accuracy(*linear, test), 0.75);
  EXPECT_GT(Accuracy(*blend, test), 0.95);
  // Thresholds come from the held-out folds of the networks (3 of 5 calibration folds), each
  // row predicted by a network that did not see it.
  EXPECT_EQ(oof.size(), rows.size());
  EXPECT_NEAR(static_cast<double>(rows.size()), 0.6 * train.size(), 2.0);
  ASSERT_TRUE(std::is_sorted(rows.begin(), rows.end()));
  size_t right = 0;
  for (size_t j = 0; j < rows.size(); ++j) right += oof[j].label == train[rows[j]].label;
  EXPECT_GT(static_cast<double>(right) / rows.size(), 0.95);
  // Below kMinMlpExamples no network is trained.
  auto small = TrainLinearModel(XorData(LinearModel::kMinMlpExamples - 1, 3), TrainOptions{});
  ASSERT_TRUE(small.ok());
  EXPECT_EQ(small->mlp_hidden(), 0u);
}

// `data` with only every `keep`-th row of each label but `common` kept: a skewed label mix.
std::vector<LabeledText> Skewed(const std::vector<LabeledText>& data, const std::string& common, int keep) {
  std::vector<LabeledText> out;
  std::map<std::string, int> seen;
  for (const LabeledText& ex : data) {
    if (ex.label == common || seen[ex.label]++ % keep == 0) out.push_back(ex);
  }
  return out;
}

// `data` with every fifth label replaced by a random one: no prediction is near-certain, so
// probabilities can be compared in log space without underflow.
std::vector<LabeledText> WithLabelNoise(std::vector<LabeledText> data) {
  std::set<std::string> label_set;
  for (const LabeledText& ex : data) label_set.insert(ex.label);
  const std::vector<std::string> labels(label_set.begin(), label_set.end());
  std::mt19937 rng(11);
  for (LabeledText& ex : data) {
    if (rng() % 5 == 0) ex.label = labels[rng() % labels.size()];
  }
  return data;
}

// The same fits, the same seed: a model trained for a uniform label prior must give the
// training-prior model's probabilities divided by the label shares (a label counted as at
// least kFewLabelExamples rows) and renormalised,
// whether it is uncalibrated, a calibrated linear model or a blend with networks (whose
// shift goes through the blend weight and temperature).
TEST(LabelPriorTest, UniformDividesTheTrainingPriorProbabilitiesByTheLabelShares) {
  TrainOptions uncalibrated;
  uncalibrated.calibrate = false;
  struct Case {
    const char* name;
    std::vector<LabeledText> data;
    TrainOptions options;
    std::vector<std::string> texts;
  };
  const std::vector<Case> cases = {
      // 40 billing rows, 5 of each other label: their shares count 10 rows.
      {"uncalibrated", Skewed(SeparableDataWithNoise(40), "billing", 8), uncalibrated,
       {"refund my parcel", "hello please help", "locked courier invoice"}},
      {"linear", Skewed(WithLabelNoise(SeparableDataWithNoise(300)), "billing", 10), TrainOptions{},
       {"refund my parcel", "hello please help", "locked courier invoice"}},
      {"blend", Skewed(WithLabelNoise(XorData(1800, 5)), "same", 3), TrainOptions{},
       {"red circle please", "blue circle today", "help order again"}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::map<std::string, size_t> count;
    for (const LabeledText& ex : c.data) ++count[ex.label];
    std::map<std::string, double> share;
    for (const auto& [label, rows] : count) {
      share[label] = static_cast<double>(std::max(rows, kFewLabelExamples)) / static_cast<double>(c.data.size());
    }
    if (std::string(c.name) == "uncalibrated") {
      EXPECT_EQ(count.at("login"), 5u);
    }
    TrainOptions training = c.options, uniform = c.options;
    training.label_prior = LabelPrior::kTraining;
    uniform.label_prior = LabelPrior::kUniform;
    auto t = TrainLinearModel(c.data, training);
    auto u = TrainLinearModel(c.data, uniform);
    ASSERT_TRUE(t.ok() && u.ok()) << t.status().ToString();
    ASSERT_EQ(t->labels(), u->labels());
    EXPECT_EQ(t->mlp_count(), std::string(c.name) == "blend" ? 3u : 0u);
    for (const std::string& text : c.texts) {
      // In log space, so that near-certain predictions (the usual case) are checked too:
      // log p_uniform - log p_training + log share is the same for every label.
      const std::vector<double> pt = t->Probabilities(text), pu = u->Probabilities(text);
      std::vector<double> offset;
      for (size_t k = 0; k < pt.size(); ++k) {
        offset.push_back(std::log(pu[k]) - std::log(pt[k]) + std::log(share.at(t->labels()[k])));
      }
      const auto [lo, hi] = std::minmax_element(offset.begin(), offset.end());
      EXPECT_LT(*hi - *lo, 1e-3) << text;
    }
  }
}

TEST(MlpBlendTest, SaveLoadRoundTripAndDeterminism) {
  TempDir dir;
  const auto data = XorData(1100, 4);
  TrainOptions o;
  const LinearModel trained = ExpectDeterministicForASeed(data, o, dir);
  const LinearModel* a = &trained;
  ASSERT_GT(a->mlp_weight(), 0.0);
  auto loaded = LinearModel::Load(dir.File("a"));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->mlp_hidden(), a->mlp_hidden());
  EXPECT_EQ(loaded->mlp_count(), 3u);
  EXPECT_EQ(loaded->mlp_weight(), a->mlp_weight());
  EXPECT_EQ(loaded->auto_threshold(), a->auto_threshold());
  for (const auto& ex : XorData(50, 5)) {
    EXPECT_EQ(loaded->Probabilities(ex.text), a->Probabilities(ex.text)) << ex.text;
  }
  TrainOptions linear_only = o;
  linear_only.mlp_hidden = 0;
  EXPECT_GT(loaded->MemoryBytes(), TrainLinearModel(data, linear_only)->MemoryBytes());
  // A cut inside the network section is caught too.
  const std::string good = ReadAll(dir.File("a"));
  WriteFile(dir.File("short"), good.substr(0, good.size() - 100));
  EXPECT_EQ(LinearModel::Load(dir.File("short")).status().code(), Code::kDataLoss);
}

// Networks after the first are left out when they would take the model over its memory budget,
// and a version 4 file (one network, no count) loads as that one network.
TEST(MlpBlendTest, NetworksToTrainFollowsTheOptions) {
  TrainOptions o;
  EXPECT_EQ(NetworksToTrain(o, LinearModel::kMinMlpExamples - 1), 0);
  EXPECT_EQ(NetworksToTrain(o, LinearModel::kMinMlpExamples), o.mlp_folds);
  o.mlp_folds = 9;  // one network per calibration fold at most
  EXPECT_EQ(NetworksToTrain(o, 5000), o.calibration_folds);
  o.mlp_hidden = 0;
  EXPECT_EQ(NetworksToTrain(o, 5000), 0);
  o.mlp_hidden = 128;
  o.calibrate = false;
  EXPECT_EQ(NetworksToTrain(o, 5000), 0);
}

TEST(MlpBlendTest, SizeBudgetAndFormatVersionFour) {
  TempDir dir;
  const auto data = XorData(1100, 6);
  TrainOptions one_network;
  one_network.max_model_bytes = 0;
  auto model = TrainLinearModel(data, one_network);
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  ASSERT_EQ(model->mlp_count(), 1u);
  ASSERT_GT(model->mlp_weight(), 0.0);
  TrainOptions budget = one_network;
  budget.max_model_bytes = model->MemoryBytes() + 1;  // room for no second network
  ASSERT_EQ(TrainLinearModel(data, budget)->mlp_count(), 1u);
  budget.max_model_bytes = TrainOptions{}.max_model_bytes;
  ASSERT_EQ(TrainLinearModel(data, budget)->mlp_count(), 3u);
  ASSERT_TRUE(model->Save(dir.File("current.model")).ok());
  TrainOptions linear_only;
  linear_only.mlp_hidden = 0;
  ASSERT_TRUE(TrainLinearModel(data, linear_only)->Save(dir.File("linear.model")).ok());
  // The linear part has the same size in both files (same vocabulary and labels); version 4
  // is the current version without the network count that follows the hidden-unit count and
  // without the familiarity floor before the checksum.
  const std::string v5 = ReadAll(dir.File("current.model"));
  const size_t hidden_at =
      ReadAll(dir.File("linear.model")).size() - sizeof(uint64_t) - sizeof(double) - sizeof(uint32_t);
  uint32_t count = 0;
  std::memcpy(&count, v5.data() + hidden_at + sizeof(uint32_t), sizeof(count));
  ASSERT_EQ(count, 1u);
  WriteFile(dir.File("v4.model"),
            Resigned(v5.substr(0, hidden_at + sizeof(uint32_t)) +
                         v5.substr(hidden_at + 2 * sizeof(uint32_t),
                                   v5.size() - sizeof(uint64_t) - sizeof(double) - hidden_at - 2 * sizeof(uint32_t)),
                     4));
  auto v4 = LinearModel::Load(dir.File("v4.model"));
  ASSERT_TRUE(v4.ok()) << v4.status().ToString();
  EXPECT_EQ(v4->mlp_count(), 1u);
  EXPECT_EQ(v4->mlp_weight(), model->mlp_weight());
  for (const auto& ex : XorData(20, 7)) EXPECT_EQ(v4->Probabilities(ex.text), model->Probabilities(ex.text));
  // A count that no trained model has is refused, not allocated.
  std::string bad = v5.substr(0, v5.size() - sizeof(uint64_t));
  const uint32_t huge = 1u << 30;
  std::memcpy(bad.data() + hidden_at + sizeof(uint32_t), &huge, sizeof(huge));
  WriteFile(dir.File("bad.model"), Resigned(bad, LinearModel::kFormatVersion));
  EXPECT_EQ(LinearModel::Load(dir.File("bad.model")).status().code(), Code::kDataLoss);
}

TEST(LinearModelTest, ProbabilitiesSumToOneAndAlternativesDescend) {
  auto model = TrainLinearModel(SeparableData(20), TrainOptions{});
  ASSERT_TRUE(model.ok());
  for (const char* text : {"refund please", "where is my parcel", "", "zzz unknown words"}) {
    const auto p = model->Probabilities(text);
    ASSERT_EQ(p.size(), 3u);
    EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-9) << text;
    const Prediction pred = model->Predict(text);
    EXPECT_GE(pred.confidence, 0.0);
    EXPECT_LE(pred.confidence, 1.0);
    ASSERT_EQ(pred.alternatives.size(), 2u);
    EXPECT_GE(pred.confidence, pred.alternatives[0].second);
    EXPECT_GE(pred.alternatives[0].second, pred.alternatives[1].second);
    EXPECT_NE(pred.label, pred.alternatives[0].first);
  }
  EXPECT_GT(model->Predict("invoice refund payment").confidence, 0.9);
}

TEST(LinearModelTest, SaveLoadRoundTripGivesIdenticalPredictions) {
  TempDir dir;
  auto model = TrainLinearModel(SeparableData(20), TrainOptions{});
  ASSERT_TRUE(model.ok());
  const std::string path = dir.File("m.model");
  ASSERT_TRUE(model->Save(path).ok());
  auto loaded = LinearModel::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->labels(), model->labels());
  EXPECT_EQ(loaded->num_features(), model->num_features());
  for (const auto& ex : SeparableData(5, 99)) {
    EXPECT_EQ(loaded->Probabilities(ex.text), model->Probabilities(ex.text)) << ex.text;
  }
  EXPECT_EQ(ReadAll(path).substr(0, 8), "DPLINMDL");
}

TEST(LinearModelTest, LoadRejectsForeignTruncatedAndCorruptFiles) {
  TempDir dir;
  auto model = TrainLinearModel(SeparableData(10), TrainOptions{});
  ASSERT_TRUE(model.ok());
  ASSERT_TRUE(model->Save(dir.File("good.model")).ok());
  const std::string good = ReadAll(dir.File("good.model"));

  EXPECT_EQ(LinearModel::Load(dir.File("missing.model")).status().code(), Code::kNotFound);
  WriteFile(dir.File("text.model"), "{\"not\": \"a model\"}");
  EXPECT_EQ(LinearModel::Load(dir.File("text.model")).status().code(), Code::kInvalidArgument);
  WriteFile(dir.File("short.model"), good.substr(0, good.size() / 2));
  EXPECT_EQ(LinearModel::Load(dir.File("short.model")).status().code(), Code::kDataLoss);
  std::string flipped = good;
  flipped[flipped.size() / 2] ^= 0x40;
  WriteFile(dir.File("flipped.model"), flipped);
  EXPECT_EQ(LinearModel::Load(dir.File("flipped.model")).status().code(), Code::kDataLoss);
  std::string newer = good;
  newer[8] = static_cast<char>(LinearModel::kFormatVersion + 1);
  WriteFile(dir.File("newer.model"), newer);
  EXPECT_EQ(LinearModel::Load(dir.File("newer.model")).status().code(), Code::kFailedPrecondition);
}

TEST(LinearModelTest, TrainingIsDeterministicForASeed) {
  TempDir dir;
  ExpectDeterministicForASeed(SeparableData(25), TrainOptions{}, dir);
}

// With 30% of labels flipped at random, an honest model cannot be sure: calibration must
// pull the average confidence down toward the accuracy it really reaches.
TEST(LinearModelTest, CalibrationMatchesConfidenceToAccuracy) {
  auto noisy = [](int per_label, uint32_t seed) {
    auto data = SeparableData(per_label, seed);
    std::mt19937 rng(seed);
    const std::vector<std::string> labels = {"billing", "login", "shipping"};
    for (auto& ex : data) {
      if (rng() % 10 < 3) ex.label = labels[rng() % 3];
    }
    return data;
  };
  const auto train = noisy(100, 5);
  const auto test = noisy(60, 6);
  TrainOptions plain, calibrated;
  plain.calibrate = false;
  auto a = TrainLinearModel(train, plain);
  auto b = TrainLinearModel(train, calibrated);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->temperature(), 1.0);
  EXPECT_NE(b->temperature(), 1.0);
  auto gap = [&](const LinearModel& m) {
    double confidence = 0.0, correct = 0.0;
    for (const auto& ex : test) {
      const Prediction p = m.Predict(ex.text);
      confidence += p.confidence;
      correct += p.label == ex.label;
    }
    return std::abs(confidence - correct) / test.size();
  };
  EXPECT_LT(gap(*b), gap(*a));
  EXPECT_LT(gap(*b), 0.08);
}

// Traffic that is harder than the training text: training rows with 5% of labels flipped
// make a confident model, and on tickets with 40% flipped (as real labels and shifted wording
// do) its confidences and stored threshold overstate it. Recalibrating on such tickets fixes both.
TEST(RecalibrationTest, FitsConfidencesAndThresholdToShiftedData) {
  auto noisy = [](int per_label, uint32_t seed, int flip_percent) {
    auto data = SeparableData(per_label, seed);
    std::mt19937 rng(seed);
    const std::vector<std::string> labels = {"billing", "login", "shipping"};
    for (auto& ex : data) {
      if (static_cast<int>(rng() % 100) < flip_percent) ex.label = labels[rng() % 3];
    }
    return data;
  };
  auto model = TrainLinearModel(noisy(100, 5, 5), TrainOptions{});
  ASSERT_TRUE(model.ok()) << model.status().ToString();
  const auto calibration = noisy(40, 7, 40);
  const auto traffic = noisy(60, 8, 40);  // the same shift, never seen by the recalibration
  const Evaluation before = Evaluate(*model, traffic);
  LinearModel recalibrated = *model;
  auto r = RecalibrateLinearModel(&recalibrated, calibration, 0.9);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->n, calibration.size());
  EXPECT_EQ(r->known, calibration.size());
  EXPECT_TRUE(r->temperature_refitted);
  EXPECT_GT(r->temperature_factor, 1.0);  // less sure: the traffic is harder than training
  EXPECT_EQ(r->auto_threshold_before, *model->auto_threshold());
  EXPECT_EQ(r->auto_threshold, *recalibrated.auto_threshold());
  // The predictions it returns are the model's own, before and after.
  ASSERT_EQ(r->gold.size(), calibration.size());
  EXPECT_EQ(r->as_trained[0].confidence, model->Predict(calibration[0].text).confidence);
  EXPECT_EQ(r->recalibrated[0].confidence, recalibrated.Predict(calibration[0].text).confidence);
  const Evaluation after = Evaluate(recalibrated, traffic);
  EXPECT_LT(after.ece, before.ece);
  EXPECT_LT(after.ece, 0.1);
  EXPECT_LT(before.auto_precision, 0.9);  // the training folds' threshold overstates it
  // Labels unchanged: a temperature never reorders a prediction's labels.
  for (const auto& ex : traffic) EXPECT_EQ(recalibrated.Predict(ex.text).label, model->Predict(ex.text).label);

  // The refit survives a save and load.
  TempDir dir;
  const std::string path = (dir.path() / "recalibrated.model").string();
  ASSERT_TRUE(recalibrated.Save(path).ok());
  auto loaded = LinearModel::Load(path);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded->auto_threshold(), recalibrated.auto_threshold());
  EXPECT_DOUBLE_EQ(loaded->Predict(traffic[0].text).confidence, recalibrated.Predict(traffic[0].text).confidence);
}

TEST(RecalibrationTest, LabelsTheModelLacksCountAsWrongAndFloorsStay) {
  auto model = TrainLinearModel(SeparableData(60), TrainOptions{});
  ASSERT_TRUE(model.ok());
  // Half the calibration rows carry a label the model never saw: predicting any label for
  // them is wrong, so precision 0.98 needs far more confidence than on training folds.
  auto calibration = SeparableData(20, 9);
  for (size_t i = 0; i < calibration.size(); i += 2) calibration[i].label = "warranty";
  LinearModel m = *model;
  auto r = RecalibrateLinearModel(&m, calibration, 0.98);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->known, calibration.size() / 2);
  EXPECT_EQ(r->auto_threshold, 1.0);  // nothing reaches it: this model must not automate here
  EXPECT_TRUE(r->temperature_refitted);  // on the 30 rows it knows
  // Fewer than 30 known rows: too few to fit a temperature on; the threshold is still refitted.
  auto mostly_unknown = SeparableData(20, 9);
  for (size_t i = 0; i < 40; ++i) mostly_unknown[i].label = "warranty";
  LinearModel m2 = *model;
  auto r2 = RecalibrateLinearModel(&m2, mostly_unknown, 0.98);
  ASSERT_TRUE(r2.ok());
  EXPECT_EQ(r2->known, 20u);
  EXPECT_FALSE(r2->temperature_refitted);
  EXPECT_EQ(m2.temperature(), model->temperature());
  EXPECT_EQ(r2->auto_threshold, 1.0);

  // A model with a confidence floor keeps its temperature: the floor was chosen on it. Such a
  // model is made here by writing a floor into a saved file (it follows the temperature and
  // the auto-threshold), as small synthetic data never needs one.
  TempDir dir;
  ASSERT_TRUE(model->Save(dir.File("m.model")).ok());
  std::string bytes = ReadAll(dir.File("m.model"));
  bytes.resize(bytes.size() - sizeof(uint64_t));  // the checksum
  const double threshold = *model->auto_threshold(), none = 0.0, floor = 0.4;
  std::string pattern(reinterpret_cast<const char*>(&threshold), sizeof(double));
  pattern.append(reinterpret_cast<const char*>(&none), sizeof(double));
  const size_t at = bytes.find(pattern);
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at + sizeof(double), sizeof(double), reinterpret_cast<const char*>(&floor), sizeof(double));
  WriteFile(dir.File("floor.model"), Resigned(bytes, LinearModel::kFormatVersion));
  auto floored = LinearModel::Load(dir.File("floor.model"));
  ASSERT_TRUE(floored.ok()) << floored.status().ToString();
  ASSERT_EQ(floored->abstain_threshold(), 0.4);
  const auto shifted = SeparableData(20, 9);
  const std::vector<double> p_before = floored->Probabilities(shifted[0].text);
  auto kept = RecalibrateLinearModel(&*floored, shifted, 0.98);
  ASSERT_TRUE(kept.ok());
  EXPECT_FALSE(kept->temperature_refitted);
  EXPECT_EQ(kept->temperature_factor, 1.0);
  EXPECT_EQ(floored->Probabilities(shifted[0].text), p_before);
  EXPECT_EQ(floored->abstain_threshold(), 0.4);
}

TEST(RecalibrationTest, RefusesWhatItCannotFit) {
  auto model = TrainLinearModel(SeparableData(60), TrainOptions{});
  ASSERT_TRUE(model.ok());
  const auto few = SeparableData(9, 3);  // 27 examples
  EXPECT_EQ(RecalibrateLinearModel(&*model, few, 0.98).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(RecalibrateLinearModel(&*model, SeparableData(20, 3), 1.5).status().code(), Code::kInvalidArgument);
  TrainOptions raw;
  raw.calibrate = false;
  auto uncalibrated = TrainLinearModel(SeparableData(60), raw);
  ASSERT_TRUE(uncalibrated.ok());
  EXPECT_EQ(RecalibrateLinearModel(&*uncalibrated, SeparableData(20, 3), 0.98).status().code(),
            Code::kFailedPrecondition);
}

TEST(LinearModelTest, RejectsUnusableTrainingInput) {
  EXPECT_EQ(TrainLinearModel({}, TrainOptions{}).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(TrainLinearModel({{"a b", "x"}, {"a c", "x"}}, TrainOptions{}).status().code(),
            Code::kInvalidArgument);
  TrainOptions bad;
  bad.epochs = 0;
  EXPECT_EQ(TrainLinearModel(SeparableData(3), bad).status().code(), Code::kInvalidArgument);
  TrainOptions no_learner;
  no_learner.learners.clear();
  EXPECT_EQ(TrainLinearModel(SeparableData(3), no_learner).status().code(), Code::kInvalidArgument);
  TrainOptions zero_step;
  zero_step.learners[1].learning_rate = 0;
  EXPECT_EQ(TrainLinearModel(SeparableData(3), zero_step).status().code(), Code::kInvalidArgument);
  TrainOptions all_dropped;
  all_dropped.mlp_dropout = 1.0;
  EXPECT_EQ(TrainLinearModel(SeparableData(3), all_dropped).status().code(), Code::kInvalidArgument);
  TrainOptions no_net_folds;
  no_net_folds.mlp_folds = 0;
  EXPECT_EQ(TrainLinearModel(SeparableData(3), no_net_folds).status().code(), Code::kInvalidArgument);
}

TEST(LinearModelTest, MinDfPrunesRareFeatures) {
  const auto data = SeparableData(20);
  TrainOptions loose, strict;
  loose.features.min_df = 1;
  strict.features.min_df = 5;
  auto a = TrainLinearModel(data, loose);
  auto b = TrainLinearModel(data, strict);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_LT(b->num_features(), a->num_features());
}

TEST(LoadJsonlTest, ReadsTextAndChosenField) {
  TempDir dir;
  WriteFile(dir.File("d.jsonl"),
            "{\"text\": \"hi\", \"label\": \"a\", \"category\": \"x\"}\n\n"
            "{\"text\": \"yo\", \"label\": \"b\", \"category\": 3}\n");
  auto by_label = LoadJsonl(dir.File("d.jsonl"), "label");
  ASSERT_TRUE(by_label.ok()) << by_label.status().ToString();
  ASSERT_EQ(by_label->size(), 2u);
  EXPECT_EQ((*by_label)[1].text, "yo");
  EXPECT_EQ((*by_label)[1].label, "b");
  auto by_category = LoadJsonl(dir.File("d.jsonl"), "category");
  ASSERT_TRUE(by_category.ok());
  EXPECT_EQ((*by_category)[1].label, "3");
  // Each example's line in the file, blank lines counted: what the label review points to.
  std::vector<size_t> lines = {99};
  ASSERT_TRUE(LoadJsonl(dir.File("d.jsonl"), "label", &lines).ok());
  EXPECT_EQ(lines, (std::vector<size_t>{1, 3}));
}

// Rows whose label the held-out models confidently dispute are reported, least probable
// label first; clean rows are not, and without held-out predictions nothing is.
TEST(DisputedLabelTest, FlippedLabelsAreReportedAndCleanRowsAreNot) {
  // 1,020 rows: enough for the network blend, and for held-out probabilities sure enough
  // to pass the bounds (with 180 rows a flipped row's own label kept 0.02-0.04).
  std::vector<LabeledText> data = SeparableData(340);
  std::vector<DisputedLabel> disputed = {{7, "x", 1.0, 0.0}};
  TrainOptions options;
  options.mlp_hidden = 0;
  ASSERT_TRUE(TrainLinearModel(data, options, nullptr, nullptr, &disputed).ok());
  EXPECT_TRUE(disputed.empty()) << disputed.front().row << " " << disputed.front().predicted;

  // SeparableData cycles billing, shipping, login: flip four rows to the next topic.
  const std::vector<std::string> topics = {"billing", "shipping", "login"};
  const std::set<size_t> flipped = {4, 50, 101, 160, 301, 777};
  std::map<size_t, std::string> truth;
  for (size_t i : flipped) {
    truth[i] = data[i].label;
    data[i].label = topics[(i + 1) % 3];
  }
  for (int hidden : {0, 128}) {
    options.mlp_hidden = hidden;  // with 128: the blend's held-out rows and the linear model's others
    ASSERT_TRUE(TrainLinearModel(data, options, nullptr, nullptr, &disputed).ok());
    std::set<size_t> found;
    for (const DisputedLabel& d : disputed) {
      found.insert(d.row);
      ASSERT_TRUE(flipped.count(d.row)) << "clean row " << d.row << " disputed: " << data[d.row].text;
      EXPECT_EQ(d.predicted, truth[d.row]);
      EXPECT_GE(d.confidence, kDisputeConfidence);
      EXPECT_LE(d.label_probability, kDisputeLabelProbability);
    }
    EXPECT_EQ(found, flipped);
    for (size_t k = 1; k < disputed.size(); ++k) {
      EXPECT_LE(disputed[k - 1].label_probability, disputed[k].label_probability);
    }
  }
  // Under 50 examples the model is not calibrated: no held-out predictions, no review.
  std::vector<LabeledText> tiny(data.begin(), data.begin() + 30);
  ASSERT_TRUE(TrainLinearModel(tiny, options, nullptr, nullptr, &disputed).ok());
  EXPECT_TRUE(disputed.empty());
}

TEST(LoadJsonlTest, ErrorsNameTheLine) {
  TempDir dir;
  const std::string ok_line = "{\"text\": \"hi\", \"label\": \"a\"}\n";
  WriteFile(dir.File("json.jsonl"), ok_line + ok_line + "{broken\n");
  auto r = LoadJsonl(dir.File("json.jsonl"), "label");
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("json.jsonl:3:"), std::string::npos) << r.status().message();

  WriteFile(dir.File("field.jsonl"), ok_line + "{\"text\": \"hi\", \"intent\": \"a\"}\n");
  r = LoadJsonl(dir.File("field.jsonl"), "label");
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find(":2:"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("\"label\""), std::string::npos);

  WriteFile(dir.File("text.jsonl"), "{\"body\": \"hi\", \"label\": \"a\"}\n");
  r = LoadJsonl(dir.File("text.jsonl"), "label");
  EXPECT_NE(r.status().message().find(":1:"), std::string::npos) << r.status().message();

  EXPECT_EQ(LoadJsonl(dir.File("absent.jsonl"), "label").status().code(), Code::kNotFound);
}

TEST(MetricsTest, PerLabelPrecisionRecallAndConfusions) {
  const std::vector<std::string> gold = {"a", "a", "a", "b", "b", "c"};
  const std::vector<std::string> pred = {"a", "a", "b", "b", "a", "b"};
  const EvalMetrics m = ComputeMetrics(gold, pred);
  EXPECT_EQ(m.n, 6u);
  EXPECT_EQ(m.correct, 3u);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.5);
  ASSERT_EQ(m.per_label.size(), 3u);
  EXPECT_EQ(m.per_label[0].label, "a");
  EXPECT_DOUBLE_EQ(m.per_label[0].precision, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.per_label[0].recall, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.per_label[1].precision, 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(m.per_label[1].recall, 0.5);
  EXPECT_DOUBLE_EQ(m.per_label[2].f1, 0.0);
  EXPECT_EQ(m.per_label[2].support, 1u);
  EXPECT_NEAR(m.macro_f1, (2.0 / 3.0 + 0.4 + 0.0) / 3.0, 1e-12);
  ASSERT_EQ(m.confusions.size(), 3u);
  for (const auto& [g, p, n] : m.confusions) EXPECT_EQ(n, 1u) << g << "->" << p;
  EXPECT_NEAR(m.balanced_accuracy, (2.0 / 3.0 + 0.5 + 0.0) / 3.0, 1e-12);
  // A label only ever predicted has no recall to average.
  EXPECT_DOUBLE_EQ(ComputeMetrics({"a", "a", "b"}, {"a", "d", "b"}).balanced_accuracy, 0.75);
}

}  // namespace
}  // namespace deskpilot
