// Micro-benchmarks of the per-ticket CPU stages that need no model or database:
// redaction, normalization and the policy decision. Each pairs with a bare baseline
// doing the minimum comparable work (a copy / a scan of the same text), so results
// can be read as ratios on a noisy shared machine.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <string>

#include "deskpilot/redact.h"
#include "service/normalize.h"
#include "service/policy.h"

namespace deskpilot {
namespace {

std::string TicketText() {
  std::string t =
      "Hi team,\nI ordered the Alpine 40L backpack (order 100234) last Tuesday and it still has not "
      "arrived. The tracking number 1Z999AA10123456784 has not moved since Friday. Could you check? "
      "You can reach me at ann.lee@example.com or +1 (415) 555-0100. I paid with 4111 1111 1111 1111.\n";
  std::string out;
  while (out.size() < 2000) out += t;
  return out + "\nBest regards,\nAnn\n\nOn Mon, Support <help@shop.example> wrote:\n> Thanks for your order\n";
}

void BM_BaselineCopyAndScan(benchmark::State& state) {
  const std::string text = TicketText();
  for (auto _ : state) {
    std::string copy = text;
    benchmark::DoNotOptimize(std::count(copy.begin(), copy.end(), '@'));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_BaselineCopyAndScan);

void BM_Redact(benchmark::State& state) {
  const std::string text = TicketText();
  Redactor r;
  for (auto _ : state) {
    RedactionMap map;
    benchmark::DoNotOptimize(r.Redact(text, &map));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_Redact);

void BM_CleanMessage(benchmark::State& state) {
  const std::string text = TicketText();
  for (auto _ : state) benchmark::DoNotOptimize(CleanMessage(text));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_CleanMessage);

void BM_PolicyDecideAndPlan(benchmark::State& state) {
  PolicyConfig cfg;
  cfg.mode = "auto";
  cfg.categories["delivery"] = "auto_reply";
  Policy policy(cfg, nullptr);
  Triage triage;
  triage.predictions["category"] = {"delivery", 0.95, {}, false};
  triage.predictions["sentiment"] = {"neutral", 0.9, {}, false};
  Draft draft{"Orders ship in two days.", {"shipping"}, true, "bench", {}, ""};
  Ticket ticket;
  Passage p;
  p.doc_id = "shipping";
  p.text = "Orders ship in two days.";
  const std::vector<Passage> passages = {p};
  for (auto _ : state) {
    Decision d = policy.Decide(ticket, triage, passages, draft);
    benchmark::DoNotOptimize(policy.Plan(ticket, triage, passages, draft, d, "k"));
  }
}
BENCHMARK(BM_PolicyDecideAndPlan);

}  // namespace
}  // namespace deskpilot

BENCHMARK_MAIN();
