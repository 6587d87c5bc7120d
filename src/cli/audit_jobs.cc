// `deskpilot audit verify|show|replay` and `deskpilot jobs list|retry|purge`: operator views of
// the store. They open the same SQLite file as a running `serve` (WAL lets both work at once).
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <initializer_list>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "deskpilot/config.h"
#include "deskpilot/json_text.h"
#include "deskpilot/store.h"
#include "deskpilot/text.h"
#include "service/admin_api.h"
#include "service/components.h"
#include "service/replay.h"
#include "service/retention.h"
#include "store/sqlite_store.h"

namespace deskpilot::cli {
namespace {

using nlohmann::json;

constexpr char kAuditUsage[] =
    "usage: deskpilot audit <subcommand> (--config FILE | --db PATH) [options]\n"
    "\n"
    "subcommands:\n"
    "  verify   walk the hash chain; exit 1 and name the first bad row if it is broken\n"
    "  show     print the audit rows of one job (--job ID) or ticket (--ticket SOURCE:ID)\n"
    "  replay   re-run a recorded job's decision on its recorded inputs (exit 0 same, 1 divergent)\n"
    "  shadow   review a shadow trial: what automation would have done vs what the agents did\n"
    "\n"
    "deskpilot audit <subcommand> --help for its options\n";

constexpr char kJobsUsage[] =
    "usage: deskpilot jobs <subcommand> (--config FILE | --db PATH) [options]\n"
    "\n"
    "subcommands:\n"
    "  list     list jobs, newest first (--state, --limit)\n"
    "  retry    requeue dead-lettered jobs (ID... | --all-dead)\n"
    "  purge    empty old done/skipped jobs' webhook bodies, delete old cache entries\n"
    "           (--older-than DURATION, e.g. 30d; --dry-run)\n"
    "\n"
    "deskpilot jobs <subcommand> --help for its options\n";

void AddStoreOptions(cxxopts::Options& opts) {
  opts.add_options()
      ("c,config", "config file (TOML); the database is its storage.path",
       cxxopts::value<std::string>())
      ("db", "SQLite database file (instead of --config)", cxxopts::value<std::string>())
      ("h,help", "show help");
}

// Parses argv. Returns nullopt with *exit_code set when the command is already finished:
// --help was printed (0) or the arguments were wrong (2).
std::optional<cxxopts::ParseResult> Parse(cxxopts::Options& opts, const std::string& cmd,
                                          int argc, char** argv, int* exit_code) {
  try {
    cxxopts::ParseResult args = opts.parse(argc, argv);
    if (args.count("help") > 0) {
      std::cout << opts.help();
      *exit_code = kExitOk;
      return std::nullopt;
    }
    // Positional arguments are either declared (jobs retry's ids) or a mistake.
    if (!args.unmatched().empty()) {
      *exit_code = UsageError(cmd, "unexpected argument '" + args.unmatched().front() + "'");
      return std::nullopt;
    }
    return args;
  } catch (const std::exception& e) {  // cxxopts reports bad options by throwing
    *exit_code = UsageError(cmd, ArgumentError(e, argc, argv) + " (see --help)");
    return std::nullopt;
  }
}

// Opens the store named by --db or by the config's storage.path. Returns an exit code:
// 2 for a bad config, a missing file or one this binary cannot use (not a deskpilot store,
// or a newer deskpilot's), 1 when the file cannot be opened as a store.
int OpenStore(const std::string& cmd, const cxxopts::ParseResult& args,
              std::unique_ptr<Store>* store) {
  bool has_config = args.count("config") > 0;
  bool has_db = args.count("db") > 0;
  if (has_config == has_db) return UsageError(cmd, "give exactly one of --config FILE or --db PATH");
  std::string path;
  if (has_config) {
    Result<Config> config = LoadConfig(args["config"].as<std::string>());
    if (!config.ok()) return UsageError(cmd, config.status().message());
    path = config->storage.path;
  } else {
    path = args["db"].as<std::string>();
  }
  // Opening would create an empty database, and "audit chain ok: 0 rows" for a mistyped
  // path would be a dangerous answer.
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return UsageError(cmd, "no database at '" + path + "'");
  }
  // The same for a file that is not a deskpilot database, or the database of a newer
  // deskpilot (InvalidArgument): refused, and left untouched.
  Result<std::unique_ptr<Store>> opened = OpenExistingSqliteStore(path);
  if (!opened.ok() && opened.status().code() == Code::kNotFound) return UsageError(cmd, opened.status().message());
  if (!opened.ok() && opened.status().code() == Code::kInvalidArgument)
    return UsageError(cmd, path + ": " + opened.status().message());
  if (!opened.ok()) return RuntimeError(cmd, "open " + path + ": " + opened.status().ToString());
  *store = std::move(opened).value();
  return kExitOk;
}

std::string FormatTime(int64_t ms) {
  if (ms <= 0) return "-";
  std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char date[32];
  std::strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
  char out[48];
  std::snprintf(out, sizeof(out), "%s.%03dZ", date, static_cast<int>(ms % 1000));
  return out;
}

// Table cells stay on one line whatever the stored text contains.
std::string Cell(std::string text) {
  for (char& c : text) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  return text;
}

// Left-aligned columns; the last column is not padded so long text (data, last_error)
// does not widen every line. Cells hold outside text (a vendor's error, a ticket id), so
// they reach the terminal through OneLineText.
void PrintTable(const std::vector<std::string>& headers,
                std::vector<std::vector<std::string>> rows) {
  for (auto& row : rows) {
    for (auto& cell : row) cell = OneLineText(cell);
  }
  std::vector<size_t> widths(headers.size());
  for (size_t i = 0; i < headers.size(); ++i) widths[i] = headers[i].size();
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  auto print_row = [&widths](const std::vector<std::string>& row) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);  // an empty last cell leaves no padding
    std::cout << line << "\n";
  };
  print_row(headers);
  for (const auto& row : rows) print_row(row);
}

// --- audit verify ---

// "SEQ:HASH" with a positive seq and a 64-digit hex SHA-256; nullopt when malformed.
std::optional<AuditAnchor> ParseAnchor(const std::string& text) {
  const size_t colon = text.find(':');
  if (colon == std::string::npos) return std::nullopt;
  AuditAnchor anchor;
  auto [end, ec] = std::from_chars(text.data(), text.data() + colon, anchor.seq);
  if (ec != std::errc() || end != text.data() + colon || anchor.seq <= 0) return std::nullopt;
  anchor.hash = text.substr(colon + 1);
  if (anchor.hash.size() != 64) return std::nullopt;
  for (char& c : anchor.hash) {
    if (!std::isxdigit(static_cast<unsigned char>(c))) return std::nullopt;
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));  // stored lowercase
  }
  return anchor;
}

int AuditVerify(const std::string& cmd, int argc, char** argv) {
  cxxopts::Options opts(cmd, "Walk the audit log's hash chain: every row's hash, every link "
                             "to the previous row, and that no seq is missing.");
  AddStoreOptions(opts);
  opts.add_options()
      ("anchor", "SEQ:HASH, the head an earlier verify printed, kept outside this database: also "
                 "detects rows removed from the end, or rewritten up to it",
       cxxopts::value<std::string>())
      ("json", "print {ok, rows, first_bad_seq, problem, head} as JSON");
  int exit_code = kExitOk;
  auto args = Parse(opts, cmd, argc, argv, &exit_code);
  if (!args) return exit_code;
  std::optional<AuditAnchor> anchor;
  if (args->count("anchor") > 0) {
    anchor = ParseAnchor((*args)["anchor"].as<std::string>());
    if (!anchor) return UsageError(cmd, "--anchor must be SEQ:HASH as verify prints it, e.g. 42:<64 hex digits>");
  }
  std::unique_ptr<Store> store;
  if (int rc = OpenStore(cmd, *args, &store); rc != kExitOk) return rc;

  Result<AuditVerifyReport> report = store->VerifyAudit(anchor);
  if (!report.ok()) return RuntimeError(cmd, report.status().ToString());
  // The head is what an operator keeps elsewhere (a ticket, another host's log) and
  // passes back as --anchor: the chain alone cannot show that its last rows are gone.
  const std::string head = report->rows > 0 ? std::to_string(report->rows) + ":" + report->head_hash : "";
  if (args->count("json") > 0) {
    json out = {{"ok", report->ok},
                {"rows", report->rows},
                {"first_bad_seq", report->ok ? json(nullptr) : json(report->first_bad_seq)},
                {"problem", report->ok ? json(nullptr) : json(report->problem)},
                {"head", report->ok && !head.empty() ? json(head) : json(nullptr)}};
    std::cout << JsonText(out) << "\n";
  } else if (report->ok) {
    std::cout << "audit chain ok: " << report->rows << " rows\n";
    if (!head.empty())
      std::cout << "head: " << head << "\n(keep it outside this host; a later verify --anchor " << head
                << " detects rows removed from the end)\n";
  } else {
    std::cout << "audit chain broken at seq " << report->first_bad_seq << ": "
              << report->problem << "\n";
  }
  return report->ok ? kExitOk : kExitFailure;
}

// --- audit show ---

int AuditShow(const std::string& cmd, int argc, char** argv) {
  cxxopts::Options opts(cmd, "Print the audit rows of one job or one ticket, oldest first.");
  AddStoreOptions(opts);
  opts.add_options()
      ("job", "job id", cxxopts::value<int64_t>())
      ("ticket", "SOURCE:TICKET_ID (the help desk name from the config, then its ticket id)",
       cxxopts::value<std::string>())
      ("json", "print a JSON array of rows");
  int exit_code = kExitOk;
  auto args = Parse(opts, cmd, argc, argv, &exit_code);
  if (!args) return exit_code;
  bool by_job = args->count("job") > 0;
  bool by_ticket = args->count("ticket") > 0;
  if (by_job == by_ticket) return UsageError(cmd, "give exactly one of --job ID or --ticket SOURCE:ID");
  // As retry and replay do: "no audit rows" for an id no job can have would read as an answer.
  if (by_job && (*args)["job"].as<int64_t>() <= 0)
    return UsageError(cmd, "--job must be a job id (a positive integer)");
  std::string source;
  std::string ticket_id;
  if (by_ticket) {
    std::string ticket = (*args)["ticket"].as<std::string>();
    size_t colon = ticket.find(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == ticket.size()) {
      return UsageError(cmd, "--ticket must be SOURCE:ID, e.g. acme:1234");
    }
    source = ticket.substr(0, colon);
    ticket_id = ticket.substr(colon + 1);
  }
  std::unique_ptr<Store> store;
  if (int rc = OpenStore(cmd, *args, &store); rc != kExitOk) return rc;

  Result<std::vector<AuditRow>> rows = by_job
      ? store->AuditForJob((*args)["job"].as<int64_t>())
      : store->AuditForTicket(source, ticket_id);
  if (!rows.ok()) return RuntimeError(cmd, rows.status().ToString());
  if (args->count("json") > 0) {
    json out = json::array();
    for (const AuditRow& row : *rows) out.push_back(AuditRowToJson(row));
    std::cout << JsonText(out, 2) << "\n";
    return kExitOk;
  }
  if (rows->empty()) {
    std::cout << "no audit rows\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> table;
  for (const AuditRow& row : *rows) {
    table.push_back({std::to_string(row.seq), FormatTime(row.ts_ms),
                     std::to_string(row.entry.job_id),
                     Cell(row.entry.source + ":" + row.entry.ticket_id), Cell(row.entry.stage),
                     Cell(row.entry.actor), Cell(row.entry.outcome), Cell(row.entry.data)});
  }
  PrintTable({"seq", "time", "job", "ticket", "stage", "actor", "outcome", "data"}, std::move(table));
  return kExitOk;
}

// --- audit replay ---

int AuditReplay(const std::string& cmd, int argc, char** argv) {
  cxxopts::Options opts(cmd, "Re-run a recorded job's normalize, redact, decide and plan stages on the ticket, "
                             "retrieval and model answers its audit rows recorded, and report the same decision "
                             "or the first divergence. Calls no help desk or model. With --config the policy "
                             "(and the classifier's thresholds) come from that file; with --db the defaults apply.");
  AddStoreOptions(opts);
  opts.add_options()
      ("job", "job id", cxxopts::value<std::string>())
      ("json", "print {job_id, same, recorded, replayed, divergence} as JSON");
  opts.parse_positional({"job"});
  opts.positional_help("JOB");
  int exit_code = kExitOk;
  auto args = Parse(opts, cmd, argc, argv, &exit_code);
  if (!args) return exit_code;
  if (args->count("job") == 0) return UsageError(cmd, "give the job id to replay");
  const std::string text = (*args)["job"].as<std::string>();
  int64_t job_id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), job_id);
  if (ec != std::errc() || end != text.data() + text.size() || job_id <= 0)
    return UsageError(cmd, "'" + text + "' is not a job id");
  std::unique_ptr<Store> store;
  if (int rc = OpenStore(cmd, *args, &store); rc != kExitOk) return rc;

  // The policy the job is judged against: the config's, with the classifier's stored
  // thresholds (they can raise a bar), or the built-in defaults.
  std::unique_ptr<Components> components;
  std::unique_ptr<Policy> default_policy;
  const Policy* policy = nullptr;
  if (args->count("config") > 0) {
    Result<Config> config = LoadConfig((*args)["config"].as<std::string>());
    if (!config.ok()) return UsageError(cmd, config.status().message());
    BuildOptions build;
    build.sample_dir = SampleDir();
    build.with_helpdesks = false;
    auto built = BuildComponents(*config, build);
    if (!built.ok()) return UsageError(cmd, built.status().ToString());
    components = std::move(built).value();
    policy = components->policy.get();
  } else {
    default_policy = std::make_unique<Policy>(PolicyConfig{}, nullptr);
    policy = default_policy.get();
  }
  Result<ReplayReport> report = ReplayJob(*store, job_id, *policy);
  if (!report.ok()) {
    if (report.status().code() == Code::kNotFound || report.status().code() == Code::kFailedPrecondition)
      return UsageError(cmd, report.status().message());
    return RuntimeError(cmd, report.status().ToString());
  }
  if (args->count("json") > 0) {
    std::cout << JsonText(ReplayReportJson(*report), 2) << "\n";
  } else if (!report->divergence) {
    std::cout << "job " << job_id << ": same decision (" << report->replayed_rung << ")\n";
  } else {
    const ReplayDivergence& d = *report->divergence;
    std::cout << "job " << job_id << ": diverges at " << d.stage << " " << d.field << ": recorded "
              << JsonText(d.recorded) << ", replayed "
              << JsonText(d.replayed) << "\n";
  }
  return report->divergence ? kExitFailure : kExitOk;
}

// --- jobs list ---

int JobsList(const std::string& cmd, int argc, char** argv) {
  cxxopts::Options opts(cmd, "List jobs, newest first.");
  AddStoreOptions(opts);
  opts.add_options()
      ("state", "only jobs in this state: queued|leased|done|dead|skipped",
       cxxopts::value<std::string>())
      ("limit", "at most N jobs (0 = all)", cxxopts::value<int>()->default_value("50"))
      ("json", "print a JSON array of jobs");
  int exit_code = kExitOk;
  auto args = Parse(opts, cmd, argc, argv, &exit_code);
  if (!args) return exit_code;
  std::optional<JobState> state;
  if (args->count("state") > 0) {
    std::string name = (*args)["state"].as<std::string>();
    state = ParseJobState(name);
    if (!state) {
      return UsageError(cmd, "--state must be one of queued|leased|done|dead|skipped, not '" +
                                 name + "'");
    }
  }
  int limit = (*args)["limit"].as<int>();
  if (limit < 0) return UsageError(cmd, "--limit must be 0 (all) or more");
  std::unique_ptr<Store> store;
  if (int rc = OpenStore(cmd, *args, &store); rc != kExitOk) return rc;

  Result<std::vector<Job>> jobs = store->ListJobs(state, limit);
  if (!jobs.ok()) return RuntimeError(cmd, jobs.status().ToString());
  if (args->count("json") > 0) {
    json out = json::array();
    for (const Job& job : *jobs) out.push_back(JobToJson(job));
    std::cout << JsonText(out, 2) << "\n";
    return kExitOk;
  }
  if (jobs->empty()) {
    std::cout << "no jobs\n";
    return kExitOk;
  }
  std::vector<std::vector<std::string>> table;
  for (const Job& job : *jobs) {
    table.push_back({std::to_string(job.id), std::string(JobStateName(job.state)),
                     std::to_string(job.attempts), Cell(job.source), Cell(job.ticket_id),
                     Cell(job.event_type), Cell(job.last_error)});
  }
  PrintTable({"id", "state", "attempts", "source", "ticket", "event", "last_error"}, std::move(table));
  return kExitOk;
}

// --- jobs retry ---

int JobsRetry(const std::string& cmd, int argc, char** argv) {
  cxxopts::Options opts(cmd, "Requeue dead-lettered jobs with a fresh attempt budget.");
  AddStoreOptions(opts);
  opts.add_options()
      ("all-dead", "requeue every dead job")
      ("ids", "job ids", cxxopts::value<std::vector<std::string>>());
  opts.parse_positional({"ids"});
  opts.positional_help("[ID...]");
  int exit_code = kExitOk;
  auto args = Parse(opts, cmd, argc, argv, &exit_code);
  if (!args) return exit_code;
  bool all_dead = args->count("all-dead") > 0;
  std::vector<int64_t> ids;
  if (args->count("ids") > 0) {
    for (const std::string& text : (*args)["ids"].as<std::vector<std::string>>()) {
      int64_t id = 0;
      auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
      if (ec != std::errc() || end != text.data() + text.size() || id <= 0) {
        return UsageError(cmd, "'" + text + "' is not a job id");
      }
      // The same id twice retries it once: the second attempt could only fail on the job
      // the first one just requeued.
      if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
    }
  }
  if (all_dead == !ids.empty()) return UsageError(cmd, "give job ids or --all-dead (not both)");
  std::unique_ptr<Store> store;
  if (int rc = OpenStore(cmd, *args, &store); rc != kExitOk) return rc;

  if (all_dead) {
    Result<std::vector<Job>> dead = store->ListJobs(JobState::kDead, 0);
    if (!dead.ok()) return RuntimeError(cmd, dead.status().ToString());
    if (dead->empty()) {
      std::cout << "no dead jobs\n";
      return kExitOk;
    }
    for (const Job& job : *dead) ids.push_back(job.id);
  }
  int64_t now = NowMs();
  size_t failed = 0;
  bool runtime_failure = false;  // else every failure was a bad id (unknown job, not dead): exit 2
  for (int64_t id : ids) {
    Status status = store->Retry(id, "cli", now);
    if (status.ok()) {
      std::cout << "requeued job " << id << "\n";
    } else {
      ++failed;
      if (status.code() != Code::kNotFound && status.code() != Code::kFailedPrecondition) runtime_failure = true;
      std::cerr << cmd << ": job " << id << " not requeued: " << status.message() << "\n";
    }
  }
  std::cout << "requeued " << (ids.size() - failed) << " of " << ids.size() << " job(s)\n";
  if (failed == 0) return kExitOk;
  return runtime_failure ? kExitFailure : kExitUsage;
}

// --- jobs purge ---

// "30d" or "12h" in hours; nullopt when malformed.
std::optional<int64_t> ParseDurationHours(const std::string& text) {
  if (text.size() < 2) return std::nullopt;
  const char unit = text.back();
  if (unit != 'd' && unit != 'h') return std::nullopt;
  int64_t n = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, n);
  // The bound keeps n * 24 h in milliseconds far from overflow (a million days).
  if (ec != std::errc() || end != text.data() + text.size() - 1 || n < 0 || n > 24'000'000) return std::nullopt;
  return unit == 'd' ? n * 24 : n;
}

int JobsPurge(const std::string& cmd, int argc, char** argv) {
  cxxopts::Options opts(cmd, "Empty the stored webhook body (raw ticket text) of done and skipped jobs, and "
                             "delete cache entries, older than DURATION. Job rows, dead and unfinished jobs' "
                             "bodies, the audit log and state kept in the cache (kb sync cursors, unfinished "
                             "jobs' write plans) stay. `serve` does the same hourly ([storage] retention_days).");
  AddStoreOptions(opts);
  opts.add_options()
      ("older-than", "DURATION: a number of days or hours, e.g. 30d or 36h; at least 1d",
       cxxopts::value<std::string>())
      ("dry-run", "print what would be dropped and change nothing");
  int exit_code = kExitOk;
  auto args = Parse(opts, cmd, argc, argv, &exit_code);
  if (!args) return exit_code;
  if (args->count("older-than") == 0) return UsageError(cmd, "give --older-than DURATION, e.g. 30d");
  const std::string duration = (*args)["older-than"].as<std::string>();
  std::optional<int64_t> hours = ParseDurationHours(duration);
  if (!hours) return UsageError(cmd, "--older-than must be a number of days or hours, e.g. 30d or 36h, not '" +
                                         duration + "'");
  if (*hours < 24) {
    return UsageError(cmd, "--older-than must be at least 1d: vendors redeliver webhooks for hours, and a "
                           "job's stored body is the evidence of what came in while it may still be retried");
  }
  std::unique_ptr<Store> store;
  if (int rc = OpenStore(cmd, *args, &store); rc != kExitOk) return rc;

  const bool dry_run = args->count("dry-run") > 0;
  const int64_t cutoff = NowMs() - *hours * 3'600'000;
  Result<RetentionReport> report = ApplyRetentionPolicy(*store, cutoff, dry_run);
  if (!report.ok()) return RuntimeError(cmd, report.status().ToString());
  const char* verb = dry_run ? "would be " : "";
  std::cout << (dry_run ? "dry run, nothing changed: " : "") << "older than " << duration << " (before "
            << FormatTime(cutoff) << ")\n"
            << "jobs:  " << report->payloads_emptied << " payload(s) of done or skipped jobs " << verb
            << "emptied (the rows stay)\n"
            << "cache: " << report->cache_rows_deleted << " entr" << (report->cache_rows_deleted == 1 ? "y " : "ies ")
            << verb << "deleted\n";
  return kExitOk;
}

struct Subcommand {
  const char* name;
  int (*run)(const std::string& cmd, int argc, char** argv);
};

// argv[0] is "deskpilot <cmd>", argv[1] the subcommand.
int Dispatch(int argc, char** argv, const char* usage,
             std::initializer_list<Subcommand> subcommands) {
  std::string cmd = argv[0];
  if (argc < 2) {
    std::cerr << usage;
    return UsageError(cmd, "missing subcommand");
  }
  std::string sub = argv[1];
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::cout << usage;
    return kExitOk;
  }
  for (const Subcommand& s : subcommands) {
    if (sub == s.name) {
      // The subcommand's argv[0] names it in full, for cxxopts' help and our messages.
      std::string full = cmd + " " + sub;
      argv[1] = full.data();
      return s.run(full, argc - 1, argv + 1);
    }
  }
  std::cerr << usage;
  return UsageError(cmd, "unknown subcommand '" + sub + "'");
}

}  // namespace

int RunAudit(int argc, char** argv) {
  return Dispatch(argc, argv, kAuditUsage,
                  {{"verify", AuditVerify}, {"show", AuditShow}, {"replay", AuditReplay}, {"shadow", AuditShadow}});
}

int RunJobs(int argc, char** argv) {
  return Dispatch(argc, argv, kJobsUsage, {{"list", JobsList}, {"retry", JobsRetry}, {"purge", JobsPurge}});
}

}  // namespace deskpilot::cli
