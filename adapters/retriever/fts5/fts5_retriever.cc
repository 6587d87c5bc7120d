#include "retriever/fts5/fts5_retriever.h"

#include <algorithm>
#include <filesystem>
#include <utility>

#include <spdlog/spdlog.h>

namespace deskpilot {

Fts5Retriever::Fts5Retriever(std::unique_ptr<KbIndex> index, Fts5RetrieverOptions options)
    : index_(std::move(index)), options_(options) {}

Result<std::vector<Passage>> Fts5Retriever::Retrieve(const std::string& query, int k) {
  const int limit = k <= 0 ? options_.k : std::min(k, options_.k);
  DP_ASSIGN_OR_RETURN(std::vector<Passage> passages, index_->Search(query, limit));
  std::erase_if(passages, [this](const Passage& p) { return p.score < options_.min_relevance; });
  return passages;
}

Result<std::unique_ptr<Retriever>> MakeFts5Retriever(AdapterContext& ctx) {
  const nlohmann::json empty = nlohmann::json::object();
  ConfigSection defaults(empty, "retriever");
  ConfigSection& section = ctx.section != nullptr ? *ctx.section : defaults;
  section.String("type", "fts5");
  Fts5RetrieverOptions options;
  options.k = static_cast<int>(section.Int("k", options.k, 1, 100));
  options.min_relevance = section.Double("min_relevance", options.min_relevance);
  const bool sample_kb = section.Bool("sample_kb", true);
  // ConfigSection::Double refuses nan and inf; the check is still written so that a
  // value that is not provably in range fails.
  if (!(options.min_relevance >= 0)) {
    return Status::InvalidArgument(section.path() + ".min_relevance: must be >= 0");
  }
  if (ctx.db_path.empty()) return Status::InvalidArgument("retriever fts5: no database path");

  DP_ASSIGN_OR_RETURN(std::unique_ptr<KbIndex> index, KbIndex::Open(ctx.db_path));
  if (sample_kb) {
    DP_ASSIGN_OR_RETURN(int64_t documents, index->CountDocuments());
    const std::filesystem::path sample = std::filesystem::path(ctx.sample_dir) / "kb";
    std::error_code ec;
    if (documents == 0 && !ctx.sample_dir.empty() && std::filesystem::is_directory(sample, ec)) {
      DP_ASSIGN_OR_RETURN(IngestStats stats, index->IngestPaths({sample.string()}));
      spdlog::info("kb: ingested sample knowledge base from {} ({} documents, {} chunks)", sample.string(),
                   stats.documents, stats.chunks);
    } else if (documents == 0) {
      spdlog::warn("kb: knowledge base is empty and no sample KB at {}; drafts will not be grounded",
                   sample.string());
    }
  }
  // Build the in-memory search index now, so the first ticket does not wait for it.
  DP_RETURN_IF_ERROR(index->Preload());
  return std::unique_ptr<Retriever>(std::make_unique<Fts5Retriever>(std::move(index), options));
}

}  // namespace deskpilot
