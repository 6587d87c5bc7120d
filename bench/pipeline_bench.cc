// The per-ticket pipeline on the built-in adapters (normalize → redact → classify
// (embedded) → retrieve (fts5) → draft (extractive) → decide), one thread, over a KB of
// 10k and 100k synthetic chunks (bench/kb_synth.h; plus StackFAQ's 125 articles when the
// shared data is there, the same files the retrieval bench uses).
//
// usage: deskpilot_pipeline_bench [--sizes 10000,100000] [--tickets 400] [--passes 5]
//                                 [--dir /tmp/deskpilot-bench-kb]
//
// Tickets alternate between the demo's real tickets (config/sample/tickets.jsonl, English
// the classifier was trained for; the synthetic KB does not know their words) and
// synthetic tickets about KB articles (whose words hit long posting lists). Each pass
// runs every ticket once through Pipeline::Run; printed are tickets/s per pass (wall
// clock, and per second of this thread's CPU time), the per-stage p50/p99 of Pipeline's
// own (wall-clock) stage timers and each ticket's CPU time, as median [min-max] over
// passes.
// The sample models are trained on the first run and cached under --dir/models.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "deskpilot/config.h"
#include "kb_synth.h"
#include "service/components.h"

namespace deskpilot::bench {
namespace {

using Clock = std::chrono::steady_clock;

// This thread's CPU time in seconds. The machine is shared: every few tickets the
// scheduler runs another process for 8-12 ms mid-ticket, which wall-clock figures
// include and CPU time does not, so both are reported.
double CpuSeconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(q * static_cast<double>(v.size() - 1))];
}

std::string Spread(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  char buf[96];
  std::snprintf(buf, sizeof buf, "%.3g [%.3g–%.3g]", Percentile(v, 0.5), v.front(), v.back());
  return buf;
}

[[noreturn]] void Die(const Status& s) {
  std::fprintf(stderr, "pipeline_bench: %s\n", s.ToString().c_str());
  std::exit(1);
}

Ticket MakeTicket(std::string subject, std::string body, int n) {
  Ticket t;
  t.id = std::to_string(n);
  t.source = "bench";
  t.subject = std::move(subject);
  t.description = body;
  t.channel = "web";
  t.requester.email = "customer" + std::to_string(n) + "@example.com";
  // Desks send the requester's name, which the redactor looks for in every text.
  static constexpr const char* kNames[] = {"Ann Smith", "Will Turner", "José García", "May Lee"};
  t.requester.name = kNames[n % 4];
  Comment c;
  c.author_role = AuthorRole::kCustomer;
  c.body = std::move(body);
  t.comments.push_back(std::move(c));
  return t;
}

}  // namespace
}  // namespace deskpilot::bench

int main(int argc, char** argv) {
  using namespace deskpilot;
  using namespace deskpilot::bench;
  std::vector<size_t> sizes = {10000, 100000};
  size_t n_tickets = 400;
  int passes = 5;
  std::string dir = "/tmp/deskpilot-bench-kb";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--sizes") {
      sizes.clear();
      std::stringstream ss(value);
      for (std::string part; std::getline(ss, part, ',');) sizes.push_back(std::stoul(part));
    } else if (key == "--tickets") {
      n_tickets = std::stoul(value);
    } else if (key == "--passes") {
      passes = std::max(1, std::stoi(value));
    } else if (key == "--dir") {
      dir = value;
    } else {
      std::fprintf(stderr, "usage: %s [--sizes N,N] [--tickets N] [--passes N] [--dir DIR]\n", argv[0]);
      return 2;
    }
  }
  spdlog::set_level(spdlog::level::warn);
  const std::string stackfaq = DESKPILOT_SHARED_DATA_DIR "/stackfaq_retrieval/corpus.jsonl";
  const bool with_stackfaq = std::filesystem::exists(stackfaq);

  std::vector<std::pair<std::string, std::string>> demo;  // subject, description
  {
    std::ifstream in(std::string(DESKPILOT_SAMPLE_DIR) + "/tickets.jsonl");
    for (std::string line; std::getline(in, line);) {
      if (line.empty()) continue;
      const nlohmann::json j = nlohmann::json::parse(line);
      demo.emplace_back(j.value("subject", ""), j.value("description", ""));
    }
    if (demo.empty()) Die(Status::NotFound("no demo tickets in " DESKPILOT_SAMPLE_DIR "/tickets.jsonl"));
  }

  std::printf("# %zu tickets per pass (demo and synthetic alternating), %d passes, one thread\n", n_tickets, passes);
  std::printf("| chunks | tickets/s | stage | p50 ms | p99 ms |\n|---|---|---|---|---|\n");
  for (size_t size : sizes) {
    SyntheticKb gen;
    std::vector<KbDocument> docs;
    docs.reserve(size);
    for (size_t i = 0; i < size; ++i) docs.push_back(gen.Article(i));
    std::vector<Ticket> tickets;
    for (size_t i = 0; i < n_tickets; ++i) {
      if (i % 2 == 0 || size == 0) {
        const auto& [subject, body] = demo[(i / 2) % demo.size()];
        tickets.push_back(MakeTicket(subject, body, static_cast<int>(i)));
      } else {
        SyntheticKb::Query q = gen.Ticket(docs[gen.Uniform(0, size - 1)]);
        const size_t nl = q.text.find('\n');
        tickets.push_back(MakeTicket(q.text.substr(0, nl), q.text.substr(nl + 1), static_cast<int>(i)));
      }
    }
    std::filesystem::create_directories(dir);
    const std::string db = dir + "/kb-" + std::to_string(size) + (with_stackfaq ? "-stackfaq" : "") + ".db";
    if (Status s = EnsureKb(db, docs, with_stackfaq ? std::vector<std::string>{stackfaq} : std::vector<std::string>{},
                            with_stackfaq ? 125 : 0);
        !s.ok()) {
      Die(s);
    }
    docs = {};

    // The built-in adapters, as a config without [classifier]/[retriever]/[drafter]
    // sections builds them; the KB is not empty, so no sample KB is ingested.
    Config config;
    config.storage.path = db;
    config.classifier.type = "embedded";
    config.retriever.type = "fts5";
    config.drafter.type = "extractive";
    config.classifier.section = config.retriever.section = config.drafter.section = nlohmann::json::object();
    BuildOptions build;
    build.sample_dir = DESKPILOT_SAMPLE_DIR;
    build.with_helpdesks = false;
    const auto built_at = Clock::now();
    auto components = BuildComponents(config, build);
    if (!components.ok()) Die(components.status());
    std::printf("# %zu chunks: components built (models loaded or trained, KB index built) in %.1f s\n", size,
                std::chrono::duration<double>(Clock::now() - built_at).count());
    Pipeline& pipeline = *(*components)->pipeline;

    std::vector<double> rates, cpu_rates;
    std::map<std::string, std::vector<double>> p50s, p99s;
    for (int pass = 0; pass < passes; ++pass) {
      std::map<std::string, std::vector<double>> stage_ms;
      const auto start = Clock::now();
      const double cpu_start = CpuSeconds();
      for (size_t i = 0; i < tickets.size(); ++i) {
        const double c0 = CpuSeconds();
        auto r = pipeline.Run(tickets[i], "bench-" + std::to_string(i));
        stage_ms["(one ticket, CPU time)"].push_back((CpuSeconds() - c0) * 1e3);
        if (!r.ok()) Die(r.status());
        double total = 0;
        for (const auto& [stage, seconds] : r->stage_seconds) {
          stage_ms[stage].push_back(seconds * 1e3);
          total += seconds * 1e3;
        }
        stage_ms["(all stages)"].push_back(total);
      }
      cpu_rates.push_back(static_cast<double>(tickets.size()) / (CpuSeconds() - cpu_start));
      rates.push_back(static_cast<double>(tickets.size()) /
                      std::chrono::duration<double>(Clock::now() - start).count());
      for (const auto& [stage, ms] : stage_ms) {
        p50s[stage].push_back(Percentile(ms, 0.5));
        p99s[stage].push_back(Percentile(ms, 0.99));
      }
    }
    std::printf("RESULT chunks=%zu tickets_per_s=%.1f tickets_per_cpu_s=%.1f", size, Percentile(rates, 0.5),
                Percentile(cpu_rates, 0.5));
    for (const auto& [stage, v] : p50s) {
      std::string key = stage == "(all stages)" ? "total" : stage[0] == '(' ? "ticket_cpu" : stage;
      std::printf(" %s_p50_ms=%.4f %s_p99_ms=%.4f", key.c_str(), Percentile(v, 0.5), key.c_str(),
                  Percentile(p99s[stage], 0.5));
    }
    std::printf("\n");
    std::printf("| %zu | %s wall, %s per CPU-second | | | |\n", size, Spread(rates).c_str(), Spread(cpu_rates).c_str());
    for (const auto& [stage, v] : p50s) {
      std::printf("| | | %s | %s | %s |\n", stage.c_str(), Spread(v).c_str(), Spread(p99s[stage]).c_str());
    }
    std::fflush(stdout);
  }
  return 0;
}
