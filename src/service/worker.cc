#include "service/worker.h"

#include <algorithm>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/failpoint.h"
#include "deskpilot/crypto.h"
#include "deskpilot/http_client.h"
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

WorkerPool::WorkerPool(Components* components, std::string instance_id)
    : c_(components), instance_id_(std::move(instance_id)) {
  const WorkerConfig& w = c_->config.workers;
  c_->metrics->Describe("deskpilot_circuit_state", "gauge",
                        "Circuit breaker per help desk: 0 closed, 1 open, 2 half-open (one probe).");
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
  last_beat_ms_ = NowMs();
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this, i] { Loop(i); });
}

void WorkerPool::Stop() {
  if (threads_.empty()) return;
  stopping_ = true;
  Notify();
  for (auto& t : threads_) t.join();
  threads_.clear();
  running_ = false;
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
    last_beat_ms_ = NowMs();
    uint64_t seen;
    {
      std::lock_guard lock(mu_);
      seen = wakeups_;
    }
    auto leased = c_->store->Lease(owner, lease_ms, NowMs());
    if (!leased.ok()) {
      spdlog::error("lease failed: {}", leased.status().ToString());
    } else if (leased->has_value()) {
      Process(**leased, owner);
      continue;
    }
    // Sleep until notified, the next job is due, or the poll interval passes (which
    // also picks up leases that expired after a crash).
    int64_t wait_ms = c_->config.workers.poll_ms;
    if (auto due = c_->store->NextDueInMs(NowMs()); due.ok() && due->has_value())
      wait_ms = std::clamp<int64_t>(**due, 1, wait_ms);
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, std::chrono::milliseconds(wait_ms), [&] { return stopping_ || wakeups_ != seen; });
  }
}

void WorkerPool::Audit(const Job& job, const std::string& stage, const std::string& outcome,
                       const nlohmann::json& data) {
  AuditEntry e;
  e.job_id = job.id;
  e.ticket_id = job.ticket_id;
  e.source = job.source;
  e.stage = stage;
  e.outcome = outcome;
  // Vendor and model text may hold invalid UTF-8: replace it rather than throw on a worker thread.
  e.data = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  if (auto r = c_->store->AppendAudit(e, NowMs()); !r.ok())
    spdlog::error("job {} ticket {}: audit append failed: {}", job.id, job.ticket_id, r.status().ToString());
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

void WorkerPool::Finish(const Job& job, const std::string& owner, const Status& status, const std::string& stage) {
  const int64_t now = NowMs();
  Metrics& m = *c_->metrics;
  if (status.deferred()) {
    // Says nothing about this job: put it back and give the attempt back too.
    if (auto s = c_->store->Release(job.id, owner, DeferUntilMs(status, now), now); !s.ok())
      spdlog::warn("job {}: release failed: {}", job.id, s.ToString());
    m.Inc("deskpilot_jobs_processed_total", {{"outcome", "deferred"}});
    m.Inc("deskpilot_deferrals_total", {{"upstream", job.source}});
    spdlog::debug("job {} ticket {}: deferred: {}", job.id, job.ticket_id, status.ToString());
    return;
  }
  if (status.ok()) {
    if (auto s = c_->store->Complete(job.id, owner, JobState::kDone, now); !s.ok())
      spdlog::warn("job {}: complete failed: {}", job.id, s.ToString());
    m.Inc("deskpilot_jobs_processed_total", {{"outcome", "done"}});
    return;
  }
  const bool retryable = status.retryable();
  const bool exhausted = job.attempts >= c_->config.workers.max_attempts;
  std::string reason = stage + ": " + status.ToString();
  if (auto s = c_->store->Fail(job.id, owner, reason, retryable, NextAttemptMs(status, job.attempts, now),
                               c_->config.workers.max_attempts, now);
      !s.ok())
    spdlog::warn("job {}: fail transition failed: {}", job.id, s.ToString());
  if (retryable && !exhausted) {
    spdlog::warn("job {} ticket {}: {} (attempt {}, will retry)", job.id, job.ticket_id, reason, job.attempts);
    m.Inc("deskpilot_jobs_processed_total", {{"outcome", "retry"}});
    Audit(job, "job.retry", "error", {{"attempt", job.attempts}, {"error", reason}});
  } else {
    spdlog::error("job {} ticket {}: dead-lettered: {}", job.id, job.ticket_id, reason);
    m.Inc("deskpilot_jobs_processed_total", {{"outcome", "dead"}});
    Audit(job, "job.dead_lettered", "error", {{"attempt", job.attempts}, {"error", reason}});
  }
}

void WorkerPool::Process(const Job& job, const std::string& owner) {
  Metrics& m = *c_->metrics;
  // Every lease counts an attempt, and a failed attempt at the budget dead-letters the
  // job. A job leased beyond the budget therefore got here only by lease expiry: the
  // process died (or hung) while holding it, every time. Such a poison webhook must not
  // crash-loop the service forever: dead-letter it, untouched, for a human to look at.
  if (job.attempts > c_->config.workers.max_attempts) {
    const std::string reason = "abandoned: leased " + std::to_string(job.attempts) +
                               " times without finishing (the worker crashed or timed out each time)";
    if (auto s = c_->store->Fail(job.id, owner, reason, /*retryable=*/false, NowMs(),
                                 c_->config.workers.max_attempts, NowMs());
        !s.ok())
      spdlog::warn("job {}: fail transition failed: {}", job.id, s.ToString());
    spdlog::error("job {} ticket {}: dead-lettered: {}", job.id, job.ticket_id, reason);
    m.Inc("deskpilot_jobs_processed_total", {{"outcome", "dead"}});
    Audit(job, "job.dead_lettered", "error", {{"attempt", job.attempts}, {"error", reason}});
    return;
  }
  auto hd_it = c_->helpdesks.find(job.source);
  if (hd_it == c_->helpdesks.end()) {
    Finish(job, owner, Status::FailedPrecondition("no configured helpdesk named " + job.source), "route");
    return;
  }
  Helpdesk& hd = *hd_it->second;
  CircuitBreaker& breaker = *breakers_.at(job.source);
  MaybeFail(FailPoint::kAfterLease);
  // Checked before anything is recorded: while the desk is down, a deferral is a
  // non-event for the job (no attempt used, no audit row per bounce).
  if (Status allow = breaker.Allow(); !allow.ok()) {
    c_->metrics->Set("deskpilot_circuit_state", {{"upstream", job.source}}, StateValue(breaker.state()));
    Finish(job, owner, allow, "circuit");
    return;
  }
  const std::string key = IdempotencyKey(job.dedupe_key);
  const std::string plan_key = "plan:" + key;
  Audit(job, "job.leased", "ok", {{"attempt", job.attempts}, {"event", job.event_type}, {"owner", owner}});

  // Webhooks arrive late and out of order: always act on the ticket as it is now.
  auto fetch_start = std::chrono::steady_clock::now();
  auto ticket = hd.FetchTicket(job.ticket_id);
  Record(job.source, breaker, ticket.status());
  m.Observe("deskpilot_stage_duration_seconds", {{"stage", "fetch"}},
            std::chrono::duration<double>(std::chrono::steady_clock::now() - fetch_start).count());
  if (!ticket.ok()) {
    if (ticket.status().code() == Code::kNotFound) {
      Audit(job, "fetch", "skipped", {{"reason", "ticket no longer exists"}});
      (void)c_->store->Complete(job.id, owner, JobState::kSkipped, NowMs());
      m.Inc("deskpilot_jobs_processed_total", {{"outcome", "skipped"}});
      return;
    }
    Audit(job, "fetch", "error", {{"error", ticket.status().ToString()}});
    Finish(job, owner, ticket.status(), "fetch ticket");
    return;
  }
  ticket->source = job.source;
  // What the help desk answered (redacted), so `deskpilot audit replay` can re-run this job.
  Audit(job, "fetch", "ok", {{"ticket", FetchedTicketRecord(*ticket)}});
  // An agent approved the pending draft with the approval tag: post it the way the admin
  // API does (service/approval.h). Nothing pending, or already posted: carry on as usual.
  if (HasApprovalTag(*ticket, c_->config.policy)) {
    auto approved = ApprovePendingDraft(*c_, job.source, *ticket, "agent-tag", ApprovalVia::kTag);
    if ((approved.ok() && !approved->already_approved) || (!approved.ok() && approved.status().retryable())) {
      Finish(job, owner, approved.ok() ? Status::Ok() : approved.status(), "approval");
      return;
    }
  }

  WritePlan plan;
  auto cached = c_->store->CacheGet(plan_key);
  if (cached.ok() && cached->has_value()) {
    // Decided on an earlier attempt: apply exactly that plan (idempotently).
    Status s = PlanFromJson(nlohmann::json::parse(**cached, nullptr, false), &plan);
    if (!s.ok()) {
      Finish(job, owner, s, "load plan");
      return;
    }
    Audit(job, "plan.resumed", "ok", {{"actions", plan.actions.size()}});
  } else {
    // Loop guard: if the newest activity on the ticket is deskpilot's own, there is
    // nothing new from a human to act on.
    if (!ticket->comments.empty() && ticket->comments.back().by_deskpilot) {
      Audit(job, "loop_guard", "skipped", {{"reason", "newest comment was written by deskpilot"}});
      (void)c_->store->Complete(job.id, owner, JobState::kSkipped, NowMs());
      m.Inc("deskpilot_jobs_processed_total", {{"outcome", "skipped"}});
      return;
    }
    auto result = c_->pipeline->Run(*ticket, key);
    if (!result.ok()) {
      Audit(job, "pipeline", "error", {{"error", result.status().ToString()}});
      Finish(job, owner, result.status(), "pipeline");
      return;
    }
    Audit(job, "triage", "ok", PipelineResultJson(*result, /*include_text=*/false));
    m.Inc("deskpilot_decisions_total", {{"rung", std::string(RungName(result->decision.rung))}});
    plan = result->plan;
    if (plan.empty()) {
      Audit(job, "vendor.write", "skipped", {{"reason", "shadow mode: nothing written"}});
      Finish(job, owner, Status::Ok(), "shadow");
      return;
    }
    if (auto s = c_->store->CachePut(plan_key, PlanToJson(plan).dump(), NowMs()); !s.ok()) {
      Finish(job, owner, s, "store plan");
      return;
    }
  }

  MaybeFail(FailPoint::kAfterPipeline);
  auto write_start = std::chrono::steady_clock::now();
  Status applied = hd.Apply(*ticket, plan);
  Record(job.source, breaker, applied);
  m.Observe("deskpilot_stage_duration_seconds", {{"stage", "write_back"}},
            std::chrono::duration<double>(std::chrono::steady_clock::now() - write_start).count());
  std::vector<std::string> actions;
  for (const auto& a : plan.actions) actions.emplace_back(ActionTypeName(a.type));
  if (applied.ok()) {
    m.Inc("deskpilot_writebacks_total", {{"outcome", "ok"}});
    Audit(job, "vendor.write", "ok", {{"actions", actions}, {"idempotency_key", key}});
    spdlog::info("job {} ticket {}: wrote back {} action(s)", job.id, job.ticket_id, actions.size());
    MaybeFail(FailPoint::kAfterWriteBack);
  } else {
    m.Inc("deskpilot_writebacks_total", {{"outcome", applied.retryable() ? "retry" : "error"}});
    Audit(job, "vendor.write", "error", {{"actions", actions}, {"error", applied.ToString()}});
  }
  Finish(job, owner, applied, "write back");
}

}  // namespace deskpilot
