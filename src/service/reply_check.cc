#include "service/reply_check.h"

#include <algorithm>
#include <map>
#include <set>
#include <string_view>

#include "deskpilot/text.h"

namespace deskpilot {
namespace {

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsAsciiAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsWordChar(char c) { return IsDigit(c) || IsAsciiAlpha(c) || static_cast<unsigned char>(c) >= 0x80; }

// Whitespace-separated words, also split at brackets, quotes and markdown emphasis (a
// link is often written "(https://...)" or "<https://...>"), with sentence punctuation
// trimmed from both ends.
std::vector<std::string> Words(std::string_view text) {
  static constexpr std::string_view kBreak = " \t\r\n()[]{}<>\"'`*|";
  static constexpr std::string_view kTrim = ".,;:!?";
  std::vector<std::string> out;
  std::string word;
  auto flush = [&] {
    size_t b = 0, e = word.size();
    while (b < e && kTrim.find(word[b]) != std::string_view::npos) ++b;
    while (e > b && kTrim.find(word[e - 1]) != std::string_view::npos) --e;
    if (e > b) out.push_back(word.substr(b, e - b));
    word.clear();
  };
  for (char c : text) {
    if (kBreak.find(c) != std::string_view::npos)
      flush();
    else
      word += c;
  }
  flush();
  return out;
}

// "northwind.example", "help.northwind.example": two or more dot-separated labels of
// letters, digits and hyphens, the last one letters only (2+), so "e.g", "v2.0" and
// "3.5" are not hosts.
bool IsHost(std::string_view h) {
  size_t labels = 0;
  size_t start = 0;
  while (true) {
    const size_t dot = h.find('.', start);
    const std::string_view label = h.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty()) return false;
    for (char c : label)
      if (!IsDigit(c) && !IsAsciiAlpha(c) && c != '-') return false;
    ++labels;
    if (dot == std::string_view::npos) {
      if (labels < 2 || label.size() < 2) return false;
      return std::all_of(label.begin(), label.end(), IsAsciiAlpha);
    }
    start = dot + 1;
  }
}

bool IsEmail(std::string_view w) {
  const size_t at = w.find('@');
  if (at == 0 || at == std::string_view::npos || w.find('@', at + 1) != std::string_view::npos) return false;
  for (char c : w.substr(0, at))
    if (!IsDigit(c) && !IsAsciiAlpha(c) && std::string_view("._%+-").find(c) == std::string_view::npos) return false;
  return IsHost(w.substr(at + 1));
}

// A link's comparison key: lower case, without scheme, a leading "www." or a trailing
// slash, so "https://www.northwind.example/help/" and "northwind.example/help" match.
// Empty when the word is not a link.
std::string LinkKey(const std::string& lower_word) {
  std::string key;
  if (const size_t sep = lower_word.find("://"); sep != std::string::npos) {
    // Whatever is glued before the scheme ("at:https://...") is not part of the link.
    if (sep == 0 || !IsAsciiAlpha(lower_word[sep - 1])) return {};
    key = lower_word.substr(sep + 3);
  } else {
    const size_t end = lower_word.find_first_of("/?#");
    if (!IsHost(std::string_view(lower_word).substr(0, end))) return {};
    key = lower_word;
  }
  if (key.rfind("www.", 0) == 0) key.erase(0, 4);
  while (!key.empty() && key.back() == '/') key.pop_back();
  return key;
}

struct Contacts {
  std::set<std::string> links;   // LinkKey
  std::set<std::string> emails;  // lower case
  std::set<std::string> phones;  // digits only
};

// Runs of digits with phone punctuation ("+1 (800) 555-0142", "1-800-555-0142") holding
// 7 to 15 digits (E.164's maximum). A run ends at a sentence end (". "), at two
// separators in a row other than ") " / " (", and at a letter; runs shaped like dates
// (2024-05-01, 01.05.2024) are not phone numbers.
void AddPhones(std::string_view text, std::set<std::string>* out) {
  size_t i = 0;
  while (i < text.size()) {
    const char c = text[i];
    const bool starts = (IsDigit(c) || (c == '+' && i + 1 < text.size() && IsDigit(text[i + 1]))) &&
                        (i == 0 || !IsWordChar(text[i - 1]));
    if (!starts) {
      ++i;
      continue;
    }
    size_t j = i + (c == '+' ? 1 : 0);
    size_t last_digit = j;
    std::string digits;
    std::vector<std::string> groups(1);
    int separators = 0;
    while (j < text.size()) {
      const char x = text[j];
      if (IsDigit(x)) {
        digits += x;
        groups.back() += x;
        last_digit = j;
        separators = 0;
      } else if (x == ' ' || x == '-' || x == '.' || x == '(' || x == ')') {
        if (x == '.' && (j + 1 >= text.size() || !IsDigit(text[j + 1]))) break;  // sentence end
        if (++separators > 2) break;
        if (!groups.back().empty()) groups.emplace_back();
      } else {
        break;
      }
      ++j;
    }
    // "5551234abc" is an identifier, not a number to call.
    const bool glued = last_digit + 1 < text.size() && IsWordChar(text[last_digit + 1]);
    if (groups.back().empty()) groups.pop_back();
    const bool date = groups.size() == 3 && ((groups[0].size() == 4 && groups[1].size() <= 2 && groups[2].size() <= 2) ||
                                             (groups[0].size() <= 2 && groups[1].size() <= 2 && groups[2].size() == 4));
    if (!glued && !date && digits.size() >= 7 && digits.size() <= 15) out->insert(digits);
    i = last_digit + 1;
  }
}

void AddContacts(std::string_view text, Contacts* out) {
  for (const std::string& word : Words(text)) {
    std::string lower = AsciiLower(word);
    if (lower.find("://") != std::string::npos) {
      if (std::string key = LinkKey(lower); !key.empty()) out->links.insert(std::move(key));
      continue;
    }
    if (lower.rfind("mailto:", 0) == 0) lower.erase(0, 7);
    if (lower.find('@') != std::string::npos) {
      // Not also a link: the part after '@' is the address's domain.
      if (IsEmail(lower)) out->emails.insert(lower);
      continue;
    }
    if (std::string key = LinkKey(lower); !key.empty()) out->links.insert(std::move(key));
  }
  AddPhones(text, &out->phones);
}

// "800-555-0142" is "+1 800 555 0142" without its country code: numbers match when
// equal, or when one ends with the other and they differ by at most a country code.
bool PhoneKnown(const std::string& digits, const std::set<std::string>& known) {
  for (const std::string& k : known) {
    const std::string& longer = k.size() >= digits.size() ? k : digits;
    const std::string& shorter = k.size() >= digits.size() ? digits : k;
    if (longer.size() - shorter.size() <= 3 && longer.ends_with(shorter)) return true;
  }
  return false;
}

// Word families that promise or discuss money; a reply's word is supported when its
// cited sources use any word of the same family.
struct MoneyFamily {
  std::string_view name;
  std::vector<std::string_view> prefixes;
};
const std::vector<MoneyFamily>& MoneyFamilies() {
  static const std::vector<MoneyFamily> kFamilies = {
      {"refund", {"refund"}},         {"reimbursement", {"reimburs"}}, {"credit", {"credit"}},
      {"compensation", {"compensat"}}, {"voucher", {"voucher"}},       {"coupon", {"coupon"}},
      {"discount", {"discount"}},     {"cashback", {"cashback"}},      {"waiver", {"waive", "waivi"}},
      {"goodwill", {"goodwill"}},
  };
  return kFamilies;
}

std::set<std::string> MoneyWords(std::string_view text) {
  std::set<std::string> out;
  std::string word;
  auto flush = [&] {
    for (const MoneyFamily& f : MoneyFamilies())
      for (std::string_view p : f.prefixes)
        if (word.starts_with(p)) out.insert(std::string(f.name));
    word.clear();
  };
  for (char c : text) {
    if (IsAsciiAlpha(c))
      word += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    else
      flush();
  }
  flush();
  return out;
}

// Currency amounts as "<currency> <value>" ("usd 75", "eur 12.5"), mapped to how they
// were written ("$75.00"), for the message. Symbols before the number ($ € £ ¥), codes
// or words after it ("75 USD", "20 euros").
std::map<std::string, std::string> Amounts(std::string_view text) {
  static const std::vector<std::pair<std::string_view, std::string_view>> kSymbols = {
      {"$", "usd"}, {"\u20ac", "eur"}, {"\u00a3", "gbp"}, {"\u00a5", "jpy"}};
  static const std::vector<std::pair<std::string_view, std::string_view>> kSuffixes = {
      {"usd", "usd"},     {"dollars", "usd"}, {"dollar", "usd"}, {"eur", "eur"}, {"euros", "eur"},
      {"euro", "eur"},    {"gbp", "gbp"},     {"jpy", "jpy"},    {"cad", "cad"}, {"aud", "aud"},
      {"chf", "chf"}};
  // The number starting at `i` ("1,299.00"): its normalized value and its end.
  auto number = [&](size_t i, std::string* value) {
    size_t j = i;
    std::string raw;
    while (j < text.size() && (IsDigit(text[j]) || ((text[j] == ',' || text[j] == '.') && j + 1 < text.size() &&
                                                    IsDigit(text[j + 1])))) {
      if (text[j] != ',') raw += text[j];
      ++j;
    }
    if (raw.find('.') != std::string::npos) {
      while (raw.back() == '0') raw.pop_back();
      if (raw.back() == '.') raw.pop_back();
    }
    *value = raw;
    return j;
  };
  std::map<std::string, std::string> out;
  const std::string lower = AsciiLower(text);
  for (size_t i = 0; i < text.size(); ++i) {
    for (const auto& [symbol, currency] : kSymbols) {
      if (text.substr(i, symbol.size()) != symbol) continue;
      size_t k = i + symbol.size();
      if (k < text.size() && text[k] == ' ') ++k;
      if (k >= text.size() || !IsDigit(text[k])) continue;
      std::string value;
      const size_t end = number(k, &value);
      out.emplace(std::string(currency) + " " + value, std::string(text.substr(i, end - i)));
    }
    if (IsDigit(text[i]) && (i == 0 || !IsWordChar(text[i - 1]))) {
      std::string value;
      const size_t end = number(i, &value);
      size_t k = end;
      if (k < text.size() && text[k] == ' ') ++k;
      for (const auto& [suffix, currency] : kSuffixes) {
        if (lower.compare(k, suffix.size(), suffix) != 0) continue;
        if (k + suffix.size() < lower.size() && IsWordChar(lower[k + suffix.size()])) continue;
        out.emplace(std::string(currency) + " " + value, std::string(text.substr(i, k + suffix.size() - i)));
        break;
      }
      i = end - 1;
    }
  }
  return out;
}

std::string Counted(size_t n, const std::string& one, const std::string& many) {
  return n == 1 ? one : std::to_string(n) + " " + many;
}

}  // namespace

std::vector<std::string> UnsupportedReplyContent(const Ticket& ticket, const std::vector<Passage>& passages,
                                                 const Draft& draft) {
  std::string cited;
  for (const Passage& p : passages) {
    if (std::find(draft.citations.begin(), draft.citations.end(), p.doc_id) == draft.citations.end()) continue;
    cited += p.title + "\n" + p.url + "\n" + p.text + "\n";
  }
  std::string customer = ticket.subject + "\n" + ticket.description + "\n" + ticket.requester.email + "\n";
  for (const Comment& c : ticket.comments)
    if (c.author_role == AuthorRole::kCustomer) customer += c.body + "\n";

  Contacts known;
  AddContacts(cited, &known);
  AddContacts(customer, &known);
  Contacts said;
  AddContacts(draft.body, &said);

  size_t links = 0, emails = 0, phones = 0;
  for (const std::string& l : said.links) links += known.links.contains(l) ? 0 : 1;
  for (const std::string& e : said.emails) emails += known.emails.contains(e) ? 0 : 1;
  for (const std::string& p : said.phones) phones += PhoneKnown(p, known.phones) ? 0 : 1;

  std::vector<std::string> problems;
  const std::string nowhere = " in neither its cited sources nor the customer's text";
  if (links > 0) problems.push_back("the draft has " + Counted(links, "a link", "links") + nowhere);
  if (emails > 0) problems.push_back("the draft has " + Counted(emails, "an email address", "email addresses") + nowhere);
  if (phones > 0) problems.push_back("the draft has " + Counted(phones, "a phone number", "phone numbers") + nowhere);

  // Money is checked against the cited sources only: a customer asking for $200 does
  // not make a reply promising $200 true.
  std::vector<std::string> money;
  const std::set<std::string> source_words = MoneyWords(cited);
  for (const std::string& w : MoneyWords(draft.body))
    if (!source_words.contains(w)) money.push_back(w);
  const std::map<std::string, std::string> source_amounts = Amounts(cited);
  for (const auto& [key, written] : Amounts(draft.body))
    if (!source_amounts.contains(key)) money.push_back(written);
  if (!money.empty()) {
    std::string list;
    for (const std::string& m : money) list += (list.empty() ? "" : ", ") + m;
    problems.push_back("the draft mentions money its cited sources do not (" + list + ")");
  }
  return problems;
}

}  // namespace deskpilot
