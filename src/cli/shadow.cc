// `deskpilot audit shadow`: the review of a shadow trial. Reads each ticket's first shadow
// decision from the audit log, reads the ticket as the help desk has it now, and prints
// what automation would have done against what the agents did (service/shadow_report.h).
#include <chrono>
#include <cxxopts.hpp>
#include <filesystem>
#include <iostream>
#include <set>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "deskpilot/json_text.h"
#include "deskpilot/stats.h"
#include "deskpilot/store.h"
#include "service/shadow_report.h"
#include "store/sqlite_store.h"

namespace deskpilot::cli {

using nlohmann::json;

int AuditShadow(const std::string& cmd, int argc, char** argv) {
  cxxopts::Options opts(cmd,
                        "Review a shadow trial: for each ticket decided in shadow mode (its first decision), what "
                        "automation would have done (the ladder's rung) against what the agents did since: the "
                        "category they labelled it with, the priority they left, whether they replied. Reads the "
                        "configured database and calls the help desk once per ticket (GET only; nothing is written).");
  opts.add_options()("c,config", "config file (TOML): its database and [[helpdesk]]", cxxopts::value<std::string>())(
      "source", "the [[helpdesk]] whose tickets to review", cxxopts::value<std::string>())(
      "since", "decisions at or after DATE (YYYY-MM-DD or RFC 3339; default: all)", cxxopts::value<std::string>())(
      "tag-prefix", "the agents' category is the ticket's tag with this prefix removed (cat_refund → refund)",
      cxxopts::value<std::string>())(
      "field", "the agents' category is this custom field (its configured name or id), instead of --tag-prefix",
      cxxopts::value<std::string>())(
      "limit", "at most this many tickets (oldest first), 1..100000", cxxopts::value<int>()->default_value("1000"))(
      "target-precision",
      "the share of automatic replies whose category the agents must agree with: categories that fall short of it "
      "beyond chance are named",
      cxxopts::value<double>()->default_value(std::to_string(kDefaultTargetPrecision)))(
      "json", "print the report as JSON")("h,help", "show help");
  std::string config_path, source, tag_prefix, field;
  std::chrono::system_clock::time_point since{};
  int limit = 1000;
  double target_precision = kDefaultTargetPrecision;
  bool as_json = false;
  try {
    auto args = opts.parse(argc, argv);
    if (args.count("help")) {
      std::cout << opts.help();
      return kExitOk;
    }
    if (!args.unmatched().empty()) return UsageError(cmd, "unexpected argument '" + args.unmatched().front() + "'");
    if (!args.count("config") || !args.count("source")) return UsageError(cmd, "give --config FILE and --source NAME");
    config_path = args["config"].as<std::string>();
    source = args["source"].as<std::string>();
    if (args.count("tag-prefix") && args.count("field")) return UsageError(cmd, "give --tag-prefix or --field, not both");
    if (args.count("tag-prefix")) tag_prefix = args["tag-prefix"].as<std::string>();
    if (args.count("field")) field = args["field"].as<std::string>();
    if ((args.count("tag-prefix") && tag_prefix.empty()) || (args.count("field") && field.empty()))
      return UsageError(cmd, "--tag-prefix and --field must not be empty");
    if (args.count("since") && !ParseCliDate(args["since"].as<std::string>(), &since))
      return UsageError(cmd, "--since wants YYYY-MM-DD or an RFC 3339 UTC time");
    limit = args["limit"].as<int>();
    if (limit < 1 || limit > 100000) return UsageError(cmd, "--limit must be in 1..100000");
    target_precision = args["target-precision"].as<double>();
    if (!(target_precision > 0.0 && target_precision <= 1.0))
      return UsageError(cmd, "--target-precision must be in (0, 1]");
    as_json = args.count("json") > 0;
  } catch (const std::exception& e) {  // cxxopts reports bad options by throwing
    return UsageError(cmd, ArgumentError(e, argc, argv) + " (see --help)");
  }

  auto config = LoadConfig(config_path);
  if (!config.ok()) return UsageError(cmd, config.status().message());
  // Opening would create an empty database, and an empty report for a mistyped path
  // would read as "no shadow decisions".
  std::error_code ec;
  if (!std::filesystem::is_regular_file(config->storage.path, ec))
    return UsageError(cmd, "no database at '" + config->storage.path + "'");
  auto http = NewCurlHttpClient();
  int exit_code = kExitOk;
  std::unique_ptr<Helpdesk> helpdesk = OpenHelpdesk(cmd, *config, source, http.get(), &exit_code);
  if (!helpdesk) return exit_code;
  // A file that is not a deskpilot database is refused and left untouched.
  Result<std::unique_ptr<Store>> store = OpenExistingSqliteStore(config->storage.path);
  if (!store.ok() && store.status().code() == Code::kNotFound) return UsageError(cmd, store.status().message());
  if (!store.ok() && store.status().code() == Code::kInvalidArgument)
    return UsageError(cmd, config->storage.path + ": " + store.status().message());
  if (!store.ok()) return RuntimeError(cmd, "open " + config->storage.path + ": " + store.status().ToString());

  // Each ticket's first shadow decision: the one an automatic reply would have answered.
  // Only the small triage and decision parts are kept, not the whole row.
  std::vector<std::pair<std::string, json>> decisions;
  std::set<std::string> seen;
  const int64_t since_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(since.time_since_epoch()).count();
  Status read = (*store)->ForEachAudit(source, "triage", since_ms, [&](const AuditRow& row) {
    if (seen.count(row.entry.ticket_id)) return true;
    json data = json::parse(row.entry.data, nullptr, /*allow_exceptions=*/false);
    if (!data.is_object() || !data.contains("decision") || !data["decision"].is_object() ||
        data["decision"].value("rung", "") != "shadow")
      return true;
    seen.insert(row.entry.ticket_id);
    decisions.emplace_back(row.entry.ticket_id,
                           json{{"triage", data.value("triage", json::object())}, {"decision", data["decision"]}});
    return static_cast<int>(decisions.size()) < limit;
  });
  if (!read.ok()) return RuntimeError(cmd, "read the audit log: " + read.ToString());
  if (decisions.empty()) {
    std::cerr << cmd << ": no shadow decisions for " << source
              << " in the audit log (is policy.mode \"shadow\" and has serve run?)\n";
  }

  ShadowReport report({tag_prefix, field}, target_precision);
  int done = 0;
  for (const auto& [ticket_id, record] : decisions) {
    Result<Ticket> now = helpdesk->FetchTicket(ticket_id);
    if (!now.ok() && (now.status().code() == Code::kUnauthenticated ||
                      now.status().code() == Code::kPermissionDenied)) {
      // Every other ticket would fail the same way: stop rather than hammer the desk.
      return RuntimeError(cmd, "read ticket " + ticket_id + ": " + now.status().ToString());
    }
    if (!now.ok() && now.status().code() != Code::kNotFound)
      std::cerr << cmd << ": ticket " << ticket_id << ": " << now.status().ToString() << " (counted as unavailable)\n";
    report.Add(record, now.ok() ? &*now : nullptr);
    if (++done % 100 == 0 && !as_json) std::cerr << cmd << ": " << done << " of " << decisions.size() << " tickets read\n";
  }
  if (as_json) {
    json j = report.Json();
    j["source"] = source;
    j["labels_from"] = !tag_prefix.empty() ? json("tags " + tag_prefix + "*")
                       : !field.empty()    ? json("field " + field)
                                           : json(nullptr);
    std::cout << JsonText(j, 2) << "\n";
  } else {
    if (tag_prefix.empty() && field.empty())
      std::cout << "(no --tag-prefix or --field: the agents' categories are not compared)\n";
    std::cout << "Shadow trial of " << source << "\n" << report.Text();
  }
  return kExitOk;
}

}  // namespace deskpilot::cli
