// A cache in front of any LlmClient: a Complete() whose full request (adapter, model,
// prompt id, system, messages, schema, output limit) was answered before is answered
// from the store's cache table, so a redelivered or unchanged ticket makes no second
// model call. Hits report usage.cached = true and cost 0. Errors are never cached, and
// Embed() passes straight through (the hybrid retriever keeps its own vectors).
#pragma once

#include <memory>
#include <string>

#include "deskpilot/llm.h"
#include "deskpilot/store.h"

namespace deskpilot {

// "llm:" + sha256 hex over a canonical JSON of everything that shapes the answer.
std::string LlmCacheKey(const std::string& adapter, const std::string& model, const LlmRequest& request);

class CachedLlmClient : public LlmClient {
 public:
  CachedLlmClient(std::unique_ptr<LlmClient> inner, Store* store);

  // LlmClient
  Result<LlmResponse> Complete(const LlmRequest& request) override;
  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& inputs) override {
    return inner_->Embed(inputs);
  }
  std::string Name() const override { return inner_->Name(); }
  std::string Model() const override { return inner_->Model(); }
  std::string EmbeddingModel() const override { return inner_->EmbeddingModel(); }

 private:
  std::unique_ptr<LlmClient> inner_;
  Store* const store_;
};

}  // namespace deskpilot
