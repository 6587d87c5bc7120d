#include "deskpilot/text.h"

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

TEST(AsciiLower, LowersAsciiLettersOnlyAndKeepsTheLength) {
  EXPECT_EQ(AsciiLower("Hello WORLD 42 [Z]@"), "hello world 42 [z]@");
  // UTF-8 bytes are left alone: "ÄÖ" keeps its two-byte sequences and offsets.
  const std::string utf8 = "\xC3\x84\xC3\x96 Straße";
  EXPECT_EQ(AsciiLower(utf8), "\xC3\x84\xC3\x96 stra\xC3\x9F" "e");
  EXPECT_EQ(AsciiLower(utf8).size(), utf8.size());
  EXPECT_EQ(AsciiLower(""), "");
}

// Every control character a log or terminal could act on becomes one space; printable
// text, non-ASCII included, is untouched.
TEST(OneLineText, ControlCharactersBecomeSpacesAndTextStays) {
  EXPECT_EQ(OneLineText("plain text, caf\xc3\xa9 \xe2\x82\xac 5"), "plain text, caf\xc3\xa9 \xe2\x82\xac 5");
  EXPECT_EQ(OneLineText("a\x1b[2Jb\rc\nd\te\x07" "f\x7fg"), "a [2Jb c d e f g");
  // C1 controls (U+0080..U+009F, C2 80..C2 9F in UTF-8) are one space each; U+00A0 stays.
  EXPECT_EQ(OneLineText("x\xc2\x9b" "31my\xc2\x80z\xc2\xa0"), "x 31my z\xc2\xa0");
  // A lone lead byte at the end is left for the JSON layer to replace.
  EXPECT_EQ(OneLineText("end\xc2"), "end\xc2");
  EXPECT_EQ(OneLineText(""), "");
}

TEST(Utf8Prefix, NeverEndsInsideACharacter) {
  EXPECT_EQ(Utf8Prefix("abc", 10), "abc");
  EXPECT_EQ(Utf8Prefix("abc", 2), "ab");
  const std::string s = "ab\xC3\xA9z\xE2\x82\xAC";  // "abéz€"
  EXPECT_EQ(Utf8Prefix(s, 3), "ab");                 // inside é
  EXPECT_EQ(Utf8Prefix(s, 4), "ab\xC3\xA9");
  EXPECT_EQ(Utf8Prefix(s, 6), "ab\xC3\xA9z");         // inside €
  EXPECT_EQ(Utf8Prefix(s, 7), "ab\xC3\xA9z");
  EXPECT_EQ(Utf8Prefix(s, 8), s);
  EXPECT_EQ(Utf8Prefix("", 0), "");
}

TEST(HasTagIgnoringCase, MatchesWholeTagsWithoutAsciiCase) {
  const std::vector<std::string> tags = {"vip", "Deskpilot_Approved"};
  EXPECT_TRUE(HasTagIgnoringCase(tags, "deskpilot_approved"));
  EXPECT_TRUE(HasTagIgnoringCase(tags, "VIP"));
  EXPECT_FALSE(HasTagIgnoringCase(tags, "deskpilot_approve"));
  EXPECT_FALSE(HasTagIgnoringCase(tags, "vip2"));
  EXPECT_FALSE(HasTagIgnoringCase({}, "vip"));
}

TEST(SquashSpace, MakesEveryWhitespaceRunOneSpaceAndTrimsTheEnds) {
  EXPECT_EQ(SquashSpace("  Hello\r\n\n  there,\tfriend \n"), "Hello there, friend");
  EXPECT_EQ(SquashSpace("a b"), "a b");
  EXPECT_EQ(SquashSpace(" \n\t "), "");
}

TEST(TrimAsciiSpace, TrimsEveryAsciiWhitespaceAtBothEndsOnly) {
  EXPECT_EQ(TrimAsciiSpace(" \t\r\n\v\fa b\t \n"), "a b");
  EXPECT_EQ(TrimAsciiSpace("   "), "");
  EXPECT_EQ(TrimAsciiSpace("x"), "x");
  EXPECT_EQ(TrimAsciiSpace("\xC2\xA0x"), "\xC2\xA0x");  // a UTF-8 no-break space is not ASCII space
}

}  // namespace
}  // namespace deskpilot
