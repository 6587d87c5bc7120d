// PII and secret redaction before any adapter (classifier, retriever, drafter, model)
// sees ticket text. Matches become typed, numbered placeholders (<EMAIL_1>) and the
// mapping stays in process memory so drafts can be restored locally. Never log it.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace deskpilot {

struct RedactionMap {
  // placeholder → original, e.g. "<EMAIL_1>" → "ann@example.com"
  std::map<std::string, std::string> values;
  // counts per type, e.g. EMAIL → 2 (safe to log and audit)
  std::map<std::string, int> counts;
};

class Redactor {
 public:
  // Redacts `text`, reusing placeholders already in `map` for repeated values, so the
  // same email in subject and body gets the same placeholder.
  std::string Redact(std::string_view text, RedactionMap* map) const;
  // Replaces placeholders with their originals.
  static std::string Restore(std::string_view text, const RedactionMap& map);
};

// Types: EMAIL, PHONE, CARD (Luhn + length + IIN), IBAN (mod-97), SSN, IP, SECRET
// (API keys, tokens, JWTs, PEM keys, password=... forms).

}  // namespace deskpilot
