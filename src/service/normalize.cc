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

size_t Words(std::string_view line) {
  size_t n = 0;
  bool in_word = false;
  for (char c : line) {
    const bool space = c == ' ' || c == '\t';
    n += !space && !in_word;
    in_word = !space;
  }
  return n;
}

// A line that opens a signature block. A closing word opens one only as a short line of
// its own ("Thanks,", "Best regards, Ann"): "Thanks, but I want to speak to a manager" is
// the message, and cutting it would hide the request from the flags and the classifier.
bool IsSignatureStart(const std::string& line, const std::string& lower) {
  if (line == "-- " || line == "--" || line == "__") return true;
  static const std::array<std::string_view, 4> kDevices = {"sent from my iphone", "sent from my android",
                                                           "sent from my ipad", "get outlook for"};
  for (auto c : kDevices)
    if (StartsWith(lower, c)) return true;
  static const std::array<std::string_view, 8> kClosings = {
      "best regards", "kind regards", "regards,", "best,", "cheers,", "thanks,", "mit freundlichen grüßen",
      "cordialement"};
  for (auto c : kClosings)
    if (StartsWith(lower, c)) return Words(line) <= 4;
  return false;
}

// After a closing, a line that carries on the message rather than the signature: a
// postscript, or a sentence longer than a name, title or phone line.
bool ResumesMessage(const std::string& lower) {
  return StartsWith(lower, "p.s") || StartsWith(lower, "ps:") || StartsWith(lower, "ps ") || Words(lower) > 8;
}

}  // namespace

std::string CleanMessage(std::string_view text, bool cut_signature) {
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
  // Cut the signature: from the first closing line within the final 6 lines up to where
  // the message resumes (a P.S. after the name is still the customer talking).
  size_t start = lines.size() > 6 ? lines.size() - 6 : 0;
  for (size_t i = std::max<size_t>(start, 1); cut_signature && i < lines.size(); ++i) {
    if (!IsSignatureStart(lines[i], AsciiLower(lines[i]))) continue;
    size_t resume = i + 1;
    while (resume < lines.size() && !ResumesMessage(AsciiLower(lines[resume]))) ++resume;
    lines.erase(lines.begin() + static_cast<std::ptrdiff_t>(i), lines.begin() + static_cast<std::ptrdiff_t>(resume));
    break;
  }
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

std::vector<std::string> DetectTicketFlags(const Ticket& ticket) {
  // Quoted history is dropped (it repeats earlier messages, ours included), the signature
  // region is not: a threat or a request for a person is often the P.S.
  Ticket t = ticket;
  t.description = CleanMessage(t.description, /*cut_signature=*/false);
  for (auto& c : t.comments) c.body = CleanMessage(c.body, /*cut_signature=*/false);
  return DetectFlags(CustomerText(t));
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
           "supervisor", "not a bot", "stop sending me automated", "representative",
           // The languages DetectLanguage knows: a request for a person or a legal threat
           // must not pass unseen because it was not written in English. Phrases, not
           // single words, where a word alone has an everyday meaning ("Gericht" is also
           // a dish, "demanda" also demand).
           "mit einem menschen", "echten menschen", "einem mitarbeiter sprechen", "kein bot",
           "parler à un humain", "parler à une personne", "vraie personne", "parler à un conseiller",
           "hablar con una persona", "hablar con un humano", "persona real", "hablar con un agente",
           "parlare con una persona", "parlare con un operatore", "persona reale",
           "met een mens", "echte persoon", "met een medewerker",
           "falar com uma pessoa", "falar com um humano", "pessoa real", "falar com um atendente"}))
    flags.emplace_back(kFlagAskedForHuman);
  if (any({"lawyer", "lawyers", "attorney", "legal action", "sue you", "suing", "lawsuit", "small claims",
           "in court", "to court", "consumer protection", "chargeback", "ombudsman", "trading standards",
           "anwalt", "rechtsanwalt", "anwältin", "verklagen", "vor gericht", "klage einreichen",
           "verbraucherzentrale", "avocat", "avocate", "poursuites", "procès", "au tribunal", "porter plainte",
           "abogado", "abogada", "demandar", "poner una demanda", "denuncia", "los tribunales", "avvocato",
           "avvocata", "causa legale", "in tribunale", "fare causa", "advocaat", "rechtszaak", "aanklagen",
           "naar de rechter", "advogado", "advogada", "processo judicial", "entrar na justiça", "processar vocês"}))
    flags.emplace_back(kFlagLegalThreat);
  if (any({"hacked", "unauthorized access", "unauthorised access", "someone logged into",
           "data breach", "phishing", "fraudulent", "stolen card", "account compromised",
           "compromised", "identity theft", "didn't make this purchase", "did not make this purchase",
           "gehackt", "betrug", "piraté", "fraude", "hackeado", "hackerato", "frode"}))
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
