#include "service/policy.h"

#include <algorithm>
#include <cmath>
#include <limits>

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
  Decision Decide() const { return Policy(cfg_, nullptr).Decide(ticket_, triage_, passages_, draft_); }

  PolicyConfig cfg_;
  Triage triage_;
  std::vector<Passage> passages_;
  Draft draft_;
  Ticket ticket_;
};

TEST_F(PolicyTest, AutoReplyWhenEveryConditionHolds) { EXPECT_EQ(Decide().rung, Rung::kAutoReply); }

TEST_F(PolicyTest, ShadowModeWritesNothing) {
  cfg_.mode = "shadow";
  Policy p(cfg_, nullptr);
  Decision d = p.Decide(ticket_, triage_, passages_, draft_);
  EXPECT_EQ(d.rung, Rung::kShadow);
  EXPECT_TRUE(p.Plan(ticket_, triage_, {}, draft_, d, "k").empty());
}

TEST_F(PolicyTest, AssistModeCapsTheLadder) {
  cfg_.mode = "assist";
  Decision d = Decide();
  EXPECT_EQ(d.rung, Rung::kAssist);
  EXPECT_EQ(d.ladder, Rung::kAutoReply);
}

// A shadow trial must show what automation would have done with each ticket, with the
// same reasons mode "auto" gives, or there is nothing to compare with the agents' work.
TEST_F(PolicyTest, ShadowModeRecordsWhatTheLadderWouldHaveDone) {
  cfg_.mode = "shadow";
  cfg_.sensitive_categories = {"refund"};
  Policy shadow(cfg_, nullptr);
  cfg_.mode = "auto";
  Policy automatic(cfg_, nullptr);
  struct Case {
    std::string category;
    double confidence;
    Rung expected;
  };
  for (const Case& c : {Case{"delivery", 0.99, Rung::kAutoReply}, Case{"refund", 0.99, Rung::kApprove},
                        Case{"delivery", 0.5, Rung::kAssist}}) {
    SCOPED_TRACE(c.category + " " + std::to_string(c.confidence));
    triage_.predictions["category"] = P(c.category, c.confidence);
    const Decision s = shadow.Decide(ticket_, triage_, passages_, draft_);
    const Decision a = automatic.Decide(ticket_, triage_, passages_, draft_);
    EXPECT_EQ(s.rung, Rung::kShadow);
    EXPECT_EQ(s.ladder, c.expected);
    EXPECT_EQ(a.rung, c.expected);
    EXPECT_EQ(a.ladder, c.expected);
    ASSERT_EQ(s.reasons.size(), a.reasons.size() + 1);
    EXPECT_EQ(s.reasons.front(), "policy mode is shadow: record only (the ladder chose " +
                                     std::string(RungName(c.expected)) + ")");
    EXPECT_TRUE(std::equal(a.reasons.begin(), a.reasons.end(), s.reasons.begin() + 1));
    EXPECT_TRUE(shadow.Plan(ticket_, triage_, passages_, draft_, s, "k").empty());
  }
  triage_.flags.push_back("legal_threat");
  EXPECT_EQ(shadow.Decide(ticket_, triage_, passages_, draft_).ladder, Rung::kEscalate);
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
  EXPECT_EQ(p.Decide(ticket_, triage_, passages_, draft_).rung, Rung::kAssist);  // 0.95 < 0.99
  // A lax model threshold never lowers the operator's floor (min_confidence 0.8).
  Policy lax(cfg_, [](const std::string&) { return std::optional<double>(0.3); });
  EXPECT_DOUBLE_EQ(lax.Threshold("category"), 0.8);
  cfg_.thresholds["category"] = 0.9;  // an explicit policy threshold wins
  EXPECT_EQ(Policy(cfg_, [](const std::string&) { return std::optional<double>(0.99); })
                .Decide(ticket_, triage_, passages_, draft_)
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
  Decision d = p.Decide(ticket_, triage_, passages_, draft_);
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
  WritePlan plan = p.Plan(ticket_, triage_, {}, draft_, p.Decide(ticket_, triage_, passages_, draft_), "k");
  for (const auto& a : plan.actions) EXPECT_NE(a.type, ActionType::kSetPriority);
}

bool HasReason(const Decision& d, const std::string& part) {
  for (const auto& r : d.reasons)
    if (r.find(part) != std::string::npos) return true;
  return false;
}

// Audit finding 8: only a known, calibrated, benign mood lets a reply go out unreviewed.
TEST_F(PolicyTest, SentimentMustBePresentAnsweredCalibratedAndBenign) {
  triage_.predictions.erase("sentiment");
  Decision d = Decide();
  EXPECT_EQ(d.rung, Rung::kApprove);
  EXPECT_TRUE(HasReason(d, "auto reply blocked: no sentiment prediction")) << d.reasons.back();

  triage_.predictions["sentiment"] = Prediction{"", 0.3, {{"negative", 0.3}}, /*abstained=*/true};
  d = Decide();
  EXPECT_EQ(d.rung, Rung::kApprove);
  EXPECT_TRUE(HasReason(d, "sentiment abstained"));

  // The cascade's llm answer replacing an uncertain calibrated one.
  triage_.predictions["sentiment"] = P("neutral", 0.99);
  triage_.predictions["sentiment"].calibrated = false;
  d = Decide();
  EXPECT_EQ(d.rung, Rung::kApprove);
  EXPECT_TRUE(HasReason(d, "sentiment confidence is model-reported, not calibrated"));

  // A label outside neutral/positive is not assumed benign.
  triage_.predictions["sentiment"] = P("angry", 0.99);
  d = Decide();
  EXPECT_EQ(d.rung, Rung::kApprove);
  EXPECT_TRUE(HasReason(d, "sentiment is angry"));

  triage_.predictions["sentiment"] = P("positive", 0.4);
  EXPECT_EQ(Decide().rung, Rung::kAutoReply);  // no sentiment bar configured
}

TEST_F(PolicyTest, EveryConfiguredThresholdIsEnforced) {
  cfg_.thresholds["sentiment"] = 0.95;  // the fixture's sentiment is 0.9
  Decision d = Decide();
  EXPECT_EQ(d.rung, Rung::kApprove);
  EXPECT_TRUE(HasReason(d, "sentiment confidence 90% < threshold 95%"));
  triage_.predictions["sentiment"] = P("neutral", 0.95);
  EXPECT_EQ(Decide().rung, Rung::kAutoReply);

  cfg_.thresholds["intent"] = 0.9;
  d = Decide();
  EXPECT_EQ(d.rung, Rung::kApprove);
  EXPECT_TRUE(HasReason(d, "no intent prediction"));
  triage_.predictions["intent"] = P("delivery_period", 0.85);
  EXPECT_TRUE(HasReason(Decide(), "intent confidence 85% < threshold 90%"));
  triage_.predictions["intent"] = P("", 0.95);
  triage_.predictions["intent"].abstained = true;
  EXPECT_TRUE(HasReason(Decide(), "intent abstained"));
  triage_.predictions["intent"] = P("delivery_period", 0.95);
  triage_.predictions["intent"].calibrated = false;
  EXPECT_TRUE(HasReason(Decide(), "intent confidence is model-reported"));
  triage_.predictions["intent"] = P("delivery_period", 0.9);
  EXPECT_EQ(Decide().rung, Rung::kAutoReply);

  // priority's bar is the bar for writing the priority, not a condition of the reply.
  cfg_.thresholds["priority"] = 0.99;
  EXPECT_EQ(Decide().rung, Rung::kAutoReply);
}

// Audit finding 10: NaN compares false both ways; every bar must fail on it.
TEST_F(PolicyTest, NanNeverPassesABar) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  cfg_.thresholds["category"] = nan;
  Decision d = Decide();
  EXPECT_EQ(d.rung, Rung::kAssist);
  EXPECT_TRUE(HasReason(d, "< threshold"));
  cfg_.thresholds.erase("category");

  EXPECT_EQ(Policy(cfg_, [nan](const std::string&) { return std::optional<double>(nan); })
                .Decide(ticket_, triage_, passages_, draft_)
                .rung,
            Rung::kAssist);

  triage_.predictions["category"].confidence = nan;
  EXPECT_EQ(Decide().rung, Rung::kAssist);
  triage_.predictions["category"].confidence = 0.95;

  cfg_.thresholds["sentiment"] = nan;
  EXPECT_EQ(Decide().rung, Rung::kApprove);
}

TEST_F(PolicyTest, NoCategoryPredictionIsAssistEvenWithAnAutoReplyDefault) {
  cfg_.default_rung = "auto_reply";
  triage_.predictions.erase("category");
  Decision d = Decide();
  EXPECT_EQ(d.rung, Rung::kAssist);
  EXPECT_TRUE(HasReason(d, "no category prediction: assist only"));
}

// Audit finding 11: a valid citation does not vouch for the rest of the reply.
TEST_F(PolicyTest, ReplyContentTheSourcesDoNotSupportNeedsAnAgent) {
  Passage src;
  src.doc_id = "shipping-times";
  src.title = "Shipping times";
  src.url = "https://help.example/shipping";
  src.text = "Standard delivery takes 3-5 business days. Call 1-800-555-0142 with questions.";
  passages_ = {src};
  draft_.body = "Standard delivery takes 3-5 business days [1]. See https://help.example/shipping or call "
                "1-800-555-0142.";
  EXPECT_EQ(Decide().rung, Rung::kAutoReply);

  draft_.body = "Standard delivery takes 3-5 business days [1]. As an apology we will refund your order and "
                "add a $200 credit; confirm your card at http://northwind-refunds.example.net/claim [1].";
  Decision d = Decide();
  EXPECT_EQ(d.rung, Rung::kApprove);
  EXPECT_TRUE(HasReason(d, "auto reply blocked: the draft has a link in neither its cited sources nor the "
                           "customer's text"))
      << d.reasons.back();
  EXPECT_TRUE(HasReason(d, "auto reply blocked: the draft mentions money its cited sources do not (credit, refund, "
                           "$200)"))
      << d.reasons.back();

  // An address the customer gave is theirs to be reminded of.
  ticket_.comments[0].body = "where is my order? mail me at dana@example.com";
  draft_.body = "We will write to dana@example.com once it ships.";
  EXPECT_EQ(Decide().rung, Rung::kAutoReply);
  draft_.body = "Write to claims@northwind-help.example.net.";
  EXPECT_TRUE(HasReason(Decide(), "an email address"));

  // Approve stays approve: an agent reads it anyway.
  triage_.predictions["category"] = P("refund", 0.99);
  EXPECT_EQ(Decide().rung, Rung::kApprove);
}

// A resolved ticket tells what was done for one customer; a reply resting on such
// passages alone goes to an agent, even where every other condition holds.
TEST_F(PolicyTest, ADraftCitingOnlyResolvedTicketsNeedsApproval) {
  Passage solved;
  solved.kind = PassageKind::kResolvedTicket;
  solved.doc_id = "zendesk-ticket-812";
  solved.text = "I've refunded your order and waived the shipping fee.";
  Passage article;
  article.doc_id = "shipping-times";
  article.text = "Orders ship in 2 days.";
  passages_ = {solved, article};
  draft_.citations = {"zendesk-ticket-812"};
  Decision d = Decide();
  EXPECT_EQ(d.rung, Rung::kApprove);
  EXPECT_TRUE(HasReason(d, "auto reply blocked: the draft cites only resolved tickets, no knowledge-base article"));

  // With an article among its citations the ticket is supporting evidence.
  draft_.citations = {"zendesk-ticket-812", "shipping-times"};
  EXPECT_EQ(Decide().rung, Rung::kAutoReply);
  draft_.citations = {"shipping-times"};
  EXPECT_EQ(Decide().rung, Rung::kAutoReply);
}

TEST(ValidatePolicyNames, UnknownCategoriesAndDimensionsAreConfigErrors) {
  const std::map<std::string, std::vector<std::string>> labels = {
      {"category", {"delivery", "refund", "payment"}}, {"sentiment", {"negative", "neutral", "positive"}}};
  PolicyConfig cfg;
  cfg.sensitive_categories = {"refund", "payments"};
  cfg.categories = {{"Delivery", "auto_reply"}, {"delivery", "auto_reply"}};
  cfg.routing = {{"refunds", "billing"}};
  cfg.thresholds = {{"categroy", 0.9}, {"sentiment", 0.5}, {"language", 0.5}};
  Status s = ValidatePolicyNames(cfg, labels);
  ASSERT_EQ(s.code(), Code::kInvalidArgument);
  for (const char* part :
       {"policy.sensitive_categories[1]: unknown category \"payments\"; known categories: delivery, refund, payment",
        "policy.categories.Delivery: unknown category \"Delivery\"", "policy.routing.refunds: unknown category",
        "policy.thresholds.categroy: unknown dimension \"categroy\"; known dimensions: category, sentiment, language"})
    EXPECT_NE(s.message().find(part), std::string::npos) << part << "\n" << s.message();
  EXPECT_EQ(s.message().find("policy.thresholds.sentiment"), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("policy.thresholds.language"), std::string::npos) << s.message();

  cfg.sensitive_categories = {"refund"};
  cfg.categories = {{"delivery", "auto_reply"}};
  cfg.routing = {{"refund", "billing"}};
  cfg.thresholds = {{"category", 0.9}};
  EXPECT_TRUE(ValidatePolicyNames(cfg, labels).ok());
  // A classifier that cannot list its labels: nothing to check against.
  cfg.routing = {{"anything", "x"}};
  EXPECT_TRUE(ValidatePolicyNames(cfg, std::nullopt).ok());
  // Without a category dimension no category name can be right.
  s = ValidatePolicyNames(cfg, std::map<std::string, std::vector<std::string>>{{"sentiment", {"neutral"}}});
  ASSERT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("the classifier has no category dimension"), std::string::npos) << s.message();
}

TEST(TagSafe, KeepsTagsVendorSafe) {
  EXPECT_EQ(TagSafe("Shipping Address"), "shipping_address");
  EXPECT_EQ(TagSafe("a--b!!"), "a_b");
}

}  // namespace
}  // namespace deskpilot
