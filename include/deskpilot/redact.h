// PII and secret redaction before any adapter (classifier, retriever, drafter, model)
// sees ticket text. Matches become typed, numbered placeholders (<EMAIL_1>) and the
// mapping stays in process memory so drafts can be restored locally. Never log it.
#pragma once

#include <map>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace deskpilot {

struct RedactionMap {
  // placeholder → original, e.g. "<EMAIL_1>" → "ann@example.com"
  std::map<std::string, std::string> values;
  // counts per type, e.g. EMAIL → 2 (safe to log and audit)
  std::map<std::string, int> counts;
  // The placeholders a reply to the customer may turn back into their values: a NAME,
  // EMAIL, ADDRESS, PHONE or IP the customer wrote in their own public text. Everything
  // else (secrets, cards, IBANs, SSNs, dates of birth, and any value seen only in an
  // agent's or a private note) is never shown to the customer, whatever a draft asks for.
  std::set<std::string> restorable;
};

// Who wrote a text, which decides whether its values may be echoed back to the customer.
enum class TextOrigin {
  kCustomerPublic,  // the customer's subject, description, public comments, own address
  kOther,           // agents, private notes, anything else
};

class Redactor {
 public:
  // Redacts `text`, reusing placeholders already in `map` for repeated values, so the
  // same email in subject and body gets the same placeholder. Placeholder-shaped text
  // that is already in `text` ("<SECRET_1>" typed by a customer) is first rewritten as
  // a plain word ("[secret]"), so it can never collide with a real placeholder.
  std::string Redact(std::string_view text, RedactionMap* map,
                     TextOrigin origin = TextOrigin::kOther) const;
  // Redacts text that is kept apart from any ticket (knowledge-base passages built from
  // solved tickets, few-shot examples): each value becomes a plain word ("[email]")
  // that no map can ever restore.
  std::string Anonymize(std::string_view text) const;
  // For text that goes to the customer: replaces the placeholders in map.restorable
  // with their originals and every other placeholder of `map` with "[redacted]";
  // `withheld` (optional) counts the latter. Placeholders that are not in `map` stay
  // as they are, so a caller can still tell that a draft refers to unknown details.
  static std::string Restore(std::string_view text, const RedactionMap& map, int* withheld = nullptr);
};

// Rewrites every placeholder-shaped text ("<EMAIL_3>") as its plain word ("[email]").
std::string NeutralizePlaceholders(std::string_view text);

// Types: EMAIL, PHONE, CARD (Luhn + length + IIN, and CVV/expiry next to a card), IBAN
// (mod-97), SSN, IP, SECRET (API keys, tokens, JWTs, PEM keys, passwords and tokens
// after a keyword, secret URL parameters), and personal details where a cue or their
// shape names them: NAME, ADDRESS, DOB. See redact.cc for what is not covered.

}  // namespace deskpilot
