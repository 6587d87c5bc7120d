// Test-only: an in-process LlmClient that answers from a script and records every
// request, so the model-backed adapters are tested without any server or network.
#pragma once

#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "deskpilot/llm.h"

namespace deskpilot::testing {

class FakeLlm : public LlmClient {
 public:
  // Answers are used in order; when the script runs out, `fallback` answers (if set),
  // else the call fails with Internal so a test notices an unexpected call.
  void Push(std::string text, std::string finish_reason = "stop") {
    std::lock_guard<std::mutex> lock(mu_);
    LlmResponse r;
    r.text = std::move(text);
    r.finish_reason = std::move(finish_reason);
    r.usage.model = "fake-model";
    r.usage.input_tokens = 100;
    r.usage.output_tokens = 20;
    r.usage.cost = 0.001;
    script_.push_back(r);
  }
  void PushError(Status s) {
    std::lock_guard<std::mutex> lock(mu_);
    script_.push_back(std::move(s));
  }
  std::function<Result<LlmResponse>(const LlmRequest&)> fallback;
  // Embeddings: one vector per input from this function (unset: FailedPrecondition).
  std::function<std::vector<float>(const std::string&)> embed;

  Result<LlmResponse> Complete(const LlmRequest& request) override {
    std::lock_guard<std::mutex> lock(mu_);
    requests_.push_back(request);
    if (script_.empty()) {
      if (fallback) return fallback(request);
      return Status::Internal("fake llm: no scripted answer left");
    }
    Result<LlmResponse> r = script_.front();
    script_.pop_front();
    if (r.ok()) r->usage.prompt = request.prompt_id;
    return r;
  }
  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& inputs) override {
    std::lock_guard<std::mutex> lock(mu_);
    embedded_.insert(embedded_.end(), inputs.begin(), inputs.end());
    ++embed_calls_;
    if (!embed) return Status::FailedPrecondition("fake llm: no embedding model");
    std::vector<std::vector<float>> out;
    for (const auto& s : inputs) out.push_back(embed(s));
    return out;
  }
  std::string Name() const override { return "fake"; }
  std::string Model() const override { return "fake-model"; }
  std::string EmbeddingModel() const override { return embed ? "fake-embed" : ""; }

  std::vector<LlmRequest> requests() const {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  std::vector<std::string> embedded() const {
    std::lock_guard<std::mutex> lock(mu_);
    return embedded_;
  }
  int embed_calls() const {
    std::lock_guard<std::mutex> lock(mu_);
    return embed_calls_;
  }
  void ClearEmbedded() {
    std::lock_guard<std::mutex> lock(mu_);
    embedded_.clear();
    embed_calls_ = 0;
  }

 private:
  mutable std::mutex mu_;
  std::deque<Result<LlmResponse>> script_;
  std::vector<LlmRequest> requests_;
  std::vector<std::string> embedded_;
  int embed_calls_ = 0;
};

}  // namespace deskpilot::testing
