// `deskpilot eval --config`: the configured classifier scored on labelled data, and for a
// cascade the share of tickets that needed the model, checked against what the loopback
// OpenAI-compatible fake actually received. Run in process through RunEval/RunTrain.
#include <stdlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "cli/commands.h"
#include "llm/openai/fake_openai_server.h"

namespace deskpilot::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

struct CliRun {
  int code = 0;
  std::string out;
};

// Runs `fn` with argv {name, args...}, capturing stdout.
CliRun Call(int (*fn)(int, char**), const std::string& name, std::vector<std::string> args) {
  args.insert(args.begin(), name);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  testing::internal::CaptureStdout();
  const int code = fn(static_cast<int>(args.size()), argv.data());
  return {code, testing::internal::GetCapturedStdout()};
}

const std::vector<std::string> kCategories = {"account",  "order",       "refund",           "delivery",
                                              "invoice",  "feedback",    "payment",          "contact",
                                              "shipping_address", "cancellation_fee", "newsletter"};

class EvalCascadeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // The binary logs to stderr; in process spdlog's default is stdout, where it would
    // mix with the JSON under test.
    static const auto logger = spdlog::stderr_logger_mt("eval_cascade_test");
    spdlog::set_default_logger(logger);
    fake_.SetAnswer([](const FakeModelRequest&) {
      return std::string(R"({"category":{"label":"feedback","confidence":0.9}})");
    });
    ASSERT_TRUE(fake_.Start().ok());
    char tmpl[] = "/tmp/deskpilot-evalcascade-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;

    // A small embedded model on every 8th sample line; the items scored are other lines
    // (the embedded model is confident on most) plus off-topic text it has never seen.
    std::ifstream in(fs::path(DESKPILOT_TEST_SAMPLE_DIR) / "train" / "bitext.jsonl");
    ASSERT_TRUE(in) << "sample training data missing";
    std::ofstream train(dir_ / "train.jsonl"), data(dir_ / "data.jsonl");
    std::string line;
    for (int n = 0; std::getline(in, line); ++n) {
      if (n % 8 == 0) train << line << "\n";
      if (n % 60 == 1) {
        data << line << "\n";
        ++items_;
      }
    }
    for (const char* text : {"Lasagna recipe?", "what is the weather like on mars tomorrow",
                             "blue green purple seventeen", "my cat sat on the keyboard"}) {
      data << json{{"text", text}, {"category", "feedback"}}.dump() << "\n";
      ++items_;
    }
    train.close();
    data.close();
    const CliRun trained = Call(RunTrain, "train", {"--data", (dir_ / "train.jsonl").string(), "--field", "category",
                                                    "--out", (dir_ / "category.model").string()});
    ASSERT_EQ(trained.code, 0) << trained.out;

    config_ = (dir_ / "deskpilot.toml").string();
    std::ofstream toml(config_);
    toml << "[storage]\npath = \"" << (dir_ / "deskpilot.db").string() << "\"\n\n"
         << "[llm]\ntype = \"openai\"\nbase_url = \"" << fake_.base_url() << "\"\nmodel = \"fake-model\"\n"
         // Every needed call must reach the fake, so its request count is the truth.
         << "cache = false\nmax_attempts = 1\n\n"
         << "[classifier]\ntype = \"cascade\"\n\n[classifier.models]\ncategory = \""
         << (dir_ / "category.model").string() << "\"\n\n[classifier.labels.category]\n";
    for (const auto& c : kCategories) toml << c << " = \"questions about " << c << "\"\n";
  }
  void TearDown() override {
    fake_.Stop();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  FakeOpenAiServer fake_;
  fs::path dir_;
  std::string config_;
  int items_ = 0;
};

TEST_F(EvalCascadeTest, JsonReportsTheShareThatNeededTheModel) {
  const CliRun run = Call(RunEval, "eval", {"--config", config_, "--data", (dir_ / "data.jsonl").string(), "--field",
                                            "category", "--json"});
  ASSERT_EQ(run.code, 0) << run.out;
  const json out = json::parse(run.out, nullptr, /*allow_exceptions=*/false);
  ASSERT_TRUE(out.is_object()) << run.out;
  EXPECT_EQ(out["n"], items_);
  const int calls = fake_.RequestCount();
  // Some items are easy and some are not, or the share would not tell anything.
  ASSERT_GT(calls, 0);
  ASSERT_LT(calls, items_);
  EXPECT_EQ(out["model_calls"], calls);
  EXPECT_DOUBLE_EQ(out["model_share"].get<double>(), static_cast<double>(calls) / items_);
  // The same fields as `eval --model`.
  for (const char* key : {"accuracy", "macro_f1", "balanced_accuracy", "in_scope_accuracy", "auto_threshold",
                          "auto_coverage", "ece", "per_label", "confusions", "ms_per_example"}) {
    EXPECT_TRUE(out.contains(key)) << key;
  }
  EXPECT_TRUE(out["unknown_labels"].is_null());
  // The model's answers carry its own confidence (0.9 here), which never unlocks an automatic
  // reply, so only the embedded model's answers count as automated.
  EXPECT_GT(out["auto_n"].get<int>(), 0);
  EXPECT_LE(out["auto_n"].get<int>(), items_ - calls);
  // Every call went to the configured model name (none is hard-coded).
  for (const auto& req : fake_.Requests()) EXPECT_EQ(req.model, "fake-model");
}

TEST_F(EvalCascadeTest, TableSaysHowOftenTheModelWasNeeded) {
  const CliRun run =
      Call(RunEval, "eval", {"--config", config_, "--data", (dir_ / "data.jsonl").string(), "--field", "category"});
  ASSERT_EQ(run.code, 0) << run.out;
  const int calls = fake_.RequestCount();
  char share[32];
  std::snprintf(share, sizeof share, "%.1f", 100.0 * calls / items_);
  EXPECT_NE(run.out.find("the model was needed for " + std::string(share) + "% of tickets (" + std::to_string(calls) +
                         " of " + std::to_string(items_) + ")"),
            std::string::npos)
      << run.out;
}

TEST_F(EvalCascadeTest, AnEmbeddedModelHasNoModelShare) {
  const CliRun run = Call(RunEval, "eval", {"--model", (dir_ / "category.model").string(), "--data",
                                            (dir_ / "data.jsonl").string(), "--field", "category", "--json"});
  ASSERT_EQ(run.code, 0) << run.out;
  const json out = json::parse(run.out);
  EXPECT_FALSE(out.contains("model_share"));
  EXPECT_TRUE(out["unknown_labels"].is_array());
  EXPECT_EQ(fake_.RequestCount(), 0);
}

// `train --familiarity-budget` stores a floor under which text the training data's words do
// not cover abstains, although the data has no `oos` rows; the default stores none.
TEST_F(EvalCascadeTest, TrainWithAFamiliarityBudgetAbstainsOnOffTopicText) {
  const fs::path off_topic = dir_ / "off_topic.jsonl";
  {
    std::ofstream out(off_topic);
    for (const char* text : {"Lasagna recipe?", "blue green purple seventeen", "my cat sat on the keyboard"}) {
      out << json{{"text", text}, {"category", "oos"}}.dump() << "\n";
    }
  }
  const std::string model = (dir_ / "familiar.model").string();
  const CliRun trained = Call(RunTrain, "train", {"--data", (dir_ / "train.jsonl").string(), "--field", "category",
                                                  "--familiarity-budget", "0.01", "--out", model});
  ASSERT_EQ(trained.code, 0) << trained.out;
  EXPECT_NE(trained.out.find("abstains on text less familiar than 0."), std::string::npos) << trained.out;
  for (const auto& [path, abstains] : {std::pair{model, true}, std::pair{(dir_ / "category.model").string(), false}}) {
    const CliRun run = Call(RunEval, "eval", {"--model", path, "--data", off_topic.string(), "--field", "category",
                                              "--json"});
    ASSERT_EQ(run.code, 0) << run.out;
    const json out = json::parse(run.out);
    EXPECT_DOUBLE_EQ(out["oos_recall"].get<double>(), abstains ? 1.0 : 0.0) << path;
  }
  EXPECT_EQ(Call(RunTrain, "train", {"--data", (dir_ / "train.jsonl").string(), "--field", "category",
                                     "--familiarity-budget", "1.5", "--out", model})
                .code,
            kExitUsage);
}

// --calibration-data refits the confidences on tickets shaped like the traffic: the sample's
// hand-written tickets are far harder for a model trained on Bitext requests than its own
// held-out folds, which put its auto-threshold near 0.4.
TEST_F(EvalCascadeTest, TrainRefitsConfidencesOnCalibrationData) {
  const std::string tickets = (fs::path(DESKPILOT_TEST_SAMPLE_DIR) / "eval" / "tickets.jsonl").string();
  const std::string model = (dir_ / "calibrated.model").string();
  const CliRun run = Call(RunTrain, "train", {"--data", (dir_ / "train.jsonl").string(), "--field", "category",
                                              "--calibration-data", tickets, "--out", model});
  ASSERT_EQ(run.code, 0) << run.out;
  EXPECT_NE(run.out.find("calibration data " + tickets + ": 360 examples, 330 with a label the model has"),
            std::string::npos)
      << run.out;
  EXPECT_NE(run.out.find("refitted: temperature x"), std::string::npos) << run.out;
  auto evaluate = [&](const std::string& path) {
    const CliRun e = Call(RunEval, "eval", {"--model", path, "--data", tickets, "--field", "category", "--json"});
    EXPECT_EQ(e.code, 0) << e.out;
    return json::parse(e.out);
  };
  const json before = evaluate((dir_ / "category.model").string()), after = evaluate(model);
  EXPECT_LT(after["ece"].get<double>(), before["ece"].get<double>());
  EXPECT_GT(after["auto_threshold"].get<double>(), before["auto_threshold"].get<double>());
  EXPECT_LT(before["auto_precision"].get<double>(), 0.9);
  EXPECT_TRUE(after["auto_n"].get<int>() == 0 || after["auto_precision"].get<double>() >= 0.98) << after.dump();
  // The labels are the same: only what the confidences mean changed.
  EXPECT_EQ(after["accuracy"], before["accuracy"]);

  const std::string few = (dir_ / "few.jsonl").string();
  std::ofstream(few) << json{{"text", "where is my parcel"}, {"category", "delivery"}}.dump() << "\n";
  for (const std::string& bad : {few, (dir_ / "missing.jsonl").string()}) {
    EXPECT_EQ(Call(RunTrain, "train", {"--data", (dir_ / "train.jsonl").string(), "--field", "category",
                                       "--calibration-data", bad, "--out", model})
                  .code,
              kExitUsage)
        << bad;
  }
}

// `train --label-prior`: the default (uniform) names the training data's rarest category at
// least as often as `training` does and its commonest at most as often: dividing by the label
// shares raises the rarest label against every other and lowers the commonest. On the
// hand-written tickets (30 per category) some predictions change; `eval` reports
// balanced_accuracy, the mean recall per label.
TEST_F(EvalCascadeTest, TrainLabelPriorDecidesHowReadilyRareCategoriesAreNamed) {
  std::map<std::string, int> count;
  {
    std::ifstream in(dir_ / "train.jsonl");
    for (std::string line; std::getline(in, line);) ++count[json::parse(line)["category"].get<std::string>()];
  }
  const auto [rarest, commonest] = std::minmax_element(
      count.begin(), count.end(), [](const auto& a, const auto& b) { return a.second < b.second; });
  ASSERT_LT(rarest->second * 4, commonest->second);  // skewed, or the prior would not matter

  const std::string training = (dir_ / "training-prior.model").string();
  const CliRun run = Call(RunTrain, "train", {"--data", (dir_ / "train.jsonl").string(), "--field", "category",
                                              "--label-prior", "training", "--out", training});
  ASSERT_EQ(run.code, 0) << run.out;
  EXPECT_NE(run.out.find(", labels assumed as common as in the data; auto-threshold"), std::string::npos) << run.out;
  const std::string tickets = (fs::path(DESKPILOT_TEST_SAMPLE_DIR) / "eval" / "tickets.jsonl").string();
  auto evaluate = [&](const std::string& model) {
    const CliRun e = Call(RunEval, "eval", {"--model", model, "--data", tickets, "--field", "category", "--json"});
    EXPECT_EQ(e.code, 0) << e.out;
    return json::parse(e.out);
  };
  const json as_trained = evaluate(training), uniform = evaluate((dir_ / "category.model").string());
  auto predicted = [](const json& e, const std::string& label) {
    return e["per_label"][label]["predicted"].get<int>();
  };
  EXPECT_GE(predicted(uniform, rarest->first), predicted(as_trained, rarest->first));
  EXPECT_LE(predicted(uniform, commonest->first), predicted(as_trained, commonest->first));
  EXPECT_NE(uniform["per_label"], as_trained["per_label"]);
  for (const json* e : {&as_trained, &uniform}) {
    double recall = 0.0;
    int labels = 0;
    for (const auto& [label, m] : (*e)["per_label"].items()) {
      if (m["support"].get<int>() == 0) continue;
      recall += m["recall"].get<double>();
      ++labels;
    }
    EXPECT_NEAR((*e)["balanced_accuracy"].get<double>(), recall / labels, 1e-9);
  }
  EXPECT_EQ(Call(RunTrain, "train", {"--data", (dir_ / "train.jsonl").string(), "--field", "category",
                                     "--label-prior", "even", "--out", training})
                .code,
            kExitUsage);
}

// `eval` names the labels whose automated answers fall short of --target-precision beyond
// chance: three of the six confident "order" answers are labelled otherwise.
TEST_F(EvalCascadeTest, EvalNamesLabelsWhoseAutomatedAnswersFallShort) {
  const std::string data = (dir_ / "short.jsonl").string();
  {
    std::ofstream out(data);
    for (int i = 0; i < 3; ++i) {
      out << json{{"text", "I want to cancel my order"}, {"category", "order"}}.dump() << "\n"
          << json{{"text", "I want to cancel my order please"}, {"category", "newsletter"}}.dump() << "\n";
    }
  }
  const std::string model = (dir_ / "category.model").string();
  const CliRun run = Call(RunEval, "eval", {"--model", model, "--data", data, "--field", "category", "--json"});
  ASSERT_EQ(run.code, 0) << run.out;
  const json j = json::parse(run.out);
  ASSERT_EQ(j["per_label"]["order"]["auto_n"], 6) << run.out;
  EXPECT_EQ(j["per_label"]["order"]["auto_wrong"], 3);
  EXPECT_EQ(j["per_label"]["newsletter"]["auto_n"], 0);
  EXPECT_DOUBLE_EQ(j["target_precision"].get<double>(), 0.98);
  ASSERT_EQ(j["auto_short_labels"].size(), 1u);
  EXPECT_EQ(j["auto_short_labels"][0]["label"], "order");
  EXPECT_DOUBLE_EQ(j["auto_short_labels"][0]["auto_precision"].get<double>(), 0.5);
  // P(X >= 3 | 6, 0.02)
  EXPECT_NEAR(j["auto_short_labels"][0]["p_value"].get<double>(), 0.00015291456, 1e-9);

  const CliRun table = Call(RunEval, "eval", {"--model", model, "--data", data, "--field", "category"});
  ASSERT_EQ(table.code, 0) << table.out;
  EXPECT_NE(table.out.find("labels whose automated answers fall short of precision 0.980 beyond chance (p < 0.05): "
                           "1\n    order: 3 wrong of 6 (precision 0.5000, p 0.0002)\n"),
            std::string::npos)
      << table.out;
  // Half right is what a target of 0.5 asks for.
  const CliRun lax = Call(RunEval, "eval", {"--model", model, "--data", data, "--field", "category", "--json",
                                            "--target-precision", "0.5"});
  ASSERT_EQ(lax.code, 0) << lax.out;
  EXPECT_TRUE(json::parse(lax.out)["auto_short_labels"].empty());
  for (const char* bad : {"0", "1.5", "abc"}) {
    EXPECT_EQ(Call(RunEval, "eval", {"--model", model, "--data", data, "--target-precision", bad}).code, kExitUsage)
        << bad;
  }
}

// `train --review-labels`: rows given another category are reported by their line in the
// file (blank lines counted) with the category the held-out models gave, and all written.
TEST_F(EvalCascadeTest, TrainPointsAtRowsWhoseLabelLooksWrong) {
  std::ifstream in(dir_ / "train.jsonl");
  const std::string noisy = (dir_ / "noisy.jsonl").string(), review = (dir_ / "review.jsonl").string();
  std::ofstream out(noisy);
  out << "\n";  // line 1 is blank: rows start on line 2
  std::map<size_t, std::string> flipped;  // line → the category it really has
  std::string line;
  for (size_t row = 0; std::getline(in, line); ++row) {
    json j = json::parse(line);
    if (row == 10 || row == 200 || row == 400) {
      flipped[row + 2] = j["category"];
      if (row == 200) j["text"] = j["text"].get<std::string>() + "\x1b[2J\xc2\x9b\x7f\n";  // escapes to drop
      j["category"] = j["category"] == "newsletter" ? "refund" : "newsletter";
    }
    out << j.dump() << "\n";
  }
  out.close();
  ASSERT_EQ(flipped.size(), 3u);
  const std::string model = (dir_ / "noisy.model").string();
  const CliRun run = Call(RunTrain, "train", {"--data", noisy, "--field", "category", "--out", model,
                                              "--review-labels", review});
  ASSERT_EQ(run.code, 0) << run.out;
  EXPECT_NE(run.out.find("labels to review: "), std::string::npos) << run.out;
  std::map<size_t, json> written;
  std::ifstream rows(review);
  while (std::getline(rows, line)) {
    json j = json::parse(line);
    written[j["line"].get<size_t>()] = j;
  }
  // Ticket text reaches the terminal without control characters.
  for (const char* control : {"\x1b", "\xc2\x9b", "\x7f"}) EXPECT_EQ(run.out.find(control), std::string::npos);
  for (const auto& [at, truth] : flipped) {
    ASSERT_TRUE(written.count(at)) << "line " << at << " not in the review:\n" << run.out;
    EXPECT_EQ(written[at]["held_out_label"], truth);
    EXPECT_NE(written[at]["label"], truth);
    EXPECT_GE(written[at]["held_out_confidence"].get<double>(), 0.9);
    EXPECT_NE(run.out.find("line " + std::to_string(at) + ": \"" + written[at]["label"].get<std::string>() + "\""),
              std::string::npos)
        << run.out;
  }
  // The review file may replace neither an input nor the model.
  for (const std::string& bad : {noisy, model}) {
    EXPECT_EQ(Call(RunTrain, "train", {"--data", noisy, "--field", "category", "--out", model, "--review-labels", bad})
                  .code,
              kExitUsage)
        << bad;
  }
}

// `eval` names the items it got wrong at or above the auto-threshold (what automation would
// have sent) by their line in --data, most confident first, in the table and in --json.
TEST_F(EvalCascadeTest, EvalListsTheMistakesAutomationWouldHaveSent) {
  const std::string data = (dir_ / "mislabelled.jsonl").string();
  {
    std::ofstream out(data);
    out << json{{"text", "I want to cancel my order"}, {"category", "order"}}.dump() << "\n\n"
        << json{{"text", "I want to cancel my order please"}, {"category", "newsletter"}}.dump() << "\n"
        << json{{"text", "where is my refund"}, {"category", "refund"}}.dump() << "\n";
  }
  const std::string model = (dir_ / "category.model").string();
  const CliRun run = Call(RunEval, "eval", {"--model", model, "--data", data, "--field", "category", "--json"});
  ASSERT_EQ(run.code, 0) << run.out;
  const json j = json::parse(run.out);
  ASSERT_EQ(j["auto_errors"].size(), 1u) << run.out;
  const json& wrong = j["auto_errors"][0];
  EXPECT_EQ(wrong["line"], 3);  // the blank line counts
  EXPECT_EQ(wrong["label"], "newsletter");
  EXPECT_EQ(wrong["predicted"], "order");
  EXPECT_GE(wrong["confidence"].get<double>(), j["auto_threshold"].get<double>());
  EXPECT_EQ(wrong["text"], "I want to cancel my order please");

  const CliRun table = Call(RunEval, "eval", {"--model", model, "--data", data, "--field", "category"});
  ASSERT_EQ(table.code, 0) << table.out;
  EXPECT_NE(table.out.find("automation would have sent these): 1, most confident first\n  line 3: \"newsletter\", "
                           "predicted \"order\" "),
            std::string::npos)
      << table.out;
}

TEST_F(EvalCascadeTest, AnUnknownDimensionIsAUsageError) {
  const CliRun run = Call(RunEval, "eval", {"--config", config_, "--data", (dir_ / "data.jsonl").string(), "--field",
                                            "category", "--dimension", "priority"});
  EXPECT_EQ(run.code, kExitUsage);
}

TEST_F(EvalCascadeTest, BadFlagsAreUsageErrors) {
  const std::string data = (dir_ / "data.jsonl").string();
  const std::string model = (dir_ / "category.model").string();
  EXPECT_EQ(Call(RunEval, "eval", {"--model", model, "--config", config_, "--data", data}).code, kExitUsage);
  EXPECT_EQ(Call(RunEval, "eval", {"--data", data}).code, kExitUsage);
  EXPECT_EQ(Call(RunEval, "eval", {"--model", model, "--dimension", "category", "--data", data}).code, kExitUsage);
  EXPECT_EQ(fake_.RequestCount(), 0);
}

}  // namespace
}  // namespace deskpilot::cli
