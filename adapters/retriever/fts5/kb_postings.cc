#include "retriever/fts5/kb_postings.h"

#include <sqlite3.h>

#include <algorithm>
#include <cmath>

namespace deskpilot::kb {
namespace {

// The tokenizer arguments of kb_fts and kb_answered_fts (kb_index.cc creates them with
// tokenize = 'porter unicode61 remove_diacritics 2').
constexpr const char* kTokenizerName = "porter";
constexpr const char* kTokenizerArgs[] = {"unicode61", "remove_diacritics", "2"};

// The documented way to reach FTS5's C API from a connection: SELECT fts5(?1) with a
// pointer bound under the type "fts5_api_ptr".
fts5_api* Fts5Api(sqlite3* db) {
  fts5_api* api = nullptr;
  sqlite3_stmt* stmt = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, nullptr) == SQLITE_OK) {
    sqlite3_bind_pointer(stmt, 1, static_cast<void*>(&api), "fts5_api_ptr", nullptr);
    sqlite3_step(stmt);
  }
  sqlite3_finalize(stmt);
  return api;
}

}  // namespace

Result<std::unique_ptr<FtsTokenizer>> FtsTokenizer::Create(sqlite3* db) {
  fts5_api* api = Fts5Api(db);
  if (api == nullptr || api->iVersion < 2) return Status::Internal("kb: this SQLite has no usable FTS5 API");
  void* context = nullptr;
  auto tokenizer_api = std::make_unique<fts5_tokenizer>();
  if (api->xFindTokenizer(api, kTokenizerName, &context, tokenizer_api.get()) != SQLITE_OK) {
    return Status::Internal("kb: FTS5 tokenizer \"porter\" not found");
  }
  Fts5Tokenizer* tokenizer = nullptr;
  const char* args[std::size(kTokenizerArgs)];
  std::copy(std::begin(kTokenizerArgs), std::end(kTokenizerArgs), args);
  if (tokenizer_api->xCreate(context, args, static_cast<int>(std::size(args)), &tokenizer) != SQLITE_OK) {
    return Status::Internal("kb: cannot create the FTS5 porter tokenizer");
  }
  return std::unique_ptr<FtsTokenizer>(new FtsTokenizer(std::move(tokenizer_api), tokenizer));
}

FtsTokenizer::FtsTokenizer(std::unique_ptr<fts5_tokenizer> api, Fts5Tokenizer* tokenizer)
    : api_(std::move(api)), tokenizer_(tokenizer) {}

FtsTokenizer::~FtsTokenizer() { api_->xDelete(tokenizer_); }

void FtsTokenizer::Run(std::string_view text, bool query, void* ctx, void (*emit)(void*, std::string_view)) const {
  struct Sink {
    void* ctx;
    void (*emit)(void*, std::string_view);
  } sink{ctx, emit};
  api_->xTokenize(tokenizer_, &sink, query ? FTS5_TOKENIZE_QUERY : FTS5_TOKENIZE_DOCUMENT, text.data(),
                  static_cast<int>(text.size()),
                  [](void* p, int /*flags*/, const char* token, int n, int /*start*/, int /*end*/) {
                    auto* s = static_cast<Sink*>(p);
                    s->emit(s->ctx, std::string_view(token, static_cast<size_t>(n)));
                    return SQLITE_OK;
                  });
}

std::vector<std::string> FtsTokenizer::Tokens(std::string_view text, bool query) const {
  std::vector<std::string> out;
  Run(text, query, &out, [](void* p, std::string_view token) { static_cast<std::vector<std::string>*>(p)->emplace_back(token); });
  return out;
}

uint64_t TermTable::Hash(std::string_view s) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a: short keys, no setup cost
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  return h ^ (h >> 29);
}

int64_t TermTable::Find(std::string_view term) const {
  if (slots_.empty()) return -1;
  const uint64_t h = Hash(term);
  const size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const uint32_t slot = slots_[i];
    if (slot == 0) return -1;
    if (hashes_[slot - 1] == h && Term(slot - 1) == term) return slot - 1;
  }
}

uint32_t TermTable::FindOrAdd(std::string_view term) {
  if ((hashes_.size() + 1) * 2 > slots_.size()) Grow();  // load factor <= 1/2
  const uint64_t h = Hash(term);
  const size_t mask = slots_.size() - 1;
  size_t i = h & mask;
  for (;; i = (i + 1) & mask) {
    const uint32_t slot = slots_[i];
    if (slot == 0) break;
    if (hashes_[slot - 1] == h && Term(slot - 1) == term) return slot - 1;
  }
  const auto id = static_cast<uint32_t>(hashes_.size());
  slots_[i] = id + 1;
  hashes_.push_back(h);
  arena_.append(term);
  starts_.push_back(static_cast<uint32_t>(arena_.size()));
  return id;
}

void TermTable::Grow() {
  std::vector<uint32_t> slots(std::max<size_t>(1024, slots_.size() * 2), 0);
  const size_t mask = slots.size() - 1;
  for (uint32_t id = 0; id < hashes_.size(); ++id) {
    size_t i = hashes_[id] & mask;
    while (slots[i] != 0) i = (i + 1) & mask;
    slots[i] = id + 1;
  }
  slots_ = std::move(slots);
}

void PostingIndex::Add(const FtsTokenizer& tokenizer, const Row& row) {
  const auto row_number = static_cast<uint32_t>(row_rowid_.size());
  scratch_freq_.resize(postings_.size(), 0);  // Finish released it
  uint32_t length = 0;
  for (size_t c = 0; c < row.columns.size(); ++c) {
    const uint32_t weight = c < column_weights_.size() ? column_weights_[c] : 1;
    tokenizer.ForEachToken(row.columns[c], [&](std::string_view token) {
      ++length;
      const uint32_t id = term_ids_.FindOrAdd(token);
      if (id == postings_.size()) {
        postings_.emplace_back();
        scratch_freq_.push_back(0);
      }
      uint32_t& freq = scratch_freq_[id];
      if (freq == 0) scratch_terms_.push_back(id);
      freq += weight;
    });
  }
  for (uint32_t term : scratch_terms_) {
    Postings& p = postings_[term];
    p.rows.push_back(row_number);
    p.freqs.push_back(static_cast<uint16_t>(std::min<uint32_t>(scratch_freq_[term], UINT16_MAX)));
    scratch_freq_[term] = 0;
  }
  scratch_terms_.clear();
  row_rowid_.push_back(row.rowid);
  row_doc_.push_back(row.doc);
  row_len_.push_back(length);
  rowid_row_.emplace(row.rowid, row_number);
  total_tokens_ += length;
  UpdateAverage();
}

bool PostingIndex::Remove(const FtsTokenizer& tokenizer, int64_t rowid, const std::vector<std::string_view>& columns) {
  auto it = rowid_row_.find(rowid);
  if (it == rowid_row_.end()) return false;
  const uint32_t row = it->second;
  rowid_row_.erase(it);
  scratch_freq_.resize(postings_.size(), 0);
  for (std::string_view column : columns) {
    tokenizer.ForEachToken(column, [&](std::string_view token) {
      const int64_t id = term_ids_.Find(token);
      if (id < 0) return;  // cannot happen for the text the row was added with
      if (scratch_freq_[static_cast<size_t>(id)]++ == 0) scratch_terms_.push_back(static_cast<uint32_t>(id));
    });
  }
  // The row's posting sits at its row number's place in each sorted list. The erase moves
  // the list's tail: for a term in most rows that is the cost of a removal.
  for (uint32_t term : scratch_terms_) {
    Postings& p = postings_[term];
    auto pos = std::lower_bound(p.rows.begin(), p.rows.end(), row);
    if (pos != p.rows.end() && *pos == row) {
      p.freqs.erase(p.freqs.begin() + (pos - p.rows.begin()));
      p.rows.erase(pos);
    }
    scratch_freq_[term] = 0;
  }
  scratch_terms_.clear();
  total_tokens_ -= row_len_[row];
  row_len_[row] = 0;
  UpdateAverage();
  return true;
}

void PostingIndex::UpdateAverage() {
  // FTS5: avgdl = xColumnTotalSize(-1) / xRowCount; the same integers give the same double.
  avgdl_ = rows() == 0 ? 0.0 : static_cast<double>(total_tokens_) / static_cast<double>(rows());
}

void PostingIndex::Finish() {
  for (Postings& p : postings_) {
    p.rows.shrink_to_fit();
    p.freqs.shrink_to_fit();
  }
  scratch_freq_ = {};
  scratch_terms_ = {};
}

void PostingIndex::MaybeCompact() {
  const size_t removed = row_slots() - rows();
  if (removed * 4 <= row_slots()) return;
  constexpr uint32_t kGone = UINT32_MAX;
  std::vector<uint32_t> renumber(row_slots(), kGone);
  uint32_t next = 0;
  for (const auto& [rowid, row] : rowid_row_) renumber[row] = 0;
  for (uint32_t& n : renumber) {
    if (n != kGone) n = next++;
  }
  for (Postings& p : postings_) {
    for (uint32_t& row : p.rows) row = renumber[row];  // removed rows have no postings left
  }
  std::vector<int64_t> rowids(next);
  std::vector<uint32_t> docs(next), lens(next);
  for (uint32_t row = 0; row < renumber.size(); ++row) {
    if (renumber[row] == kGone) continue;
    rowids[renumber[row]] = row_rowid_[row];
    docs[renumber[row]] = row_doc_[row];
    lens[renumber[row]] = row_len_[row];
  }
  row_rowid_ = std::move(rowids);
  row_doc_ = std::move(docs);
  row_len_ = std::move(lens);
  for (auto& [rowid, row] : rowid_row_) row = renumber[row];
}

const PostingIndex::Postings* PostingIndex::Find(std::string_view token) const {
  const int64_t id = term_ids_.Find(token);
  // A term whose rows were all removed is absent, as in a fresh build.
  return id < 0 || postings_[static_cast<size_t>(id)].rows.empty() ? nullptr : &postings_[static_cast<size_t>(id)];
}

int64_t PostingIndex::FindRow(int64_t rowid) const {
  auto it = rowid_row_.find(rowid);
  return it == rowid_row_.end() ? -1 : it->second;
}

double PostingIndex::Idf(int64_t df) const {
  const auto n = static_cast<double>(rows());
  const double idf = std::log((n - static_cast<double>(df) + 0.5) / (static_cast<double>(df) + 0.5));
  return idf <= 0.0 ? 1e-6 : idf;
}

double PostingIndex::Bm25(double idf, uint32_t row, uint16_t freq) const {
  // Written as fts5_aux.c's fts5Bm25Function writes it (same operations, same order),
  // so the result is the same double.
  const auto f = static_cast<double>(freq);
  const auto d = static_cast<double>(row_len_[row]);
  return idf * ((f * (kK1 + 1.0)) / (f + kK1 * (1 - kB + kB * d / avgdl_)));
}

}  // namespace deskpilot::kb
