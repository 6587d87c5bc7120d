#include "deskpilot/types.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace deskpilot {
namespace {

using nlohmann::json;

TEST(StatusTest, NamesContextAndToString) {
  EXPECT_EQ(CodeName(Code::kInvalidArgument), "INVALID_ARGUMENT");
  EXPECT_EQ(CodeName(Code::kDeadlineExceeded), "DEADLINE_EXCEEDED");
  Status s = Status::Unavailable("connection refused").WithContext("fetch ticket 42");
  EXPECT_EQ(s.message(), "fetch ticket 42: connection refused");
  EXPECT_EQ(s.ToString(), "UNAVAILABLE: fetch ticket 42: connection refused");
  EXPECT_EQ(Status::Ok().WithContext("x").ToString(), "OK");
  Status limited = Status::ResourceExhausted("slow down");
  limited.set_retry_after(std::chrono::milliseconds(1500));
  EXPECT_EQ(limited.WithContext("llm").retry_after(), std::chrono::milliseconds(1500));
  EXPECT_NE(limited.ToString().find("1500 ms"), std::string::npos);
}

TEST(TypesTest, EnumNamesRoundTrip) {
  for (auto r : {Rung::kShadow, Rung::kAssist, Rung::kApprove, Rung::kAutoReply, Rung::kEscalate})
    EXPECT_EQ(ParseRung(RungName(r)), r);
  EXPECT_EQ(RungName(Rung::kAutoReply), "auto_reply");
  EXPECT_FALSE(ParseRung("auto").has_value());
  for (auto a : {AuthorRole::kCustomer, AuthorRole::kAgent, AuthorRole::kSystem})
    EXPECT_EQ(ParseAuthorRole(AuthorRoleName(a)), a);
  EXPECT_FALSE(ParseAuthorRole("bot").has_value());
  EXPECT_EQ(PassageKindName(PassageKind::kResolvedTicket), "resolved_ticket");
  EXPECT_EQ(ActionTypeName(ActionType::kAddInternalNote), "add_internal_note");
  EXPECT_EQ(ActionTypeName(ActionType::kSetCustomField), "set_custom_field");
}

TEST(TypesTest, TriageJsonShape) {
  Triage t;
  Prediction category;
  category.label = "billing";
  category.confidence = 0.9;
  category.alternatives = {{"account", 0.07}};
  t.predictions["category"] = category;
  t.predictions["priority"] = Prediction{"high", 0.6, {}, false};
  t.summary = "refund request";
  t.flags = {"asked_for_human"};
  json j = t;
  EXPECT_EQ(j["category"]["label"], "billing");
  EXPECT_DOUBLE_EQ(j["category"]["confidence"].get<double>(), 0.9);
  EXPECT_EQ(j["category"]["alternatives"][0]["label"], "account");
  EXPECT_EQ(j["category"]["abstained"], false);
  EXPECT_EQ(j["priority"]["label"], "high");
  EXPECT_EQ(j["summary"], "refund request");
  EXPECT_EQ(j["flags"], json::array({"asked_for_human"}));
}

TEST(TypesTest, PassageDraftDecisionJson) {
  Passage p{PassageKind::kKbArticle, "kb-1#2", "kb-1", "Refunds", "https://kb/1", "text", 3.5};
  json pj = p;
  EXPECT_EQ(pj, json({{"kind", "kb_article"}, {"id", "kb-1#2"}, {"doc_id", "kb-1"},
                      {"title", "Refunds"}, {"url", "https://kb/1"}, {"score", 3.5},
                      {"text", "text"}}));
  Draft d{"Hello", {"kb-1"}, true, "extractive", {}, ""};
  EXPECT_EQ(json(d), json({{"body", "Hello"}, {"citations", {"kb-1"}}, {"grounded", true},
                           {"generator", "extractive"}}));
  Decision dec{Rung::kAssist, Rung::kApprove, {"sensitive category"}};
  EXPECT_EQ(json(dec), json({{"rung", "assist"}, {"ladder", "approve"}, {"reasons", {"sensitive category"}}}));
}

TEST(TypesTest, WriteActionJson) {
  WriteAction tags{ActionType::kSetTags, {"a", "b"}, "", ""};
  EXPECT_EQ(json(tags), json({{"action", "set_tags"}, {"tags", {"a", "b"}}}));
  WriteAction prio{ActionType::kSetPriority, {}, "high", ""};
  EXPECT_EQ(json(prio), json({{"action", "set_priority"}, {"value", "high"}}));
  WriteAction field{ActionType::kSetCustomField, {}, "billing", "category"};
  EXPECT_EQ(json(field), json({{"action", "set_custom_field"}, {"field", "category"},
                               {"value", "billing"}}));
  WriteAction note{ActionType::kAddInternalNote, {}, "summary", ""};
  EXPECT_EQ(json(note), json({{"action", "add_internal_note"}, {"body", "summary"}}));
  WriteAction reply{ActionType::kAddPublicReply, {}, "hi", ""};
  EXPECT_EQ(json(reply), json({{"action", "add_public_reply"}, {"body", "hi"}}));
}

TEST(TypesTest, TicketFromJsonFullAndRoundTrip) {
  json in = json::parse(R"({
    "id": 42, "subject": "Refund", "description": "Charged twice",
    "requester": {"email": "ann@example.com", "name": "Ann", "tier": "pro"},
    "channel": "email", "status": "open", "priority": "high", "tags": ["vip"],
    "custom_fields": {"plan": "pro"}, "language": "en",
    "comments": [{"author_role": "customer", "public": true, "body": "hello", "id": "c1"},
                 {"author_role": "agent", "public": false, "body": "note", "author_id": 7}]
  })");
  Ticket t;
  ASSERT_TRUE(TicketFromJson(in, &t).ok());
  EXPECT_EQ(t.id, "42");
  EXPECT_EQ(t.requester.tier, "pro");
  EXPECT_EQ(t.tags, std::vector<std::string>{"vip"});
  EXPECT_EQ(t.custom_fields.at("plan"), "pro");
  ASSERT_EQ(t.comments.size(), 2u);
  EXPECT_EQ(t.comments[1].author_role, AuthorRole::kAgent);
  EXPECT_FALSE(t.comments[1].is_public);
  EXPECT_EQ(t.comments[1].author_id, "7");

  Ticket again;
  ASSERT_TRUE(TicketFromJson(json(t), &again).ok());
  EXPECT_EQ(json(again), json(t));
  EXPECT_EQ(json(t)["comments"][0]["author_role"], "customer");
  EXPECT_EQ(json(t)["requester"]["email"], "ann@example.com");
}

TEST(TypesTest, TicketFromJsonDefaultsOptionalKeys) {
  Ticket t;
  ASSERT_TRUE(TicketFromJson(json{{"subject", "Login broken"}}, &t).ok());
  EXPECT_EQ(t.subject, "Login broken");
  EXPECT_TRUE(t.comments.empty());
  EXPECT_TRUE(t.requester.email.empty());

  ASSERT_TRUE(TicketFromJson(json::parse(R"({"comments":[{"body":"hi"}]})"), &t).ok());
  EXPECT_EQ(t.comments[0].author_role, AuthorRole::kCustomer);
  EXPECT_TRUE(t.comments[0].is_public);
}

TEST(TypesTest, TicketFromJsonNamesBadField) {
  auto error_of = [](const char* text) {
    Ticket t;
    Status s = TicketFromJson(json::parse(text), &t);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << text;
    return s.message();
  };
  EXPECT_EQ(error_of(R"({"subject":"x","comments":[{"body":"a"},{"body":"b","public":"yes"}]})"),
            "comments[1].public: expected boolean");
  EXPECT_NE(error_of(R"({"subject":3})").find("subject"), std::string::npos);
  EXPECT_NE(error_of(R"({"subject":"x","requester":"ann"})").find("requester"), std::string::npos);
  EXPECT_NE(error_of(R"({"subject":"x","requester":{"email":1}})").find("requester.email"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"subject":"x","tags":["a",2]})").find("tags[1]"), std::string::npos);
  EXPECT_NE(error_of(R"({"subject":"x","custom_fields":{"a":1}})").find("custom_fields.a"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"comments":[{"author_role":"bot","body":"x"}]})")
                .find("comments[0].author_role"),
            std::string::npos);
  EXPECT_NE(error_of(R"({"subject":"","description":""})").find("no subject"), std::string::npos);
  EXPECT_NE(error_of(R"([1,2])").find("object"), std::string::npos);
}

}  // namespace
}  // namespace deskpilot
