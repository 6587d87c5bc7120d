// Helpers for the end-to-end tests that run the real `deskpilot serve` against the
// in-process sandbox help desk: a child process that is always reaped (even when an
// assertion fails), signed webhook posts, shell commands, and read-only SQLite queries.
#pragma once

#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>
#include <fcntl.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <ctime>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

#include "deskpilot/crypto.h"
#include "run_command.h"
#include "helpdesk/sandbox/sandbox_server.h"
#include "service/sample_models_test_util.h"

namespace deskpilot::testing_harness {

// `deskpilot serve` (or any binary) with stdout+stderr in a log file, so a chatty child
// never blocks on a full pipe. The destructor SIGKILLs and reaps it if it is still alive.
class Process {
 public:
  Process(std::vector<std::string> args, const std::vector<std::string>& extra_env, std::string log_path)
      : log_path_(std::move(log_path)) {
    // Everything the child needs is built before fork(): after fork only
    // async-signal-safe calls are allowed in a multi-threaded parent.
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
    for (const auto& e : extra_env) env.push_back(e);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    int fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fd, STDOUT_FILENO);
      dup2(fd, STDERR_FILENO);
      execve(argv[0], argv.data(), envp.data());
      _exit(127);
    }
    ::close(fd);
  }
  ~Process() {
    if (pid_ > 0 && !reaped_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
  }
  Process(const Process&) = delete;
  Process& operator=(const Process&) = delete;

  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }
  // The port from "listening on http://127.0.0.1:PORT", or 0 if the process died or the
  // timeout passed first.
  int WaitForPort(std::chrono::milliseconds timeout) {
    static const std::regex kListening(R"(listening on http://127\.0\.0\.1:(\d+))");
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      std::smatch m;
      std::string log = Log();
      if (std::regex_search(log, m, kListening)) return std::stoi(m[1].str());
      if (Poll()) return 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return 0;
  }
  // True once the process has exited (reaping it); status() then describes how.
  bool Poll() {
    if (reaped_) return true;
    int status = 0;
    if (waitpid(pid_, &status, WNOHANG) == pid_) {
      reaped_ = true;
      status_ = status;
    }
    return reaped_;
  }
  bool WaitExit(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!Poll()) {
      if (std::chrono::steady_clock::now() >= deadline) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }
  void Kill() {
    if (!reaped_) kill(pid_, SIGKILL);
    WaitExit(std::chrono::seconds(30));
  }
  // Exit code, or 128 + signal; -1 while running.
  int ExitCode() const {
    if (!reaped_) return -1;
    return WIFEXITED(status_) ? WEXITSTATUS(status_) : 128 + WTERMSIG(status_);
  }
  int Terminate(std::chrono::milliseconds timeout) {
    if (!reaped_) kill(pid_, SIGTERM);
    if (!WaitExit(timeout)) return -1;
    return ExitCode();
  }
  pid_t pid() const { return pid_; }

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = 0;
};

inline std::string Timestamp() {
  auto now = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

// Posts a webhook signed the way the sandbox (and Zendesk) sign them; a fresh timestamp
// and signature per call, as a vendor's redelivery would carry.
// `c` may keep its connection alive between calls (the server then answers from its
// committer) or not (one connection per webhook: answered by the connection's thread).
inline httplib::Result PostSignedWith(httplib::Client& c, const std::string& source, const std::string& body,
                                      const std::string& secret) {
  std::string ts = Timestamp();
  httplib::Headers h = {{"X-Zendesk-Webhook-Signature", Base64Encode(HmacSha256(secret, ts + body))},
                        {"X-Zendesk-Webhook-Signature-Timestamp", ts}};
  return c.Post(("/webhooks/" + source).c_str(), h, body, "application/json");
}

inline std::unique_ptr<httplib::Client> WebhookClient(int port, bool keep_alive) {
  auto c = std::make_unique<httplib::Client>("127.0.0.1", port);
  c->set_connection_timeout(std::chrono::seconds(2));
  c->set_read_timeout(std::chrono::seconds(10));
  c->set_keep_alive(keep_alive);
  return c;
}

inline httplib::Result PostSigned(int port, const std::string& source, const std::string& body,
                                  const std::string& secret) {
  return PostSignedWith(*WebhookClient(port, false), source, body, secret);
}

// Polls `done` every 50 ms until it holds or `timeout` passes; returns its last answer.
// The timeout is generous: it only bounds a failing test on a loaded machine.
template <typename Pred>
bool Eventually(Pred done, std::chrono::milliseconds timeout = std::chrono::seconds(150)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return done();
}

// Runs a shell command; returns its exit code, with stdout+stderr in *output.
inline int RunCommand(const std::string& command, std::string* output) {
  testing_shell::Outcome r = testing_shell::RunShell(command);
  *output = std::move(r.out);
  return r.code;
}

// Runs one query on a read-only connection and returns its rows as text.
inline std::optional<std::vector<std::vector<std::string>>> Query(const std::string& db_path,
                                                                  const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(db_path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    sqlite3_close(db);
    return std::nullopt;
  }
  sqlite3_busy_timeout(db, 5000);
  sqlite3_stmt* stmt = nullptr;
  std::optional<std::vector<std::vector<std::string>>> rows;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK) {
    rows.emplace();
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::vector<std::string> row;
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        const unsigned char* t = sqlite3_column_text(stmt, i);
        row.emplace_back(t ? reinterpret_cast<const char*>(t) : "");
      }
      rows->push_back(std::move(row));
    }
    if (rc != SQLITE_DONE) rows.reset();
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return rows;
}

// Jobs by state, e.g. {"done": 300}; empty when the database cannot be read yet.
inline std::map<std::string, int> JobStates(const std::string& db_path) {
  std::map<std::string, int> out;
  if (auto rows = Query(db_path, "SELECT state, COUNT(*) FROM jobs GROUP BY state"))
    for (const auto& r : *rows) out[r[0]] = std::stoi(r[1]);
  return out;
}

using testing_util::SeedSampleModels;

// What the tests that run `deskpilot serve` against the sandbox share: a fresh temporary
// directory (seeded with the sample models), the sandbox help desk started in it with a random API token and webhook
// secret, and the start of a config pointing at both. A test appends its own sections
// ([workers], [policy], ...) to Config() and starts the binary with Env(). The directory
// is removed at the end, or kept (and named on stderr) when Keep() was called.
class SandboxDesk {
 public:
  explicit SandboxDesk(const std::string& name)
      : dir_(std::filesystem::temp_directory_path() / ("deskpilot-" + name + "-" + RandomHex(6))),
        secret_(RandomHex(16)),
        token_(RandomHex(16)) {
    std::filesystem::create_directories(dir_);
    SeedSampleModels(dir_);
    SandboxOptions so;
    so.db_path = (dir_ / "sandbox.db").string();
    so.webhook_secret = secret_;
    so.api_token = token_;
    sandbox_ = std::make_unique<SandboxServer>(so);
    started_ = sandbox_->Start().ok();
  }
  ~SandboxDesk() {
    sandbox_->Stop();
    std::error_code ec;
    if (keep_) std::cerr << "kept for inspection: " << dir_ << "\n";
    else std::filesystem::remove_all(dir_, ec);
  }
  SandboxDesk(const SandboxDesk&) = delete;
  SandboxDesk& operator=(const SandboxDesk&) = delete;

  bool started() const { return started_; }
  void Keep() { keep_ = true; }
  const std::filesystem::path& dir() const { return dir_; }
  std::string Path(const std::string& file) const { return (dir_ / file).string(); }
  std::string db() const { return Path("deskpilot.db"); }
  std::string sandbox_db() const { return Path("sandbox.db"); }
  const std::string& secret() const { return secret_; }
  const std::string& token() const { return token_; }
  SandboxServer& sandbox() { return *sandbox_; }

  // [server] on a free port, [storage] at db(), and the [[helpdesk]] "desk" at the sandbox
  // with its secrets in the variables Env() sets.
  std::string Config() const {
    return "[server]\nlisten = \"127.0.0.1:0\"\n[storage]\npath = \"" + db() +
           "\"\n[[helpdesk]]\nname = \"desk\"\ntype = \"sandbox\"\nbase_url = \"http://127.0.0.1:" +
           std::to_string(sandbox_->port()) +
           "\"\napi_token_env = \"DESK_API_TOKEN\"\nwebhook_secret_env = \"DESK_WEBHOOK_SECRET\"\n";
  }
  // Writes Config() + `sections` to deskpilot.toml and returns its path.
  std::string WriteConfig(const std::string& sections) const {
    const std::string path = Path("deskpilot.toml");
    std::ofstream(path) << Config() << sections;
    return path;
  }
  std::vector<std::string> Env() const {
    return {"DESK_API_TOKEN=" + token_, "DESK_WEBHOOK_SECRET=" + secret_};
  }
  // The sandbox's REST API, authenticated.
  httplib::Client Client() const {
    httplib::Client c("127.0.0.1", sandbox_->port());
    c.set_bearer_token_auth(token_.c_str());
    return c;
  }

 private:
  std::filesystem::path dir_;
  std::string secret_, token_;
  std::unique_ptr<SandboxServer> sandbox_;
  bool started_ = false;
  bool keep_ = false;
};

}  // namespace deskpilot::testing_harness
