// `deskpilot kb ingest|sync|search|eval`: fill the knowledge base from files or from the
// help desk's own articles and solved tickets, query it the way the fts5 retriever does,
// and measure its ranking on labelled queries. All work on the same SQLite file as a
// running `serve`.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include <ctime>
#include <map>
#include <set>

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "deskpilot/config.h"
#include "deskpilot/json_text.h"
#include "deskpilot/redact.h"
#include "deskpilot/rfc3339.h"
#include "deskpilot/registry.h"
#include "deskpilot/store.h"
#include "deskpilot/text.h"
#include "retriever/fts5/kb_eval.h"
#include "retriever/fts5/kb_index.h"
#include "retriever/fts5/kb_text.h"
#include "service/retention.h"
#include "store/sqlite_store.h"

namespace deskpilot::cli {
namespace {

constexpr char kKbUsage[] =
    "usage: deskpilot kb <subcommand> (--config FILE | --db PATH) [options]\n"
    "\n"
    "subcommands:\n"
    "  ingest   add or update documents: PATH... (.jsonl, .md, .markdown, .html, .htm or directories);\n"
    "           --answered FILE.jsonl adds past questions as evidence for the articles that answered them\n"
    "  remove   take documents out by doc_id: DOC_ID... (an article deleted from the files ingested)\n"
    "  sync     pull the help desk's published articles (--source NAME, incremental) and, with\n"
    "           --solved-since DATE, its solved tickets as resolved-ticket passages (PII redacted)\n"
    "  search   show the ranked passages for QUERY... (--k N, --json)\n"
    "  eval     recall@1/5/10, MRR and nDCG@10 on labelled queries (--queries F.jsonl, --k N, --json)\n"
    "\n"
    "deskpilot kb <subcommand> --help for its options\n";

void AddDbOptions(cxxopts::Options& opts) {
  opts.add_options()
      ("c,config", "config file (TOML); the database is its storage.path", cxxopts::value<std::string>())
      ("db", "SQLite database file (instead of --config)", cxxopts::value<std::string>())
      ("args", "positional arguments", cxxopts::value<std::vector<std::string>>())
      ("h,help", "show help");
  opts.parse_positional({"args"});
}

// cxxopts has no one-letter long options, but "--k N" is the documented spelling:
// rewrite it to the equivalent "--top".
std::vector<std::string> NormalizeArgs(int argc, char** argv) {
  std::vector<std::string> args(argv, argv + argc);
  for (size_t i = 1; i < args.size(); ++i) {
    if (args[i] == "--") break;
    if (args[i] == "--k") args[i] = "--top";
    if (args[i].starts_with("--k=")) args[i] = "--top=" + args[i].substr(4);
  }
  return args;
}

// Parses argv. Returns nullopt with *exit_code set when the command is already finished:
// --help was printed (0) or the arguments were wrong (2).
std::optional<cxxopts::ParseResult> Parse(cxxopts::Options& opts, const std::string& cmd, int argc,
                                          char** argv, int* exit_code) {
  std::vector<std::string> normalized = NormalizeArgs(argc, argv);
  std::vector<char*> pointers;
  for (std::string& a : normalized) pointers.push_back(a.data());
  try {
    cxxopts::ParseResult args = opts.parse(static_cast<int>(pointers.size()), pointers.data());
    if (args.count("help") > 0) {
      std::cout << opts.help();
      *exit_code = kExitOk;
      return std::nullopt;
    }
    return args;
  } catch (const std::exception& e) {  // cxxopts reports bad options by throwing
    *exit_code = UsageError(cmd, ArgumentError(e, argc, argv) + " (see --help)");
    return std::nullopt;
  }
}

// The database path from --db or the config's storage.path; nullopt (with the usage
// error already printed into *exit_code) when neither or both are given.
std::optional<std::string> DbPath(const std::string& cmd, const cxxopts::ParseResult& args, int* exit_code) {
  const bool has_config = args.count("config") > 0;
  const bool has_db = args.count("db") > 0;
  if (has_config == has_db) {
    *exit_code = UsageError(cmd, "give exactly one of --config FILE or --db PATH");
    return std::nullopt;
  }
  if (has_db) {
    // SQLite takes "" as a private temporary database: everything written would be lost.
    if (args["db"].as<std::string>().empty()) {
      *exit_code = UsageError(cmd, "--db must not be empty");
      return std::nullopt;
    }
    return args["db"].as<std::string>();
  }
  Result<Config> config = LoadConfig(args["config"].as<std::string>());
  if (!config.ok()) {
    *exit_code = UsageError(cmd, config.status().message());
    return std::nullopt;
  }
  return config->storage.path;
}

std::vector<std::string> Positional(const cxxopts::ParseResult& args) {
  return args.count("args") > 0 ? args["args"].as<std::vector<std::string>>() : std::vector<std::string>{};
}

// KbIndex::Open adds its tables to any database it is given: the database of a newer
// deskpilot is refused first, and left as it is. Returns an exit code: 2 for such a
// database (the wrong input for this binary), 1 when it cannot be read.
int RefuseNewerDatabase(const std::string& cmd, const std::string& db) {
  Status newer = RefuseNewerStore(db);
  if (newer.ok()) return kExitOk;
  if (newer.code() == Code::kInvalidArgument) return UsageError(cmd, db + ": " + newer.message());
  return RuntimeError(cmd, "open " + db + ": " + newer.ToString());
}

int KbIngest(const std::string& cmd, int argc, char** argv) {
  cxxopts::Options opts(cmd, "Add or update knowledge-base documents. Unchanged documents are skipped; "
                             "changed ones are re-chunked.");
  opts.custom_help("(--config FILE | --db PATH) [options]");
  opts.positional_help("[PATH...]");
  AddDbOptions(opts);
  opts.add_options()
      ("answered", "JSONL of past questions ({text, relevant_doc_ids}) added as evidence for the articles "
                   "that answered them (after PATH... is ingested)", cxxopts::value<std::string>());
  int exit_code = kExitOk;
  auto args = Parse(opts, cmd, argc, argv, &exit_code);
  if (!args) return exit_code;
  std::optional<std::string> db = DbPath(cmd, *args, &exit_code);
  if (!db) return exit_code;
  const std::vector<std::string> paths = Positional(*args);
  const bool has_answered = args->count("answered") > 0;
  if (paths.empty() && !has_answered) return UsageError(cmd, "no PATH or --answered FILE given");
  std::vector<std::string> inputs = paths;
  if (has_answered) inputs.push_back((*args)["answered"].as<std::string>());
  for (const std::string& p : inputs) {
    std::error_code ec;
    if (!std::filesystem::exists(p, ec)) return UsageError(cmd, "no such file or directory: " + p);
  }
  // A malformed or unsupported input file is the caller's to fix, like a bad flag.
  auto fail = [&](const Status& s) {
    return s.code() == Code::kInvalidArgument ? UsageError(cmd, s.message()) : RuntimeError(cmd, s.ToString());
  };
  // Every input is read and checked before the database is opened (which creates it), so
  // a bad file leaves no new empty database behind; documents and questions are then
  // written in one transaction, so a question naming a doc_id that is neither in the KB
  // nor among PATH... leaves the database as it was.
  Result<std::vector<KbDocument>> docs = ReadKbPaths(paths);
  if (!docs.ok()) return fail(docs.status());
  std::vector<AnsweredQuestion> questions;
  const std::string answered_path = has_answered ? (*args)["answered"].as<std::string>() : "";
  if (has_answered) {
    Result<std::vector<AnsweredQuestion>> read = ReadLabeledQuestions(answered_path);
    if (!read.ok()) return fail(read.status());
    questions = std::move(read).value();
  }
  if (int rc = RefuseNewerDatabase(cmd, *db); rc != kExitOk) return rc;
  Result<std::unique_ptr<KbIndex>> index = KbIndex::Open(*db);
  if (!index.ok()) return RuntimeError(cmd, "open " + *db + ": " + index.status().ToString());
  Result<IngestResult> result = (*index)->Ingest(*docs, questions, answered_path);
  if (!result.ok()) return fail(result.status());
  if (!paths.empty()) {
    std::cout << "documents: " << result->documents.documents << "\nchunks: " << result->documents.chunks
              << "\nunchanged: " << result->documents.unchanged << "\n";
  }
  if (has_answered) {
    std::cout << "answered questions added: " << result->answered.added
              << "\nanswered questions unchanged: " << result->answered.unchanged << "\n";
  }
  return kExitOk;
}

// `kb ingest` only adds and updates, so an article deleted from the files would stay
// searchable (and quotable) for good: this is the way to take one out.
int KbRemove(const std::string& cmd, int argc, char** argv) {
  cxxopts::Options opts(cmd, "Remove documents (with their chunks and answered questions) from the knowledge base "
                             "by doc_id. A running serve stops finding them at its next search.");
  opts.custom_help("(--config FILE | --db PATH)");
  opts.positional_help("DOC_ID...");
  AddDbOptions(opts);
  int exit_code = kExitOk;
  auto args = Parse(opts, cmd, argc, argv, &exit_code);
  if (!args) return exit_code;
  std::optional<std::string> db = DbPath(cmd, *args, &exit_code);
  if (!db) return exit_code;
  const std::vector<std::string> ids = Positional(*args);
  if (ids.empty()) return UsageError(cmd, "no DOC_ID given");
  // Opening would create an empty database, and every id would then be "unknown".
  std::error_code ec;
  if (!std::filesystem::is_regular_file(*db, ec)) return UsageError(cmd, "no database at '" + *db + "'");
  if (int rc = RefuseNewerDatabase(cmd, *db); rc != kExitOk) return rc;
  Result<std::unique_ptr<KbIndex>> index = KbIndex::Open(*db);
  if (!index.ok()) return RuntimeError(cmd, "open " + *db + ": " + index.status().ToString());
  // A mistyped id is refused before anything is removed, so the command is all or nothing.
  for (const std::string& id : ids) {
    Result<bool> known = (*index)->HasDocument(id);
    if (!known.ok()) return RuntimeError(cmd, known.status().ToString());
    if (!*known) return UsageError(cmd, "no document \"" + id + "\" in the knowledge base (nothing was removed)");
  }
  Result<int> removed = (*index)->RemoveDocuments(ids);
  if (!removed.ok()) return RuntimeError(cmd, removed.status().ToString());
  std::cout << "documents removed: " << *removed << "\n";
  return kExitOk;
}

// How far back each incremental listing reaches before the previous sync's start: an
// article saved while that listing ran may carry an update time just before it.
constexpr std::chrono::seconds kSyncOverlap{60};

using SysClock = std::chrono::system_clock;

int64_t UnixSeconds(SysClock::time_point t) {
  return std::chrono::duration_cast<std::chrono::seconds>(t.time_since_epoch()).count();
}

// Vendor errors: bad credentials or a refusal are runtime failures the operator fixes in
// the help desk; a help desk without the capability, or an argument the adapter refuses
// (a malformed --locale), is a usage error.
int SyncError(const std::string& cmd, const std::string& what, const Status& s) {
  if (s.code() == Code::kFailedPrecondition || s.code() == Code::kInvalidArgument) {
    return UsageError(cmd, what + ": " + s.message());
  }
  return RuntimeError(cmd, what + ": " + s.ToString());
}

// The KB document of a solved ticket: its subject as the title (what the ticket was
// about, for ranking) and the agent's last public answer as the only text, anonymized.
// The customer's question is left out: the passage text is what drafters quote to
// other customers, and a past customer's own words (their name, their order, their
// complaint) are neither an answer nor theirs to see.
std::optional<KbDocument> ResolvedTicketDocument(const std::string& source, const Ticket& t, const Redactor& redactor) {
  const Comment* answer = nullptr;
  for (const Comment& c : t.comments) {
    // The last public reply by a person: deskpilot's own replies are not evidence.
    if (c.author_role == AuthorRole::kAgent && c.is_public && !c.by_deskpilot) answer = &c;
  }
  if (answer == nullptr) return std::nullopt;
  // Anonymized, not redacted: a numbered placeholder ("<EMAIL_1>") quoted from this
  // passage into another ticket's draft would be restored with that ticket's value.
  KbDocument doc;
  doc.kind = PassageKind::kResolvedTicket;
  doc.doc_id = source + ":ticket:" + t.id;
  // The agent's answer often greets the customer by name ("Hi Ann,"): the name the desk
  // knows goes too, with or without a cue.
  const KnownNames known(t.requester.name);
  doc.title = redactor.Anonymize(t.subject, known);
  doc.text = redactor.Anonymize(answer->body, known) + "\n";
  return doc;
}

int KbSync(const std::string& cmd, int argc, char** argv) {
  cxxopts::Options opts(cmd, "Pull the help desk's knowledge base into deskpilot's: published articles of the "
                             "configured locales (only those changed since the last sync are re-read; drafts "
                             "and archived or deleted articles leave the KB) and, with --solved-since, solved "
                             "tickets as resolved-ticket passages with PII redacted.");
  opts.custom_help("--config FILE --source NAME [options]");
  opts.add_options()
      ("c,config", "config file (TOML)", cxxopts::value<std::string>())
      ("source", "the [[helpdesk]] name", cxxopts::value<std::string>())
      ("locale", "only this locale (default: the help desk's configured ones)", cxxopts::value<std::string>())
      ("solved-since", "also add tickets solved or closed and updated since DATE (YYYY-MM-DD or RFC 3339)",
       cxxopts::value<std::string>())
      ("limit", "at most this many solved tickets", cxxopts::value<int>()->default_value("1000"))
      ("h,help", "show help");
  int exit_code = kExitOk;
  auto args = Parse(opts, cmd, argc, argv, &exit_code);
  if (!args) return exit_code;
  if (!args->unmatched().empty()) return UsageError(cmd, "unexpected argument '" + args->unmatched().front() + "'");
  if (args->count("config") == 0 || args->count("source") == 0)
    return UsageError(cmd, "--config FILE and --source NAME are required");
  const std::string source = (*args)["source"].as<std::string>();
  std::optional<SysClock::time_point> solved_since;
  if (args->count("solved-since") > 0) {
    SysClock::time_point t;
    if (!ParseCliDate((*args)["solved-since"].as<std::string>(), &t))
      return UsageError(cmd, "--solved-since wants YYYY-MM-DD or an RFC 3339 UTC time");
    solved_since = t;
  }
  const int limit = (*args)["limit"].as<int>();
  if (limit < 1) return UsageError(cmd, "--limit must be at least 1");

  Result<Config> config = LoadConfig((*args)["config"].as<std::string>());
  if (!config.ok()) return UsageError(cmd, config.status().message());
  auto http = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> helpdesk = OpenHelpdesk(cmd, *config, source, http.get(), &exit_code);
  if (!helpdesk) return exit_code;
  std::vector<std::string> locales = helpdesk->ArticleLocales();
  if (args->count("locale") > 0) locales = {(*args)["locale"].as<std::string>()};
  if (locales.empty())
    return UsageError(cmd, "helpdesk \"" + source + "\" (type " + std::string(helpdesk->type()) +
                               ") has no knowledge base that deskpilot can sync");

  const std::string& db = config->storage.path;
  auto store = OpenSqliteStore(db);
  // InvalidArgument: the database of a newer deskpilot, left as it is.
  if (!store.ok() && store.status().code() == Code::kInvalidArgument)
    return UsageError(cmd, db + ": " + store.status().message());
  if (!store.ok()) return RuntimeError(cmd, "open " + db + ": " + store.status().ToString());
  if (int rc = RefuseNewerDatabase(cmd, db); rc != kExitOk) return rc;
  Result<std::unique_ptr<KbIndex>> index = KbIndex::Open(db);
  if (!index.ok()) return RuntimeError(cmd, "open " + db + ": " + index.status().ToString());

  for (const std::string& locale : locales) {
    // Per source and locale: when the last sync started and which articles it left in
    // the KB (so one that disappears from the help desk can be taken out).
    const std::string key = std::string(kKbSyncStatePrefix) + source + ":" + locale;
    nlohmann::json state = nlohmann::json::object();
    if (auto cached = (*store)->CacheGet(key); !cached.ok()) {
      return RuntimeError(cmd, "read sync state: " + cached.status().ToString());
    } else if (cached->has_value()) {
      state = nlohmann::json::parse(**cached, nullptr, false);
      if (!state.is_object()) state = nlohmann::json::object();
    }
    const bool first = !state.contains("since") || !state["since"].is_number_integer();
    const SysClock::time_point started = SysClock::now();
    std::optional<SysClock::time_point> since;
    if (!first) since = SysClock::time_point(std::chrono::seconds(state["since"].get<int64_t>())) - kSyncOverlap;

    auto changed = helpdesk->ListArticles(locale, since);
    if (!changed.ok()) return SyncError(cmd, "list " + locale + " articles", changed.status());
    // Archived and deleted articles are in no listing, changed or not: only the full
    // list shows they are gone. The first sync's listing is already the full list.
    std::set<std::string> live;
    if (first) {
      for (const HelpArticle& a : *changed)
        if (!a.draft) live.insert(a.id);
    } else {
      auto all = helpdesk->ListArticles(locale, std::nullopt);
      if (!all.ok()) return SyncError(cmd, "list " + locale + " articles", all.status());
      for (const HelpArticle& a : *all)
        if (!a.draft) live.insert(a.id);
    }
    auto doc_id = [&](const std::string& article_id) { return source + ":" + locale + ":" + article_id; };
    std::vector<KbDocument> docs;
    for (const HelpArticle& a : *changed) {
      if (a.draft || !live.count(a.id)) continue;
      const kb::HtmlDoc html = kb::HtmlToMarkdown(a.body_html);
      docs.push_back({doc_id(a.id), a.title.empty() ? html.title : a.title, html.body, a.url});
    }
    std::vector<std::string> gone;
    const nlohmann::json known = state.value("articles", nlohmann::json::object());
    for (const auto& [id, unused] : known.items())
      if (!live.count(id)) gone.push_back(doc_id(id));
    // A draft of an article deskpilot never synced is simply skipped.
    auto removed = (*index)->RemoveDocuments(gone);
    if (!removed.ok()) return RuntimeError(cmd, removed.status().ToString());
    auto stats = (*index)->IngestDocuments(docs);
    if (!stats.ok()) return RuntimeError(cmd, stats.status().ToString());

    nlohmann::json articles = nlohmann::json::object();
    for (const std::string& id : live) articles[id] = true;
    state = {{"since", UnixSeconds(started)}, {"articles", articles}};
    if (Status s = (*store)->CachePut(key, JsonText(state), NowMs()); !s.ok())
      return RuntimeError(cmd, "store sync state: " + s.ToString());
    std::cout << "articles " << locale << ": " << changed->size() << " listed as changed"
              << (first ? " (first sync)" : "") << ", " << stats->documents << " added or updated, "
              << stats->unchanged << " unchanged, " << *removed << " removed, " << live.size() << " published\n";
  }

  if (solved_since) {
    auto tickets = helpdesk->ListSolvedTickets(*solved_since, limit, /*with_comments=*/true);
    if (!tickets.ok()) return SyncError(cmd, "list solved tickets", tickets.status());
    Redactor redactor;
    std::vector<KbDocument> docs;
    size_t without_answer = 0;
    for (const Ticket& t : *tickets) {
      if (auto doc = ResolvedTicketDocument(source, t, redactor)) {
        docs.push_back(std::move(*doc));
      } else {
        ++without_answer;
      }
    }
    auto stats = (*index)->IngestDocuments(docs);
    if (!stats.ok()) return RuntimeError(cmd, stats.status().ToString());
    std::cout << "resolved tickets: " << tickets->size() << " solved since " << (*args)["solved-since"].as<std::string>()
              << ", " << stats->documents << " added or updated, " << stats->unchanged << " unchanged, "
              << without_answer << " without a public agent answer (skipped)\n";
  }
  return kExitOk;
}

int KbSearch(const std::string& cmd, int argc, char** argv) {
  cxxopts::Options opts(cmd, "Rank knowledge-base passages for a query (best chunk per document, "
                             "no min_relevance floor, so scores can be inspected).");
  opts.custom_help("(--config FILE | --db PATH) [options]");
  opts.positional_help("QUERY...");
  AddDbOptions(opts);
  opts.add_options()
      ("k,top", "number of documents to show (also --k N)", cxxopts::value<int>()->default_value("5"))
      ("json", "print a JSON array of {doc_id, title, score, url, chunk_id, text}");
  int exit_code = kExitOk;
  auto args = Parse(opts, cmd, argc, argv, &exit_code);
  if (!args) return exit_code;
  std::optional<std::string> db = DbPath(cmd, *args, &exit_code);
  if (!db) return exit_code;
  const int k = (*args)["top"].as<int>();
  if (k < 1 || k > 1000) return UsageError(cmd, "--k must be between 1 and 1000");
  std::string query;
  for (const std::string& word : Positional(*args)) query += (query.empty() ? "" : " ") + word;
  if (query.empty()) return UsageError(cmd, "no QUERY given");
  // Opening would create an empty database; for a mistyped path "no results" would mislead.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(*db, ec)) return UsageError(cmd, "no database at '" + *db + "'");

  if (int rc = RefuseNewerDatabase(cmd, *db); rc != kExitOk) return rc;
  Result<std::unique_ptr<KbIndex>> index = KbIndex::Open(*db);
  if (!index.ok()) return RuntimeError(cmd, "open " + *db + ": " + index.status().ToString());
  Result<std::vector<Passage>> passages = (*index)->Search(query, k);
  if (!passages.ok()) return RuntimeError(cmd, passages.status().ToString());

  if (args->count("json") > 0) {
    nlohmann::json out = nlohmann::json::array();
    for (const Passage& p : *passages) {
      out.push_back({{"doc_id", p.doc_id}, {"title", p.title}, {"score", p.score}, {"url", p.url},
                     {"chunk_id", p.id}, {"text", p.text}});
    }
    // Replace, not throw, on invalid UTF-8 that came in through an ingested file.
    std::cout << JsonText(out, 2) << "\n";
    return kExitOk;
  }
  if (passages->empty()) {
    std::cout << "no matching documents\n";
    return kExitOk;
  }
  for (size_t i = 0; i < passages->size(); ++i) {
    const Passage& p = (*passages)[i];
    std::printf("%2zu. %7.3f  %-32s %s\n", i + 1, p.score, OneLineText(p.doc_id).c_str(),
                OneLineText(p.title).c_str());
  }
  return kExitOk;
}

double Percentile(std::vector<double> values, double q) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const size_t i = static_cast<size_t>(q * static_cast<double>(values.size() - 1) + 0.5);
  return values[std::min(i, values.size() - 1)];
}

int KbEval(const std::string& cmd, int argc, char** argv) {
  cxxopts::Options opts(cmd, "Measure ranking quality on labelled queries (JSONL: text, relevant_doc_ids). "
                             "Ranks without the retriever's min_relevance floor.");
  opts.custom_help("(--config FILE | --db PATH) --queries F.jsonl [options]");
  AddDbOptions(opts);
  opts.add_options()
      ("queries", "labelled queries, JSONL {text, relevant_doc_ids}", cxxopts::value<std::string>())
      ("k,top", "MRR cut-off (also --k N); at least 10 documents are always ranked",
       cxxopts::value<int>()->default_value("10"))
      ("json", "print one JSON object");
  int exit_code = kExitOk;
  auto args = Parse(opts, cmd, argc, argv, &exit_code);
  if (!args) return exit_code;
  std::optional<std::string> db = DbPath(cmd, *args, &exit_code);
  if (!db) return exit_code;
  if (args->count("queries") == 0) return UsageError(cmd, "--queries F.jsonl is required");
  if (!Positional(*args).empty()) return UsageError(cmd, "unexpected argument '" + Positional(*args).front() + "'");
  const int k = (*args)["top"].as<int>();
  if (k < 1 || k > 1000) return UsageError(cmd, "--k must be between 1 and 1000");
  std::error_code ec;
  if (!std::filesystem::is_regular_file(*db, ec)) return UsageError(cmd, "no database at '" + *db + "'");
  Result<std::vector<AnsweredQuestion>> queries = ReadLabeledQuestions((*args)["queries"].as<std::string>());
  if (!queries.ok()) return UsageError(cmd, queries.status().message());
  if (queries->empty()) return UsageError(cmd, "no queries in " + (*args)["queries"].as<std::string>());

  if (int rc = RefuseNewerDatabase(cmd, *db); rc != kExitOk) return rc;
  Result<std::unique_ptr<KbIndex>> index = KbIndex::Open(*db);
  if (!index.ok()) return RuntimeError(cmd, "open " + *db + ": " + index.status().ToString());
  RetrievalEvaluator evaluator(k);
  std::vector<double> latencies_ms;
  for (const AnsweredQuestion& q : *queries) {
    const auto start = std::chrono::steady_clock::now();
    Result<std::vector<Passage>> passages = (*index)->Search(q.text, std::max(k, 10));
    latencies_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
    if (!passages.ok()) return RuntimeError(cmd, passages.status().ToString());
    std::vector<std::string> ranked;
    for (const Passage& p : *passages) ranked.push_back(p.doc_id);
    evaluator.Add(ranked, q.doc_ids);
  }
  const RetrievalMetrics m = evaluator.Metrics();
  const double p50 = Percentile(latencies_ms, 0.50), p99 = Percentile(latencies_ms, 0.99);
  if (args->count("json") > 0) {
    nlohmann::json out = {{"n", m.n},
                          {"k", k},
                          {"recall_at_1", m.recall_at_1},
                          {"recall_at_5", m.recall_at_5},
                          {"recall_at_10", m.recall_at_10},
                          {"mrr", m.mrr},
                          {"ndcg_at_10", m.ndcg_at_10},
                          {"latency_ms_p50", p50},
                          {"latency_ms_p99", p99}};
    std::cout << JsonText(out, 2) << "\n";
    return kExitOk;
  }
  std::printf("queries      %d (without relevant docs: %zu skipped)\n", m.n, queries->size() - static_cast<size_t>(m.n));
  std::printf("recall@1     %.3f\nrecall@5     %.3f\nrecall@10    %.3f\n", m.recall_at_1, m.recall_at_5,
              m.recall_at_10);
  std::printf("MRR@%-8d %.3f\nnDCG@10      %.3f\n", k, m.mrr, m.ndcg_at_10);
  std::printf("latency      p50 %.2f ms, p99 %.2f ms per query\n", p50, p99);
  return kExitOk;
}

}  // namespace

std::unique_ptr<Helpdesk> OpenHelpdesk(const std::string& cmd, const Config& config, const std::string& source,
                                       HttpClient* http, int* exit_code, bool webhook_admin_only) {
  const HelpdeskConfig* hd = nullptr;
  for (const auto& h : config.helpdesks)
    if (h.name == source) hd = &h;
  if (hd == nullptr) {
    *exit_code = UsageError(cmd, "no [[helpdesk]] named \"" + source + "\" in " + config.file);
    return nullptr;
  }
  Registry registry;
  RegisterBuiltinAdapters(registry);
  ConfigSection section(hd->section, hd->path);
  AdapterContext ctx;
  ctx.section = &section;
  ctx.name = hd->name;
  ctx.db_path = config.storage.path;
  ctx.http = http;
  ctx.webhook_admin_only = webhook_admin_only;
  ctx.approval_tag = config.policy.approval_tag;
  auto made = registry.MakeHelpdesk(hd->type, ctx);
  Status st = made.ok() ? section.Finish() : made.status();
  if (!st.ok()) {
    *exit_code = st.code() == Code::kInvalidArgument ? UsageError(cmd, st.message()) : RuntimeError(cmd, st.ToString());
    return nullptr;
  }
  return std::move(made).value();
}

bool ParseCliDate(const std::string& text, std::chrono::system_clock::time_point* out) {
  // A bare day means its start in UTC; anything longer must be a full RFC 3339 time.
  const bool day_only = text.size() == 10;
  auto t = ParseRfc3339(day_only ? text + "T00:00:00Z" : text);
  if (!t) return false;
  *out = *t;
  return true;
}

// argv[0] is "deskpilot kb", argv[1] the subcommand.
int RunKb(int argc, char** argv) {
  const std::string cmd = argv[0];
  if (argc < 2) {
    std::cerr << kKbUsage;
    return UsageError(cmd, "missing subcommand");
  }
  const std::string sub = argv[1];
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::cout << kKbUsage;
    return kExitOk;
  }
  // The subcommand's argv[0] names it in full, for cxxopts' help and our messages.
  std::string full = cmd + " " + sub;
  argv[1] = full.data();
  if (sub == "ingest") return KbIngest(full, argc - 1, argv + 1);
  if (sub == "remove") return KbRemove(full, argc - 1, argv + 1);
  if (sub == "sync") return KbSync(full, argc - 1, argv + 1);
  if (sub == "search") return KbSearch(full, argc - 1, argv + 1);
  if (sub == "eval") return KbEval(full, argc - 1, argv + 1);
  std::cerr << kKbUsage;
  return UsageError(cmd, "unknown subcommand '" + sub + "'");
}

}  // namespace deskpilot::cli
