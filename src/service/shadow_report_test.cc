#include "service/shadow_report.h"

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

using nlohmann::json;

json Record(const std::string& ladder, const std::string& category, const std::string& priority = "normal",
            bool abstained = false) {
  return {{"triage",
           {{"category", {{"label", category}, {"confidence", 0.97}, {"abstained", abstained}}},
            {"priority", {{"label", priority}, {"confidence", 0.8}, {"abstained", false}}}}},
          {"decision", {{"rung", "shadow"}, {"ladder", ladder}, {"reasons", json::array()}}}};
}

Ticket Now(std::vector<std::string> tags, std::string priority = "", bool agent_replied = false) {
  Ticket t;
  t.tags = std::move(tags);
  t.priority = std::move(priority);
  Comment customer;
  t.comments.push_back(customer);
  if (agent_replied) {
    Comment agent;
    agent.author_role = AuthorRole::kAgent;
    t.comments.push_back(agent);
  }
  Comment ours;  // deskpilot's own public reply is not the agents' work
  ours.author_role = AuthorRole::kAgent;
  ours.by_deskpilot = true;
  t.comments.push_back(ours);
  return t;
}

TEST(ShadowReport, CountsWhatAutomationWouldHaveDoneAgainstTheAgentsLabels) {
  ShadowReport report({"cat_", ""});
  Ticket a = Now({"cat_delivery", "vip"}, "normal", true);
  Ticket b = Now({"cat_refund"}, "high", true);       // auto_reply on the wrong category
  b.id = "4102";
  Ticket c = Now({"deskpilot", "vip"}, "", false);    // the agents never labelled it
  Ticket d = Now({"cat_refund"}, "normal", true);
  Ticket e = Now({"cat_refund", "cat_delivery"});     // two labels: not compared
  report.Add(Record("auto_reply", "delivery"), &a);
  report.Add(Record("auto_reply", "delivery"), &b);
  report.Add(Record("auto_reply", "delivery"), &c);
  report.Add(Record("approve", "refund"), &d);
  report.Add(Record("assist", "refund"), &e);
  report.Add(Record("escalate", "delivery"), nullptr);  // deleted since
  report.Add(Record("assist", "", "normal", /*abstained=*/true), &b);

  const json j = report.Json();
  EXPECT_EQ(j["tickets"], 7);
  EXPECT_EQ(j["unavailable"], 1);
  const json& automatic = j["ladder"]["auto_reply"];
  EXPECT_EQ(automatic["tickets"], 3);
  EXPECT_EQ(automatic["labelled"], 2);
  EXPECT_EQ(automatic["agreed"], 1);
  EXPECT_DOUBLE_EQ(automatic["agreement"].get<double>(), 0.5);
  EXPECT_EQ(automatic["agent_replied"], 2);
  EXPECT_EQ(j["ladder"]["escalate"]["tickets"], 1);
  EXPECT_EQ(j["ladder"]["escalate"]["labelled"], 0);
  EXPECT_TRUE(j["ladder"]["escalate"]["agreement"].is_null());
  EXPECT_EQ(j["category"]["labelled"], 4);  // a, b, d, and the abstained one (on b)
  EXPECT_EQ(j["category"]["agreed"], 2);
  EXPECT_EQ(j["category"]["ambiguous"], 1);
  // Priority: a normal=normal, b high≠normal, d normal=normal, abstained on b high≠normal.
  EXPECT_EQ(j["priority"]["set"], 4);
  EXPECT_EQ(j["priority"]["agreed"], 2);
  ASSERT_FALSE(j["confusions"].empty());
  EXPECT_EQ(j["confusions"][0]["predicted"], "(abstained)");
  EXPECT_EQ(j["confusions"][0]["agents"], "refund");
  EXPECT_EQ(j["confusions"][1]["predicted"], "delivery");
  bool delivery_row = false;
  for (const json& row : j["by_category"]) {
    if (row["category"] == "delivery") {
      delivery_row = true;
      EXPECT_EQ(row["tickets"], 4);
      EXPECT_EQ(row["auto_reply"], 3);
      EXPECT_EQ(row["auto_reply_labelled"], 2);  // a and b; c was never labelled
      EXPECT_EQ(row["auto_reply_agreed"], 1);
    }
  }
  EXPECT_TRUE(delivery_row);
  // One of delivery's two labelled automatic replies was contradicted: at a 0.98 target that
  // happens by chance with P = 1 - 0.98^2 = 0.0396, under 0.05.
  EXPECT_DOUBLE_EQ(j["target_precision"].get<double>(), 0.98);
  ASSERT_EQ(j["auto_reply_short_categories"].size(), 1u);
  const json& short_row = j["auto_reply_short_categories"][0];
  EXPECT_EQ(short_row["category"], "delivery");
  EXPECT_EQ(short_row["labelled"], 2);
  EXPECT_EQ(short_row["disagreed"], 1);
  EXPECT_DOUBLE_EQ(short_row["agreement"].get<double>(), 0.5);
  EXPECT_NEAR(short_row["p_value"].get<double>(), 1 - 0.98 * 0.98, 1e-12);

  const std::string text = report.Text();
  EXPECT_NE(text.find("7 tickets decided in shadow mode (1 could not be read"), std::string::npos) << text;
  EXPECT_NE(text.find("auto_reply  3        42.9%   1 of 2 (50.0%)"), std::string::npos) << text;
  EXPECT_NE(text.find("delivery → refund: 1"), std::string::npos) << text;
  // The one automatic reply on a category the agents did not give is named; the abstained
  // disagreement on the same ticket was never going out.
  ASSERT_EQ(j["auto_reply_disagreements"].size(), 1u);
  EXPECT_EQ(j["auto_reply_disagreements"][0],
            (json{{"ticket_id", "4102"}, {"predicted", "delivery"}, {"agents", "refund"}}));
  EXPECT_NE(text.find("before turning auto-reply on): 1\n  ticket 4102: delivery → refund\n"), std::string::npos)
      << text;
  EXPECT_NE(text.find("delivery             4        3           1 of 2 (50.0%)           1 of 2 (50.0%)\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("for precision 0.980 (p < 0.05; keep them from auto_reply in [policy.categories]):\n"
                      "  delivery: 1 of 2 disagreed (p 0.0396)\n"),
            std::string::npos)
      << text;

  // At a 0.9 target one in two is within chance (P = 0.19).
  ShadowReport lax({"cat_", ""}, 0.9);
  lax.Add(Record("auto_reply", "delivery"), &a);
  lax.Add(Record("auto_reply", "delivery"), &b);
  EXPECT_TRUE(lax.Json()["auto_reply_short_categories"].empty());
  EXPECT_EQ(lax.Text().find("contradicted beyond chance"), std::string::npos);
}

TEST(ShadowReport, ReadsTheAgentsLabelFromACustomField) {
  ShadowReport report({"", "category"});
  Ticket t = Now({"cat_delivery"});
  t.custom_fields["category"] = "refund";
  report.Add(Record("approve", "refund"), &t);
  const json j = report.Json();
  EXPECT_EQ(j["category"]["labelled"], 1);
  EXPECT_EQ(j["category"]["agreed"], 1);
  EXPECT_TRUE(j["priority"]["accuracy"].is_null());
}

// Rows recorded before shadow mode climbed the ladder carry only "rung": "shadow".
TEST(ShadowReport, OldShadowRowsAreCountedWithoutALadderRung) {
  ShadowReport report({"cat_", ""});
  json old = Record("", "delivery");
  old["decision"].erase("ladder");
  Ticket t = Now({"cat_delivery"});
  report.Add(old, &t);
  EXPECT_EQ(report.Json()["ladder"]["shadow"]["tickets"], 1);
}

}  // namespace
}  // namespace deskpilot
