#include "drafter/extractive/extractive_drafter.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include "deskpilot/redact.h"
#include "deskpilot/text.h"

namespace deskpilot {
namespace {

constexpr int kMinSentenceWords = 4;   // shorter fragments read badly on their own
constexpr int kMaxSentenceWords = 60;  // longer ones are usually run-on list dumps
// Relative retriever scores sit close together (0.16 vs 0.11 for the right and a wrong
// article on a demo ticket), so only near-equals may add sentences.
constexpr double kSecondaryPassageRatio = 0.8;
constexpr int kMinGroundingOverlap = 2;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool IsStopWord(std::string_view w) {
  static const std::unordered_set<std::string_view> kWords = {
      "the", "and", "for", "you", "your", "are", "was", "were", "with", "that", "this", "have",
      "has", "had", "not", "but", "can", "could", "would", "should", "will", "from", "they",
      "them", "their", "our", "ours", "what", "when", "where", "which", "who", "how", "why",
      "there", "here", "been", "being", "into", "out", "about", "any", "all", "some", "just",
      "also", "than", "then", "its", "his", "her", "she", "him", "hello", "thanks", "thank",
      "please", "regards", "dear", "don", "doesn", "didn", "isn", "get", "got", "does", "did",
      "very", "too", "more", "most", "one", "two", "way", "need", "want", "like", "know"};
  return kWords.contains(w);
}

// Crude suffix stripping: enough for "refunds"/"refunded"/"refund" or "charge"/"charges"
// to meet, which is all sentence choice needs.
std::string Stem(std::string w) {
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

std::set<std::string> Terms(std::string_view text) {
  std::set<std::string> terms;
  std::string word;
  auto emit = [&] {
    if (word.size() >= 3 && !IsStopWord(word)) terms.insert(Stem(word));
    word.clear();
  };
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80) {
      word += static_cast<char>(std::tolower(u));
    } else {
      emit();
    }
  }
  emit();
  return terms;
}

int CountWords(std::string_view s) {
  int n = 0;
  bool in_word = false;
  for (char c : s) {
    if (IsSpace(c)) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++n;
    }
  }
  return n;
}

// Sentences end at line breaks (list items, paragraphs) and at . ! ? before whitespace.
std::vector<std::string> Sentences(std::string_view text) {
  std::vector<std::string> out;
  std::string current;
  auto emit = [&] {
    std::string_view t = TrimAsciiSpace(current);
    if (!t.empty()) out.emplace_back(t);
    current.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\n') {
      emit();
      continue;
    }
    current += text[i];
    const bool end = text[i] == '.' || text[i] == '!' || text[i] == '?';
    if (end && (i + 1 == text.size() || IsSpace(text[i + 1]))) emit();
  }
  emit();
  return out;
}

// One word of the requester's name as the pipeline hands it over: a NAME placeholder as
// is, or the word reduced to characters that cannot carry markup or links; "" for
// anything else (an email address, digits, any other placeholder).
std::string NameWord(std::string_view word) {
  if (word.starts_with("<NAME_") && word.ends_with('>') && word.size() > 7 &&
      std::all_of(word.begin() + 6, word.end() - 1, [](char c) { return c >= '0' && c <= '9'; }))
    return std::string(word);
  if (word.empty() || word.size() > 40) return "";
  for (char c : word) {
    auto u = static_cast<unsigned char>(c);
    if (!(std::isalpha(u) || u >= 0x80 || c == '-' || c == '\'' || c == '.')) return "";
  }
  return std::string(word);
}

// How to address the requester: the first name, or a title with the only name there is
// ("Dr. Smith"); "" when nothing name-like is left. The pipeline hands over the name
// redacted word by word ("Dr. <NAME_1> <NAME_2>"): the first name's NAME placeholder is
// what Restore turns back into it for the customer. A title is never a first name ("Hi
// Dr.," was what "Dr. Ann Smith" got before).
std::string FirstName(std::string_view full_name) {
  std::vector<std::string_view> words;
  std::string_view rest = TrimAsciiSpace(full_name);
  while (!rest.empty()) {
    const size_t end = std::min(rest.find_first_of(" \t"), rest.size());
    words.push_back(rest.substr(0, end));
    rest = TrimAsciiSpace(rest.substr(end));
  }
  size_t first = 0;
  while (first < words.size() && IsNameTitle(words[first])) ++first;
  if (first == words.size()) return "";
  // "Mr and Mrs Smith", "Herr und Frau Meier": a couple, no first name to greet.
  if (const std::string w = AsciiLower(words[first]); first > 0 && (w == "and" || w == "und" || w == "et")) return "";
  const std::string name = NameWord(words[first]);
  if (first == 0 || name.empty() || first + 1 < words.size()) return name;
  const std::string title = NameWord(words[first - 1]);
  return title.empty() ? name : title + " " + name;
}

struct Candidate {
  size_t passage = 0;  // index into the passages vector
  size_t position = 0; // sentence index inside the passage text
  std::string text;
  double score = 0.0;
  int overlap = 0;  // distinct ticket terms the sentence shares
};

}  // namespace

ExtractiveDrafter::ExtractiveDrafter(ExtractiveDrafterOptions options) : options_(std::move(options)) {}

Result<Draft> ExtractiveDrafter::Write(const Ticket& redacted_ticket, const Triage& /*triage*/,
                                       const std::vector<Passage>& passages) {
  Draft draft;
  draft.generator = "extractive";
  const std::string first_name = FirstName(redacted_ticket.requester.name);
  const std::string greeting = first_name.empty() ? "Hello," : "Hi " + first_name + ",";

  std::string ticket_text = redacted_ticket.subject + "\n" + redacted_ticket.description;
  for (const Comment& c : redacted_ticket.comments) {
    if (c.author_role == AuthorRole::kCustomer) ticket_text += "\n" + c.body;
  }
  const std::set<std::string> ticket_terms = Terms(ticket_text);

  // Every passage sentence is a candidate; its score is the number of ticket terms it
  // shares, with a small bonus for the top passage and for coming early in its passage
  // (articles tend to lead with the answer).
  std::vector<Candidate> candidates;
  const double top_score = passages.empty() ? 0.0 : passages.front().score;
  // A lower-ranked passage may add a sentence only when that sentence matches the
  // ticket at least as well as the best sentence of the top passage (and on two terms
  // or more): one shared word like "order" is how unrelated policies creep into a reply.
  int top_best_overlap = 0;
  for (size_t p = 0; p < passages.size(); ++p) {
    if (p > 0 && passages[p].score < top_score * kSecondaryPassageRatio) continue;
    std::vector<std::string> sentences = Sentences(passages[p].text);
    for (size_t s = 0; s < sentences.size(); ++s) {
      const int words = CountWords(sentences[s]);
      if (words < kMinSentenceWords || words > kMaxSentenceWords) continue;
      // Markdown table rows ("| Received | 5 to 10 days |") are data, not prose: quoted
      // on their own they read as garbage in a customer reply.
      if (std::count(sentences[s].begin(), sentences[s].end(), '|') >= 2) continue;
      int overlap = 0;
      for (const std::string& term : Terms(sentences[s])) overlap += ticket_terms.contains(term) ? 1 : 0;
      if (p == 0) top_best_overlap = std::max(top_best_overlap, overlap);
      if (p > 0 && overlap < std::max(2, top_best_overlap)) continue;
      const double score = overlap + (p == 0 ? 1.0 : 0.0) - 0.01 * static_cast<double>(s);
      if (overlap == 0) continue;
      candidates.push_back({p, s, std::move(sentences[s]), score, overlap});
    }
  }
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) { return a.score > b.score; });
  // A reply is only as good as its evidence: unless some sentence shares at least
  // kMinGroundingOverlap ticket terms, nothing retrieved really answers the ticket, and
  // the honest draft is "an agent will follow up" (one shared word such as "sorry" or
  // "order" is not evidence).
  int best_overlap = 0;
  for (const Candidate& c : candidates) best_overlap = std::max(best_overlap, c.overlap);
  std::vector<Candidate> chosen;
  std::set<std::string> chosen_text;  // overlapping chunks can repeat a sentence
  for (Candidate& c : candidates) {
    if (best_overlap < kMinGroundingOverlap) break;
    if (static_cast<int>(chosen.size()) >= options_.max_sentences) break;
    if (!chosen_text.insert(c.text).second) continue;
    chosen.push_back(std::move(c));
  }
  if (chosen.empty()) {
    // Nothing passed the retriever's relevance floor: say so plainly, so the agent reading
    // the note knows the knowledge base has no article for this (a gap to fill), rather
    // than that one was found and judged not to fit.
    const std::string found_nothing =
        passages.empty() ? " We could not find an article in our help center that answers this." : "";
    draft.body = greeting + "\n\nThanks for getting in touch. We have received your message." + found_nothing +
                 " A member of our support team will look into it and get back to you as soon as possible.\n\n" +
                 options_.signature;
    draft.grounded = false;
    return draft;
  }
  // Quote in reading order: by passage rank, then by position inside the passage.
  std::sort(chosen.begin(), chosen.end(), [](const Candidate& a, const Candidate& b) {
    return std::pair(a.passage, a.position) < std::pair(b.passage, b.position);
  });

  std::string body = greeting + "\n\nThanks for getting in touch. Here is what should help:\n";
  std::vector<size_t> cited;
  for (const Candidate& c : chosen) {
    if (cited.empty() || cited.back() != c.passage) {
      cited.push_back(c.passage);
      body += "\n";
    } else {
      body += " ";
    }
    body += c.text;
  }
  body += "\n\n";
  std::set<std::string> cited_docs;
  for (size_t p : cited) {
    const Passage& passage = passages[p];
    if (!cited_docs.insert(passage.doc_id).second) continue;
    draft.citations.push_back(passage.doc_id);
    // A resolved ticket is nothing the customer can read, and its title is another
    // customer's subject line.
    if (passage.kind == PassageKind::kResolvedTicket) continue;
    body += "You can read more here: " + (passage.title.empty() ? passage.doc_id : passage.title);
    if (!passage.url.empty()) body += " (" + passage.url + ")";
    body += "\n";
  }
  body += "\nIf this does not solve it, just reply to this message and a member of our team will "
          "take it from there.\n\n" +
          options_.signature;
  draft.body = std::move(body);
  draft.grounded = true;
  return draft;
}

Result<std::unique_ptr<Drafter>> MakeExtractiveDrafter(AdapterContext& ctx) {
  const nlohmann::json empty = nlohmann::json::object();
  ConfigSection defaults(empty, "drafter");
  ConfigSection& section = ctx.section != nullptr ? *ctx.section : defaults;
  section.String("type", "extractive");
  ExtractiveDrafterOptions options;
  options.max_sentences = static_cast<int>(section.Int("max_sentences", options.max_sentences, 1, 10));
  options.signature = section.String("signature", options.signature);
  return std::unique_ptr<Drafter>(std::make_unique<ExtractiveDrafter>(std::move(options)));
}

}  // namespace deskpilot
