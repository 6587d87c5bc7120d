// Subcommands of the one `deskpilot` binary. Each takes argv *after* the subcommand
// name (argv[0] is "deskpilot <cmd>") and returns the process exit code:
// 0 ok, 1 runtime failure, 2 usage or config error (message on stderr).
#pragma once

#include <chrono>
#include <exception>
#include <memory>
#include <string>

#include "deskpilot/config.h"
#include "deskpilot/helpdesk.h"
#include "deskpilot/http_client.h"
#include "deskpilot/redact.h"
#include "deskpilot/status.h"
#include "deskpilot/types.h"
#include "service/components.h"

namespace deskpilot::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

int RunServe(int argc, char** argv);        // serve.cc
int RunDemo(int argc, char** argv);         // demo.cc
int RunTriage(int argc, char** argv);       // triage.cc
int RunCheckConfig(int argc, char** argv);  // serve.cc
int RunTrain(int argc, char** argv);        // train_eval.cc
int RunEval(int argc, char** argv);         // train_eval.cc
int RunKb(int argc, char** argv);           // kb.cc: ingest | search
int RunAudit(int argc, char** argv);        // audit_jobs.cc: verify | show | replay | shadow
int RunJobs(int argc, char** argv);         // audit_jobs.cc: list | retry | purge
// `audit shadow` (shadow.cc); argv[0] is "deskpilot audit shadow".
int AuditShadow(const std::string& cmd, int argc, char** argv);
int RunSandbox(int argc, char** argv);      // sandbox.cc
int RunWebhook(int argc, char** argv);      // webhook.cc: register | list | remove

// What `train --source` learns from for one solved ticket (train_eval.cc): its subject
// and description, as the classifier will see a new ticket's, redacted with the
// requester's name.
std::string SolvedTicketTrainingText(const Ticket& ticket, const Redactor& redactor);

// Prints "deskpilot <cmd>: <message>" to stderr and returns kExitUsage.
int UsageError(const std::string& command, const std::string& message);
// Prints "deskpilot <cmd>: <message>" to stderr and returns kExitFailure.
int RuntimeError(const std::string& command, const std::string& message);
// The message for an exception from cxxopts' parse of argv. cxxopts names a value that does
// not parse but not the flag it was given to ("Argument 'abc' failed to parse"); this says
// "--cv: 'abc' is not a valid value" instead. Other errors keep cxxopts' message.
std::string ArgumentError(const std::exception& e, int argc, const char* const* argv);

// The shipped sample data directory: $DESKPILOT_SAMPLE_DIR, else the source tree's
// config/sample (a build), else the installed share/deskpilot/sample.
std::string SampleDir();

// The user's cache directory: $XDG_CACHE_HOME/deskpilot, else ~/.cache/deskpilot, else
// <temp dir>/deskpilot. `triage` without a config keeps its database there, so its sample
// models are cached in <it>/models; `demo` and `check-config` read that models dir too.
std::string UserCacheDir();
// Copies the sample models trained in `data_dir`/models into UserCacheDir()/models, each
// only when no file of that name is there yet (names are content hashes, so an existing
// file is the same model). A failure only costs a later retraining: it is logged, never
// fatal. Lets a second `demo` (a new temp data dir each run) or `check-config` on a host
// where serve has not trained yet load in a second what the first run trained in ~20 s.
void KeepSampleModels(const std::string& data_dir);

// A temporary data directory for commands that build the configured components but must
// not create or change the configured database, nor write next to it (check-config, eval
// --config, triage --config): run as root against /var/lib/deskpilot they would otherwise
// leave root-owned files in the service's state directory, or ingest the sample KB into a
// production database that serve has not initialised yet. Removed when destroyed.
class ScratchDataDir {
 public:
  // Creates the directory, points config->storage.path into it and sets
  // build->readonly_data_dirs to the configured database's directory and UserCacheDir(), so
  // the sample models serve or an earlier run cached there are read, not retrained. With
  // `snapshot_database`, the configured database, when it exists, is first copied there
  // (SQLite's backup API: a consistent copy even while serve writes; the original is
  // opened read-only and nothing is created beside it), so the run searches the knowledge
  // base serve searches.
  static Result<std::unique_ptr<ScratchDataDir>> Create(Config* config, BuildOptions* build,
                                                        bool snapshot_database);
  ~ScratchDataDir();
  ScratchDataDir(const ScratchDataDir&) = delete;
  ScratchDataDir& operator=(const ScratchDataDir&) = delete;
  // After a successful build: the sample models trained here go to the user's cache.
  void KeepModels() const { KeepSampleModels(path_); }

 private:
  explicit ScratchDataDir(std::string path) : path_(std::move(path)) {}
  std::string path_;
};

// The [[helpdesk]] named `source` in `config`, built through the adapter registry (kb.cc),
// for commands that use a help desk's optional capabilities (`kb sync`, `train
// --source`). On failure prints the message and sets *exit_code (2: no such source or
// a bad section). `http` must outlive the returned adapter. `webhook_admin_only`: built
// for `deskpilot webhook`, which runs before the webhook secret is configured.
std::unique_ptr<Helpdesk> OpenHelpdesk(const std::string& cmd, const Config& config, const std::string& source,
                                       HttpClient* http, int* exit_code, bool webhook_admin_only = false);
// A --since style date: YYYY-MM-DD (midnight UTC) or an RFC 3339 time. False when malformed.
bool ParseCliDate(const std::string& text, std::chrono::system_clock::time_point* out);

int Main(int argc, char** argv);  // dispatch (cli.cc)

}  // namespace deskpilot::cli
