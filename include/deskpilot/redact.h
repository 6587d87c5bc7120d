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

// The requester's name as the help desk gives it, prepared once per ticket so that it is
// redacted wherever it appears in that ticket's texts, also without a cue ("please ask
// Ann", "Ann Smith\nAcme Ltd"). One value passed to each call rather than state in the
// Redactor: a Redactor is shared by every ticket, and a name belongs to one. An empty,
// email-shaped or placeholder-shaped name adds nothing. See redact.cc for which parts of
// a name are matched on their own and when.
class KnownNames {
 public:
  // How far one part of the name may be matched outside the full name.
  enum class PartUse {
    kAlone,        // "Smith", "José": any whole word that does not start lower-case
    kMidSentence,  // an everyday word too ("Will", "Grace"): only capitalised, not all
                   // capitals, and not where a clause starts ("Will you ...")
    kNotDateOrPlace  // capitalised anyway as a month, place or brand ("May", "Paris",
                     // "Chase"): as kMidSentence, and not where a date, place or brand
                     // stands ("in May", "to Paris", "my Chase card", "May 5")
  };
  struct Part {
    std::string lower;  // case-folded beyond ASCII (Latin-1, Latin Extended-A, Greek, Cyrillic)
    PartUse use;
  };

  KnownNames() = default;
  explicit KnownNames(std::string_view full_name);

  bool empty() const { return full_.empty(); }
  // The whole name, case-folded like Part::lower, its words joined by single spaces.
  const std::string& full() const { return full_; }
  // Whether the name has letters outside ASCII: only then must a text be folded beyond
  // ASCII to be compared with it.
  bool beyond_ascii() const { return beyond_ascii_; }
  // Its words, without titles ("Dr."), particles ("van") and single letters.
  const std::vector<Part>& parts() const { return parts_; }

 private:
  std::string full_;
  std::vector<Part> parts_;
  bool beyond_ascii_ = false;
};

class Redactor {
 public:
  // Redacts `text`, reusing placeholders already in `map` for repeated values, so the
  // same email in subject and body gets the same placeholder. Placeholder-shaped text
  // that is already in `text` ("<SECRET_1>" typed by a customer) is first rewritten as
  // a plain word ("[secret]"), so it can never collide with a real placeholder.
  // `known` adds the ticket's requester's name, with or without a cue; each word of the
  // name gets its own placeholder ("<NAME_1> <NAME_2>"), so a reply can greet with the
  // first name alone.
  std::string Redact(std::string_view text, RedactionMap* map, TextOrigin origin = TextOrigin::kOther,
                     const KnownNames& known = KnownNames()) const;
  // Redacts text that is kept apart from any ticket (knowledge-base passages built from
  // solved tickets, few-shot examples): each value becomes a plain word ("[email]")
  // that no map can ever restore.
  std::string Anonymize(std::string_view text, const KnownNames& known = KnownNames()) const;
  // For text that goes to the customer: replaces the placeholders in map.restorable
  // with their originals and every other placeholder of `map` with "[redacted]";
  // `withheld` (optional) counts the latter. Placeholders that are not in `map` stay
  // as they are, so a caller can still tell that a draft refers to unknown details.
  static std::string Restore(std::string_view text, const RedactionMap& map, int* withheld = nullptr);
};

// Whether `word` is a title or suffix a name field may carry ("Dr.", "mrs", "Jr"): any
// case, with or without a final '.'. The redactor never takes one for a name.
bool IsNameTitle(std::string_view word);

// Rewrites every placeholder-shaped text ("<EMAIL_3>") as its plain word ("[email]").
std::string NeutralizePlaceholders(std::string_view text);

// Types: EMAIL, PHONE, CARD (Luhn + length + IIN, and CVV/expiry next to a card), IBAN
// (mod-97), SSN, IP, SECRET (API keys, tokens, JWTs, PEM keys, passwords and tokens
// after a keyword, secret URL parameters), and personal details where a cue or their
// shape names them: NAME, ADDRESS, DOB. See redact.cc for what is not covered.

}  // namespace deskpilot
