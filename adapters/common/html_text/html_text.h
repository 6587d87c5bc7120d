// Help-desk message bodies between HTML and the plain text the pipeline reads.
#pragma once

#include <string>
#include <string_view>

namespace deskpilot {

// <br> is a line break, a <p> a paragraph, other block tags (<div>, <tr>, headings, ...)
// start a new line, <li> a "- " item; <script>/<style>/comments vanish, entities are
// decoded, spaces collapse and at most one blank line is kept. Linear in the input.
std::string HtmlToText(std::string_view html);

// Plain text as HTML an agent's editor shows as written: escaped, line breaks as <br>.
std::string TextToHtml(std::string_view text);

}  // namespace deskpilot
