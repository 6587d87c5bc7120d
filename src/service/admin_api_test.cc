// The admin API on a real Service (port 0) in front of a real sandbox help desk.
#include "service/admin_api.h"

#include <functional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "service/approval.h"
#include "service/replay.h"
#include "service/service_fixture_test_util.h"

namespace deskpilot {
namespace {

using nlohmann::json;

class AdminApiTest : public testing_util::ServiceFixture {
 protected:
  void SetUp() override {
    StartService();
    // Approved drafts are posted only under mode auto (the default, assist, caps the ladder
    // below approve). Set before any job runs; the pipeline's own policy stays as it was.
    service_->components().config.policy.mode = "auto";
  }

  httplib::Headers Auth(const std::string& token = kAdminToken) { return {{"Authorization", "Bearer " + token}}; }

  // Records what a worker records for a ticket decided at `rung`: the fetched ticket
  // (redacted) and the triage with its redacted draft. Returns the triage row's seq.
  int64_t RecordDecision(const std::string& ticket_id, const std::string& rung, const std::string& draft_body,
                         std::vector<std::string> tags_then = {}) {
    auto enq = store().Enqueue({"gone", "desk:record-" + ticket_id + "-" + RandomHex(3), ticket_id, "ticket.created",
                                "{}"},
                               NowMs());
    EXPECT_TRUE(enq.ok());
    // The ticket as the help desk shows it now, as a worker fetches it before deciding.
    auto fetched = service_->components().helpdesks.at("desk")->FetchTicket(ticket_id);
    EXPECT_TRUE(fetched.ok()) << fetched.status().ToString();
    Ticket then = fetched.ok() ? *fetched : Ticket{};
    then.tags = std::move(tags_then);
    AuditEntry fetch{enq->job_id, ticket_id, "desk", "fetch", "system", "ok",
                     json{{"ticket", FetchedTicketRecord(then)}}.dump()};
    EXPECT_TRUE(store().AppendAudit(fetch, NowMs()).ok());
    json triage = {{"triage", {{"category", {{"label", "refund"}, {"confidence", 0.97}}}}},
                   {"draft", {{"body", draft_body}, {"citations", {"refund-status"}}, {"grounded", true}}},
                   {"decision", {{"rung", rung}, {"reasons", json::array()}}},
                   {"write_plan", json::array()}};
    AuditEntry t{enq->job_id, ticket_id, "desk", "triage", "system", "ok", triage.dump()};
    auto seq = store().AppendAudit(t, NowMs());
    EXPECT_TRUE(seq.ok());
    return seq.ok() ? *seq : 0;
  }

  // An agent adding the policy's approval tag in the help desk.
  bool AddApprovalTag(const std::string& id) {
    const std::string tag = service_->components().config.policy.approval_tag;
    auto put = sandbox_client_->Put(("/api/tickets/" + id).c_str(),
                                    json{{"ticket", {{"additional_tags", {tag}}}}}.dump(), "application/json");
    return put && put->status == 200;
  }

  int PublicReplies(const std::string& id, std::string* last_body = nullptr) {
    int n = 0;
    for (const auto& c : Comments(id)) {
      if (c["public"].get<bool>() && c["author_role"] == "agent") {
        ++n;
        if (last_body) *last_body = c["body"].get<std::string>();
      }
    }
    return n;
  }
};

TEST_F(AdminApiTest, AnythingWithoutTheTokenIs401AndNamesTheScheme) {
  for (const auto& headers : {httplib::Headers{}, Auth("wrong-token"), Auth(std::string(kAdminToken) + "x"),
                              httplib::Headers{{"Authorization", std::string("Basic ") + kAdminToken}},
                              httplib::Headers{{"Authorization", "Bearer "}}}) {
    for (const char* path : {"/api/v1/jobs", "/api/v1/jobs/1", "/api/v1/no-such-thing"}) {
      auto r = client_->Get(path, headers);
      ASSERT_TRUE(r);
      EXPECT_EQ(r->status, 401) << path;
      EXPECT_EQ(r->get_header_value("WWW-Authenticate"), "Bearer realm=\"deskpilot\"");
      EXPECT_EQ(r->body.find(kAdminToken), std::string::npos);
    }
    auto p = client_->Post("/api/v1/jobs/1/retry", headers, "", "application/json");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->status, 401);
  }
  auto ok = client_->Get("/api/v1/jobs", Auth());
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200);
}

// Audit finding: wrong tokens were answered 401 as fast as they came, so the token could
// be guessed at line rate.
TEST_F(AdminApiTest, WrongTokensFromOneAddressAreMadeToWait) {
  for (int i = 0; i < AuthThrottle::kFreeFailures; ++i) {
    auto r = client_->Get("/api/v1/jobs", Auth("guess-" + std::to_string(i)));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 401) << i;
  }
  auto ok = client_->Get("/api/v1/jobs", Auth());
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << "a success within the free failures is served and clears the count";
  for (int i = 0; i <= AuthThrottle::kFreeFailures; ++i) (void)client_->Get("/api/v1/jobs", Auth("guess"));
  for (const auto& token : {std::string("guess"), std::string(kAdminToken)}) {
    auto r = client_->Get("/api/v1/jobs", Auth(token));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 429) << "the token is not even compared while the address waits";
    EXPECT_EQ(r->get_header_value("Retry-After"), "1");
    EXPECT_EQ(r->body.find(kAdminToken), std::string::npos);
  }
  auto healthz = client_->Get("/healthz");
  ASSERT_TRUE(healthz);
  EXPECT_EQ(healthz->status, 200) << "only the admin API waits";
}

TEST(AuthThrottleTest, BacksOffPerAddressAndForgetsWithinABound) {
  AuthThrottle t;
  int64_t now = 1'000'000;
  for (int i = 0; i < AuthThrottle::kFreeFailures; ++i) EXPECT_EQ(t.Failed("10.0.0.1", now), 0);
  EXPECT_EQ(t.WaitMs("10.0.0.1", now), 0);
  EXPECT_EQ(t.Failed("10.0.0.1", now), 1000);
  EXPECT_EQ(t.WaitMs("10.0.0.1", now + 400), 600);
  EXPECT_EQ(t.WaitMs("10.0.0.2", now), 0) << "another address is not affected";
  EXPECT_EQ(t.WaitMs("10.0.0.1", now + 1000), 0);
  EXPECT_EQ(t.Failed("10.0.0.1", now + 1000), 2000) << "each further failure doubles the wait";
  for (int i = 0; i < 20; ++i) t.Failed("10.0.0.1", now);
  EXPECT_EQ(t.WaitMs("10.0.0.1", now), AuthThrottle::kMaxWaitMs);
  t.Succeeded("10.0.0.1");
  EXPECT_EQ(t.WaitMs("10.0.0.1", now), 0);
  EXPECT_EQ(t.Failed("10.0.0.1", now), 0) << "a success starts the count again";

  for (size_t i = 0; i < AuthThrottle::kMaxPeers + 100; ++i) t.Failed("peer-" + std::to_string(i), now + 1 + int64_t(i));
  EXPECT_EQ(t.size(), AuthThrottle::kMaxPeers);
  EXPECT_EQ(t.WaitMs("10.0.0.1", now), 0) << "the address idle longest was forgotten first";
}

TEST_F(AdminApiTest, ListsAndShowsJobsAndRejectsBadInput) {
  // A job for a help desk that is not configured is dead-lettered at once.
  auto enq = store().Enqueue({"gone", "gone:1", "7", "ticket.created", "{\"secret\":\"customer text\"}"}, NowMs());
  ASSERT_TRUE(enq.ok());
  Drain();
  ASSERT_TRUE(WaitForAudit(enq->job_id, "job.dead_lettered"));

  auto r = client_->Get("/api/v1/jobs?state=dead&limit=10", Auth());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  json jobs = json::parse(r->body)["jobs"];
  ASSERT_EQ(jobs.size(), 1u);
  EXPECT_EQ(jobs[0]["id"], enq->job_id);
  EXPECT_EQ(jobs[0]["state"], "dead");
  EXPECT_EQ(r->body.find("customer text"), std::string::npos);  // payloads stay out

  r = client_->Get(("/api/v1/jobs/" + std::to_string(enq->job_id)).c_str(), Auth());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  json one = json::parse(r->body);
  EXPECT_EQ(one["job"]["ticket_id"], "7");
  ASSERT_FALSE(one["audit"].empty());
  EXPECT_EQ(one["audit"].back()["stage"], "job.dead_lettered");

  for (const char* bad : {"/api/v1/jobs?state=bogus", "/api/v1/jobs?limit=0", "/api/v1/jobs?limit=abc",
                          "/api/v1/jobs?limit=1001", "/api/v1/jobs/abc", "/api/v1/jobs/-3"}) {
    auto b = client_->Get(bad, Auth());
    ASSERT_TRUE(b);
    EXPECT_EQ(b->status, 400) << bad;
  }
  auto missing = client_->Get("/api/v1/jobs/999999", Auth());
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
  auto nothing = client_->Get("/api/v1/nothing/here", Auth());
  ASSERT_TRUE(nothing);
  EXPECT_EQ(nothing->status, 404);
  auto wrong = client_->Delete(("/api/v1/jobs/" + std::to_string(enq->job_id)).c_str(), Auth());
  ASSERT_TRUE(wrong);
  EXPECT_EQ(wrong->status, 405);
  EXPECT_EQ(wrong->get_header_value("Allow"), "GET");
  auto get_retry = client_->Get(("/api/v1/jobs/" + std::to_string(enq->job_id) + "/retry").c_str(), Auth());
  ASSERT_TRUE(get_retry);
  EXPECT_EQ(get_retry->status, 405);
  EXPECT_EQ(get_retry->get_header_value("Allow"), "POST");
}

TEST_F(AdminApiTest, RetryRequeuesOnlyDeadLetters) {
  auto dead = store().Enqueue({"gone", "gone:2", "8", "ticket.created", "{}"}, NowMs());
  ASSERT_TRUE(dead.ok());
  Drain();
  ASSERT_EQ(store().GetJob(dead->job_id).value()->state, JobState::kDead);
  const std::string path = "/api/v1/jobs/" + std::to_string(dead->job_id) + "/retry";
  auto r = client_->Post(path.c_str(), Auth(), "", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200) << r->body;
  // The worker takes it again and dead-letters it again (still no such help desk).
  EXPECT_TRUE(WaitForAudit(dead->job_id, "job.dead_lettered", 2));
  int dead_letters = 0;
  bool requeued_by_admin = false;
  for (const auto& row : store().AuditForJob(dead->job_id).value()) {
    dead_letters += row.entry.stage == "job.dead_lettered";
    requeued_by_admin = requeued_by_admin || (row.entry.stage == "job.requeued" && row.entry.actor == "admin-api");
  }
  EXPECT_EQ(dead_letters, 2);
  EXPECT_TRUE(requeued_by_admin);

  // A ticket the sandbox does not know: the job is skipped, not dead → 409.
  auto skipped = store().Enqueue({"desk", "desk:3", "424242", "ticket.created", "{}"}, NowMs());
  ASSERT_TRUE(skipped.ok());
  Drain();
  auto conflict = client_->Post(("/api/v1/jobs/" + std::to_string(skipped->job_id) + "/retry").c_str(), Auth(), "",
                                "application/json");
  ASSERT_TRUE(conflict);
  EXPECT_EQ(conflict->status, 409);
  auto missing = client_->Post("/api/v1/jobs/999999/retry", Auth(), "", "application/json");
  ASSERT_TRUE(missing);
  EXPECT_EQ(missing->status, 404);
}

TEST_F(AdminApiTest, ApprovePostsThePendingDraftExactlyOnce) {
  const std::string id = AddTicket({{"subject", "Refund"},
                                    {"description", "Please refund order 12. Write to ann@example.com."},
                                    {"requester", {{"email", "ann@example.com"}, {"name", "Ann"}}}});
  ASSERT_FALSE(id.empty());
  // The drafter saw <EMAIL_1>; the customer must get the address back.
  const int64_t seq = RecordDecision(id, "approve", "We will confirm the refund to <EMAIL_1> today.");

  auto view = client_->Get(("/api/v1/tickets/desk/" + id).c_str(), Auth());
  ASSERT_TRUE(view);
  ASSERT_EQ(view->status, 200);
  json v = json::parse(view->body);
  EXPECT_TRUE(v["pending_approval"].get<bool>());
  EXPECT_EQ(v["triage_seq"], seq);
  EXPECT_EQ(v["triage"]["decision"]["rung"], "approve");

  const std::string path = "/api/v1/tickets/desk/" + id + "/approve";
  auto first = client_->Post(path.c_str(), Auth(), "", "application/json");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->status, 200) << first->body;
  EXPECT_EQ(json::parse(first->body)["status"], "posted");
  auto second = client_->Post(path.c_str(), Auth(), "", "application/json");
  ASSERT_TRUE(second);
  ASSERT_EQ(second->status, 200) << second->body;
  EXPECT_EQ(json::parse(second->body)["status"], "already_approved");

  std::string body;
  EXPECT_EQ(PublicReplies(id, &body), 1);
  EXPECT_EQ(body, "We will confirm the refund to ann@example.com today.");
  int approvals = 0;
  for (const auto& row : store().AuditForTicket("desk", id).value()) {
    if (row.entry.stage != "approval") continue;
    ++approvals;
    EXPECT_EQ(row.entry.actor, "admin-api");
    EXPECT_EQ(row.entry.data.find("ann@example.com"), std::string::npos);  // the audit stays redacted
  }
  EXPECT_EQ(approvals, 1);
  view = client_->Get(("/api/v1/tickets/desk/" + id).c_str(), Auth());
  ASSERT_TRUE(view);
  EXPECT_FALSE(json::parse(view->body)["pending_approval"].get<bool>());
  EXPECT_TRUE(store().VerifyAudit().value().ok);
}

TEST_F(AdminApiTest, ApproveRefusesWhatIsNotPending) {
  const std::string id = AddTicket({{"subject", "Question"}, {"description", "How do I track my parcel?"}});
  ASSERT_FALSE(id.empty());
  const std::string path = "/api/v1/tickets/desk/" + id + "/approve";
  auto none = client_->Post(path.c_str(), Auth(), "", "application/json");
  ASSERT_TRUE(none);
  EXPECT_EQ(none->status, 404);  // never triaged
  RecordDecision(id, "assist", "An agent will follow up.");
  auto assist = client_->Post(path.c_str(), Auth(), "", "application/json");
  ASSERT_TRUE(assist);
  EXPECT_EQ(assist->status, 409);
  // A placeholder the ticket no longer explains is not sent half-restored.
  RecordDecision(id, "approve", "We wrote to <EMAIL_3>.");
  auto orphan = client_->Post(path.c_str(), Auth(), "", "application/json");
  ASSERT_TRUE(orphan);
  EXPECT_EQ(orphan->status, 409);
  EXPECT_EQ(PublicReplies(id), 0);

  auto unknown_ticket = client_->Post("/api/v1/tickets/desk/987654/approve", Auth(), "", "application/json");
  ASSERT_TRUE(unknown_ticket);
  EXPECT_EQ(unknown_ticket->status, 404);
  // A ticket id the help desk cannot have is the caller's mistake, not the desk's failure.
  auto bad_id = client_->Post("/api/v1/tickets/desk/not-a-number/approve", Auth(), "", "application/json");
  ASSERT_TRUE(bad_id);
  EXPECT_EQ(bad_id->status, 400) << bad_id->body;
  auto unknown_source = client_->Post(("/api/v1/tickets/nope/" + id + "/approve").c_str(), Auth(), "",
                                      "application/json");
  ASSERT_TRUE(unknown_source);
  EXPECT_EQ(unknown_source->status, 404);
  auto unknown_view = client_->Get("/api/v1/tickets/desk/987654", Auth());
  ASSERT_TRUE(unknown_view);
  EXPECT_EQ(unknown_view->status, 404);
  auto wrong_method = client_->Get(path.c_str(), Auth());
  ASSERT_TRUE(wrong_method);
  EXPECT_EQ(wrong_method->status, 405);
}

// A draft answers the conversation it was decided on: once the customer wrote again or an
// agent replied publicly, posting it would answer the wrong question or answer twice.
TEST_F(AdminApiTest, ApproveRefusesADraftTheConversationHasMovedPast) {
  for (const char* role : {"customer", "agent"}) {
    const std::string id = AddTicket({{"subject", "Refund"}, {"description", "Please refund order 12."}});
    ASSERT_FALSE(id.empty());
    RecordDecision(id, "approve", "Your refund is on its way.");
    // An agent's internal note is not part of the conversation: it does not stale the draft.
    auto note = sandbox_client_->Post(("/api/tickets/" + id + "/comments").c_str(),
                                      json{{"body", "Checking with billing."}, {"author_role", "agent"},
                                           {"public", false}}.dump(),
                                      "application/json");
    ASSERT_TRUE(note);
    ASSERT_EQ(note->status, 201) << note->body;
    auto view = client_->Get(("/api/v1/tickets/desk/" + id).c_str(), Auth());
    ASSERT_TRUE(view);
    EXPECT_TRUE(json::parse(view->body)["pending_approval"].get<bool>());
    auto added = sandbox_client_->Post(("/api/tickets/" + id + "/comments").c_str(),
                                       json{{"body", std::string(role) == "customer" ? "Actually, I want an exchange."
                                                                                     : "Refunded, see your email."},
                                            {"author_role", role}, {"public", true}}.dump(),
                                       "application/json");
    ASSERT_TRUE(added);
    ASSERT_EQ(added->status, 201) << added->body;

    auto r = client_->Post(("/api/v1/tickets/desk/" + id + "/approve").c_str(), Auth(), "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 409) << role << ": " << r->body;
    EXPECT_NE(r->body.find("new public comment"), std::string::npos) << r->body;
    EXPECT_EQ(PublicReplies(id), std::string(role) == "agent" ? 1 : 0) << role;  // only the agent's own
  }
}

// GET's pending_approval is what POST approve then does: true exactly when the approval
// posts (200), false with the reason approve gives (409) otherwise. The view used to look
// at the audit alone and offered drafts the conversation had moved past.
TEST_F(AdminApiTest, GetReportsPendingExactlyWhenApproveWouldPost) {
  struct Case {
    const char* name;
    std::function<void(const std::string& id)> after_decision;
    int approve_status;
  };
  std::string& mode = service_->components().config.policy.mode;
  const std::vector<Case> cases = {
      {"pending", [](const std::string&) {}, 200},
      {"customer wrote again",
       [&](const std::string& id) {
         auto r = sandbox_client_->Post(("/api/tickets/" + id + "/comments").c_str(),
                                        json{{"body", "Actually, I want an exchange."}, {"author_role", "customer"},
                                             {"public", true}}.dump(),
                                        "application/json");
         ASSERT_TRUE(r && r->status == 201);
       },
       409},
      {"shadow mode", [&](const std::string&) { mode = "shadow"; }, 409},
      {"draft names a detail no longer on the ticket",
       [&](const std::string& id) { RecordDecision(id, "approve", "We wrote to <EMAIL_3>."); }, 409},
  };
  for (const Case& c : cases) {
    mode = "auto";
    const std::string id = AddTicket({{"subject", "Refund"}, {"description", "Please refund order 12."}});
    ASSERT_FALSE(id.empty());
    RecordDecision(id, "approve", "Your refund is on its way.");
    c.after_decision(id);
    auto view = client_->Get(("/api/v1/tickets/desk/" + id).c_str(), Auth());
    ASSERT_TRUE(view);
    ASSERT_EQ(view->status, 200) << c.name << ": " << view->body;
    json v = json::parse(view->body);
    auto r = client_->Post(("/api/v1/tickets/desk/" + id + "/approve").c_str(), Auth(), "", "application/json");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, c.approve_status) << c.name << ": " << r->body;
    EXPECT_EQ(v["pending_approval"].get<bool>(), r->status == 200) << c.name << ": " << view->body;
    if (r->status == 409) {
      // The same reason, from the same check.
      EXPECT_EQ(v.value("pending_approval_reason", ""), json::parse(r->body)["error"].get<std::string>()) << c.name;
    }
  }
}

// The mode is the admin's ceiling: switching to shadow (or assist) is how they stop
// deskpilot writing, and a draft decided before the switch is not posted after it.
TEST_F(AdminApiTest, ApprovalsPostNothingInShadowOrAssistMode) {
  const std::string id = AddTicket({{"subject", "Refund"}, {"description", "Please refund order 12."}});
  ASSERT_FALSE(id.empty());
  RecordDecision(id, "approve", "Your refund is on its way.");
  const std::string path = "/api/v1/tickets/desk/" + id + "/approve";
  std::string& mode = service_->components().config.policy.mode;
  for (const char* m : {"shadow", "assist"}) {
    mode = m;
    auto refused = client_->Post(path.c_str(), Auth(), "", "application/json");
    ASSERT_TRUE(refused);
    EXPECT_EQ(refused->status, 409) << m;
    EXPECT_NE(refused->body.find(std::string("policy.mode is ") + m), std::string::npos) << refused->body;
  }
  EXPECT_EQ(PublicReplies(id), 0);
  mode = "auto";
  auto posted = client_->Post(path.c_str(), Auth(), "", "application/json");
  ASSERT_TRUE(posted);
  EXPECT_EQ(posted->status, 200) << posted->body;
  EXPECT_EQ(PublicReplies(id), 1);
}

TEST_F(AdminApiTest, TheApprovalTagTakesTheSamePathOnce) {
  const std::string id = AddTicket({{"subject", "Refund"}, {"description", "Please refund order 12."}});
  ASSERT_FALSE(id.empty());
  RecordDecision(id, "approve", "Your refund is on its way.");
  const std::string tag = service_->components().config.policy.approval_tag;
  ASSERT_TRUE(AddApprovalTag(id));
  // The tag change arrives as a webhook; two deliveries of it, then an API approval.
  ASSERT_TRUE(store().Enqueue({"desk", "desk:tag-1", id, "ticket.updated", "{}"}, NowMs()).ok());
  ASSERT_TRUE(store().Enqueue({"desk", "desk:tag-2", id, "ticket.updated", "{}"}, NowMs()).ok());
  Drain();
  auto api = client_->Post(("/api/v1/tickets/desk/" + id + "/approve").c_str(), Auth(), "", "application/json");
  ASSERT_TRUE(api);
  EXPECT_EQ(json::parse(api->body)["status"], "already_approved");
  EXPECT_EQ(PublicReplies(id), 1);
  int by_tag = 0;
  for (const auto& row : store().AuditForTicket("desk", id).value())
    by_tag += row.entry.stage == "approval" && row.entry.actor == "agent-tag";
  EXPECT_EQ(by_tag, 1);

  // A tag that was already there when a new draft was decided approves nothing.
  RecordDecision(id, "approve", "Second draft.", {tag});
  Ticket current;
  current.id = id;
  current.subject = "Refund";
  current.tags = {tag};
  auto r = ApprovePendingDraft(service_->components(), "desk", current, "agent-tag", ApprovalVia::kTag);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(PublicReplies(id), 1);
}

// A delivery that only reports the approval tag (kApprovalTagEvent) posts a pending draft
// and otherwise does nothing: no triage, no note, however often the tag is reported.
TEST_F(AdminApiTest, AnApprovalTagEventPostsThePendingDraftOrNothingAndNeverTriages) {
  const std::string id = AddTicket({{"subject", "Refund"}, {"description", "Please refund order 12."}});
  ASSERT_FALSE(id.empty());
  auto notes = [&] {
    int n = 0;
    for (const auto& c : Comments(id)) n += !c["public"].get<bool>();
    return n;
  };
  auto skipped_because = [&](const std::string& job_key) {
    std::string reason;
    for (const auto& row : store().AuditForTicket("desk", id).value()) {
      if (row.entry.stage != "approval" || row.entry.outcome != "skipped") continue;
      auto job = store().GetJob(row.entry.job_id);
      if (job.ok() && job->has_value() && (*job)->dedupe_key == job_key) reason = json::parse(row.entry.data)["reason"].get<std::string>();
    }
    return reason;
  };
  // Nothing decided and no tag: nothing to approve, and no triage either.
  ASSERT_TRUE(store().Enqueue({"desk", "desk:approval-0", id, kApprovalTagEvent, "{}"}, NowMs()).ok());
  Drain();
  EXPECT_EQ(notes(), 0) << "an approval event never starts triage";
  EXPECT_EQ(skipped_because("desk:approval-0"), "the approval tag is not on the ticket");

  RecordDecision(id, "approve", "Your refund is on its way.");
  ASSERT_TRUE(AddApprovalTag(id));
  ASSERT_TRUE(store().Enqueue({"desk", "desk:approval-1", id, kApprovalTagEvent, "{}"}, NowMs()).ok());
  Drain();
  std::string body;
  EXPECT_EQ(PublicReplies(id, &body), 1);
  EXPECT_NE(body.find("Your refund is on its way."), std::string::npos) << body;
  // The tag stays; every later update reports it again.
  ASSERT_TRUE(store().Enqueue({"desk", "desk:approval-2", id, kApprovalTagEvent, "{}"}, NowMs()).ok());
  Drain();
  EXPECT_EQ(PublicReplies(id), 1);
  EXPECT_EQ(notes(), 0);
  EXPECT_EQ(skipped_because("desk:approval-2"), "the pending draft was already posted");
}

class AdminApiOffTest : public testing_util::ServiceFixture {};

TEST_F(AdminApiOffTest, WithoutATokenThereIsNoAdminApi) {
  StartService("", /*with_admin=*/false);
  auto r = client_->Get("/api/v1/jobs", {{"Authorization", std::string("Bearer ") + kAdminToken}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

}  // namespace
}  // namespace deskpilot
