#include "retriever/fts5/kb_text.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

namespace deskpilot::kb {
namespace {

TEST(ChunkMarkdown, SplitsAtHeadingsAndKeepsParentContext) {
  const std::string md =
      "# Refunds\n"
      "Intro text about refunds.\n"
      "\n"
      "## Start a return\n"
      "1. Go to **Account → Orders**.\n"
      "2. Pick the [items](https://example.com/returns) and a `reason`.\n"
      "### By post\n"
      "Drop the parcel at any UPS location.\n"
      "#### Tip\n"
      "Keep the receipt.\n"
      "## Empty section\n"
      "\n"
      "## Code\n"
      "```\n"
      "curl -X POST /refund\n"
      "```\n";
  std::vector<Chunk> chunks = ChunkMarkdown(md);
  ASSERT_EQ(chunks.size(), 4u);
  EXPECT_EQ(chunks[0].heading, "Refunds");
  EXPECT_EQ(chunks[0].text, "Intro text about refunds.");
  EXPECT_EQ(chunks[1].heading, "Start a return");
  EXPECT_EQ(chunks[1].text, "Go to Account → Orders.\nPick the items (https://example.com/returns) and a reason.");
  EXPECT_EQ(chunks[2].heading, "Start a return > By post");
  EXPECT_EQ(chunks[2].text, "Drop the parcel at any UPS location.\nTip\nKeep the receipt.");
  EXPECT_EQ(chunks[3].heading, "Code");
  EXPECT_EQ(chunks[3].text, "curl -X POST /refund");
}

TEST(ChunkMarkdown, WrappedParagraphLinesAreJoined) {
  std::vector<Chunk> chunks = ChunkMarkdown("first line of a paragraph\nsecond line.\n\n> quoted note\n");
  ASSERT_EQ(chunks.size(), 1u);
  EXPECT_EQ(chunks[0].heading, "");
  EXPECT_EQ(chunks[0].text, "first line of a paragraph second line.\nquoted note");
}

std::string NumberedSentences(int count) {
  std::string text;
  for (int i = 0; i < count; ++i) text += "Sentence number " + std::to_string(i) + " has exactly eight words here. ";
  return text;
}

TEST(ChunkMarkdown, LongSectionIsCappedWithSentenceOverlap) {
  ChunkOptions options;
  options.max_words = 50;
  options.overlap_words = 20;
  std::vector<Chunk> chunks = ChunkMarkdown("## Long\n" + NumberedSentences(30), options);  // 240 words
  ASSERT_GE(chunks.size(), 5u);
  for (size_t i = 0; i < chunks.size(); ++i) {
    EXPECT_LE(CountWords(chunks[i].text), 50) << chunks[i].text;
    EXPECT_EQ(chunks[i].heading, "Long");
  }
  for (size_t i = 1; i < chunks.size(); ++i) {
    std::vector<std::string> previous = SplitSentences(chunks[i - 1].text);
    std::vector<std::string> current = SplitSentences(chunks[i].text);
    // Two 8-word sentences fit the 20-word overlap budget: both are carried over.
    ASSERT_GE(current.size(), 3u);
    EXPECT_EQ(current[0], previous[previous.size() - 2]);
    EXPECT_EQ(current[1], previous[previous.size() - 1]);
  }
  // Nothing is lost: every sentence appears in some chunk.
  std::string all;
  for (const Chunk& c : chunks) all += c.text + "\n";
  for (int i = 0; i < 30; ++i) EXPECT_NE(all.find("number " + std::to_string(i) + " "), std::string::npos) << i;
}

TEST(ChunkMarkdown, OverlongSentenceIsCutToTheCap) {
  std::string sentence;
  for (int i = 0; i < 130; ++i) sentence += "word" + std::to_string(i) + " ";
  ChunkOptions options;
  options.max_words = 50;
  std::vector<Chunk> chunks = ChunkMarkdown(sentence, options);
  ASSERT_EQ(chunks.size(), 3u);
  for (const Chunk& c : chunks) EXPECT_LE(CountWords(c.text), 50);
  EXPECT_NE(chunks[2].text.find("word129"), std::string::npos);
}

TEST(ParseMarkdownMeta, FrontMatterAndTitle) {
  MarkdownMeta meta = ParseMarkdownMeta(
      "---\nid: reset-password\nurl: \"https://help.example/reset\"\nkind: resolved_ticket\n---\n# Resetting a password\nBody.\n");
  EXPECT_EQ(meta.id, "reset-password");
  EXPECT_EQ(meta.url, "https://help.example/reset");
  EXPECT_EQ(meta.kind, "resolved_ticket");
  EXPECT_EQ(meta.title, "Resetting a password");
  EXPECT_EQ(meta.body, "# Resetting a password\nBody.\n");
}

TEST(ParseMarkdownMeta, UnterminatedFrontMatterIsBody) {
  MarkdownMeta meta = ParseMarkdownMeta("---\nid: x\nno closing line\n");
  EXPECT_EQ(meta.id, "");
  EXPECT_EQ(meta.body, "---\nid: x\nno closing line\n");
  EXPECT_EQ(ParseMarkdownMeta("no heading here").title, "");
}

TEST(HtmlToMarkdown, StripsTagsScriptsStylesAndSplitsAtHeadings) {
  const std::string html =
      "<html><head><title>Shipping &amp; delivery</title><style>p{color:red}</style>"
      "<script>var x = '<h2>not a heading</h2>';</script></head><body>"
      "<!-- a comment <h2>hidden</h2> -->"
      "<h1>Shipping</h1><p>We ship <b>worldwide</b>&nbsp;in 3&ndash;5 days.</p>"
      "<H2 class=\"x\">Costs</H2><ul><li>Standard: &#36;5</li><li>Express: &#x24;15</li></ul>"
      "<h3>Returns</h3><p>Use the &lt;returns&gt; page.<br>Thanks.</p></body></html>";
  HtmlDoc doc = HtmlToMarkdown(html);
  EXPECT_EQ(doc.title, "Shipping & delivery");
  EXPECT_EQ(doc.body.find("color"), std::string::npos);
  EXPECT_EQ(doc.body.find("var x"), std::string::npos);
  EXPECT_EQ(doc.body.find("hidden"), std::string::npos);
  std::vector<Chunk> chunks = ChunkMarkdown(doc.body);
  ASSERT_EQ(chunks.size(), 3u);
  EXPECT_EQ(chunks[0].heading, "Shipping");
  EXPECT_EQ(chunks[0].text, "We ship worldwide in 3\u20135 days.");
  EXPECT_EQ(chunks[1].heading, "Costs");
  EXPECT_EQ(chunks[1].text, "Standard: $5\nExpress: $15");
  EXPECT_EQ(chunks[2].heading, "Returns");
  EXPECT_EQ(chunks[2].text, "Use the <returns> page. Thanks.");
}

TEST(HtmlToMarkdown, TitleFallsBackToFirstH1) {
  EXPECT_EQ(HtmlToMarkdown("<h1>Gift <i>cards</i></h1><p>x</p>").title, "Gift cards");
}

// A '<' that cannot open a tag (space, digit, '=' after it) is text, as browsers show
// it: read as a tag it swallowed everything up to the next '>', and "Refunds take < 5
// days ... take > 2 days" became the false "Refunds take 2 days".
TEST(HtmlToMarkdown, ALessThanThatOpensNoTagIsText) {
  const HtmlDoc doc = HtmlToMarkdown(
      "<p>Refunds take < 5 days after we scan the parcel. Exchanges take > 2 days.</p>"
      "<p>Orders <=3 kg ship free; 1<2 and x < y.</p><p>Store credit<br>never expires.</p>");
  EXPECT_NE(doc.body.find("Refunds take < 5 days after we scan the parcel. Exchanges take > 2 days."),
            std::string::npos)
      << doc.body;
  EXPECT_NE(doc.body.find("Orders <=3 kg ship free; 1<2 and x < y."), std::string::npos) << doc.body;
  EXPECT_NE(doc.body.find("Store credit\nnever expires."), std::string::npos) << doc.body;
  EXPECT_EQ(doc.body.find("<p"), std::string::npos) << doc.body;
}

TEST(DecodeHtmlEntities, KnownNumericAndMalformed) {
  EXPECT_EQ(DecodeHtmlEntities("a &amp; b &quot;c&quot; &#233; &#xE9; &#0; &bogus; & &#xZZ;"),
            "a & b \"c\" \u00E9 \u00E9 \uFFFD &bogus; & &#xZZ;");
}

TEST(SplitSentences, AbbreviationsAndLineBreaks) {
  std::vector<std::string> s = SplitSentences("Use a card, e.g. Visa. Or pay later!\nThen wait (about 2 days.) Done?");
  ASSERT_EQ(s.size(), 4u);
  EXPECT_EQ(s[0], "Use a card, e.g. Visa.");
  EXPECT_EQ(s[1], "Or pay later!");
  EXPECT_EQ(s[2], "Then wait (about 2 days.)");
  EXPECT_EQ(s[3], "Done?");
}

TEST(Tokenize, LowercasesDropsStopWordsAndSyntax) {
  std::vector<std::string> t = Tokenize("How do I RESET my \"password\" NEAR(x) AND 2FA-code* caf\u00E9 a");
  EXPECT_EQ(t, (std::vector<std::string>{"reset", "password", "near", "2fa", "code", "caf\u00E9"}));
  EXPECT_EQ(Tokenize("\xff\xfe bad \xc3"), std::vector<std::string>{"bad"});
  EXPECT_TRUE(Tokenize(std::string(100, 'x')).empty());
}

TEST(InvalidUtf8Offset, StrictRfc3629) {
  EXPECT_EQ(InvalidUtf8Offset(""), std::string_view::npos);
  EXPECT_EQ(InvalidUtf8Offset("plain, caf\xc3\xa9, \xe2\x82\xac, \xf0\x9f\x98\x80"), std::string_view::npos);
  EXPECT_EQ(InvalidUtf8Offset("Caf\xe9 returns"), 3u);         // Latin-1
  EXPECT_EQ(InvalidUtf8Offset("ab\xc3"), 2u);                   // cut sequence
  EXPECT_EQ(InvalidUtf8Offset("x\xc0\xaf"), 1u);               // overlong '/'
  EXPECT_EQ(InvalidUtf8Offset("x\xed\xa0\x80"), 1u);          // surrogate U+D800
  EXPECT_EQ(InvalidUtf8Offset("x\xf4\x90\x80\x80"), 1u);     // above U+10FFFF
  EXPECT_EQ(InvalidUtf8Offset("\x80"), 0u);                     // stray continuation byte
}

}  // namespace
}  // namespace deskpilot::kb

namespace deskpilot::kb {
namespace {

TEST(CjkBigrams, SplitsCjkRunsIntoOverlappingBigramsAndLeavesOtherTextAlone) {
  EXPECT_EQ(CjkBigrams("退款多久"), " 退款 款多 多久 ");
  EXPECT_EQ(CjkBigrams("iPhone退款"), "iPhone 退款 ");
  EXPECT_EQ(CjkBigrams("好"), " 好 ");
  EXPECT_EQ(CjkBigrams("退款，多久？"), " 退款 ， 多久 ？");
  EXPECT_EQ(CjkBigrams("パスワード"), " パス スワ ワー ード ");
  EXPECT_EQ(CjkBigrams("Crème brûlée, naïve café"), "Crème brûlée, naïve café");
  EXPECT_EQ(CjkBigrams("bad \xE9\x80 byte"), "bad \xE9\x80 byte");
}

TEST(CjkBigrams, LongChineseQueriesAreNoLongerDropped) {
  // 20 characters, 60 bytes: one token over the 40-byte cap before.
  const std::vector<std::string> tokens = Tokenize("我退回了商品请问退款什么时候能退回到我的账户");
  ASSERT_FALSE(tokens.empty());
  EXPECT_EQ(tokens.front(), "我退");
  EXPECT_NE(std::find(tokens.begin(), tokens.end(), "退款"), tokens.end());
}

}  // namespace
}  // namespace deskpilot::kb
