#include "service/components.h"

#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

#include "deskpilot/registry.h"
#include "llm/common/observed_llm_client.h"

namespace deskpilot {
namespace {

// Runs a factory over its section, then reports keys it did not read as unknown.
template <typename T, typename MakeFn>
Result<std::unique_ptr<T>> MakeAdapter(const nlohmann::json& section, const std::string& path,
                                       AdapterContext ctx, MakeFn make) {
  static const nlohmann::json kEmpty = nlohmann::json::object();
  ConfigSection sec(section.is_object() ? section : kEmpty, path);
  std::string type = sec.String("type", "");
  if (sec.Has("name")) (void)sec.String("name");
  ctx.section = &sec;
  auto made = make(type, ctx);
  Status finished = sec.Finish();
  if (!made.ok()) {
    // Factories that validate their own section report config errors (with key paths)
    // as InvalidArgument; those already include what Finish() would add.
    if (made.status().code() == Code::kInvalidArgument) return made.status();
    if (!finished.ok()) return finished;
    return made.status().WithContext(path);
  }
  if (!finished.ok()) return finished;
  return made;
}

}  // namespace

void RecordLlmCall(Metrics& metrics, const LlmCallEvent& e) {
  metrics.Inc("deskpilot_llm_calls_total", {{"adapter", e.adapter}, {"outcome", e.outcome}});
  // A cached answer cost nothing; its tokens were counted when first paid for.
  if (e.usage == nullptr || e.usage->cached) return;
  metrics.Inc("deskpilot_llm_tokens_total", {{"adapter", e.adapter}, {"model", e.usage->model}, {"kind", "input"}},
              static_cast<double>(e.usage->input_tokens));
  metrics.Inc("deskpilot_llm_tokens_total", {{"adapter", e.adapter}, {"model", e.usage->model}, {"kind", "output"}},
              static_cast<double>(e.usage->output_tokens));
  metrics.Inc("deskpilot_llm_cost_total", {{"adapter", e.adapter}, {"model", e.usage->model}}, e.usage->cost);
}

std::string DefaultPromptsDir() {
  if (const char* env = std::getenv("DESKPILOT_PROMPTS_DIR"); env && *env) return env;
  std::error_code ec;
  if (std::filesystem::is_directory(DESKPILOT_SOURCE_PROMPTS_DIR, ec)) return DESKPILOT_SOURCE_PROMPTS_DIR;
  return DESKPILOT_INSTALLED_PROMPTS_DIR;
}

Status CheckStoragePath(const std::string& path) {
  namespace fs = std::filesystem;
  auto refuse = [&](const std::string& why) { return Status::InvalidArgument("storage.path: " + path + ": " + why); };
  std::error_code ec;
  const fs::path db(path);
  const fs::file_status st = fs::status(db, ec);
  if (fs::is_directory(st)) return refuse("is a directory, not a database file");
  if (fs::exists(st) && ::access(path.c_str(), R_OK | W_OK) != 0)
    return refuse(std::string("cannot be opened for writing: ") + std::strerror(errno));
  // SQLite creates its journal files beside the database, so the directory must take new
  // files even when the database exists.
  fs::path dir = db.has_parent_path() ? db.parent_path() : fs::path(".");
  while (!fs::exists(dir, ec) && dir.has_parent_path() && dir.parent_path() != dir) dir = dir.parent_path();
  if (!fs::is_directory(dir, ec)) return refuse(dir.string() + " is not a directory");
  if (::access(dir.c_str(), W_OK | X_OK) != 0)
    return refuse("cannot create files in " + dir.string() + ": " + std::strerror(errno));
  return Status::Ok();
}

Result<std::unique_ptr<Components>> BuildComponents(const Config& config, const BuildOptions& options) {
  auto c = std::make_unique<Components>();
  c->config = config;
  DP_RETURN_IF_ERROR(CheckStoragePath(config.storage.path));
  std::filesystem::path db(config.storage.path);
  std::error_code ec;
  std::filesystem::path dir = db.has_parent_path() ? db.parent_path() : std::filesystem::path(".");
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::FailedPrecondition("storage.path: cannot create directory " + dir.string() + ": " + ec.message());
  c->data_dir = dir.string();
  c->metrics = std::make_unique<Metrics>();
  c->http = NewCurlHttpClient();

  auto store = OpenSqliteStore(config.storage.path);
  if (!store.ok()) return store.status().WithContext("storage.path " + config.storage.path);
  c->store = std::move(store).value();

  Registry registry;
  RegisterBuiltinAdapters(registry);
  AdapterContext base;
  base.db_path = config.storage.path;
  base.data_dir = c->data_dir;
  base.readonly_data_dirs = options.readonly_data_dirs;
  base.sample_dir = options.sample_dir;
  base.http = c->http.get();
  base.store = c->store.get();
  base.approval_tag = config.policy.approval_tag;

  // A section's config errors (kInvalidArgument) are collected and the next section is
  // built all the same, so that one run names every mistake; any other error ends the build.
  std::vector<std::string> config_errors;
  auto collect = [&config_errors](const Status& s) {
    if (s.code() != Code::kInvalidArgument) return false;
    config_errors.push_back(s.message());
    return true;
  };

  // The model client comes first: the llm classifier, drafter and hybrid retriever
  // are built on it.
  if (config.llm.present) {
    AdapterContext ctx = base;
    ctx.name = "llm";
    std::string prompts_dir;
    auto made = MakeAdapter<LlmClient>(config.llm.section, "llm", ctx, [&](const std::string&, AdapterContext& x) {
      prompts_dir = x.section->String("prompts_dir", DefaultPromptsDir());
      return registry.MakeLlm(config.llm.type, x);
    });
    if (made.ok()) {
      Metrics* metrics = c->metrics.get();
      metrics->Describe("deskpilot_llm_calls_total", "counter", "Model calls by adapter and outcome.");
      metrics->Describe("deskpilot_llm_tokens_total", "counter", "Model tokens paid for, by adapter, model and kind (input|output).");
      metrics->Describe("deskpilot_llm_cost_total", "counter", "Estimated model cost (configured prices per 1k tokens).");
      c->llm = std::make_unique<ObservedLlmClient>(std::move(made).value(),
                                                   [metrics](const LlmCallEvent& e) { RecordLlmCall(*metrics, e); });
      auto prompts = PromptLibrary::LoadDir(prompts_dir);
      if (prompts.ok()) {
        c->prompts = std::move(prompts).value();
        base.llm = c->llm.get();
        base.prompts = &c->prompts;
      } else {
        config_errors.push_back("llm.prompts_dir: " + prompts.status().message());
        base.llm_unavailable = "could not load its prompts (see llm.prompts_dir)";
      }
    } else if (collect(made.status())) {
      base.llm_unavailable = "has errors (see llm.*)";
    } else {
      return made.status();
    }
  }

  if (options.with_helpdesks) {
    for (const auto& hd : config.helpdesks) {
      AdapterContext ctx = base;
      ctx.name = hd.name;
      auto made = MakeAdapter<Helpdesk>(hd.section, hd.path, ctx, [&](const std::string&, AdapterContext& x) {
        return registry.MakeHelpdesk(hd.type, x);
      });
      if (made.ok()) c->helpdesks[hd.name] = std::move(made).value();
      else if (!collect(made.status())) return made.status();
    }
  }

  {
    AdapterContext ctx = base;
    ctx.name = "classifier";
    auto made = MakeAdapter<Classifier>(config.classifier.section, "classifier", ctx,
                                        [&](const std::string&, AdapterContext& x) {
                                          return registry.MakeClassifier(config.classifier.type, x);
                                        });
    if (made.ok()) c->classifier = std::move(made).value();
    else if (!collect(made.status())) return made.status();
  }
  // Category names and threshold dimensions can only be checked once the classifier
  // says what it produces.
  if (c->classifier) {
    if (Status s = ValidatePolicyNames(config.policy, c->classifier->Labels()); !s.ok() && !collect(s)) return s;
  }
  {
    AdapterContext ctx = base;
    ctx.name = "retriever";
    auto made = MakeAdapter<Retriever>(config.retriever.section, "retriever", ctx,
                                       [&](const std::string&, AdapterContext& x) {
                                         return registry.MakeRetriever(config.retriever.type, x);
                                       });
    if (made.ok()) c->retriever = std::move(made).value();
    else if (!collect(made.status())) return made.status();
  }
  {
    AdapterContext ctx = base;
    ctx.name = "drafter";
    auto made = MakeAdapter<Drafter>(config.drafter.section, "drafter", ctx,
                                     [&](const std::string&, AdapterContext& x) {
                                       return registry.MakeDrafter(config.drafter.type, x);
                                     });
    if (made.ok()) c->drafter = std::move(made).value();
    else if (!collect(made.status())) return made.status();
  }
  if (!config_errors.empty()) {
    std::string all;
    for (const std::string& e : config_errors) all += (all.empty() ? "" : "\n") + e;
    return Status::InvalidArgument(all);
  }

  Classifier* clf = c->classifier.get();
  c->policy = std::make_unique<Policy>(config.policy, [clf](const std::string& dim) { return clf->AutoThreshold(dim); });
  c->pipeline = std::make_unique<Pipeline>(c->policy.get(), c->classifier.get(), c->retriever.get(),
                                           c->drafter.get(), c->metrics.get());
  return c;
}

}  // namespace deskpilot
