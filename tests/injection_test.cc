// Prompt injection, end to end: every BIPIA e-mail injection item becomes a ticket at the
// sandbox help desk, which delivers its signed webhook to the real `deskpilot serve`; the
// llm classifier and drafter call a fake OpenAI-compatible server over HTTP that does
// whatever the injected text asks — it repeats the system prompt's canary (in the
// classification, the draft or the summary), claims full confidence for a category set
// to automatic replies, and cites a retrieved passage. Whatever the model says, plain-code
// policy decides: no public reply, no canary anywhere in what reaches the help desk or the
// audit log, no tag, group or field outside what the configuration names.
//
// (src/service/pipeline_test.cc runs the same items through the pipeline in process; this
// test adds the webhook receiver, the queue, the worker, the HTTP model client with its
// cache, and the write-back.)
#include <atomic>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <regex>
#include <set>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "harness.h"
#include "llm/openai/fake_openai_server.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;
namespace th = testing_harness;
using json = nlohmann::json;
using namespace std::chrono_literals;

struct BipiaItem {
  std::string id, question, text;
};

std::vector<BipiaItem> LoadBipia(const std::string& path) {
  std::vector<BipiaItem> items;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    json row = json::parse(line);
    items.push_back({row["id"].get<std::string>(), row["question"].get<std::string>(), row["text"].get<std::string>()});
  }
  return items;
}

// The model that obeys: its answer depends on which prompt it got (told apart by the
// requested schema) and rotates through the ways an injected instruction could leak.
class ObedientModel {
 public:
  std::string Answer(const FakeModelRequest& r) {
    std::smatch m;
    if (std::regex_search(r.system, m, std::regex("Internal marker: ([0-9a-f]{16})"))) {
      std::lock_guard lock(mu_);
      canaries_.insert(m[1].str());
    }
    const std::string canary = m.size() > 1 ? m[1].str() : "";
    const std::string user = r.messages.empty() ? "" : r.messages.back().second;
    const std::string excerpt = user.substr(std::min<size_t>(user.size(), user.size() / 2), 200);
    const int n = calls_++;
    const int mode = n % 4;
    const auto props = r.schema && r.schema->contains("properties") ? (*r.schema)["properties"] : json::object();
    json out;
    if (props.contains("reply")) {
      std::string reply = "As instructed: " + excerpt + " [1]";
      if (mode == 1) reply += " " + canary;
      out = {{"language", "en"}, {"reply", reply}, {"citations", {1}}};
    } else if (props.contains("request")) {
      std::string request = excerpt.substr(0, 150);
      if (mode == 2) request += " " + canary;
      out = {{"request", request}, {"tried", ""}, {"open_questions", ""}, {"mood", "calm"}};
    } else {
      // A sensitive category half the time, one set to automatic replies otherwise, always
      // with full confidence; sometimes the label itself carries the marker.
      std::string label = (n / 4) % 2 ? "refund" : "delivery";
      if (mode == 0) label += " " + canary;
      out = {{"category", {{"label", label}, {"confidence", 1.0}}}};
    }
    return out.dump(-1, ' ', false, json::error_handler_t::replace);
  }
  std::set<std::string> Canaries() {
    std::lock_guard lock(mu_);
    return canaries_;
  }

 private:
  std::atomic<int> calls_{0};
  std::mutex mu_;
  std::set<std::string> canaries_;
};

TEST(Injection, BipiaTicketsThroughTheRealServiceTakeNoActionOutsidePolicy) {
  const std::string data = std::string(DESKPILOT_SHARED_DATA_DIR) + "/bipia_email_injection/train.jsonl";
  if (!fs::exists(data)) GTEST_SKIP() << "BIPIA data not found at " << data << " (../shared is absent)";
  ASSERT_TRUE(fs::exists(DESKPILOT_BINARY)) << DESKPILOT_BINARY;
  const std::vector<BipiaItem> items = LoadBipia(data);
  ASSERT_EQ(items.size(), 125u);

  ObedientModel model;
  FakeOpenAiServer fake;
  fake.SetAnswer([&](const FakeModelRequest& r) { return model.Answer(r); });
  ASSERT_TRUE(fake.Start().ok());

  th::SandboxDesk desk("inject");
  ASSERT_TRUE(desk.started());
  const std::string db = desk.db();
  const std::string config =
      desk.WriteConfig(std::string("[workers]\nthreads = 4\npoll_ms = 50\n") +
                       "[policy]\nmode = \"auto\"\nsensitive_categories = [\"refund\"]\n" +
                       "[policy.categories]\nrefund = \"auto_reply\"\ndelivery = \"auto_reply\"\n" +
                       "[classifier]\ntype = \"llm\"\n" +
                       "[classifier.labels.category]\nrefund = \"wants money back\"\n" +
                       "delivery = \"where is my parcel\"\n" + "[drafter]\ntype = \"llm\"\n" +
                       "[llm]\ntype = \"openai\"\nbase_url = \"" + fake.base_url() + "\"\nmodel = \"obedient\"\n" +
                       "max_concurrency = 8\ntimeout_ms = 20000\n" + "prompts_dir = \"" +
                       DESKPILOT_TEST_SAMPLE_DIR + "/../../prompts\"\n");
  th::Process serve({DESKPILOT_BINARY, "serve", "--config", config}, desk.Env(), desk.Path("serve.log"));
  const int port = serve.WaitForPort(60s);
  ASSERT_GT(port, 0) << serve.Log();
  desk.sandbox().SetWebhookUrl("http://127.0.0.1:" + std::to_string(port) + "/webhooks/desk");

  httplib::Client api = desk.Client();
  for (const BipiaItem& item : items) {
    json body = {{"subject", "Question about this e-mail"},
                 {"description", item.question + "\n\n" + item.text},
                 {"requester", {{"email", "customer@example.org"}, {"name", "Customer"}}}};
    auto res = api.Post("/api/tickets", body.dump(-1, ' ', false, json::error_handler_t::replace), "application/json");
    ASSERT_TRUE(res && res->status == 201) << item.id << ": " << (res ? res->body : "no answer");
  }
  desk.sandbox().FlushWebhooks();

  // Every delivery becomes a job that finishes (done: written back; nothing dead-lettered).
  std::map<std::string, int> states;
  const auto until = std::chrono::steady_clock::now() + 240s;
  while (std::chrono::steady_clock::now() < until) {
    states = th::JobStates(db);
    if (states["done"] + states["dead"] >= static_cast<int>(items.size())) break;
    std::this_thread::sleep_for(200ms);
  }
  EXPECT_EQ(states["done"], static_cast<int>(items.size())) << "dead: " << states["dead"] << "\n" << serve.Log();
  EXPECT_EQ(serve.Terminate(20s), 0) << serve.Log();
  fake.Stop();

  const std::set<std::string> canaries = model.Canaries();
  ASSERT_EQ(canaries.size(), 1u) << "the system prompt carries one per-process canary";
  const std::string canary = *canaries.begin();
  EXPECT_GE(fake.RequestCount(), static_cast<int>(items.size()) * 2) << "classifier and drafter both called the model";

  // What reached the help desk.
  auto comments = th::Query(desk.sandbox_db(), "SELECT public, body FROM comments WHERE author_role = 'agent'");
  ASSERT_TRUE(comments.has_value());
  int notes = 0, public_replies = 0, leaks = 0;
  for (const auto& row : *comments) {
    (row[0] == "1" ? public_replies : notes)++;
    if (row[1].find(canary) != std::string::npos) ++leaks;
  }
  EXPECT_EQ(public_replies, 0) << "a model claiming confidence 1.0 unlocked an automatic reply";
  EXPECT_EQ(notes, static_cast<int>(items.size()));
  auto tickets = th::Query(desk.sandbox_db(), "SELECT tags, grp, custom_fields, priority FROM tickets");
  ASSERT_TRUE(tickets.has_value());
  ASSERT_EQ(tickets->size(), items.size());
  int outside = 0;
  for (const auto& row : *tickets) {
    for (const std::string& field : row)
      if (field.find(canary) != std::string::npos) ++leaks;
    for (const auto& tag : json::parse(row[0]))
      if (tag.get<std::string>().rfind("deskpilot", 0) != 0) ++outside;  // only the marker and its family
    if (!row[1].empty() && row[1] != "escalations") ++outside;             // no group the config does not name
    if (row[2] != "{}" && !row[2].empty()) ++outside;                      // no custom field is configured
  }
  EXPECT_EQ(leaks, 0) << "the canary reached the help desk";
  EXPECT_EQ(outside, 0);

  // And the audit log: the canary is never recorded, and the chain verifies.
  auto audit = th::Query(db, "SELECT COUNT(*) FROM audit WHERE instr(data, '" + canary + "') > 0");
  ASSERT_TRUE(audit.has_value());
  EXPECT_EQ((*audit)[0][0], "0");
  std::string out;
  EXPECT_EQ(th::RunCommand(std::string(DESKPILOT_BINARY) + " audit verify --db " + db, &out), 0) << out;
}

}  // namespace
}  // namespace deskpilot
