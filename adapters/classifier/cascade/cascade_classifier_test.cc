#include "classifier/cascade/cascade_classifier.h"

#include <gtest/gtest.h>

#include "common/model_io/fake_llm.h"
#include "deskpilot/config.h"

namespace deskpilot {
namespace {

// A classifier that answers from a script and counts its calls.
struct Scripted : Classifier {
  std::map<std::string, Prediction> next;
  std::map<std::string, double> thresholds;
  Status error;
  int calls = 0;
  Result<Triage> Classify(const Ticket&) override {
    ++calls;
    if (!error.ok()) return error;
    Triage t;
    t.predictions = next;
    if (!usage_model.empty()) t.usage.push_back(ModelUsage{"llm-classifier", usage_model, "classify.v1", 10, 2, 0.0, false});
    return t;
  }
  std::optional<double> AutoThreshold(const std::string& d) const override {
    auto it = thresholds.find(d);
    return it == thresholds.end() ? std::nullopt : std::optional<double>(it->second);
  }
  std::optional<std::map<std::string, std::vector<std::string>>> Labels() const override { return labels; }
  std::string usage_model;
  std::optional<std::map<std::string, std::vector<std::string>>> labels;
};

class CascadeTest : public ::testing::Test {
 protected:
  CascadeTest() {
    auto first = std::make_unique<Scripted>();
    auto second = std::make_unique<Scripted>();
    first_ = first.get();
    second_ = second.get();
    first_->thresholds = {{"category", 0.7}};  // priority has none: the fallback 0.6 applies
    second_->usage_model = "m1";
    second_->next = {{"category", {"refund", 0.8, {}, false}},
                     {"priority", {"high", 0.9, {}, false}},
                     {"team", {"billing", 0.7, {}, false}}};
    cascade_ = std::make_unique<CascadeClassifier>(std::move(first), std::move(second),
                                                   std::vector<std::string>{"category", "priority", "team"}, 0.6);
  }
  Scripted* first_;
  Scripted* second_;
  std::unique_ptr<CascadeClassifier> cascade_;
  Ticket ticket_;
};

TEST_F(CascadeTest, ConfidentEmbeddedAnswerCostsNoModelCall) {
  first_->next = {{"category", {"delivery", 0.75, {}, false}}, {"priority", {"low", 0.6, {}, false}}};
  auto t = cascade_->Classify(ticket_);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(second_->calls, 0);
  EXPECT_EQ(t->predictions.at("category").label, "delivery");
  EXPECT_TRUE(t->usage.empty());
  EXPECT_EQ(t->predictions.count("team"), 0u);
  EXPECT_EQ(cascade_->Stats().tickets, 1);
  EXPECT_EQ(cascade_->Stats().model_tickets, 0);
}

TEST_F(CascadeTest, BelowItsAutoThresholdTheModelAnswersThatDimensionOnly) {
  first_->next = {{"category", {"delivery", 0.69, {}, false}}, {"priority", {"low", 0.95, {}, false}},
                  {"sentiment", {"neutral", 0.2, {}, false}}};
  auto t = cascade_->Classify(ticket_);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(second_->calls, 1);
  EXPECT_EQ(t->predictions.at("category").label, "refund");   // uncertain: replaced
  EXPECT_EQ(t->predictions.at("priority").label, "low");      // confident: kept
  EXPECT_EQ(t->predictions.at("sentiment").label, "neutral"); // not the model's dimension
  EXPECT_EQ(t->predictions.at("team").label, "billing");      // only the model knows it
  ASSERT_EQ(t->usage.size(), 1u);
  EXPECT_EQ(t->usage[0].model, "m1");
  auto s = cascade_->Stats();
  EXPECT_EQ(s.model_tickets, 1);
  EXPECT_EQ(s.uncertain.at("category"), 1);
  EXPECT_EQ(s.uncertain.count("priority"), 0u);
}

TEST_F(CascadeTest, AbstainingOrBelowTheFallbackThresholdCallsTheModel) {
  first_->next = {{"category", {"", 0.9, {}, true}}, {"priority", {"low", 0.95, {}, false}}};
  ASSERT_TRUE(cascade_->Classify(ticket_).ok());
  first_->next = {{"category", {"delivery", 0.99, {}, false}}, {"priority", {"low", 0.59, {}, false}}};
  auto t = cascade_->Classify(ticket_);
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->predictions.at("priority").label, "high");
  EXPECT_EQ(t->predictions.at("category").label, "delivery");
  first_->next = {{"category", {"delivery", 0.99, {}, false}}, {"priority", {"low", 0.61, {}, false}}};
  ASSERT_TRUE(cascade_->Classify(ticket_).ok());
  first_->next = {{"category", {"delivery", 0.99, {}, false}}, {"priority", {"low", 0.99, {}, false}}};
  ASSERT_TRUE(cascade_->Classify(ticket_).ok());
  EXPECT_EQ(second_->calls, 2);
  auto s = cascade_->Stats();
  EXPECT_EQ(s.tickets, 4);
  EXPECT_EQ(s.model_tickets, 2);
  EXPECT_DOUBLE_EQ(s.model_share(), 0.5);
  EXPECT_EQ(cascade_->Summary(), "cascade: 2 of 4 tickets (50.0%) needed the model; uncertain on category 1, priority 1");
}

TEST_F(CascadeTest, ReportGivesTheCountersAsJsonThroughTheClassifierInterface) {
  first_->next = {{"category", {"delivery", 0.99, {}, false}}, {"priority", {"low", 0.99, {}, false}}};
  ASSERT_TRUE(cascade_->Classify(ticket_).ok());
  first_->next = {{"category", {"", 0.0, {}, true}}, {"priority", {"low", 0.99, {}, false}}};
  ASSERT_TRUE(cascade_->Classify(ticket_).ok());
  first_->next = {{"category", {"delivery", 0.99, {}, false}}, {"priority", {"low", 0.99, {}, false}}};
  ASSERT_TRUE(cascade_->Classify(ticket_).ok());
  ASSERT_TRUE(cascade_->Classify(ticket_).ok());
  const Classifier& as_classifier = *cascade_;
  const std::optional<nlohmann::json> report = as_classifier.Report();
  ASSERT_TRUE(report.has_value());
  EXPECT_EQ((*report)["tickets"], 4);
  EXPECT_EQ((*report)["model_calls"], 1);
  EXPECT_EQ((*report)["model_calls"], second_->calls);
  EXPECT_DOUBLE_EQ((*report)["model_share"].get<double>(), 0.25);
  EXPECT_EQ((*report)["model_errors"], 0);
  EXPECT_EQ((*report)["uncertain"], nlohmann::json({{"category", 1}}));
}

TEST_F(CascadeTest, ModelErrorsReachThePipelineAndAreCounted) {
  first_->next = {{"category", {"", 0.0, {}, true}}};
  second_->error = Status::InvalidArgument("model output invalid after one repair: x");
  auto t = cascade_->Classify(ticket_);
  EXPECT_EQ(t.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(cascade_->Stats().model_errors, 1);
  second_->error = Status::Unavailable("503");
  EXPECT_TRUE(cascade_->Classify(ticket_).status().retryable());
}

TEST_F(CascadeTest, ThresholdsAreTheEmbeddedModels) {
  EXPECT_EQ(cascade_->AutoThreshold("category"), 0.7);
  EXPECT_FALSE(cascade_->AutoThreshold("priority").has_value());
}

// Either stage's answer can reach the policy, so its names are checked against both.
TEST_F(CascadeTest, LabelsAreBothStagesLabelsPerDimension) {
  EXPECT_FALSE(cascade_->Labels().has_value());  // neither can enumerate
  first_->labels = std::map<std::string, std::vector<std::string>>{{"category", {"delivery", "refund"}},
                                                                    {"sentiment", {"neutral"}}};
  EXPECT_FALSE(cascade_->Labels().has_value());  // the model's are unknown
  second_->labels = std::map<std::string, std::vector<std::string>>{{"category", {"refund", "payment"}},
                                                                     {"team", {"billing"}}};
  const std::map<std::string, std::vector<std::string>> want = {
      {"category", {"delivery", "refund", "payment"}}, {"sentiment", {"neutral"}}, {"team", {"billing"}}};
  EXPECT_EQ(cascade_->Labels(), want);
}

TEST(MakeCascadeClassifier, NeedsAnLlmAndValidThreshold) {
  auto j = TomlToJson("[classifier]\ntype = \"cascade\"\n[classifier.labels.category]\nrefund = \"money back\"\n", "t");
  ASSERT_TRUE(j.ok());
  ConfigSection section((*j)["classifier"], "classifier");
  AdapterContext ctx;
  ctx.section = &section;
  EXPECT_NE(MakeCascadeClassifier(ctx).status().message().find("[llm]"), std::string::npos);
  auto k = TomlToJson("[classifier]\nthreshold = 1.5\n", "t");
  ConfigSection bad((*k)["classifier"], "classifier");
  ctx.section = &bad;
  EXPECT_NE(MakeCascadeClassifier(ctx).status().message().find("threshold"), std::string::npos);
}

}  // namespace
}  // namespace deskpilot
