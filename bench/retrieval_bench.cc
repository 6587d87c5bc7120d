// Retrieval at 10k and 100k chunks: deskpilot's fts5 retriever (KbIndex::Search) against
// the bare baseline measured in the same run, stock FTS5: the query's words quoted and
// OR'ed, ranked by bm25(), top 5.
//
// usage: deskpilot_retrieval_bench [--sizes 10000,100000] [--queries 200] [--passes 5]
//                                  [--updates 7] [--dir /tmp/deskpilot-bench-kb] [--stackfaq DIR]
//
// For each size it builds (or reuses, under --dir) a KB of that many synthetic one-chunk
// articles (bench/kb_synth.h) plus, when the StackFAQ data is there, its 125 real
// articles; then times every ticket-shaped query once against the baseline and
// --passes times against deskpilot. Printed: p50/p99 per implementation (deskpilot's as
// the median [min-max] of its passes), deskpilot/baseline p50 ratio, recall@5 and MRR@5
// of the query's source article (synthetic) or labelled thread (StackFAQ), overlap with
// the baseline's top 5, and the first search (which builds the in-memory index). Then
// --updates one-article syncs: another KbIndex (as `deskpilot kb sync` in another
// process) re-ingests one changed article, and the searching KbIndex's Preload brings its
// in-memory index up to date from the change log; both are timed (median [min-max]), and
// the changed articles are restored afterwards so the KB file stays reusable. Memory
// is measured on `deskpilot serve` instead (bench/memory.sh): in this process the
// generator's freed memory is reused by the index, which hides its cost.
#include <sqlite3.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "kb_synth.h"
#include "retriever/fts5/kb_index.h"
#include "retriever/fts5/kb_text.h"

namespace deskpilot::bench {
namespace {

using Clock = std::chrono::steady_clock;

double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// This thread's CPU time in ms. Wall-clock percentiles on a machine shared by several
// builds include the times the scheduler ran someone else mid-query; CPU time does not.
double CpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) / 1e6;
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

struct LabeledQuery {
  std::string text;
  std::vector<std::string> relevant;
};

struct Quality {
  int n = 0;
  double recall5 = 0, mrr5 = 0;
  void Add(const std::vector<std::string>& ranked, const std::vector<std::string>& relevant) {
    ++n;
    for (size_t i = 0; i < ranked.size() && i < 5; ++i) {
      if (std::find(relevant.begin(), relevant.end(), ranked[i]) != relevant.end()) {
        recall5 += 1.0;
        mrr5 += 1.0 / static_cast<double>(i + 1);
        break;
      }
    }
  }
  double Recall() const { return n ? recall5 / n : 0; }
  double Mrr() const { return n ? mrr5 / n : 0; }
};

// The baseline: what a team would write with stock FTS5.
class Fts5Baseline {
 public:
  explicit Fts5Baseline(const std::string& db_path) {
    if (sqlite3_open_v2(db_path.c_str(), &db_, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) std::exit(1);
    sqlite3_stmt* s = nullptr;
    sqlite3_prepare_v2(db_, "SELECT seq, doc_id FROM kb_chunks", -1, &s, nullptr);
    while (sqlite3_step(s) == SQLITE_ROW) {
      doc_of_[sqlite3_column_int64(s, 0)] = reinterpret_cast<const char*>(sqlite3_column_text(s, 1));
    }
    sqlite3_finalize(s);
    sqlite3_prepare_v2(db_, "SELECT rowid FROM kb_fts WHERE kb_fts MATCH ?1 ORDER BY bm25(kb_fts) LIMIT 10", -1,
                       &query_, nullptr);
  }
  ~Fts5Baseline() {
    sqlite3_finalize(query_);
    sqlite3_close(db_);
  }
  // Top 5 distinct documents of the OR of the query's words (stop words dropped, as
  // every FTS5 integration does; the chunks are over-fetched to 10 for distinct docs).
  std::vector<std::string> Search(const std::string& text) {
    std::set<std::string> seen;
    std::string match;
    for (const std::string& t : kb::Tokenize(text)) {
      if (!seen.insert(t).second) continue;
      match += (match.empty() ? "\"" : " OR \"") + t + "\"";
    }
    std::vector<std::string> docs;
    if (match.empty()) return docs;
    sqlite3_bind_text(query_, 1, match.c_str(), -1, SQLITE_TRANSIENT);
    while (sqlite3_step(query_) == SQLITE_ROW && docs.size() < 5) {
      const std::string& doc = doc_of_[sqlite3_column_int64(query_, 0)];
      if (std::find(docs.begin(), docs.end(), doc) == docs.end()) docs.push_back(doc);
    }
    sqlite3_reset(query_);
    return docs;
  }

 private:
  sqlite3* db_ = nullptr;
  sqlite3_stmt* query_ = nullptr;
  std::map<int64_t, std::string> doc_of_;
};

std::vector<std::string> DocIds(const std::vector<Passage>& passages) {
  std::vector<std::string> ids;
  for (const Passage& p : passages) ids.push_back(p.doc_id);
  return ids;
}

void Die(const Status& s) {
  std::fprintf(stderr, "retrieval_bench: %s\n", s.ToString().c_str());
  std::exit(1);
}

struct Args {
  std::vector<size_t> sizes = {10000, 100000};
  size_t queries = 200;
  int passes = 5;
  int updates = 7;
  std::string dir = "/tmp/deskpilot-bench-kb";
  std::string stackfaq = DESKPILOT_SHARED_DATA_DIR "/stackfaq_retrieval";
};

Args Parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string key = argv[i], value = argv[i + 1];
    if (key == "--sizes") {
      a.sizes.clear();
      std::stringstream ss(value);
      for (std::string part; std::getline(ss, part, ',');) a.sizes.push_back(std::stoul(part));
    } else if (key == "--queries") {
      a.queries = std::stoul(value);
    } else if (key == "--passes") {
      a.passes = std::max(1, std::stoi(value));
    } else if (key == "--updates") {
      a.updates = std::max(1, std::stoi(value));
    } else if (key == "--dir") {
      a.dir = value;
    } else if (key == "--stackfaq") {
      a.stackfaq = value;
    } else {
      std::fprintf(stderr, "usage: %s [--sizes N,N] [--queries N] [--passes N] [--updates N] [--dir DIR] [--stackfaq DIR]\n",
                   argv[0]);
      std::exit(2);
    }
  }
  return a;
}

// One-article syncs against `index` (already built): see the file comment.
void Updates(const std::string& db, size_t size, KbIndex& index, const std::vector<KbDocument>& originals,
             double build_cpu_ms) {
  auto writer = KbIndex::Open(db);
  if (!writer.ok()) Die(writer.status());
  const KbIndex::IndexStats before = index.index_stats();
  std::vector<double> ingest_ms, update_ms, update_cpu;
  for (const KbDocument& original : originals) {
    KbDocument changed = original;
    changed.text += "Updated: this article was revised.\n";
    auto t0 = Clock::now();
    auto stats = (*writer)->IngestDocuments({changed});
    ingest_ms.push_back(Ms(Clock::now() - t0));
    if (!stats.ok()) Die(stats.status());
    if (stats->documents != 1) Die(Status::Internal("the update run did not change " + original.doc_id));
    t0 = Clock::now();
    const double c0 = CpuMs();
    if (Status s = index.Preload(); !s.ok()) Die(s);
    update_cpu.push_back(CpuMs() - c0);
    update_ms.push_back(Ms(Clock::now() - t0));
  }
  const KbIndex::IndexStats after = index.index_stats();
  // The figure is only the incremental path's if no update fell back to a rebuild.
  if (after.full_builds != before.full_builds ||
      after.updates - before.updates != static_cast<int64_t>(originals.size())) {
    Die(Status::Internal("an update rebuilt the index instead of applying the change log"));
  }
  if (auto restored = (*writer)->IngestDocuments(originals); !restored.ok()) Die(restored.status());
  if (Status s = index.Preload(); !s.ok()) Die(s);
  std::printf("RESULT_UPDATE chunks=%zu runs=%zu writer_ingest_ms=%s index_update_ms=%s index_update_cpu_ms=%s "
              "first_build_cpu_ms=%.0f\n",
              size, originals.size(), Spread(ingest_ms).c_str(), Spread(update_ms).c_str(), Spread(update_cpu).c_str(),
              build_cpu_ms);
  std::fflush(stdout);
}

void RunSize(const Args& args, size_t size, bool stackfaq, const std::vector<LabeledQuery>& faq_queries) {
  SyntheticKb gen;
  std::vector<KbDocument> docs;
  docs.reserve(size);
  for (size_t i = 0; i < size; ++i) docs.push_back(gen.Article(i));
  std::vector<LabeledQuery> tickets;
  for (size_t i = 0; i < args.queries && size > 0; ++i) {
    SyntheticKb::Query q = gen.Ticket(docs[gen.Uniform(0, size - 1)]);
    tickets.push_back({q.text, {q.target}});
  }

  std::filesystem::create_directories(args.dir);
  const std::string db = args.dir + "/kb-" + std::to_string(size) + (stackfaq ? "-stackfaq" : "") + ".db";
  if (Status s = EnsureKb(db, docs, stackfaq ? std::vector<std::string>{args.stackfaq + "/corpus.jsonl"}
                                            : std::vector<std::string>{},
                          stackfaq ? 125 : 0);
      !s.ok()) {
    Die(s);
  }
  // The articles the update runs change (spread over the KB), kept to restore them.
  std::vector<KbDocument> originals;
  for (int u = 0; u < args.updates && size > 0; ++u) originals.push_back(docs[(static_cast<size_t>(u) * 7919) % size]);
  docs = {};  // so the RSS figures below are the index's, not the generator's
  sqlite3* raw = nullptr;
  sqlite3_open(db.c_str(), &raw);
  // As the FTS5 figures in ../shared/docs/performance.md were taken: merged segments.
  sqlite3_exec(raw, "INSERT INTO kb_fts(kb_fts) VALUES('optimize'); PRAGMA wal_checkpoint(TRUNCATE);", nullptr,
               nullptr, nullptr);
  sqlite3_close(raw);

  auto opened = KbIndex::Open(db);
  if (!opened.ok()) Die(opened.status());
  KbIndex& index = **opened;
  Fts5Baseline baseline(db);

  auto t0 = Clock::now();
  const double first_c0 = CpuMs();
  auto first = index.Search("warm up the index", 5);
  const double first_cpu_ms = CpuMs() - first_c0;
  const double first_ms = Ms(Clock::now() - t0);
  if (!first.ok()) Die(first.status());

  struct Set {
    const char* name;
    const std::vector<LabeledQuery>* queries;
  };
  std::vector<Set> sets;
  if (!tickets.empty()) sets.push_back({"tickets", &tickets});
  if (stackfaq) sets.push_back({"stackfaq", &faq_queries});
  for (const Set& set : sets) {
    std::vector<double> base_ms, base_cpu;
    Quality base_q, dp_q;
    double overlap = 0;
    std::vector<std::vector<std::string>> base_top;
    for (const LabeledQuery& q : *set.queries) {
      t0 = Clock::now();
      const double c0 = CpuMs();
      base_top.push_back(baseline.Search(q.text));
      base_cpu.push_back(CpuMs() - c0);
      base_ms.push_back(Ms(Clock::now() - t0));
      base_q.Add(base_top.back(), q.relevant);
    }
    std::vector<double> p50s, p99s, cpu_p50s, cpu_p99s, ratios;
    for (int pass = 0; pass < args.passes; ++pass) {
      std::vector<double> ms, cpu;
      for (size_t i = 0; i < set.queries->size(); ++i) {
        const LabeledQuery& q = (*set.queries)[i];
        t0 = Clock::now();
        const double c0 = CpuMs();
        auto r = index.Search(q.text, 5);
        cpu.push_back(CpuMs() - c0);
        ms.push_back(Ms(Clock::now() - t0));
        if (!r.ok()) Die(r.status());
        if (pass == 0) {
          const std::vector<std::string> ids = DocIds(*r);
          dp_q.Add(ids, q.relevant);
          const auto& b = base_top[i];
          size_t common = 0;
          for (const std::string& id : ids) common += std::count(b.begin(), b.end(), id);
          overlap += b.empty() ? 1.0 : static_cast<double>(common) / static_cast<double>(b.size());
        }
      }
      p50s.push_back(Percentile(ms, 0.5));
      p99s.push_back(Percentile(ms, 0.99));
      cpu_p50s.push_back(Percentile(cpu, 0.5));
      cpu_p99s.push_back(Percentile(cpu, 0.99));
      ratios.push_back(Percentile(ms, 0.5) / Percentile(base_ms, 0.5));
    }
    std::printf(
        "RESULT chunks=%zu set=%s n=%zu baseline_p50_ms=%.3f baseline_p99_ms=%.3f baseline_recall5=%.3f "
        "baseline_mrr5=%.3f deskpilot_p50_ms=%.4f deskpilot_p99_ms=%.4f deskpilot_recall5=%.3f deskpilot_mrr5=%.3f "
        "p50_ratio=%.5f overlap5=%.3f first_search_ms=%.1f "
        "baseline_cpu_p50_ms=%.3f baseline_cpu_p99_ms=%.3f deskpilot_cpu_p50_ms=%.4f deskpilot_cpu_p99_ms=%.4f\n",
        size, set.name, set.queries->size(), Percentile(base_ms, 0.5), Percentile(base_ms, 0.99), base_q.Recall(),
        base_q.Mrr(), Percentile(p50s, 0.5), Percentile(p99s, 0.5), dp_q.Recall(), dp_q.Mrr(),
        Percentile(ratios, 0.5), overlap / static_cast<double>(set.queries->size()), first_ms,
        Percentile(base_cpu, 0.5), Percentile(base_cpu, 0.99), Percentile(cpu_p50s, 0.5), Percentile(cpu_p99s, 0.5));
    std::printf("| %zu | %s | %.3g / %.3g (CPU %.3g / %.3g) | %.3f / %.3f | %s / %s (CPU %s / %s) | %.3f / %.3f | %.4f | %.2f |\n",
                size, set.name, Percentile(base_ms, 0.5), Percentile(base_ms, 0.99), Percentile(base_cpu, 0.5),
                Percentile(base_cpu, 0.99), base_q.Recall(), base_q.Mrr(), Spread(p50s).c_str(), Spread(p99s).c_str(),
                Spread(cpu_p50s).c_str(), Spread(cpu_p99s).c_str(), dp_q.Recall(), dp_q.Mrr(),
                Percentile(ratios, 0.5), overlap / static_cast<double>(set.queries->size()));
    std::fflush(stdout);
  }
  if (!originals.empty()) Updates(db, size, index, originals, first_cpu_ms);
}

}  // namespace
}  // namespace deskpilot::bench

int main(int argc, char** argv) {
  using namespace deskpilot;
  const bench::Args args = bench::Parse(argc, argv);
  std::vector<bench::LabeledQuery> faq;
  const bool stackfaq = std::filesystem::exists(args.stackfaq + "/corpus.jsonl");
  if (stackfaq) {
    auto questions = ReadLabeledQuestions(args.stackfaq + "/queries_train.jsonl");
    if (!questions.ok()) bench::Die(questions.status());
    for (AnsweredQuestion& q : *questions) faq.push_back({std::move(q.text), std::move(q.doc_ids)});
  } else {
    std::printf("# StackFAQ not found under %s: synthetic queries only\n", args.stackfaq.c_str());
  }
  std::printf("# %d queries per set, deskpilot %d passes (p50/p99: median [min–max] of passes), baseline 1 pass\n",
              static_cast<int>(args.queries), args.passes);
  std::printf("| chunks | queries | FTS5 OR p50 / p99 ms | FTS5 OR recall@5 / MRR@5 | deskpilot p50 / p99 ms | "
              "deskpilot recall@5 / MRR@5 | p50 deskpilot/FTS5 | top-5 overlap |\n|---|---|---|---|---|---|---|---|\n");
  for (size_t size : args.sizes) bench::RunSize(args, size, stackfaq, faq);
  return 0;
}
