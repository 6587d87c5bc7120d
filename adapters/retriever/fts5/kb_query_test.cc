#include "retriever/fts5/kb_query.h"

#include <gtest/gtest.h>

#include <algorithm>

namespace deskpilot::kb {
namespace {

TEST(CleanTicketText, DropsGreetingSignOffAndIdentifiers) {
  EXPECT_EQ(CleanTicketText("Hi, the tracking page for NW-4821376 says Label created. Can you check? Thanks, Dana"),
            "the tracking page for says Label created. Can you check?");
  EXPECT_EQ(CleanTicketText("Hello Dana,\nmy invoice is wrong.\n\nBest regards,\nPetra Novak\nAlpine Survey LLC"),
            "my invoice is wrong.");
  EXPECT_EQ(CleanTicketText("Good morning! Call me at 555-0143 or <EMAIL_1> about order 80521"),
            "Call me at or about order");
}

TEST(CleanTicketText, DropsQuotedRepliesAndSignatures) {
  EXPECT_EQ(CleanTicketText("Still no refund.\n\nOn Tue, May 2, Support <x@y> wrote:\n> Your refund is on its way"),
            "Still no refund.");
  EXPECT_EQ(CleanTicketText("Still no refund.\n> quoted line\nanything else?\n--\nSent by Mail app"),
            "Still no refund. anything else?");
  EXPECT_EQ(CleanTicketText("Refund please\n-----Original Message-----\nFrom: shop"), "Refund please");
}

TEST(CleanTicketText, KeepsContentThatLooksLikeASignOff) {
  // A thank-you with content, "best" as an adjective, short numbers and years stay.
  EXPECT_EQ(CleanTicketText("Thanks for the refund, but it was $24 short"), "Thanks for the refund, but it was $24 short");
  EXPECT_EQ(CleanTicketText("my order\nbest price guarantee for 2024?"), "my order best price guarantee for 2024?");
  EXPECT_EQ(CleanTicketText("History of my orders"), "History of my orders");
}

TEST(QueryTerms, SubjectWeighsTwiceAndVariantsCountOnce) {
  const std::vector<QueryTerm> terms = QueryTerms("Where is my order?\nHi, I ordered boots. Help!");
  auto weight = [&](const std::string& token) {
    auto it = std::find_if(terms.begin(), terms.end(), [&](const QueryTerm& t) { return t.token == token; });
    return it == terms.end() ? 0.0 : it->weight;
  };
  EXPECT_EQ(weight("order"), 2.0);
  EXPECT_EQ(weight("ordered"), 0.0);  // same word as the subject's "order"
  EXPECT_EQ(weight("boots"), 1.0);
  EXPECT_EQ(weight("help"), 0.0);  // help-desk filler
  EXPECT_EQ(terms.size(), 2u);
  // One line: no subject, every term weighs 1.
  for (const QueryTerm& t : QueryTerms("order boots")) EXPECT_EQ(t.weight, 1.0);
}

}  // namespace
}  // namespace deskpilot::kb
