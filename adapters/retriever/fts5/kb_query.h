// Turning ticket-shaped text into weighted search terms.
//
// A ticket is not a search query: it opens with a greeting, closes with "Thanks, Dana"
// and a signature, may carry the quoted thread below it, and is full of order numbers
// and redaction placeholders. Every one of those words can match some article ("email"
// in a placeholder, "created" in a signature tool's footer) and pull it above the one
// that answers. This file strips them and weights what is left.
//
// Pure functions, thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace deskpilot::kb {

// `text` without: quoted replies (lines starting with '>' and everything from an
// "On … wrote:" / "-----Original Message-----" / "From:" header line on), a signature
// (from a "--" line on), a leading greeting ("Hi,", "Hello Dana,", "Dear support team,",
// "Good morning!"), a closing sign-off ("Thanks, Dana", "Best regards," and the short
// lines after it), redaction placeholders ("<EMAIL_1>") and identifier-like words with
// five or more digits (order, phone and tracking numbers).
std::string CleanTicketText(std::string_view text);

struct QueryTerm {
  std::string token;    // as kb::Tokenize produced it (FTS5 stems it again on lookup)
  double weight = 1.0;  // 2 for subject terms, 1 for body terms
};

// The distinct search terms of a query. The first line is read as the ticket subject
// when more lines follow (the pipeline builds "subject\nlatest customer message"): the
// subject is the customer's own summary of what they want, so its terms weigh twice
// as much as body terms. Both parts are cleaned with CleanTicketText. Tokens that
// differ only by a plural/-ed/-ing ending count once (first spelling kept, highest
// weight), so "order ... ordered" does not count the same evidence twice.
std::vector<QueryTerm> QueryTerms(std::string_view query);

}  // namespace deskpilot::kb
