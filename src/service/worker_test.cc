// The worker's job lifecycle against a real SQLite store and a scripted help desk.
#include "service/worker.h"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <functional>
#include <future>
#include <optional>
#include <thread>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "store/sqlite_store.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;

struct ScriptedHelpdesk : Helpdesk {
  std::string_view type() const override { return "scripted"; }
  Status VerifyWebhook(const WebhookRequest&) const override { return Status::Ok(); }
  Result<WebhookEvent> ParseWebhook(const WebhookRequest&) const override { return WebhookEvent{}; }
  Result<Ticket> FetchTicket(const std::string& id) override {
    ++fetches;
    if (on_fetch) on_fetch();
    if (!fetch_error.ok()) return fetch_error;
    Ticket t = ticket;
    t.id = id;
    return t;
  }
  Status Apply(const Ticket&, const WritePlan& plan) override {
    applied.push_back(plan);
    if (!apply_errors.empty()) {
      Status s = apply_errors.front();
      apply_errors.erase(apply_errors.begin());
      return s;
    }
    return Status::Ok();
  }
  Ticket ticket;
  Status fetch_error;
  std::vector<Status> apply_errors;
  std::vector<WritePlan> applied;
  int fetches = 0;
  std::function<void()> on_fetch;  // runs while the worker holds the job (a stall)
};

struct CountingClassifier : Classifier {
  int calls = 0;
  std::chrono::milliseconds delay{0};  // a slow model call
  Store* model_cache = nullptr;        // when set, caches an answer as the llm adapters do
  std::function<void()> during;        // runs inside the model call
  Result<Triage> Classify(const Ticket&) override {
    ++calls;
    if (during) during();
    std::this_thread::sleep_for(delay);
    if (model_cache != nullptr) {
      EXPECT_TRUE(model_cache->CachePutDeferrable("llm:test", "answer", NowMs()).ok());
    }
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
    return Draft{"An agent will follow up.", {}, false, "test", {}, ""};
  }
};

class WorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskpilot-worker-" + RandomHex(6));
    fs::create_directories(dir_);
    c_.config.workers.max_attempts = 3;
    auto store = OpenSqliteStore((dir_ / "d.db").string());
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    c_.store = std::move(store).value();
    c_.metrics = std::make_unique<Metrics>();
    auto hd = std::make_unique<ScriptedHelpdesk>();
    hd_ = hd.get();
    c_.helpdesks["desk"] = std::move(hd);
    c_.policy = std::make_unique<Policy>(c_.config.policy, nullptr);
    c_.pipeline = std::make_unique<Pipeline>(c_.policy.get(), &clf_, &ret_, &drf_, c_.metrics.get());
    Comment first;
    first.author_role = AuthorRole::kCustomer;
    first.body = "Where is my parcel?";
    hd_->ticket.subject = "Parcel";
    hd_->ticket.comments.push_back(first);
    pool_ = std::make_unique<WorkerPool>(&c_, "test");
  }
  void TearDown() override {
    pool_.reset();
    c_.store.reset();
    fs::remove_all(dir_);
  }
  // Enqueues one event and runs one attempt of it (as a worker would after Lease).
  Job RunOnce(const std::string& dedupe = "desk:evt-1") {
    if (!c_.store->GetJob(1).value().has_value()) {
      EXPECT_TRUE(c_.store->Enqueue({"desk", dedupe, "7", "ticket.created", "{}"}, 0).ok());
    }
    auto job = c_.store->Lease("w", 60000, NowMs() + 3'600'000);  // far future: any backoff is due
    EXPECT_TRUE(job.ok() && job->has_value());
    pool_->Process(**job, "w");
    return *c_.store->GetJob((*job)->id).value();
  }
  std::vector<std::string> Stages(int64_t job_id) {
    std::vector<std::string> out;
    auto rows = c_.store->AuditForJob(job_id);  // keep the Result alive while iterating
    for (const auto& row : rows.value()) out.push_back(row.entry.stage + ":" + row.entry.outcome);
    return out;
  }

  fs::path dir_;
  Components c_;
  ScriptedHelpdesk* hd_ = nullptr;
  CountingClassifier clf_;
  NoRetriever ret_;
  PlainDrafter drf_;
  std::unique_ptr<WorkerPool> pool_;
};

TEST_F(WorkerTest, HappyPathWritesBackOnceAndAudits) {
  Job job = RunOnce();
  EXPECT_EQ(job.state, JobState::kDone);
  ASSERT_EQ(hd_->applied.size(), 1u);
  EXPECT_EQ(hd_->applied[0].idempotency_key, IdempotencyKey("desk:evt-1"));
  auto stages = Stages(job.id);
  EXPECT_EQ(stages, (std::vector<std::string>{"job.leased:ok", "fetch:ok", "triage:ok", "vendor.write:ok"}));
  EXPECT_TRUE(c_.store->VerifyAudit().value().ok);
}

// A job that writes back costs two commits after its lease, however many audit rows and
// model answers it records: the plan (with everything so far) and the final state (with
// the write's row). Each commit is an fsync under synchronous=FULL.
TEST_F(WorkerTest, AJobCommitsTwiceAfterItsLease) {
  clf_.model_cache = c_.store.get();
  ASSERT_TRUE(c_.store->Enqueue({"desk", "desk:evt-1", "7", "ticket.created", "{}"}, 0).ok());
  auto job = c_.store->Lease("w", 60000, NowMs());
  ASSERT_TRUE(job.ok() && job->has_value());
  const int64_t before = StoreCommitCount(*c_.store).value();
  pool_->Process(**job, "w");
  EXPECT_EQ(StoreCommitCount(*c_.store).value() - before, 2);
  EXPECT_EQ(c_.store->GetJob(1).value()->state, JobState::kDone);
  EXPECT_EQ(Stages(1), (std::vector<std::string>{"job.leased:ok", "fetch:ok", "triage:ok", "vendor.write:ok"}));
  EXPECT_EQ(c_.store->CacheGet("llm:test").value().value_or(""), "answer");
  EXPECT_TRUE(c_.store->CacheGet("plan:" + IdempotencyKey("desk:evt-1")).value().has_value());
  EXPECT_TRUE(c_.store->VerifyAudit().value().ok);
}

// A job the loop guard skips records its rows with the skip: one commit.
TEST_F(WorkerTest, ASkippedJobCommitsOnce) {
  Comment ours;
  ours.author_role = AuthorRole::kAgent;
  ours.by_deskpilot = true;
  hd_->ticket.comments.push_back(ours);
  ASSERT_TRUE(c_.store->Enqueue({"desk", "desk:evt-1", "7", "ticket.created", "{}"}, 0).ok());
  auto job = c_.store->Lease("w", 60000, NowMs());
  ASSERT_TRUE(job.ok() && job->has_value());
  const int64_t before = StoreCommitCount(*c_.store).value();
  pool_->Process(**job, "w");
  EXPECT_EQ(StoreCommitCount(*c_.store).value() - before, 1);
  EXPECT_EQ(Stages(1), (std::vector<std::string>{"job.leased:ok", "fetch:ok", "loop_guard:skipped"}));
}

// A failed write-back: the plan and the rows before it are durable before the write; the
// write's error row commits with the retry transition; the retry resumes the plan.
TEST_F(WorkerTest, AFailedWriteKeepsItsRowsAndThePlan) {
  clf_.model_cache = c_.store.get();
  hd_->apply_errors = {Status::Unavailable("503")};
  EXPECT_EQ(RunOnce().state, JobState::kQueued);
  EXPECT_EQ(Stages(1), (std::vector<std::string>{"job.leased:ok", "fetch:ok", "triage:ok", "vendor.write:error",
                                                 "job.retry:error"}));
  EXPECT_EQ(c_.store->CacheGet("llm:test").value().value_or(""), "answer");
  EXPECT_EQ(RunOnce().state, JobState::kDone);
  EXPECT_EQ(clf_.calls, 1);
  EXPECT_TRUE(c_.store->VerifyAudit().value().ok);
}

// The heartbeat extends the lease while a model call outlasts it, so no other worker
// takes the job over meanwhile; without it the lease would expire after 1 s.
TEST_F(WorkerTest, HeartbeatKeepsTheLeaseOfAJobSlowerThanItsLease) {
  using namespace std::chrono_literals;
  c_.config.workers.lease_seconds = 1;
  clf_.delay = 2500ms;
  ASSERT_TRUE(c_.store->Enqueue({"desk", "desk:slow", "7", "ticket.created", "{}"}, NowMs()).ok());
  pool_->Start(1);
  for (auto at : {1500ms, 700ms}) {  // at 1.5 s and 2.2 s: past the first lease's expiry
    std::this_thread::sleep_for(at);
    auto intruder = c_.store->Lease("intruder", 60000, NowMs());
    ASSERT_TRUE(intruder.ok()) << intruder.status().ToString();
    EXPECT_FALSE(intruder->has_value()) << "the job was taken over while its worker still ran it";
  }
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (c_.store->GetJob(1).value()->state == JobState::kLeased && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  pool_->Stop();
  Job job = *c_.store->GetJob(1).value();
  EXPECT_EQ(job.state, JobState::kDone);
  EXPECT_EQ(job.attempts, 1);
  EXPECT_EQ(clf_.calls, 1);
  EXPECT_EQ(hd_->applied.size(), 1u);
}

// A worker that stalls past its lease (a paused process, a wall clock stepped forward)
// while the job is taken over must not store its plan or write: the new owner decides
// and writes, and the ticket gets one note and one reply, not one from each worker.
TEST_F(WorkerTest, AWorkerThatLostItsLeaseStoresNoPlanAndWritesNothing) {
  ASSERT_TRUE(c_.store->Enqueue({"desk", "desk:evt-1", "7", "ticket.created", "{}"}, 0).ok());
  auto job = c_.store->Lease("w", 60000, NowMs());
  ASSERT_TRUE(job.ok() && job->has_value());
  clf_.during = [&] {
    auto intruder = c_.store->Lease("intruder", 60000, NowMs() + 120000);  // past the lease's expiry
    ASSERT_TRUE(intruder.ok() && intruder->has_value());
  };
  pool_->Process(**job, "w");
  EXPECT_TRUE(hd_->applied.empty()) << "a worker without the lease wrote to the help desk";
  EXPECT_FALSE(c_.store->CacheGet(PlanCacheKey("desk:evt-1")).value().has_value());
  Job after = *c_.store->GetJob(1).value();
  EXPECT_EQ(after.state, JobState::kLeased);
  EXPECT_EQ(after.lease_owner, "intruder");
  // The loser's rows stay out of the log (its triage would be the ticket's latest decision,
  // the one an approval posts); the lease.lost row names them.
  EXPECT_EQ(Stages(1), (std::vector<std::string>{"lease.lost:skipped"}));
  auto lost = nlohmann::json::parse(c_.store->AuditForJob(1).value().at(0).entry.data);
  EXPECT_EQ(lost["dropped"], (nlohmann::json{"job.leased", "fetch", "triage"}));
  EXPECT_TRUE(c_.store->VerifyAudit().value().ok);
}

// Two owners racing on one job, with an injected clock: w's lease holds when its plan is
// decided, then the clock steps past the expiry and another worker takes the job just
// before w commits the plan (a read of the lease before the commit would have passed).
// The commit checks the lease in its own transaction, so w's plan and rows never land and
// w writes nothing; the new owner decides and writes, once.
TEST_F(WorkerTest, OfTwoOwnersRacingOnAJobOnlyTheLeaseHolderStoresAPlan) {
  std::atomic<int64_t> now{NowMs()};
  int reads_after_model = -1;  // clock reads since the model answered; -1: not counting
  std::optional<Job> taken;
  pool_ = std::make_unique<WorkerPool>(&c_, "test", [&]() -> int64_t {
    // The third read after the model call: after the decision's row and the lease check
    // that used to precede the plan commit, before the commit itself.
    if (reads_after_model >= 0 && ++reads_after_model == 3) {
      now += 120000;
      taken = c_.store->Lease("intruder", 60000, now).value();
    }
    return now;
  });
  ASSERT_TRUE(c_.store->Enqueue({"desk", "desk:evt-1", "7", "ticket.created", "{}"}, now).ok());
  auto job = c_.store->Lease("w", 60000, now);
  ASSERT_TRUE(job.ok() && job->has_value());
  clf_.during = [&] { reads_after_model = 0; };
  pool_->Process(**job, "w");
  ASSERT_TRUE(taken.has_value()) << "the intruder did not get the job";
  EXPECT_TRUE(hd_->applied.empty()) << "a worker without the lease wrote to the help desk";
  EXPECT_FALSE(c_.store->CacheGet(PlanCacheKey("desk:evt-1")).value().has_value()) << "the loser's plan landed";
  EXPECT_EQ(Stages(1), (std::vector<std::string>{"lease.lost:skipped"}));

  reads_after_model = -1;
  clf_.during = nullptr;
  pool_->Process(*taken, "intruder");
  EXPECT_EQ(hd_->applied.size(), 1u);
  EXPECT_EQ(c_.store->GetJob(1).value()->state, JobState::kDone);
  EXPECT_EQ(Stages(1), (std::vector<std::string>{"lease.lost:skipped", "job.leased:ok", "fetch:ok", "triage:ok",
                                                 "vendor.write:ok"}));
  EXPECT_TRUE(c_.store->VerifyAudit().value().ok);
  pool_.reset();  // holds the clock, which refers to this test's locals
}

// The same on a retry that resumes a stored plan: the lease lost during the fetch, the
// plan is left to the new owner.
TEST_F(WorkerTest, AWorkerThatLostItsLeaseDoesNotApplyAStoredPlan) {
  hd_->apply_errors = {Status::Unavailable("503")};
  ASSERT_EQ(RunOnce().state, JobState::kQueued);
  ASSERT_EQ(hd_->applied.size(), 1u);
  auto job = c_.store->Lease("w", 60000, NowMs() + 3'600'000);
  ASSERT_TRUE(job.ok() && job->has_value());
  hd_->on_fetch = [&] {
    auto intruder = c_.store->Lease("intruder", 60000, NowMs() + 3'600'000 + 120000);
    ASSERT_TRUE(intruder.ok() && intruder->has_value());
  };
  pool_->Process(**job, "w");
  EXPECT_EQ(hd_->applied.size(), 1u) << "a worker without the lease wrote to the help desk";
  EXPECT_EQ(c_.store->GetJob(1).value()->lease_owner, "intruder");
  EXPECT_TRUE(c_.store->VerifyAudit().value().ok);
}

// The systemd watchdog is fed while last_beat_ms() is within lease + poll (Service::Healthy).
// Workers busy with jobs slower than that (a slow self-hosted model) are not stuck: starving
// the watchdog got the process killed mid-job, and again after every restart. A job in hand
// for kStuckLeases leases is taken for a stuck worker.
TEST_F(WorkerTest, AJobSlowerThanItsLeaseCountsAsProgressUntilItLooksStuck) {
  using namespace std::chrono_literals;
  c_.config.workers.lease_seconds = 1;
  clf_.delay = 12s;
  const int64_t healthy_ms = 1000 + c_.config.workers.poll_ms;
  ASSERT_TRUE(c_.store->Enqueue({"desk", "desk:slow", "7", "ticket.created", "{}"}, NowMs()).ok());
  const auto start = std::chrono::steady_clock::now();
  pool_->Start(1);
  for (auto at : {1600ms, 2300ms, 9000ms}) {  // the only worker is still in the job
    std::this_thread::sleep_until(start + at);
    EXPECT_EQ(c_.store->GetJob(1).value()->state, JobState::kLeased);
    EXPECT_LE(NowMs() - pool_->last_beat_ms(), healthy_ms) << "at " << at.count() << " ms";
  }
  std::this_thread::sleep_until(start + 11600ms);  // 10 leases in hand: no longer progress
  EXPECT_GT(NowMs() - pool_->last_beat_ms(), healthy_ms);
  pool_->Stop();
}

// Blocks the first model call until Wake(), as a worker stuck in a call without a timeout
// (or a deadlock) would be; later calls (the worker that takes the job over) go through.
struct StuckModelCall {
  std::promise<void> entered;
  std::promise<void> wake;
  std::shared_future<void> woken = wake.get_future().share();
  std::atomic<bool> first{true};
  bool woke = false;
  void operator()() {
    if (!first.exchange(false)) return;
    entered.set_value();
    woken.wait();
  }
  void Wake() {
    if (!woke) wake.set_value();
    woke = true;
  }
};

// A worker stuck in a job keeps it for kStuckLeases leases and no longer. Until then, as
// for any slow model call, the heartbeat renews the lease and no one else gets the job;
// past it the lease is left to expire, another worker takes the job, and the stuck worker's
// late plan is refused. The heartbeat used to renew without end: a stuck thread kept its
// job `leased` for as long as the process lived.
TEST_F(WorkerTest, AStuckWorkerKeepsItsJobForTheCapAndNoLonger) {
  constexpr int64_t kLeaseMs = 1000;
  c_.config.workers.lease_seconds = 1;
  std::atomic<int64_t> now{NowMs()};
  pool_ = std::make_unique<WorkerPool>(&c_, "test", [&]() -> int64_t { return now; });
  ASSERT_TRUE(c_.store->Enqueue({"desk", "desk:stuck", "7", "ticket.created", "{}"}, now).ok());
  auto job = c_.store->Lease("test/w0", kLeaseMs, now);
  ASSERT_TRUE(job.ok() && job->has_value());
  StuckModelCall call;
  clf_.during = [&] { call(); };
  std::thread worker([&] { pool_->Process(**job, "test/w0"); });
  call.entered.get_future().wait();
  const int64_t start = now;
  std::optional<Job> taken;
  for (int64_t at = kLeaseMs / 3; at <= WorkerPool::kStuckLeases * kLeaseMs && !taken; at += kLeaseMs / 3) {
    now = start + at;
    pool_->HeartbeatOnce();
    taken = c_.store->Lease("test/w1", kLeaseMs, now).value();
    EXPECT_FALSE(taken.has_value()) << "a slow job was taken over " << at << " ms into it";
  }
  // Past the cap: not renewed (the last renewal, at 9,990 ms, runs out at 10,990 ms).
  now = start + WorkerPool::kStuckLeases * kLeaseMs + kLeaseMs / 3;
  pool_->HeartbeatOnce();
  now = start + WorkerPool::kStuckLeases * kLeaseMs + kLeaseMs;
  if (!taken) taken = c_.store->Lease("test/w1", kLeaseMs, now).value();
  EXPECT_TRUE(taken.has_value()) << "the stuck worker's job was not freed";
  call.Wake();
  worker.join();
  EXPECT_TRUE(hd_->applied.empty()) << "the stuck worker wrote after its job was taken over";
  EXPECT_EQ(Stages(1), (std::vector<std::string>{"lease.lost:skipped"}));
  if (taken) {
    pool_->Process(*taken, "test/w1");
    EXPECT_EQ(hd_->applied.size(), 1u);
    EXPECT_EQ(c_.store->GetJob(1).value()->state, JobState::kDone);
  }
  pool_.reset();  // holds the clock, which refers to this test's locals
}

// With two workers, one stuck: the other's loop keeps the newest beat fresh, which alone
// would feed the watchdog forever. StuckJobs() names the stuck one (Service::Healthy and
// /healthz answer from it) and the gauge counts it, until it lets go.
TEST_F(WorkerTest, AStuckWorkerIsReportedWhileAnotherTurns) {
  using namespace std::chrono_literals;
  c_.config.workers.lease_seconds = 1;
  c_.config.workers.poll_ms = 10;
  std::atomic<int64_t> now{NowMs()};
  pool_ = std::make_unique<WorkerPool>(&c_, "test", [&]() -> int64_t { return now; });
  ASSERT_TRUE(c_.store->Enqueue({"desk", "desk:stuck", "7", "ticket.created", "{}"}, now).ok());
  StuckModelCall call;
  clf_.during = [&] { call(); };
  pool_->Start(2);
  call.entered.get_future().wait();
  EXPECT_TRUE(pool_->StuckJobs().empty());
  pool_->HeartbeatOnce();
  EXPECT_NE(c_.metrics->Render().find("deskpilot_stuck_workers 0"), std::string::npos);

  now += WorkerPool::kStuckLeases * 1000 + 1;
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (pool_->last_beat_ms() < now && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(5ms);
  EXPECT_GE(pool_->last_beat_ms(), now.load()) << "the idle worker's loop should keep beating";
  auto stuck = pool_->StuckJobs();
  ASSERT_EQ(stuck.size(), 1u);
  EXPECT_EQ(stuck[0].job_id, 1);
  EXPECT_GT(stuck[0].held_ms, WorkerPool::kStuckLeases * 1000);
  pool_->HeartbeatOnce();
  EXPECT_NE(c_.metrics->Render().find("deskpilot_stuck_workers 1"), std::string::npos) << c_.metrics->Render();

  call.Wake();
  pool_->Stop();
  EXPECT_TRUE(pool_->StuckJobs().empty());
  pool_.reset();
}

TEST_F(WorkerTest, DeletedTicketIsSkipped) {
  hd_->fetch_error = Status::NotFound("ticket 7 is gone");
  EXPECT_EQ(RunOnce().state, JobState::kSkipped);
  EXPECT_TRUE(hd_->applied.empty());
}

TEST_F(WorkerTest, PermanentErrorDeadLettersWithTheReason) {
  hd_->apply_errors = {Status::Unauthenticated("401 from help desk")};
  Job job = RunOnce();
  EXPECT_EQ(job.state, JobState::kDead);
  EXPECT_NE(job.last_error.find("401 from help desk"), std::string::npos) << job.last_error;
}

TEST_F(WorkerTest, TransientErrorRetriesNoEarlierThanRetryAfterAndReusesThePlan) {
  Status limited = Status::ResourceExhausted("429");
  limited.set_retry_after(std::chrono::milliseconds(120000));
  hd_->apply_errors = {limited};
  const int64_t before = NowMs();
  Job job = RunOnce();
  EXPECT_EQ(job.state, JobState::kQueued);
  EXPECT_GE(job.next_attempt_ms, before + 120000);
  EXPECT_EQ(clf_.calls, 1);
  // The next attempt applies the stored plan: no second classification, same key.
  job = RunOnce();
  EXPECT_EQ(job.state, JobState::kDone);
  EXPECT_EQ(clf_.calls, 1);
  ASSERT_EQ(hd_->applied.size(), 2u);
  EXPECT_EQ(hd_->applied[0].idempotency_key, hd_->applied[1].idempotency_key);
  EXPECT_EQ(hd_->applied[0].actions.size(), hd_->applied[1].actions.size());
}

TEST_F(WorkerTest, AttemptBudgetRunsOutIntoDeadLetter) {
  hd_->apply_errors = {Status::Unavailable("503"), Status::Unavailable("503"), Status::Unavailable("503")};
  Job job = RunOnce();
  job = RunOnce();
  EXPECT_EQ(job.state, JobState::kQueued);
  job = RunOnce();
  EXPECT_EQ(job.state, JobState::kDead);
  EXPECT_NE(job.last_error.find("503"), std::string::npos);
}

TEST_F(WorkerTest, AJobThatKeepsCrashingItsWorkerIsDeadLetteredUntouched) {
  ASSERT_TRUE(c_.store->Enqueue({"desk", "desk:poison", "7", "ticket.created", "{}"}, 0).ok());
  // Each lease expires unfinished, as when the process is killed while holding it.
  int64_t now = NowMs();
  std::optional<Job> job;
  for (int i = 0; i <= c_.config.workers.max_attempts; ++i) {
    now += 120'000;
    auto leased = c_.store->Lease("w", 60000, now);
    ASSERT_TRUE(leased.ok() && leased->has_value());
    job = **leased;
  }
  EXPECT_EQ(job->attempts, c_.config.workers.max_attempts + 1);
  pool_->Process(*job, "w");
  Job after = *c_.store->GetJob(job->id).value();
  EXPECT_EQ(after.state, JobState::kDead);
  EXPECT_NE(after.last_error.find("abandoned"), std::string::npos) << after.last_error;
  EXPECT_EQ(clf_.calls, 0);
  EXPECT_TRUE(hd_->applied.empty());
}

TEST_F(WorkerTest, LoopGuardSkipsWhenTheNewestCommentIsOurs) {
  Comment ours;
  ours.author_role = AuthorRole::kAgent;
  ours.by_deskpilot = true;
  ours.is_public = false;
  ours.body = "deskpilot triage";
  hd_->ticket.comments.push_back(ours);
  EXPECT_EQ(RunOnce().state, JobState::kSkipped);
  EXPECT_EQ(clf_.calls, 0);
  EXPECT_TRUE(hd_->applied.empty());
}

TEST_F(WorkerTest, ShadowModeWritesNothing) {
  c_.config.policy.mode = "shadow";
  c_.policy = std::make_unique<Policy>(c_.config.policy, nullptr);
  c_.pipeline = std::make_unique<Pipeline>(c_.policy.get(), &clf_, &ret_, &drf_, c_.metrics.get());
  EXPECT_EQ(RunOnce().state, JobState::kDone);
  EXPECT_TRUE(hd_->applied.empty());
  // What the trial would have done is counted, so ops see it before switching to auto.
  const std::string metrics = c_.metrics->Render();
  EXPECT_NE(metrics.find("deskpilot_decisions_total{rung=\"shadow\"} 1"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("deskpilot_ladder_decisions_total{rung=\""), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("deskpilot_ladder_decisions_total{rung=\"shadow\"}"), std::string::npos) << metrics;
}

TEST_F(WorkerTest, UnknownSourceDeadLetters) {
  ASSERT_TRUE(c_.store->Enqueue({"gone", "gone:1", "7", "ticket.created", "{}"}, 0).ok());
  auto job = c_.store->Lease("w", 60000, NowMs());
  ASSERT_TRUE(job.ok() && job->has_value());
  pool_->Process(**job, "w");
  EXPECT_EQ(c_.store->GetJob((*job)->id).value()->state, JobState::kDead);
}

TEST(PlanJson, RoundTrips) {
  WritePlan p;
  p.idempotency_key = "dp-1";
  p.actions = {{ActionType::kSetTags, {"a", "b"}, "", ""},
               {ActionType::kSetCustomField, {}, "refund", "category"},
               {ActionType::kAddInternalNote, {}, "note ✓", ""}};
  WritePlan q;
  ASSERT_TRUE(PlanFromJson(PlanToJson(p), &q).ok());
  EXPECT_EQ(q.idempotency_key, "dp-1");
  ASSERT_EQ(q.actions.size(), 3u);
  EXPECT_EQ(q.actions[0].tags, (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(q.actions[1].field, "category");
  EXPECT_EQ(q.actions[2].value, "note ✓");
  EXPECT_FALSE(PlanFromJson(nlohmann::json{{"actions", 1}}, &q).ok());
}

}  // namespace
}  // namespace deskpilot
