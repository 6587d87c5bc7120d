#include "common/html_text/html_text.h"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

TEST(HtmlTextTest, BlocksEntitiesAndHiddenContent) {
  EXPECT_EQ(HtmlToText("<div>Hello&nbsp;team,</div><!-- <p>hidden</p> --><style>p{color:red}</style>"
                       "<script>alert(1)</script><p>The   invoice\n  shows &#8364;12 &amp; not &#x24;10 &lt;sic&gt;.</p>"
                       "<ul><li>one</li><li>two</li></ul>Thanks<br>Bob &unknown; &"),
            "Hello team,\n\nThe invoice shows \u20ac12 & not $10 <sic>.\n\n- one\n- two\nThanks\nBob &unknown; &");
  EXPECT_EQ(HtmlToText("plain text"), "plain text");
  EXPECT_EQ(HtmlToText("<p>a</p><p></p><p></p><p>b</p>"), "a\n\nb");
  EXPECT_EQ(HtmlToText("before<b unterminated"), "before");
}

TEST(HtmlTextTest, ManyScriptTagsAreSkippedInLinearTime) {
  std::string body = "<p>Before</p><SCRIPT>a</ScRiPt>";
  for (int i = 0; i < 50000; ++i) body += "<script></script>";
  body += "<style>p{}</style><p>after</p><script>never closed";
  const auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(HtmlToText(body), "Before\n\nafter");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(HtmlTextTest, TextToHtmlEscapesAndKeepsLines) {
  EXPECT_EQ(TextToHtml("a & <b> \"c\"\r\n\nd"), "a &amp; &lt;b&gt; &quot;c&quot;<br><br>d");
  EXPECT_EQ(HtmlToText(TextToHtml("Summary: x & <y>\n\ndeskpilot-ref: k")), "Summary: x & <y>\n\ndeskpilot-ref: k");
}

}  // namespace
}  // namespace deskpilot
