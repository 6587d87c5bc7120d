// `deskpilot triage`: the whole pipeline on one ticket, writing nothing to any help desk.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "deskpilot/config.h"
#include "deskpilot/json_text.h"
#include "deskpilot/text.h"
#include "service/components.h"

namespace deskpilot::cli {
namespace {

std::string Pct(double c) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%3.0f%%", c * 100.0);
  return buf;
}

void PrintReadable(const Ticket& t, const PipelineResult& r) {
  std::cout << "Ticket: " << (t.subject.empty() ? "(no subject)" : OneLineText(t.subject)) << "\n\nTriage:\n";
  for (const auto& [dim, p] : r.triage.predictions) {
    std::string d = dim;
    d.resize(std::max<size_t>(d.size(), 10), ' ');
    std::cout << "  " << d << " " << (p.abstained ? "(unsure)" : OneLineText(p.label)) << "  " << Pct(p.confidence)
              << "\n";
  }
  if (!r.triage.flags.empty()) {
    std::cout << "  flags     ";
    for (const auto& f : r.triage.flags) std::cout << " " << OneLineText(f);
    std::cout << "\n";
  }
  std::cout << "\nSources:\n";
  if (r.passages.empty()) std::cout << "  (none relevant enough)\n";
  for (size_t i = 0; i < r.passages.size(); ++i)
    std::cout << "  " << i + 1 << ". [" << OneLineText(r.passages[i].doc_id) << "] "
              << OneLineText(r.passages[i].title) << "  (score " << r.passages[i].score << ")\n";
  std::cout << "\nDecision: " << RungName(r.decision.rung) << "\n";
  for (const auto& reason : r.decision.reasons) std::cout << "  - " << OneLineText(reason) << "\n";
  std::cout << "\nDraft (" << (r.draft.grounded ? "grounded" : "not grounded") << "):\n";
  std::istringstream body(r.draft.body);
  for (std::string line; std::getline(body, line);) std::cout << "  | " << OneLineText(line) << "\n";
  std::cout << "\nWrite plan (not applied):\n";
  for (const auto& a : r.plan.actions) {
    std::cout << "  - " << ActionTypeName(a.type);
    if (a.type == ActionType::kSetTags) {
      for (const auto& tag : a.tags) std::cout << " " << OneLineText(tag);
    } else if (a.type == ActionType::kAddInternalNote || a.type == ActionType::kAddPublicReply) {
      std::cout << " (" << a.value.size() << " chars)";
    } else {
      std::cout << " " << OneLineText(a.field.empty() ? a.value : a.field + "=" + a.value);
    }
    std::cout << "\n";
  }
}

}  // namespace

int RunTriage(int argc, char** argv) {
  const std::string cmd = argv[0];
  cxxopts::Options opts(cmd, "Run the pipeline on one ticket (normalized ticket JSON from a file or stdin). Writes nothing to any help desk.");
  opts.add_options()("c,config", "config file (TOML); without it the built-in defaults and sample data are used",
                     cxxopts::value<std::string>())("json", "print JSON")("h,help", "show help")(
      "input", "TICKET.json or - for stdin", cxxopts::value<std::string>());
  opts.parse_positional({"input"});
  opts.positional_help("[TICKET.json|-]");
  std::string config_path, input = "-";
  bool json = false;
  try {
    auto args = opts.parse(argc, argv);
    if (args.count("help")) {
      std::cout << opts.help() << "\n";
      return kExitOk;
    }
    if (args.count("config")) config_path = args["config"].as<std::string>();
    if (args.count("input")) input = args["input"].as<std::string>();
    json = args.count("json") > 0;
    if (!args.unmatched().empty()) return UsageError(cmd, "unexpected argument '" + args.unmatched().front() + "' (one ticket per run)");
  } catch (const std::exception& e) {
    return UsageError(cmd, ArgumentError(e, argc, argv));
  }

  Config config;
  if (!config_path.empty()) {
    auto loaded = LoadConfig(config_path);
    if (!loaded.ok()) return UsageError(cmd, loaded.status().message());
    config = std::move(loaded).value();
    spdlog::set_level(spdlog::level::from_str(config.log_level));
  } else {
    config.storage.path = (std::filesystem::path(UserCacheDir()) / "triage.db").string();
    config.classifier.type = "embedded";
    config.retriever.type = "fts5";
    config.drafter.type = "extractive";
    config.classifier.section = config.retriever.section = config.drafter.section = nlohmann::json::object();
  }

  std::string text;
  if (input == "-") {
    std::stringstream ss;
    ss << std::cin.rdbuf();
    text = ss.str();
  } else {
    std::ifstream in(input, std::ios::binary);
    if (!in) return UsageError(cmd, "cannot read " + input);
    std::stringstream ss;
    ss << in.rdbuf();
    text = ss.str();
  }
  auto parsed = nlohmann::json::parse(text, nullptr, false);
  if (parsed.is_discarded()) return UsageError(cmd, (input == "-" ? "stdin" : input) + ": not valid JSON");
  // Accept a wrapped {"ticket": {...}} too (what the sandbox API returns).
  if (parsed.is_object() && parsed.contains("ticket") && parsed["ticket"].is_object()) parsed = parsed["ticket"];
  Ticket ticket;
  if (Status s = TicketFromJson(parsed, &ticket); !s.ok()) return UsageError(cmd, "ticket: " + s.message());
  // A ticket given only as subject/description still has its first customer message.
  if (ticket.comments.empty() && !ticket.description.empty()) {
    Comment first;
    first.author_role = AuthorRole::kCustomer;
    first.body = ticket.description;
    ticket.comments.push_back(first);
  }

  BuildOptions build;
  build.sample_dir = SampleDir();
  build.with_helpdesks = false;
  // With a config, the pipeline runs on a snapshot of the configured database: the
  // knowledge base (and cached embeddings) serve uses, while triage writes nothing there
  // and creates nothing when serve has not run yet. Without one, the user's cache is the
  // data dir (a database of its own with the sample KB and models).
  std::unique_ptr<ScratchDataDir> scratch;
  if (!config_path.empty()) {
    auto created = ScratchDataDir::Create(&config, &build, /*snapshot_database=*/true);
    if (!created.ok()) return RuntimeError(cmd, created.status().message());
    scratch = std::move(created).value();
  }
  auto c = BuildComponents(config, build);
  if (c.ok() && scratch) scratch->KeepModels();
  if (!c.ok()) {
    std::cerr << cmd << ": " << c.status().message() << "\n";
    return c.status().code() == Code::kInvalidArgument ? kExitUsage : kExitFailure;
  }
  auto result = (*c)->pipeline->Run(ticket, "triage-cli");
  if (!result.ok()) return RuntimeError(cmd, result.status().ToString());
  if (json) {
    std::cout << JsonText(PipelineResultJson(*result, /*include_text=*/true), 2) << "\n";
  } else {
    PrintReadable(ticket, *result);
  }
  return kExitOk;
}

}  // namespace deskpilot::cli
