#include "service/admin_api.h"

#include <algorithm>
#include <charconv>
#include <chrono>
#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include <httplib.h>
#include <spdlog/spdlog.h>

#include "deskpilot/crypto.h"
#include "deskpilot/json_text.h"
#include "service/approval.h"

namespace deskpilot {
namespace {

using nlohmann::json;

void Reply(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(JsonText(body), "application/json");
}

// Request paths are attacker-chosen: keep them on one log line and short.
std::string LogSafe(const std::string& s) {
  std::string out;
  for (unsigned char c : s.substr(0, 200)) out += (c < 0x20 || c == 0x7f) ? '?' : static_cast<char>(c);
  return out;
}

std::optional<int64_t> ParseId(const std::string& text) {
  int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc() || end != text.data() + text.size() || id <= 0) return std::nullopt;
  return id;
}

struct Route {
  const char* method;
  std::regex pattern;
};

// Every /api/v1 route, for telling "wrong method" (405) from "no such path" (404).
const std::vector<Route>& KnownRoutes() {
  static const std::vector<Route> routes = {
      {"GET", std::regex(R"(/api/v1/jobs)")},
      {"GET", std::regex(R"(/api/v1/jobs/[^/]+)")},
      {"POST", std::regex(R"(/api/v1/jobs/[^/]+/retry)")},
      {"GET", std::regex(R"(/api/v1/tickets/[^/]+/[^/]+)")},
      {"POST", std::regex(R"(/api/v1/tickets/[^/]+/[^/]+/approve)")},
  };
  return routes;
}

}  // namespace

int64_t AuthThrottle::WaitMs(const std::string& peer, int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto it = peers_.find(peer);
  return it == peers_.end() ? 0 : std::max<int64_t>(it->second.blocked_until_ms - now_ms, 0);
}

int64_t AuthThrottle::Failed(const std::string& peer, int64_t now_ms) {
  std::lock_guard lock(mu_);
  auto it = peers_.find(peer);
  if (it == peers_.end()) {
    if (peers_.size() >= kMaxPeers) {
      peers_.erase(std::min_element(peers_.begin(), peers_.end(), [](const auto& a, const auto& b) {
        return a.second.last_ms < b.second.last_ms;
      }));
    }
    it = peers_.emplace(peer, Peer{}).first;
  }
  Peer& p = it->second;
  p.failures = std::min(p.failures + 1, kFreeFailures + 32);
  p.last_ms = now_ms;
  if (p.failures <= kFreeFailures) return 0;
  const int doublings = std::min(p.failures - kFreeFailures - 1, 16);
  const int64_t wait = std::min<int64_t>(int64_t{1000} << doublings, kMaxWaitMs);
  p.blocked_until_ms = now_ms + wait;
  return wait;
}

void AuthThrottle::Succeeded(const std::string& peer) {
  std::lock_guard lock(mu_);
  peers_.erase(peer);
}

size_t AuthThrottle::size() {
  std::lock_guard lock(mu_);
  return peers_.size();
}

namespace {

class AdminApi : public std::enable_shared_from_this<AdminApi> {
 public:
  AdminApi(Components* c, std::function<void()> requeued) : c_(c), requeued_(std::move(requeued)) {}

  void Register(httplib::Server& s) {
    s.Get(R"(/api/v1/jobs)", Guard([this](const auto& req, auto& res) { ListJobs(req, res); }));
    s.Get(R"(/api/v1/jobs/([^/]+))", Guard([this](const auto& req, auto& res) { GetJob(req, res); }));
    s.Post(R"(/api/v1/jobs/([^/]+)/retry)", Guard([this](const auto& req, auto& res) { RetryJob(req, res); }));
    s.Get(R"(/api/v1/tickets/([^/]+)/([^/]+))", Guard([this](const auto& req, auto& res) { GetTicket(req, res); }));
    s.Post(R"(/api/v1/tickets/([^/]+)/([^/]+)/approve)",
           Guard([this](const auto& req, auto& res) { Approve(req, res); }));
    // The rest of /api/v1: authenticate first (no route map for strangers), then 405 for a
    // known path with another method, else 404.
    const char* rest = R"(/api/v1(/.*)?)";
    auto fallback = Guard([](const httplib::Request& req, httplib::Response& res) {
      std::string allow;
      for (const Route& r : KnownRoutes())
        if (std::regex_match(req.path, r.pattern)) allow += (allow.empty() ? "" : ", ") + std::string(r.method);
      if (allow.empty()) return Reply(res, 404, {{"error", "no such admin endpoint"}});
      res.set_header("Allow", allow);
      Reply(res, 405, {{"error", "method not allowed"}, {"allow", allow}});
    });
    s.Get(rest, fallback);
    s.Post(rest, fallback);
    s.Put(rest, fallback);
    s.Patch(rest, fallback);
    s.Delete(rest, fallback);
  }

 private:
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

  // Bearer token check in constant time. A refusal is logged with method, path and
  // peer, never with what was presented (it may be a real token sent to the wrong place).
  Handler Guard(Handler inner) {
    // The handlers hold the API object: it lives exactly as long as the server's routes.
    return [this, self = shared_from_this(), inner = std::move(inner)](const httplib::Request& req,
                                                                       httplib::Response& res) {
      const std::string auth = req.get_header_value("Authorization");
      constexpr std::string_view kScheme = "Bearer ";
      const bool guess = auth.size() > kScheme.size() && auth.compare(0, kScheme.size(), kScheme) == 0;
      const int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now().time_since_epoch())
                              .count();
      if (const int64_t wait = guess ? throttle_.WaitMs(req.remote_addr, now) : 0; wait > 0) {
        c_->metrics->Inc("deskpilot_admin_requests_total", {{"outcome", "throttled"}});
        res.set_header("Retry-After", std::to_string((wait + 999) / 1000));
        return Reply(res, 429, {{"error", "too many wrong tokens from this address; retry later"}});
      }
      const bool ok = guess && ConstantTimeEquals(std::string_view(auth).substr(kScheme.size()), c_->config.admin_token);
      // Only a presented bearer token is a guess: a request without one learns nothing.
      if (guess && !ok) {
        if (const int64_t wait = throttle_.Failed(req.remote_addr, now); wait > 0)
          spdlog::warn("admin api: {} presented {}+ wrong tokens in a row; refused for {} ms", req.remote_addr,
                       AuthThrottle::kFreeFailures, wait);
      }
      if (ok) throttle_.Succeeded(req.remote_addr);
      if (!ok) {
        spdlog::warn("admin api: 401 for {} {} from {} ({})", req.method, LogSafe(req.path), req.remote_addr,
                     auth.empty() ? "no credentials" : "invalid credentials");
        c_->metrics->Inc("deskpilot_admin_requests_total", {{"outcome", "unauthorized"}});
        res.set_header("WWW-Authenticate", R"(Bearer realm="deskpilot")");
        return Reply(res, 401, {{"error", "a valid bearer token is required"}});
      }
      c_->metrics->Inc("deskpilot_admin_requests_total", {{"outcome", "authorized"}});
      inner(req, res);
    };
  }

  void ListJobs(const httplib::Request& req, httplib::Response& res) {
    std::optional<JobState> state;
    if (req.has_param("state")) {
      state = ParseJobState(req.get_param_value("state"));
      if (!state) return Reply(res, 400, {{"error", "state must be one of queued|leased|done|dead|skipped"}});
    }
    int limit = 50;
    if (req.has_param("limit")) {
      auto n = ParseId(req.get_param_value("limit"));
      if (!n || *n > 1000) return Reply(res, 400, {{"error", "limit must be an integer from 1 to 1000"}});
      limit = static_cast<int>(*n);
    }
    auto jobs = c_->store->ListJobs(state, limit);
    if (!jobs.ok()) return Reply(res, 500, {{"error", jobs.status().ToString()}});
    json out = json::array();
    for (const Job& j : *jobs) out.push_back(JobToJson(j));
    Reply(res, 200, {{"jobs", out}});
  }

  void GetJob(const httplib::Request& req, httplib::Response& res) {
    auto id = ParseId(req.matches[1]);
    if (!id) return Reply(res, 400, {{"error", "job id must be a positive integer"}});
    auto job = c_->store->GetJob(*id);
    if (!job.ok()) return Reply(res, 500, {{"error", job.status().ToString()}});
    if (!job->has_value()) return Reply(res, 404, {{"error", "no such job"}});
    auto rows = c_->store->AuditForJob(*id);
    if (!rows.ok()) return Reply(res, 500, {{"error", rows.status().ToString()}});
    json audit = json::array();
    for (const AuditRow& r : *rows) audit.push_back(AuditRowToJson(r));
    Reply(res, 200, {{"job", JobToJson(**job)}, {"audit", audit}});
  }

  void RetryJob(const httplib::Request& req, httplib::Response& res) {
    auto id = ParseId(req.matches[1]);
    if (!id) return Reply(res, 400, {{"error", "job id must be a positive integer"}});
    Status s = c_->store->Retry(*id, "admin-api", NowMs());
    if (s.code() == Code::kNotFound) return Reply(res, 404, {{"error", s.message()}});
    if (s.code() == Code::kFailedPrecondition) return Reply(res, 409, {{"error", s.message()}});
    if (!s.ok()) return Reply(res, 500, {{"error", s.ToString()}});
    spdlog::info("admin api: job {} requeued", *id);
    if (requeued_) requeued_();
    Reply(res, 200, {{"status", "queued"}, {"job_id", *id}});
  }

  void GetTicket(const httplib::Request& req, httplib::Response& res) {
    const std::string source = req.matches[1];
    const std::string ticket_id = req.matches[2];
    auto rows = c_->store->AuditForTicket(source, ticket_id);
    if (!rows.ok()) return Reply(res, 500, {{"error", rows.status().ToString()}});
    if (rows->empty()) return Reply(res, 404, {{"error", "no record of this ticket"}});
    json triage = nullptr;
    int64_t triage_seq = 0;
    json audit = json::array();
    for (const AuditRow& r : *rows) {
      json row = AuditRowToJson(r);
      if (r.entry.stage == "triage" && r.entry.outcome == "ok") {
        triage = row["data"];
        triage_seq = r.seq;
      }
      audit.push_back(std::move(row));
    }
    json out = {{"source", source}, {"ticket_id", ticket_id}, {"triage", triage}, {"triage_seq", triage_seq}};
    // Pending means that an approval now would post (approval.h, FindPendingDraft): the
    // ticket as the help desk shows it now decides, as it does for the approval itself.
    Status pending = PendingApproval(source, ticket_id);
    out["pending_approval"] = pending.ok();
    if (!pending.ok()) out["pending_approval_reason"] = pending.message();
    out["audit"] = std::move(audit);
    Reply(res, 200, out);
  }

  // Ok when a draft of the ticket waits for approval; otherwise why an approval would not
  // post one (what POST approve would answer).
  Status PendingApproval(const std::string& source, const std::string& ticket_id) {
    auto hd = c_->helpdesks.find(source);
    if (hd == c_->helpdesks.end()) return Status::NotFound("unknown source");
    auto ticket = hd->second->FetchTicket(ticket_id);
    if (!ticket.ok()) return Status(ticket.status().code(), "help desk: " + ticket.status().ToString());
    ticket->source = source;
    auto draft = FindPendingDraft(*c_, source, *ticket, ApprovalVia::kAdminApi);
    if (!draft.ok()) return draft.status();
    if (draft->outcome.already_approved) return Status::FailedPrecondition("the pending draft was approved and posted");
    return Status::Ok();
  }

  void Approve(const httplib::Request& req, httplib::Response& res) {
    const std::string source = req.matches[1];
    const std::string ticket_id = req.matches[2];
    auto hd = c_->helpdesks.find(source);
    if (hd == c_->helpdesks.end()) return Reply(res, 404, {{"error", "unknown source"}});
    // The reply goes out on the ticket as it is now, like every other write-back.
    auto ticket = hd->second->FetchTicket(ticket_id);
    if (!ticket.ok()) {
      if (ticket.status().code() == Code::kNotFound) return Reply(res, 404, {{"error", "no such ticket at the help desk"}});
      // The adapter refused the id before asking the desk (not a number where the desk wants one).
      if (ticket.status().code() == Code::kInvalidArgument) return Reply(res, 400, {{"error", ticket.status().message()}});
      return Reply(res, 502, {{"error", "help desk: " + ticket.status().ToString()}});
    }
    ticket->source = source;
    auto done = ApprovePendingDraft(*c_, source, *ticket, "admin-api", ApprovalVia::kAdminApi);
    if (!done.ok()) {
      const Status& s = done.status();
      if (s.code() == Code::kNotFound) return Reply(res, 404, {{"error", s.message()}});
      if (s.code() == Code::kFailedPrecondition) return Reply(res, 409, {{"error", s.message()}});
      return Reply(res, 502, {{"error", "help desk: " + s.ToString()}});
    }
    Reply(res, 200, {{"status", done->already_approved ? "already_approved" : "posted"},
                     {"triage_seq", done->triage_seq},
                     {"idempotency_key", done->idempotency_key}});
  }

  Components* c_;
  std::function<void()> requeued_;
  AuthThrottle throttle_;
};

}  // namespace

void RegisterAdminApi(httplib::Server& server, Components* c, std::function<void()> requeued) {
  c->metrics->Describe("deskpilot_admin_requests_total", "counter", "Admin API requests by outcome.");
  std::make_shared<AdminApi>(c, std::move(requeued))->Register(server);
}

json JobToJson(const Job& job) {
  return {{"id", job.id},
          {"state", JobStateName(job.state)},
          {"attempts", job.attempts},
          {"source", job.source},
          {"ticket_id", job.ticket_id},
          {"event_type", job.event_type},
          {"dedupe_key", job.dedupe_key},
          {"lease_owner", job.lease_owner},
          {"lease_expires_ms", job.lease_expires_ms},
          {"next_attempt_ms", job.next_attempt_ms},
          {"last_error", job.last_error},
          {"created_ms", job.created_ms},
          {"updated_ms", job.updated_ms},
          {"payload_bytes", job.payload.size()}};
}

json AuditRowToJson(const AuditRow& row) {
  // data is JSON text by contract; embed it as JSON so `jq` can reach inside, but keep
  // the exact text when it is not (an older row, a hand-written note).
  json data = json::parse(row.entry.data, nullptr, /*allow_exceptions=*/false);
  if (data.is_discarded()) data = row.entry.data;
  return {{"seq", row.seq},
          {"ts_ms", row.ts_ms},
          {"job_id", row.entry.job_id},
          {"source", row.entry.source},
          {"ticket_id", row.entry.ticket_id},
          {"stage", row.entry.stage},
          {"actor", row.entry.actor},
          {"outcome", row.entry.outcome},
          {"data", std::move(data)},
          {"prev_hash", row.prev_hash},
          {"hash", row.hash}};
}

}  // namespace deskpilot
