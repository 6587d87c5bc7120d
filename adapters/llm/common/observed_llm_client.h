// Reports every call of an LlmClient to an observer (the service turns these into
// Prometheus counters: tokens, cost and calls by outcome). Adapters cannot reach the
// service's metrics registry, so the service wraps the client it builds with this.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "deskpilot/llm.h"

namespace deskpilot {

struct LlmCallEvent {
  std::string adapter;  // "openai"
  std::string model;
  std::string kind;     // "complete" | "embed"
  // ok | cached | deferred | rate_limited | unavailable | timeout | rejected (quota,
  // budget) | unauthenticated | error
  std::string outcome;
  const ModelUsage* usage = nullptr;  // set for a completed Complete()
};

using LlmObserver = std::function<void(const LlmCallEvent&)>;

// The outcome label for a call's status (see LlmCallEvent::outcome).
std::string LlmOutcome(const Status& status, bool cached);

class ObservedLlmClient : public LlmClient {
 public:
  ObservedLlmClient(std::unique_ptr<LlmClient> inner, LlmObserver observer);

  // LlmClient
  Result<LlmResponse> Complete(const LlmRequest& request) override;
  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& inputs) override;
  std::string Name() const override { return inner_->Name(); }
  std::string Model() const override { return inner_->Model(); }
  std::string EmbeddingModel() const override { return inner_->EmbeddingModel(); }

 private:
  std::unique_ptr<LlmClient> inner_;
  LlmObserver observer_;
};

}  // namespace deskpilot
