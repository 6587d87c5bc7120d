#include "llm/common/token_budget.h"

#include <filesystem>

#include <gtest/gtest.h>

#include "deskpilot/crypto.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;
using std::chrono::hours;

class BudgetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("deskpilot-budget-" + RandomHex(6));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::unique_ptr<Store> Open() {
    auto s = OpenSqliteStore((dir_ / "t.db").string());
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return std::move(s).value();
  }
  fs::path dir_;
};

TEST(TokenBudgetDay, IsTheUtcDate) {
  // 2026-11-22T23:30:00Z
  auto t = std::chrono::system_clock::from_time_t(1795390200);
  EXPECT_EQ(TokenBudget::UtcDay(t), "2026-11-22");
  EXPECT_EQ(TokenBudget::UtcDay(t + hours(1)), "2026-11-23");
}

TEST_F(BudgetTest, SurvivesARestartAndResetsNextUtcDay) {
  const auto day1 = std::chrono::system_clock::from_time_t(1795390200);  // 23:30 UTC
  {
    auto store = Open();
    TokenBudget b(store.get(), "openai:m", 1000);
    EXPECT_TRUE(b.Check(day1).ok());
    b.Charge(700, day1);
    EXPECT_TRUE(b.Check(day1).ok());
  }
  auto store = Open();  // a restarted process
  TokenBudget b(store.get(), "openai:m", 1000);
  EXPECT_EQ(b.Used(day1), 700);
  b.Charge(300, day1);
  Status s = b.Check(day1);
  EXPECT_EQ(s.code(), Code::kFailedPrecondition);
  EXPECT_FALSE(s.retryable());
  // Another client's budget is its own.
  TokenBudget other(store.get(), "openai:other", 1000);
  EXPECT_TRUE(other.Check(day1).ok());
  // Forty minutes later it is the next UTC day.
  EXPECT_TRUE(b.Check(day1 + std::chrono::minutes(40)).ok());
  EXPECT_EQ(b.Used(day1 + std::chrono::minutes(40)), 0);
}

TEST_F(BudgetTest, ZeroMeansUnlimited) {
  auto store = Open();
  TokenBudget b(store.get(), "x", 0);
  b.Charge(1'000'000'000);
  EXPECT_TRUE(b.Check().ok());
}

}  // namespace
}  // namespace deskpilot
