// Byte-level ASCII helpers shared by the core and the adapters. They never change a byte
// >= 0x80 and never change the length, so UTF-8 text keeps its byte offsets (redaction and
// search map positions found in the lowered text back onto the original), and they do
// not depend on the C locale.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace deskpilot {

// 'A'..'Z' → 'a'..'z'; every other byte as it is.
std::string AsciiLower(std::string_view s);

// `s` without leading and trailing ASCII whitespace (space, \t, \n, \v, \f, \r).
std::string_view TrimAsciiSpace(std::string_view s);

// `s` with every run of spaces, tabs and line breaks made one space and none at either
// end: how the help-desk adapters compare a reply they posted with what the desk shows
// (its editor or sanitizer may re-wrap the text).
std::string SquashSpace(std::string_view s);

// Whether `tags` holds `tag`, compared without ASCII case: desks differ in whether they
// keep a tag's case (Zendesk and Help Scout store it lowered), so deskpilot matches its
// own tags and the policy's approval tag this way everywhere.
bool HasTagIgnoringCase(const std::vector<std::string>& tags, std::string_view tag);

// `s` with every control character (C0 including line breaks, DEL, and C1: U+0080..U+009F,
// which some terminals obey as escapes) made a space. Outside text (a vendor's error body,
// a ticket subject, another integration's webhook name) goes through it before a log line
// or a terminal: it stays on one line and cannot move the cursor, recolour or forge lines.
// Keeps every other byte, so a lone or broken UTF-8 sequence stays for JSON to replace.
std::string OneLineText(std::string_view s);

// The longest prefix of `s` of at most `max_bytes` that does not end inside a UTF-8
// sequence: a cut at a byte count can split a character, and the broken tail makes the
// text invalid UTF-8, which JSON serialisation refuses.
std::string_view Utf8Prefix(std::string_view s, size_t max_bytes);

}  // namespace deskpilot
