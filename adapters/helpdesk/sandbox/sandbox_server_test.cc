#include "helpdesk/sandbox/sandbox_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "deskpilot/rfc3339.h"
#include "common/loopback_server/loopback_server.h"

namespace deskpilot {
namespace {

using nlohmann::json;

constexpr char kToken[] = "test-token";

std::string UniqueTempDir() {
  auto dir = std::filesystem::temp_directory_path() /
             ("deskpilot_sandbox_server_test_" + std::to_string(getpid()) + "_" + RandomHex(6));
  std::filesystem::create_directories(dir);
  return dir.string();
}

class SandboxServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = UniqueTempDir();
    server_ = std::make_unique<SandboxServer>(Options());
    ASSERT_TRUE(server_->Start().ok());
    client_ = std::make_unique<httplib::Client>("127.0.0.1", server_->port());
    client_->set_default_headers({{"Authorization", std::string("Bearer ") + kToken}});
  }
  void TearDown() override {
    server_->Stop();
    std::filesystem::remove_all(dir_);
  }
  SandboxOptions Options() const {
    SandboxOptions o;
    o.db_path = dir_ + "/sandbox.db";
    o.api_token = kToken;
    o.webhook_secret = "whsec_sandbox_test";
    return o;
  }
  std::string CreateTicket(const std::string& subject = "Refund please") {
    json body = {{"subject", subject},
                 {"description", "I was charged twice."},
                 {"requester", {{"email", "ann@example.com"}, {"name", "Ann"}}},
                 {"channel", "email"},
                 {"tags", {"vip"}}};
    auto r = client_->Post("/api/tickets", body.dump(), "application/json");
    EXPECT_TRUE(r);
    EXPECT_EQ(r->status, 201) << r->body;
    return json::parse(r->body)["ticket"]["id"].get<std::string>();
  }
  json Stats() {
    auto r = client_->Get("/api/_stats");
    EXPECT_TRUE(r && r->status == 200);
    return json::parse(r->body);
  }

  std::string dir_;
  std::unique_ptr<SandboxServer> server_;
  std::unique_ptr<httplib::Client> client_;
};

TEST_F(SandboxServerTest, CreateGetListAndComments) {
  const std::string first = CreateTicket("first");
  const std::string second = CreateTicket("second");
  EXPECT_EQ(first, "1");
  EXPECT_EQ(second, "2");

  auto r = client_->Get("/api/tickets/" + first);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  json t = json::parse(r->body)["ticket"];
  EXPECT_EQ(t["subject"], "first");
  EXPECT_EQ(t["status"], "new");
  EXPECT_TRUE(t["priority"].is_null());
  EXPECT_EQ(t["tags"], json({"vip"}));
  EXPECT_TRUE(t["custom_fields"].is_object());
  EXPECT_EQ(t["requester"]["email"], "ann@example.com");
  EXPECT_EQ(t["channel"], "email");
  EXPECT_TRUE(ParseRfc3339(t["created_at"].get<std::string>()).has_value());

  r = client_->Get("/api/tickets?limit=1");
  ASSERT_TRUE(r && r->status == 200);
  json list = json::parse(r->body)["tickets"];
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["id"], second);  // newest first

  r = client_->Post("/api/tickets/" + first + "/comments",
                    json{{"body", "Any news?"}}.dump(), "application/json");
  ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "");
  r = client_->Post("/api/tickets/" + first + "/comments",
                    json{{"body", "Looking"}, {"author_role", "agent"}, {"author_id", "agent-7"},
                         {"public", false}}.dump(),
                    "application/json");
  ASSERT_TRUE(r && r->status == 201);

  r = client_->Get("/api/tickets/" + first + "/comments");
  ASSERT_TRUE(r && r->status == 200);
  json comments = json::parse(r->body)["comments"];
  ASSERT_EQ(comments.size(), 3u);
  EXPECT_EQ(comments[0]["body"], "I was charged twice.");
  EXPECT_EQ(comments[0]["author_role"], "customer");
  EXPECT_EQ(comments[0]["author_id"], "ann@example.com");
  EXPECT_EQ(comments[0]["public"], true);
  EXPECT_EQ(comments[1]["author_role"], "customer");
  EXPECT_EQ(comments[2]["author_role"], "agent");
  EXPECT_EQ(comments[2]["author_id"], "agent-7");
  EXPECT_EQ(comments[2]["public"], false);
}

TEST_F(SandboxServerTest, RejectsBadTokenMalformedJsonAndUnknownTickets) {
  httplib::Client anon("127.0.0.1", server_->port());
  auto r = anon.Get("/api/tickets");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  r = anon.Get("/api/tickets", {{"Authorization", "Bearer wrong-token"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);

  r = client_->Post("/api/tickets", "{not json", "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(json::parse(r->body)["error"].get<std::string>().find("malformed JSON"), std::string::npos);

  r = client_->Post("/api/tickets", json{{"subject", "x"}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);

  r = client_->Get("/api/tickets/999");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  r = client_->Put("/api/tickets/999", json{{"ticket", {{"priority", "high"}}}}.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
}

TEST_F(SandboxServerTest, UpdateAppliesEverythingInOneCall) {
  const std::string id = CreateTicket();
  json update = {{"ticket",
                  {{"additional_tags", {"billing", "vip"}},
                   {"priority", "high"},
                   {"group", "billing"},
                   {"custom_fields", {{"category", "refund"}}},
                   {"comment", {{"body", "Summary: double charge"}, {"public", false}}}}}};
  auto r = client_->Put("/api/tickets/" + id, update.dump(), "application/json");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  json t = json::parse(r->body)["ticket"];
  EXPECT_EQ(t["tags"], json({"vip", "billing"}));
  EXPECT_EQ(t["priority"], "high");
  EXPECT_EQ(t["group"], "billing");
  EXPECT_EQ(t["custom_fields"]["category"], "refund");

  r = client_->Get("/api/tickets/" + id + "/comments");
  json comments = json::parse(r->body)["comments"];
  ASSERT_EQ(comments.size(), 2u);
  EXPECT_EQ(comments[1]["author_role"], "agent");
  EXPECT_EQ(comments[1]["author_id"], kSandboxApiUserId);
  EXPECT_EQ(comments[1]["public"], false);

  r = client_->Put("/api/tickets/" + id, json{{"ticket", {{"remove_tags", {"vip"}}}}}.dump(),
                   "application/json");
  ASSERT_TRUE(r && r->status == 200);
  EXPECT_EQ(json::parse(r->body)["ticket"]["tags"], json({"billing"}));

  r = client_->Put("/api/tickets/" + id, json{{"ticket", {{"priority", "extreme"}}}}.dump(),
                   "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 422);
  EXPECT_EQ(Stats()["applied_updates"], 2);
}

TEST_F(SandboxServerTest, IdempotencyKeyReplaysTheFirstResponse) {
  const std::string id = CreateTicket();
  const std::string body =
      json{{"ticket", {{"additional_tags", {"x"}}, {"comment", {{"body", "note"}, {"public", false}}}}}}.dump();
  httplib::Headers headers = {{"Idempotency-Key", "plan-1:1"}};
  auto first = client_->Put("/api/tickets/" + id, headers, body, "application/json");
  auto second = client_->Put("/api/tickets/" + id, headers, body, "application/json");
  ASSERT_TRUE(first && second);
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(second->status, 200);
  EXPECT_EQ(first->body, second->body);
  EXPECT_EQ(second->get_header_value("Idempotent-Replayed"), "true");
  EXPECT_EQ(Stats()["applied_updates"], 1);
  auto comments = client_->Get("/api/tickets/" + id + "/comments");
  EXPECT_EQ(json::parse(comments->body)["comments"].size(), 2u);

  // The same key on another ticket is a client bug, not a replay.
  const std::string other = CreateTicket();
  auto misuse = client_->Put("/api/tickets/" + other, headers, body, "application/json");
  ASSERT_TRUE(misuse);
  EXPECT_EQ(misuse->status, 422);
}

TEST_F(SandboxServerTest, DeletedTicketIsNotFound) {
  const std::string id = CreateTicket();
  auto r = client_->Delete("/api/tickets/" + id);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 204);
  EXPECT_EQ(client_->Get("/api/tickets/" + id)->status, 404);
  EXPECT_EQ(client_->Get("/api/tickets/" + id + "/comments")->status, 404);
  EXPECT_EQ(client_->Delete("/api/tickets/" + id)->status, 404);
}

TEST_F(SandboxServerTest, FaultInjectionFailsTheNextMatchingRequests) {
  const std::string id = CreateTicket();
  auto r = client_->Post("/api/_faults",
                         json{{"status", 503}, {"count", 2}, {"retry_after", "1"},
                              {"path_prefix", "/api/tickets"}}.dump(),
                         "application/json");
  ASSERT_TRUE(r && r->status == 201) << (r ? r->body : "");
  for (int i = 0; i < 2; ++i) {
    r = client_->Get("/api/tickets/" + id);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status, 503);
    EXPECT_EQ(r->get_header_value("Retry-After"), "1");
  }
  r = client_->Get("/api/tickets/" + id);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  json stats = Stats();
  EXPECT_EQ(stats["requests"]["GET /api/tickets/{id}"], 3);
  EXPECT_EQ(stats["requests"]["POST /api/tickets"], 1);
}

TEST_F(SandboxServerTest, DataSurvivesRestart) {
  const std::string id = CreateTicket();
  server_->Stop();
  server_ = std::make_unique<SandboxServer>(Options());
  ASSERT_TRUE(server_->Start().ok());
  httplib::Client again("127.0.0.1", server_->port());
  auto r = again.Get("/api/tickets/" + id, {{"Authorization", std::string("Bearer ") + kToken}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// A client whose request comes a little after its connect (a loaded machine, a slow
// sender) is answered. With a keep-alive timeout of 0 the server closed a connection that
// had not sent within ~10 ms, and the client got no answer at all (a flaky e2e test).
TEST_F(SandboxServerTest, ARequestThatArrivesLateAfterTheConnectIsAnswered) {
  for (int delay_ms : {0, 50, 300}) {
    // A raw socket: the connect and the request are two steps, apart by delay_ms.
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    ASSERT_GE(fd, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server_->port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    const std::string req = std::string("GET /api/_stats HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ") + kToken +
                            "\r\nConnection: close\r\n\r\n";
    ASSERT_EQ(::send(fd, req.data(), req.size(), MSG_NOSIGNAL), static_cast<ssize_t>(req.size()));
    std::string got;
    char buf[4096];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) got.append(buf, static_cast<size_t>(n));
    ::close(fd);
    EXPECT_EQ(got.rfind("HTTP/1.1 200", 0), 0u) << "request sent " << delay_ms << " ms after connecting: " << got;
  }
}

TEST(SandboxServerStartTest, RequiresTokenAndDbPath) {
  SandboxOptions o;
  o.db_path = "/tmp/unused.db";
  SandboxServer no_token(o);
  EXPECT_EQ(no_token.Start().code(), Code::kInvalidArgument);
  o.api_token = "t";
  o.db_path.clear();
  SandboxServer no_db(o);
  EXPECT_EQ(no_db.Start().code(), Code::kInvalidArgument);
}

// A local webhook receiver: answers with the queued statuses, then 200.
class Receiver {
 public:
  explicit Receiver(std::vector<int> statuses = {}) : statuses_(std::move(statuses)) {
    svr_.set_tcp_nodelay(true);
    ServeOneRequestPerConnection(svr_);
    svr_.new_task_queue = [] { return new httplib::ThreadPool(2); };
    svr_.Post("/hook", [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu_);
      received_.push_back(req);
      res.status = next_ < statuses_.size() ? statuses_[next_++] : 200;
    });
    port_ = svr_.bind_to_any_port("127.0.0.1");
    thread_ = std::thread([this] { svr_.listen_after_bind(); });
    while (!svr_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Receiver() {
    svr_.stop();
    thread_.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/hook"; }
  std::vector<httplib::Request> received() {
    std::lock_guard lock(mu_);
    return received_;
  }

 private:
  httplib::Server svr_;
  std::thread thread_;
  int port_ = 0;
  std::mutex mu_;
  std::vector<int> statuses_;
  size_t next_ = 0;
  std::vector<httplib::Request> received_;
};

TEST_F(SandboxServerTest, WebhooksAreSignedAndOnlyCustomerActivityFires) {
  Receiver receiver;
  server_->SetWebhookUrl(receiver.url());
  const std::string id = CreateTicket();
  client_->Post("/api/tickets/" + id + "/comments", json{{"body", "more info"}}.dump(), "application/json");
  client_->Post("/api/tickets/" + id + "/comments",
                json{{"body", "agent reply"}, {"author_role", "agent"}}.dump(), "application/json");
  client_->Put("/api/tickets/" + id, json{{"ticket", {{"comment", {{"body", "n"}, {"public", false}}}}}}.dump(),
               "application/json");
  server_->FlushWebhooks();
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 2u);
  json created = json::parse(got[0].body);
  json comment = json::parse(got[1].body);
  EXPECT_EQ(created["type"], "ticket.created");
  EXPECT_EQ(comment["type"], "ticket.comment_added");
  EXPECT_EQ(created["ticket_id"], id);
  EXPECT_EQ(created["actor"]["id"], "ann@example.com");
  EXPECT_EQ(created["actor"]["role"], "customer");
  EXPECT_NE(created["id"], comment["id"]);
  EXPECT_EQ(got[0].get_header_value("Content-Type"), "application/json");
  const std::string ts = got[0].get_header_value("X-Zendesk-Webhook-Signature-Timestamp");
  EXPECT_TRUE(ParseRfc3339(ts).has_value());
  EXPECT_EQ(got[0].get_header_value("X-Zendesk-Webhook-Signature"),
            Base64Encode(HmacSha256("whsec_sandbox_test", ts + got[0].body)));
  EXPECT_EQ(Stats()["webhooks"]["delivered"], 2);
}

TEST_F(SandboxServerTest, WebhookDeliveryRetriesServerErrors) {
  Receiver receiver({503, 500});
  server_->SetWebhookUrl(receiver.url());
  CreateTicket();
  server_->FlushWebhooks();
  auto got = receiver.received();
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].body, got[2].body);  // the same event, redelivered
  json stats = Stats();
  EXPECT_EQ(stats["webhooks"]["delivered"], 1);
  EXPECT_EQ(stats["webhooks"]["failed"], 0);
}

TEST_F(SandboxServerTest, WebhookPermanentRefusalIsNotRetried) {
  Receiver receiver({400});
  server_->SetWebhookUrl(receiver.url());
  CreateTicket();
  server_->FlushWebhooks();
  EXPECT_EQ(receiver.received().size(), 1u);
  EXPECT_EQ(Stats()["webhooks"]["failed"], 1);
}

}  // namespace
}  // namespace deskpilot
