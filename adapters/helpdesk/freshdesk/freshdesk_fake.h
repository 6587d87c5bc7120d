// A Freshdesk fake on loopback for tests: the subset of REST API v2 deskpilot uses, with
// Freshdesk's shapes, plus fault injection and a request log.
//
// Served (HTTP Basic, the API key as user name and "X" as password, acting as the API
// agent): GET /api/v2/tickets/{id}[?include=requester]; PUT /api/v2/tickets/{id} (tags
// replace the set; priority 1..4, a known group_id, custom_fields merged; anything else
// is 400 as Freshdesk's validation answers); GET /api/v2/tickets/{id}/conversations
// (page, per_page <= 100, a Link rel="next" header while more remain); POST
// /api/v2/tickets/{id}/notes and /reply (201); GET /api/v2/search/tickets with a quoted
// query of status:N terms OR-ed and one updated_at:>'YYYY-MM-DD' (30 a page, pages 1-10,
// oldest id first); GET /api/v2/solutions/categories, …/categories/{id}/folders and
// …/folders/{id}/articles, …/folders/{id}/subfolders (paged like conversations; a
// category lists its top-level folders only; folders carry visibility, articles_count,
// sub_folders_count and, below the top, parent_folder_id). A missing ticket is 404 everywhere.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/status.h"

namespace deskpilot {

struct FreshdeskFakeOptions {
  std::string api_key = "fd-test-key";
  int64_t api_agent_id = 7000;
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks a free port
};

class FreshdeskFake {
 public:
  struct Request {
    std::string method;
    std::string path;
    std::map<std::string, std::string> params;  // decoded query parameters
    std::string body;
  };
  // The next `count` requests matching method ("" = any) and path prefix answer
  // `status` (with Retry-After when set) instead of being served, or, with
  // after_serving, once served: the change is made and the answer is lost.
  struct Fault {
    std::string method;
    std::string path_prefix;
    int status = 503;
    int count = 1;
    std::string retry_after;
    bool after_serving = false;
  };

  explicit FreshdeskFake(FreshdeskFakeOptions options = {});
  ~FreshdeskFake();  // stops
  FreshdeskFake(const FreshdeskFake&) = delete;
  FreshdeskFake& operator=(const FreshdeskFake&) = delete;

  Status Start();  // binds host:port and serves on a background thread
  void Stop();
  std::string base_url() const;  // http://127.0.0.1:PORT
  int64_t api_agent_id() const;

  // Seeding, as an admin would through the UI.
  int64_t AddContact(const std::string& name, const std::string& email);
  int64_t AddAgent(const std::string& name, const std::string& email);
  int64_t AddGroup(const std::string& name);
  // `ticket` holds attributes: subject, requester_id, priority (1..4), status (2..5),
  // source, group_id, tags, custom_fields. `description_html` is the first message.
  int64_t AddTicket(const nlohmann::json& ticket, const std::string& description_html);
  // A reply or note; body_text is derived from the HTML as Freshdesk does.
  int64_t AddConversation(int64_t ticket_id, int64_t user_id, const std::string& body_html, bool is_private,
                          bool incoming);
  void DeleteTicket(int64_t ticket_id);  // later calls answer 404
  // Solutions. status: 1 draft, 2 published.
  int64_t AddCategory(const std::string& name);
  // visibility: 1 all users, 2 logged-in users, 3 agents, 4 selected companies, ...
  int64_t AddFolder(int64_t category_id, const std::string& name, int visibility = 1);
  int64_t AddSubFolder(int64_t parent_folder_id, const std::string& name, int visibility = 1);
  // Folders are listed without articles_count and sub_folders_count from now on.
  void DropFolderCounts();
  // A category's folder list names its sub-folders too from now on (whether Freshdesk's
  // does is not confirmed).
  void ListSubFoldersInCategories();
  int64_t AddArticle(int64_t folder_id, const std::string& title, const std::string& html, int status,
                     const std::string& updated_at);
  void SetUpdatedAt(int64_t ticket_id, const std::string& rfc3339);
  void SetStatus(int64_t ticket_id, int status);
  // Drops description_text and every body_text, leaving only the HTML bodies.
  void DropPlainText(int64_t ticket_id);

  nlohmann::json Ticket(int64_t ticket_id) const;  // as GET returns it; null when absent
  std::vector<nlohmann::json> Conversations(int64_t ticket_id) const;  // oldest first
  std::vector<std::string> Tags(int64_t ticket_id) const;
  // The body the documented "Trigger Webhook" template renders for this ticket.
  std::string WebhookBody(int64_t ticket_id, const std::string& triggered_event) const;

  void InjectFault(Fault fault);
  std::vector<Request> Requests() const;
  int CountRequests(const std::string& method, const std::string& path_prefix) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deskpilot
