// `deskpilot demo`: the sandbox help desk and the proxy on free loopback ports, the
// sample model and knowledge base, ten realistic tickets, and a table of what
// deskpilot did with each. Everything runs offline with no key.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <iostream>
#include <sstream>
#include <thread>

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "deskpilot/crypto.h"
#include "deskpilot/http_client.h"
#include "helpdesk/sandbox/sandbox_server.h"
#include "service/service.h"

namespace deskpilot::cli {
namespace {

namespace fs = std::filesystem;

std::string Cut(std::string s, size_t n) {
  for (char& c : s)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (s.size() <= n) return s;
  // Do not split a UTF-8 sequence.
  size_t end = n - 1;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end) + "…";
}

std::string Pad(const std::string& s, size_t n) {
  size_t width = 0;
  for (unsigned char c : s) width += (c & 0xC0) != 0x80;
  return width >= n ? s : s + std::string(n - width, ' ');
}

std::string PredCell(const nlohmann::json& triage, const std::string& dim) {
  if (!triage.contains(dim)) return "-";
  const auto& p = triage[dim];
  if (p.value("abstained", false)) return "(unsure)";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s %.0f%%", p.value("label", "").c_str(), p.value("confidence", 0.0) * 100);
  return buf;
}

std::string DemoConfig(const fs::path& dir, int sandbox_port) {
  std::ostringstream t;
  t << "# Written by `deskpilot demo`. Start the same proxy yourself with\n"
    << "#   deskpilot serve --config " << (dir / "deskpilot.toml").string() << "\n"
    << "[server]\nlisten = \"127.0.0.1:0\"\n\n"
    << "[storage]\npath = \"" << (dir / "deskpilot.db").string() << "\"\n\n"
    << "[workers]\nthreads = 2\n\n"
    << "[[helpdesk]]\nname = \"sandbox\"\ntype = \"sandbox\"\n"
    << "base_url = \"http://127.0.0.1:" << sandbox_port << "\"\n"
    << "api_token_env = \"DESKPILOT_DEMO_API_TOKEN\"\n"
    << "webhook_secret_env = \"DESKPILOT_DEMO_WEBHOOK_SECRET\"\n\n"
    << "[policy]\nmode = \"auto\"\n"
    << "sensitive_categories = [\"refund\", \"payment\", \"account\", \"cancellation_fee\", \"invoice\"]\n"
    << "min_confidence = 0.6\n\n"
    << "[policy.categories]\n"
    << "order = \"auto_reply\"\ndelivery = \"auto_reply\"\nshipping_address = \"auto_reply\"\n"
    << "newsletter = \"auto_reply\"\nrefund = \"approve\"\npayment = \"approve\"\naccount = \"approve\"\n"
    << "invoice = \"approve\"\nfeedback = \"assist\"\ncontact = \"assist\"\n\n"
    << "[policy.routing]\n"
    << "refund = \"billing\"\npayment = \"billing\"\ninvoice = \"billing\"\ncancellation_fee = \"billing\"\n"
    << "order = \"orders\"\ndelivery = \"orders\"\nshipping_address = \"orders\"\n"
    << "account = \"accounts\"\nfeedback = \"customer-care\"\ncontact = \"customer-care\"\n";
  return t.str();
}

}  // namespace

int RunDemo(int argc, char** argv) {
  const std::string cmd = argv[0];
  cxxopts::Options opts(cmd, "Run the sandbox help desk and the proxy end to end on built-in defaults.");
  opts.add_options()("data-dir", "where to keep the demo's databases (default: a new temp dir)",
                     cxxopts::value<std::string>())("timeout", "seconds to wait for processing",
                                                    cxxopts::value<int>()->default_value("50"))(
      "v,verbose", "show the service log")("h,help", "show help");
  std::string data_dir;
  int timeout_s = 50;
  try {
    auto args = opts.parse(argc, argv);
    if (args.count("help")) {
      std::cout << opts.help() << "\n";
      return kExitOk;
    }
    if (args.count("data-dir")) data_dir = args["data-dir"].as<std::string>();
    timeout_s = args["timeout"].as<int>();
    spdlog::set_level(args.count("verbose") ? spdlog::level::info : spdlog::level::warn);
  } catch (const std::exception& e) {
    return UsageError(cmd, e.what());
  }
  const auto t0 = std::chrono::steady_clock::now();
  const std::string sample = SampleDir();
  if (!fs::exists(fs::path(sample) / "tickets.jsonl"))
    return RuntimeError(cmd, "sample data not found in " + sample + " (set DESKPILOT_SAMPLE_DIR)");

  std::error_code ec;
  fs::path dir;
  if (data_dir.empty()) {
    std::string tmpl = (fs::temp_directory_path() / "deskpilot-demo-XXXXXX").string();
    if (!mkdtemp(tmpl.data())) return RuntimeError(cmd, "cannot create a temp dir");
    dir = tmpl;
  } else {
    dir = data_dir;
    fs::create_directories(dir, ec);
    if (ec) return UsageError(cmd, "--data-dir " + data_dir + ": " + ec.message());
  }

  // Fresh secrets for this run, handed over the way production does it: env vars.
  const std::string webhook_secret = RandomHex(24), api_token = RandomHex(24);
  setenv("DESKPILOT_DEMO_WEBHOOK_SECRET", webhook_secret.c_str(), 1);
  setenv("DESKPILOT_DEMO_API_TOKEN", api_token.c_str(), 1);

  SandboxOptions so;
  so.db_path = (dir / "sandbox.db").string();
  so.webhook_secret = webhook_secret;
  so.api_token = api_token;
  SandboxServer sandbox(so);
  if (Status s = sandbox.Start(); !s.ok()) return RuntimeError(cmd, "sandbox: " + s.ToString());

  const fs::path config_file = dir / "deskpilot.toml";
  {
    std::ofstream out(config_file);
    out << DemoConfig(dir, sandbox.port());
  }
  auto config = LoadConfig(config_file.string());
  if (!config.ok()) return RuntimeError(cmd, "demo config: " + config.status().message());

  std::cout << "deskpilot demo — data in " << dir.string() << "\n"
            << "  sandbox help desk  http://127.0.0.1:" << sandbox.port() << "\n";
  std::cout << "  preparing the sample model and knowledge base…" << std::flush;
  BuildOptions build;
  build.sample_dir = sample;
  auto service = Service::Create(*config, build);
  if (!service.ok()) return RuntimeError(cmd, "\n" + service.status().ToString());
  if (Status s = (*service)->Start(); !s.ok()) return RuntimeError(cmd, s.ToString());
  std::cout << " done\n  deskpilot proxy     " << (*service)->base_url() << "\n\n";
  sandbox.SetWebhookUrl((*service)->base_url() + "/webhooks/sandbox");

  // File the sample tickets through the sandbox's API, as customers would.
  auto http = NewCurlHttpClient();
  std::vector<std::pair<std::string, std::string>> filed;  // ticket id, subject
  std::ifstream tickets(fs::path(sample) / "tickets.jsonl");
  for (std::string line; std::getline(tickets, line);) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    HttpRequest req;
    req.method = "POST";
    req.url = "http://127.0.0.1:" + std::to_string(sandbox.port()) + "/api/tickets";
    req.headers = {{"Authorization", "Bearer " + api_token}, {"Content-Type", "application/json"}};
    req.body = line;
    auto res = http->Send(req);
    if (!res.ok() || res->status != 201)
      return RuntimeError(cmd, "filing a ticket failed: " + (res.ok() ? res->body : res.status().ToString()));
    auto j = nlohmann::json::parse(res->body, nullptr, false);
    filed.emplace_back(j["ticket"]["id"].is_string() ? j["ticket"]["id"].get<std::string>()
                                                     : std::to_string(j["ticket"]["id"].get<int64_t>()),
                       j["ticket"].value("subject", ""));
  }
  std::cout << "Filed " << filed.size() << " tickets in the sandbox; waiting for deskpilot…\n" << std::flush;

  Store& store = *(*service)->components().store;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  bool finished = false;
  while (std::chrono::steady_clock::now() < deadline) {
    auto counts = store.CountJobsByState();
    if (counts.ok()) {
      int64_t total = 0, open = (*counts)["queued"] + (*counts)["leased"];
      for (const auto& [k, v] : *counts) total += v;
      if (total >= static_cast<int64_t>(filed.size()) && open == 0) {
        finished = true;
        break;
      }
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }

  // One row per ticket, from the audit log (the same record an auditor would read).
  std::map<std::string, nlohmann::json> triage_by_ticket;
  std::map<std::string, std::string> state_by_ticket;
  if (auto jobs = store.ListJobs(std::nullopt, 1000); jobs.ok()) {
    for (const auto& job : *jobs) {
      state_by_ticket[job.ticket_id] = std::string(JobStateName(job.state));
      if (auto rows = store.AuditForJob(job.id); rows.ok())
        for (const auto& row : *rows)
          if (row.entry.stage == "triage")
            triage_by_ticket[job.ticket_id] = nlohmann::json::parse(row.entry.data, nullptr, false);
    }
  }
  std::cout << "\n"
            << Pad("#", 4) << Pad("subject", 32) << Pad("category", 22) << Pad("priority", 14)
            << Pad("sentiment", 16) << Pad("decision", 11) << Pad("cited", 28) << "draft (first line)\n"
            << std::string(160, '-') << "\n";
  int processed = 0;
  for (const auto& [id, subject] : filed) {
    std::cout << Pad(id, 4) << Pad(Cut(subject, 30), 32);
    auto it = triage_by_ticket.find(id);
    if (it == triage_by_ticket.end()) {
      std::cout << "(not processed: job " << (state_by_ticket.count(id) ? state_by_ticket[id] : "missing") << ")\n";
      continue;
    }
    ++processed;
    const auto& r = it->second;
    std::string cited;
    for (const auto& c : r["draft"]["citations"]) cited += (cited.empty() ? "" : ",") + c.get<std::string>();
    // The first line that says something: past the greeting and the courtesy opener.
    std::string first_line;
    {
      std::istringstream lines(r["draft"].value("body", ""));
      for (std::string l; std::getline(lines, l);) {
        if (l.empty() || l.rfind("Hi ", 0) == 0 || l.rfind("Hello", 0) == 0) continue;
        if (l.rfind("Thanks for getting in touch. Here is", 0) == 0) continue;
        if (const std::string opener = "Thanks for getting in touch. "; l.rfind(opener, 0) == 0) l = l.substr(opener.size());
        first_line = l;
        break;
      }
    }
    std::cout << Pad(PredCell(r["triage"], "category"), 22) << Pad(PredCell(r["triage"], "priority"), 14)
              << Pad(PredCell(r["triage"], "sentiment"), 16)
              << Pad(r["decision"].value("rung", "?"), 11) << Pad(Cut(cited.empty() ? "-" : cited, 26), 28)
              << Cut(first_line, 60) << "\n";
  }
  auto verify = store.VerifyAudit();
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "\n" << processed << "/" << filed.size() << " tickets processed in " << std::fixed
            << std::setprecision(1) << secs << " s.\n";
  std::cout << "Audit log: " << config->storage.path << " ("
            << (verify.ok() && verify->ok ? "chain verified, " + std::to_string(verify->rows) + " rows" : "CHAIN BROKEN")
            << "; check it with: deskpilot audit verify --db " << config->storage.path << ")\n";
  std::cout << "Sandbox tickets: " << so.db_path << "; config: " << config_file.string() << "\n";
  (*service)->Stop();
  sandbox.Stop();
  if (!finished || processed != static_cast<int>(filed.size()))
    return RuntimeError(cmd, "not every ticket was processed before the timeout");
  if (!verify.ok() || !verify->ok) return RuntimeError(cmd, "audit chain did not verify");
  return kExitOk;
}

}  // namespace deskpilot::cli
