#include "service/normalize.h"

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

TEST(CleanMessage, DropsQuotedHistoryAndSignature) {
  std::string in =
      "My parcel never arrived.\nCan you check?\n\nBest regards,\nAnn\nSent from my phone\n\n"
      "On Tue, 3 May 2024, Support <help@shop.example> wrote:\n> We shipped it.\n";
  EXPECT_EQ(CleanMessage(in), "My parcel never arrived.\nCan you check?");
}

TEST(CleanMessage, KeepsInlineThanksAndStripsQuoteLines) {
  EXPECT_EQ(CleanMessage("> old text\nThanks, but the code fails.\nWhat now?"), "Thanks, but the code fails.\nWhat now?");
}

TEST(DetectFlags, FindsEscalationSignals) {
  auto f = DetectFlags("I want to speak to a human, or my lawyer will hear about this.");
  EXPECT_NE(std::find(f.begin(), f.end(), "asked_for_human"), f.end());
  EXPECT_NE(std::find(f.begin(), f.end(), "legal_threat"), f.end());
  EXPECT_TRUE(DetectFlags("Where is my order?").empty());
  // Whole words only: addresses and ordinary words do not trip legal flags.
  EXPECT_TRUE(DetectFlags("Please ship to 48 Aspen Court, Fort Collins. There is an issue with tissue.").empty());
  auto court = DetectFlags("I will take you to court over this");
  EXPECT_NE(std::find(court.begin(), court.end(), "legal_threat"), court.end());
  auto s = DetectFlags("My account was hacked and someone changed the address");
  EXPECT_NE(std::find(s.begin(), s.end(), "security_incident"), s.end());
}

// policy.escalate_flags is validated against kTriageFlags: every flag the detector can
// raise must be in it, or a correct config naming it would be refused.
TEST(DetectFlags, EveryFlagRaisedIsAKnownTriageFlag) {
  auto f = DetectFlags("I want a real person. My lawyer says you were hacked. I will never order again.");
  EXPECT_EQ(f.size(), 4u);
  for (const auto& flag : f)
    EXPECT_NE(std::find(kTriageFlags.begin(), kTriageFlags.end(), flag), kTriageFlags.end()) << flag;
}

TEST(DetectLanguage, CommonLanguages) {
  EXPECT_EQ(DetectLanguage("Where is my order? I have been waiting for it and it is not here.").label, "en");
  EXPECT_EQ(DetectLanguage("Ich habe meine Bestellung nicht erhalten und die Sendung ist nicht da.").label, "de");
  EXPECT_EQ(DetectLanguage("Je n'ai pas reçu ma commande et le colis est perdu, merci de vérifier.").label, "fr");
  EXPECT_TRUE(DetectLanguage("ok").abstained);
}

TEST(CustomerText, UsesCustomerPublicMessagesOnly) {
  Ticket t;
  t.subject = "Refund";
  t.description = "first";
  Comment a{"1", AuthorRole::kCustomer, "", true, false, "first", ""};
  Comment b{"2", AuthorRole::kAgent, "", false, false, "internal note", ""};
  Comment c{"3", AuthorRole::kCustomer, "", true, false, "second", ""};
  t.comments = {a, b, c};
  EXPECT_EQ(CustomerText(t), "Refund\nfirst\nsecond");
  EXPECT_EQ(LatestCustomerMessage(t), "second");
}

}  // namespace
}  // namespace deskpilot
