// Test support: an OpenAI-compatible server on loopback (POST /v1/chat/completions and
// /v1/embeddings) with the response and error shapes of OpenAI's API reference.
// Behaviours and hooks: see FakeModelServer. base_url() ends in /v1.
#pragma once

#include <functional>
#include <vector>

#include "llm/common/fake_model_server.h"

namespace deskpilot {

class FakeOpenAiServer : public FakeModelServer {
 public:
  FakeOpenAiServer();
  ~FakeOpenAiServer() override;

  // Vectors for /embeddings; the default hashes the text's words into 8 dimensions,
  // so equal texts get equal vectors and texts sharing words are close. Call before Start().
  void SetEmbedder(std::function<std::vector<float>(const std::string&)> embed);

 protected:
  void Extract(FakeModelRequest& req) const override;
  FakeHttpAnswer Render(const FakeModelRequest& req, const FakeStep& step,
                        const std::string& text) const override;

 private:
  std::function<std::vector<float>(const std::string&)> embed_;
};

}  // namespace deskpilot
