#include "service/normalize.h"

#include <algorithm>

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

// A closing word opens a signature only as a short line of its own, and a P.S. after the
// name is still the message: cutting them hid legal threats and requests for a person.
TEST(CleanMessage, KeepsAPostscriptAndALongThanksLine) {
  EXPECT_EQ(CleanMessage("Where is my tent?\nThanks,\nSam\nP.S. My lawyer will hear about it."),
            "Where is my tent?\nP.S. My lawyer will hear about it.");
  EXPECT_EQ(CleanMessage("Where is my tent?\nThanks, but this time I want to speak to a manager or it goes to court."),
            "Where is my tent?\nThanks, but this time I want to speak to a manager or it goes to court.");
  EXPECT_EQ(CleanMessage("Where is my tent?\nKind regards,\nSam Ortiz\nHead of Ops, Example Ltd\n+1 555 0100"),
            "Where is my tent?");
  EXPECT_EQ(CleanMessage("Where is my tent?\nThanks,\nSam\nP.S. My lawyer.", /*cut_signature=*/false),
            "Where is my tent?\nThanks,\nSam\nP.S. My lawyer.");
}

TEST(DetectTicketFlags, ReadsTheSignatureRegionButNotQuotedHistory) {
  Ticket t;
  t.subject = "Delivery time";
  t.description = "How long does delivery take?\nThanks,\nSam\nP.S. I want to speak to a human.";
  auto f = DetectTicketFlags(t);
  EXPECT_NE(std::find(f.begin(), f.end(), "asked_for_human"), f.end());
  t.description = "Thanks, that helped.\n\nOn Tue, 3 May 2024, Support <help@shop.example> wrote:\n> Our lawyer says";
  EXPECT_TRUE(DetectTicketFlags(t).empty()) << "the quoted history is ours";
}

TEST(DetectFlags, FindsEscalationSignalsInTheOtherLanguages) {
  auto has = [](const std::string& text, const char* flag) {
    auto f = DetectFlags(text);
    return std::find(f.begin(), f.end(), flag) != f.end();
  };
  EXPECT_TRUE(has("Ansonsten geht das an meinen Anwalt.", "legal_threat"));
  EXPECT_TRUE(has("Ich will mit einem Menschen sprechen, nicht mit einem Bot.", "asked_for_human"));
  EXPECT_TRUE(has("Je vais porter plainte.", "legal_threat"));
  EXPECT_TRUE(has("Je veux parler à un humain.", "asked_for_human"));
  EXPECT_TRUE(has("Voy a llamar a mi abogado.", "legal_threat"));
  EXPECT_TRUE(has("Quiero hablar con una persona.", "asked_for_human"));
  EXPECT_TRUE(has("Mi hanno hackerato l'account.", "security_incident"));
  // Everyday words stay quiet: a dish, high demand.
  EXPECT_TRUE(DetectFlags("Das Gericht war kalt. Hay alta demanda de este producto.").empty());
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
