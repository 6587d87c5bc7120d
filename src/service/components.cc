#include "service/components.h"

#include <filesystem>

#include "deskpilot/registry.h"

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

Result<std::unique_ptr<Components>> BuildComponents(const Config& config, const BuildOptions& options) {
  auto c = std::make_unique<Components>();
  c->config = config;
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
  base.sample_dir = options.sample_dir;
  base.http = c->http.get();

  if (options.with_helpdesks) {
    for (const auto& hd : config.helpdesks) {
      AdapterContext ctx = base;
      ctx.name = hd.name;
      auto made = MakeAdapter<Helpdesk>(hd.section, hd.path, ctx, [&](const std::string&, AdapterContext& x) {
        return registry.MakeHelpdesk(hd.type, x);
      });
      if (!made.ok()) return made.status();
      c->helpdesks[hd.name] = std::move(made).value();
    }
  }


  {
    AdapterContext ctx = base;
    ctx.name = "classifier";
    auto made = MakeAdapter<Classifier>(config.classifier.section, "classifier", ctx,
                                        [&](const std::string&, AdapterContext& x) {
                                          return registry.MakeClassifier(config.classifier.type, x);
                                        });
    if (!made.ok()) return made.status();
    c->classifier = std::move(made).value();
  }
  {
    AdapterContext ctx = base;
    ctx.name = "retriever";
    auto made = MakeAdapter<Retriever>(config.retriever.section, "retriever", ctx,
                                       [&](const std::string&, AdapterContext& x) {
                                         return registry.MakeRetriever(config.retriever.type, x);
                                       });
    if (!made.ok()) return made.status();
    c->retriever = std::move(made).value();
  }
  {
    AdapterContext ctx = base;
    ctx.name = "drafter";
    auto made = MakeAdapter<Drafter>(config.drafter.section, "drafter", ctx,
                                     [&](const std::string&, AdapterContext& x) {
                                       return registry.MakeDrafter(config.drafter.type, x);
                                     });
    if (!made.ok()) return made.status();
    c->drafter = std::move(made).value();
  }

  Classifier* clf = c->classifier.get();
  c->policy = std::make_unique<Policy>(config.policy, [clf](const std::string& dim) { return clf->AutoThreshold(dim); });
  c->pipeline = std::make_unique<Pipeline>(c->policy.get(), c->classifier.get(), c->retriever.get(),
                                           c->drafter.get(), c->metrics.get());
  return c;
}

}  // namespace deskpilot
