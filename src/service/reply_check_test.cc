#include "service/reply_check.h"

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

class ReplyCheckTest : public ::testing::Test {
 protected:
  ReplyCheckTest() {
    Passage cited;
    cited.doc_id = "delivery-times";
    cited.title = "Delivery times";
    cited.url = "https://northwind.example/help/delivery-times";
    cited.text = "Orders over $75 ship free. Express costs 12.50 USD. Questions? Call +1 (800) 555-0142 or write "
                 "to help@northwind.example. Returns are refunded within 14 days; see www.northwind.example/returns.";
    Passage uncited;
    uncited.doc_id = "gift-cards";
    uncited.text = "Gift cards and vouchers: https://northwind.example/gift, $25 or $50.";
    passages_ = {cited, uncited};
    draft_.citations = {"delivery-times"};
    Comment c;
    c.author_role = AuthorRole::kCustomer;
    c.body = "Order NW-4821376 has not arrived. Call me on 030 1234567 or see my photo at https://imgur.example/a1.";
    ticket_.comments.push_back(c);
    ticket_.requester.email = "Dana@Example.com";
  }
  std::vector<std::string> Check(const std::string& body) {
    draft_.body = body;
    return UnsupportedReplyContent(ticket_, passages_, draft_);
  }

  Ticket ticket_;
  std::vector<Passage> passages_;
  Draft draft_;
};

TEST_F(ReplyCheckTest, WhatTheSourcesOrTheCustomerSaidPasses) {
  EXPECT_TRUE(Check("Orders over $75 ship free [1]. Call 1-800-555-0142, or 800.555.0142, or write to "
                    "HELP@northwind.example. Read more (https://northwind.example/help/delivery-times). "
                    "Returns: https://www.northwind.example/returns/ - refunds take 14 days.")
                  .empty());
  // Links, numbers and addresses the customer gave; an identifier from the ticket.
  EXPECT_TRUE(Check("We looked at https://imgur.example/a1 and will call 030 1234567 about NW-4821376; a copy goes "
                    "to dana@example.com.")
                  .empty());
  // Amounts are compared by value: $75.00 is $75; 12.5 USD is "12.50 USD".
  EXPECT_TRUE(Check("Free above $75.00; express is $12.5.").empty());
  // Dates, times, ranges and versions are not phone numbers, links or money.
  EXPECT_TRUE(Check("Shipped on 2024-05-01, due 01.05.2024, 3-5 days, e.g. by 10:30 a.m. with app v2.0.").empty());
}

TEST_F(ReplyCheckTest, InventedLinksAddressesAndNumbersAreFound) {
  auto p = Check("Confirm your card at http://northwind-refunds.example.net/claim [1].");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], "the draft has a link in neither its cited sources nor the customer's text");
  // A bare host is a link too; a known host with another path is another link.
  EXPECT_EQ(Check("Go to northwind-claims.example.").size(), 1u);
  EXPECT_EQ(Check("See https://northwind.example/help/delivery-times-and-refunds.").size(), 1u);
  // Only the cited passages vouch: the uncited one's link is not enough.
  EXPECT_EQ(Check("See https://northwind.example/gift.").size(), 1u);
  // Link text in markdown, two links counted.
  p = Check("[claim](https://evil.example/x) or <https://evil.example/y>");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], "the draft has 2 links in neither its cited sources nor the customer's text");

  p = Check("Write to refunds@northwind-claims.example or call +44 20 7946 0958.");
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0], "the draft has an email address in neither its cited sources nor the customer's text");
  EXPECT_EQ(p[1], "the draft has a phone number in neither its cited sources nor the customer's text");
  // The number's last digits differ: not the documented one.
  EXPECT_EQ(Check("Call 1-800-555-0143.").size(), 1u);
}

TEST_F(ReplyCheckTest, MoneyNeedsTheCitedSources) {
  // "refunded" in the source supports "refund" in the reply: the same word family.
  EXPECT_TRUE(Check("Your refund arrives within 14 days.").empty());
  auto p = Check("We will add a $200 credit and a voucher, and compensate you with 20 euros.");
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0], "the draft mentions money its cited sources do not (compensation, credit, voucher, 20 euros, $200)");
  // The uncited passage's vouchers and amounts do not count; the customer's words neither.
  ticket_.comments[0].body = "I want a $50 voucher.";
  EXPECT_EQ(Check("Here is a $50 voucher.").size(), 1u);
  // An amount the source states with another value or currency is not the same amount.
  EXPECT_EQ(Check("Orders over $76 ship free.").size(), 1u);
  EXPECT_EQ(Check("Orders over \u20ac75 ship free.").size(), 1u);
}

}  // namespace
}  // namespace deskpilot
