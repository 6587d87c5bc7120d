// The "fts5" retriever: BM25 over the knowledge base in deskpilot's SQLite file.
//
// Thread-safe: Retrieve may be called from every worker at once (KbIndex serialises
// access to its connection; a search over a few thousand chunks takes well under a
// millisecond, so one connection is not the bottleneck next to model calls).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "deskpilot/registry.h"
#include "deskpilot/retriever.h"
#include "retriever/fts5/kb_index.h"

namespace deskpilot {

struct Fts5RetrieverOptions {
  int k = 5;  // upper bound on passages per query
  // Passages whose relevance (KbIndex::Search: the share of the query's information
  // the document covers) is below this are dropped, so the drafter can honestly say it
  // found nothing. Relative, so it does not drift with KB size. See README.md for how
  // the default was chosen.
  double min_relevance = 0.05;
};

class Fts5Retriever : public Retriever {
 public:
  Fts5Retriever(std::unique_ptr<KbIndex> index, Fts5RetrieverOptions options);

  // Retriever:
  // At most min(k, options.k) passages (options.k when k <= 0), best first, each the
  // best chunk of a distinct document with score >= options.min_relevance.
  Result<std::vector<Passage>> Retrieve(const std::string& query, int k) override;

 private:
  std::unique_ptr<KbIndex> index_;
  const Fts5RetrieverOptions options_;
};

// Registry factory. Reads `type`, `k`, `min_relevance` and `sample_kb` from the section (a
// null section means all defaults), opens the KB on ctx.db_path and, when the KB is
// empty and sample_kb is on, ingests <ctx.sample_dir>/kb.
Result<std::unique_ptr<Retriever>> MakeFts5Retriever(AdapterContext& ctx);

}  // namespace deskpilot
