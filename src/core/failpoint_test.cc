#include "core/failpoint.h"

#include <csignal>

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

TEST(FailPoint, ParsesNamesAndCountsAndRejectsTypos) {
  EXPECT_TRUE(ArmFailPoints("after_lease").ok());
  EXPECT_TRUE(ArmFailPoints("after_enqueue_commit@3,after_write_back").ok());
  EXPECT_TRUE(ArmFailPoints("").ok());
  EXPECT_EQ(ArmFailPoints("after_leese").code(), Code::kInvalidArgument);
  EXPECT_EQ(ArmFailPoints("after_lease@0").code(), Code::kInvalidArgument);
  EXPECT_EQ(ArmFailPoints("after_lease@x").code(), Code::kInvalidArgument);
  EXPECT_TRUE(ArmFailPoints("").ok());  // disarm
  EXPECT_STREQ(FailPointName(FailPoint::kAfterPipeline), "after_pipeline");
}

TEST(FailPoint, UnarmedPointsNeverFire) {
  ASSERT_TRUE(ArmFailPoints("after_write_back").ok());
  for (int i = 0; i < 100; ++i) MaybeFail(FailPoint::kAfterLease);  // not the armed one
  ASSERT_TRUE(ArmFailPoints("").ok());
  for (int i = 0; i < 100; ++i) MaybeFail(FailPoint::kAfterWriteBack);
  SUCCEED();
}

TEST(FailPointDeathTest, KillsWithSigkillOnTheNthHit) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        if (!ArmFailPoints("after_pipeline@3").ok()) std::_Exit(3);
        MaybeFail(FailPoint::kAfterPipeline);
        MaybeFail(FailPoint::kAfterPipeline);
        // Still alive after two hits; the third must not return.
        MaybeFail(FailPoint::kAfterPipeline);
        std::_Exit(0);
      },
      ::testing::KilledBySignal(SIGKILL), "");
  // Alive after two hits (the count is per process, so the parent is unaffected).
  EXPECT_EXIT(
      {
        if (!ArmFailPoints("after_pipeline@3").ok()) std::_Exit(3);
        MaybeFail(FailPoint::kAfterPipeline);
        MaybeFail(FailPoint::kAfterPipeline);
        std::_Exit(0);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace deskpilot
