#include <sqlite3.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <string_view>

#include <unistd.h>

#include <cxxopts.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"

namespace deskpilot::cli {
namespace {

struct Command {
  const char* name;
  int (*run)(int, char**);
  const char* help;
};

constexpr Command kCommands[] = {
    {"serve", RunServe, "run the webhook receiver and workers (--config FILE)"},
    {"demo", RunDemo, "run the sandbox help desk and the proxy end to end on built-in defaults"},
    {"triage", RunTriage, "run the pipeline on one ticket (file or stdin); writes nothing"},
    {"check-config", RunCheckConfig, "validate a config file and the adapters it names"},
    {"train", RunTrain, "train the embedded classifier on labelled JSONL"},
    {"eval", RunEval, "evaluate a trained model on labelled JSONL"},
    {"kb", RunKb, "knowledge base: ingest | remove | sync | search | eval"},
    {"audit", RunAudit, "audit log: verify | show | replay | shadow"},
    {"jobs", RunJobs, "job queue: list | retry | purge"},
    {"sandbox", RunSandbox, "run the local sandbox help desk"},
    {"webhook", RunWebhook, "help desk webhook: register | list | remove"},
};

int PrintUsage(std::ostream& out) {
  out << "deskpilot " << DESKPILOT_VERSION << " — AI triage in front of your help desk\n\n"
      << "usage: deskpilot <command> [options]   (deskpilot <command> --help for details)\n\ncommands:\n";
  for (const auto& c : kCommands) {
    out << "  " << c.name;
    for (size_t i = std::strlen(c.name); i < 14; ++i) out << ' ';
    out << c.help << "\n";
  }
  out << "\nexit codes: 0 ok, 1 runtime failure, 2 usage or config error\n";
  return kExitOk;
}

}  // namespace

int UsageError(const std::string& command, const std::string& message) {
  std::cerr << command << ": " << message << "\n";
  return kExitUsage;
}

int RuntimeError(const std::string& command, const std::string& message) {
  std::cerr << command << ": " << message << "\n";
  return kExitFailure;
}

std::string ArgumentError(const std::exception& e, int argc, const char* const* argv) {
  if (dynamic_cast<const cxxopts::exceptions::incorrect_argument_type*>(&e) == nullptr) return e.what();
  // Find the flag whose value cxxopts refused: the one whose own message is this one.
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (!arg.starts_with("-")) continue;
    const size_t eq = arg.find('=');
    const bool inline_value = arg.starts_with("--") && eq != std::string_view::npos;
    if (!inline_value && i + 1 >= argc) continue;
    const std::string flag(inline_value ? arg.substr(0, eq) : arg);
    const std::string value(inline_value ? arg.substr(eq + 1) : std::string_view(argv[i + 1]));
    if (std::string_view(cxxopts::exceptions::incorrect_argument_type(value).what()) == e.what()) {
      return flag + ": '" + value + "' is not a valid value";
    }
  }
  return e.what();
}

namespace {

// Copies the SQLite database `from` into the new file `to`. `from` is opened read-only; a
// database with no -wal file beside it is opened as immutable, because a read-only open of
// a WAL database would otherwise create -wal and -shm files next to it, owned by whoever
// runs this. (A WAL database that a process has open always has its -wal file.)
Status SnapshotDatabase(const std::string& from, const std::string& to) {
  std::error_code ec;
  const bool in_use = std::filesystem::exists(from + "-wal", ec);
  std::string uri = "file:";
  for (unsigned char c : std::filesystem::absolute(from, ec).string()) {
    // A URI path: percent-encode what would end or change it.
    if (c == '%' || c == '?' || c == '#' || c < 0x20) {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      uri += buf;
    } else {
      uri += static_cast<char>(c);
    }
  }
  uri += in_use ? "?mode=ro" : "?mode=ro&immutable=1";
  sqlite3* src = nullptr;
  sqlite3* dst = nullptr;
  Status s = Status::Ok();
  if (sqlite3_open_v2(uri.c_str(), &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI, nullptr) != SQLITE_OK) {
    s = Status::Unavailable("cannot open " + from + " read-only: " + sqlite3_errmsg(src));
  } else if (sqlite3_open(to.c_str(), &dst) != SQLITE_OK) {
    s = Status::Unavailable("cannot create " + to + ": " + sqlite3_errmsg(dst));
  } else {
    sqlite3_busy_timeout(src, 5000);
    sqlite3_backup* backup = sqlite3_backup_init(dst, "main", src, "main");
    if (backup == nullptr) {
      s = Status::Unavailable("cannot copy " + from + ": " + sqlite3_errmsg(dst));
    } else {
      const int rc = sqlite3_backup_step(backup, -1);
      sqlite3_backup_finish(backup);
      if (rc != SQLITE_DONE) s = Status::Unavailable("cannot copy " + from + ": " + sqlite3_errstr(rc));
    }
  }
  sqlite3_close(src);
  sqlite3_close(dst);
  return s;
}

}  // namespace

Result<std::unique_ptr<ScratchDataDir>> ScratchDataDir::Create(Config* config, BuildOptions* build,
                                                               bool snapshot_database) {
  namespace fs = std::filesystem;
  std::string tmpl = (fs::temp_directory_path() / "deskpilot-scratch-XXXXXX").string();
  if (!mkdtemp(tmpl.data())) return Status::Unavailable(std::string("cannot create a scratch directory: ") + std::strerror(errno));
  std::unique_ptr<ScratchDataDir> scratch(new ScratchDataDir(tmpl));
  const fs::path configured(config->storage.path);
  const std::string scratch_db = (fs::path(tmpl) / "deskpilot.db").string();
  std::error_code ec;
  if (snapshot_database && fs::exists(configured, ec)) {
    DP_RETURN_IF_ERROR(SnapshotDatabase(configured.string(), scratch_db).WithContext("storage.path"));
  }
  config->storage.path = scratch_db;
  build->readonly_data_dirs = {configured.has_parent_path() ? configured.parent_path().string() : ".",
                               UserCacheDir()};
  return scratch;
}

ScratchDataDir::~ScratchDataDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::string SampleDir() {
  if (const char* env = std::getenv("DESKPILOT_SAMPLE_DIR"); env && *env) return env;
  std::error_code ec;
  if (std::filesystem::exists(std::filesystem::path(DESKPILOT_SOURCE_SAMPLE_DIR) / "models.json", ec))
    return DESKPILOT_SOURCE_SAMPLE_DIR;
  return DESKPILOT_INSTALLED_SAMPLE_DIR;
}

std::string UserCacheDir() {
  std::filesystem::path base;
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    base = x;
  else if (const char* h = std::getenv("HOME"); h && *h)
    base = std::filesystem::path(h) / ".cache";
  else
    base = std::filesystem::temp_directory_path();
  return (base / "deskpilot").string();
}

void KeepSampleModels(const std::string& data_dir) {
  namespace fs = std::filesystem;
  const fs::path from = fs::path(data_dir) / "models";
  const fs::path to = fs::path(UserCacheDir()) / "models";
  std::error_code ec;
  if (fs::equivalent(from, to, ec)) return;  // triage without a config: already there
  ec.clear();
  fs::directory_iterator it(from, ec);
  if (ec) return;  // nothing was trained here
  for (const fs::directory_entry& e : it) {
    const std::string name = e.path().filename().string();
    if (name.rfind("sample-", 0) != 0 || e.path().extension() != ".model") continue;
    if (fs::exists(to / name, ec)) continue;
    // Copy under a private name and rename: a reader never sees half a file, and two
    // runs caching the same model at once both leave the whole file.
    const fs::path tmp = to / (name + ".tmp-" + std::to_string(::getpid()));
    fs::create_directories(to, ec);
    if (!ec) fs::copy_file(e.path(), tmp, fs::copy_options::overwrite_existing, ec);
    if (!ec) fs::rename(tmp, to / name, ec);
    if (ec) {
      spdlog::warn("cannot keep sample model {} in {}: {}", name, to.string(), ec.message());
      fs::remove(tmp, ec);
      return;
    }
  }
}

int Main(int argc, char** argv) {
  // Logs go to stderr (journald picks them up); stdout is for results.
  auto logger = spdlog::stderr_color_mt("deskpilot");
  spdlog::set_default_logger(logger);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  if (const char* lvl = std::getenv("DESKPILOT_LOG_LEVEL"))
    spdlog::set_level(spdlog::level::from_str(lvl));

  if (argc < 2) {
    PrintUsage(std::cerr);
    return kExitUsage;
  }
  std::string cmd = argv[1];
  if (cmd == "--help" || cmd == "-h" || cmd == "help") return PrintUsage(std::cout);
  if (cmd == "--version") {
    std::cout << "deskpilot " << DESKPILOT_VERSION << "\n";
    return kExitOk;
  }
  for (const auto& c : kCommands) {
    if (cmd == c.name) {
      // argv[0] becomes "deskpilot <cmd>" so each command's messages name it.
      std::string name = std::string("deskpilot ") + c.name;
      argv[1] = name.data();
      return c.run(argc - 1, argv + 1);
    }
  }
  std::cerr << "deskpilot: unknown command \"" << cmd << "\"\n";
  PrintUsage(std::cerr);
  return kExitUsage;
}

}  // namespace deskpilot::cli
