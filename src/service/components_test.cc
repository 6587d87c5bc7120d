// The [llm] part of BuildComponents: config errors carry key paths, prompt templates are
// checked at start, and model calls become metrics. (The other adapters are still built
// after an [llm] error, to report theirs too: the sample models are seeded.)
#include "service/components.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "deskpilot/crypto.h"
#include "llm/common/observed_llm_client.h"
#include "service/sample_models_test_util.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;

class LlmComponentsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskpilot-components-" + RandomHex(6));
    fs::create_directories(dir_ / "prompts");
    testing_util::SeedSampleModels(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  Status Build(const std::string& llm_table) {
    const std::string toml = "[storage]\npath = \"" + (dir_ / "d.db").string() + "\"\n[llm]\n" + llm_table;
    auto config = ParseConfig(toml, "test.toml");
    if (!config.ok()) return config.status();
    BuildOptions options;
    options.sample_dir = DESKPILOT_TEST_SAMPLE_DIR;
    return BuildComponents(*config, options).status();
  }
  fs::path dir_;
};

TEST_F(LlmComponentsTest, ABadLlmTableNamesEveryBadKey) {
  Status s = Build("type = \"openai\"\ntemperature = 5.0\nbogus = 1\nmax_concurrency = \"4\"\n");
  ASSERT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  for (const char* key : {"llm.model", "llm.temperature", "llm.bogus", "llm.max_concurrency"})
    EXPECT_NE(s.message().find(key), std::string::npos) << key << "\n" << s.message();
}

// An adapter built on a broken [llm] says so, instead of claiming the section is missing
// (which sent the admin looking for a table that is there).
TEST_F(LlmComponentsTest, AdaptersOnABrokenLlmPointToItsErrors) {
  Status s = Build("type = \"openai\"\ntemperature = 5.0\n[drafter]\ntype = \"llm\"\n[retriever]\ntype = \"hybrid\"\n");
  ASSERT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("llm.temperature"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("drafter: the llm drafter needs [llm], which has errors (see llm.*)"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("retriever: the hybrid retriever needs [llm], which has errors"), std::string::npos)
      << s.message();
  EXPECT_EQ(s.message().find("needs an [llm] section"), std::string::npos) << s.message();

  s = Build("type = \"openai\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:9/v1\"\nprompts_dir = \"" +
            (dir_ / "nope").string() + "\"\n[drafter]\ntype = \"llm\"\n");
  ASSERT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("the llm drafter needs [llm], which could not load its prompts"), std::string::npos)
      << s.message();
}

TEST_F(LlmComponentsTest, AnUnknownTypeIsAConfigError) {
  Status s = Build("type = \"gemini\"\nmodel = \"m\"\n");
  ASSERT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("unknown llm type \"gemini\""), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("openai"), std::string::npos) << s.message();
}

TEST_F(LlmComponentsTest, AMalformedPromptFileFailsAtStart) {
  std::ofstream(dir_ / "prompts" / "classify.v1.txt") << "# variables: labels, ticket\n{{labels}} only\n";
  Status s = Build("type = \"openai\"\nmodel = \"m\"\nbase_url = \"http://127.0.0.1:9/v1\"\nprompts_dir = \"" +
                   (dir_ / "prompts").string() + "\"\n");
  ASSERT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("llm.prompts_dir"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("classify.v1.txt"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("\"ticket\" is declared but never used"), std::string::npos) << s.message();
}

TEST_F(LlmComponentsTest, AMissingPromptsDirFailsAtStart) {
  Status s = Build("type = \"anthropic\"\nmodel = \"m\"\napi_key_env = \"PATH\"\nprompts_dir = \"" +
                   (dir_ / "nope").string() + "\"\n");
  ASSERT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_NE(s.message().find("llm.prompts_dir"), std::string::npos) << s.message();
}

// Audit finding 9: policy names are checked against the built classifier's labels, so a
// misspelt sensitive category or threshold dimension stops deskpilot instead of silently
// dropping the rule. (Sample models are seeded: nothing is trained.)
TEST(PolicyComponentsTest, PolicyNamesMustBeTheClassifiersLabels) {
  const fs::path dir = fs::temp_directory_path() / ("deskpilot-components-" + RandomHex(6));
  fs::create_directories(dir);
  testing_util::SeedSampleModels(dir);
  auto build = [&](const std::string& policy) {
    auto config = ParseConfig("[storage]\npath = \"" + (dir / "d.db").string() + "\"\n" + policy, "test.toml");
    EXPECT_TRUE(config.ok()) << config.status().ToString();
    BuildOptions options;
    options.sample_dir = DESKPILOT_TEST_SAMPLE_DIR;
    options.with_helpdesks = false;
    return BuildComponents(*config, options).status();
  };
  Status s = build(
      "[policy]\nsensitive_categories = [\"refunds\", \"payment\"]\n[policy.categories]\nDelivery = \"auto_reply\"\n"
      "[policy.routing]\nrefund = \"billing\"\n[policy.thresholds]\ncategroy = 0.9\n");
  ASSERT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  for (const char* part : {"policy.sensitive_categories[0]: unknown category \"refunds\"; known categories: ",
                           "policy.categories.Delivery: unknown category \"Delivery\"",
                           "policy.thresholds.categroy: unknown dimension \"categroy\"; known dimensions: category, "
                           "intent, priority, sentiment, language"})
    EXPECT_NE(s.message().find(part), std::string::npos) << part << "\n" << s.message();
  EXPECT_EQ(s.message().find("policy.routing"), std::string::npos) << s.message();

  // The shipped example's policy tables are all real labels.
  Status ok = build(
      "[policy]\nsensitive_categories = [\"refund\", \"payment\", \"invoice\", \"account\", \"cancellation_fee\"]\n"
      "[policy.categories]\ndelivery = \"auto_reply\"\n[policy.thresholds]\ncategory = 0.9\nsentiment = 0.5\n");
  EXPECT_TRUE(ok.ok()) << ok.ToString();
  fs::remove_all(dir);
}

TEST(DefaultPromptsDir, EnvironmentFirstThenTheSourceTree) {
  ASSERT_EQ(setenv("DESKPILOT_PROMPTS_DIR", "/somewhere/prompts", 1), 0);
  EXPECT_EQ(DefaultPromptsDir(), "/somewhere/prompts");
  ASSERT_EQ(unsetenv("DESKPILOT_PROMPTS_DIR"), 0);
  // A build runs from the source tree, whose prompts/ directory exists.
  const fs::path dir = DefaultPromptsDir();
  EXPECT_EQ(dir.filename(), "prompts");
  EXPECT_TRUE(fs::is_directory(dir)) << dir;
}

TEST(LlmMetrics, TokensAndCostOfPaidCallsOnly) {
  Metrics m;
  ModelUsage paid{"openai", "m-2026", "classify.v1", 1200, 300, 0.75, false};
  ModelUsage cached = paid;
  cached.cached = true;
  cached.cost = 0;
  RecordLlmCall(m, {"openai", "m", "complete", "ok", &paid});
  RecordLlmCall(m, {"openai", "m", "complete", "cached", &cached});
  RecordLlmCall(m, {"openai", "m", "complete", "rate_limited", nullptr});
  const std::string text = m.Render();
  EXPECT_NE(text.find("deskpilot_llm_tokens_total{adapter=\"openai\",model=\"m-2026\",kind=\"input\"} 1200"),
            std::string::npos) << text;
  EXPECT_NE(text.find("deskpilot_llm_tokens_total{adapter=\"openai\",model=\"m-2026\",kind=\"output\"} 300"),
            std::string::npos) << text;
  EXPECT_NE(text.find("deskpilot_llm_cost_total{adapter=\"openai\",model=\"m-2026\"} 0.75"), std::string::npos) << text;
  EXPECT_NE(text.find("deskpilot_llm_calls_total{adapter=\"openai\",outcome=\"ok\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("deskpilot_llm_calls_total{adapter=\"openai\",outcome=\"cached\"} 1"), std::string::npos) << text;
  EXPECT_NE(text.find("deskpilot_llm_calls_total{adapter=\"openai\",outcome=\"rate_limited\"} 1"), std::string::npos)
      << text;
}

}  // namespace
}  // namespace deskpilot
