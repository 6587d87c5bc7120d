// The Zendesk Support REST API as deskpilot uses it: options from the [[helpdesk]]
// section, authentication, retries, cursor pagination and the rate-limit headers.
// Shared by the helpdesk adapter and the webhook administration commands.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/config.h"
#include "deskpilot/http_client.h"
#include "deskpilot/status.h"

namespace deskpilot {

struct ZendeskOptions {
  std::string name;      // configured helpdesk name (dedupe keys, Ticket::source)
  std::string base_url;  // https://acme.zendesk.com (or http://127.0.0.1:PORT in tests)
  // Exactly one of: email + api_token (Basic "{email}/token:{api_token}") or oauth_token.
  std::string email;
  std::string api_token;
  std::string oauth_token;
  std::string webhook_secret;  // the webhook's signing secret
  std::chrono::seconds signature_tolerance{300};
  std::chrono::milliseconds request_timeout{10000};
  // The API user's numeric id (loop guard); empty = resolved once via /users/me.json.
  std::string api_user_id;
  std::string marker_tag = "deskpilot";
  std::map<std::string, int64_t> groups;         // WritePlan group name → group_id
  std::map<std::string, int64_t> custom_fields;  // WritePlan field name → ticket field id
  std::vector<std::string> kb_locales = {"en-us"};  // Help Center locales `kb sync` pulls
  // The policy's approval tag (AdapterContext::approval_tag): `webhook register` adds a
  // trigger that reports it being on an updated ticket. Empty: no such trigger.
  std::string approval_tag;
  RetryPolicy retry;
  Sleeper sleep;  // empty = really sleep (tests inject a recorder)
};

// Reads: base_url (required), email + api_token_env/_file or oauth_token_env/_file,
// webhook_secret_env/_file (required unless !require_webhook_secret: `webhook register`
// runs before the admin has the secret), signature_tolerance_seconds (300),
// request_timeout_ms (10000), api_user_id, marker_tag ("deskpilot"), kb_locales
// (["en-us"]), [groups] and [custom_fields] tables of name = numeric id. InvalidArgument lists every problem.
Result<ZendeskOptions> ZendeskOptionsFromConfig(ConfigSection& section, const std::string& name,
                                                bool require_webhook_secret = true);

class ZendeskApi {
 public:
  // `http` is not owned and must outlive this object.
  ZendeskApi(ZendeskOptions options, HttpClient* http);

  const ZendeskOptions& options() const { return options_; }

  // An authenticated request for `path_and_query` ("/api/v2/...").
  HttpRequest Request(const std::string& method, const std::string& path_and_query) const;

  // One attempt, no retry; the HTTP status mapped with StatusFromHttp. Callers that must
  // check what landed before retrying a write use this.
  Result<HttpResponse> SendOnce(const HttpRequest& request, const std::string& what);
  // With retries (429 + Retry-After, 5xx, transport errors); non-2xx mapped to a Status.
  Result<HttpResponse> Send(const HttpRequest& request, const std::string& what);

  Result<nlohmann::json> GetJson(const std::string& path_and_query, const std::string& what);
  // method + JSON body; returns the parsed response (null for an empty 204 body).
  Result<nlohmann::json> SendJson(const std::string& method, const std::string& path,
                                  const nlohmann::json& body, const std::string& what);
  // Every element of the array `key` across pages: cursor pagination (page[size],
  // meta.has_more, links.next) and, for endpoints that answer with it, the older
  // offset style (next_page). `first_path` should ask for page[size]. When given,
  // every page's sideloaded `sideload_key` array (e.g. "users") is appended to *sideloaded.
  // With max_items > 0, no further page is asked for once that many items are in hand.
  Result<std::vector<nlohmann::json>> GetAll(const std::string& first_path, const std::string& key,
                                             const std::string& what, const std::string& sideload_key = "",
                                             std::vector<nlohmann::json>* sideloaded = nullptr,
                                             size_t max_items = 0);

  // The API user's id: from the config, else GET /api/v2/users/me.json once.
  Result<std::string> ApiUserId();
  // The id when already known (config or an earlier lookup); "" otherwise. Never calls out.
  std::string KnownApiUserId() const;

  // X-Rate-Limit-Remaining from the latest response that carried it.
  std::optional<int64_t> rate_limit_remaining() const;

  // A pagination link rebased onto base_url, so credentials only ever go to the
  // configured host whatever host the link names.
  std::string RebaseLink(const std::string& link) const;

 private:
  void NoteRateLimit(const HttpResponse& response);

  ZendeskOptions options_;
  HttpClient* http_;
  mutable std::mutex mu_;
  std::string api_user_id_;  // guarded by mu_
  std::optional<int64_t> rate_limit_remaining_;  // guarded by mu_
};

// Vendors send ids as numbers or strings; both become strings. "" when absent/other.
std::string ZendeskIdString(const nlohmann::json& obj, const char* key);
bool IsZendeskId(const std::string& s);  // a positive decimal integer

}  // namespace deskpilot
