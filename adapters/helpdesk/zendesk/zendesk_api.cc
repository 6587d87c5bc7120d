#include "helpdesk/zendesk/zendesk_api.h"

#include <algorithm>
#include <utility>

#include <spdlog/spdlog.h>

#include "deskpilot/crypto.h"
#include "deskpilot/json_text.h"

namespace deskpilot {

using nlohmann::json;

std::string ZendeskIdString(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  if (it == obj.end()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  return "";
}

bool IsZendeskId(const std::string& s) {
  return !s.empty() && s.size() <= 19 && s[0] != '0' &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

Result<ZendeskOptions> ZendeskOptionsFromConfig(ConfigSection& section, const std::string& name,
                                                bool require_webhook_secret) {
  ZendeskOptions o;
  o.name = name;
  (void)section.String("name", name);
  (void)section.String("type", "zendesk");
  o.base_url = section.String("base_url");
  while (!o.base_url.empty() && o.base_url.back() == '/') o.base_url.pop_back();
  if (section.Has("base_url") && o.base_url.rfind("http://", 0) != 0 &&
      o.base_url.rfind("https://", 0) != 0)
    section.AddError("base_url", "must start with https:// (or http:// for a local test server)");
  // A base_url ending in /api/v2 would double the prefix on every call.
  if (o.base_url.size() >= 7 && o.base_url.compare(o.base_url.size() - 7, 7, "/api/v2") == 0)
    section.AddError("base_url", "give the account URL without /api/v2 (https://acme.zendesk.com)");

  const bool has_token = section.Has("api_token_env") || section.Has("api_token_file") || section.Has("api_token");
  const bool has_oauth =
      section.Has("oauth_token_env") || section.Has("oauth_token_file") || section.Has("oauth_token");
  if (has_token && has_oauth) {
    section.AddError("oauth_token_env", "set either email + api_token_* or oauth_token_*, not both");
  } else if (has_oauth) {
    o.oauth_token = section.Secret("oauth_token", true);
  } else {
    o.email = section.String("email");
    o.api_token = section.Secret("api_token", true);
  }
  if (has_oauth && section.Has("email")) (void)section.String("email");
  o.webhook_secret =
      require_webhook_secret ? section.Secret("webhook_secret", true) : section.SecretIfSet("webhook_secret");
  o.signature_tolerance = std::chrono::seconds(section.Int("signature_tolerance_seconds", 300, 1, 86400));
  o.request_timeout = std::chrono::milliseconds(section.Int("request_timeout_ms", 10000, 100, 600000));
  if (section.Has("api_user_id")) {
    // Zendesk ids are integers; a string of digits is accepted too.
    const json* raw = section.Raw("api_user_id");
    std::string id = raw->is_number_integer() ? std::to_string(raw->get<int64_t>())
                     : raw->is_string()       ? raw->get<std::string>()
                                              : "";
    if (!IsZendeskId(id)) section.AddError("api_user_id", "must be the API user's numeric id");
    o.api_user_id = id;
  }
  o.marker_tag = section.String("marker_tag", "deskpilot");
  if (o.marker_tag.empty()) section.AddError("marker_tag", "must not be empty");
  o.kb_locales = section.StringList("kb_locales", std::vector<std::string>{"en-us"});
  for (const std::string& locale : o.kb_locales) {
    // The locale becomes a URL path segment: letters, digits and '-' only.
    if (locale.empty() || !std::all_of(locale.begin(), locale.end(), [](char c) {
          return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        }))
      section.AddError("kb_locales", "\"" + locale + "\" is not a locale such as \"en-us\"");
  }
  for (const char* table : {"groups", "custom_fields"}) {
    ConfigSection t = section.Table(table);
    auto& out = std::string(table) == "groups" ? o.groups : o.custom_fields;
    for (const std::string& key : t.Keys()) out[key] = t.Int(key, std::nullopt, 1);
  }
  DP_RETURN_IF_ERROR(section.Finish());
  return o;
}

ZendeskApi::ZendeskApi(ZendeskOptions options, HttpClient* http)
    : options_(std::move(options)), http_(http), api_user_id_(options_.api_user_id) {}

HttpRequest ZendeskApi::Request(const std::string& method, const std::string& path_and_query) const {
  HttpRequest req;
  req.method = method;
  req.url = options_.base_url + path_and_query;
  req.timeout = options_.request_timeout;
  const std::string auth = options_.oauth_token.empty()
                               ? "Basic " + Base64Encode(options_.email + "/token:" + options_.api_token)
                               : "Bearer " + options_.oauth_token;
  req.headers = {{"Authorization", auth}, {"Accept", "application/json"}};
  return req;
}

void ZendeskApi::NoteRateLimit(const HttpResponse& response) {
  const std::string remaining = response.Header("x-rate-limit-remaining");
  if (remaining.empty() || remaining.size() > 12 ||
      !std::all_of(remaining.begin(), remaining.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return;
  const int64_t value = std::stoll(remaining);
  std::lock_guard lock(mu_);
  rate_limit_remaining_ = value;
  if (value == 0) spdlog::warn("zendesk {}: API rate limit used up for this minute", options_.name);
}

Result<HttpResponse> ZendeskApi::SendOnce(const HttpRequest& request, const std::string& what) {
  auto resp = http_->Send(request);
  if (!resp.ok()) return resp.status().WithContext(what);
  NoteRateLimit(*resp);
  DP_RETURN_IF_ERROR(StatusFromHttp(*resp, what));
  return resp;
}

Result<HttpResponse> ZendeskApi::Send(const HttpRequest& request, const std::string& what) {
  auto resp = SendWithRetry(*http_, request, options_.retry, options_.sleep);
  if (!resp.ok()) return resp.status().WithContext(what);
  NoteRateLimit(*resp);
  DP_RETURN_IF_ERROR(StatusFromHttp(*resp, what));
  return resp;
}

namespace {
Result<json> ParseBody(const HttpResponse& resp, const std::string& what) {
  if (resp.body.empty()) return json();
  try {
    return json::parse(resp.body);
  } catch (const json::exception& e) {
    return Status::InvalidArgument(what + ": malformed JSON response: " + e.what());
  }
}
}  // namespace

Result<json> ZendeskApi::GetJson(const std::string& path_and_query, const std::string& what) {
  DP_ASSIGN_OR_RETURN(HttpResponse resp, Send(Request("GET", path_and_query), what));
  DP_ASSIGN_OR_RETURN(json j, ParseBody(resp, what));
  if (!j.is_object()) return Status::InvalidArgument(what + ": response is not a JSON object");
  return j;
}

Result<json> ZendeskApi::SendJson(const std::string& method, const std::string& path, const json& body,
                                  const std::string& what) {
  HttpRequest req = Request(method, path);
  req.headers.emplace_back("Content-Type", "application/json");
  // Ticket text is not always valid UTF-8; replace bad bytes rather than fail the call.
  req.body = JsonText(body);
  DP_ASSIGN_OR_RETURN(HttpResponse resp, Send(req, what));
  return ParseBody(resp, what);
}

std::string ZendeskApi::RebaseLink(const std::string& link) const {
  std::string path = link;
  if (auto scheme = link.find("://"); scheme != std::string::npos) {
    auto slash = link.find('/', scheme + 3);
    path = slash == std::string::npos ? "/" : link.substr(slash);
  }
  if (path.empty() || path[0] != '/') path = "/" + path;
  return options_.base_url + path;
}

Result<std::vector<json>> ZendeskApi::GetAll(const std::string& first_path, const std::string& key,
                                             const std::string& what, const std::string& sideload_key,
                                             std::vector<json>* sideloaded, size_t max_items) {
  std::vector<json> out;
  std::string path = first_path;
  // A server that keeps answering "more" with the same link would loop forever.
  constexpr int kMaxPages = 1000;
  for (int page = 0; page < kMaxPages; ++page) {
    DP_ASSIGN_OR_RETURN(json doc, GetJson(path, what));
    auto items = doc.find(key);
    if (items == doc.end() || !items->is_array())
      return Status::InvalidArgument(what + ": response has no \"" + key + "\" array");
    for (auto& item : *items) out.push_back(std::move(item));
    if (sideloaded != nullptr && !sideload_key.empty()) {
      if (auto side = doc.find(sideload_key); side != doc.end() && side->is_array())
        for (auto& item : *side) sideloaded->push_back(std::move(item));
    }
    std::string next;
    const json* meta = doc.contains("meta") && doc["meta"].is_object() ? &doc["meta"] : nullptr;
    const json* links = doc.contains("links") && doc["links"].is_object() ? &doc["links"] : nullptr;
    if (meta != nullptr && meta->contains("has_more")) {
      if (!meta->value("has_more", false)) break;
      if (links != nullptr && links->contains("next") && (*links)["next"].is_string())
        next = (*links)["next"].get<std::string>();
      if (next.empty()) return Status::InvalidArgument(what + ": has_more without links.next");
    } else if (doc.contains("next_page") && doc["next_page"].is_string()) {
      next = doc["next_page"].get<std::string>();
    }
    if (next.empty() || (max_items > 0 && out.size() >= max_items)) break;
    const std::string rebased = RebaseLink(next);
    path = rebased.substr(options_.base_url.size());
  }
  return out;
}

Result<std::string> ZendeskApi::ApiUserId() {
  if (std::string known = KnownApiUserId(); !known.empty()) return known;
  DP_ASSIGN_OR_RETURN(json me, GetJson("/api/v2/users/me.json", "zendesk current user"));
  std::string id = me.contains("user") ? ZendeskIdString(me["user"], "id") : "";
  if (!IsZendeskId(id))
    return Status::InvalidArgument("zendesk current user: response has no numeric user.id");
  std::lock_guard lock(mu_);
  api_user_id_ = id;
  return id;
}

std::string ZendeskApi::KnownApiUserId() const {
  std::lock_guard lock(mu_);
  return api_user_id_;
}

std::optional<int64_t> ZendeskApi::rate_limit_remaining() const {
  std::lock_guard lock(mu_);
  return rate_limit_remaining_;
}

}  // namespace deskpilot
