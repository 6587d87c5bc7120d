#include "service/policy.h"

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

Prediction P(const std::string& label, double c) {
  Prediction p;
  p.label = label;
  p.confidence = c;
  return p;
}

class PolicyTest : public ::testing::Test {
 protected:
  PolicyTest() {
    cfg_.mode = "auto";
    cfg_.categories = {{"delivery", "auto_reply"}, {"refund", "auto_reply"}, {"feedback", "assist"}};
    cfg_.sensitive_categories = {"refund"};
    cfg_.min_confidence = 0.8;
    cfg_.routing = {{"delivery", "orders"}};
    triage_.predictions["category"] = P("delivery", 0.95);
    triage_.predictions["sentiment"] = P("neutral", 0.9);
    triage_.predictions["priority"] = P("high", 0.9);
    draft_.body = "Orders ship in 2 days.";
    draft_.citations = {"shipping-times"};
    draft_.grounded = true;
    Comment c;
    c.author_role = AuthorRole::kCustomer;
    c.body = "where is my order";
    ticket_.comments.push_back(c);
  }
  Decision Decide() const { return Policy(cfg_, nullptr).Decide(ticket_, triage_, draft_); }

  PolicyConfig cfg_;
  Triage triage_;
  Draft draft_;
  Ticket ticket_;
};

TEST_F(PolicyTest, AutoReplyWhenEveryConditionHolds) { EXPECT_EQ(Decide().rung, Rung::kAutoReply); }

TEST_F(PolicyTest, ShadowModeWritesNothing) {
  cfg_.mode = "shadow";
  Policy p(cfg_, nullptr);
  Decision d = p.Decide(ticket_, triage_, draft_);
  EXPECT_EQ(d.rung, Rung::kShadow);
  EXPECT_TRUE(p.Plan(ticket_, triage_, {}, draft_, d, "k").empty());
}

TEST_F(PolicyTest, AssistModeCapsTheLadder) {
  cfg_.mode = "assist";
  EXPECT_EQ(Decide().rung, Rung::kAssist);
}

TEST_F(PolicyTest, SensitiveCategoryNeedsApproval) {
  triage_.predictions["category"] = P("refund", 0.99);
  EXPECT_EQ(Decide().rung, Rung::kApprove);
}

TEST_F(PolicyTest, LowConfidenceFallsBackToAssist) {
  triage_.predictions["category"] = P("delivery", 0.5);
  Decision d = Decide();
  EXPECT_EQ(d.rung, Rung::kAssist);
  EXPECT_NE(d.reasons.back().find("confidence"), std::string::npos);
  triage_.predictions["category"] = P("refund", 0.5);  // approve needs a confident category too
  EXPECT_EQ(Decide().rung, Rung::kAssist);
}

TEST_F(PolicyTest, ModelThresholdIsUsedWhenPolicyHasNone) {
  Policy p(cfg_, [](const std::string& dim) -> std::optional<double> {
    return dim == "category" ? std::optional<double>(0.99) : std::nullopt;
  });
  EXPECT_EQ(p.Decide(ticket_, triage_, draft_).rung, Rung::kAssist);  // 0.95 < 0.99
  // A lax model threshold never lowers the operator's floor (min_confidence 0.8).
  Policy lax(cfg_, [](const std::string&) { return std::optional<double>(0.3); });
  EXPECT_DOUBLE_EQ(lax.Threshold("category"), 0.8);
  cfg_.thresholds["category"] = 0.9;  // an explicit policy threshold wins
  EXPECT_EQ(Policy(cfg_, [](const std::string&) { return std::optional<double>(0.99); })
                .Decide(ticket_, triage_, draft_)
                .rung,
            Rung::kAutoReply);
}

TEST_F(PolicyTest, AbstainingPredictionNeverDrivesAutomation) {
  triage_.predictions["category"].abstained = true;
  EXPECT_NE(Decide().rung, Rung::kAutoReply);
}

TEST_F(PolicyTest, ModelReportedConfidenceNeverSendsAReply) {
  // An LLM saying "category delivery, confidence 0.99" is not a calibrated probability.
  triage_.predictions["category"].calibrated = false;
  Decision d = Decide();
  EXPECT_EQ(d.rung, Rung::kApprove);
  bool said_why = false;
  for (const auto& r : d.reasons) said_why |= r.find("not calibrated") != std::string::npos;
  EXPECT_TRUE(said_why);
}

TEST_F(PolicyTest, NegativeSentimentUngroundedDraftAndHumanRequestBlock) {
  triage_.predictions["sentiment"] = P("negative", 0.9);
  EXPECT_EQ(Decide().rung, Rung::kApprove);
  triage_.predictions["sentiment"] = P("neutral", 0.9);
  draft_.grounded = false;
  EXPECT_EQ(Decide().rung, Rung::kAssist);
  draft_.grounded = true;
  triage_.flags = {"asked_for_human"};
  EXPECT_EQ(Decide().rung, Rung::kApprove);
}

TEST_F(PolicyTest, HumanReplyStopsAutomation) {
  Comment agent;
  agent.author_role = AuthorRole::kAgent;
  agent.body = "Looking into it";
  ticket_.comments.push_back(agent);
  EXPECT_EQ(Decide().rung, Rung::kAssist);
}

TEST_F(PolicyTest, MaxAutoTurns) {
  for (int i = 0; i < 3; ++i) {
    Comment bot;
    bot.author_role = AuthorRole::kAgent;
    bot.by_deskpilot = true;
    ticket_.comments.push_back(bot);
  }
  EXPECT_EQ(Decide().rung, Rung::kApprove);
}

TEST_F(PolicyTest, EscalationFlagWins) {
  triage_.flags = {"legal_threat"};
  EXPECT_EQ(Decide().rung, Rung::kEscalate);
  Decision d = Decide();
  WritePlan plan = Policy(cfg_, nullptr).Plan(ticket_, triage_, {}, draft_, d, "k");
  bool grouped = false;
  for (const auto& a : plan.actions) grouped |= a.type == ActionType::kSetGroup && a.value == "escalations";
  EXPECT_TRUE(grouped);
}

TEST_F(PolicyTest, PlanCarriesTagsPriorityRoutingNoteAndReply) {
  ticket_.priority = "normal";
  Policy p(cfg_, nullptr);
  Decision d = p.Decide(ticket_, triage_, draft_);
  Passage src;
  src.doc_id = "shipping-times";
  src.title = "Shipping times";
  src.url = "https://help.example/shipping";
  WritePlan plan = p.Plan(ticket_, triage_, {src}, draft_, d, "dp-123");
  EXPECT_EQ(plan.idempotency_key, "dp-123");
  std::map<ActionType, const WriteAction*> by;
  for (const auto& a : plan.actions) by[a.type] = &a;
  ASSERT_TRUE(by.count(ActionType::kSetTags));
  EXPECT_EQ(by[ActionType::kSetTags]->tags[0], "deskpilot");
  ASSERT_TRUE(by.count(ActionType::kSetPriority));
  EXPECT_EQ(by[ActionType::kSetPriority]->value, "high");
  ASSERT_TRUE(by.count(ActionType::kSetGroup));
  EXPECT_EQ(by[ActionType::kSetGroup]->value, "orders");
  ASSERT_TRUE(by.count(ActionType::kAddInternalNote));
  const std::string& note = by[ActionType::kAddInternalNote]->value;
  EXPECT_NE(note.find("https://help.example/shipping"), std::string::npos);
  EXPECT_NE(note.find("category: delivery (95%)"), std::string::npos);
  EXPECT_NE(note.find(Policy::MarkerLine("dp-123")), std::string::npos);
  ASSERT_TRUE(by.count(ActionType::kAddPublicReply));
  EXPECT_EQ(by[ActionType::kAddPublicReply]->value, draft_.body);
}

TEST_F(PolicyTest, PriorityNeverGoesDown) {
  ticket_.priority = "urgent";
  Policy p(cfg_, nullptr);
  WritePlan plan = p.Plan(ticket_, triage_, {}, draft_, p.Decide(ticket_, triage_, draft_), "k");
  for (const auto& a : plan.actions) EXPECT_NE(a.type, ActionType::kSetPriority);
}

TEST(TagSafe, KeepsTagsVendorSafe) {
  EXPECT_EQ(TagSafe("Shipping Address"), "shipping_address");
  EXPECT_EQ(TagSafe("a--b!!"), "a_b");
}

}  // namespace
}  // namespace deskpilot
