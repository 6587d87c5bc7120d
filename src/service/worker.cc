#include "service/worker.h"

#include <algorithm>
#include <chrono>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/failpoint.h"
#include "deskpilot/crypto.h"
#include "deskpilot/http_client.h"
#include "deskpilot/json_text.h"
#include "service/approval.h"
#include "service/replay.h"

namespace deskpilot {
namespace {

std::optional<ActionType> ParseActionType(const std::string& s) {
  for (ActionType t : {ActionType::kSetTags, ActionType::kSetPriority, ActionType::kSetGroup,
                       ActionType::kSetCustomField, ActionType::kAddInternalNote, ActionType::kAddPublicReply})
    if (ActionTypeName(t) == s) return t;
  return std::nullopt;
}

// Backoff between job attempts (not in-process retries): 2 s doubling to 10 min, with
// full jitter, never earlier than the upstream's Retry-After.
int64_t NextAttemptMs(const Status& s, int attempts, int64_t now) {
  RetryPolicy p;
  p.base_delay = std::chrono::milliseconds(2000);
  p.max_delay = std::chrono::milliseconds(600000);
  int64_t delay = std::max<int64_t>(BackoffDelay(p, attempts).count(), 500);
  if (auto ra = s.retry_after()) delay = std::max<int64_t>(delay, ra->count());
  return now + delay;
}

// A deferred job comes back when the breaker will let a probe through, plus up to a
// second of jitter so the whole backlog does not wake in the same millisecond.
int64_t DeferUntilMs(const Status& s, int64_t now) {
  RetryPolicy jitter;
  jitter.base_delay = std::chrono::milliseconds(1000);
  jitter.max_delay = std::chrono::milliseconds(1000);
  return now + s.retry_after().value_or(std::chrono::milliseconds(1000)).count() + BackoffDelay(jitter, 0).count();
}

double StateValue(CircuitBreaker::State s) {
  switch (s) {
    case CircuitBreaker::State::kClosed:
      return 0;
    case CircuitBreaker::State::kOpen:
      return 1;
    case CircuitBreaker::State::kHalfOpen:
      return 2;
  }
  return 0;
}

}  // namespace

std::string IdempotencyKey(const std::string& dedupe_key) { return "dp-" + Sha256Hex(dedupe_key).substr(0, 24); }

std::string PlanCacheKey(const std::string& dedupe_key) { return "plan:" + IdempotencyKey(dedupe_key); }

nlohmann::json PlanToJson(const WritePlan& plan) {
  nlohmann::json actions = nlohmann::json::array();
  for (const auto& a : plan.actions)
    actions.push_back({{"action", ActionTypeName(a.type)}, {"tags", a.tags}, {"value", a.value}, {"field", a.field}});
  return {{"idempotency_key", plan.idempotency_key}, {"actions", actions}};
}

Status PlanFromJson(const nlohmann::json& j, WritePlan* plan) {
  try {
    plan->idempotency_key = j.at("idempotency_key").get<std::string>();
    plan->actions.clear();
    for (const auto& a : j.at("actions")) {
      auto type = ParseActionType(a.at("action").get<std::string>());
      if (!type) return Status::DataLoss("stored plan has an unknown action");
      plan->actions.push_back({*type, a.value("tags", std::vector<std::string>{}), a.value("value", ""),
                               a.value("field", "")});
    }
  } catch (const std::exception& e) {
    return Status::DataLoss(std::string("stored plan is unreadable: ") + e.what());
  }
  return Status::Ok();
}

WorkerPool::WorkerPool(Components* components, std::string instance_id, Clock now)
    : c_(components), instance_id_(std::move(instance_id)), now_(std::move(now)) {
  const WorkerConfig& w = c_->config.workers;
  c_->metrics->Describe("deskpilot_circuit_state", "gauge",
                        "Circuit breaker per help desk: 0 closed, 1 open, 2 half-open (one probe).");
  c_->metrics->Describe("deskpilot_stuck_workers", "gauge",
                        "Workers that have held one job for more than " + std::to_string(kStuckLeases) +
                            " leases (taken for stuck; their jobs are left to other workers).");
  c_->metrics->Set("deskpilot_stuck_workers", {}, 0);
  c_->metrics->Describe("deskpilot_deferrals_total", "counter",
                        "Jobs put back without using an attempt because their help desk's circuit was open.");
  for (const auto& [name, hd] : c_->helpdesks) {
    breakers_[name] = std::make_unique<CircuitBreaker>("helpdesk " + name, w.breaker_failures,
                                                       std::chrono::seconds(w.breaker_open_seconds));
    c_->metrics->Set("deskpilot_circuit_state", {{"upstream", name}}, 0);
  }
}

WorkerPool::~WorkerPool() { Stop(); }

void WorkerPool::Start(int threads) {
  stopping_ = false;
  running_ = true;
  last_beat_ms_ = now_();
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this, i] { Loop(i); });
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
}

void WorkerPool::Stop() {
  if (threads_.empty() && !heartbeat_.joinable()) return;
  stopping_ = true;
  Notify();
  {
    std::lock_guard lock(mu_);
    pause_cv_.notify_all();
  }
  for (auto& t : threads_) t.join();
  threads_.clear();
  {
    // Under the lock, so the heartbeat thread cannot miss the wake-up between its check
    // of stopping_ and its wait (which may last lease_seconds / 3).
    std::lock_guard lock(held_mu_);
    held_cv_.notify_all();
  }
  heartbeat_.join();
  running_ = false;
}

void WorkerPool::HeartbeatLoop() {
  const int64_t lease_ms = int64_t{c_->config.workers.lease_seconds} * 1000;
  // Three beats per lease: one slow or failed beat still leaves the lease alive.
  const auto interval = std::chrono::milliseconds(std::max<int64_t>(lease_ms / 3, 1));
  std::unique_lock lock(held_mu_);
  while (!stopping_) {
    held_cv_.wait_for(lock, interval, [this] { return stopping_.load(); });
    if (stopping_) break;
    lock.unlock();
    HeartbeatOnce();
    lock.lock();
  }
}

void WorkerPool::HeartbeatOnce() {
  const int64_t lease_ms = int64_t{c_->config.workers.lease_seconds} * 1000;
  std::map<std::string, Held> jobs;
  {
    std::lock_guard lock(held_mu_);
    jobs = held_;
  }
  bool progress = !jobs.empty();
  int64_t stuck = 0;
  for (const auto& [owner, held] : jobs) {
    const int64_t now = now_();
    if (now - held.since_ms > kStuckLeases * lease_ms) {
      // Renewing without end would keep the job from every other worker for as long as
      // this one hangs. Unrenewed, the lease expires and the job is taken over; should
      // this worker wake up, its plan commit is refused (Store::CommitWritesIfLeased).
      ++stuck;
      progress = false;
      std::lock_guard lock(held_mu_);
      auto it = held_.find(owner);
      if (it != held_.end() && it->second.job_id == held.job_id && !it->second.reported) {
        it->second.reported = true;
        spdlog::error("job {}: worker {} has held it for {} s, more than {} leases: taken for stuck; its lease "
                      "is no longer renewed, so another worker takes the job over when it expires",
                      held.job_id, owner, (now - held.since_ms) / 1000, kStuckLeases);
      }
      continue;
    }
    Status s = c_->store->Heartbeat(held.job_id, owner, lease_ms, now);
    if (s.ok()) continue;
    progress = false;
    std::lock_guard check(held_mu_);
    // A job that finished since the snapshot has no lease to keep: not a problem.
    auto it = held_.find(owner);
    if (it != held_.end() && it->second.job_id == held.job_id)
      spdlog::warn("job {}: lease heartbeat failed (another worker may take the job over): {}", held.job_id,
                   s.ToString());
  }
  c_->metrics->Set("deskpilot_stuck_workers", {}, static_cast<double>(stuck));
  // Workers busy with jobs slower than a lease (a long model call) are making progress as
  // much as a turning loop: the watchdog is fed while every job in hand keeps its lease and
  // none has been in hand for kStuckLeases leases. With nothing in hand, only the loop beats.
  if (progress) last_beat_ms_ = now_();
}

std::vector<WorkerPool::StuckJob> WorkerPool::StuckJobs() const {
  const int64_t lease_ms = int64_t{c_->config.workers.lease_seconds} * 1000;
  const int64_t now = now_();
  std::vector<StuckJob> stuck;
  std::lock_guard lock(held_mu_);
  for (const auto& [owner, held] : held_)
    if (now - held.since_ms > kStuckLeases * lease_ms) stuck.push_back({held.job_id, owner, now - held.since_ms});
  return stuck;
}

void WorkerPool::Notify() {
  {
    std::lock_guard lock(mu_);
    ++wakeups_;
  }
  cv_.notify_all();
}

void WorkerPool::Loop(int index) {
  const std::string owner = instance_id_ + "/w" + std::to_string(index);
  const int64_t lease_ms = int64_t{c_->config.workers.lease_seconds} * 1000;
  while (!stopping_) {
    last_beat_ms_ = now_();
    if (auto pause = AllDesksRefusingFor()) {
      // Every desk is down: a leased job could only be put back (a lease and a release,
      // two commits, per job and per probe interval, for nothing, beside the webhook
      // acks that need the store). Sleep until the first circuit lets a probe through;
      // new webhooks do not end the pause, they queue up for after it (and do not wake
      // this thread: it waits on its own condition variable, which only Stop() signals).
      std::unique_lock lock(mu_);
      pause_cv_.wait_for(lock, std::min(*pause, std::chrono::milliseconds(c_->config.workers.poll_ms)),
                         [&] { return stopping_.load(); });
      continue;
    }
    uint64_t seen;
    {
      std::lock_guard lock(mu_);
      seen = wakeups_;
    }
    auto leased = c_->store->Lease(owner, lease_ms, now_());
    if (!leased.ok()) {
      spdlog::error("lease failed: {}", leased.status().ToString());
    } else if (leased->has_value()) {
      Process(**leased, owner);
      continue;
    }
    // Sleep until notified, the next job is due, or the poll interval passes (which
    // also picks up leases that expired after a crash).
    int64_t wait_ms = c_->config.workers.poll_ms;
    if (auto due = c_->store->NextDueInMs(now_()); due.ok() && due->has_value())
      wait_ms = std::clamp<int64_t>(**due, 1, wait_ms);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return stopping_ || wakeups_ != seen; });
  }
}

std::optional<std::chrono::milliseconds> WorkerPool::AllDesksRefusingFor() const {
  std::optional<std::chrono::milliseconds> shortest;
  for (const auto& [name, breaker] : breakers_) {
    auto refusing = breaker->RefusingFor();
    if (!refusing) return std::nullopt;
    shortest = shortest ? std::min(*shortest, *refusing) : *refusing;
  }
  return shortest;  // nullopt without any desk
}

void WorkerPool::Audit(JobWrites& writes, const Job& job, const std::string& stage, const std::string& outcome,
                       const nlohmann::json& data) {
  AuditEntry e;
  e.job_id = job.id;
  e.ticket_id = job.ticket_id;
  e.source = job.source;
  e.stage = stage;
  e.outcome = outcome;
  // Vendor and model text may hold invalid UTF-8: replace it rather than throw on a worker thread.
  e.data = JsonText(data);
  writes.audit.push_back({std::move(e), now_()});
}

void WorkerPool::Settle(const Job& job, const char* what, const Status& transition, JobWrites& writes) {
  if (transition.ok()) return;
  spdlog::warn("job {}: {} failed: {}", job.id, what, transition.ToString());
  if (writes.empty()) return;
  // The transition rolled back with the writes (a lost lease would have kept them). The
  // audit rows may record a write that reached the help desk: try them on their own.
  const size_t rows = writes.audit.size();
  if (Status s = c_->store->CommitWrites(&writes); !s.ok())
    spdlog::error("job {} ticket {}: {} audit row(s) could not be stored: {}", job.id, job.ticket_id, rows,
                  s.ToString());
}

bool WorkerPool::CommitIfLeased(const Job& job, const std::string& owner, JobWrites& writes, const char* what) {
  // The heartbeat keeps a running job's lease, but a worker that stalls past it (a paused
  // process, the wall clock stepped forward past the expiry) finds its job taken over by
  // another worker, which decides and writes on its own. Both writing could give the
  // ticket two notes and two different public replies; only the owner may go on.
  const Status held = c_->store->CommitWritesIfLeased(job.id, owner, now_(), &writes);
  if (held.ok()) return true;
  if (held.code() != Code::kFailedPrecondition && held.code() != Code::kNotFound) {
    // The store could not say (busy, I/O): write nothing now, try again later. The cache
    // entries go: the transition below keeps its writes even when the lease is lost by
    // then, and a plan must land only under a checked lease (model answers are asked again).
    writes.cache.clear();
    Finish(job, owner, held, what, writes);
    return false;
  }
  spdlog::warn("job {} ticket {}: lease lost before writing back; leaving the job to its new owner: {}", job.id,
               job.ticket_id, held.ToString());
  c_->metrics->Inc("deskpilot_jobs_processed_total", {{"outcome", "lease_lost"}});
  // Nothing of this attempt landed. Its rows stay out of the log: a triage row of the
  // loser would be the ticket's latest decision, the one an approval posts, though its
  // note never reached the ticket. The lease.lost row says which stages were dropped.
  std::vector<std::string> dropped;
  for (const JobWrites::Audit& a : writes.audit) dropped.push_back(a.entry.stage);
  writes.clear();
  Audit(writes, job, "lease.lost", "skipped", {{"error", held.ToString()}, {"dropped", dropped}});
  Settle(job, "store audit rows", c_->store->CommitWrites(&writes), writes);
  return false;
}

void WorkerPool::Record(const std::string& source, CircuitBreaker& breaker, const Status& outcome) {
  const CircuitBreaker::State before = breaker.state();
  breaker.Record(outcome);
  const CircuitBreaker::State after = breaker.state();
  if (after == before) return;
  c_->metrics->Set("deskpilot_circuit_state", {{"upstream", source}}, StateValue(after));
  if (after == CircuitBreaker::State::kOpen)
    spdlog::error("helpdesk {}: circuit open after repeated transient failures ({}); deferring its jobs", source,
                  outcome.ToString());
  else if (after == CircuitBreaker::State::kClosed)
    spdlog::info("helpdesk {}: circuit closed", source);
}

void WorkerPool::Finish(const Job& job, const std::string& owner, const Status& status, const std::string& stage,
                        JobWrites& writes) {
  const int64_t now = now_();
  Metrics& m = *c_->metrics;
  if (status.deferred()) {
    // Says nothing about this job: put it back and give the attempt back too.
    Settle(job, "release", c_->store->Release(job.id, owner, DeferUntilMs(status, now), now, &writes), writes);
    m.Inc("deskpilot_jobs_processed_total", {{"outcome", "deferred"}});
    m.Inc("deskpilot_deferrals_total", {{"upstream", job.source}});
    spdlog::debug("job {} ticket {}: deferred: {}", job.id, job.ticket_id, status.ToString());
    return;
  }
  if (status.ok()) {
    Settle(job, "complete", c_->store->Complete(job.id, owner, JobState::kDone, now, &writes), writes);
    m.Inc("deskpilot_jobs_processed_total", {{"outcome", "done"}});
    return;
  }
  const bool retryable = status.retryable();
  const bool exhausted = job.attempts >= c_->config.workers.max_attempts;
  std::string reason = stage + ": " + status.ToString();
  // The row goes in first so it commits with the transition it describes.
  if (retryable && !exhausted) {
    spdlog::warn("job {} ticket {}: {} (attempt {}, will retry)", job.id, job.ticket_id, reason, job.attempts);
    m.Inc("deskpilot_jobs_processed_total", {{"outcome", "retry"}});
    Audit(writes, job, "job.retry", "error", {{"attempt", job.attempts}, {"error", reason}});
  } else {
    spdlog::error("job {} ticket {}: dead-lettered: {}", job.id, job.ticket_id, reason);
    m.Inc("deskpilot_jobs_processed_total", {{"outcome", "dead"}});
    Audit(writes, job, "job.dead_lettered", "error", {{"attempt", job.attempts}, {"error", reason}});
  }
  Settle(job, "fail transition",
         c_->store->Fail(job.id, owner, reason, retryable, NextAttemptMs(status, job.attempts, now),
                         c_->config.workers.max_attempts, now, &writes),
         writes);
}

void WorkerPool::Process(const Job& job, const std::string& owner) {
  try {
    ProcessLeased(job, owner);
  } catch (const std::exception& e) {
    // What the attempt had not committed is gone with the unwound scope; the lease is ours
    // until this transition. Not retryable: the same input would throw again.
    JobWrites writes;
    Finish(job, owner, Status::Internal(std::string("unexpected exception: ") + e.what()), "process", writes);
  }
}

void WorkerPool::ProcessLeased(const Job& job, const std::string& owner) {
  Metrics& m = *c_->metrics;
  // This job's audit rows and cache entries (the model cache's too, through the scope)
  // are committed with its next durable step — the write plan before the first
  // write-back, or the final transition — not one fsync each (store.h, JobWrites).
  JobWrites writes;
  JobWriteScope scope(&writes);
  HeldLease held(*this, job.id, owner);
  // Every lease counts an attempt, and a failed attempt at the budget dead-letters the
  // job. A job leased beyond the budget therefore got here only by lease expiry: the
  // process died (or hung) while holding it, every time. Such a poison webhook must not
  // crash-loop the service forever: dead-letter it, untouched, for a human to look at.
  if (job.attempts > c_->config.workers.max_attempts) {
    const std::string reason = "abandoned: leased " + std::to_string(job.attempts) +
                               " times without finishing (the worker crashed or timed out each time)";
    spdlog::error("job {} ticket {}: dead-lettered: {}", job.id, job.ticket_id, reason);
    m.Inc("deskpilot_jobs_processed_total", {{"outcome", "dead"}});
    Audit(writes, job, "job.dead_lettered", "error", {{"attempt", job.attempts}, {"error", reason}});
    Settle(job, "fail transition",
           c_->store->Fail(job.id, owner, reason, /*retryable=*/false, now_(), c_->config.workers.max_attempts,
                           now_(), &writes),
           writes);
    return;
  }
  auto hd_it = c_->helpdesks.find(job.source);
  if (hd_it == c_->helpdesks.end()) {
    Finish(job, owner, Status::FailedPrecondition("no configured helpdesk named " + job.source), "route", writes);
    return;
  }
  Helpdesk& hd = *hd_it->second;
  CircuitBreaker& breaker = *breakers_.at(job.source);
  MaybeFail(FailPoint::kAfterLease);
  // Checked before anything is recorded: while the desk is down, a deferral is a
  // non-event for the job (no attempt used, no audit row per bounce).
  if (Status allow = breaker.Allow(); !allow.ok()) {
    c_->metrics->Set("deskpilot_circuit_state", {{"upstream", job.source}}, StateValue(breaker.state()));
    Finish(job, owner, allow, "circuit", writes);
    return;
  }
  const std::string key = IdempotencyKey(job.dedupe_key);
  const std::string plan_key = PlanCacheKey(job.dedupe_key);
  Audit(writes, job, "job.leased", "ok", {{"attempt", job.attempts}, {"event", job.event_type}, {"owner", owner}});

  // Webhooks arrive late and out of order: always act on the ticket as it is now.
  auto fetch_start = std::chrono::steady_clock::now();
  auto ticket = hd.FetchTicket(job.ticket_id);
  Record(job.source, breaker, ticket.status());
  m.Observe("deskpilot_stage_duration_seconds", {{"stage", "fetch"}},
            std::chrono::duration<double>(std::chrono::steady_clock::now() - fetch_start).count());
  if (!ticket.ok()) {
    if (ticket.status().code() == Code::kNotFound) {
      Audit(writes, job, "fetch", "skipped", {{"reason", "ticket no longer exists"}});
      Settle(job, "complete", c_->store->Complete(job.id, owner, JobState::kSkipped, now_(), &writes), writes);
      m.Inc("deskpilot_jobs_processed_total", {{"outcome", "skipped"}});
      return;
    }
    Audit(writes, job, "fetch", "error", {{"error", ticket.status().ToString()}});
    Finish(job, owner, ticket.status(), "fetch ticket", writes);
    return;
  }
  ticket->source = job.source;
  // What the help desk answered (redacted), so `deskpilot audit replay` can re-run this job.
  Audit(writes, job, "fetch", "ok", {{"ticket", FetchedTicketRecord(*ticket)}});
  // An agent approved the pending draft with the approval tag: post it the way the admin
  // API does (service/approval.h). Nothing pending, or already posted: carry on as usual.
  std::string not_approved;  // why an approval-only event posts nothing
  if (HasApprovalTag(*ticket, c_->config.policy)) {
    // The approval writes to the help desk and audits on its own: this job's rows first,
    // so the chain keeps the order things happened in.
    if (!CommitIfLeased(job, owner, writes, "store audit rows")) return;
    auto approved = ApprovePendingDraft(*c_, job.source, *ticket, "agent-tag", ApprovalVia::kTag);
    if ((approved.ok() && !approved->already_approved) || (!approved.ok() && approved.status().retryable())) {
      Finish(job, owner, approved.ok() ? Status::Ok() : approved.status(), "approval", writes);
      return;
    }
    not_approved = approved.ok() ? "the pending draft was already posted" : approved.status().message();
  }
  if (job.event_type == kApprovalTagEvent) {
    // Only an approval: the customer wrote nothing new, so there is nothing to triage.
    Audit(writes, job, "approval", "skipped",
          {{"reason", not_approved.empty() ? "the approval tag is not on the ticket" : not_approved}});
    Settle(job, "complete", c_->store->Complete(job.id, owner, JobState::kSkipped, now_(), &writes), writes);
    m.Inc("deskpilot_jobs_processed_total", {{"outcome", "skipped"}});
    return;
  }

  WritePlan plan;
  auto cached = c_->store->CacheGet(plan_key);
  if (cached.ok() && cached->has_value()) {
    // Decided on an earlier attempt: apply exactly that plan (idempotently).
    Status s = PlanFromJson(nlohmann::json::parse(**cached, nullptr, false), &plan);
    if (!s.ok()) {
      Finish(job, owner, s, "load plan", writes);
      return;
    }
    Audit(writes, job, "plan.resumed", "ok", {{"actions", plan.actions.size()}});
    if (!CommitIfLeased(job, owner, writes, "store audit rows")) return;
  } else {
    // Loop guard: if the newest activity on the ticket is deskpilot's own, there is
    // nothing new from a human to act on.
    if (!ticket->comments.empty() && ticket->comments.back().by_deskpilot) {
      Audit(writes, job, "loop_guard", "skipped", {{"reason", "newest comment was written by deskpilot"}});
      Settle(job, "complete", c_->store->Complete(job.id, owner, JobState::kSkipped, now_(), &writes), writes);
      m.Inc("deskpilot_jobs_processed_total", {{"outcome", "skipped"}});
      return;
    }
    auto result = c_->pipeline->Run(*ticket, key);
    if (!result.ok()) {
      Audit(writes, job, "pipeline", "error", {{"error", result.status().ToString()}});
      Finish(job, owner, result.status(), "pipeline", writes);
      return;
    }
    Audit(writes, job, "triage", "ok", PipelineResultJson(*result, /*include_text=*/false));
    m.Inc("deskpilot_decisions_total", {{"rung", std::string(RungName(result->decision.rung))}});
    // During a shadow or assist trial: how much automation turning it on would bring.
    m.Inc("deskpilot_ladder_decisions_total", {{"rung", std::string(RungName(result->decision.ladder))}});
    plan = result->plan;
    if (plan.empty()) {
      Audit(writes, job, "vendor.write", "skipped", {{"reason", "shadow mode: nothing written"}});
      Finish(job, owner, Status::Ok(), "shadow", writes);
      return;
    }
    // The outbox commit: the plan, with every row and model answer so far, is durable
    // before anything is written, so a retry applies this plan and no other. Only while
    // the lease is ours: a lost lease's plan would replace the new owner's.
    writes.cache.push_back({plan_key, JsonText(PlanToJson(plan)), now_()});
    if (!CommitIfLeased(job, owner, writes, "store plan")) return;
  }

  MaybeFail(FailPoint::kAfterPipeline);
  auto write_start = std::chrono::steady_clock::now();
  Status applied = hd.Apply(*ticket, plan);
  Record(job.source, breaker, applied);
  m.Observe("deskpilot_stage_duration_seconds", {{"stage", "write_back"}},
            std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count());
  std::vector<std::string> actions;
  for (const auto& a : plan.actions) actions.emplace_back(ActionTypeName(a.type));
  if (applied.code() == Code::kNotFound) {
    // Deleted between the fetch and the write: what a 404 on the fetch means, so the same
    // ending (skipped), not a dead letter an operator would have to look at and retry.
    m.Inc("deskpilot_writebacks_total", {{"outcome", "skipped"}});
    Audit(writes, job, "vendor.write", "skipped", {{"actions", actions}, {"reason", "ticket no longer exists"}});
    Settle(job, "complete", c_->store->Complete(job.id, owner, JobState::kSkipped, now_(), &writes), writes);
    m.Inc("deskpilot_jobs_processed_total", {{"outcome", "skipped"}});
    return;
  }
  if (applied.ok()) {
    // A crash here, the write applied and its row not yet committed, is what a crash
    // between the write and its audit row always was: the lease expires, the retry
    // re-applies the stored plan under the same idempotency key (the help desk answers
    // with the first result) and records vendor.write then.
    MaybeFail(FailPoint::kAfterWriteBack);
    m.Inc("deskpilot_writebacks_total", {{"outcome", "ok"}});
    Audit(writes, job, "vendor.write", "ok", {{"actions", actions}, {"idempotency_key", key}});
    spdlog::info("job {} ticket {}: wrote back {} action(s)", job.id, job.ticket_id, actions.size());
  } else {
    m.Inc("deskpilot_writebacks_total", {{"outcome", applied.retryable() ? "retry" : "error"}});
    Audit(writes, job, "vendor.write", "error", {{"actions", actions}, {"error", applied.ToString()}});
  }
  // One commit for the write's row and the job's final state.
  Finish(job, owner, applied, "write back", writes);
}

}  // namespace deskpilot
