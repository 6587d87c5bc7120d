#include "service/pipeline.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace deskpilot {
namespace {

// Fakes that record what they were shown.
struct FakeClassifier : Classifier {
  std::string seen;
  Result<Triage> Classify(const Ticket& t) override {
    seen = t.subject + "\n" + t.description;
    for (const auto& c : t.comments) seen += "\n" + c.body;
    Triage tr;
    tr.predictions["category"] = {"delivery", 0.97, {}, false};
    tr.predictions["sentiment"] = {"neutral", 0.9, {}, false};
    return tr;
  }
};
struct FakeRetriever : Retriever {
  std::string query;
  Result<std::vector<Passage>> Retrieve(const std::string& q, int) override {
    query = q;
    Passage p;
    p.doc_id = "shipping";
    p.id = "shipping#0";
    p.title = "Shipping times";
    return std::vector<Passage>{p};
  }
};
struct FakeDrafter : Drafter {
  std::vector<std::string> cite = {"shipping"};
  Result<Draft> Write(const Ticket& t, const Triage&, const std::vector<Passage>&) override {
    Draft d;
    d.body = "We will write to " + t.requester.email + " once it ships.";
    d.citations = cite;
    d.grounded = true;
    return d;
  }
};

class PipelineTest : public ::testing::Test {
 protected:
  PipelineTest() {
    cfg_.mode = "auto";
    cfg_.categories["delivery"] = "auto_reply";
    policy_ = std::make_unique<Policy>(cfg_, nullptr);
    ticket_.subject = "Where is my order?";
    ticket_.description = "Please email me at ann@example.com or call +1 415 555 0100.";
    ticket_.requester.email = "ann@example.com";
    Comment c;
    c.body = ticket_.description;
    ticket_.comments.push_back(c);
  }
  PolicyConfig cfg_;
  std::unique_ptr<Policy> policy_;
  FakeClassifier clf_;
  FakeRetriever ret_;
  FakeDrafter drf_;
  Ticket ticket_;
};

TEST_F(PipelineTest, AdaptersSeeOnlyRedactedTextAndTheDraftIsRestoredLocally) {
  Pipeline p(policy_.get(), &clf_, &ret_, &drf_, nullptr);
  auto r = p.Run(ticket_, "k1");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(clf_.seen.find("ann@example.com"), std::string::npos);
  EXPECT_EQ(clf_.seen.find("555 0100"), std::string::npos);
  EXPECT_NE(clf_.seen.find("<EMAIL_1>"), std::string::npos);
  EXPECT_EQ(ret_.query.find("ann@example.com"), std::string::npos);
  EXPECT_EQ(r->draft.body, "We will write to ann@example.com once it ships.");
  EXPECT_EQ(r->decision.rung, Rung::kAutoReply);
  // What is kept for the audit stays redacted.
  std::string audit = PipelineResultJson(*r, false).dump();
  EXPECT_EQ(audit.find("ann@example.com"), std::string::npos) << audit;
  EXPECT_NE(audit.find("<EMAIL_1>"), std::string::npos);
  // The public reply goes out restored.
  bool replied = false;
  for (const auto& a : r->plan.actions)
    if (a.type == ActionType::kAddPublicReply) replied = a.value.find("ann@example.com") != std::string::npos;
  EXPECT_TRUE(replied);
}

TEST_F(PipelineTest, CitingSomethingNotRetrievedIsNotGrounded) {
  drf_.cite = {"made-up-doc"};
  Pipeline p(policy_.get(), &clf_, &ret_, &drf_, nullptr);
  auto r = p.Run(ticket_, "k1");
  ASSERT_TRUE(r.ok());
  EXPECT_FALSE(r->draft.grounded);
  EXPECT_NE(r->decision.rung, Rung::kAutoReply);
  for (const auto& a : r->plan.actions) EXPECT_NE(a.type, ActionType::kAddPublicReply);
}

TEST_F(PipelineTest, TriageJsonShape) {
  Pipeline p(policy_.get(), &clf_, &ret_, &drf_, nullptr);
  auto r = p.Run(ticket_, "k1");
  ASSERT_TRUE(r.ok());
  auto j = PipelineResultJson(*r, true);
  EXPECT_EQ(j["triage"]["category"]["label"], "delivery");
  EXPECT_EQ(j["passages"][0]["doc_id"], "shipping");
  EXPECT_EQ(j["draft"]["citations"][0], "shipping");
  EXPECT_EQ(j["decision"]["rung"], "auto_reply");
  EXPECT_TRUE(j["write_plan"].is_array());
  EXPECT_EQ(j["write_plan"][0]["action"], "set_tags");
}

}  // namespace
}  // namespace deskpilot
