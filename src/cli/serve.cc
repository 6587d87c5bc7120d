// `deskpilot serve` and `deskpilot check-config`.
#include <csignal>
#include <condition_variable>
#include <iostream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <cxxopts.hpp>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "deskpilot/config.h"
#include "service/service.h"
#include "service/systemd_notify.h"

namespace deskpilot::cli {
namespace {

int ExitFor(const Status& s) { return s.code() == Code::kInvalidArgument ? kExitUsage : kExitFailure; }

}  // namespace

int RunServe(int argc, char** argv) {
  const std::string cmd = argv[0];
  cxxopts::Options opts(cmd, "Run the webhook receiver and the workers.");
  opts.add_options()("c,config", "config file (TOML)", cxxopts::value<std::string>())("h,help", "show help");
  std::string config_path;
  try {
    auto args = opts.parse(argc, argv);
    if (args.count("help")) {
      std::cout << opts.help() << "\n";
      return kExitOk;
    }
    if (!args.unmatched().empty()) return UsageError(cmd, "unexpected argument '" + args.unmatched().front() + "'");
    if (!args.count("config")) return UsageError(cmd, "--config FILE is required");
    config_path = args["config"].as<std::string>();
  } catch (const std::exception& e) {
    return UsageError(cmd, ArgumentError(e, argc, argv));
  }
  auto config = LoadConfig(config_path);
  if (!config.ok()) return UsageError(cmd, config.status().message());
  spdlog::set_level(spdlog::level::from_str(config->log_level));

  // Block the stop signals before any thread starts, so only sigwait below sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  BuildOptions build;
  build.sample_dir = SampleDir();
  auto service = Service::Create(*config, build);
  if (!service.ok()) {
    std::cerr << cmd << ": " << service.status().message() << "\n";
    return ExitFor(service.status());
  }
  if (Status s = (*service)->Start(); !s.ok()) return RuntimeError(cmd, s.message());
  std::cout << "deskpilot listening on " << (*service)->base_url() << std::endl;
  SystemdNotify("READY=1\nSTATUS=listening on " + (*service)->base_url());

  // The watchdog is fed only while the service proves progress, so systemd restarts a
  // process whose workers or database froze.
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;
  std::thread watchdog;
  if (auto interval = SystemdWatchdogInterval()) {
    watchdog = std::thread([&, period = *interval / 2] {
      std::unique_lock lock(mu);
      while (!cv.wait_for(lock, period, [&] { return stopping; })) {
        if ((*service)->Healthy())
          SystemdNotify("WATCHDOG=1");
        else
          spdlog::error("watchdog: no progress; not notifying systemd");
      }
    });
  }

  for (;;) {
    int sig = 0;
    sigwait(&set, &sig);
    if (sig == SIGHUP) {
      spdlog::warn("SIGHUP: configuration reload is not supported; restart the service to apply changes");
      continue;
    }
    spdlog::info("signal {}: shutting down", sig);
    break;
  }
  SystemdNotify("STOPPING=1");
  {
    std::lock_guard lock(mu);
    stopping = true;
  }
  cv.notify_all();
  if (watchdog.joinable()) watchdog.join();
  (*service)->Stop();
  return kExitOk;
}

int RunCheckConfig(int argc, char** argv) {
  const std::string cmd = argv[0];
  cxxopts::Options opts(cmd, "Validate a config file, its secrets and the adapters it names.");
  opts.add_options()("c,config", "config file (TOML)", cxxopts::value<std::string>())("h,help", "show help");
  std::string config_path;
  try {
    auto args = opts.parse(argc, argv);
    if (args.count("help")) {
      std::cout << opts.help() << "\n";
      return kExitOk;
    }
    if (!args.unmatched().empty()) return UsageError(cmd, "unexpected argument '" + args.unmatched().front() + "'");
    if (!args.count("config")) return UsageError(cmd, "--config FILE is required");
    config_path = args["config"].as<std::string>();
  } catch (const std::exception& e) {
    return UsageError(cmd, ArgumentError(e, argc, argv));
  }
  // Every problem is reported in one run: the core config's, storage.path's and each
  // adapter section's, so an admin does not fix a file one mistake per run.
  std::optional<Config> as_read;
  auto config = LoadConfig(config_path, &as_read);
  if (!as_read) return UsageError(cmd, config.status().message());
  std::vector<std::string> errors;
  if (!config.ok()) errors.push_back(config.status().message());
  // The adapters are built against a scratch database below, so what serve will need of
  // the configured one is checked here.
  if (!as_read->storage.path.empty()) {
    if (Status s = CheckStoragePath(as_read->storage.path); !s.ok()) errors.push_back(s.message());
  }
  // Build every adapter for real (secrets, URLs, model files), but against a scratch
  // database: checking a config must not create or change the production one.
  Config scratch_config = *as_read;
  BuildOptions build;
  build.sample_dir = SampleDir();
  auto scratch = ScratchDataDir::Create(&scratch_config, &build, /*snapshot_database=*/false);
  if (!scratch.ok()) return RuntimeError(cmd, scratch.status().message());
  Status built = BuildComponents(scratch_config, build).status();
  if (built.ok()) (*scratch)->KeepModels();
  if (!built.ok() && built.code() != Code::kInvalidArgument && errors.empty()) return RuntimeError(cmd, built.message());
  if (!built.ok()) errors.push_back(built.message());
  if (!errors.empty()) {
    // The core config's message already starts with "FILE: invalid config:".
    std::string report = config.ok() ? config_path + ": invalid config:" : "";
    for (const std::string& e : errors) report += (report.empty() ? "" : "\n") + e;
    return UsageError(cmd, report);
  }
  std::cout << config_path << ": ok (" << config->helpdesks.size() << " help desk(s); classifier "
            << config->classifier.type << ", retriever " << config->retriever.type << ", drafter "
            << config->drafter.type << ", policy mode " << config->policy.mode << ")\n";
  return kExitOk;
}

}  // namespace deskpilot::cli
