// `deskpilot webhook register|list|remove`: installs (idempotently), shows and removes
// the help desk's webhook that feeds `POST /webhooks/<source>`, through the help desk's
// WebhookAdmin capability (the vendor's calls stay in its adapter).
#include <iostream>
#include <memory>
#include <string>

#include <cxxopts.hpp>

#include "cli/commands.h"
#include "deskpilot/config.h"
#include "deskpilot/helpdesk.h"
#include "deskpilot/http_client.h"
#include "deskpilot/text.h"

namespace deskpilot::cli {
namespace {

constexpr char kUsage[] =
    "usage: deskpilot webhook <subcommand> --config FILE --source NAME [options]\n"
    "\n"
    "subcommands:\n"
    "  register --url PUBLIC_URL   create the help desk's webhook (and, where the desk needs\n"
    "                              them, its triggers) for ticket created and customer reply;\n"
    "                              running it again changes nothing. Prints the signing secret\n"
    "                              to store as webhook_secret_env/_file (none where the desk\n"
    "                              is given the secret deskpilot is configured with)\n"
    "  list                        list the help desk's webhooks (and the triggers that use them)\n"
    "  remove                      delete this source's webhook (and its triggers)\n"
    "\n"
    "PUBLIC_URL is where the help desk reaches deskpilot: https://dp.example.com (then\n"
    "/webhooks/NAME is appended) or the full https://dp.example.com/webhooks/NAME.\n";

// The endpoint for `source`: a bare base URL gets /webhooks/<source> appended. A URL that
// already names a webhook path must name this source's: appending to another source's
// would register an endpoint that answers 404.
Result<std::string> Endpoint(std::string url, const std::string& source) {
  if (url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0) {
    return Status::InvalidArgument("--url must start with https:// (or http://)");
  }
  while (url.size() > 8 && url.back() == '/') url.pop_back();
  const std::string suffix = "/webhooks/" + source;
  if (url.ends_with(suffix)) return url;
  if (url.find("/webhooks/") != std::string::npos) {
    return Status::InvalidArgument("--url " + url + " is not this source's endpoint: give the base URL or one ending in " +
                                   suffix);
  }
  return url + suffix;
}

// What register or remove changed ("created  webhook 17  deskpilot acme"). Ids and names
// come from the desk, so they reach the terminal through OneLineText.
void PrintChanges(const std::vector<WebhookChange>& changes) {
  for (const auto& c : changes) {
    std::cout << c.action << "  " << c.kind << " " << OneLineText(c.id) << "  " << OneLineText(c.name) << "\n";
  }
}

}  // namespace

int RunWebhook(int argc, char** argv) {
  const std::string cmd = argv[0];
  if (argc < 2 || std::string(argv[1]) == "--help" || std::string(argv[1]) == "-h") {
    (argc < 2 ? std::cerr : std::cout) << kUsage;
    return argc < 2 ? kExitUsage : kExitOk;
  }
  const std::string sub = argv[1];
  if (sub != "register" && sub != "list" && sub != "remove")
    return UsageError(cmd, "unknown subcommand \"" + sub + "\" (register | list | remove)");
  const std::string full = cmd + " " + sub;
  cxxopts::Options opts(full, "Manage the help desk webhook that feeds deskpilot.");
  opts.add_options()("c,config", "config file (TOML)", cxxopts::value<std::string>())(
      "source", "the [[helpdesk]] name", cxxopts::value<std::string>())(
      "url", "register: deskpilot's public URL", cxxopts::value<std::string>())("h,help", "show help");
  std::string config_file, source, url;
  try {
    auto args = opts.parse(argc - 1, argv + 1);
    if (args.count("help")) {
      std::cout << opts.help() << "\n" << kUsage;
      return kExitOk;
    }
    if (!args.unmatched().empty()) return UsageError(full, "unexpected argument '" + args.unmatched().front() + "'");
    if (!args.count("config") || !args.count("source")) return UsageError(full, "--config FILE and --source NAME are required");
    config_file = args["config"].as<std::string>();
    source = args["source"].as<std::string>();
    if (args.count("url")) url = args["url"].as<std::string>();
  } catch (const std::exception& e) {  // cxxopts reports bad options by throwing
    return UsageError(full, ArgumentError(e, argc - 1, argv + 1) + " (see --help)");
  }
  if (sub == "register" && url.empty()) return UsageError(full, "--url PUBLIC_URL is required");
  if (sub != "register" && !url.empty()) return UsageError(full, "--url only applies to register");

  auto config = LoadConfig(config_file);
  if (!config.ok()) return UsageError(full, config.status().message());
  auto http = NewCurlHttpClient();
  int exit_code = kExitOk;
  std::unique_ptr<Helpdesk> helpdesk =
      OpenHelpdesk(full, *config, source, http.get(), &exit_code, /*webhook_admin_only=*/true);
  if (helpdesk == nullptr) return exit_code;
  WebhookAdmin* admin = helpdesk->webhook_admin();
  if (admin == nullptr) {
    return UsageError(full, "helpdesk \"" + source + "\" is of type \"" + std::string(helpdesk->type()) +
                                "\", whose webhook cannot be set up through its API; configure this help "
                                "desk to POST to /webhooks/" + source + " by hand (see its adapter README)");
  }

  if (sub == "register") {
    auto endpoint = Endpoint(url, source);
    if (!endpoint.ok()) return UsageError(full, endpoint.status().message());
    auto reg = admin->RegisterWebhook(*endpoint);
    if (!reg.ok()) return RuntimeError(full, reg.status().ToString());
    PrintChanges(reg->changes);
    std::cout << "\nThe help desk (" << helpdesk->type() << ") will POST ticket events to " << reg->endpoint << "\n";
    if (reg->signed_with_configured_secret) {
      std::cout << "Deliveries are signed with the secret [[helpdesk]] \"" << source
                << "\" is already configured with: nothing new to store.\n";
      return kExitOk;
    }
    if (reg->signing_secret.empty()) {
      // The desk keeps an existing webhook's secret to itself, so a lost one cannot be
      // printed again; only a new webhook brings a new secret.
      std::cout << "The webhook already existed and its signing secret cannot be read back: keep the one\n"
                << "webhook_secret_env / webhook_secret_file of [[helpdesk]] \"" << source << "\" points to, or\n"
                << "run `deskpilot webhook remove` and then `register` again to get a new one.\n";
      return kExitOk;
    }
    std::cout << "Signing secret (store it where webhook_secret_env / webhook_secret_file of\n"
              << "[[helpdesk]] \"" << source << "\" points, then restart deskpilot):\n\n"
              << "  " << reg->signing_secret << "\n";
    return kExitOk;
  }
  if (sub == "list") {
    auto list = admin->ListWebhooks();
    if (!list.ok()) return RuntimeError(full, list.status().ToString());
    if (list->empty()) std::cout << "no webhooks\n";
    for (const auto& w : *list) {
      // Another integration's webhook is named by whoever made it: shown through OneLineText.
      std::cout << OneLineText(w.id) << "  " << OneLineText(w.name) << (w.ours ? "  (this source)" : "") << "  "
                << OneLineText(w.status) << "  " << OneLineText(w.endpoint) << "\n";
      for (const auto& d : w.details) std::cout << "    " << OneLineText(d) << "\n";
    }
    return kExitOk;
  }
  auto removed = admin->RemoveWebhook();
  if (!removed.ok()) return RuntimeError(full, removed.status().ToString());
  if (removed->empty()) std::cout << "nothing to remove for \"" << source << "\"\n";
  PrintChanges(*removed);
  return kExitOk;
}

}  // namespace deskpilot::cli
