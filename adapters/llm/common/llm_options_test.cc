#include "llm/common/llm_options.h"

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

const LlmOptionDefaults kDefaults{.adapter = "openai", .base_url = "https://api.example.com/v1",
                                  .api_key_required = false, .max_temperature = 2.0, .embeddings = true};

TEST(LlmOptions, DefaultsAndOverrides) {
  nlohmann::json j = {{"model", "m1"}, {"base_url", "http://127.0.0.1:11434/v1/"}, {"max_concurrency", 2},
                      {"timeout_ms", 1500}, {"daily_token_budget", 5000}, {"price_per_1k_input", 0.5},
                      {"price_per_1k_output", 1.5}, {"max_output_tokens", 300}};
  ConfigSection s(j, "llm");
  LlmOptions o = ReadLlmOptions(s, kDefaults);
  ASSERT_TRUE(s.Finish().ok()) << s.Finish().ToString();
  EXPECT_EQ(o.base_url, "http://127.0.0.1:11434/v1");
  EXPECT_EQ(o.model, "m1");
  EXPECT_EQ(o.max_concurrency, 2);
  EXPECT_EQ(o.timeout.count(), 1500);
  EXPECT_EQ(o.daily_token_budget, 5000);
  EXPECT_TRUE(o.api_key.empty());
  EXPECT_TRUE(o.cache);
  EXPECT_DOUBLE_EQ(EstimateCost(o, 2000, 1000), 2 * 0.5 + 1.5);
  EXPECT_EQ(EffectiveMaxTokens(o, 0), 300);
  EXPECT_EQ(EffectiveMaxTokens(o, 100), 100);
  EXPECT_EQ(EffectiveMaxTokens(o, 5000), 300);
}

TEST(LlmOptions, ProblemsNameTheirKeys) {
  nlohmann::json j = {{"base_url", "ftp://x"}, {"temperature", 3.0}, {"api_key", "sk-in-the-file"},
                      {"max_concurrency", 0}, {"embedding_model", 5}};
  ConfigSection s(j, "llm");
  (void)ReadLlmOptions(s, kDefaults);
  Status st = s.Finish();
  ASSERT_FALSE(st.ok());
  for (const char* key : {"llm.base_url", "llm.model", "llm.temperature", "llm.api_key", "llm.max_concurrency",
                          "llm.embedding_model"})
    EXPECT_NE(st.message().find(key), std::string::npos) << key << "\n" << st.message();
  EXPECT_EQ(st.message().find("sk-in-the-file"), std::string::npos) << "a secret was echoed";
}

TEST(LlmOptions, RequiredKeyAndAdapterWithoutEmbeddings) {
  LlmOptionDefaults d = kDefaults;
  d.api_key_required = true;
  d.embeddings = false;
  nlohmann::json j = {{"model", "m"}, {"embedding_model", "e"}};
  ConfigSection s(j, "llm");
  (void)ReadLlmOptions(s, d);
  Status st = s.Finish();
  EXPECT_NE(st.message().find("llm.api_key: missing"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("llm.embedding_model: unknown key"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace deskpilot
