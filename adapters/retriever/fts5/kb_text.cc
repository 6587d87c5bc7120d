#include "retriever/fts5/kb_text.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <unordered_set>
#include <utility>

#include "deskpilot/text.h"

namespace deskpilot::kb {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }

bool StartsWithNoCase(std::string_view s, size_t pos, std::string_view prefix) {
  if (s.size() - pos < prefix.size()) return false;
  for (size_t i = 0; i < prefix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[pos + i])) != prefix[i]) return false;
  }
  return true;
}

// Collapses every whitespace run to one space and trims.
std::string CollapseSpace(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool pending_space = false;
  for (char c : s) {
    if (IsSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    start = end + 1;
  }
  return lines;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp < 0x80) {
    *out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    *out += static_cast<char>(0xC0 | (cp >> 6));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    *out += static_cast<char>(0xE0 | (cp >> 12));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    *out += static_cast<char>(0xF0 | (cp >> 18));
    *out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    *out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    *out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// ---- Markdown inline cleanup ----

// Removes emphasis and code markers and rewrites links. Absolute link targets are kept
// in parentheses because a support answer often *is* the link ("open the billing page").
std::string CleanInline(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    const bool image = s[i] == '!' && i + 1 < s.size() && s[i + 1] == '[';
    if (s[i] == '[' || image) {
      const size_t open = image ? i + 1 : i;
      const size_t close = s.find(']', open);
      if (close != std::string_view::npos && close + 1 < s.size() && s[close + 1] == '(') {
        const size_t paren = s.find(')', close + 2);
        if (paren != std::string_view::npos) {
          std::string_view label = s.substr(open + 1, close - open - 1);
          std::string_view target = TrimAsciiSpace(s.substr(close + 2, paren - close - 2));
          out += label;
          if (!image && (target.starts_with("http://") || target.starts_with("https://"))) {
            out += " (";
            out += target;
            out += ')';
          }
          i = paren + 1;
          continue;
        }
      }
    }
    if ((s[i] == '*' || s[i] == '_') && i + 1 < s.size() && s[i + 1] == s[i]) {
      i += 2;
      continue;
    }
    if (s[i] == '`') {
      ++i;
      continue;
    }
    out += s[i++];
  }
  return CollapseSpace(out);
}

// Returns the item text when `line` is a bullet or numbered list item, else npos offset.
size_t ListItemStart(std::string_view line) {
  size_t i = 0;
  while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
  if (i + 1 < line.size() && (line[i] == '-' || line[i] == '*' || line[i] == '+') && line[i + 1] == ' ') {
    return i + 2;
  }
  size_t digits = i;
  while (digits < line.size() && std::isdigit(static_cast<unsigned char>(line[digits]))) ++digits;
  if (digits > i && digits - i <= 3 && digits + 1 < line.size() &&
      (line[digits] == '.' || line[digits] == ')') && line[digits + 1] == ' ') {
    return digits + 2;
  }
  return std::string_view::npos;
}

// Heading level 1-6 for "#... text" lines, 0 otherwise.
int HeadingLevel(std::string_view line, std::string_view* text) {
  int level = 0;
  while (level < static_cast<int>(line.size()) && line[level] == '#') ++level;
  if (level == 0 || level > 6 || level >= static_cast<int>(line.size()) || line[level] != ' ') return 0;
  std::string_view t = TrimAsciiSpace(line.substr(level));
  while (!t.empty() && t.back() == '#') t.remove_suffix(1);  // closing "##" is decoration
  *text = TrimAsciiSpace(t);
  return level;
}

bool IsRuleLine(std::string_view line) {
  // Horizontal rules, setext underlines and table separators carry no text.
  if (line.size() < 3) return false;
  return std::all_of(line.begin(), line.end(), [](char c) {
    return c == '-' || c == '=' || c == '*' || c == '_' || c == '|' || c == ':' || c == ' ';
  });
}

struct Section {
  std::string heading;
  std::vector<std::string> units;  // paragraphs and list items
};

std::vector<Section> ParseSections(std::string_view text) {
  std::vector<Section> sections(1);
  std::string paragraph;
  std::string parent;  // the enclosing "##" heading, for "###" context
  bool in_fence = false;
  auto flush = [&] {
    std::string cleaned = CleanInline(paragraph);
    if (!cleaned.empty()) sections.back().units.push_back(std::move(cleaned));
    paragraph.clear();
  };
  for (std::string_view raw : SplitLines(text)) {
    std::string_view line = TrimAsciiSpace(raw);
    if (line.starts_with("```") || line.starts_with("~~~")) {
      flush();
      in_fence = !in_fence;
      continue;
    }
    if (in_fence) {
      // Code keeps its line structure: each line is a unit of its own.
      if (!line.empty()) sections.back().units.emplace_back(line);
      continue;
    }
    if (line.empty() || IsRuleLine(line)) {
      flush();
      continue;
    }
    std::string_view heading;
    if (int level = HeadingLevel(line, &heading); level > 0) {
      flush();
      std::string cleaned = CleanInline(heading);
      if (level <= 3) {
        Section s;
        if (level == 3 && !parent.empty()) {
          s.heading = parent + " > " + cleaned;
        } else {
          s.heading = cleaned;
        }
        if (level == 1) parent.clear();
        if (level == 2) parent = cleaned;
        sections.push_back(std::move(s));
      } else if (!cleaned.empty()) {
        sections.back().units.push_back(std::move(cleaned));
      }
      continue;
    }
    if (size_t item = ListItemStart(line); item != std::string_view::npos) {
      flush();
      line = line.substr(item);
    } else if (line.starts_with('>')) {
      line = TrimAsciiSpace(line.substr(1));
    }
    if (!paragraph.empty()) paragraph += ' ';
    paragraph += line;
  }
  flush();
  return sections;
}

struct Sentence {
  std::string text;
  int words = 0;
  bool ends_unit = false;  // rendered with a line break after it
};

std::string Render(const std::vector<Sentence>& sentences) {
  std::string out;
  for (size_t i = 0; i < sentences.size(); ++i) {
    out += sentences[i].text;
    if (i + 1 < sentences.size()) out += sentences[i].ends_unit ? '\n' : ' ';
  }
  return out;
}

// Cuts a sentence longer than the cap into word windows so the cap holds.
void AppendCapped(std::string_view sentence, bool ends_unit, int max_words, std::vector<Sentence>* out) {
  std::vector<std::string_view> words;
  size_t i = 0;
  while (i < sentence.size()) {
    while (i < sentence.size() && IsSpace(sentence[i])) ++i;
    size_t start = i;
    while (i < sentence.size() && !IsSpace(sentence[i])) ++i;
    if (i > start) words.push_back(sentence.substr(start, i - start));
  }
  for (size_t w = 0; w < words.size(); w += max_words) {
    Sentence s;
    const size_t end = std::min(words.size(), w + static_cast<size_t>(max_words));
    for (size_t j = w; j < end; ++j) {
      if (j > w) s.text += ' ';
      s.text += words[j];
    }
    s.words = static_cast<int>(end - w);
    s.ends_unit = ends_unit && end == words.size();
    out->push_back(std::move(s));
  }
}

void ChunkSection(const Section& section, const ChunkOptions& options, std::vector<Chunk>* out) {
  std::vector<Sentence> sentences;
  int total_words = 0;
  for (const std::string& unit : section.units) {
    std::vector<std::string> parts = SplitSentences(unit);
    for (size_t i = 0; i < parts.size(); ++i) {
      AppendCapped(parts[i], i + 1 == parts.size(), options.max_words, &sentences);
    }
  }
  for (const Sentence& s : sentences) total_words += s.words;
  if (sentences.empty()) return;
  if (total_words <= options.max_words) {
    out->push_back({section.heading, Render(sentences)});
    return;
  }
  std::vector<Sentence> current;
  int current_words = 0;
  bool has_new = false;  // a piece made only of carried-over overlap is never emitted
  for (Sentence& s : sentences) {
    if (current_words + s.words > options.max_words && has_new) {
      out->push_back({section.heading, Render(current)});
      std::vector<Sentence> overlap;
      int overlap_words = 0;
      for (auto it = current.rbegin(); it != current.rend() && overlap.size() < 2; ++it) {
        if (overlap_words + it->words > options.overlap_words) break;
        overlap_words += it->words;
        overlap.insert(overlap.begin(), *it);
      }
      current = std::move(overlap);
      current_words = overlap_words;
      has_new = false;
    }
    while (!current.empty() && current_words + s.words > options.max_words) {
      current_words -= current.front().words;
      current.erase(current.begin());
    }
    current_words += s.words;
    current.push_back(std::move(s));
    has_new = true;
  }
  if (has_new) out->push_back({section.heading, Render(current)});
}

// ---- HTML ----

bool IsSkippedElement(std::string_view name) {
  return name == "script" || name == "style" || name == "head" || name == "noscript" ||
         name == "template" || name == "svg" || name == "title" || name == "iframe";
}

bool IsBlockElement(std::string_view name) {
  static const std::unordered_set<std::string_view> kBlocks = {
      "p", "div", "ul", "ol", "tr", "table", "section", "article", "header", "footer",
      "blockquote", "pre", "hr", "h4", "h5", "h6", "dl", "dt", "dd", "main", "nav", "aside",
      "figure", "figcaption", "form", "body", "html"};
  return kBlocks.contains(name);
}

// Whether the '<' at `lt` opens markup as an HTML tokenizer reads it: a tag ("<p",
// "</p"), a comment or declaration ("<!"), a processing instruction ("<?"). Any other
// '<' ("< 5 days", "<=3 kg", "1<2") is text, as a browser shows it; read as a tag it
// would swallow the text up to the next '>' and change what the article says.
bool OpensMarkup(std::string_view html, size_t lt) {
  if (lt + 1 >= html.size()) return false;
  const auto next = static_cast<unsigned char>(html[lt + 1]);
  if (next == '!' || next == '?') return true;
  if (next == '/') return lt + 2 < html.size() && std::isalpha(static_cast<unsigned char>(html[lt + 2]));
  return std::isalpha(next);
}

// Finds the '>' closing a tag that starts at `lt`, honouring quoted attribute values.
size_t FindTagEnd(std::string_view html, size_t lt) {
  char quote = 0;
  for (size_t i = lt + 1; i < html.size(); ++i) {
    char c = html[i];
    if (quote != 0) {
      if (c == quote) quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '>') {
      return i;
    }
  }
  return std::string_view::npos;
}

// Position just after "</name ...>" at or after `from`, or the end of input.
size_t SkipPastClose(std::string_view html, size_t from, std::string_view name) {
  const std::string closing = "</" + std::string(name);
  for (size_t i = from; i < html.size(); ++i) {
    if (html[i] == '<' && StartsWithNoCase(html, i, closing)) {
      size_t end = FindTagEnd(html, i);
      return end == std::string_view::npos ? html.size() : end + 1;
    }
  }
  return html.size();
}

std::string ExtractTitleElement(std::string_view html) {
  for (size_t i = 0; i < html.size(); ++i) {
    if (html[i] == '<' && StartsWithNoCase(html, i, "<title")) {
      size_t end = FindTagEnd(html, i);
      if (end == std::string_view::npos) return "";
      size_t close = SkipPastClose(html, end + 1, "title");
      size_t lt = html.rfind('<', close == 0 ? 0 : close - 1);
      if (lt == std::string_view::npos || lt <= end) return "";
      return CollapseSpace(DecodeHtmlEntities(html.substr(end + 1, lt - end - 1)));
    }
  }
  return "";
}

const std::unordered_set<std::string_view>& StopWords() {
  static const std::unordered_set<std::string_view> kWords = {
      "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
      "are", "aren", "as", "at", "be", "because", "been", "before", "being", "below", "between",
      "both", "but", "by", "can", "cannot", "could", "couldn", "dear", "did", "didn", "do", "does",
      "doesn", "doing", "don", "down", "during", "each", "etc", "few", "for", "from", "further",
      "get", "got", "had", "hadn", "has", "hasn", "have", "haven", "having", "he", "hello", "her",
      "here", "hers", "herself", "hey", "hi", "him", "himself", "his", "how", "i", "if", "in",
      "into", "is", "isn", "it", "its", "itself", "just", "kind", "ll", "me", "more", "most",
      "much", "must", "my", "myself", "no", "nor", "not", "now", "of", "off", "ok", "on", "once",
      "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "please", "pls",
      "re", "regards", "same", "she", "should", "shouldn", "so", "some", "such", "than", "thank",
      "thanks", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these",
      "they", "this", "those", "through", "to", "too", "under", "until", "up", "us", "ve", "very",
      "was", "wasn", "we", "were", "weren", "what", "when", "where", "which", "while", "who",
      "whom", "why", "will", "with", "won", "would", "wouldn", "yes", "you", "your", "yours",
      "yourself", "yourselves"};
  return kWords;
}

}  // namespace

std::vector<Chunk> ChunkMarkdown(std::string_view text, const ChunkOptions& options) {
  ChunkOptions o = options;
  o.max_words = std::max(o.max_words, 10);
  o.overlap_words = std::clamp(o.overlap_words, 0, o.max_words / 2);
  std::vector<Chunk> chunks;
  for (const Section& section : ParseSections(text)) ChunkSection(section, o, &chunks);
  return chunks;
}

MarkdownMeta ParseMarkdownMeta(std::string_view text) {
  MarkdownMeta meta;
  if (text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 BOM from editors
  std::string_view body = text;
  std::vector<std::string_view> lines = SplitLines(body);
  if (!lines.empty() && TrimAsciiSpace(lines[0]) == "---") {
    size_t offset = lines[0].size() + 1;
    for (size_t i = 1; i < lines.size(); ++i) {
      const size_t line_end = offset + lines[i].size() + 1;
      std::string_view line = TrimAsciiSpace(lines[i]);
      if (line == "---") {
        body = body.substr(std::min(line_end, body.size()));
        break;
      }
      if (size_t colon = line.find(':'); colon != std::string_view::npos) {
        std::string key = AsciiLower(TrimAsciiSpace(line.substr(0, colon)));
        std::string_view value = TrimAsciiSpace(line.substr(colon + 1));
        if (value.size() >= 2 && (value.front() == '"' || value.front() == '\'') && value.back() == value.front()) {
          value = value.substr(1, value.size() - 2);
        }
        if (key == "id") meta.id = value;
        if (key == "url") meta.url = value;
        if (key == "title") meta.title = value;
        if (key == "kind") meta.kind = value;
      }
      offset = line_end;
      if (i + 1 == lines.size()) {  // no closing "---": not front matter after all
        meta = MarkdownMeta{};
        body = text;
      }
    }
  }
  meta.body = std::string(body);
  if (meta.title.empty()) {
    bool in_fence = false;
    for (std::string_view raw : SplitLines(body)) {
      std::string_view line = TrimAsciiSpace(raw);
      if (line.starts_with("```") || line.starts_with("~~~")) in_fence = !in_fence;
      std::string_view heading;
      if (!in_fence && HeadingLevel(line, &heading) == 1) {
        meta.title = CleanInline(heading);
        break;
      }
    }
  }
  return meta;
}

std::string DecodeHtmlEntities(std::string_view text) {
  struct Named {
    std::string_view name;
    std::string_view value;
  };
  static constexpr Named kNamed[] = {
      {"amp", "&"},         {"lt", "<"},          {"gt", ">"},          {"quot", "\""},
      {"apos", "'"},        {"nbsp", " "},        {"ndash", "\u2013"},  {"mdash", "\u2014"},
      {"hellip", "\u2026"}, {"rsquo", "\u2019"},  {"lsquo", "\u2018"},  {"rdquo", "\u201D"},
      {"ldquo", "\u201C"},  {"laquo", "\u00AB"},  {"raquo", "\u00BB"},  {"copy", "\u00A9"},
      {"reg", "\u00AE"},    {"trade", "\u2122"},  {"middot", "\u00B7"}, {"bull", "\u2022"},
      {"euro", "\u20AC"},   {"pound", "\u00A3"},  {"times", "\u00D7"},  {"deg", "\u00B0"}};
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != '&') {
      out += text[i++];
      continue;
    }
    const size_t semi = text.find(';', i + 1);
    if (semi == std::string_view::npos || semi - i > 12) {
      out += text[i++];
      continue;
    }
    std::string_view name = text.substr(i + 1, semi - i - 1);
    bool decoded = false;
    if (name.size() >= 2 && name[0] == '#') {
      const bool hex = name[1] == 'x' || name[1] == 'X';
      std::string_view digits = name.substr(hex ? 2 : 1);
      uint32_t cp = 0;
      bool valid = !digits.empty() && digits.size() <= 7;
      for (char c : digits) {
        if (!valid) break;
        int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0'
                : hex && std::isxdigit(static_cast<unsigned char>(c))
                    ? std::tolower(static_cast<unsigned char>(c)) - 'a' + 10
                    : -1;
        if (v < 0) valid = false;
        cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(std::max(v, 0));
      }
      if (valid) {
        // NUL, surrogates and out-of-range code points become U+FFFD, as browsers do.
        if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) cp = 0xFFFD;
        AppendUtf8(cp, &out);
        decoded = true;
      }
    } else {
      for (const Named& n : kNamed) {
        if (n.name == name) {
          out += n.value;
          decoded = true;
          break;
        }
      }
    }
    if (decoded) {
      i = semi + 1;
    } else {
      out += text[i++];
    }
  }
  return out;
}

HtmlDoc HtmlToMarkdown(std::string_view html) {
  HtmlDoc doc;
  doc.title = ExtractTitleElement(html);
  std::string out;
  size_t h1_start = std::string::npos;  // where the first <h1>'s text begins in `out`
  bool h1_seen = false;
  size_t i = 0;
  while (i < html.size()) {
    if (html[i] != '<' || !OpensMarkup(html, i)) {
      size_t lt = i;
      while ((lt = html.find('<', lt + 1)) != std::string_view::npos && !OpensMarkup(html, lt)) {
      }
      if (lt == std::string_view::npos) lt = html.size();
      const std::string decoded = DecodeHtmlEntities(html.substr(i, lt - i));
      const std::string text = CollapseSpace(decoded);
      if (!text.empty()) {
        // Keep a separating space where the source had whitespace (or &nbsp;) around
        // inline tags: "<b>worldwide</b>&nbsp;in" must not become "worldwidein".
        if (!out.empty() && out.back() != '\n' && out.back() != ' ' && IsSpace(decoded.front())) out += ' ';
        out += text;
        if (IsSpace(decoded.back())) out += ' ';
      }
      i = lt;
      continue;
    }
    if (html.substr(i).starts_with("<!--")) {
      size_t end = html.find("-->", i + 4);
      i = end == std::string_view::npos ? html.size() : end + 3;
      continue;
    }
    size_t end = FindTagEnd(html, i);
    if (end == std::string_view::npos) break;  // truncated tag: nothing readable follows
    const bool closing = i + 1 < html.size() && html[i + 1] == '/';
    size_t name_start = i + (closing ? 2 : 1);
    size_t name_end = name_start;
    while (name_end < end && std::isalnum(static_cast<unsigned char>(html[name_end]))) ++name_end;
    const std::string name = AsciiLower(html.substr(name_start, name_end - name_start));
    i = end + 1;
    if (!closing && IsSkippedElement(name) && html[end - 1] != '/') {
      i = SkipPastClose(html, i, name);
      continue;
    }
    if (name == "h1" || name == "h2" || name == "h3") {
      if (!closing) {
        out += "\n## ";
        if (name == "h1" && !h1_seen) h1_start = out.size();
      } else {
        if (name == "h1" && h1_start != std::string::npos && !h1_seen) {
          h1_seen = true;
          if (doc.title.empty()) doc.title = CollapseSpace(out.substr(h1_start));
        }
        out += '\n';
      }
    } else if (name == "li" && !closing) {
      out += "\n- ";
    } else if (name == "td" || name == "th") {
      out += ' ';
    } else if (name == "br") {
      out += '\n';  // a line break inside a paragraph: ChunkMarkdown joins the lines
    } else if (IsBlockElement(name)) {
      out += "\n\n";  // a paragraph boundary
    }
  }
  // Tidy: trim every line and collapse blank-line runs so ChunkMarkdown sees paragraphs.
  std::string body;
  bool last_blank = true;
  for (std::string_view line : SplitLines(out)) {
    line = TrimAsciiSpace(line);
    if (line.empty()) {
      if (!last_blank) body += '\n';
      last_blank = true;
      continue;
    }
    body += line;
    body += '\n';
    last_blank = false;
  }
  doc.body = std::move(body);
  return doc;
}

std::vector<std::string> SplitSentences(std::string_view text) {
  static const std::unordered_set<std::string_view> kAbbreviations = {
      "e.g", "i.e", "eg", "ie", "vs", "mr", "mrs", "ms", "dr", "approx", "incl", "no", "fig", "cf"};
  std::vector<std::string> out;
  std::string current;
  auto emit = [&] {
    std::string_view t = TrimAsciiSpace(current);
    if (!t.empty()) out.emplace_back(t);
    current.clear();
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '\n') {
      emit();
      continue;
    }
    current += c;
    if (c != '.' && c != '!' && c != '?') continue;
    // Closing quotes or brackets belong to the sentence they end.
    while (i + 1 < text.size() && (text[i + 1] == '"' || text[i + 1] == '\'' || text[i + 1] == ')')) {
      current += text[++i];
    }
    if (i + 1 < text.size() && !IsSpace(text[i + 1])) continue;
    if (c == '.') {
      size_t word_start = current.find_last_of(" \t(", current.size() - 2);
      word_start = word_start == std::string::npos ? 0 : word_start + 1;
      std::string word = AsciiLower(std::string_view(current).substr(word_start));
      while (!word.empty() && word.back() == '.') word.pop_back();
      if (kAbbreviations.contains(word)) continue;
    }
    emit();
  }
  emit();
  return out;
}

bool IsStopWord(std::string_view lower_word) { return StopWords().contains(lower_word); }

namespace {

// Scripts written without spaces between words: kana, Han ideographs, Hangul syllables.
bool IsCjk(char32_t c) {
  return (c >= 0x3040 && c <= 0x30FF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x4E00 && c <= 0x9FFF) ||
         (c >= 0xAC00 && c <= 0xD7AF) || (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FFFF);
}

// The code point of the well-formed UTF-8 sequence at `i` and its length; (0, 1) for a
// byte that does not start one (it is passed through as it is).
std::pair<char32_t, size_t> DecodeAt(std::string_view s, size_t i) {
  const auto lead = static_cast<unsigned char>(s[i]);
  const size_t len = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC2 ? 2 : 0;
  if (len == 0 || i + len > s.size() || InvalidUtf8Offset(s.substr(i, len)) != std::string_view::npos) return {0, 1};
  if (len == 1) return {lead, 1};
  char32_t c = lead & (0xFF >> (len + 1));
  for (size_t k = 1; k < len; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  return {c, len};
}

}  // namespace

std::string CjkBigrams(std::string_view text) {
  std::string out;
  std::vector<std::string_view> run;  // the characters of the current CJK run
  auto flush = [&] {
    if (run.empty()) return;
    out += ' ';
    if (run.size() == 1) out += run[0];
    for (size_t i = 0; i + 1 < run.size(); ++i) {
      if (i > 0) out += ' ';
      out.append(run[i]).append(run[i + 1]);
    }
    out += ' ';
    run.clear();
  };
  bool any = false;
  for (size_t i = 0; i < text.size();) {
    const auto [c, len] = DecodeAt(text, i);
    if (IsCjk(c)) {
      run.push_back(text.substr(i, len));
      any = true;
    } else {
      flush();
      out.append(text.substr(i, len));
    }
    i += len;
  }
  flush();
  // Text without CJK stays byte for byte what it was.
  return any ? out : std::string(text);
}

std::vector<std::string> Tokenize(std::string_view raw) {
  const std::string split = CjkBigrams(raw);
  const std::string_view text = split;
  std::vector<std::string> tokens;
  std::string token;
  auto emit = [&] {
    if (token.size() >= 2 && token.size() <= 40 && !IsStopWord(token) && InvalidUtf8Offset(token) == std::string_view::npos) {
      tokens.push_back(token);
    }
    token.clear();
  };
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (std::isalnum(u) || u >= 0x80) {
      token += static_cast<char>(std::tolower(u));
    } else {
      emit();
    }
  }
  emit();
  return tokens;
}

int CountWords(std::string_view text) {
  int words = 0;
  bool in_word = false;
  for (char c : text) {
    if (IsSpace(c)) {
      in_word = false;
    } else if (!in_word) {
      in_word = true;
      ++words;
    }
  }
  return words;
}

size_t InvalidUtf8Offset(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const size_t n = s.size();
  // Continuation byte i of the sequence at `at` lies in [lo, hi].
  auto cont = [&](size_t at, size_t i, unsigned char lo, unsigned char hi) {
    return at + i < n && p[at + i] >= lo && p[at + i] <= hi;
  };
  size_t i = 0;
  while (i < n) {
    const unsigned char c = p[i];
    size_t len = 0;
    if (c < 0x80) {
      len = 1;
    } else if (c >= 0xC2 && c <= 0xDF) {
      len = cont(i, 1, 0x80, 0xBF) ? 2 : 0;
    } else if (c == 0xE0) {
      len = cont(i, 1, 0xA0, 0xBF) && cont(i, 2, 0x80, 0xBF) ? 3 : 0;
    } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
      len = cont(i, 1, 0x80, 0xBF) && cont(i, 2, 0x80, 0xBF) ? 3 : 0;
    } else if (c == 0xED) {
      len = cont(i, 1, 0x80, 0x9F) && cont(i, 2, 0x80, 0xBF) ? 3 : 0;
    } else if (c == 0xF0) {
      len = cont(i, 1, 0x90, 0xBF) && cont(i, 2, 0x80, 0xBF) && cont(i, 3, 0x80, 0xBF) ? 4 : 0;
    } else if (c >= 0xF1 && c <= 0xF3) {
      len = cont(i, 1, 0x80, 0xBF) && cont(i, 2, 0x80, 0xBF) && cont(i, 3, 0x80, 0xBF) ? 4 : 0;
    } else if (c == 0xF4) {
      len = cont(i, 1, 0x80, 0x8F) && cont(i, 2, 0x80, 0xBF) && cont(i, 3, 0x80, 0xBF) ? 4 : 0;
    }
    if (len == 0) return i;
    i += len;
  }
  return std::string_view::npos;
}

}  // namespace deskpilot::kb
