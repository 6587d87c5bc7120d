// Model-adapter throughput: deskpilot's real Service in-process, with the llm classifier
// and llm drafter talking to the loopback OpenAI-compatible fake (a fixed latency per
// call) and the sandbox help desk for tickets and write-backs. Measures end-to-end
// tickets/s against the ideal concurrency / (calls per ticket x latency), then how many
// model calls redelivered webhooks, a second event for unchanged tickets and new tickets
// repeating earlier text cause.
// See bench/README.md ("Model adapter") for what the figures mean.
#include <stdlib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <cxxopts.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "deskpilot/config.h"
#include "deskpilot/crypto.h"
#include "helpdesk/sandbox/sandbox_server.h"
#include "llm/openai/fake_openai_server.h"
#include "service/service.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

constexpr char kSandboxToken[] = "bench-sandbox-token";
constexpr char kWebhookSecret[] = "bench-webhook-secret";

// A valid answer for whichever prompt asked: the schema the adapter requested says which
// (classify: one object per dimension; draft: reply + citations; summarize: four fields).
std::string AnswerFor(const json& schema) {
  if (!schema.is_object() || !schema.contains("properties")) return "{}";
  const json& props = schema["properties"];
  if (props.contains("reply"))
    return R"({"language":"en","reply":"Thanks for writing. Here is what to do next [1].","citations":[1]})";
  if (props.contains("mood"))
    return R"({"request":"order status","tried":"","open_questions":"","mood":"calm"})";
  json out = json::object();
  for (const auto& [dim, spec] : props.items())
    out[dim] = {{"label", spec["properties"]["label"]["enum"][0]}, {"confidence", 0.9}};
  return out.dump();
}

std::string Answer(const FakeModelRequest& req) { return req.schema ? AnswerFor(*req.schema) : "{}"; }

std::string NowRfc3339() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

struct Delivery {
  std::string ticket_id;
  std::string body;  // fixed per event id, so a redelivery is byte-identical
};

std::string EventBody(const std::string& type, const std::string& ticket_id) {
  return json{{"id", "evt_" + RandomHex(12)},
              {"type", type},
              {"time", NowRfc3339()},
              {"ticket_id", ticket_id},
              {"actor", {{"id", "customer" + ticket_id + "@example.com"}, {"role", "customer"}}}}
      .dump();
}

// Posts every delivery, signed as the sandbox signs them, from `senders` threads; returns
// the HTTP statuses by code (0 = no answer).
std::map<int, int> Send(int port, const std::vector<Delivery>& deliveries, int senders) {
  std::atomic<size_t> next{0};
  std::vector<std::map<int, int>> per(senders);
  std::vector<std::thread> threads;
  for (int s = 0; s < senders; ++s)
    threads.emplace_back([&, s] {
      httplib::Client client("127.0.0.1", port);
      client.set_read_timeout(30, 0);
      for (size_t i; (i = next++) < deliveries.size();) {
        const std::string ts = NowRfc3339();
        const httplib::Headers headers = {
            {"X-Zendesk-Webhook-Signature-Timestamp", ts},
            {"X-Zendesk-Webhook-Signature", Base64Encode(HmacSha256(kWebhookSecret, ts + deliveries[i].body))}};
        auto res = client.Post("/webhooks/sandbox", headers, deliveries[i].body, "application/json");
        ++per[s][res ? res->status : 0];
      }
    });
  for (auto& t : threads) t.join();
  std::map<int, int> out;
  for (const auto& m : per)
    for (const auto& [code, n] : m) out[code] += n;
  return out;
}

std::string Codes(const std::map<int, int>& codes) {
  std::string s;
  for (const auto& [code, n] : codes) {
    if (!s.empty()) s += ' ';
    s += std::to_string(code);
    s += 'x';
    s += std::to_string(n);
  }
  return s;
}

int64_t Finished(Store& store) {
  auto counts = store.CountJobsByState();
  if (!counts.ok()) return -1;
  int64_t n = 0;
  for (const char* s : {"done", "dead", "skipped"})
    if (auto it = counts->find(s); it != counts->end()) n += it->second;
  return n;
}

// Waits until `target` jobs are finished (done, dead or skipped); false on timeout.
bool WaitFinished(Store& store, int64_t target, int timeout_s) {
  const auto deadline = Clock::now() + std::chrono::seconds(timeout_s);
  while (Clock::now() < deadline) {
    if (Finished(store) >= target) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return false;
}

struct RunResult {
  double seconds = 0;
  double calls_per_ticket = 0;
  double ideal = 0;  // tickets/s
  double achieved = 0;
  int max_in_flight = 0;
  int64_t done = 0, dead = 0;
  int redelivery_calls = 0, second_event_calls = 0, repeat_calls = 0;
  int64_t jobs_after_redelivery = 0, jobs_after_second = 0, skipped_after_second = 0, repeat_done = 0;
  std::string redelivery_codes, second_codes;
};

struct Options {
  int tickets = 320;
  int concurrency = 32;
  int latency_ms = 300;
  int poll_ms = 0;  // 0 = the config default
  int timeout_s = 300;
  bool keep = false;
};

Result<RunResult> RunOnce(const Options& o, const fs::path& dir) {
  // The tests' fake, with twice the client's concurrency in HTTP threads, so deskpilot's
  // own bound (workers, llm.max_concurrency) is the only one: max_in_flight shows it.
  FakeOpenAiServer model;
  model.SetLatency(std::chrono::milliseconds(o.latency_ms));
  model.SetAnswer(Answer);
  model.SetMaxConcurrency(2 * o.concurrency);
  DP_RETURN_IF_ERROR(model.Start());

  SandboxOptions so;
  so.db_path = (dir / "sandbox.db").string();
  so.api_token = kSandboxToken;  // no webhook_url: the bench sends (and re-sends) the events
  SandboxServer sandbox(so);
  DP_RETURN_IF_ERROR(sandbox.Start());

  setenv("DP_BENCH_SANDBOX_TOKEN", kSandboxToken, 1);
  setenv("DP_BENCH_WEBHOOK_SECRET", kWebhookSecret, 1);
  const std::string c = std::to_string(o.concurrency);
  std::string toml = "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"" + (dir / "deskpilot.db").string() +
                     "\"\n[workers]\nthreads = " + c + "\n" +
                     (o.poll_ms > 0 ? "poll_ms = " + std::to_string(o.poll_ms) + "\n" : "") +
                     "[[helpdesk]]\nname = \"sandbox\"\ntype = \"sandbox\"\nbase_url = \"http://127.0.0.1:" +
                     std::to_string(sandbox.port()) +
                     "\"\napi_token_env = \"DP_BENCH_SANDBOX_TOKEN\"\nwebhook_secret_env = \"DP_BENCH_WEBHOOK_SECRET\"\n"
                     "[llm]\ntype = \"openai\"\nbase_url = \"" + model.base_url() +
                     "\"\nmodel = \"fake-model\"\nmax_concurrency = " + c +
                     "\n[classifier]\ntype = \"llm\"\n"
                     "[classifier.labels.category]\ndelivery = \"where an order is\"\nrefund = \"money back\"\n"
                     "[classifier.labels.priority]\nnormal = \"can wait a little\"\nhigh = \"the customer is blocked\"\n"
                     "[drafter]\ntype = \"llm\"\n";
  DP_ASSIGN_OR_RETURN(Config config, ParseConfig(toml, "model_bench.toml"));
  BuildOptions build;
  build.sample_dir = DESKPILOT_SAMPLE_DIR;
  DP_ASSIGN_OR_RETURN(std::unique_ptr<Service> service, Service::Create(config, build));
  DP_RETURN_IF_ERROR(service->Start());
  Store& store = *service->components().store;

  // Tickets with distinct text, so the model cache cannot answer any of the first round.
  httplib::Client desk("127.0.0.1", sandbox.port());
  desk.set_bearer_token_auth(kSandboxToken);
  auto file_tickets = [&](std::vector<Delivery>& out) -> Status {
    for (int i = 0; i < o.tickets; ++i) {
      const json t = {{"subject", "Where is my order NW-" + std::to_string(100000 + i) + "?"},
                      {"description", "Hi, order NW-" + std::to_string(100000 + i) +
                                          " has not arrived and tracking has not moved for " + std::to_string(i % 9 + 2) +
                                          " days. Can you check? Thanks"},
                      {"requester", {{"email", "customer" + std::to_string(i) + "@example.com"}, {"name", "Dana"}}}};
      auto res = desk.Post("/api/tickets", t.dump(), "application/json");
      if (!res || res->status != 201) return Status::Unavailable("sandbox: creating a ticket failed");
      const std::string id = json::parse(res->body)["ticket"]["id"].get<std::string>();
      out.push_back({id, EventBody("ticket.created", id)});
    }
    return Status::Ok();
  };
  std::vector<Delivery> created;
  DP_RETURN_IF_ERROR(file_tickets(created));

  RunResult r;
  const int senders = 4;
  const int calls0 = model.RequestCount();
  const auto t0 = Clock::now();
  const auto codes = Send(service->port(), created, senders);
  if (!WaitFinished(store, o.tickets, o.timeout_s))
    return Status::DeadlineExceeded("jobs not finished in " + std::to_string(o.timeout_s) + " s (" + Codes(codes) + ")");
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const int calls = model.RequestCount() - calls0;
  r.calls_per_ticket = static_cast<double>(calls) / o.tickets;
  r.ideal = o.concurrency / (r.calls_per_ticket * o.latency_ms / 1000.0);
  r.achieved = o.tickets / r.seconds;
  r.max_in_flight = model.MaxInFlight();
  if (auto counts = store.CountJobsByState(); counts.ok()) {
    r.done = counts->count("done") ? counts->at("done") : 0;
    r.dead = counts->count("dead") ? counts->at("dead") : 0;
  }

  // Redelivery: the same bodies (same event ids), freshly signed.
  const int calls1 = model.RequestCount();
  r.redelivery_codes = Codes(Send(service->port(), created, senders));
  // Give a job that should not exist the time to be picked up and run.
  std::this_thread::sleep_for(std::chrono::milliseconds(std::max(1000, 3 * o.latency_ms)));
  r.redelivery_calls = model.RequestCount() - calls1;
  r.jobs_after_redelivery = Finished(store);

  // A second, new event for every ticket, which nobody changed since deskpilot's write-back.
  std::vector<Delivery> second;
  for (const auto& d : created) second.push_back({d.ticket_id, EventBody("ticket.updated", d.ticket_id)});
  const int calls2 = model.RequestCount();
  r.second_codes = Codes(Send(service->port(), second, senders));
  WaitFinished(store, 2LL * o.tickets, o.timeout_s);
  r.second_event_calls = model.RequestCount() - calls2;
  r.jobs_after_second = Finished(store);
  if (auto counts = store.CountJobsByState(); counts.ok() && counts->count("skipped"))
    r.skipped_after_second = counts->at("skipped");

  // New tickets with the same text as the first ones: the same redacted model input, which
  // the model cache (llm.cache, on by default) should answer without calling the model.
  std::vector<Delivery> repeats;
  DP_RETURN_IF_ERROR(file_tickets(repeats));
  const int calls3 = model.RequestCount();
  Send(service->port(), repeats, senders);
  WaitFinished(store, 3LL * o.tickets, o.timeout_s);
  r.repeat_calls = model.RequestCount() - calls3;
  if (auto counts = store.CountJobsByState(); counts.ok() && counts->count("done")) r.repeat_done = counts->at("done") - r.done;

  service->Stop();
  sandbox.Stop();
  model.Stop();
  return r;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int Main(int argc, char** argv) {
  cxxopts::Options opts("deskpilot_model_bench", "End-to-end tickets/s with model adapters vs the ideal.");
  opts.add_options()("tickets", "tickets per run", cxxopts::value<int>()->default_value("320"))(
      "concurrency", "workers.threads and llm.max_concurrency", cxxopts::value<int>()->default_value("32"))(
      "latency-ms", "the fake model's latency per call", cxxopts::value<int>()->default_value("300"))(
      "runs", "runs (each on fresh databases)", cxxopts::value<int>()->default_value("5"))(
      "poll-ms", "workers.poll_ms (0 = the config default)", cxxopts::value<int>()->default_value("0"))(
      "keep", "keep the temporary directories")("h,help", "show help");
  Options o;
  int runs = 5;
  try {
    auto args = opts.parse(argc, argv);
    if (args.count("help")) {
      std::printf("%s\n", opts.help().c_str());
      return 0;
    }
    o.tickets = args["tickets"].as<int>();
    o.concurrency = args["concurrency"].as<int>();
    o.latency_ms = args["latency-ms"].as<int>();
    o.poll_ms = args["poll-ms"].as<int>();
    o.keep = args.count("keep") > 0;
    runs = args["runs"].as<int>();
    if (o.tickets < 1 || o.concurrency < 1 || o.latency_ms < 1 || runs < 1 || o.poll_ms < 0)
      throw std::invalid_argument("values must be positive");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "deskpilot_model_bench: %s\n", e.what());
    return 2;
  }
  spdlog::set_level(spdlog::level::err);
  std::printf("tickets=%d concurrency=%d latency=%d ms runs=%d poll_ms=%s\n", o.tickets, o.concurrency,
              o.latency_ms, runs, o.poll_ms ? std::to_string(o.poll_ms).c_str() : "default");
  std::vector<double> ratio, achieved, ideal, seconds;
  for (int run = 1; run <= runs; ++run) {
    std::string tmpl = (fs::temp_directory_path() / "deskpilot-model-bench-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) {
      std::fprintf(stderr, "cannot create a temp dir\n");
      return 1;
    }
    const fs::path dir = tmpl;
    auto r = RunOnce(o, dir);
    if (!o.keep) fs::remove_all(dir);
    if (!r.ok()) {
      std::fprintf(stderr, "run %d: %s\n", run, r.status().ToString().c_str());
      return 1;
    }
    std::printf(
        "RESULT run=%d seconds=%.2f tickets_per_s=%.2f calls_per_ticket=%.2f ideal=%.2f ratio=%.3f "
        "max_in_flight=%d done=%lld dead=%lld | redelivery: http=[%s] model_calls=%d finished_jobs=%lld | "
        "second event: http=[%s] model_calls=%d finished_jobs=%lld skipped=%lld | "
        "same text, new tickets: model_calls=%d done=%lld\n",
        run, r->seconds, r->achieved, r->calls_per_ticket, r->ideal, r->achieved / r->ideal, r->max_in_flight,
        static_cast<long long>(r->done), static_cast<long long>(r->dead), r->redelivery_codes.c_str(),
        r->redelivery_calls, static_cast<long long>(r->jobs_after_redelivery), r->second_codes.c_str(),
        r->second_event_calls, static_cast<long long>(r->jobs_after_second),
        static_cast<long long>(r->skipped_after_second), r->repeat_calls, static_cast<long long>(r->repeat_done));
    std::fflush(stdout);
    ratio.push_back(r->achieved / r->ideal);
    achieved.push_back(r->achieved);
    ideal.push_back(r->ideal);
    seconds.push_back(r->seconds);
  }
  auto mm = [](const std::vector<double>& v) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "%.3f [%.3f-%.3f]", Median(v), *std::min_element(v.begin(), v.end()),
                  *std::max_element(v.begin(), v.end()));
    return std::string(buf);
  };
  std::printf("median [min-max] of %d runs: tickets/s %s, ideal %s, ratio %s, wall s %s\n", runs,
              mm(achieved).c_str(), mm(ideal).c_str(), mm(ratio).c_str(), mm(seconds).c_str());
  return 0;
}

}  // namespace
}  // namespace deskpilot

int main(int argc, char** argv) { return deskpilot::Main(argc, argv); }
