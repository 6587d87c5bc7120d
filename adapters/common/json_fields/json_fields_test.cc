#include "common/json_fields/json_fields.h"

#include <gtest/gtest.h>

namespace deskpilot {
namespace {

using nlohmann::json;

TEST(JsonFieldsTest, StringMembersReadAsEmptyWhenAbsentNullOrOfAnotherType) {
  const json obj = {{"s", "text"}, {"n", 5}, {"z", nullptr}, {"a", json::array({"x"})}};
  EXPECT_EQ(JsonString(obj, "s"), "text");
  EXPECT_EQ(JsonString(obj, "n"), "");
  EXPECT_EQ(JsonString(obj, "z"), "");
  EXPECT_EQ(JsonString(obj, "a"), "");
  EXPECT_EQ(JsonString(obj, "missing"), "");
  EXPECT_EQ(JsonString(json::array({"s"}), "s"), "");
  EXPECT_EQ(JsonString(json(), "s"), "");
}

TEST(JsonFieldsTest, IdsReadTheSameAsNumbersOrStrings) {
  const json obj = {{"num", 42},
                    {"big", 12345678901234567890u},
                    {"str", "42"},
                    {"neg", -7},
                    {"real", 4.2},
                    {"bool", true},
                    {"z", nullptr}};
  EXPECT_EQ(JsonId(obj, "num"), "42");
  EXPECT_EQ(JsonId(obj, "str"), "42");
  EXPECT_EQ(JsonId(obj, "big"), "12345678901234567890");
  EXPECT_EQ(JsonId(obj, "neg"), "-7");  // read as it is; IsPositiveDecimalId refuses it
  EXPECT_EQ(JsonId(obj, "real"), "");
  EXPECT_EQ(JsonId(obj, "bool"), "");
  EXPECT_EQ(JsonId(obj, "z"), "");
  EXPECT_EQ(JsonId(obj, "missing"), "");
  EXPECT_EQ(JsonId(json("42"), "num"), "");
  EXPECT_EQ(JsonIdText(json(7)), "7");
}

TEST(JsonFieldsTest, ScalarsCompareAsText) {
  EXPECT_EQ(JsonScalarText(json("2")), "2");
  EXPECT_EQ(JsonScalarText(json(2)), "2");
  EXPECT_EQ(JsonScalarText(json(true)), "true");
  EXPECT_EQ(JsonScalarText(json::array({1, 2})), "[1,2]");
  EXPECT_EQ(JsonScalarText(json()), "null");
}

TEST(JsonFieldsTest, PositiveDecimalIds) {
  EXPECT_TRUE(IsPositiveDecimalId("1"));
  EXPECT_TRUE(IsPositiveDecimalId("9223372036854775807"));
  EXPECT_FALSE(IsPositiveDecimalId("92233720368547758070"));  // 20 digits
  EXPECT_FALSE(IsPositiveDecimalId("123456789012345678", 17));
  EXPECT_FALSE(IsPositiveDecimalId(""));
  EXPECT_FALSE(IsPositiveDecimalId("0"));
  EXPECT_FALSE(IsPositiveDecimalId("012"));
  EXPECT_FALSE(IsPositiveDecimalId("-7"));
  EXPECT_FALSE(IsPositiveDecimalId("12a"));
  EXPECT_FALSE(IsPositiveDecimalId("1 2"));
}

}  // namespace
}  // namespace deskpilot
