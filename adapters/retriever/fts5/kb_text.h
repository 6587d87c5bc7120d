// Text handling for the knowledge base: Markdown/HTML parsing, heading-aware chunking,
// and the tokenizer used to turn untrusted ticket text into safe FTS5 queries.
//
// Everything here is pure (no I/O, no globals with state) and therefore thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace deskpilot::kb {

// One retrievable unit of an article: the section heading it sits under and its text.
struct Chunk {
  std::string heading;  // "" for text before the first heading
  std::string text;     // plain text; list items and paragraphs separated by '\n'
};

struct ChunkOptions {
  int max_words = 250;     // a section longer than this is split
  int overlap_words = 40;  // up to two trailing sentences carried into the next piece
};

// Splits Markdown-ish text into chunks at "#", "##" and "###" headings; a "###" heading
// is prefixed with its parent "##" ("Billing > Refunds") so the FTS heading column
// keeps context. Inline markup (**, __, `, links, list markers, fences) is removed. A
// section over max_words is cut at sentence boundaries, each piece starting with the
// last one or two sentences of the previous piece so an answer that straddles the cut
// stays findable. Sections without text produce no chunk.
std::vector<Chunk> ChunkMarkdown(std::string_view text, const ChunkOptions& options = {});

// A Markdown file's metadata. Front matter is an optional leading block delimited by
// "---" lines with "key: value" pairs; id, url, title and kind are recognised.
struct MarkdownMeta {
  std::string id;
  std::string url;
  std::string title;  // front matter title, else the first "# " heading, else ""
  std::string kind;
  std::string body;   // the text after the front matter
};
MarkdownMeta ParseMarkdownMeta(std::string_view text);

// HTML → title plus a Markdown-like body that ChunkMarkdown understands: <script>,
// <style>, comments and <head> are dropped, <h1>-<h3> become "## " heading lines, block
// elements become line breaks, <li> becomes "- ", entities are decoded.
struct HtmlDoc {
  std::string title;  // <title>, else the first <h1>, else ""
  std::string body;
};
HtmlDoc HtmlToMarkdown(std::string_view html);

// Decodes the named entities that occur in practice plus numeric &#NNN; / &#xHH;.
// Unknown or malformed entities are left as they are.
std::string DecodeHtmlEntities(std::string_view text);

// Splits plain text into sentences at ".", "!" or "?" followed by whitespace, and at
// line breaks. Common abbreviations ("e.g.", "i.e.", "etc.") do not end a sentence.
// Sentences are trimmed; empty ones are dropped.
std::vector<std::string> SplitSentences(std::string_view text);

// `text` with every run of CJK characters (kana, Han ideographs, Hangul syllables)
// replaced by its overlapping character bigrams, separated by spaces ("退款多久" → " 退款 款多 多久 "; a lone character stays as it is).
// Those scripts put no spaces between words, so FTS5's unicode61 tokenizer would read a
// whole clause as one token that no query repeats; bigrams are the usual unit to index
// and query them by. Text without CJK is returned unchanged. Applied to what kb_fts and
// kb_answered_fts index and, through Tokenize, to queries.
std::string CjkBigrams(std::string_view text);

// Lower-cased word tokens (ASCII letters/digits plus any non-ASCII UTF-8 sequence) of
// CjkBigrams(text), with stop words, one-character tokens, tokens over 40 bytes and
// tokens holding invalid UTF-8 removed. The output can contain no FTS5 syntax characters.
std::vector<std::string> Tokenize(std::string_view text);

bool IsStopWord(std::string_view lower_word);

int CountWords(std::string_view text);

// Byte offset of the first byte that does not start a well-formed UTF-8 sequence (RFC 3629:
// no overlongs, no surrogates, nothing above U+10FFFF: what nlohmann::json accepts and
// dumps), or npos when `s` is valid UTF-8.
size_t InvalidUtf8Offset(std::string_view s);

}  // namespace deskpilot::kb
