#include "llm/common/observed_llm_client.h"

namespace deskpilot {

std::string LlmOutcome(const Status& status, bool cached) {
  if (status.ok()) return cached ? "cached" : "ok";
  if (status.deferred()) return "deferred";
  switch (status.code()) {
    case Code::kResourceExhausted: return "rate_limited";
    case Code::kUnavailable: return "unavailable";
    case Code::kDeadlineExceeded: return "timeout";
    case Code::kFailedPrecondition: return "rejected";
    case Code::kUnauthenticated:
    case Code::kPermissionDenied: return "unauthenticated";
    default: return "error";
  }
}

ObservedLlmClient::ObservedLlmClient(std::unique_ptr<LlmClient> inner, LlmObserver observer)
    : inner_(std::move(inner)), observer_(std::move(observer)) {}

Result<LlmResponse> ObservedLlmClient::Complete(const LlmRequest& request) {
  Result<LlmResponse> r = inner_->Complete(request);
  LlmCallEvent e{inner_->Name(), inner_->Model(), "complete",
                 LlmOutcome(r.status(), r.ok() && r->usage.cached), r.ok() ? &r->usage : nullptr};
  observer_(e);
  return r;
}

Result<std::vector<std::vector<float>>> ObservedLlmClient::Embed(const std::vector<std::string>& inputs) {
  auto r = inner_->Embed(inputs);
  observer_(LlmCallEvent{inner_->Name(), inner_->EmbeddingModel(), "embed", LlmOutcome(r.status(), false), nullptr});
  return r;
}

}  // namespace deskpilot
