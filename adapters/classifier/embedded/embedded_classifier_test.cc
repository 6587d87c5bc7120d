#include "classifier/embedded/embedded_classifier.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <thread>

#include <nlohmann/json.hpp>

#include "classifier/embedded/register.h"
#include "classifier/embedded/test_util.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;
using testing::SeparableData;
using testing::TempDir;
using testing::WriteFile;

Comment Customer(const std::string& body) {
  Comment c;
  c.author_role = AuthorRole::kCustomer;
  c.body = body;
  return c;
}

Comment Agent(const std::string& body) {
  Comment c;
  c.author_role = AuthorRole::kAgent;
  c.body = body;
  return c;
}

// A sample dir in the shipped layout: models.json plus two training files, one of them
// feeding two dimensions through different fields.
void WriteSampleDir(const fs::path& dir) {
  std::string topics, mood;
  for (const auto& ex : SeparableData(15)) {
    const std::string tone = ex.label == "billing" ? "urgent" : "normal";
    topics += nlohmann::json{{"text", ex.text}, {"topic", ex.label}, {"priority", tone}}.dump() + "\n";
  }
  for (int i = 0; i < 15; ++i) {
    mood += R"({"text": "thank you so much great service", "label": "positive"})" "\n";
    mood += R"({"text": "this is terrible and useless, I am angry", "label": "negative"})" "\n";
  }
  WriteFile((dir / "train/topics.jsonl").string(), topics);
  WriteFile((dir / "train/mood.jsonl").string(), mood);
  WriteFile((dir / "models.json").string(),
            R"([{"dimension":"category","data":"train/topics.jsonl","field":"topic"},
                {"dimension":"priority","data":"train/topics.jsonl","field":"priority"},
                {"dimension":"sentiment","data":"train/mood.jsonl","field":"label"}])");
}

std::vector<fs::path> ModelFiles(const fs::path& data_dir) {
  std::vector<fs::path> out;
  if (!fs::exists(data_dir / "models")) return out;
  for (const auto& e : fs::directory_iterator(data_dir / "models")) out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

TEST(TicketTextTest, JoinsCustomerTextAndSeparatesNewestMessage) {
  Ticket t;
  t.subject = "Refund";
  t.description = "I was charged twice";
  t.comments = {Customer("I was charged twice"), Agent("We are looking into it"),
                Customer("Any news on my refund?")};
  const TicketText text = BuildTicketText(t);
  EXPECT_EQ(text.whole, "Refund\nI was charged twice\nAny news on my refund?");
  EXPECT_EQ(text.newest, "Any news on my refund?");

  Ticket only_description;
  only_description.description = "where is my parcel";
  only_description.comments = {Customer("where is my parcel")};
  EXPECT_EQ(BuildTicketText(only_description).whole, "where is my parcel");
  EXPECT_EQ(BuildTicketText(only_description).newest, "");
}

TEST(SampleModelsTest, TrainsOnceThenLoadsTheCachedFiles) {
  TempDir dir;
  WriteSampleDir(dir.path() / "sample");
  const std::string data_dir = (dir.path() / "data").string();

  std::vector<std::string> trained;
  auto first = LoadSampleModels((dir.path() / "sample").string(), data_dir, &trained);
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  EXPECT_EQ(trained, (std::vector<std::string>{"category", "priority", "sentiment"}));
  const auto files = ModelFiles(data_dir);
  ASSERT_EQ(files.size(), 3u);
  EXPECT_EQ(files[0].filename().string().rfind("sample-category-", 0), 0u) << files[0];
  EXPECT_EQ(files[0].filename().string().size(), std::string("sample-category-.model").size() + 16);

  trained.clear();
  auto second = LoadSampleModels((dir.path() / "sample").string(), data_dir, &trained);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(trained.empty()) << "second start must load, not train";
  EXPECT_EQ(ModelFiles(data_dir), files);
  const std::string probe = "I need a refund for this invoice";
  EXPECT_EQ(second->at("category").Probabilities(probe), first->at("category").Probabilities(probe));

  // Changed training data → new cache key → retrained (only the dimension that changed).
  WriteFile((dir.path() / "sample/train/mood.jsonl").string(),
            std::string(R"({"text": "love it", "label": "positive"})" "\n") +
                R"({"text": "love it a lot", "label": "positive"})" "\n" +
                R"({"text": "hate it", "label": "negative"})" "\n" +
                R"({"text": "hate it a lot", "label": "negative"})" "\n");
  trained.clear();
  ASSERT_TRUE(LoadSampleModels((dir.path() / "sample").string(), data_dir, &trained).ok());
  EXPECT_EQ(trained, std::vector<std::string>{"sentiment"});
  EXPECT_EQ(ModelFiles(data_dir).size(), 4u);
}

// "networks": false is part of the recipe (a model without networks is another model, so
// another cache file), and anything but a boolean is an error, not a silent default.
TEST(SampleModelsTest, NetworksSwitchKeysTheCacheAndMustBeABoolean) {
  TempDir dir;
  WriteSampleDir(dir.path() / "sample");
  const std::string sample = (dir.path() / "sample").string();
  ASSERT_TRUE(LoadSampleModels(sample, (dir.path() / "a").string()).ok());
  WriteFile((dir.path() / "sample/models.json").string(),
            R"([{"dimension":"sentiment","data":"train/mood.jsonl","field":"label","networks":false}])");
  std::vector<std::string> trained;
  ASSERT_TRUE(LoadSampleModels(sample, (dir.path() / "a").string(), &trained).ok());
  EXPECT_EQ(trained, std::vector<std::string>{"sentiment"}) << "a new recipe, so a new cache key";
  EXPECT_EQ(ModelFiles(dir.path() / "a").size(), 4u);
  WriteFile((dir.path() / "sample/models.json").string(),
            R"([{"dimension":"sentiment","data":"train/mood.jsonl","field":"label","networks":"no"}])");
  auto bad = LoadSampleModels(sample, (dir.path() / "b").string());
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), Code::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("networks must be true or false"), std::string::npos) << bad.status().ToString();
}

// check-config builds against a scratch data dir but may read serve's cache: it loads from
// there and writes nothing anywhere.
TEST(SampleModelsTest, ReadsAnotherDataDirsCacheWithoutWritingIt) {
  TempDir dir;
  WriteSampleDir(dir.path() / "sample");
  const std::string served = (dir.path() / "served").string();
  const std::string scratch = (dir.path() / "scratch").string();
  auto trained_there = LoadSampleModels((dir.path() / "sample").string(), served);
  ASSERT_TRUE(trained_there.ok()) << trained_there.status().ToString();
  const auto files = ModelFiles(served);
  ASSERT_EQ(files.size(), 3u);

  std::vector<std::string> trained;
  auto loaded = LoadSampleModels((dir.path() / "sample").string(), scratch, &trained, {served});
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(trained.empty()) << "every model was in the read-only cache";
  EXPECT_FALSE(fs::exists(fs::path(scratch) / "models")) << "nothing is copied or trained into the scratch dir";
  EXPECT_EQ(ModelFiles(served), files);
  const std::string probe = "I need a refund for this invoice";
  EXPECT_EQ(loaded->at("category").Probabilities(probe), trained_there->at("category").Probabilities(probe));

  // A read-only dir without the files changes nothing: the models are trained and cached
  // in the data dir as usual.
  trained.clear();
  ASSERT_TRUE(LoadSampleModels((dir.path() / "sample").string(), scratch, &trained,
                               {(dir.path() / "nowhere").string()}).ok());
  EXPECT_EQ(trained.size(), 3u);
  EXPECT_EQ(ModelFiles(scratch).size(), 3u);
}

// A models.json entry may name hand-labelled tickets to refit the model's confidences on; they
// are part of the cache key, and a broken entry or file is an error, never a silent fallback.
TEST(SampleModelsTest, CalibrationEntryRefitsTheModelAndKeysTheCache) {
  TempDir dir;
  const fs::path sample = dir.path() / "sample";
  WriteSampleDir(sample);
  // Enough rows (>= 50) for the model to be calibrated at all, and a few wrong labels so its
  // confidences are not all 1.
  std::string topics;
  int row = 0;
  for (auto ex : SeparableData(40)) {
    if (++row % 20 == 0) ex.label = ex.label == "login" ? "billing" : "login";
    topics += nlohmann::json{{"text", ex.text}, {"topic", ex.label}}.dump() + "\n";
  }
  WriteFile((sample / "train/topics.jsonl").string(), topics);
  auto write_tickets = [&](int flip_every) {
    std::string tickets;
    int i = 0;
    for (auto ex : SeparableData(15, 4)) {
      // Harder than the training text: some labels disagree with the words.
      if (++i % flip_every == 0) ex.label = ex.label == "billing" ? "shipping" : "billing";
      tickets += nlohmann::json{{"text", ex.text}, {"topic", ex.label}}.dump() + "\n";
    }
    WriteFile((sample / "eval/tickets.jsonl").string(), tickets);
  };
  write_tickets(3);
  WriteFile((sample / "models.json").string(),
            R"([{"dimension":"category","data":"train/topics.jsonl","field":"topic",
                 "calibration":{"data":"eval/tickets.jsonl","field":"topic"}}])");
  const std::string data_dir = (dir.path() / "data").string();
  auto loaded = LoadSampleModels(sample.string(), data_dir);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  auto raw = TrainLinearModel(*LoadJsonl((sample / "train/topics.jsonl").string(), "topic"), TrainOptions{});
  ASSERT_TRUE(raw.ok());
  const std::string probe = "I need a refund for this invoice";
  const LinearModel& calibrated = loaded->at("category");
  EXPECT_LT(calibrated.Predict(probe).confidence, raw->Predict(probe).confidence);
  EXPECT_EQ(calibrated.Predict(probe).label, raw->Predict(probe).label);
  EXPECT_NE(calibrated.auto_threshold(), raw->auto_threshold());

  // Other tickets → another cache key → retrained.
  write_tickets(4);
  std::vector<std::string> trained;
  ASSERT_TRUE(LoadSampleModels(sample.string(), data_dir, &trained).ok());
  EXPECT_EQ(trained, std::vector<std::string>{"category"});

  WriteFile((sample / "models.json").string(),
            R"([{"dimension":"category","data":"train/topics.jsonl","field":"topic","calibration":"eval"}])");
  EXPECT_EQ(LoadSampleModels(sample.string(), data_dir).status().code(), Code::kInvalidArgument);
  WriteFile((sample / "eval/tickets.jsonl").string(), R"({"text": "too few", "topic": "billing"})" "\n");
  WriteFile((sample / "models.json").string(),
            R"([{"dimension":"category","data":"train/topics.jsonl","field":"topic",
                 "calibration":{"data":"eval/tickets.jsonl","field":"topic"}}])");
  auto too_few = LoadSampleModels(sample.string(), data_dir);
  EXPECT_EQ(too_few.status().code(), Code::kInvalidArgument);
  EXPECT_NE(too_few.status().message().find("calibrate sample model category"), std::string::npos)
      << too_few.status().message();
}

TEST(SampleModelsTest, CorruptCacheIsRetrained) {
  TempDir dir;
  WriteSampleDir(dir.path() / "sample");
  const std::string data_dir = (dir.path() / "data").string();
  ASSERT_TRUE(LoadSampleModels((dir.path() / "sample").string(), data_dir).ok());
  const auto files = ModelFiles(data_dir);
  WriteFile(files[0].string(), "garbage");
  std::vector<std::string> trained;
  ASSERT_TRUE(LoadSampleModels((dir.path() / "sample").string(), data_dir, &trained).ok());
  EXPECT_EQ(trained, std::vector<std::string>{"category"});
  EXPECT_TRUE(LinearModel::Load(files[0].string()).ok());
}

TEST(SampleModelsTest, MissingOrBrokenIndexIsAnError) {
  TempDir dir;
  EXPECT_EQ(LoadSampleModels(dir.path().string(), "").status().code(), Code::kFailedPrecondition);
  WriteFile(dir.File("models.json"), R"([{"dimension":"category"}])");
  EXPECT_EQ(LoadSampleModels(dir.path().string(), "").status().code(), Code::kInvalidArgument);
  WriteFile(dir.File("models.json"), R"([{"dimension":"category","data":"nope.jsonl","field":"x"}])");
  EXPECT_EQ(LoadSampleModels(dir.path().string(), "").status().code(), Code::kNotFound);
}

class AdapterTest : public ::testing::Test {
 protected:
  Result<std::unique_ptr<Classifier>> Make(const nlohmann::json& section_json, std::string* finish_error) {
    section_json_ = section_json;
    section_ = std::make_unique<ConfigSection>(section_json_, "classifier");
    AdapterContext ctx;
    ctx.section = section_.get();
    ctx.name = "classifier";
    ctx.data_dir = (dir_.path() / "data").string();
    ctx.sample_dir = (dir_.path() / "sample").string();
    Registry registry;
    RegisterEmbeddedClassifier(registry);
    auto made = registry.MakeClassifier("embedded", ctx);
    Status finished = section_->Finish();
    *finish_error = finished.ok() ? "" : finished.message();
    return made;
  }

  TempDir dir_;
  nlohmann::json section_json_;
  std::unique_ptr<ConfigSection> section_;
};

TEST_F(AdapterTest, WithoutModelsUsesSampleModelsAndClassifiesATicket) {
  WriteSampleDir(dir_.path() / "sample");
  std::string unknown;
  auto clf = Make({{"type", "embedded"}}, &unknown);
  ASSERT_TRUE(clf.ok()) << clf.status().ToString();
  EXPECT_EQ(unknown, "");

  Ticket t;
  t.subject = "Question";
  t.description = "hello, my parcel delivery is late, the courier has no tracking";
  t.comments = {Customer(t.description), Agent("Sorry to hear that"),
                Customer("also I was charged twice on the invoice, I want a refund payment")};
  auto triage = (*clf)->Classify(t);
  ASSERT_TRUE(triage.ok()) << triage.status().ToString();
  ASSERT_EQ(triage->predictions.size(), 3u);
  const Prediction* category = triage->Get("category");
  ASSERT_NE(category, nullptr);
  // The newest customer message outweighs the older one.
  EXPECT_EQ(category->label, "billing");
  EXPECT_GT(category->confidence, 0.5);
  EXPECT_FALSE(category->abstained);
  ASSERT_FALSE(category->alternatives.empty());
  EXPECT_EQ(category->alternatives[0].first, "shipping");
  EXPECT_EQ(triage->Get("priority")->label, "urgent");
  EXPECT_TRUE(triage->Get("sentiment") != nullptr);

  Ticket empty;
  auto abstain = (*clf)->Classify(empty);
  ASSERT_TRUE(abstain.ok());
  EXPECT_TRUE(abstain->Get("category")->abstained);
  EXPECT_EQ(abstain->Get("category")->label, "");
}

TEST_F(AdapterTest, ConfiguredModelsAreLoadedAndClassifyConcurrently) {
  auto model = TrainLinearModel(SeparableData(20), TrainOptions{});
  ASSERT_TRUE(model.ok());
  const std::string path = dir_.File("topic.model");
  ASSERT_TRUE(model->Save(path).ok());
  std::string unknown;
  auto clf = Make({{"type", "embedded"}, {"models", {{"category", path}}}}, &unknown);
  ASSERT_TRUE(clf.ok()) << clf.status().ToString();
  EXPECT_EQ(unknown, "");

  Ticket t;
  t.subject = "cannot login";
  t.description = "I forgot my password and my username is locked";
  std::vector<std::thread> threads;
  std::atomic<int> right{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 50; ++j) {
        auto r = (*clf)->Classify(t);
        if (r.ok() && r->Get("category") && r->Get("category")->label == "login") ++right;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(right.load(), 200);
}

TEST(EmbeddedClassifierTest, UnfamiliarTicketsAbstainOnAModelWithAFamiliarityFloor) {
  const auto data = testing::SeparableDataWithNoise(40, 5);
  TrainOptions options;
  options.familiarity_budget = 0.05;
  auto model = TrainLinearModel(data, options);
  ASSERT_TRUE(model.ok());
  ASSERT_GT(model->familiarity_floor(), 0.0);
  EmbeddedClassifier clf({{"category", *model}});

  Ticket off_topic;
  off_topic.subject = "Lasagna recipe?";
  off_topic.description = "a good vegetarian lasagna for a dinner party";
  auto triage = clf.Classify(off_topic);
  ASSERT_TRUE(triage.ok());
  EXPECT_TRUE(triage->Get("category")->abstained);
  EXPECT_EQ(triage->Get("category")->label, "");

  // A training text without made-up words is answered.
  const auto clean = std::find_if(data.begin(), data.end(), [](const LabeledText& ex) {
    return std::count(ex.text.begin(), ex.text.end(), ' ') == 5;
  });
  ASSERT_NE(clean, data.end());
  Ticket familiar;
  familiar.description = clean->text;
  auto answered = clf.Classify(familiar);
  ASSERT_TRUE(answered.ok());
  EXPECT_FALSE(answered->Get("category")->abstained);
  EXPECT_EQ(answered->Get("category")->label, clean->label);
}

TEST_F(AdapterTest, ConfigErrorsAreReported) {
  std::string unknown;
  auto missing = Make({{"type", "embedded"}, {"models", {{"category", dir_.File("nope.model")}}}}, &unknown);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find("classifier.models.category"), std::string::npos)
      << missing.status().message();

  auto wrong_type = Make({{"type", "embedded"}, {"models", {{"category", 3}}}}, &unknown);
  EXPECT_FALSE(wrong_type.ok());
  EXPECT_NE(unknown.find("category"), std::string::npos) << unknown;

  WriteSampleDir(dir_.path() / "sample");
  auto extra = Make({{"type", "embedded"}, {"modles", {{"category", "x"}}}}, &unknown);
  EXPECT_TRUE(extra.ok());
  EXPECT_NE(unknown.find("modles"), std::string::npos) << unknown;
}

}  // namespace
}  // namespace deskpilot
