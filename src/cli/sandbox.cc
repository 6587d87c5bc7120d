// `deskpilot sandbox`: the local sandbox help desk in the foreground, speaking its own
// REST API or (--dialect zendesk) the subset of Zendesk's that deskpilot uses.
#include <csignal>
#include <cstdlib>
#include <iostream>

#include <cxxopts.hpp>

#include "cli/commands.h"
#include "deskpilot/crypto.h"
#include "helpdesk/sandbox/sandbox_server.h"
#include "helpdesk/zendesk/zendesk_fake.h"

namespace deskpilot::cli {
namespace {

constexpr char kDefaultSecretEnv[] = "DESKPILOT_SANDBOX_WEBHOOK_SECRET";
constexpr char kDefaultTokenEnv[] = "DESKPILOT_SANDBOX_API_TOKEN";

// The value of environment variable `name`, or a fresh random secret (reported through
// `generated`) so the sandbox never runs with an empty or guessable credential.
std::string SecretFromEnv(const std::string& name, bool* generated) {
  const char* v = std::getenv(name.c_str());
  *generated = v == nullptr || *v == '\0';
  return *generated ? RandomHex(24) : std::string(v);
}

}  // namespace

int RunSandbox(int argc, char** argv) {
  const std::string cmd = argv[0];
  cxxopts::Options opts(cmd,
                        "Run the sandbox help desk (REST API under /api, signed webhooks) until "
                        "SIGINT/SIGTERM. Secrets come only from environment variables; unset ones "
                        "are generated and printed once.");
  opts.add_options()("port", "port to listen on (0 picks a free one)", cxxopts::value<int>())(
      "host", "address to bind", cxxopts::value<std::string>()->default_value("127.0.0.1"))(
      "db", "SQLite file for the sandbox's tickets", cxxopts::value<std::string>())(
      "webhook-url", "where to POST ticket events (e.g. http://127.0.0.1:8080/webhooks/sandbox)",
      cxxopts::value<std::string>()->default_value(""))(
      "webhook-secret-env", "environment variable holding the webhook signing secret",
      cxxopts::value<std::string>()->default_value(kDefaultSecretEnv))(
      "api-token-env", "environment variable holding the API bearer token",
      cxxopts::value<std::string>()->default_value(kDefaultTokenEnv))(
      "dialect", "sandbox (its own API) or zendesk (Zendesk's endpoints and payloads for the subset deskpilot "
                 "uses; tickets in memory, webhooks set up with `deskpilot webhook register`)",
      cxxopts::value<std::string>()->default_value("sandbox"))(
      "email", "zendesk dialect: the API user's email (Basic {email}/token:{token})",
      cxxopts::value<std::string>()->default_value("deskpilot@sandbox.invalid"))("h,help", "show help");

  SandboxOptions options;
  std::string secret_env, token_env, dialect, email;
  try {
    auto args = opts.parse(argc, argv);
    if (args.count("help")) {
      std::cout << opts.help() << "\n";
      return kExitOk;
    }
    if (!args.unmatched().empty()) return UsageError(cmd, "unexpected argument \"" + args.unmatched()[0] + "\"");
    dialect = args["dialect"].as<std::string>();
    email = args["email"].as<std::string>();
    if (dialect != "sandbox" && dialect != "zendesk") return UsageError(cmd, "--dialect must be sandbox or zendesk");
    if (!args.count("port")) return UsageError(cmd, "--port N is required (0 picks a free port)");
    if (dialect == "sandbox" && !args.count("db")) return UsageError(cmd, "--db FILE is required");
    if (dialect == "zendesk" && (args.count("db") || !args["webhook-url"].as<std::string>().empty()))
      return UsageError(cmd, "--db and --webhook-url are for the sandbox dialect (zendesk keeps tickets in memory "
                             "and gets its webhook from `deskpilot webhook register`)");
    options.port = args["port"].as<int>();
    options.host = args["host"].as<std::string>();
    if (args.count("db")) options.db_path = args["db"].as<std::string>();
    options.webhook_url = args["webhook-url"].as<std::string>();
    secret_env = args["webhook-secret-env"].as<std::string>();
    token_env = args["api-token-env"].as<std::string>();
  } catch (const std::exception& e) {
    return UsageError(cmd, ArgumentError(e, argc, argv));
  }
  if (options.port < 0 || options.port > 65535) return UsageError(cmd, "--port must be in [0, 65535]");
  if (options.host.empty()) return UsageError(cmd, "--host must not be empty");
  if (dialect == "sandbox" && options.db_path.empty()) return UsageError(cmd, "--db must not be empty");
  if (!options.webhook_url.empty() && options.webhook_url.rfind("http://", 0) != 0 &&
      options.webhook_url.rfind("https://", 0) != 0) {
    return UsageError(cmd, "--webhook-url must start with http:// or https://");
  }
  if (secret_env.empty() || token_env.empty())
    return UsageError(cmd, "--webhook-secret-env and --api-token-env must name a variable");

  bool secret_generated = false, token_generated = false;
  options.webhook_secret = SecretFromEnv(secret_env, &secret_generated);
  options.api_token = SecretFromEnv(token_env, &token_generated);

  // Block the stop signals before any thread starts, so only sigwait below sees them.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  if (dialect == "zendesk") {
    // The Zendesk dialect is the loopback Zendesk the adapter's tests run against: it
    // was written from Zendesk's API reference, not from the adapter, so it is the same
    // thing a real account answers for this subset (see the zendesk adapter's README).
    ZendeskFakeOptions zo;
    zo.host = options.host;
    zo.port = options.port;
    zo.email = email;
    zo.api_token = options.api_token;
    ZendeskFake zendesk(zo);
    if (Status s = zendesk.Start(); !s.ok()) return RuntimeError(cmd, s.ToString());
    std::cout << "Zendesk-dialect sandbox listening on http://" << HostPort(options.host, zendesk.port()) << "\n"
              << "API user " << email << " (Basic {email}/token:{token}; the token is account-wide)\n";
    if (token_generated)
      std::cout << "generated API token (set " << token_env << " to choose one): " << options.api_token << "\n";
    std::cout << "webhooks: run `deskpilot webhook register` against it" << std::endl;
    int sig = 0;
    sigwait(&set, &sig);
    std::cout << "signal " << sig << ": stopping" << std::endl;
    zendesk.Stop();
    return kExitOk;
  }

  SandboxServer server(options);
  if (Status s = server.Start(); !s.ok()) return RuntimeError(cmd, s.ToString());
  const std::string url = "http://" + HostPort(options.host, server.port());
  std::cout << "sandbox help desk listening on " << url << "\n";
  if (token_generated)
    std::cout << "generated API token (set " << token_env << " to choose one): " << options.api_token << "\n";
  if (secret_generated)
    std::cout << "generated webhook secret (set " << secret_env << " to choose one): " << options.webhook_secret
              << "\n";
  std::cout << (options.webhook_url.empty() ? std::string("webhooks: off (no --webhook-url)")
                                            : "webhooks: POST " + options.webhook_url)
            << std::endl;

  int sig = 0;
  sigwait(&set, &sig);
  std::cout << "signal " << sig << ": stopping" << std::endl;
  server.Stop();
  return kExitOk;
}

}  // namespace deskpilot::cli
