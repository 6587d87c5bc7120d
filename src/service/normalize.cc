#include "service/normalize.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <sstream>

#include "deskpilot/text.h"

namespace deskpilot {
namespace {

bool StartsWith(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// A line that opens a quoted earlier message: everything from here on is history.
bool IsQuoteHeader(const std::string& lower) {
  if (StartsWith(lower, "-----original message-----") || StartsWith(lower, "---------- forwarded") ||
      StartsWith(lower, "begin forwarded message"))
    return true;
  // "On Tue, 3 May 2024, Ann <a@b.c> wrote:" / "Am ... schrieb ...:" / "Le ... a écrit :"
  if ((StartsWith(lower, "on ") && lower.find(" wrote:") != std::string::npos) ||
      (StartsWith(lower, "am ") && lower.find("schrieb") != std::string::npos) ||
      (StartsWith(lower, "le ") && lower.find("a écrit") != std::string::npos))
    return true;
  return StartsWith(lower, "from:") && lower.find('@') != std::string::npos;
}

// A line that opens a signature block.
bool IsSignatureStart(const std::string& line, const std::string& lower) {
  if (line == "-- " || line == "--" || line == "__") return true;
  static const std::array<std::string_view, 12> kClosings = {
      "sent from my iphone", "sent from my android", "sent from my ipad", "get outlook for",
      "best regards", "kind regards", "regards,", "best,", "cheers,", "thanks,", "mit freundlichen grüßen",
      "cordialement"};
  for (auto c : kClosings)
    if (StartsWith(lower, c)) return true;
  return false;
}

}  // namespace

std::string CleanMessage(std::string_view text) {
  std::istringstream in{std::string(text)};
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    std::string trimmed(TrimAsciiSpace(line));
    std::string lower = AsciiLower(trimmed);
    if (IsQuoteHeader(lower)) break;
    if (StartsWith(trimmed, ">")) continue;
    // A signature closes the message only near its end; "Thanks, ..." mid-text stays.
    lines.push_back(trimmed);
  }
  // Cut the signature: the last closing line within the final 6 lines, if any.
  size_t cut = lines.size();
  size_t start = lines.size() > 6 ? lines.size() - 6 : 0;
  for (size_t i = start; i < lines.size(); ++i) {
    if (IsSignatureStart(lines[i], AsciiLower(lines[i])) && i > 0) {
      cut = i;
      break;
    }
  }
  lines.resize(cut);
  std::string out;
  bool blank = false;
  for (const auto& l : lines) {
    if (l.empty()) {
      blank = !out.empty();
      continue;
    }
    if (blank) out += "\n";
    if (!out.empty()) out += "\n";
    out += l;
    blank = false;
  }
  return out;
}

void NormalizeTicket(Ticket* t) {
  t->subject = std::string(TrimAsciiSpace(t->subject));
  t->description = CleanMessage(t->description);
  for (auto& c : t->comments) c.body = CleanMessage(c.body);
}

std::string CustomerText(const Ticket& t) {
  std::string out = t.subject;
  auto add = [&](const std::string& s) {
    if (s.empty() || out.find(s) != std::string::npos) return;  // description often = first comment
    if (!out.empty()) out += "\n";
    out += s;
  };
  add(t.description);
  for (const auto& c : t.comments)
    if (c.author_role == AuthorRole::kCustomer && c.is_public) add(c.body);
  return out;
}

std::string LatestCustomerMessage(const Ticket& t) {
  for (auto it = t.comments.rbegin(); it != t.comments.rend(); ++it)
    if (it->author_role == AuthorRole::kCustomer && it->is_public && !it->body.empty()) return it->body;
  return t.description;
}

std::vector<std::string> DetectFlags(std::string_view text) {
  const std::string lower = AsciiLower(text);
  // Whole words only: "court" must not fire on "Aspen Court", nor "sue" on "issue".
  auto word_char = [](unsigned char c) { return std::isalnum(c) || c >= 0x80; };
  auto has = [&](std::string_view p) {
    for (size_t pos = lower.find(p); pos != std::string::npos; pos = lower.find(p, pos + 1)) {
      bool left = pos == 0 || !word_char(static_cast<unsigned char>(lower[pos - 1]));
      size_t end = pos + p.size();
      bool right = end >= lower.size() || !word_char(static_cast<unsigned char>(lower[end]));
      if (left && right) return true;
    }
    return false;
  };
  auto any = [&](std::initializer_list<std::string_view> phrases) {
    for (auto p : phrases)
      if (has(p)) return true;
    return false;
  };
  std::vector<std::string> flags;
  if (any({"speak to a human", "talk to a human", "real person", "speak to someone", "talk to someone",
           "human agent", "live agent", "speak to an agent", "talk to an agent", "speak with an agent",
           "speak with a human", "speak to a manager", "talk to a manager", "speak with a manager",
           "supervisor", "not a bot", "stop sending me automated", "representative"}))
    flags.emplace_back(kFlagAskedForHuman);
  if (any({"lawyer", "lawyers", "attorney", "legal action", "sue you", "suing", "lawsuit", "small claims",
           "in court", "to court", "consumer protection", "chargeback", "ombudsman", "trading standards"}))
    flags.emplace_back(kFlagLegalThreat);
  if (any({"hacked", "unauthorized access", "unauthorised access", "someone logged into",
           "data breach", "phishing", "fraudulent", "stolen card", "account compromised",
           "compromised", "identity theft", "didn't make this purchase", "did not make this purchase"}))
    flags.emplace_back(kFlagSecurityIncident);
  if (any({"cancel my subscription", "close my account", "switching to", "never order again",
           "never shop", "take my business elsewhere"}))
    flags.emplace_back(kFlagChurnRisk);
  return flags;
}

Prediction DetectLanguage(std::string_view text) {
  static const std::map<std::string, std::vector<std::string>> kStop = {
      {"en", {"the", "and", "is", "my", "i", "to", "you", "it", "of", "not", "have", "for", "please", "was"}},
      {"de", {"der", "die", "das", "und", "ist", "ich", "nicht", "mein", "meine", "sie", "bitte", "mit", "ein", "eine"}},
      {"fr", {"le", "la", "les", "et", "est", "je", "pas", "mon", "ma", "vous", "une", "des", "pour", "merci"}},
      {"es", {"el", "la", "los", "y", "es", "mi", "no", "que", "por", "una", "para", "gracias", "pedido", "de"}},
      {"it", {"il", "la", "e", "è", "mio", "non", "che", "per", "una", "sono", "grazie", "ordine", "di", "del"}},
      {"nl", {"de", "het", "en", "is", "ik", "niet", "mijn", "een", "van", "voor", "bedankt", "bestelling", "u", "wij"}},
      {"pt", {"o", "a", "os", "e", "é", "meu", "não", "que", "por", "uma", "para", "obrigado", "pedido", "do"}},
  };
  std::map<std::string, int> votes;
  int words = 0;
  std::string word;
  std::string lower = AsciiLower(text);
  auto flush = [&] {
    if (word.empty()) return;
    ++words;
    for (const auto& [lang, list] : kStop)
      if (std::find(list.begin(), list.end(), word) != list.end()) ++votes[lang];
    word.clear();
  };
  for (unsigned char c : lower) {
    if (std::isalpha(c) || c >= 0x80)
      word += static_cast<char>(c);
    else
      flush();
  }
  flush();
  Prediction p;
  std::vector<std::pair<std::string, double>> ranked;
  int total = 0;
  for (const auto& [lang, n] : votes) {
    ranked.emplace_back(lang, n);
    total += n;
  }
  std::sort(ranked.begin(), ranked.end(), [](auto& a, auto& b) { return a.second > b.second; });
  if (ranked.empty() || total < 2) {
    p.label = "und";
    p.confidence = 0.0;
    p.abstained = true;
    return p;
  }
  for (auto& r : ranked) r.second /= total;
  p.label = ranked[0].first;
  // Few stop words → unsure, however lopsided the vote.
  p.confidence = ranked[0].second * std::min(1.0, total / 6.0);
  for (size_t i = 1; i < ranked.size() && i < 3; ++i) p.alternatives.push_back(ranked[i]);
  return p;
}

}  // namespace deskpilot
