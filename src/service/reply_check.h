// What a reply says, checked in plain code before it may go out without an agent.
//
// "Grounded" only means the draft cites a retrieved passage; it says nothing about the
// sentences around the citation. A model that follows text injected into a ticket (or
// just invents) can add a link, an address, a phone number or a refund promise next to
// a valid citation. The policy therefore refuses an automatic reply whose draft
//   * contains a URL, an email address or a phone number found neither in the cited
//     passages (text, title, URL) nor in the customer's own text, or
//   * mentions money or compensation (refund, reimburse, credit, compensation, voucher,
//     coupon, discount, cashback, waive, goodwill; or a currency amount) that the cited
//     passages do not mention: the same word family, the same currency and amount.
// The checks are lexical: a cited refund policy that mentions "refund" supports the word
// "refund" in the reply whatever the sentence promises. They catch inventions and
// injected content, not a model paraphrasing its sources wrongly; an agent's approval is
// still the only check of meaning.
#pragma once

#include <string>
#include <vector>

#include "deskpilot/types.h"

namespace deskpilot {

// Problems found in `draft` (empty: none). The customer's own text is the ticket's
// subject, description, the customer's comments and the requester's email. Cited
// passages are those whose doc_id is among draft.citations. The messages name the kind
// of problem and money terms, never a contact value (an address restored into a draft
// can be personal data, and decision reasons go to the audit).
std::vector<std::string> UnsupportedReplyContent(const Ticket& ticket, const std::vector<Passage>& passages,
                                                 const Draft& draft);

}  // namespace deskpilot
