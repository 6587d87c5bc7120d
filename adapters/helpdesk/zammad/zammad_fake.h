// A Zammad fake on loopback for tests: the subset of REST API v1 deskpilot uses, with
// the shapes of Zammad's controllers (expand=true renders associations by name, users
// by login), plus fault injection and a request log.
//
// Served (Authorization: Token token=<api_token>, acting as the API user):
// GET /api/v1/tickets/{id}[?expand=true];
// GET /api/v1/tickets/search?query=&limit=|per_page=&page=&sort_by=&order_by=&expand= (the
// query as Elasticsearch would take it, but only `state.name:NAME` and
// `updated_at:[YYYY-MM-DD TO *]` terms joined by AND; anything else is 422 so a test notices a
// query the fake does not model; limit 50 by default, at most 200, as paginate_with;
// expand=true answers an array of expanded tickets, else {tickets, tickets_count, assets});
// PUT /api/v1/tickets/{id} (priority and group by
// name or id, other keys stored as attributes; an unknown name is 422);
// GET /api/v1/ticket_articles/by_ticket/{id}; POST /api/v1/ticket_articles (201; note,
// email, web, phone types; sender Agent); GET /api/v1/users/{id};
// GET /api/v1/tags?object=Ticket&o_id={id}; POST /api/v1/tags/add (adding a present tag
// is a no-op, as Tag.tag_add is). A missing ticket is 404 everywhere.
// POST /api/v1/knowledge_bases/init: the editor's assets of one knowledge base with a
// primary locale (kb locale 1, en-us) and a second one (2, de-de); with
// {"answer_translation_content_ids":[...]} the contents too; a token without knowledge
// base permission gets [] (the public assets of a knowledge base not active publicly).
// GET|POST /api/v1/webhooks, PUT|DELETE /api/v1/webhooks/{id}; the same for /api/v1/triggers
// (`webhook register|list|remove`): GET lists every object, with signature_token,
// basic_auth_password and bearer_token masked as kZammadFakeMask (vendors.md: secret fields
// come back masked; the mask's exact text is not confirmed); a webhook's custom_payload is
// dropped unless customized_payload is true and must be JSON; a trigger's name is unique
// (case-insensitive), activator action|time, execution_condition_mode selective|always, and
// notification.webhook must name a webhook; a webhook a trigger fires cannot be deleted
// (422), as in Zammad's models. Without admin_permission they answer 403.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/status.h"

namespace deskpilot {

inline constexpr char kZammadFakeMask[] = "********";

struct ZammadFakeOptions {
  std::string api_token = "zm-test-token";
  int64_t api_user_id = 3;  // an agent, "deskpilot-bot"
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks a free port
  bool kb_permission = true;  // the API user may read the knowledge base
  bool admin_permission = true;  // admin.webhook and admin.trigger
};

class ZammadFake {
 public:
  struct Request {
    std::string method;
    std::string path;
    std::map<std::string, std::string> params;  // decoded query parameters
    std::string body;
  };
  // The next `count` requests matching method ("" = any) and path prefix answer
  // `status` (with Retry-After when set) instead of being served, or, with
  // after_serving, once served: the change is made and the answer is lost, as when a
  // proxy times out on a request Zammad completed.
  struct Fault {
    std::string method;
    std::string path_prefix;
    int status = 503;
    int count = 1;
    std::string retry_after;
    bool after_serving = false;
  };

  explicit ZammadFake(ZammadFakeOptions options = {});
  ~ZammadFake();  // stops
  ZammadFake(const ZammadFake&) = delete;
  ZammadFake& operator=(const ZammadFake&) = delete;

  Status Start();  // binds host:port and serves on a background thread
  void Stop();
  std::string base_url() const;  // http://127.0.0.1:PORT

  // Seeding, as an admin would through the UI. role: "Customer" | "Agent".
  int64_t AddUser(const std::string& firstname, const std::string& lastname, const std::string& email,
                  const std::string& role);
  int64_t AddGroup(const std::string& name);
  // `ticket` holds attributes: title, customer_id, priority ("2 normal"), group
  // ("Users"), state ("new"), tags, attributes (an object: custom object attributes, each
  // a top-level key of the stored ticket). The body becomes the first article, from the
  // customer.
  int64_t AddTicket(const nlohmann::json& ticket, const std::string& body,
                    const std::string& content_type = "text/plain");
  // sender: "Customer" | "Agent" | "System"; type: "web", "email", "note", "phone".
  int64_t AddArticle(int64_t ticket_id, int64_t author_id, const std::string& body, bool internal,
                     const std::string& sender, const std::string& content_type = "text/plain",
                     const std::string& type = "web");
  void DeleteTicket(int64_t ticket_id);  // later reads answer 404
  // Backdates a ticket (new articles set updated_at to now, as Zammad does).
  void SetUpdatedAt(int64_t ticket_id, const std::string& rfc3339);

  // A knowledge-base answer with one translation: title, body (HTML), kb_locale_id (1),
  // category_id (1), published_at / internal_at / archived_at (RFC 3339 or absent),
  // updated_at (of the answer; the translation's is translation_updated_at, else the same).
  // Returns the answer id; its translation and content ids are answer_id * 10 + locale.
  int64_t AddKbAnswer(const nlohmann::json& answer);
  // Another translation of an answer (same fields as above, kb_locale_id required).
  void AddKbTranslation(int64_t answer_id, const nlohmann::json& translation);

  nlohmann::json Ticket(int64_t ticket_id) const;  // as GET ?expand=true returns it; null when absent
  std::vector<nlohmann::json> Articles(int64_t ticket_id) const;  // oldest first
  std::vector<std::string> Tags(int64_t ticket_id) const;
  // The body Zammad's default webhook payload would have for this ticket and article
  // (article_id 0: a change without an article): {"ticket":{...},"article":{...}}.
  std::string WebhookPayload(int64_t ticket_id, int64_t article_id) const;

  // Webhooks and triggers as stored (secrets unmasked), by id; seeding and editing as an
  // admin would in the UI (Add* returns the new id).
  std::map<int64_t, nlohmann::json> Webhooks() const;
  std::map<int64_t, nlohmann::json> Triggers() const;
  int64_t AddWebhook(const nlohmann::json& webhook);
  void EditTrigger(int64_t id, const nlohmann::json& fields);

  void InjectFault(Fault fault);
  std::vector<Request> Requests() const;
  // Requests whose method matches ("" = any) and whose path starts with `path_prefix`.
  int CountRequests(const std::string& method, const std::string& path_prefix) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deskpilot
