// A Zendesk Support fake on loopback for tests: the subset of the REST API deskpilot
// uses, with the request and response shapes of Zendesk's API reference (not the
// adapter's assumptions), plus fault injection and a request log.
//
// Served: GET /api/v2/users/me(.json); POST /api/v2/users(.json) (agents); GET/PUT /api/v2/tickets/{id}(.json) with
// ?include=users; GET /api/v2/tickets/{id}/comments(.json) with cursor pagination
// (page[size], page[after], meta.has_more, links.next) or offset pagination (page,
// per_page, next_page); POST /api/v2/tickets(.json) (creates the requester by email,
// then runs the triggers: a matching trigger's notification_webhook action is
// delivered to the webhook's endpoint, signed with its signing secret, as Zendesk
// does; AgentSetsTags runs them for an agent's tag change); GET /api/v2/help_center/{locale}/articles(.json) (start_time, sort_by,
// sort_order, offset or cursor pagination; drafts listed with draft=true, archived
// articles never); GET /api/v2/search/export(.json) (filter[type]=ticket required;
// query terms type:, status:/status>=/status<…, updated>=/updated>/updated<, tags:;
// cursor pagination); webhooks CRUD and /signing_secret; triggers CRUD. Every
// response carries X-Rate-Limit / X-Rate-Limit-Remaining; over the per-minute limit,
// or over 30 updates of one ticket by one user in 10 minutes, it answers 429 with
// Retry-After.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/status.h"

namespace deskpilot {

struct ZendeskFakeOptions {
  std::string email = "bot@example.com";
  // Account-wide, as Zendesk's API tokens are: Basic "{email}/token:{api_token}" acts as
  // the user with that email (the API user, or e.g. an end user filing a request).
  std::string api_token = "zd-test-token";
  std::string oauth_token;                  // Bearer, when set
  int64_t api_user_id = 900001;             // the user both credentials belong to
  int rate_limit_per_minute = 700;
  int ticket_update_cap = 30;  // updates per ticket per user in 10 minutes
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks a free port
};

class ZendeskFake {
 public:
  struct Request {
    std::string method;
    std::string path;
    std::map<std::string, std::string> params;  // decoded query parameters
    std::string body;
  };
  // The next `count` requests matching method ("" = any) and path prefix answer
  // `status` (with Retry-After when set) instead of being served.
  struct Fault {
    std::string method;
    std::string path_prefix;
    int status = 503;
    int count = 1;
    std::string retry_after;
  };

  explicit ZendeskFake(ZendeskFakeOptions options = {});
  ~ZendeskFake();  // stops
  ZendeskFake(const ZendeskFake&) = delete;
  ZendeskFake& operator=(const ZendeskFake&) = delete;

  // Binds options.host:options.port (127.0.0.1, a free port by default) and serves on
  // a background thread.
  Status Start();
  void Stop();
  int port() const;
  std::string base_url() const;  // http://127.0.0.1:PORT

  // Seeding, as an admin would through the UI. role: "end-user" | "agent" | "admin".
  int64_t AddUser(const std::string& name, const std::string& email, const std::string& role);
  int64_t AddGroup(const std::string& name);
  // `ticket` holds API fields (subject, description, requester_id, tags, priority,
  // via, custom_fields...). The description becomes the first public comment, by the
  // requester, as Zendesk does.
  int64_t AddTicket(nlohmann::json ticket);
  int64_t AddComment(int64_t ticket_id, int64_t author_id, const std::string& body, bool is_public);
  // An agent replacing the ticket's tags in the UI: an update with no comment, which runs
  // the triggers as that agent.
  void AgentSetsTags(int64_t ticket_id, int64_t agent_id, const std::vector<std::string>& tags);
  void DeleteTicket(int64_t ticket_id);  // later reads answer 404
  // Help Center: `article` holds API fields (title, body, locale, draft, updated_at...);
  // html_url and the rest are filled in. Update merges fields and bumps updated_at to
  // now unless the patch names one; Archive takes it out of every listing.
  int64_t AddArticle(nlohmann::json article);
  void UpdateArticle(int64_t article_id, const nlohmann::json& patch);
  void ArchiveArticle(int64_t article_id);
  // Webhook deliveries made so far (trigger notifications), oldest first.
  struct Delivery {
    std::string webhook_id;
    std::string endpoint;
    std::string body;
    int status = 0;  // the receiver's answer; 0 when it could not be reached
  };
  std::vector<Delivery> Deliveries() const;
  // Reset the per-minute rate-limit window (tests do not wait a minute).
  void ResetRateLimit();

  nlohmann::json Ticket(int64_t ticket_id) const;                  // as GET would return it
  std::vector<nlohmann::json> Comments(int64_t ticket_id) const;   // oldest first
  std::vector<nlohmann::json> Webhooks() const;
  std::vector<nlohmann::json> Triggers() const;

  void InjectFault(Fault fault);
  std::vector<Request> Requests() const;
  // Requests whose method matches and whose path starts with `path_prefix`.
  int CountRequests(const std::string& method, const std::string& path_prefix) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deskpilot
