// The shipped sample models as trained, measured on config/sample/eval: 360
// tickets written and labelled by hand for deskpilot, independently of the synthetic
// training text (Bitext requests; what scripts/make_sample_data.py composes). The floors sit
// a few points under what the shipped data reaches (README.md in config/sample has the
// figures), for priority and sentiment far above what the earlier cue-only data reached, so a
// change to the sample data that makes these models worse on real-looking tickets fails here.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "classifier/embedded/evaluation.h"
#include "classifier/embedded/linear_model.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;

// A model trained the way the sample loader trains it (default options; models.json's
// "networks": false for priority and sentiment) on <sample>/train/FILE, with its predictions
// for every hand-written ticket.
struct Measured {
  std::vector<std::string> gold;
  std::vector<Prediction> predicted;
  Evaluation evaluation;
};

Measured TrainAndPredict(const std::string& training_file, const std::string& field,
                         const std::string& training_field = "label", bool networks = true) {
  const fs::path sample = DESKPILOT_TEST_SAMPLE_DIR;
  Measured m;
  auto train = LoadJsonl((sample / "train" / training_file).string(), training_field);
  auto tickets = LoadJsonl((sample / "eval" / "tickets.jsonl").string(), field);
  EXPECT_TRUE(train.ok()) << train.status().ToString();
  EXPECT_TRUE(tickets.ok()) << tickets.status().ToString();
  if (!train.ok() || !tickets.ok()) return m;
  TrainOptions options;
  if (!networks) options.mlp_hidden = 0;
  auto model = TrainLinearModel(*train, options);
  EXPECT_TRUE(model.ok()) << model.status().ToString();
  if (!model.ok()) return m;
  for (const LabeledText& t : *tickets) {
    m.gold.push_back(t.label);
    m.predicted.push_back(model->Predict(t.text));
  }
  m.evaluation = Evaluate(m.gold, m.predicted, model->auto_threshold());
  return m;
}

// Shipped data: accuracy 0.653, ECE 0.147 (0.658, 0.131 with networks); the earlier cue-only
// data: 0.522, 0.267.
TEST(ShippedSampleModelsTest, PriorityHoldsUpOnHandWrittenTickets) {
  const Measured m = TrainAndPredict("priority.jsonl", "priority", "label", /*networks=*/false);
  ASSERT_EQ(m.gold.size(), 360u);
  EXPECT_GE(m.evaluation.metrics.accuracy, 0.62);
  EXPECT_LE(m.evaluation.ece, 0.18);
  // Priority is written back when the model is at least 50% sure of a higher one (the
  // policy's default bar), so the share of those escalations that a person also calls high or
  // urgent is what agents see of this model. Shipped data: 131 of 188 raised (0.70); cue-only
  // data: 133 of 222 (0.60). 147 of the 360 tickets are gold high or urgent.
  int raised = 0, real = 0;
  for (size_t i = 0; i < m.gold.size(); ++i) {
    const Prediction& p = m.predicted[i];
    if (p.abstained || p.confidence < 0.5 || (p.label != "high" && p.label != "urgent")) continue;
    ++raised;
    real += m.gold[i] == "high" || m.gold[i] == "urgent";
  }
  std::printf("sample priority on hand-written tickets: accuracy=%.4f ece=%.4f raised=%d real=%d\n",
              m.evaluation.metrics.accuracy, m.evaluation.ece, raised, real);
  ASSERT_GE(raised, 120) << "too few escalations to judge";
  EXPECT_GE(static_cast<double>(real) / raised, 0.65) << real << " of " << raised;
}

// Shipped data: accuracy 0.656, ECE 0.100 (0.656, 0.077 with networks); the earlier cue-only
// data: 0.531, 0.243.
TEST(ShippedSampleModelsTest, SentimentHoldsUpOnHandWrittenTickets) {
  const Measured m = TrainAndPredict("sentiment.jsonl", "sentiment", "label", /*networks=*/false);
  ASSERT_EQ(m.gold.size(), 360u);
  EXPECT_GE(m.evaluation.metrics.accuracy, 0.62);
  EXPECT_LE(m.evaluation.ece, 0.12);
}

// The category model learns from Bitext's short requests, so tickets are much harder for it
// (0.999 on held-out Bitext rows). Shipped data: accuracy 0.572, in scope 0.624 (330 tickets;
// the 30 off-topic ones it cannot abstain on).
TEST(ShippedSampleModelsTest, CategoryOnHandWrittenTickets) {
  const Measured m = TrainAndPredict("bitext.jsonl", "category", "category");
  ASSERT_EQ(m.gold.size(), 360u);
  EXPECT_GE(m.evaluation.metrics.accuracy, 0.54);
  EXPECT_GE(m.evaluation.in_scope_accuracy, 0.59);
}

}  // namespace
}  // namespace deskpilot
