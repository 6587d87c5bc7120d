// Adapters are created by name (the config's `type`) through factories registered by
// one explicit call per adapter, listed in adapters/registry.cc. No static-init magic:
// what is compiled in is what that file lists.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "deskpilot/classifier.h"
#include "deskpilot/config.h"
#include "deskpilot/drafter.h"
#include "deskpilot/helpdesk.h"
#include "deskpilot/llm.h"
#include "deskpilot/prompts.h"
#include "deskpilot/retriever.h"
#include "deskpilot/status.h"

namespace deskpilot {

class HttpClient;
class Store;

// What a factory gets. `section` is the adapter's own table; the factory reads the
// keys it knows, and the caller reports any key left unread as unknown.
struct AdapterContext {
  ConfigSection* section = nullptr;
  std::string name;           // helpdesk name ("acme"), or the adapter kind
  std::string db_path;        // the deskpilot SQLite file (KB tables live there too)
  std::string data_dir;       // directory of the DB: models and caches may go here
  // Other data dirs whose cached models may be read but never written, in order:
  // `check-config` builds against a scratch database and reuses what serve already
  // trained; `demo` and `check-config` reuse the user's cache (cli::UserCacheDir).
  std::vector<std::string> readonly_data_dirs;
  std::string sample_dir;     // shipped sample data (models' training sets, KB)
  HttpClient* http = nullptr; // shared outbound client
  // Built before the classifier, retriever and drafter when [llm] is configured;
  // null otherwise (a model-backed adapter then reports a config error).
  LlmClient* llm = nullptr;
  Store* store = nullptr;                  // the open store (cache table, budgets)
  const PromptLibrary* prompts = nullptr;  // loaded and checked when [llm] is configured
  // Set when [llm] is configured but could not be built (its own errors are reported under
  // llm.*): says why `llm` is null, so the adapters built on it do not also claim that
  // the section is missing and send the admin looking for the wrong mistake.
  std::string llm_unavailable;
  // Built only to set up its webhook (`deskpilot webhook`): that hands out the signing
  // secret, so a help desk must not require webhook_secret_* to be configured yet.
  bool webhook_admin_only = false;
  // The policy's approval tag (policy.approval_tag; empty: approval by tag is off). A desk
  // that reports a tag change as an event of its own, apart from ticket updates, queues
  // only the changes that leave this tag on the ticket: those are agents approving a
  // draft, the rest (deskpilot's own tag writes among them) would be queued for nothing.
  std::string approval_tag;
};

// The config error of a model-backed adapter (`who`: "classifier: the llm classifier")
// built without a usable model client.
inline Status LlmUnavailable(const AdapterContext& c, const std::string& who) {
  if (!c.llm_unavailable.empty()) return Status::InvalidArgument(who + " needs [llm], which " + c.llm_unavailable);
  return Status::InvalidArgument(who + " needs an [llm] section");
}

template <typename T>
using Factory = std::function<Result<std::unique_ptr<T>>(AdapterContext&)>;

class Registry {
 public:
  void AddHelpdesk(const std::string& type, Factory<Helpdesk> f) { helpdesks_[type] = std::move(f); }
  void AddClassifier(const std::string& type, Factory<Classifier> f) { classifiers_[type] = std::move(f); }
  void AddRetriever(const std::string& type, Factory<Retriever> f) { retrievers_[type] = std::move(f); }
  void AddDrafter(const std::string& type, Factory<Drafter> f) { drafters_[type] = std::move(f); }
  void AddLlm(const std::string& type, Factory<LlmClient> f) { llms_[type] = std::move(f); }

  Result<std::unique_ptr<Helpdesk>> MakeHelpdesk(const std::string& type, AdapterContext& c) const {
    return Make(helpdesks_, "helpdesk", type, c);
  }
  Result<std::unique_ptr<Classifier>> MakeClassifier(const std::string& type, AdapterContext& c) const {
    return Make(classifiers_, "classifier", type, c);
  }
  Result<std::unique_ptr<Retriever>> MakeRetriever(const std::string& type, AdapterContext& c) const {
    return Make(retrievers_, "retriever", type, c);
  }
  Result<std::unique_ptr<Drafter>> MakeDrafter(const std::string& type, AdapterContext& c) const {
    return Make(drafters_, "drafter", type, c);
  }
  Result<std::unique_ptr<LlmClient>> MakeLlm(const std::string& type, AdapterContext& c) const {
    return Make(llms_, "llm", type, c);
  }
  std::vector<std::string> HelpdeskTypes() const { return Keys(helpdesks_); }

 private:
  template <typename T>
  static Result<std::unique_ptr<T>> Make(const std::map<std::string, Factory<T>>& m,
                                         const std::string& kind, const std::string& type,
                                         AdapterContext& c) {
    auto it = m.find(type);
    if (it == m.end()) {
      std::string known;
      for (const auto& [k, v] : m) known += (known.empty() ? "" : ", ") + k;
      return Status::InvalidArgument("unknown " + kind + " type \"" + type + "\" (known: " + known + ")");
    }
    return it->second(c);
  }
  template <typename T>
  static std::vector<std::string> Keys(const std::map<std::string, T>& m) {
    std::vector<std::string> out;
    for (const auto& [k, v] : m) out.push_back(k);
    return out;
  }
  std::map<std::string, Factory<Helpdesk>> helpdesks_;
  std::map<std::string, Factory<Classifier>> classifiers_;
  std::map<std::string, Factory<Retriever>> retrievers_;
  std::map<std::string, Factory<Drafter>> drafters_;
  std::map<std::string, Factory<LlmClient>> llms_;
};

// Fills `r` with every built-in adapter (adapters/registry.cc).
void RegisterBuiltinAdapters(Registry& r);

}  // namespace deskpilot
