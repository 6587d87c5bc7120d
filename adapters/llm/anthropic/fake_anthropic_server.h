// Test support: an Anthropic Messages API server on loopback (POST /v1/messages) with
// the response and error shapes of Anthropic's API reference. When the request forces
// a tool (tool_choice {"type": "tool"}), answers come back as that tool's input, as the
// real API does; text that is not a JSON object comes back as a text block instead.
// Behaviours and hooks: see FakeModelServer. base_url() has no path.
#pragma once

#include "llm/common/fake_model_server.h"

namespace deskpilot {

class FakeAnthropicServer : public FakeModelServer {
 public:
  FakeAnthropicServer();
  ~FakeAnthropicServer() override;

 protected:
  void Extract(FakeModelRequest& req) const override;
  FakeHttpAnswer Render(const FakeModelRequest& req, const FakeStep& step,
                        const std::string& text) const override;
};

}  // namespace deskpilot
