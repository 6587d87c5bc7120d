#include "helpdesk/zammad/zammad_helpdesk.h"

#include <stdlib.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "deskpilot/registry.h"
#include "helpdesk/zammad/register.h"

namespace deskpilot {
namespace {

using nlohmann::json;
using std::chrono::milliseconds;

constexpr char kToken[] = "zammad_sig_test";
// Computed independently:
//   printf '%s' BODY | openssl dgst -sha1 -hmac zammad_sig_test
constexpr char kVectorBody[] =
    R"({"ticket":{"id":42,"title":"Cannot log in","updated_by_id":7,"updated_by":{"id":7,"login":"bob@example.com"}},"article":{"id":101,"created_by_id":7,"sender":"Customer","internal":false}})";
constexpr char kVectorSignature[] = "sha1=be77f4082b91ef3b6d02a82c1829f53af88efe8f";
constexpr char kApiUser[] = "3";

ZammadOptions Options(const std::string& base_url = "http://127.0.0.1:1") {
  ZammadOptions o;
  o.name = "zm";
  o.base_url = base_url;
  o.api_token = "zm-test-token";
  o.signature_token = kToken;
  o.api_user_id = kApiUser;
  o.request_timeout = milliseconds(3000);
  o.retry.base_delay = milliseconds(1);
  o.retry.max_delay = milliseconds(5);
  return o;
}

WebhookRequest Req(std::string_view body, std::map<std::string, std::string> headers = {}) {
  WebhookRequest r;
  r.body = body;
  r.headers = std::move(headers);
  r.now = std::chrono::system_clock::now();
  return r;
}

class ZammadWebhookTest : public ::testing::Test {
 protected:
  std::unique_ptr<HttpClient> http_ = NewCurlHttpClient();
  std::unique_ptr<Helpdesk> hd_ = NewZammadHelpdesk(Options(), http_.get());
};

TEST_F(ZammadWebhookTest, AcceptsTheKnownSignatureVectorInEitherHexCase) {
  EXPECT_TRUE(hd_->VerifyWebhook(Req(kVectorBody, {{"x-hub-signature", kVectorSignature}})).ok());
  std::string upper = kVectorSignature;
  for (size_t i = 5; i < upper.size(); ++i) upper[i] = static_cast<char>(std::toupper(upper[i]));
  EXPECT_TRUE(hd_->VerifyWebhook(Req(kVectorBody, {{"x-hub-signature", upper}})).ok());
}

TEST_F(ZammadWebhookTest, RejectsTamperingWrongTokenMissingMalformedAndRepeatedSignatures) {
  auto rejected = [&](const WebhookRequest& r) {
    Status st = hd_->VerifyWebhook(r);
    EXPECT_EQ(st.code(), Code::kUnauthenticated) << st.ToString();
    EXPECT_EQ(st.message().find(kToken), std::string::npos);
  };
  std::string tampered = kVectorBody;
  tampered[tampered.find("42")] = '7';
  rejected(Req(tampered, {{"x-hub-signature", kVectorSignature}}));
  rejected(Req(kVectorBody, {{"x-hub-signature", "sha1=" + HexEncode(HmacSha1("other", kVectorBody))}}));
  // SHA-256 of the right token is not what Zammad sends.
  rejected(Req(kVectorBody, {{"x-hub-signature", "sha256=" + HexEncode(HmacSha256(kToken, kVectorBody))}}));
  rejected(Req(kVectorBody, {{"x-hub-signature", std::string(kVectorSignature).substr(5)}}));  // no sha1=
  rejected(Req(kVectorBody, {{"x-hub-signature", "sha1=zz"}}));
  rejected(Req(kVectorBody, {{"x-hub-signature", "sha1="}}));
  rejected(Req(kVectorBody, {{"x-hub-signature", ""}}));
  rejected(Req(kVectorBody, {}));
  // The listener joins a repeated header with ", " (RFC 9110): never accepted, even when
  // one of the copies is right.
  rejected(Req(kVectorBody, {{"x-hub-signature", std::string(kVectorSignature) + ", " + kVectorSignature}}));
  rejected(Req(kVectorBody, {{"x-hub-signature", std::string(kVectorSignature) + ", sha1=00"}}));
}

TEST_F(ZammadWebhookTest, ParsesTheDefaultPayloadAndDedupesOnTheDeliveryId) {
  auto ev = hd_->ParseWebhook(Req(kVectorBody, {{"x-zammad-delivery", "job-7f3a"}}));
  ASSERT_TRUE(ev.ok()) << ev.status().ToString();
  EXPECT_EQ(ev->ticket_id, "42");
  EXPECT_EQ(ev->event_type, "ticket.article_created");
  EXPECT_EQ(ev->dedupe_key, "zammad:zm:job-7f3a");
  EXPECT_FALSE(ev->self_caused);
  // Zammad's retry of the same delivery has the same key.
  EXPECT_EQ(hd_->ParseWebhook(Req(kVectorBody, {{"x-zammad-delivery", "job-7f3a"}}))->dedupe_key, ev->dedupe_key);

  // Without the header, the body's hash identifies the delivery.
  auto no_header = hd_->ParseWebhook(Req(kVectorBody));
  ASSERT_TRUE(no_header.ok());
  EXPECT_EQ(no_header->dedupe_key, "zammad:zm:sha256:" + Sha256Hex(kVectorBody));

  // A ticket-only payload (a trigger on a field change) with a string id.
  auto update = hd_->ParseWebhook(Req(R"({"ticket":{"id":"43","updated_by_id":9},"article":null})"));
  ASSERT_TRUE(update.ok()) << update.status().ToString();
  EXPECT_EQ(update->ticket_id, "43");
  EXPECT_EQ(update->event_type, "ticket.updated");
}

TEST_F(ZammadWebhookTest, MalformedPayloadsAreInvalidArgument) {
  for (const char* bad : {"", "{", "[1]", "null", R"({"article":{"id":1}})", R"({"ticket":"42"})",
                          R"({"ticket":{}})", R"({"ticket":{"id":"abc"}})", R"({"ticket":{"id":0}})",
                          R"({"ticket":{"id":-4}})", R"({"ticket":{"id":4.5}})", R"({"ticket":{"id":42}} trailing)"}) {
    auto r = hd_->ParseWebhook(Req(bad));
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument) << bad;
    EXPECT_NE(r.status().message().find("zammad webhook"), std::string::npos) << r.status().ToString();
  }
}

TEST_F(ZammadWebhookTest, EventsCausedByTheApiUserAreSelfCaused) {
  // deskpilot's own note: the article's author is the API user.
  auto note = hd_->ParseWebhook(Req(R"({"ticket":{"id":42,"updated_by_id":3},"article":{"id":5,"created_by_id":3}})"));
  ASSERT_TRUE(note.ok());
  EXPECT_TRUE(note->self_caused);
  // deskpilot's own tag or priority change: no article, the ticket's updater.
  auto update = hd_->ParseWebhook(Req(R"({"ticket":{"id":42,"updated_by_id":3}})"));
  ASSERT_TRUE(update.ok());
  EXPECT_TRUE(update->self_caused);
  // Only the expanded association carries the id.
  auto expanded = hd_->ParseWebhook(Req(R"({"ticket":{"id":42,"updated_by":{"id":3}}})"));
  ASSERT_TRUE(expanded.ok());
  EXPECT_TRUE(expanded->self_caused);
  // A customer's article on a ticket deskpilot updated last is the customer's event.
  auto customer = hd_->ParseWebhook(Req(R"({"ticket":{"id":42,"updated_by_id":3},"article":{"id":6,"created_by_id":7}})"));
  ASSERT_TRUE(customer.ok());
  EXPECT_FALSE(customer->self_caused);
  // "30" is not "3".
  EXPECT_FALSE(hd_->ParseWebhook(Req(R"({"ticket":{"id":42,"updated_by_id":30}})"))->self_caused);
}

TEST(ZammadConfigTest, FactoryValidatesKeys) {
  setenv("DP_ZM_TEST_TOKEN", "tok", 1);
  setenv("DP_ZM_TEST_SIG", "sig", 1);
  setenv("DP_ZM_TEST_EMPTY", "", 1);
  auto http = NewCurlHttpClient();
  Registry registry;
  RegisterZammadHelpdesk(registry);
  auto make = [&](const json& section) {
    ConfigSection s(section, "helpdesk[0]");
    AdapterContext ctx;
    ctx.section = &s;
    ctx.name = "zm";
    ctx.http = http.get();
    return registry.MakeHelpdesk("zammad", ctx);
  };
  json good = {{"name", "zm"},
               {"type", "zammad"},
               {"base_url", "https://desk.example.com/"},
               {"api_token_env", "DP_ZM_TEST_TOKEN"},
               {"signature_token_env", "DP_ZM_TEST_SIG"},
               {"api_user_id", 3},
               {"priorities", {{"urgent", "4 urgent"}}},
               {"groups", {{"billing", "Billing"}}}};
  auto hd = make(good);
  ASSERT_TRUE(hd.ok()) << hd.status().ToString();
  EXPECT_EQ((*hd)->type(), "zammad");
  json string_id = good;
  string_id["api_user_id"] = "3";
  EXPECT_TRUE(make(string_id).ok());

  auto error_names = [&](json section, const std::string& key) {
    auto r = make(section);
    ASSERT_FALSE(r.ok()) << section.dump();
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(key), std::string::npos) << r.status().ToString();
  };
  json unknown = good;
  unknown["colour"] = "blue";
  error_names(unknown, "colour");
  json no_url = good;
  no_url.erase("base_url");
  error_names(no_url, "base_url");
  json api_suffix = good;
  api_suffix["base_url"] = "https://desk.example.com/api/v1";
  error_names(api_suffix, "base_url");
  json no_token = good;
  no_token.erase("api_token_env");
  error_names(no_token, "api_token");
  json no_signature = good;
  no_signature.erase("signature_token_env");
  error_names(no_signature, "signature_token");
  json empty_signature = good;
  empty_signature["signature_token_env"] = "DP_ZM_TEST_EMPTY";
  error_names(empty_signature, "signature_token_env");
  json inline_signature = good;
  inline_signature.erase("signature_token_env");
  inline_signature["signature_token"] = "sig";
  error_names(inline_signature, "signature_token");
  json no_user = good;
  no_user.erase("api_user_id");
  error_names(no_user, "api_user_id");
  json bad_user = good;
  bad_user["api_user_id"] = "bot";
  error_names(bad_user, "api_user_id");
  json bad_priority = good;
  bad_priority["priorities"] = {{"critical", "4 critical"}};
  error_names(bad_priority, "priorities.critical");
  json empty_group = good;
  empty_group["groups"]["billing"] = "";
  error_names(empty_group, "groups.billing");
}

}  // namespace
}  // namespace deskpilot
