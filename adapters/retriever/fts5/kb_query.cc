#include "retriever/fts5/kb_query.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <unordered_map>

#include "deskpilot/text.h"
#include "retriever/fts5/kb_text.h"

namespace deskpilot::kb {
namespace {

constexpr int kMinIdDigits = 5;       // "NW-4821376", "555-0143", "80521"; keeps "404", "2024"
constexpr size_t kMaxGreetingChars = 40;
constexpr int kMaxSignOffNameWords = 3;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::vector<std::string_view> Words(std::string_view s) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && IsSpace(s[i])) ++i;
    size_t start = i;
    while (i < s.size() && !IsSpace(s[i])) ++i;
    if (i > start) words.push_back(s.substr(start, i - start));
  }
  return words;
}

// Longest phrases first, so "thanks in advance" wins over "thanks".
constexpr std::array<std::string_view, 22> kSignOffs = {
    "thanks in advance", "thank you in advance", "thanks so much", "thank you so much", "thanks a lot",
    "many thanks",       "thank you",            "best regards",   "kind regards",      "warm regards",
    "best wishes",       "all the best",         "yours sincerely", "yours truly",      "sent from my",
    "sincerely",         "regards",              "cheers",         "thanks",            "thank",
    "thx",               "best"};

// "Thanks, Dana", "Best regards," "Thank you!", "Cheers Tom": a sign-off phrase, then at
// most a short name. "Thanks for the quick help with my refund" is content, not a sign-off.
bool IsSignOff(std::string_view sentence) {
  const std::string lower = AsciiLower(TrimAsciiSpace(sentence));
  for (std::string_view phrase : kSignOffs) {
    if (!lower.starts_with(phrase)) continue;
    if (phrase == "sent from my") return true;
    std::string_view rest = std::string_view(lower).substr(phrase.size());
    if (!rest.empty() && std::isalnum(static_cast<unsigned char>(rest.front()))) return false;  // "bestow"
    const bool punctuated = !rest.empty() && (rest.front() == ',' || rest.front() == '!' || rest.front() == '.');
    while (!rest.empty() && (rest.front() == ',' || rest.front() == '!' || rest.front() == '.' || IsSpace(rest.front()))) {
      rest.remove_prefix(1);
    }
    if (rest.empty()) return true;
    if (rest.find('?') != std::string_view::npos) return false;
    const size_t words = Words(rest).size();
    if (words > static_cast<size_t>(kMaxSignOffNameWords)) return false;
    if (punctuated) return true;
    // Unpunctuated ("Cheers Tom"): only a capitalised name counts, so "best price" stays.
    std::string_view original = TrimAsciiSpace(sentence).substr(phrase.size());
    for (std::string_view w : Words(original)) {
      if (!std::isupper(static_cast<unsigned char>(w.front()))) return false;
    }
    return true;
  }
  return false;
}

bool StartsQuotedThread(std::string_view line) {
  const std::string lower = AsciiLower(line);
  if (lower.starts_with("on ") && lower.ends_with("wrote:")) return true;
  if (lower.find("original message") != std::string::npos && lower.starts_with("--")) return true;
  return lower.starts_with("from:");
}

// Drops a leading "Hi," / "Hello Dana," / "Dear support team:" / "Good morning!".
std::string_view StripGreeting(std::string_view text) {
  static constexpr std::array<std::string_view, 9> kGreetings = {
      "good morning", "good afternoon", "good evening", "greetings", "hello", "hiya", "hey", "dear", "hi"};
  const std::string lower = AsciiLower(text.substr(0, kMaxGreetingChars + 1));
  for (std::string_view g : kGreetings) {
    if (!lower.starts_with(g)) continue;
    if (lower.size() > g.size() && std::isalnum(static_cast<unsigned char>(lower[g.size()]))) return text;  // "history"
    const size_t end = lower.find_first_of(",!:.\n", g.size());
    if (end == std::string::npos || end > kMaxGreetingChars) return text.substr(g.size());
    return text.substr(end + 1);
  }
  return text;
}

// Splits off the last sentence of `text` (after the last ". ", "! " or "? ").
size_t LastSentenceStart(std::string_view text) {
  for (size_t i = text.size(); i-- > 1;) {
    if (IsSpace(text[i]) && (text[i - 1] == '.' || text[i - 1] == '!' || text[i - 1] == '?')) return i + 1;
  }
  return 0;
}

// Words that every help-desk message uses and that say nothing about which article
// answers it; Tokenize's general stop words do not know them.
bool IsFiller(std::string_view token) {
  static constexpr std::array<std::string_view, 24> kFiller = {
      "help",   "question", "questions", "issue",  "anyone", "someone", "something", "anything",
      "thing",  "sorry",    "random",    "really", "wondering", "quick", "able",     "still",
      "tell",   "ask",      "asking",    "let",    "know",    "need",    "want",     "like"};
  return std::find(kFiller.begin(), kFiller.end(), token) != kFiller.end();
}

bool IsPlaceholder(std::string_view word) {
  // Redact() writes "<TYPE_N>"; the word "email" inside "<EMAIL_1>" is not the customer's.
  const size_t open = word.find('<');
  const size_t close = word.find('>', open == std::string_view::npos ? 0 : open);
  if (open == std::string_view::npos || close == std::string_view::npos) return false;
  std::string_view inner = word.substr(open + 1, close - open - 1);
  return !inner.empty() && std::all_of(inner.begin(), inner.end(), [](unsigned char c) {
    return std::isupper(c) || std::isdigit(c) || c == '_';
  });
}

bool IsIdentifier(std::string_view word) {
  return std::count_if(word.begin(), word.end(), [](unsigned char c) { return std::isdigit(c); }) >= kMinIdDigits;
}

// Crude suffix stripping, only to decide that two query tokens are the same word.
std::string DedupeKey(std::string w) {
  auto ends = [&](std::string_view suffix) { return w.size() > suffix.size() + 2 && w.ends_with(suffix); };
  if (ends("ing")) {
    w.resize(w.size() - 3);
  } else if (ends("ed") || ends("es")) {
    w.resize(w.size() - 2);
  } else if (ends("s") && !w.ends_with("ss")) {
    w.pop_back();
  }
  if (ends("e")) w.pop_back();
  return w;
}

}  // namespace

std::string CleanTicketText(std::string_view text) {
  std::string kept;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = TrimAsciiSpace(text.substr(pos, eol - pos));
    pos = eol + 1;
    if (line.empty() || line.front() == '>') continue;
    if (line == "--" || line == "__") break;  // signature delimiter
    const bool has_content = !TrimAsciiSpace(kept).empty();
    if (has_content && StartsQuotedThread(line)) break;
    if (IsSignOff(line)) {
      // A sign-off ends the message; what follows is a name, title or phone number.
      if (has_content) break;
      continue;
    }
    kept += line;
    kept += '\n';
  }
  std::string_view body = TrimAsciiSpace(StripGreeting(TrimAsciiSpace(kept)));
  // "... when should it arrive? Thanks, Dana" on one line.
  const size_t last = LastSentenceStart(body);
  if (last > 0 && IsSignOff(body.substr(last))) body = TrimAsciiSpace(body.substr(0, last));

  std::string out;
  size_t i = 0;
  while (i < body.size()) {
    size_t start = i;
    while (i < body.size() && !IsSpace(body[i])) ++i;
    std::string_view word = body.substr(start, i - start);
    if (!word.empty() && !IsPlaceholder(word) && !IsIdentifier(word)) {
      if (!out.empty()) out += ' ';
      out += word;
    }
    while (i < body.size() && IsSpace(body[i])) ++i;
  }
  return out;
}

std::vector<QueryTerm> QueryTerms(std::string_view query) {
  std::string_view subject;
  std::string_view body = query;
  const size_t newline = query.find('\n');
  if (newline != std::string_view::npos && !TrimAsciiSpace(query.substr(newline + 1)).empty()) {
    subject = query.substr(0, newline);
    body = query.substr(newline + 1);
  }
  std::vector<QueryTerm> terms;
  std::unordered_map<std::string, size_t> index;  // dedupe key → position in terms
  auto add = [&](std::string_view text, double weight) {
    for (std::string& token : Tokenize(CleanTicketText(text))) {
      if (IsFiller(token)) continue;
      auto [it, inserted] = index.try_emplace(DedupeKey(token), terms.size());
      if (inserted) {
        terms.push_back({std::move(token), weight});
      } else {
        terms[it->second].weight = std::max(terms[it->second].weight, weight);
      }
    }
  };
  add(subject, 2.0);
  add(body, 1.0);
  return terms;
}

}  // namespace deskpilot::kb
