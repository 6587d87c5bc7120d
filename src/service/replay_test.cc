// Audit replay on jobs a real worker recorded (sandbox help desk, built-in models).
#include "service/replay.h"

#include <gtest/gtest.h>

#include "service/service_fixture_test_util.h"

namespace deskpilot {
namespace {

using nlohmann::json;

class ReplayTest : public testing_util::ServiceFixture {
 protected:
  void SetUp() override { StartService(); }

  int64_t ProcessTicket(const json& ticket) {
    const std::string id = AddTicket(ticket);
    EXPECT_FALSE(id.empty());
    auto enq = store().Enqueue({"desk", "desk:replay-" + id, id, "ticket.created", "{}"}, NowMs());
    EXPECT_TRUE(enq.ok());
    Drain();
    EXPECT_EQ(store().GetJob(enq->job_id).value()->state, JobState::kDone);
    return enq->job_id;
  }
};

TEST_F(ReplayTest, ARecordedJobReplaysToTheSameDecision) {
  const int64_t job = ProcessTicket({{"subject", "Where is my order?"},
                                     {"description", "My order NW-4821376 has not arrived. Mail me at dana@example.com."},
                                     {"requester", {{"email", "dana@example.com"}, {"name", "Dana"}}}});
  // The fetched ticket is on record, redacted.
  bool fetched = false;
  for (const auto& row : store().AuditForJob(job).value()) {
    if (row.entry.stage != "fetch") continue;
    fetched = true;
    EXPECT_EQ(row.entry.data.find("dana@example.com"), std::string::npos);
    EXPECT_EQ(row.entry.data.find("Dana"), std::string::npos) << row.entry.data;
    EXPECT_NE(row.entry.data.find("<EMAIL_1>"), std::string::npos);
  }
  EXPECT_TRUE(fetched);
  auto report = ReplayJob(store(), job, *service_->components().policy);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->divergence.has_value()) << ReplayReportJson(*report).dump();
  EXPECT_EQ(report->recorded_rung, report->replayed_rung);
  EXPECT_TRUE(ReplayReportJson(*report)["same"].get<bool>());
}

// The audit cannot be erased: custom fields and tags go there redacted too, and replay
// still reaches the same decision from them.
TEST_F(ReplayTest, CustomFieldsAndTagsAreRecordedRedacted) {
  Ticket t;
  t.id = "7";
  t.subject = "Where is my order?";
  t.description = "Order NW-4821376 has not arrived.";
  t.custom_fields = {{"billing_email", "ann.private@example.com"},
                     {"card", "4111 1111 1111 1111"},
                     {"phone", "+44 7700 900123"},
                     {"order", "NW-4821376"}};
  t.tags = {"vip", "ann@example.com"};
  const std::string record = FetchedTicketRecord(t).dump();
  for (const char* clear : {"ann.private@example.com", "4111 1111 1111 1111", "7700 900123", "ann@example.com"})
    EXPECT_EQ(record.find(clear), std::string::npos) << clear << " in " << record;
  const json j = FetchedTicketRecord(t);
  EXPECT_EQ(j["custom_fields"]["order"], "NW-4821376");
  EXPECT_EQ(j["custom_fields"]["phone"], "<PHONE_1>");
  EXPECT_EQ(j["tags"], json({"vip", "<EMAIL_2>"}));

  const int64_t job = ProcessTicket({{"subject", "Where is my order?"},
                                     {"description", "My order NW-4821376 has not arrived."},
                                     {"tags", {"vip", "dana@example.com"}}});
  for (const auto& row : store().AuditForJob(job).value())
    EXPECT_EQ(row.entry.data.find("dana@example.com"), std::string::npos) << row.entry.stage;
  auto report = ReplayJob(store(), job, *service_->components().policy);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_FALSE(report->divergence.has_value()) << ReplayReportJson(*report).dump();
}

TEST_F(ReplayTest, AChangedPolicyIsReportedAtTheFirstDivergence) {
  const int64_t job = ProcessTicket({{"subject", "Refund for returned boots"},
                                     {"description", "I sent the boots back two weeks ago. Where is my refund?"}});
  PolicyConfig shadow = service_->components().config.policy;
  shadow.mode = "shadow";
  auto report = ReplayJob(store(), job, Policy(shadow, nullptr));
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  ASSERT_TRUE(report->divergence.has_value());
  EXPECT_EQ(report->divergence->stage, "decide");
  EXPECT_EQ(report->divergence->field, "decision.rung");
  EXPECT_EQ(report->divergence->recorded, report->recorded_rung);
  EXPECT_EQ(report->divergence->replayed, "shadow");

  // Same rung, different routing: the team (and so the plan) differs first.
  PolicyConfig routed = service_->components().config.policy;
  const json triage = [&] {
    for (const auto& row : store().AuditForJob(job).value())
      if (row.entry.stage == "triage") return json::parse(row.entry.data);
    return json();
  }();
  const std::string category = triage["triage"]["category"]["label"].get<std::string>();
  routed.routing[category] = "a-new-team";
  report = ReplayJob(store(), job, Policy(routed, nullptr));
  ASSERT_TRUE(report.ok());
  ASSERT_TRUE(report->divergence.has_value());
  EXPECT_EQ(report->divergence->stage, "classify");
  EXPECT_EQ(report->divergence->field, "triage.team");
  EXPECT_EQ(report->divergence->replayed, "a-new-team");
}

TEST_F(ReplayTest, JobsWithoutADecisionCannotBeReplayed) {
  EXPECT_EQ(ReplayJob(store(), 424242, *service_->components().policy).status().code(), Code::kNotFound);
  // Skipped (the ticket does not exist at the help desk): nothing was decided.
  auto enq = store().Enqueue({"desk", "desk:none", "999999", "ticket.created", "{}"}, NowMs());
  ASSERT_TRUE(enq.ok());
  Drain();
  EXPECT_EQ(ReplayJob(store(), enq->job_id, *service_->components().policy).status().code(),
            Code::kFailedPrecondition);
}

}  // namespace
}  // namespace deskpilot
