#include "service/service.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <memory>
#include <thread>

#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "core/failpoint.h"
#include "deskpilot/crypto.h"
#include "deskpilot/json_text.h"
#include "deskpilot/text.h"
#include "service/admin_api.h"
#include "service/http_listener.h"

namespace deskpilot {
namespace {

// cpp-httplib sets SO_REUSEPORT, so a second server would silently share a taken
// port. A plain bind first turns that into a clear start-up error.
Status CheckPortFree(const std::string& host, int port) {
  if (port == 0) return Status::Ok();
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return Status::Internal("socket() failed");
  int one = 1;
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
    ::close(fd);
    return Status::Ok();  // not IPv4 literal: let httplib resolve and report
  }
  int rc = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  ::close(fd);
  if (rc != 0) return Status::FailedPrecondition("cannot listen on " + HostPort(host, port) + ": address in use");
  return Status::Ok();
}

void Json(httplib::Response& res, int status, const nlohmann::json& body) {
  res.status = status;
  res.set_content(JsonText(body), "application/json");
}

// Webhook senders all post JSON; a declared non-JSON type is refused before the body is
// read. A missing Content-Type is let through to the JSON parser (and the signature
// check): refusing it would protect nothing and would drop a sloppy sender's deliveries.
bool IsJsonContentType(std::string type) {
  if (type.empty()) return true;
  for (char& ch : type) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  type = type.substr(0, type.find(';'));
  while (!type.empty() && type.back() == ' ') type.pop_back();
  return type == "application/json" || (type.rfind("application/", 0) == 0 && type.size() > 17 &&
                                        type.compare(type.size() - 5, 5, "+json") == 0);
}

}  // namespace

Service::Service(std::unique_ptr<Components> c) : c_(std::move(c)) {}

Service::~Service() { Stop(); }

Result<std::unique_ptr<Service>> Service::Create(const Config& config, const BuildOptions& options) {
  auto c = BuildComponents(config, options);
  if (!c.ok()) return c.status();
  return std::unique_ptr<Service>(new Service(std::move(c).value()));
}

std::string Service::base_url() const { return "http://" + HostPort(c_->config.server.host, port_); }

bool Service::ready() const {
  return started_ && workers_ && workers_->running() && http_ && http_->is_running();
}

bool Service::Healthy() const {
  if (!ready()) return false;
  // A query on the write connection, the one that can wedge, and an index lookup rather
  // than a count over every job ever stored.
  if (!c_->store->NextDueInMs(NowMs()).ok()) return false;
  // The newest beat is any worker's: with two or more, one stuck in a job would go unseen
  // while the others turn.
  if (!workers_->StuckJobs().empty()) return false;
  const int64_t lease_ms = int64_t{c_->config.workers.lease_seconds} * 1000;
  return NowMs() - workers_->last_beat_ms() <= lease_ms + c_->config.workers.poll_ms;
}

void Service::Routes() {
  Metrics& m = *c_->metrics;
  m.Describe("deskpilot_webhooks_total", "counter", "Webhook deliveries by source and outcome.");
  m.Describe("deskpilot_jobs", "gauge", "Jobs in the queue by state.");
  m.Describe("deskpilot_jobs_processed_total", "counter", "Job attempts by outcome (done, retry, dead, skipped, deferred, lease_lost).");
  m.Describe("deskpilot_writebacks_total", "counter", "Help-desk write-backs by outcome.");
  m.Describe("deskpilot_decisions_total", "counter", "Policy decisions by rung.");
  m.Describe("deskpilot_ladder_decisions_total", "counter",
             "What the ladder chose before policy.mode's ceiling (what mode auto would do), by rung.");
  m.Describe("deskpilot_stage_duration_seconds", "histogram", "Latency of each pipeline stage.");
  m.Describe("deskpilot_webhook_ack_seconds", "histogram", "Time from request to acknowledgement.");
  m.Describe("deskpilot_connections_refused_total", "counter",
             "Connections answered 503 because too many were already waiting for an HTTP thread.");
  m.Describe("deskpilot_connections_yielded_total", "counter",
             "Idle keep-alive connections closed so that a waiting connection got their thread.");

  // A declared body over the cap is refused before a byte of it is read (the connection is
  // then closed: the unread body must not be parsed as a next request).
  const auto max_body = static_cast<uint64_t>(c_->config.server.max_body_bytes);
  http_->set_pre_routing_handler([max_body](const httplib::Request& req, httplib::Response& res) {
    // Debian's cpp-httplib compresses every text and JSON response whose client accepts it,
    // brotli at its highest quality: /healthz fell from ~26k to ~6k requests/s when the
    // client sent "Accept-Encoding: br" (bench/RESULTS.md), and a webhook sender's HTTP
    // library may well send it. Our answers are tens of bytes (/metrics a few KB), so the
    // request's Accept-Encoding is dropped before the response is built: nothing is
    // compressed. The const is the callback's signature only: httplib's Request here is a
    // non-const object of its connection loop, so removing a header through it is defined.
    const_cast<httplib::Request&>(req).headers.erase("Accept-Encoding");
    // The headers deskpilot itself reads must come once. httplib reads a header's first
    // copy, and a proxy in front may read the last: two Content-Lengths are how a request is
    // smuggled past it, and two Authorizations or Content-Types mean two different requests.
    for (const char* name : {"Content-Length", "Transfer-Encoding", "Content-Type", "Authorization"}) {
      if (req.get_header_value_count(name) < 2) continue;
      GuardedHttpServer::CloseAfterResponse();
      Json(res, 400, {{"error", std::string(name) + " header sent more than once"}});
      return httplib::Server::HandlerResponse::Handled;
    }
    // A request with neither Content-Length nor Transfer-Encoding has no body (RFC 9112,
    // 6.3), but httplib reads one until the client closes: `curl -X POST` without -d, the
    // README's own approve command, waited out the read timeout for a bare 400.
    if (!req.has_header("Content-Length") && !req.has_header("Transfer-Encoding")) {
      const_cast<httplib::Request&>(req).headers.emplace("Content-Length", "0");
      return httplib::Server::HandlerResponse::Unhandled;
    }
    if (!req.has_header("Content-Length")) return httplib::Server::HandlerResponse::Unhandled;
    const std::string text = req.get_header_value("Content-Length");
    uint64_t length = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), length);
    const bool bad = ec != std::errc() || end != text.data() + text.size() || text.empty();
    if (!bad && length <= max_body) return httplib::Server::HandlerResponse::Unhandled;
    GuardedHttpServer::CloseAfterResponse();
    if (bad) Json(res, 400, {{"error", "invalid Content-Length"}});
    else Json(res, 413, {{"error", "request body exceeds " + std::to_string(max_body) + " bytes"}});
    return httplib::Server::HandlerResponse::Handled;
  });

  // The body is read here, not by httplib, so that a chunked body is capped as it streams.
  http_->Post(R"(/webhooks/([A-Za-z0-9_\-]+))", [this, max_body](const httplib::Request& req, httplib::Response& res,
                                                                 const httplib::ContentReader& read_body) {
    const auto start = std::chrono::steady_clock::now();
    const std::string source = req.matches[1];
    Metrics* m = c_->metrics.get();
    auto it = c_->helpdesks.find(source);
    // A label value only ever comes from the config: a name taken from an unauthenticated
    // URL would let anyone add series without bound (memory, /metrics size).
    const std::string label = it == c_->helpdesks.end() ? "_unknown" : source;
    auto outcome = [m, label, start](const char* o) {
      m->Inc("deskpilot_webhooks_total", {{"source", label}, {"outcome", o}});
      m->Observe("deskpilot_webhook_ack_seconds", {{"outcome", o}},
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    };
    if (it == c_->helpdesks.end()) {
      outcome("unknown_source");
      GuardedHttpServer::CloseAfterResponse();
      return Json(res, 404, {{"error", "unknown source"}});
    }
    if (!IsJsonContentType(req.get_header_value("Content-Type"))) {
      outcome("unsupported_media_type");
      GuardedHttpServer::CloseAfterResponse();
      return Json(res, 415, {{"error", "webhooks must be sent as application/json"}});
    }
    std::string body;
    bool over_cap = false;
    const bool complete = read_body([&](const char* data, size_t n) {
      if (body.size() + n > max_body) {
        over_cap = true;
        return false;
      }
      body.append(data, n);
      return true;
    });
    if (!complete) {
      GuardedHttpServer::CloseAfterResponse();
      outcome(over_cap ? "too_large" : "malformed");
      if (over_cap) return Json(res, 413, {{"error", "request body exceeds " + std::to_string(max_body) + " bytes"}});
      return Json(res, 400, {{"error", "the request body could not be read"}});
    }
    WebhookRequest wr;
    wr.body = body;
    // A repeated header reaches the adapter as one value with every copy, as HTTP combines
    // them (RFC 9110, 5.3), never as the copy one reader happened to pick: a second
    // signature or timestamp makes a value that no verifier accepts.
    for (const auto& [k, v] : req.headers) {
      auto [at, fresh] = wr.headers.emplace(AsciiLower(k), v);
      if (!fresh) at->second += ", " + v;
    }
    wr.now = std::chrono::system_clock::now();
    if (Status s = it->second->VerifyWebhook(wr); !s.ok()) {
      spdlog::warn("webhook {}: rejected: {}", source, s.message());
      outcome("unauthorized");
      return Json(res, 401, {{"error", "signature verification failed"}});
    }
    auto event = it->second->ParseWebhook(wr);
    if (!event.ok()) {
      outcome("malformed");
      return Json(res, 400, {{"error", event.status().message()}});
    }
    if (event->self_caused) {
      outcome("ignored_self");
      return Json(res, 200, {{"status", "ignored"}, {"reason", "caused by deskpilot"}});
    }
    if (!event->ignore_reason.empty()) {
      outcome("ignored_event");
      return Json(res, 200, {{"status", "ignored"}, {"reason", event->ignore_reason}});
    }
    // The answer once the job is committed (or not): 202 for a new job, 200 for a
    // redelivery, 503 when the store failed — not acknowledged, so the vendor redelivers.
    auto answer = [this, outcome, source, ticket = event->ticket_id,
                   type = event->event_type](const Result<EnqueueResult>& enq) -> std::pair<int, nlohmann::json> {
      if (!enq.ok()) {
        spdlog::error("webhook {}: enqueue failed: {}", source, enq.status().ToString());
        outcome("store_error");
        return {503, {{"error", "temporarily unavailable"}}};
      }
      if (enq->duplicate) {
        outcome("duplicate");
        return {200, {{"status", "duplicate"}, {"job_id", enq->job_id}}};
      }
      MaybeFail(FailPoint::kAfterEnqueueCommit);
      workers_->Notify();
      outcome("accepted");
      spdlog::info("webhook {}: ticket {} {} → job {}", source, ticket, type, enq->job_id);
      return {202, {{"status", "queued"}, {"job_id", enq->job_id}}};
    };
    NewJob job{source, event->dedupe_key, event->ticket_id, event->event_type, std::move(body)};
    // Answered by the store's committer once the job is durable, so this thread goes back
    // to its connection instead of sleeping through the commit (bench/RESULTS.md).
    if (auto deferred = GuardedHttpServer::DeferResponse(req)) {
      c_->store->EnqueueAsync(std::move(job), NowMs(), [answer, deferred](Result<EnqueueResult> enq) {
        auto [status, json] = answer(enq);
        deferred->Send(status, "application/json", JsonText(json));
      });
      return;
    }
    auto [status, json] = answer(c_->store->Enqueue(job, NowMs()));
    Json(res, status, json);
  });

  // Alive, unless a worker is stuck in a job (WorkerPool::kStuckLeases): the process then
  // needs the restart the systemd watchdog would give it, and the answer names the job.
  http_->Get("/healthz", [this](const httplib::Request&, httplib::Response& res) {
    std::string stuck;
    if (workers_) {
      for (const WorkerPool::StuckJob& s : workers_->StuckJobs())
        stuck += "stuck: worker " + s.owner + " has held job " + std::to_string(s.job_id) + " for " +
                 std::to_string(s.held_ms / 1000) + " s\n";
    }
    res.status = stuck.empty() ? 200 : 503;
    res.set_content(stuck.empty() ? "ok\n" : stuck, "text/plain");
  });
  http_->Get("/readyz", [this](const httplib::Request&, httplib::Response& res) {
    bool db_ok = c_->store->SchemaVersion() > 0;
    bool ok = db_ok && workers_ && workers_->running();
    res.status = ok ? 200 : 503;
    res.set_content(ok ? "ready\n" : "not ready\n", "text/plain");
  });
  http_->Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    if (auto counts = c_->store->CountJobsByState(); counts.ok())
      for (const auto& [state, n] : *counts) c_->metrics->Set("deskpilot_jobs", {{"state", state}}, static_cast<double>(n));
    if (guarded_ != nullptr) {
      c_->metrics->Set("deskpilot_connections_refused_total", {}, static_cast<double>(guarded_->refused_connections()));
      c_->metrics->Set("deskpilot_connections_yielded_total", {}, static_cast<double>(guarded_->yielded_connections()));
    }
    res.set_content(c_->metrics->Render(), "text/plain; version=0.0.4");
  });

  if (!c_->config.admin_token.empty()) RegisterAdminApi(*http_, c_.get(), [this] { workers_->Notify(); });
}

Status Service::Start() {
  const ServerConfig& sc = c_->config.server;
  DP_RETURN_IF_ERROR(LoadFailPoints());
  DP_RETURN_IF_ERROR(CheckPortFree(sc.host, sc.port));
  ListenerLimits limits;
  limits.request_timeout = std::chrono::seconds(sc.request_timeout_seconds);
  limits.max_body_bytes = static_cast<size_t>(sc.max_body_bytes);
  limits.threads = static_cast<size_t>(sc.threads);
  // Room for a burst of new senders (they are served in turn within milliseconds), well
  // under systemd's default limit of 1024 open files; a flood beyond it is refused at once.
  limits.max_queued_connections = std::max<size_t>(4 * limits.threads, 256);
  auto guarded = std::make_unique<GuardedHttpServer>(limits);
  GuardedHttpServer* listener = guarded.get();
  guarded_ = listener;
  http_ = std::move(guarded);
  // Debian's cpp-httplib build: Nagle + delayed ACK add ~40 ms per response, the pool
  // is 8 threads and keep-alive ends after 5 requests. Set all of it at run time (the pool
  // through ListenerLimits).
  http_->set_tcp_nodelay(true);
  http_->set_keep_alive_max_count(1000);
  http_->set_keep_alive_timeout(5);
  // Per read; the whole request is bounded by request_timeout_seconds (GuardedHttpServer).
  http_->set_read_timeout(10, 0);
  http_->set_write_timeout(10, 0);
  http_->set_payload_max_length(static_cast<size_t>(sc.max_body_bytes));
  Routes();

  if (sc.port == 0) {
    port_ = http_->bind_to_any_port(sc.host);
  } else {
    port_ = http_->bind_to_port(sc.host, sc.port) ? sc.port : -1;
  }
  if (port_ <= 0) return Status::FailedPrecondition("cannot listen on " + HostPort(sc.host, sc.port));
  listener->RaiseListenBacklog(SOMAXCONN);

  workers_ = std::make_unique<WorkerPool>(c_.get(), "dp-" + RandomHex(4));
  workers_->Start(c_->config.workers.threads);
  auto listen_ended = std::make_shared<std::atomic<bool>>(false);
  listener_ = std::thread([this, listen_ended] {
    http_->listen_after_bind();
    *listen_ended = true;
  });
  // 0.11 has no wait_until_ready(); is_running() flips once listen_after_bind loops.
  while (!http_->is_running() && !*listen_ended) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (*listen_ended) {
    listener_.join();
    workers_->Stop();
    return Status::FailedPrecondition("the HTTP listener stopped right after start");
  }
  if (const int days = c_->config.storage.retention_days; days > 0) {
    // Its own thread: a first run over months of jobs takes a while. Its batches take the
    // store's lock in the normal class, like a worker step, and are paced, so acks go on.
    retention_ = std::make_unique<RetentionLoop>(c_->store.get(), c_->metrics.get(), days, std::chrono::hours(1));
    retention_->Start();
  }
  started_ = true;
  spdlog::info("deskpilot listening on {} with {} worker(s)", base_url(), c_->config.workers.threads);
  return Status::Ok();
}

void Service::Stop() {
  if (!started_) return;
  started_ = false;
  http_->stop();  // stop accepting first: nothing is acknowledged that no worker will see
  if (listener_.joinable()) listener_.join();
  if (retention_) retention_->Stop();
  workers_->Stop();
  spdlog::info("deskpilot stopped");
}

}  // namespace deskpilot
