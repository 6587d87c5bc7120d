#include "deskpilot/json_scan.h"
#include "core/json_scan_test_util.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace deskpilot {
namespace {

using Kind = JsonScalar::Kind;

using testing_util::CompareJsonScanWithNlohmann;
using testing_util::kJsonScanCheckPaths;

TEST(JsonScanTest, ReadsTheMembersAskedFor) {
  const std::string text =
      "\xEF\xBB\xBF {\"id\": \"evt_1\", \"type\":\"ticket.created\", \"ticket_id\": 42,"
      " \"actor\": {\"id\": \"deskpilot-api\", \"role\": \"agent\"}, \"body\": \"long text\\n\","
      " \"a\": {\"b\": {\"c\": [1, 2]}}, \"n\": null}";
  auto r = ScanJsonObject(text, kJsonScanCheckPaths);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].text, "evt_1");
  EXPECT_EQ((*r)[1].text, "ticket.created");
  EXPECT_EQ((*r)[2].kind, Kind::kNumber);
  EXPECT_EQ((*r)[2].IdText(), "42");
  EXPECT_EQ((*r)[3].text, "deskpilot-api");
  EXPECT_EQ((*r)[4].kind, Kind::kArray);
  EXPECT_EQ((*r)[5].kind, Kind::kObject);
  EXPECT_EQ((*r)[6].kind, Kind::kNull);
  EXPECT_EQ(CompareJsonScanWithNlohmann(text), "");
}

TEST(JsonScanTest, DecodesEscapesAndKeepsTheLastOfARepeatedMember) {
  auto r = ScanJsonObject(R"({"\u0069d": "a\"b\\c\/\u00e9\ud83d\ude00\t", "actor": {"id": 1}, "actor": {"x": 2}})",
                          kJsonScanCheckPaths);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)[0].text, "a\"b\\c/\xC3\xA9\xF0\x9F\x98\x80\t");
  EXPECT_EQ((*r)[3].kind, Kind::kMissing) << "the second actor replaces the first, id and all";
}

TEST(JsonScanTest, IdTextIsAStringOrAnInt64) {
  auto id = [](const std::string& value) {
    auto r = ScanJsonObject("{\"id\": " + value + "}", {{"id"}});
    return r.ok() ? (*r)[0].IdText() : "<error>";
  };
  EXPECT_EQ(id("\"abc\""), "abc");
  EXPECT_EQ(id("123"), "123");
  EXPECT_EQ(id("-0"), "0");
  EXPECT_EQ(id("9223372036854775807"), "9223372036854775807");
  EXPECT_EQ(id("9223372036854775808"), "");
  EXPECT_EQ(id("1.0"), "");
  EXPECT_EQ(id("1e3"), "");
  EXPECT_EQ(id("true"), "");
  EXPECT_EQ(id("null"), "");
}

TEST(JsonScanTest, RefusesWhatNlohmannRefuses) {
  const std::vector<std::string> bad = {
      "", " ", "{", "}", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{,}", "{\"a\":1 \"b\":2}", "[1,]",
      "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":+1}", "{\"a\":1e}", "{\"a\":1e400}",
      "{\"a\":-1e400}", "{\"a\":tru}", "{\"a\":nul}", "{\"a\":True}", "{'a':1}", "{\"a\":\"\x01\"}",
      "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\ud800\"}", "{\"a\":\"\\udc00\"}",
      "{\"a\":\"\\ud800\\u0041\"}", "{\"a\":\"\xC0\xAF\"}", "{\"a\":\"\xED\xA0\x80\"}", "{\"a\":\"\xF4\x90\x80\x80\"}",
      "{\"a\":\"\xE2\x82\"}", "{\"a\":\"\xFF\"}", "\xEF\xBB{}", " \xEF\xBB\xBF{}", "{} {}", "{}x",
      "\xff\xfe{}", "{\"a\":\"unterminated}", "{\"a\" 1}", "{\"a\":[1 2]}", "{\"a\":{\"b\":1}"};
  for (const std::string& text : bad) {
    EXPECT_FALSE(ScanJsonObject(text, kJsonScanCheckPaths).ok()) << text;
    EXPECT_EQ(CompareJsonScanWithNlohmann(text), "") << text;
  }
  for (const char* not_object : {"[]", "1", "\"x\"", "null", "true"}) {
    auto r = ScanJsonObject(not_object, kJsonScanCheckPaths);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(), "body is not a JSON object");
  }
  // Stricter than nlohmann, which stops reading at a NUL byte and so accepts this.
  EXPECT_FALSE(ScanJsonObject(std::string("{\"a\":1}\0junk", 12), kJsonScanCheckPaths).ok());
  EXPECT_FALSE(ScanJsonObject(std::string(600, '[') + std::string(600, ']'), kJsonScanCheckPaths).ok()) << "nesting cap";
  EXPECT_TRUE(ScanJsonObject("{\"a\":" + std::string(400, '[') + std::string(400, ']') + "}", kJsonScanCheckPaths).ok());
}

TEST(JsonScanTest, AcceptsWhatNlohmannAccepts) {
  for (const char* text :
       {"{}", " {\"a\" : { } } \n", "{\"a\":-0.0e+0,\"n\":1E-400,\"id\":123456789012345678901234567890}",
        "{\"a\":\"\\u0000\",\"type\":\"\xF0\x9F\x98\x80\xE2\x82\xAC\xC3\xA9\x7F\"}", "{\"a\":[{},[],\"\",0,true,false,null]}",
        "{\"actor\":[{\"id\":1}],\"id\":{\"id\":2}}"}) {
    EXPECT_TRUE(ScanJsonObject(text, kJsonScanCheckPaths).ok()) << text;
    EXPECT_EQ(CompareJsonScanWithNlohmann(text), "") << text;
  }
}

// Random edits of webhook-shaped texts: every verdict and every value must match nlohmann.
// (tests/fuzz/fuzz_json_scan.cc does the same, coverage-guided, in CI.)
TEST(JsonScanTest, AgreesWithNlohmannOnRandomEdits) {
  const std::vector<std::string> seeds = {
      R"({"id":"evt_1","type":"ticket.created","ticket_id":"42","actor":{"id":"u1","role":"agent"}})",
      R"({"id":12,"a":{"b":{"c":"\u00e9\ud83d\ude00"}},"n":[1.5e3,-0,true,null],"actor":null})",
      "{\"type\":\"caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80\",\"ticket_id\":9007199254740993,\"x\":\"\\\\\\\"\\/\\b\\f\\n\\r\\t\"}",
  };
  const std::string alphabet = std::string("{}[]\":,\\/-+.0123456789eEtrufalsn \t\r\nabcdi\x01\x7F\x00\xC3\xA9\xE2\x82\xAC\xED\xF0\xF4\xFF", 53);
  std::mt19937 rng(20261123);
  int accepted = 0;
  for (int round = 0; round < 40000; ++round) {
    std::string text = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !text.empty(); ++e) {
      const size_t at = rng() % text.size();
      switch (rng() % 4) {
        case 0: text.erase(at, 1 + rng() % 3); break;
        case 1: text.insert(at, 1, alphabet[rng() % alphabet.size()]); break;
        case 2: text[at] = alphabet[rng() % alphabet.size()]; break;
        default: text.insert(at, text.substr(rng() % text.size(), 1 + rng() % 8)); break;
      }
    }
    const std::string diff = CompareJsonScanWithNlohmann(text);
    ASSERT_EQ(diff, "") << "on: " << text;
    accepted += ScanJsonObject(text, kJsonScanCheckPaths).ok();
  }
  // Both verdicts must be well exercised, or the agreement says little.
  EXPECT_GT(accepted, 2000);
  EXPECT_LT(accepted, 38000);
}

}  // namespace
}  // namespace deskpilot
