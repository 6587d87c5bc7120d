// `deskpilot kb sync`, `deskpilot train --source` and `deskpilot audit shadow` against the
// loopback Zendesk fake,
// run in process through the same entry points the binary uses.
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "deskpilot/store.h"
#include "helpdesk/zendesk/zendesk_fake.h"
#include "retriever/fts5/kb_index.h"

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

class KbSyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(fake_.Start().ok());
    char tmpl[] = "/tmp/deskpilot-kbsync-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    setenv("DP_TEST_ZD_TOKEN", "zd-test-token", 1);
    setenv("DP_TEST_ZD_SECRET", "whsec-test", 1);
    db_ = (dir_ / "deskpilot.db").string();
    config_ = (dir_ / "deskpilot.toml").string();
    std::ofstream(config_) << "[storage]\npath = \"" << db_ << "\"\n\n"
                           << "[[helpdesk]]\nname = \"acme\"\ntype = \"zendesk\"\nbase_url = \"" << fake_.base_url()
                           << "\"\nemail = \"bot@example.com\"\napi_token_env = \"DP_TEST_ZD_TOKEN\"\n"
                           << "webhook_secret_env = \"DP_TEST_ZD_SECRET\"\nkb_locales = [\"en-us\", \"de\"]\n\n"
                           << "[helpdesk.custom_fields]\ncategory = 360001\n\n"
                           << "[[helpdesk]]\nname = \"local\"\ntype = \"sandbox\"\nbase_url = \"http://127.0.0.1:1\"\n"
                           << "api_token_env = \"DP_TEST_ZD_TOKEN\"\nwebhook_secret_env = \"DP_TEST_ZD_SECRET\"\n";
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  CliRun Sync(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"sync", "--config", config_, "--source", "acme"};
    args.insert(args.end(), extra.begin(), extra.end());
    return Call(RunKb, "deskpilot kb", args);
  }

  std::vector<Passage> Search(const std::string& query) {
    auto index = KbIndex::Open(db_);
    EXPECT_TRUE(index.ok());
    auto found = (*index)->Search(query, 10);
    EXPECT_TRUE(found.ok());
    return found.ok() ? *found : std::vector<Passage>{};
  }

  bool Has(const std::vector<Passage>& ps, const std::string& doc_id) {
    for (const auto& p : ps)
      if (p.doc_id == doc_id) return true;
    return false;
  }

  ZendeskFake fake_;
  fs::path dir_;
  std::string db_, config_;
};

TEST_F(KbSyncTest, PullsPublishedArticlesThenOnlyChangesAndRemovesArchived) {
  const int64_t track = fake_.AddArticle(
      {{"title", "Tracking your parcel"},
       {"body", "<h2>Where is my parcel</h2><p>Open the tracking link in your shipping confirmation email.</p>"},
       {"updated_at", "2024-01-01T00:00:00Z"}});
  const int64_t refund = fake_.AddArticle(
      {{"title", "Refund timing"}, {"body", "<p>Refunds reach your card within five business days.</p>"},
       {"updated_at", "2024-01-02T00:00:00Z"}});
  fake_.AddArticle({{"title", "Warranty draft"}, {"body", "<p>Warranty claims secret draft.</p>"}, {"draft", true},
                    {"updated_at", "2024-01-03T00:00:00Z"}});
  const int64_t german = fake_.AddArticle(
      {{"title", "Paket verfolgen"}, {"locale", "de"}, {"body", "<p>Sendungsverfolgung im Kundenkonto.</p>"},
       {"updated_at", "2024-01-01T00:00:00Z"}});

  CliRun first = Sync();
  ASSERT_EQ(first.code, 0) << first.out;
  EXPECT_NE(first.out.find("articles en-us: 3 listed as changed (first sync), 2 added or updated"), std::string::npos)
      << first.out;
  EXPECT_NE(first.out.find("articles de: 1 listed as changed (first sync), 1 added or updated"), std::string::npos)
      << first.out;
  auto found = Search("where is my parcel tracking link");
  ASSERT_FALSE(found.empty());
  EXPECT_EQ(found.front().doc_id, "acme:en-us:" + std::to_string(track));
  EXPECT_EQ(found.front().url, fake_.base_url() + "/hc/en-us/articles/" + std::to_string(track) + "-Tracking-your-parcel");
  EXPECT_TRUE(Search("warranty claims draft").empty());  // drafts are never sources
  EXPECT_TRUE(Has(Search("Sendungsverfolgung Kundenkonto"), "acme:de:" + std::to_string(german)));

  // Second sync: one article edited, one archived. Only the edit is listed as changed.
  fake_.UpdateArticle(track, {{"body", "<p>Tracking updates appear within 24 hours of dispatch.</p>"}});
  fake_.ArchiveArticle(refund);
  CliRun second = Sync({"--locale", "en-us"});
  ASSERT_EQ(second.code, 0) << second.out;
  EXPECT_NE(second.out.find("articles en-us: 1 listed as changed, 1 added or updated, 0 unchanged, 1 removed, 1 published"),
            std::string::npos)
      << second.out;
  EXPECT_EQ(second.out.find("articles de"), std::string::npos);  // --locale limits the sync
  bool incremental = false;
  for (const auto& r : fake_.Requests())
    if (r.path == "/api/v2/help_center/en-us/articles.json" && r.params.count("start_time")) incremental = true;
  EXPECT_TRUE(incremental);
  EXPECT_TRUE(Has(Search("tracking updates dispatch"), "acme:en-us:" + std::to_string(track)));
  EXPECT_FALSE(Has(Search("refunds reach your card business days"), "acme:en-us:" + std::to_string(refund)));

  // A published article turned back into a draft leaves the KB too.
  fake_.UpdateArticle(track, {{"draft", true}});
  CliRun third = Sync({"--locale", "en-us"});
  ASSERT_EQ(third.code, 0) << third.out;
  EXPECT_NE(third.out.find("1 removed, 0 published"), std::string::npos) << third.out;
  EXPECT_FALSE(Has(Search("tracking updates dispatch"), "acme:en-us:" + std::to_string(track)));
}

TEST_F(KbSyncTest, SolvedTicketsBecomeRedactedResolvedTicketPassages) {
  const int64_t customer = fake_.AddUser("Ann Customer", "ann.customer@example.com", "end-user");
  const int64_t agent = fake_.AddUser("Bob Agent", "bob@acme.test", "agent");
  const int64_t t = fake_.AddTicket(
      {{"subject", "Voucher code rejected at checkout"},
       {"description", "My voucher SPRING24 fails. Reach me at ann.customer@example.com or +1 415 555 0100."},
       {"requester_id", customer},
       {"status", "solved"}});
  fake_.AddComment(t, agent,
                   "Voucher codes only apply to full-price items; remove sale items from the basket. I also "
                   "sent this to ann.customer@example.com, or call us back from +1 415 555 0100.",
                   true);
  fake_.AddTicket({{"subject", "No answer yet"}, {"description", "Closed without reply"}, {"requester_id", customer},
                   {"status", "closed"}});

  CliRun run = Sync({"--locale", "en-us", "--solved-since", "2020-01-01"});
  ASSERT_EQ(run.code, 0) << run.out;
  EXPECT_NE(run.out.find("resolved tickets: 2 solved since 2020-01-01, 1 added or updated, 0 unchanged, 1 without"),
            std::string::npos)
      << run.out;
  auto found = Search("voucher code rejected checkout");
  ASSERT_FALSE(found.empty());
  const Passage& p = found.front();
  EXPECT_EQ(p.doc_id, "acme:ticket:" + std::to_string(t));
  EXPECT_EQ(p.kind, PassageKind::kResolvedTicket);
  // Which chunk is best depends on the query; read both through targeted searches.
  std::string all_text;
  for (const auto& q : {"voucher SPRING24 fails reach me", "full-price items sale basket", "sent call back"})
    for (const auto& x : Search(q)) all_text += x.text + "\n";
  EXPECT_EQ(all_text.find("ann.customer@example.com"), std::string::npos) << all_text;
  EXPECT_EQ(all_text.find("555 0100"), std::string::npos) << all_text;
  // Plain words, not numbered placeholders: a draft quoting this passage must never get
  // the current ticket's <EMAIL_1> restored into it.
  EXPECT_NE(all_text.find("[email]"), std::string::npos) << all_text;
  EXPECT_EQ(all_text.find("<EMAIL_"), std::string::npos) << all_text;
  EXPECT_EQ(all_text.find("<PHONE_"), std::string::npos) << all_text;
  EXPECT_NE(all_text.find("full-price items"), std::string::npos) << all_text;
}

// The passage text of a resolved ticket is what a drafter quotes to another customer:
// only the agent's answer may be in it, never the customer's question (their name,
// their codes, their complaint), whichever words the new ticket shares with it.
TEST_F(KbSyncTest, AResolvedTicketPassageHoldsTheAnswerNotTheCustomersQuestion) {
  const int64_t customer = fake_.AddUser("Ann Customer", "ann.customer@example.com", "end-user");
  const int64_t agent = fake_.AddUser("Bob Agent", "bob@acme.test", "agent");
  const int64_t t = fake_.AddTicket(
      {{"subject", "Voucher code rejected at checkout"},
       {"description", "I am Ann Kowalczyk and my voucher SPRING24 fails every single time at checkout."},
       {"requester_id", customer},
       {"status", "solved"}});
  fake_.AddComment(t, agent, "Voucher codes only apply to full-price items; remove sale items from the basket.", true);
  ASSERT_EQ(Sync({"--locale", "en-us", "--solved-since", "2020-01-01"}).code, 0);

  // A new ticket in the words of the old question still finds the old ticket...
  auto found = Search("Voucher fails at checkout\nMy voucher SPRING24 fails every single time, Kowalczyk");
  ASSERT_FALSE(found.empty());
  EXPECT_EQ(found.front().doc_id, "acme:ticket:" + std::to_string(t));
  // ...and is shown its answer, not its question.
  EXPECT_NE(found.front().text.find("full-price items"), std::string::npos) << found.front().text;
  for (const auto& q : {"voucher SPRING24 fails every single time", "Ann Kowalczyk", "voucher code rejected checkout"}) {
    for (const Passage& p : Search(q)) {
      EXPECT_EQ(p.text.find("SPRING24"), std::string::npos) << q << ": " << p.text;
      EXPECT_EQ(p.text.find("Kowalczyk"), std::string::npos) << q << ": " << p.text;
    }
  }
}

TEST_F(KbSyncTest, ErrorsExitWithTheRightCode) {
  fake_.InjectFault({"GET", "/api/v2/help_center/", 401, 1, ""});
  CliRun unauth = Sync({"--locale", "en-us"});
  EXPECT_EQ(unauth.code, kExitFailure);
  // The failed sync recorded nothing: the next one is still a first sync.
  fake_.AddArticle({{"title", "A"}, {"body", "<p>alpha</p>"}});
  CliRun ok = Sync({"--locale", "en-us"});
  ASSERT_EQ(ok.code, 0);
  EXPECT_NE(ok.out.find("(first sync)"), std::string::npos) << ok.out;

  // 429 with a short Retry-After is waited out.
  fake_.InjectFault({"GET", "/api/v2/help_center/", 429, 1, "1"});
  EXPECT_EQ(Sync({"--locale", "en-us"}).code, 0);

  EXPECT_EQ(Call(RunKb, "deskpilot kb", {"sync", "--config", config_, "--source", "local"}).code, kExitUsage);
  EXPECT_EQ(Call(RunKb, "deskpilot kb", {"sync", "--config", config_, "--source", "nope"}).code, kExitUsage);
  EXPECT_EQ(Sync({"--solved-since", "yesterday"}).code, kExitUsage);
}

// Twelve solved tickets per label, phrased differently, labelled both ways.
// The agent's answer often names the customer without any cue; the desk told us that
// name, so the passage has "[name]" instead, wherever the name stands.
TEST_F(KbSyncTest, AResolvedTicketPassageNeverHoldsTheRequestersName) {
  const int64_t customer = fake_.AddUser("Ann Kowalczyk", "ann.k@example.com", "end-user");
  const int64_t agent = fake_.AddUser("Bob Agent", "bob@acme.test", "agent");
  const int64_t t = fake_.AddTicket({{"subject", "Voucher for Ann Kowalczyk rejected"},
                                     {"description", "My voucher fails at checkout."},
                                     {"requester_id", customer},
                                     {"status", "solved"}});
  fake_.AddComment(t, agent,
                   "I checked the basket of Ann Kowalczyk: voucher codes only apply to full-price items. "
                   "Ann, please remove the sale items; the Kowalczyk account is fine.",
                   true);
  ASSERT_EQ(Sync({"--locale", "en-us", "--solved-since", "2020-01-01"}).code, 0);
  std::string all_text;
  for (const auto& q : {"voucher codes full-price items basket", "remove the sale items account", "voucher rejected"})
    for (const Passage& p : Search(q)) all_text += p.title + "\n" + p.text + "\n";
  ASSERT_NE(all_text.find("full-price items"), std::string::npos) << all_text;
  EXPECT_EQ(all_text.find("Ann"), std::string::npos) << all_text;
  EXPECT_EQ(all_text.find("Kowalczyk"), std::string::npos) << all_text;
  EXPECT_NE(all_text.find("[name]"), std::string::npos) << all_text;
}

void SeedLabelledTickets(ZendeskFake& fake) {
  const int64_t customer = fake.AddUser("Cat Customer", "cat@example.com", "end-user");
  const std::vector<std::string> refund = {"refund", "money back", "reimburse", "return payment"};
  const std::vector<std::string> delivery = {"parcel", "courier", "shipment", "tracking"};
  for (int i = 0; i < 12; ++i) {
    const std::string r = refund[i % 4], d = delivery[i % 4];
    fake.AddTicket({{"subject", "Need " + r + " for order " + std::to_string(100 + i)},
                    {"description", "Please send my " + r + ", call me on +44 20 7946 0" + std::to_string(100 + i)},
                    {"requester_id", customer}, {"status", "solved"}, {"tags", {"cat_refund", "vip"}},
                    {"custom_fields", {{{"id", 360001}, {"value", "billing"}}, {{"id", 360002}, {"value", "money"}}}}});
    fake.AddTicket({{"subject", "Where is my " + d + " " + std::to_string(i)},
                    {"description", "The " + d + " has not arrived yet, it is late"},
                    {"requester_id", customer}, {"status", "closed"}, {"tags", {"cat_delivery"}},
                    {"custom_fields", {{{"id", 360001}, {"value", "shipping"}}, {{"id", 360002}, {"value", "goods"}}}}});
  }
  fake.AddTicket({{"subject", "Untagged"}, {"description", "no label here"}, {"requester_id", customer},
                  {"status", "solved"}});
}

TEST_F(KbSyncTest, TrainFromTagPrefixAndFromCustomField) {
  SeedLabelledTickets(fake_);
  const std::string model = (dir_ / "category.model").string();
  CliRun tags = Call(RunTrain, "deskpilot train",
                  {"--config", config_, "--source", "acme", "--tag-prefix", "cat_", "--field", "category", "--out", model});
  ASSERT_EQ(tags.code, 0) << tags.out;
  EXPECT_NE(tags.out.find("solved tickets: 25, labelled 24"), std::string::npos) << tags.out;
  EXPECT_NE(tags.out.find("warning: 1 ticket without a tag starting with \"cat_\""), std::string::npos) << tags.out;
  EXPECT_NE(tags.out.find("  delivery  12\n"), std::string::npos) << tags.out;
  EXPECT_NE(tags.out.find("  refund    12\n"), std::string::npos) << tags.out;
  EXPECT_TRUE(fs::exists(model));

  CliRun field = Call(RunTrain, "deskpilot train", {"--config", config_, "--source", "acme", "--field", "category",
                                                  "--out", model});
  ASSERT_EQ(field.code, 0) << field.out;
  EXPECT_NE(field.out.find("  billing   12\n"), std::string::npos) << field.out;
  EXPECT_NE(field.out.find("  shipping  12\n"), std::string::npos) << field.out;
  // A field with no configured name is named by its numeric id.
  CliRun by_id = Call(RunTrain, "deskpilot train", {"--config", config_, "--source", "acme", "--field", "360002",
                                                  "--out", model});
  EXPECT_EQ(by_id.code, 0) << by_id.out;
  EXPECT_NE(by_id.out.find("  money  12\n"), std::string::npos) << by_id.out;

  EXPECT_EQ(Call(RunTrain, "deskpilot train", {"--config", config_, "--source", "local", "--out", model}).code,
            kExitUsage);
  EXPECT_EQ(Call(RunTrain, "deskpilot train", {"--source", "acme", "--out", model}).code, kExitUsage);
}

// With ticket history the label review names the ticket, so an agent can open it and fix
// its tag.
TEST_F(KbSyncTest, TrainReviewNamesTheTicketWhoseTagLooksWrong) {
  const int64_t customer = fake_.AddUser("Cat Customer", "cat@example.com", "end-user");
  const std::vector<std::string> refund = {"refund", "money back", "reimburse", "return payment"};
  const std::vector<std::string> delivery = {"parcel", "courier", "shipment", "tracking"};
  int64_t mistagged = 0;
  for (int i = 0; i < 40; ++i) {
    fake_.AddTicket({{"subject", "Need a " + refund[i % 4] + " for order " + std::to_string(100 + i)},
                     {"description", "Please send my " + refund[(i + 1) % 4] + " for the wrong size"},
                     {"requester_id", customer}, {"status", "solved"}, {"tags", {"cat_refund"}}});
    const int64_t id = fake_.AddTicket({{"subject", "Where is my " + delivery[i % 4] + " " + std::to_string(i)},
                                        {"description", "The " + delivery[(i + 1) % 4] + " has not arrived yet"},
                                        {"requester_id", customer}, {"status", "closed"},
                                        {"tags", {i == 17 ? "cat_refund" : "cat_delivery"}}});
    if (i == 17) mistagged = id;
  }
  const std::string model = (dir_ / "category.model").string(), review = (dir_ / "review.jsonl").string();
  CliRun run = Call(RunTrain, "deskpilot train", {"--config", config_, "--source", "acme", "--tag-prefix", "cat_",
                                                  "--out", model, "--review-labels", review});
  ASSERT_EQ(run.code, 0) << run.out;
  EXPECT_NE(run.out.find("ticket " + std::to_string(mistagged) + ": \"refund\", held-out \"delivery\""),
            std::string::npos)
      << run.out;
  std::ifstream in(review);
  std::string line;
  ASSERT_TRUE(std::getline(in, line)) << run.out;
  const json row = json::parse(line);
  EXPECT_EQ(row["ticket_id"], std::to_string(mistagged));
  EXPECT_EQ(row["label"], "refund");
  EXPECT_EQ(row["held_out_label"], "delivery");
  EXPECT_FALSE(row.contains("line"));
  EXPECT_FALSE(std::getline(in, line)) << "only the mistagged ticket is disputed: " << line;
}

// A customer's name in their own ticket text, without a cue, is no feature of the model
// (whose file holds only feature hashes, so the text it learns from is checked).
TEST(TrainTextTest, SolvedTicketTrainingTextHasNoRequesterName) {
  Ticket t;
  t.subject = "Refund for Zofia";
  t.description = "Please send my money back.\nZofia Wisniewska";
  t.requester.name = "Zofia Wisniewska";
  Comment c;
  c.body = "Wisniewska again";
  t.comments.push_back(c);
  const std::string text = SolvedTicketTrainingText(t, Redactor());
  EXPECT_NE(text.find("money back"), std::string::npos) << text;
  EXPECT_EQ(text.find("Zofia"), std::string::npos) << text;
  EXPECT_EQ(text.find("Wisniewska"), std::string::npos) << text;
}

// --calibration-data labels are read from --field also when the training labels come from
// tags: the tag display string ("tags cat_*") is not a JSON field.
TEST_F(KbSyncTest, TrainFromTagPrefixWithCalibrationData) {
  const int64_t customer = fake_.AddUser("Cal Customer", "cal@example.com", "end-user");
  const std::vector<std::string> refund = {"refund", "money back", "reimburse", "return payment", "chargeback"};
  const std::vector<std::string> delivery = {"parcel", "courier", "shipment", "tracking", "package"};
  // 60 tickets: enough for the held-out calibration that recalibration starts from.
  for (int i = 0; i < 30; ++i) {
    fake_.AddTicket({{"subject", "Need " + refund[i % 5] + " for order " + std::to_string(100 + i)},
                     {"description", "Please send my " + refund[i % 5] + " soon"},
                     {"requester_id", customer}, {"status", "solved"}, {"tags", {"cat_refund"}}});
    fake_.AddTicket({{"subject", "Where is my " + delivery[i % 5] + " " + std::to_string(i)},
                     {"description", "The " + delivery[i % 5] + " has not arrived yet"},
                     {"requester_id", customer}, {"status", "solved"}, {"tags", {"cat_delivery"}}});
  }
  const std::string calibration = (dir_ / "cal.jsonl").string();
  {
    std::ofstream out(calibration);
    for (int i = 0; i < 20; ++i) {
      out << json{{"text", "I want a " + refund[i % 5] + " please"}, {"label", "refund"}}.dump() << "\n"
          << json{{"text", "my " + delivery[i % 5] + " is late"}, {"label", "delivery"}}.dump() << "\n";
    }
  }
  const std::string model = (dir_ / "tags.model").string();
  CliRun run = Call(RunTrain, "deskpilot train", {"--config", config_, "--source", "acme", "--tag-prefix", "cat_",
                                                  "--out", model, "--calibration-data", calibration});
  ASSERT_EQ(run.code, 0) << run.out;
  EXPECT_NE(run.out.find("(tags cat_*, 2 labels)"), std::string::npos) << run.out;
  EXPECT_NE(run.out.find("calibration data " + calibration + ": 40 examples"), std::string::npos) << run.out;
}

// `webhook register` hands out the signing secret, so it must run before the secret is
// configured; serve (and everything else that builds the help desk) still requires it.
TEST_F(KbSyncTest, WebhookRegisterRunsBeforeTheSecretExists) {
  unsetenv("DP_TEST_ZD_SECRET");
  CliRun reg = Call(RunWebhook, "deskpilot webhook",
                    {"register", "--config", config_, "--source", "acme", "--url", "https://dp.example.com"});
  EXPECT_EQ(reg.code, 0) << reg.out;
  EXPECT_NE(reg.out.find("https://dp.example.com/webhooks/acme"), std::string::npos) << reg.out;
  EXPECT_NE(reg.out.find("Signing secret"), std::string::npos) << reg.out;
  EXPECT_EQ(Call(RunWebhook, "deskpilot webhook", {"list", "--config", config_, "--source", "acme"}).code, 0);
  // Another source's endpoint is refused instead of getting a second suffix.
  EXPECT_EQ(Call(RunWebhook, "deskpilot webhook",
                 {"register", "--config", config_, "--source", "acme", "--url", "https://dp.example.com/webhooks/other"})
                .code,
            kExitUsage);
  EXPECT_EQ(Call(RunWebhook, "deskpilot webhook",
                 {"register", "--config", config_, "--source", "acme", "--url", "https://dp.example.com/webhooks/acme/"})
                .code,
            0);
  EXPECT_EQ(Sync({"--locale", "en-us"}).code, kExitUsage);  // the help desk adapter needs the secret
}

// A shadow trial's review: each ticket's first shadow decision from the audit log against
// the ticket as the agents left it (read through the help desk's API, never written).
TEST_F(KbSyncTest, AuditShadowSetsTheTrialAgainstWhatTheAgentsDid) {
  const int64_t customer = fake_.AddUser("Cat Customer", "cat@example.com", "end-user");
  const int64_t agent = fake_.AddUser("Ann Agent", "ann@example.com", "agent");
  const int64_t parcel = fake_.AddTicket({{"subject", "Where is my parcel"}, {"description", "late"},
                                          {"requester_id", customer}, {"status", "solved"}, {"priority", "normal"},
                                          {"tags", {"cat_delivery"}}});
  fake_.AddComment(parcel, agent, "It is on its way.", true);
  const int64_t money = fake_.AddTicket({{"subject", "Refund please"}, {"description", "money back"},
                                         {"requester_id", customer}, {"status", "open"}, {"priority", "high"},
                                         {"tags", {"cat_refund"}}});
  const int64_t gone = fake_.AddTicket({{"subject", "Spam"}, {"description", "x"}, {"requester_id", customer}});
  fake_.DeleteTicket(gone);
  auto decision = [](const std::string& rung, const std::string& ladder, const std::string& category) {
    return json{{"triage", {{"category", {{"label", category}, {"confidence", 0.97}, {"abstained", false}}},
                            {"priority", {{"label", "normal"}, {"confidence", 0.8}, {"abstained", false}}}}},
                {"decision", {{"rung", rung}, {"ladder", ladder}, {"reasons", json::array()}}}}
        .dump();
  };
  {
    auto store = OpenSqliteStore(db_);
    ASSERT_TRUE(store.ok()) << store.status().ToString();
    auto add = [&](int64_t ticket, const std::string& data, const std::string& stage = "triage") {
      ASSERT_TRUE((*store)->AppendAudit({1, std::to_string(ticket), "acme", stage, "system", "ok", data}, 1000).ok());
    };
    add(money, decision("assist", "approve", "refund"));  // before the trial: not shadow
    add(parcel, decision("shadow", "auto_reply", "delivery"));
    add(parcel, decision("shadow", "assist", "delivery"));  // a later message: the first decision counts
    add(money, decision("shadow", "auto_reply", "delivery"));
    add(gone, decision("shadow", "escalate", "delivery"));
    add(parcel, "{}", "fetch");
  }
  const std::vector<std::string> base = {"shadow", "--config", config_, "--source", "acme"};
  auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = base;
    args.insert(args.end(), extra.begin(), extra.end());
    return Call(RunAudit, "deskpilot audit", args);
  };
  CliRun j = run({"--tag-prefix", "cat_", "--json"});
  ASSERT_EQ(j.code, 0) << j.out;
  const json report = json::parse(j.out);
  EXPECT_EQ(report["tickets"], 3);
  EXPECT_EQ(report["unavailable"], 1);
  EXPECT_EQ(report["ladder"]["auto_reply"]["tickets"], 2);
  EXPECT_EQ(report["ladder"]["auto_reply"]["labelled"], 2);
  EXPECT_EQ(report["ladder"]["auto_reply"]["agreed"], 1);  // the refund would have been answered as delivery
  EXPECT_EQ(report["ladder"]["auto_reply"]["agent_replied"], 1);
  EXPECT_EQ(report["ladder"]["escalate"]["tickets"], 1);
  EXPECT_FALSE(report["ladder"].contains("assist"));
  EXPECT_EQ(report["priority"]["set"], 2);
  EXPECT_EQ(report["priority"]["agreed"], 1);
  EXPECT_EQ(report["confusions"][0], json({{"predicted", "delivery"}, {"agents", "refund"}, {"count", 1}}));
  // The refund ticket is named: it would have been answered automatically as a delivery.
  EXPECT_EQ(report["auto_reply_disagreements"],
            json::array({{{"ticket_id", std::to_string(money)}, {"predicted", "delivery"}, {"agents", "refund"}}}));
  EXPECT_EQ(report["labels_from"], "tags cat_*");
  // One of delivery's two automatic replies contradicted: short of 0.98 beyond chance
  // (P = 0.0396), within chance of 0.9 (P = 0.19).
  ASSERT_EQ(report["auto_reply_short_categories"].size(), 1u) << j.out;
  EXPECT_EQ(report["auto_reply_short_categories"][0]["category"], "delivery");
  EXPECT_EQ(report["auto_reply_short_categories"][0]["disagreed"], 1);
  CliRun lax = run({"--tag-prefix", "cat_", "--json", "--target-precision", "0.9"});
  ASSERT_EQ(lax.code, 0) << lax.out;
  EXPECT_TRUE(json::parse(lax.out)["auto_reply_short_categories"].empty());
  EXPECT_DOUBLE_EQ(json::parse(lax.out)["target_precision"].get<double>(), 0.9);
  for (const auto& r : fake_.Requests()) EXPECT_EQ(r.method, "GET") << r.path;

  CliRun text = run({"--tag-prefix", "cat_", "--since", "1970-01-01"});
  ASSERT_EQ(text.code, 0) << text.out;
  EXPECT_NE(text.out.find("3 tickets decided in shadow mode (1 could not be read"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("delivery → refund: 1"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("turning auto-reply on): 1\n  ticket " + std::to_string(money) + ": delivery → refund\n"),
            std::string::npos)
      << text.out;
  // Decisions before --since are left out.
  CliRun later = run({"--tag-prefix", "cat_", "--since", "2020-01-01", "--json"});
  ASSERT_EQ(later.code, 0) << later.out;
  EXPECT_EQ(json::parse(later.out)["tickets"], 0);

  EXPECT_EQ(run({"--tag-prefix", "cat_", "--field", "category"}).code, kExitUsage);
  EXPECT_EQ(run({"--since", "last week"}).code, kExitUsage);
  EXPECT_EQ(run({"--limit", "0"}).code, kExitUsage);
  EXPECT_EQ(run({"--target-precision", "0"}).code, kExitUsage);
  EXPECT_EQ(run({"--target-precision", "1.01"}).code, kExitUsage);
  EXPECT_EQ(Call(RunAudit, "deskpilot audit", {"shadow", "--config", config_, "--source", "nope"}).code, kExitUsage);
  EXPECT_EQ(Call(RunAudit, "deskpilot audit", {"shadow", "--config", config_}).code, kExitUsage);
  fs::remove(db_);
  EXPECT_EQ(run({}).code, kExitUsage);  // no database: not an empty report
}

TEST_F(KbSyncTest, MalformedLocaleIsAUsageError) {
  EXPECT_EQ(Sync({"--locale", "../../x"}).code, kExitUsage);
}

}  // namespace
}  // namespace deskpilot::cli
