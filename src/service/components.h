// Builds everything a Config describes: store, HTTP client, adapters, policy, pipeline.
// Shared by `serve`, `demo`, `triage` and `check-config`, so all of them validate a
// config the same way.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "deskpilot/classifier.h"
#include "deskpilot/config.h"
#include "deskpilot/drafter.h"
#include "deskpilot/helpdesk.h"
#include "deskpilot/http_client.h"
#include "deskpilot/llm.h"
#include "deskpilot/prompts.h"
#include "deskpilot/retriever.h"
#include "deskpilot/store.h"
#include "service/metrics.h"
#include "service/pipeline.h"
#include "service/policy.h"

namespace deskpilot {

struct Components {
  Config config;
  std::string data_dir;
  std::unique_ptr<HttpClient> http;
  std::unique_ptr<Store> store;
  // Declared before the adapters that hold pointers to them, so they outlive those.
  std::unique_ptr<LlmClient> llm;  // only when [llm] is configured
  PromptLibrary prompts;           // loaded (and checked) with the llm client
  std::map<std::string, std::unique_ptr<Helpdesk>> helpdesks;  // by configured name
  std::unique_ptr<Classifier> classifier;
  std::unique_ptr<Retriever> retriever;
  std::unique_ptr<Drafter> drafter;
  std::unique_ptr<Policy> policy;
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<Pipeline> pipeline;
};

struct BuildOptions {
  std::string sample_dir;
  bool with_helpdesks = true;  // triage needs none (and so no vendor secrets)
  std::vector<std::string> readonly_data_dirs;  // see AdapterContext::readonly_data_dirs
};

struct LlmCallEvent;
// Turns model-call events into deskpilot_llm_calls_total{adapter,outcome},
// deskpilot_llm_tokens_total{adapter,model,kind} and deskpilot_llm_cost_total{adapter,model}.
void RecordLlmCall(Metrics& metrics, const LlmCallEvent& event);

// The shipped prompt templates: $DESKPILOT_PROMPTS_DIR, else the source tree's prompts/
// (a build), else the installed share/deskpilot/prompts.
std::string DefaultPromptsDir();

// Errors carry key paths; config problems are kInvalidArgument (exit code 2), every
// section's together: an adapter's bad section does not hide the next one's.
Result<std::unique_ptr<Components>> BuildComponents(const Config& config, const BuildOptions& options);

// Whether `serve` can open storage.path, checked without creating anything (check-config
// builds against a scratch database): an existing path must be a file it may write, and
// the directory that holds it, or the nearest existing one above the directories serve
// would create, must be a directory it may create files in. InvalidArgument naming the path
// and the reason.
Status CheckStoragePath(const std::string& path);

}  // namespace deskpilot
