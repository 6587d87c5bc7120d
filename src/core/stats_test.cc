#include "deskpilot/stats.h"

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

// Expected values are exact sums (Python: sum(comb(n, j) * q**j * (1 - q)**(n - j) ...)).
TEST(BinomialTail, MatchesExactSums) {
  EXPECT_NEAR(BinomialTail(20, 5, 0.02), 3.859090324326966e-05, 1e-15);
  EXPECT_NEAR(BinomialTail(10, 1, 0.02), 0.18292719311245312, 1e-14);
  EXPECT_NEAR(BinomialTail(40, 3, 0.02), 0.04567023044071665, 1e-14);
  EXPECT_NEAR(BinomialTail(3000, 4, 0.0005), 0.06559537184055844, 1e-10);
  EXPECT_NEAR(BinomialTail(6, 3, 0.02), 0.00015291456, 1e-14);
  EXPECT_DOUBLE_EQ(BinomialTail(5, 0, 0.3), 1.0);
  EXPECT_DOUBLE_EQ(BinomialTail(5, 6, 0.3), 0.0);
  EXPECT_DOUBLE_EQ(BinomialTail(5, 2, 0.0), 0.0);
  EXPECT_DOUBLE_EQ(BinomialTail(5, 2, 1.0), 1.0);
  EXPECT_NEAR(BinomialTail(5, 5, 0.5), 1.0 / 32, 1e-15);
}

TEST(TestShortfall, OnlyPrecisionUnderTheTargetBeyondChanceIsShort) {
  EXPECT_TRUE(TestShortfall(20, 5, 0.98).short_of_target);
  EXPECT_FALSE(TestShortfall(10, 1, 0.98).short_of_target);  // 0.18: could be chance
  const Shortfall barely = TestShortfall(40, 3, 0.98);
  EXPECT_TRUE(barely.short_of_target);
  EXPECT_NEAR(barely.p_value, 0.04567023044071665, 1e-14);
  EXPECT_FALSE(TestShortfall(40, 3, 0.98, 0.01).short_of_target);
  // Meeting the target is never short, however few the answers; no answers, nothing to test.
  EXPECT_FALSE(TestShortfall(100, 2, 0.98).short_of_target);
  EXPECT_DOUBLE_EQ(TestShortfall(100, 2, 0.98).p_value, 1.0);
  EXPECT_DOUBLE_EQ(TestShortfall(0, 0, 0.98).p_value, 1.0);
  // A target of 1: any wrong answer is short.
  EXPECT_TRUE(TestShortfall(1000, 1, 1.0).short_of_target);
}

}  // namespace
}  // namespace deskpilot
