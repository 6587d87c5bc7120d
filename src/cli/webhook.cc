// `deskpilot webhook register|list|remove`: installs (idempotently), shows and removes
// the help desk's webhook that feeds `POST /webhooks/<source>`. Only Zendesk supports
// registration so far; its adapter's admin functions are called directly until the
// helpdesk interface grows a vendor-neutral registration call.
#include <iostream>
#include <memory>
#include <string>

#include <cxxopts.hpp>

#include "cli/commands.h"
#include "deskpilot/config.h"
#include "deskpilot/http_client.h"
#include "helpdesk/zendesk/zendesk_admin.h"
#include "helpdesk/zendesk/zendesk_api.h"

namespace deskpilot::cli {
namespace {

constexpr char kUsage[] =
    "usage: deskpilot webhook <subcommand> --config FILE --source NAME [options]\n"
    "\n"
    "subcommands:\n"
    "  register --url PUBLIC_URL   create the help desk's webhook and triggers (ticket created,\n"
    "                              customer comment added); running it again changes nothing.\n"
    "                              Prints the signing secret to store as webhook_secret_env/_file\n"
    "  list                        list the help desk's webhooks and the triggers that use them\n"
    "  remove                      delete this source's triggers and webhook\n"
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
  const HelpdeskConfig* hd = nullptr;
  for (const auto& h : config->helpdesks)
    if (h.name == source) hd = &h;
  if (hd == nullptr) return UsageError(full, "no [[helpdesk]] named \"" + source + "\" in " + config_file);
  if (hd->type != "zendesk") {
    return UsageError(full, "helpdesk \"" + source + "\" is of type \"" + hd->type +
                                "\": webhook registration is supported for zendesk only; configure this help "
                                "desk to POST to /webhooks/" + source + " by hand (see its adapter README)");
  }
  ConfigSection section(hd->section, hd->path);
  // The signing secret is what `register` hands out, so it may not be configured yet.
  auto options = ZendeskOptionsFromConfig(section, source, /*require_webhook_secret=*/false);
  if (!options.ok()) return UsageError(full, options.status().message());
  auto http = NewCurlHttpClient();
  ZendeskApi api(std::move(options).value(), http.get());

  if (sub == "register") {
    auto endpoint = Endpoint(url, source);
    if (!endpoint.ok()) return UsageError(full, endpoint.status().message());
    auto reg = RegisterZendeskWebhook(api, *endpoint);
    if (!reg.ok()) return RuntimeError(full, reg.status().ToString());
    for (const auto& c : reg->changes) std::cout << c.action << "  " << c.kind << " " << c.id << "  " << c.name << "\n";
    std::cout << "\nZendesk will POST ticket events to " << reg->endpoint << "\n"
              << "Signing secret (store it where webhook_secret_env / webhook_secret_file of\n"
              << "[[helpdesk]] \"" << source << "\" points, then restart deskpilot):\n\n"
              << "  " << reg->signing_secret << "\n";
    return kExitOk;
  }
  if (sub == "list") {
    auto list = ListZendeskWebhooks(api);
    if (!list.ok()) return RuntimeError(full, list.status().ToString());
    if (list->empty()) std::cout << "no webhooks\n";
    for (const auto& w : *list) {
      std::cout << w.id << "  " << w.name << (w.ours ? "  (this source)" : "") << "  " << w.status << "  "
                << w.endpoint << "\n";
      for (const auto& t : w.triggers) std::cout << "    trigger: " << t << "\n";
    }
    return kExitOk;
  }
  auto removed = RemoveZendeskWebhook(api);
  if (!removed.ok()) return RuntimeError(full, removed.status().ToString());
  if (removed->empty()) std::cout << "nothing to remove for \"" << source << "\"\n";
  for (const auto& c : *removed) std::cout << c.action << "  " << c.kind << " " << c.id << "  " << c.name << "\n";
  return kExitOk;
}

}  // namespace deskpilot::cli
