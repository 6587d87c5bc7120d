// A Help Scout fake on loopback for tests: the OAuth2 token endpoint and the subset of
// the Mailbox API 2.0 deskpilot uses, with the shapes of Help Scout's documentation
// (HAL lists, threads newest first, 204 on updates), plus fault injection and a log.
//
// Served: POST /v2/oauth2/token (form-encoded client_credentials; a wrong client is 401);
// every other route needs "Authorization: Bearer <a token it issued and did not revoke>"
// (else 401). GET /v2/conversations?status=&modifiedSince=&sortField=&sortOrder=&page=
// [&embed=threads] (status active by default, or all/closed/...; modifiedSince keeps those
// modified at or after it; sorted by createdAt or modifiedAt, desc by default; HAL
// _embedded.conversations with `page`); GET /v2/conversations/{id}[?embed=threads];
// GET /v2/conversations/{id}/threads?page=N (newest first, `page` object);
// PUT /v2/conversations/{id}/tags and /fields (replace the whole set, 204; a drop-down of
// the mailbox takes an option id, else 400, and its label becomes the field's text);
// GET /v2/mailboxes/{id}/fields (HAL _embedded.fields with `page`, one page; empty when
// none were set);
// PATCH /v2/conversations/{id} (/assignTo replace, /mailboxId move, 204);
// POST /v2/conversations/{id}/notes and /reply (201, Resource-ID header; written by the
// API user). A missing conversation is 404 everywhere.
// Webhooks: GET /v2/webhooks?page=N (HAL _embedded.webhooks with `page`; the secret is
// never listed, as in Help Scout's documentation); POST /v2/webhooks (url, events and a
// 1..40 character secret required: 201 with Resource-ID and Location); PUT
// /v2/webhooks/{id} (same fields, 204); DELETE /v2/webhooks/{id} (204). A missing
// webhook is 404.
// Docs API (HTTP Basic with the Docs key as the user, any password; else 401, and the
// Bearer token is not accepted there): GET /v1/collections?page=N (all sites and
// visibilities), GET /v1/collections/{id}/articles?status=&pageSize=&page= (ArticleRefs,
// no text; 50 a page by default, pageSize up to docs_max_page_size), GET
// /v1/articles/{id} ({"article": …} with text). Lists are {"<name>": {page, pages,
// count, items}}. A missing collection or article is 404.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/status.h"

namespace deskpilot {

struct HelpScoutFakeOptions {
  std::string app_id = "hs-app-id";
  std::string app_secret = "hs-app-secret";
  int64_t api_user_id = 7;  // the user the app belongs to ("deskpilot bot")
  int64_t expires_in = 172800;  // seconds, as Help Scout issues them
  int threads_page_size = 50;
  int conversations_page_size = 25;  // Help Scout lists conversations 25 a page
  int webhooks_page_size = 50;
  std::string docs_api_key = "hs-docs-key";
  int docs_collections_page_size = 50;
  int docs_max_page_size = 100;  // the most articles a page holds, whatever pageSize asks
  std::string host = "127.0.0.1";
  int port = 0;  // 0 picks a free port
};

class HelpScoutFake {
 public:
  struct Request {
    std::string method;
    std::string path;
    std::map<std::string, std::string> params;  // decoded query (or form) parameters
    std::string body;
    std::string authorization;
    std::string content_type;
  };
  // The next `count` requests matching method ("" = any) and path prefix answer
  // `status` (with X-RateLimit-Retry-After when set) instead of being served, or, with
  // after_serving, once served: the change is made and the answer is lost.
  struct Fault {
    std::string method;
    std::string path_prefix;
    int status = 503;
    int count = 1;
    std::string retry_after;
    bool after_serving = false;
    std::string rate_limit_reset = {};  // X-RateLimit-Reset, what Docs sends on a 429
  };

  explicit HelpScoutFake(HelpScoutFakeOptions options = {});
  ~HelpScoutFake();  // stops
  HelpScoutFake(const HelpScoutFake&) = delete;
  HelpScoutFake& operator=(const HelpScoutFake&) = delete;

  Status Start();  // binds host:port and serves on a background thread
  void Stop();
  std::string base_url() const;  // http://127.0.0.1:PORT

  // A customer; returns its id (customers and users are numbered apart in Help Scout;
  // here they share one counter, so a customer can be given the API user's id on purpose).
  int64_t AddCustomer(const std::string& first, const std::string& last, const std::string& email,
                      int64_t id = 0);
  // A conversation opened by `customer_id` with `html` as its first (customer) thread.
  int64_t AddConversation(const std::string& subject, int64_t customer_id, const std::string& html,
                          const std::vector<std::string>& tags = {}, int64_t mailbox_id = 1);
  // type: customer | message | note | lineitem | chat | phone ...; by: "user" | "customer".
  int64_t AddThread(int64_t conversation_id, const std::string& type, const std::string& html, const std::string& by,
                    int64_t by_id, const std::string& state = "published");
  void SetCustomFields(int64_t conversation_id, const nlohmann::json& fields);  // [{id,name,value,text}]
  // An admin defining a mailbox's custom fields: [{id,name,type ("dropdown", "singleline",
  // "number"…),required,order,options:[{id,order,label}]}], as List Mailbox Custom Fields shows.
  void SetMailboxFields(int64_t mailbox_id, const nlohmann::json& fields);
  // An agent replacing the tags in Help Scout's UI (lowercased, as the API stores them).
  void SetTags(int64_t conversation_id, const std::vector<std::string>& tags);
  // An agent changing the status (active, pending, closed, spam) in the UI.
  void SetStatus(int64_t conversation_id, const std::string& status);
  // When the conversation last changed (any write moves the fake's clock on a second); the
  // listing filters and sorts on it. Help Scout does not show it on the conversation.
  std::string ModifiedAt(int64_t conversation_id) const;
  void DeleteConversation(int64_t conversation_id);  // later reads answer 404
  void RevokeTokens();  // every issued token now answers 401, as an expired one does
  // A webhook as an admin would have made it in the UI; returns its id.
  int64_t AddWebhook(const std::string& url, const std::vector<std::string>& events, const std::string& secret,
                     const std::string& label = "");
  // A Docs collection ("public" or "private"); returns its id (24 hex characters).
  std::string AddDocsCollection(const std::string& name, const std::string& visibility = "public");
  // An article in `collection_id` ("published" or "notpublished"); `updated_at` empty =
  // never edited (updatedAt null, as Docs shows it). Returns its id.
  std::string AddDocsArticle(const std::string& collection_id, const std::string& name, const std::string& html,
                             const std::string& status = "published", const std::string& created_at = "2026-01-01T00:00:00Z",
                             const std::string& updated_at = "");
  nlohmann::json DocsArticle(const std::string& article_id) const;  // as GET returns it; null when absent
  // Every webhook, by id, with its secret (which the API never shows).
  std::vector<nlohmann::json> Webhooks() const;

  nlohmann::json Conversation(int64_t conversation_id) const;  // as GET returns it; null when absent
  std::vector<nlohmann::json> Threads(int64_t conversation_id) const;  // oldest first
  std::vector<std::string> Tags(int64_t conversation_id) const;
  // The v2 Conversation object a webhook delivers (with _embedded.threads).
  std::string WebhookPayload(int64_t conversation_id) const;
  int TokensIssued() const;

  void InjectFault(Fault fault);
  std::vector<Request> Requests() const;
  int CountRequests(const std::string& method, const std::string& path_prefix) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace deskpilot
