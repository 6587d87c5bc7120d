// The worker against a misbehaving help desk: the real sandbox server with injected
// faults, the real sandbox adapter and curl client, a real SQLite store. For each fault
// the job must end in the right state (retry later, dead-letter with the reason, skip),
// never earlier than Retry-After; and once the desk's circuit opens, jobs are deferred
// without using an attempt, never dead-lettered.
#include <chrono>
#include <ctime>
#include <filesystem>
#include <stdexcept>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "helpdesk/sandbox/sandbox_helpdesk.h"
#include "helpdesk/sandbox/sandbox_server.h"
#include "service/worker.h"
#include "store/sqlite_store.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;
using json = nlohmann::json;
using std::chrono::milliseconds;

constexpr char kToken[] = "fault-token";

struct FixedClassifier : Classifier {
  bool explode = false;  // throw, as a library does on content it cannot handle
  Result<Triage> Classify(const Ticket&) override {
    if (explode) throw std::runtime_error("invalid UTF-8 byte at index 7");
    Triage t;
    t.predictions["category"] = {"delivery", 0.95, {}, false};
    return t;
  }
};
struct NoRetriever : Retriever {
  Result<std::vector<Passage>> Retrieve(const std::string&, int) override { return std::vector<Passage>{}; }
};
struct PlainDrafter : Drafter {
  Result<Draft> Write(const Ticket&, const Triage&, const std::vector<Passage>&) override {
    Draft d;
    d.body = "An agent will follow up.";
    d.generator = "test";
    return d;
  }
};

class WorkerFaultTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskpilot-faults-" + RandomHex(6));
    fs::create_directories(dir_);
    SandboxOptions so;
    so.db_path = (dir_ / "sandbox.db").string();
    so.api_token = kToken;
    so.webhook_secret = "unused";
    server_ = std::make_unique<SandboxServer>(so);
    ASSERT_TRUE(server_->Start().ok());
    raw_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    raw_->set_default_headers({{"Authorization", std::string("Bearer ") + kToken}});

    c_.config.workers.max_attempts = 3;
    c_.config.workers.breaker_failures = 100;  // the circuit test lowers it
    auto store = OpenSqliteStore((dir_ / "d.db").string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    c_.store = std::move(store).value();
    c_.metrics = std::make_unique<Metrics>();
    c_.http = NewCurlHttpClient();
    SandboxHelpdeskOptions o;
    o.name = "desk";
    o.base_url = "http://127.0.0.1:" + std::to_string(server_->port());
    o.api_token = kToken;
    o.webhook_secret = "unused";
    o.request_timeout = milliseconds(400);
    // Two quick in-process tries per call; the job-level schedule is what is tested.
    o.retry.max_attempts = 2;
    o.retry.base_delay = milliseconds(5);
    o.retry.max_delay = milliseconds(20);
    o.retry.max_retry_after = milliseconds(50);
    c_.helpdesks["desk"] = NewSandboxHelpdesk(o, c_.http.get());
    c_.policy = std::make_unique<Policy>(c_.config.policy, nullptr);
    c_.pipeline = std::make_unique<Pipeline>(c_.policy.get(), &clf_, &ret_, &drf_, c_.metrics.get());
    pool_ = std::make_unique<WorkerPool>(&c_, "test");
  }
  void TearDown() override {
    pool_.reset();
    server_->Stop();
    c_.store.reset();
    fs::remove_all(dir_);
  }

  std::string CreateTicket() {
    json body = {{"subject", "Parcel late"},
                 {"description", "My parcel has not arrived."},
                 {"requester", {{"email", "pat@example.com"}, {"name", "Pat"}}}};
    auto r = raw_->Post("/api/tickets", body.dump(), "application/json");
    EXPECT_TRUE(r && r->status == 201);
    return json::parse(r->body)["ticket"]["id"].get<std::string>();
  }
  void Fault(const json& fault) {
    auto r = raw_->Post("/api/_faults", fault.dump(), "application/json");
    ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "no answer");
  }
  int Requests(const std::string& route) {
    json s = json::parse(raw_->Get("/api/_stats")->body);
    return s["requests"].value(route, 0);
  }
  // Three jobs fail for real (two 503s each: two in-process tries, which use the fault
  // up) and open the circuit for `open_seconds`; the desk has recovered behind it. A
  // budget of one attempt dead-letters those three at once (out of the way), while a
  // deferred job survives any number of deferrals.
  void OpenTheCircuit(int open_seconds) {
    c_.config.workers.breaker_failures = 3;
    c_.config.workers.breaker_open_seconds = open_seconds;
    c_.config.workers.max_attempts = 1;
    pool_ = std::make_unique<WorkerPool>(&c_, "test");
    Fault({{"status", 503}, {"count", 6}, {"path_prefix", "/api/tickets/"}});
    for (int i = 0; i < 3; ++i) {
      Job job = RunNew();
      EXPECT_EQ(job.state, JobState::kDead);
      EXPECT_EQ(job.attempts, 1);
    }
  }
  // Enqueues an event for a fresh ticket and runs one attempt, as a worker would.
  Job RunNew() {
    const std::string ticket = CreateTicket();
    auto enq = c_.store->Enqueue({"desk", "desk:evt-" + RandomHex(4), ticket, "ticket.created", "{}"}, NowMs());
    EXPECT_TRUE(enq.ok());
    return RunAgain(enq->job_id);
  }
  // Leases `id` (far in the future, so any backoff is due) and processes it once.
  Job RunAgain(int64_t id) {
    auto job = c_.store->Lease("w", 60000, NowMs() + 86'400'000);
    EXPECT_TRUE(job.ok() && job->has_value());
    EXPECT_EQ((*job)->id, id);
    pool_->Process(**job, "w");
    return *c_.store->GetJob(id).value();
  }

  fs::path dir_;
  Components c_;
  std::unique_ptr<SandboxServer> server_;
  std::unique_ptr<httplib::Client> raw_;
  FixedClassifier clf_;
  NoRetriever ret_;
  PlainDrafter drf_;
  std::unique_ptr<WorkerPool> pool_;
};

TEST_F(WorkerFaultTest, EachFaultGetsTheRightRetryDecision) {
  struct Case {
    const char* name;
    json fault;
    JobState expect;
    const char* reason;  // in last_error
  };
  const Case cases[] = {
      {"500", {{"status", 500}, {"count", 2}}, JobState::kQueued, "HTTP 500"},
      {"502", {{"status", 502}, {"count", 2}}, JobState::kQueued, "HTTP 502"},
      {"503", {{"status", 503}, {"count", 2}}, JobState::kQueued, "HTTP 503"},
      {"504", {{"status", 504}, {"count", 2}}, JobState::kQueued, "HTTP 504"},
      {"409 conflict", {{"status", 409}, {"count", 2}, {"method", "PUT"}}, JobState::kQueued, "HTTP 409"},
      {"timeout", {{"mode", "hang"}, {"delay_ms", 1200}, {"count", 2}}, JobState::kQueued, "DEADLINE_EXCEEDED"},
      // 3, not 2: libcurl silently resends once when a reused keep-alive connection is
      // reset, so a reset can use up two faults in one attempt. Either way both in-process
      // attempts fail and the next job attempt succeeds.
      {"connection reset", {{"mode", "reset"}, {"count", 3}}, JobState::kQueued, "UNAVAILABLE"},
      {"truncated body", {{"mode", "truncate"}, {"count", 2}}, JobState::kQueued, "UNAVAILABLE"},
      {"HTML body with 200", {{"mode", "html"}, {"count", 1}}, JobState::kQueued, "not JSON (text/html"},
      {"400", {{"status", 400}, {"method", "PUT"}}, JobState::kDead, "HTTP 400"},
      {"401", {{"status", 401}}, JobState::kDead, "HTTP 401"},
      {"403", {{"status", 403}}, JobState::kDead, "HTTP 403"},
      {"422", {{"status", 422}, {"method", "PUT"}}, JobState::kDead, "HTTP 422"},
      {"404 (ticket deleted)", {{"status", 404}}, JobState::kSkipped, ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    json fault = c.fault;
    fault["path_prefix"] = "/api/tickets/";
    Fault(fault);
    Job job = RunNew();
    EXPECT_EQ(JobStateName(job.state), JobStateName(c.expect)) << job.last_error;
    EXPECT_NE(job.last_error.find(c.reason), std::string::npos) << job.last_error;
    if (c.expect == JobState::kQueued) {
      // The fault is used up: the next attempt succeeds and writes back once.
      Job again = RunAgain(job.id);
      EXPECT_EQ(again.state, JobState::kDone) << again.last_error;
    }
    if (c.expect == JobState::kDead) {
      EXPECT_EQ(job.attempts, 1) << "a permanent error must not be retried";
    }
  }
}

TEST_F(WorkerFaultTest, RateLimitWaitsAtLeastRetryAfterInSecondsAndAsHttpDate) {
  // A long Retry-After is handed back at once (not slept in-process): one request each.
  Fault({{"status", 429}, {"count", 1}, {"retry_after", "120"}, {"path_prefix", "/api/tickets/"}});
  int64_t before = NowMs();
  Job job = RunNew();
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_GE(job.next_attempt_ms, before + 120'000);
  EXPECT_LE(job.next_attempt_ms, NowMs() + 120'000 + 5'000);  // backoff of attempt 1 is ≤ 4 s

  // An HTTP-date 200 s ahead (one-second resolution).
  std::time_t when = std::time(nullptr) + 200;
  char date[64];
  std::tm tm{};
  gmtime_r(&when, &tm);
  std::strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
  Fault({{"status", 429}, {"count", 1}, {"retry_after", date}, {"path_prefix", "/api/tickets/"}});
  before = NowMs();
  job = RunNew();
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_GE(job.next_attempt_ms, before + 198'000) << date;
  EXPECT_NE(job.last_error.find("HTTP 429"), std::string::npos) << job.last_error;
}

TEST_F(WorkerFaultTest, AttemptBudgetEndsInDeadLetterWithTheReason) {
  Fault({{"status", 503}, {"count", 1000}, {"path_prefix", "/api/tickets/"}});
  Job job = RunNew();
  for (int i = 1; i < c_.config.workers.max_attempts; ++i) {
    EXPECT_EQ(job.state, JobState::kQueued);
    job = RunAgain(job.id);
  }
  EXPECT_EQ(job.state, JobState::kDead);
  EXPECT_EQ(job.attempts, 3);
  EXPECT_NE(job.last_error.find("dead-lettered after 3 attempts"), std::string::npos) << job.last_error;
  EXPECT_NE(job.last_error.find("HTTP 503"), std::string::npos) << job.last_error;
  // Requeued by an operator (what `deskpilot jobs retry` calls) it runs again with a fresh budget.
  ASSERT_TRUE(c_.store->Retry(job.id, "cli", NowMs()).ok());
  EXPECT_EQ(c_.store->GetJob(job.id).value()->attempts, 0);
}

// A throw inside a job (nlohmann::json::dump on invalid UTF-8 was one) ends that job in
// the dead letters with the message; it used to end the process, and again at every lease
// expiry, while every other ticket waited.
TEST_F(WorkerFaultTest, AnExceptionDeadLettersTheJobInsteadOfEndingTheProcess) {
  clf_.explode = true;
  Job job = RunNew();
  EXPECT_EQ(job.state, JobState::kDead);
  EXPECT_EQ(job.attempts, 1) << "the same input would throw again: no retries";
  EXPECT_NE(job.last_error.find("unexpected exception: invalid UTF-8 byte"), std::string::npos) << job.last_error;
  clf_.explode = false;
  EXPECT_EQ(RunNew().state, JobState::kDone) << "the next job is processed as usual";
}

// A ticket deleted between the fetch and the write-back ends the way a 404 on the fetch
// does: skipped, not a dead letter for an operator to look at and retry.
TEST_F(WorkerFaultTest, ATicketDeletedBeforeTheWriteBackIsSkipped) {
  Fault({{"status", 404}, {"count", 10}, {"path_prefix", "/api/tickets/"}, {"method", "PUT"}});
  Job job = RunNew();
  EXPECT_EQ(job.state, JobState::kSkipped) << job.last_error;
  EXPECT_EQ(job.attempts, 1);
}

TEST_F(WorkerFaultTest, OpenCircuitDefersWithoutUsingAttemptsThenRecovers) {
  OpenTheCircuit(1);
  EXPECT_NE(c_.metrics->Render().find("deskpilot_circuit_state{upstream=\"desk\"} 1"), std::string::npos)
      << c_.metrics->Render();
  // While open: no call reaches the desk, and the job keeps its attempts.
  const int calls = Requests("GET /api/tickets/{id}");
  const int64_t before = NowMs();
  Job deferred = RunNew();
  EXPECT_EQ(deferred.state, JobState::kQueued);
  EXPECT_EQ(deferred.attempts, 0) << "a deferral must not use an attempt";
  EXPECT_GE(deferred.next_attempt_ms, before + 900);  // when the circuit lets a probe through
  for (int i = 0; i < 5; ++i) {  // bouncing many times never dead-letters it
    deferred = RunAgain(deferred.id);
    EXPECT_EQ(deferred.attempts, 0);
    EXPECT_EQ(deferred.state, JobState::kQueued);
  }
  EXPECT_EQ(Requests("GET /api/tickets/{id}"), calls) << "an open circuit must not call the desk";
  const std::string open_metrics = c_.metrics->Render();
  EXPECT_NE(open_metrics.find("deskpilot_deferrals_total{upstream=\"desk\"} 6"), std::string::npos) << open_metrics;
  EXPECT_NE(open_metrics.find("deskpilot_jobs_processed_total{outcome=\"deferred\"} 6"), std::string::npos);

  // The desk has recovered (the fault is used up). Once open_for passes, one probe goes
  // through, succeeds and closes the circuit; the deferred job is done on its first attempt.
  std::this_thread::sleep_for(milliseconds(1100));
  deferred = RunAgain(deferred.id);
  EXPECT_EQ(deferred.state, JobState::kDone) << deferred.last_error;
  EXPECT_EQ(deferred.attempts, 1);
  EXPECT_NE(c_.metrics->Render().find("deskpilot_circuit_state{upstream=\"desk\"} 0"), std::string::npos);
}

TEST_F(WorkerFaultTest, WhileEveryDeskIsDownTheWorkersLeaseNothingUntilAProbeIsDue) {
  OpenTheCircuit(2);
  // The circuit is open (the only desk is down); a backlog arrives.
  std::vector<int64_t> ids;
  for (int i = 0; i < 4; ++i) {
    auto enq = c_.store->Enqueue({"desk", "desk:evt-" + RandomHex(4), CreateTicket(), "ticket.created", "{}"}, NowMs());
    ASSERT_TRUE(enq.ok());
    ids.push_back(enq->job_id);
  }
  const int64_t commits = StoreCommitCount(*c_.store).value();
  pool_->Start(1);
  std::this_thread::sleep_for(milliseconds(400));
  // Nothing leased, nothing put back: no commit at all while the circuit is open.
  EXPECT_EQ(StoreCommitCount(*c_.store).value(), commits);
  EXPECT_EQ(c_.metrics->Render().find("deskpilot_deferrals_total{"), std::string::npos) << c_.metrics->Render();
  for (int64_t id : ids) {
    Job job = c_.store->GetJob(id).value().value();
    EXPECT_EQ(job.state, JobState::kQueued);
    EXPECT_EQ(job.lease_owner, "");
  }
  // Once open_for has passed, one probe goes through (the desk has recovered: the fault
  // is used up), closes the circuit, and the backlog is done, each on its first attempt.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  auto all_done = [&] {
    for (int64_t id : ids)
      if (c_.store->GetJob(id).value().value().state != JobState::kDone) return false;
    return true;
  };
  while (!all_done() && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(milliseconds(50));
  pool_->Stop();
  for (int64_t id : ids) {
    Job job = c_.store->GetJob(id).value().value();
    EXPECT_EQ(job.state, JobState::kDone) << job.last_error;
    EXPECT_EQ(job.attempts, 1);
  }
}

}  // namespace
}  // namespace deskpilot
