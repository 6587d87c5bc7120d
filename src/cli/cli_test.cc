// Helpers shared by the subcommands (cli.cc).
#include <string>

#include <gtest/gtest.h>

#include "cli/commands.h"

namespace deskpilot::cli {
namespace {

// Every control character a terminal could act on becomes one space; printable text,
// including non-ASCII, is untouched and the byte count of the rest is kept.
TEST(TerminalSafeTest, ControlCharactersBecomeSpacesAndTextStays) {
  EXPECT_EQ(TerminalSafe("plain text, caf\xc3\xa9 \xe2\x82\xac 5"), "plain text, caf\xc3\xa9 \xe2\x82\xac 5");
  EXPECT_EQ(TerminalSafe("a\x1b[2Jb\rc\nd\te\x07" "f\x7fg"), "a [2Jb c d e f g");
  // C1 controls (U+0080..U+009F, C2 80..C2 9F in UTF-8) are one space each; U+00A0 stays.
  EXPECT_EQ(TerminalSafe("x\xc2\x9b" "31my\xc2\x80z\xc2\xa0"), "x 31my z\xc2\xa0");
  // A lone lead byte at the end is left for the JSON/UTF-8 layer to replace.
  EXPECT_EQ(TerminalSafe("end\xc2"), "end\xc2");
  EXPECT_EQ(TerminalSafe(""), "");
}

}  // namespace
}  // namespace deskpilot::cli
