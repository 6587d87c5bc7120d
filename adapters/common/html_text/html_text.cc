// One HTML reading (with a linear-time <script> skip) for every help desk whose bodies
// are HTML: Zammad, Freshdesk (when a body has no text twin) and Help Scout.
#include "common/html_text/html_text.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <map>
#include <vector>

#include "deskpilot/text.h"

namespace deskpilot {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void AppendUtf8(uint32_t cp, std::string* out) {
  if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out->push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out->push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Decodes the entity at html[i] ('&') into *out; returns the bytes consumed, 0 when it
// is not an entity this knows (the '&' is then kept as text).
size_t DecodeEntity(std::string_view html, size_t i, std::string* out) {
  const size_t semi = html.find(';', i);
  if (semi == std::string_view::npos || semi - i > 10) return 0;
  const std::string name(html.substr(i + 1, semi - i - 1));
  static const std::map<std::string, std::string> kNamed = {
      {"amp", "&"}, {"lt", "<"}, {"gt", ">"}, {"quot", "\""}, {"apos", "'"}, {"nbsp", " "}};
  if (auto it = kNamed.find(name); it != kNamed.end()) {
    *out += it->second;
    return semi - i + 1;
  }
  if (name.size() < 2 || name[0] != '#') return 0;
  const bool hex = name[1] == 'x' || name[1] == 'X';
  const std::string digits = name.substr(hex ? 2 : 1);
  if (digits.empty() || digits.size() > 7) return 0;
  uint32_t cp = 0;
  for (char c : digits) {
    const int d = HexValue(c);
    if (d < 0 || (!hex && d > 9)) return 0;
    cp = cp * (hex ? 16 : 10) + static_cast<uint32_t>(d);
  }
  AppendUtf8(cp, out);
  return semi - i + 1;
}

// Ends `raw` with at least `breaks` line breaks (none at the very start), spaces
// before them dropped: adjacent block tags make one break, not a blank line each.
void EnsureBreaks(std::string* raw, int breaks) {
  while (!raw->empty() && raw->back() == ' ') raw->pop_back();
  if (raw->empty()) return;
  int have = 0;
  for (auto it = raw->rbegin(); it != raw->rend() && *it == '\n'; ++it) ++have;
  for (; have < breaks; ++have) raw->push_back('\n');
}

}  // namespace

std::string HtmlToText(std::string_view html) {
  static const std::vector<std::string> kBlocks = {"div", "li", "tr", "ul", "ol", "table", "blockquote",
                                                   "h1", "h2", "h3", "h4", "h5", "h6", "pre", "hr"};
  std::string raw;
  size_t i = 0;
  while (i < html.size()) {
    const char c = html[i];
    if (c == '<') {
      if (html.compare(i, 4, "<!--") == 0) {
        const size_t close = html.find("-->", i + 4);
        i = close == std::string_view::npos ? html.size() : close + 3;
        continue;
      }
      const size_t end = html.find('>', i);
      if (end == std::string_view::npos) break;  // an unterminated tag: the rest is markup
      size_t n = i + 1;
      const bool closing = n < end && html[n] == '/';
      if (closing) ++n;
      std::string name;
      while (n < end && std::isalnum(static_cast<unsigned char>(html[n]))) name += html[n++];
      name = AsciiLower(name);
      i = end + 1;
      if (!closing && (name == "script" || name == "style")) {
        // Found without copying the rest of the body: a lowered copy per tag made a body
        // of many short <script></script> pairs quadratic.
        const std::string close_tag = "</" + name;
        size_t at = i;
        while ((at = html.find("</", at)) != std::string_view::npos &&
               AsciiLower(html.substr(at, close_tag.size())) != close_tag)
          at += 2;
        const size_t gt = at == std::string_view::npos ? at : html.find('>', at);
        i = gt == std::string_view::npos ? html.size() : gt + 1;
        continue;
      }
      if (name == "br") {
        while (!raw.empty() && raw.back() == ' ') raw.pop_back();
        raw += '\n';
      } else if (name == "p") {
        EnsureBreaks(&raw, 2);
      } else if (std::find(kBlocks.begin(), kBlocks.end(), name) != kBlocks.end()) {
        EnsureBreaks(&raw, 1);
        if (!closing && name == "li") raw += "- ";
      }
      continue;
    }
    if (c == '&') {
      if (const size_t used = DecodeEntity(html, i, &raw)) {
        i += used;
        continue;
      }
    }
    // Source line breaks are only whitespace in HTML.
    raw += (c == '\n' || c == '\r' || c == '\t') ? ' ' : c;
    ++i;
  }
  // Tidy: spaces collapsed and trimmed per line, at most one blank line in a row.
  std::string out;
  int pending_breaks = 0;
  size_t start = 0;
  while (start <= raw.size()) {
    size_t stop = raw.find('\n', start);
    if (stop == std::string::npos) stop = raw.size();
    std::string line;
    for (char ch : TrimAsciiSpace(std::string_view(raw).substr(start, stop - start))) {
      if (ch == ' ' && !line.empty() && line.back() == ' ') continue;
      line += ch;
    }
    if (line.empty()) {
      ++pending_breaks;
    } else {
      if (!out.empty()) out += pending_breaks > 0 ? "\n\n" : "\n";
      out += line;
      pending_breaks = 0;
    }
    start = stop + 1;
  }
  return out;
}

std::string TextToHtml(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\n': out += "<br>"; break;
      case '\r': break;
      default: out += c;
    }
  }
  return out;
}


}  // namespace deskpilot
