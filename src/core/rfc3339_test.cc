#include "deskpilot/rfc3339.h"

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

TEST(Rfc3339Test, RoundTripsAndRejectsGarbage) {
  auto t = ParseRfc3339("2024-05-01T12:00:00Z");
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(std::chrono::duration_cast<std::chrono::seconds>(t->time_since_epoch()).count(), 1714564800);
  EXPECT_EQ(FormatRfc3339Utc(*t), "2024-05-01T12:00:00Z");
  auto offset = ParseRfc3339("2024-05-01T14:00:00.123+02:00");
  ASSERT_TRUE(offset.has_value());
  EXPECT_EQ(*offset, *t);
  EXPECT_FALSE(ParseRfc3339("2024-05-01 12:00:00").has_value());  // no zone
  EXPECT_FALSE(ParseRfc3339("2024-02-30T00:00:00Z").has_value());
  EXPECT_FALSE(ParseRfc3339("2024-05-01T12:00:00Zjunk").has_value());
  EXPECT_FALSE(ParseRfc3339("").has_value());
  EXPECT_FALSE(ParseRfc3339("9999-01-01T00:00:00Z").has_value());  // would overflow the clock
}

}  // namespace
}  // namespace deskpilot
