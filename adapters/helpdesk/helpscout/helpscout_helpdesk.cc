#include "helpdesk/helpscout/helpscout_helpdesk.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "deskpilot/crypto.h"
#include "deskpilot/json_scan.h"
#include "deskpilot/json_text.h"
#include "deskpilot/rfc3339.h"
#include "deskpilot/text.h"
#include "common/html_text/html_text.h"
#include "common/json_fields/json_fields.h"

namespace deskpilot {
namespace {

using nlohmann::json;

constexpr char kSignatureHeader[] = "x-helpscout-signature";
constexpr char kEventHeader[] = "x-helpscout-event";
constexpr char kCreatedEvent[] = "convo.created";
constexpr char kCustomerReplyEvent[] = "convo.customer.reply.created";
// A tag change: queued only when it leaves the approval tag on the conversation.
constexpr char kTagsEvent[] = "convo.tags";
// A conversation's threads are read a page at a time; this bounds a runaway listing.
constexpr int kMaxThreadPages = 50;
constexpr const char* kPriorities[] = {"low", "normal", "high", "urgent"};
// Closed conversations are listed 25 a page; this bounds a runaway listing (10,000).
constexpr int kMaxConversationPages = 400;
// Docs listings: collections 50 a page, articles up to 100; this bounds a runaway one.
constexpr int kMaxDocsPages = 100;
// Webhook listings are paged too; an account has a handful, this bounds a runaway one.
constexpr int kMaxWebhookPages = 20;

std::string Header(const WebhookRequest& r, const char* lower_name) {
  auto it = r.headers.find(lower_name);
  return it == r.headers.end() ? std::string() : it->second;
}

// Help Scout ids are JSON numbers (a string id, from some clients, reads the same) and
// stay within 18 digits.
bool IsHelpScoutId(const std::string& s) { return IsPositiveDecimalId(s, 18); }

// Numeric ids compare by value: "10" is newer than "9".
bool IdLess(const std::string& a, const std::string& b) {
  return a.size() != b.size() ? a.size() < b.size() : a < b;
}

// Docs ids are 24 hex characters (the documented examples); anything that could leave
// the URL path is refused.
bool IsDocsId(const std::string& s) {
  return !s.empty() && s.size() <= 64 &&
         std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; });
}

// An article never edited since it was created has "updatedAt": null.
std::string DocsUpdatedAt(const json& article) {
  const std::string updated = JsonString(article, "updatedAt");
  return updated.empty() ? JsonString(article, "createdAt") : updated;
}

// One thread as read: what the comments, the landed checks and the loop guard need.
struct Thread {
  std::string id;
  std::string type;   // customer, message, note, lineitem, chat, phone, ...
  std::string state;  // published, draft, hidden, review, ...
  std::string text;   // the HTML body as text
  std::string created_at;
  std::string author_type;  // createdBy.type: user | customer
  std::string author_id;
};

Thread ThreadFromJson(const json& t) {
  Thread th;
  th.id = JsonId(t, "id");
  th.type = JsonString(t, "type");
  th.state = JsonString(t, "state");
  th.text = HtmlToText(JsonString(t, "body"));
  th.created_at = JsonString(t, "createdAt");
  const json& by = t.contains("createdBy") ? t["createdBy"] : json();
  th.author_type = JsonString(by, "type");
  th.author_id = JsonId(by, "id");
  return th;
}

// Oldest first. Help Scout lists threads newest first; a webhook's embedded list has no
// documented order. RFC 3339 UTC stamps of one format order as strings; ids break ties.
void SortOldestFirst(std::vector<Thread>* threads) {
  std::stable_sort(threads->begin(), threads->end(), [](const Thread& a, const Thread& b) {
    if (a.created_at != b.created_at) return a.created_at < b.created_at;
    return IdLess(a.id, b.id);
  });
}

// One page of a Mailbox API listing (HAL): the objects under `_embedded.<key>` and how
// many pages there are.
struct HalPage {
  std::vector<json> items;
  int64_t total_pages = 1;
};

Result<HalPage> ParseHalPage(const json& doc, const std::string& key, const std::string& what) {
  if (!doc.is_object()) return Status::InvalidArgument(what + ": response is not a JSON object");
  HalPage out;
  const json& embedded = doc.contains("_embedded") ? doc["_embedded"] : json();
  // An empty list may come without "_embedded" at all.
  if (embedded.is_object() && embedded.contains(key)) {
    if (!embedded[key].is_array()) return Status::InvalidArgument(what + ": \"" + key + "\" is not an array");
    for (const json& item : embedded[key]) {
      if (!item.is_object()) return Status::InvalidArgument(what + ": an entry of \"" + key + "\" is not an object");
      out.items.push_back(item);
    }
  }
  const json& p = doc.contains("page") ? doc["page"] : json();
  if (p.is_object() && p.contains("totalPages") && p["totalPages"].is_number_integer())
    out.total_pages = p["totalPages"].get<int64_t>();
  return out;
}

// How long a mailbox's custom field definitions are trusted: a drop-down option an admin
// adds is seen within this time, and most writes cost no extra call.
constexpr std::chrono::minutes kFieldDefinitionsTtl{10};

// A mailbox's custom field (GET /v2/mailboxes/{id}/fields): its type ("dropdown", …) and,
// for a drop-down, its options as option id → label.
struct FieldDefinition {
  std::string type;
  std::vector<std::pair<std::string, std::string>> options;
};
using FieldDefinitionMap = std::map<std::string, FieldDefinition>;  // field id → definition
// Help Scout lists 50 fields a page; a mailbox rarely has more than one page.
constexpr int64_t kMaxFieldPages = 20;

// A label as compared: ASCII lowercase, '_' and '-' as spaces, spaces squashed and
// trimmed, so deskpilot's "account_access" finds the option "Account access".
std::string LabelKey(std::string_view label) {
  std::string spaced(label);
  for (char& c : spaced)
    if (c == '_' || c == '-') c = ' ';
  return AsciiLower(SquashSpace(spaced));
}

// The drop-down option a plan's value names: the option whose label equals it ignoring
// case, else the one whose label equals it also with '_'/'-' read as spaces. Two options
// that match the same way leave it unresolved (nullopt, with `why` saying so).
std::optional<std::string> OptionIdFor(const FieldDefinition& def, const std::string& value, std::string* why) {
  for (auto same : {+[](const std::string& a, const std::string& b) { return AsciiLower(a) == AsciiLower(b); },
                    +[](const std::string& a, const std::string& b) { return LabelKey(a) == LabelKey(b); }}) {
    std::vector<std::string> found;
    for (const auto& [id, label] : def.options)
      if (same(label, value)) found.push_back(id);
    if (found.size() == 1) return found.front();
    if (found.size() > 1) {
      *why = "several drop-down options match it";
      return std::nullopt;
    }
  }
  *why = "no drop-down option has this label";
  return std::nullopt;
}

// Every Mailbox API call goes through this: it attaches the bearer token (fetched once and
// cached until shortly before it expires), fetches a new one and resends once when Help
// Scout answers 401 (a token revoked or expired early), and hands Help Scout's
// X-RateLimit-Retry-After to the shared retry rules, which read Retry-After.
class Transport : public HttpClient {
 public:
  Transport(const HelpScoutOptions& options, HttpClient* http) : o_(options), http_(http) {}

  Result<HttpResponse> Send(const HttpRequest& request) override {
    DP_ASSIGN_OR_RETURN(std::string token, Token(""));
    auto resp = SendWith(request, token);
    if (!resp.ok() || resp->status != 401) return resp;
    DP_ASSIGN_OR_RETURN(token, Token(token));
    return SendWith(request, token);
  }

 private:
  Result<HttpResponse> SendWith(HttpRequest request, const std::string& token) {
    request.headers.emplace_back("Authorization", "Bearer " + token);
    auto resp = http_->Send(request);
    if (resp.ok() && resp->headers.count("retry-after") == 0) {
      if (auto it = resp->headers.find("x-ratelimit-retry-after"); it != resp->headers.end())
        resp->headers["retry-after"] = it->second;
    }
    return resp;
  }

  // The cached token, or a new one when there is none, it is about to expire, or Help
  // Scout just refused it (`refused`). One fetch at a time: workers that find the token
  // refused together share the one that replaces it.
  Result<std::string> Token(const std::string& refused) {
    std::lock_guard lock(mu_);
    const auto now = o_.clock ? o_.clock() : std::chrono::system_clock::now();
    if (!token_.empty() && token_ != refused && now < refresh_at_) return token_;
    token_.clear();
    HttpRequest req;
    req.method = "POST";
    req.url = o_.base_url + "/v2/oauth2/token";
    req.timeout = o_.request_timeout;
    // Form-encoded, as OAuth2 (RFC 6749 4.4) and Help Scout's own curl example send it.
    req.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/json"}};
    req.body = "grant_type=client_credentials&client_id=" + PercentEncode(o_.app_id) +
               "&client_secret=" + PercentEncode(o_.app_secret);
    const std::string what = "helpscout access token";
    auto resp = SendWithRetry(*http_, req, o_.retry, o_.sleep);
    if (!resp.ok()) return resp.status().WithContext(what);
    if (Status st = StatusFromHttp(*resp, what); !st.ok()) {
      // Help Scout answers bad credentials with 400 or 401; retrying cannot fix them.
      if (resp->status == 400 || resp->status == 401)
        return Status::Unauthenticated(st.message() + " (check app_id and app_secret)");
      return st;
    }
    // The body holds the token: it is never quoted in an error.
    const json doc = json::parse(resp->body, nullptr, false);
    const std::string token = JsonString(doc, "access_token");
    const json expires = doc.is_object() && doc.contains("expires_in") ? doc["expires_in"] : json();
    if (token.empty() || !expires.is_number() || expires.get<double>() <= 0)
      return Status::Unavailable(what + ": the response has no access_token and expires_in");
    // Renewed a little early (a tenth of its life, at most five minutes): a token that
    // expires in flight costs a 401 and a second call.
    const int64_t life_s = static_cast<int64_t>(expires.get<double>());
    const int64_t margin_s = std::min<int64_t>(300, life_s / 10);
    token_ = token;
    refresh_at_ = now + std::chrono::seconds(life_s - margin_s);
    return token_;
  }

  const HelpScoutOptions& o_;
  HttpClient* http_;
  std::mutex mu_;
  std::string token_;
  std::chrono::system_clock::time_point refresh_at_;
};

// Every Docs API call goes through this: HTTP Basic with the Docs API key as the user and
// a dummy password, and, on a 429, Docs' X-RateLimit-Reset (seconds until the window
// ends; Docs sends no Retry-After) handed to the shared retry rules as Retry-After.
class DocsTransport : public HttpClient {
 public:
  DocsTransport(const HelpScoutOptions& options, HttpClient* http) : o_(options), http_(http) {}

  Result<HttpResponse> Send(const HttpRequest& request) override {
    HttpRequest req = request;
    req.headers.emplace_back("Authorization", "Basic " + Base64Encode(o_.docs_api_key + ":X"));
    auto resp = http_->Send(req);
    if (resp.ok() && resp->status == 429 && resp->headers.count("retry-after") == 0) {
      if (auto it = resp->headers.find("x-ratelimit-reset"); it != resp->headers.end())
        resp->headers["retry-after"] = it->second;
    }
    return resp;
  }

 private:
  const HelpScoutOptions& o_;
  HttpClient* http_;
};

// One webhook as GET /v2/webhooks lists it.
struct HelpScoutWebhook {
  std::string id;
  std::string url;
  std::string label;
  std::string state;
  std::vector<std::string> events;
};

class HelpScoutHelpdesk : public Helpdesk, public WebhookAdmin {
 public:
  HelpScoutHelpdesk(HelpScoutOptions options, HttpClient* http)
      : options_(std::move(options)), transport_(options_, http), docs_(options_, http) {}

  std::string_view type() const override { return "helpscout"; }

  WebhookAdmin* webhook_admin() override { return this; }

  // A webhook already at `endpoint` that has every event deskpilot needs is left alone, and
  // Help Scout never hands its secret back, so the registration then carries no secret.
  // One at `endpoint` missing an event (registered before approval by tag existed) gets
  // the events added; one of this source's at another URL (deskpilot moved) is pointed at
  // `endpoint`. Help Scout's update takes the secret again: the configured one when there
  // is one (deliveries keep verifying), else a new one that the CLI prints.
  Result<WebhookRegistration> RegisterWebhook(const std::string& endpoint) override {
    DP_ASSIGN_OR_RETURN(std::vector<HelpScoutWebhook> all, ReadWebhooks());
    const std::vector<std::string> wanted = WantedEvents();
    const HelpScoutWebhook* moved = nullptr;
    for (const auto& w : all) {
      if (w.url != endpoint) {
        if (moved == nullptr && IsOurs(w)) moved = &w;
        continue;
      }
      std::vector<std::string> events = w.events;
      for (const std::string& e : wanted)
        if (std::find(events.begin(), events.end(), e) == events.end()) events.push_back(e);
      if (events.size() == w.events.size()) return WebhookRegistration{endpoint, "", {{"unchanged", "webhook", w.id, w.label}}};
      // The admin's own extra events stay; the label stays the admin's too.
      WebhookRegistration reg{endpoint, options_.webhook_secret.empty() ? RandomHex(16) : "", {}};
      json body = {{"url", endpoint},
                   {"events", events},
                   {"secret", reg.signing_secret.empty() ? options_.webhook_secret : reg.signing_secret}};
      if (!w.label.empty()) body["label"] = w.label;
      HttpRequest req = JsonRequest("PUT", "/v2/webhooks/" + w.id, body);
      DP_RETURN_IF_ERROR(Send(req, "helpscout update webhook " + w.id).status());
      reg.changes.push_back({"updated", "webhook", w.id, w.label});
      return reg;
    }
    // 32 hex characters: 128 random bits, within Help Scout's 40-character limit.
    WebhookRegistration reg{endpoint, RandomHex(16), {}};
    const json body = {{"url", endpoint},
                       {"events", wanted},
                       {"secret", reg.signing_secret},
                       {"label", WebhookLabel()}};
    if (moved != nullptr) {
      HttpRequest req = JsonRequest("PUT", "/v2/webhooks/" + moved->id, body);
      DP_RETURN_IF_ERROR(Send(req, "helpscout update webhook " + moved->id).status());
      reg.changes.push_back({"updated", "webhook", moved->id, WebhookLabel()});
      return reg;
    }
    // Sent once: if the answer is lost after Help Scout created it, a retry would create a
    // second webhook, while running register again finds the first by its URL.
    const std::string what = "helpscout create webhook";
    auto resp = transport_.Send(JsonRequest("POST", "/v2/webhooks", body));
    if (!resp.ok()) return resp.status().WithContext(what);
    DP_RETURN_IF_ERROR(StatusFromHttp(*resp, what));
    std::string id = resp->Header("resource-id");
    if (id.empty()) {
      const std::string location = resp->Header("location");
      id = location.substr(location.find_last_of('/') + 1);
    }
    reg.changes.push_back({"created", "webhook", id, WebhookLabel()});
    return reg;
  }

  Result<std::vector<WebhookInfo>> ListWebhooks() override {
    DP_ASSIGN_OR_RETURN(std::vector<HelpScoutWebhook> all, ReadWebhooks());
    std::vector<WebhookInfo> out;
    for (const auto& w : all) {
      std::string events;
      for (const auto& e : w.events) events += (events.empty() ? "" : ", ") + e;
      out.push_back({w.id, w.label, w.url, w.state, IsOurs(w), {"events: " + events}});
    }
    return out;
  }

  Result<std::vector<WebhookChange>> RemoveWebhook() override {
    DP_ASSIGN_OR_RETURN(std::vector<HelpScoutWebhook> all, ReadWebhooks());
    std::vector<WebhookChange> out;
    for (const auto& w : all) {
      if (!IsOurs(w)) continue;
      const std::string what = "helpscout delete webhook " + w.id;
      auto resp = Send(Request("DELETE", "/v2/webhooks/" + w.id), what);
      // Gone already: a retry after a lost answer, or another admin got there first.
      if (!resp.ok() && resp.status().code() != Code::kNotFound) return resp.status();
      out.push_back({"deleted", "webhook", w.id, w.label});
    }
    return out;
  }

  Status VerifyWebhook(const WebhookRequest& request) const override {
    if (options_.webhook_secret.empty()) return Status::Unauthenticated("no webhook secret configured");
    // Help Scout signs the raw body only; there is no timestamp to bound replays, so a
    // replayed delivery is caught by its dedupe key (ParseWebhook) instead.
    const std::string signature = Header(request, kSignatureHeader);
    if (signature.empty()) return Status::Unauthenticated("missing X-HelpScout-Signature header");
    std::string provided;
    // A repeated header arrives joined with ", " and so fails here, as it should.
    if (!Base64Decode(signature, &provided)) return Status::Unauthenticated("X-HelpScout-Signature is not valid base64");
    if (!ConstantTimeEquals(provided, HmacSha1(options_.webhook_secret, request.body)))
      return Status::Unauthenticated("signature mismatch");
    return Status::Ok();
  }

  Result<WebhookEvent> ParseWebhook(const WebhookRequest& request) const override {
    const std::string event = Header(request, kEventHeader);
    if (event.empty()) return Status::InvalidArgument("helpscout webhook: missing X-HelpScout-Event header");
    enum { kId, kCreatedById, kCreatedByType, kThreads };
    static const std::vector<JsonPath> kPaths = {
        {"id"}, {"createdBy", "id"}, {"createdBy", "type"}, {"_embedded", "threads"}};
    auto scan = ScanJsonObject(request.body, kPaths);
    if (!scan.ok()) return Status::InvalidArgument("helpscout webhook: " + scan.status().message());
    const std::vector<JsonScalar>& v = *scan;
    WebhookEvent ev;
    ev.event_type = event;
    ev.ticket_id = v[kId].IdText();
    const std::string prefix = "helpscout:" + options_.name + ":" + event + ":";
    if (event == kTagsEvent) return TagChange(request, std::move(ev), prefix);
    if (event != kCreatedEvent && event != kCustomerReplyEvent) {
      // Tags, notes, agent replies (deskpilot's own included), status changes and the
      // rest: nothing a customer is waiting on. Acknowledged so Help Scout stops sending it.
      ev.ignore_reason = "helpscout event " + event + " does not start triage (only " + kCreatedEvent + " and " +
                         kCustomerReplyEvent + " do)";
      return ev;
    }
    if (!IsHelpScoutId(ev.ticket_id))
      return Status::InvalidArgument("helpscout webhook: missing or non-numeric conversation id");
    // Help Scout sends no delivery id (only the event and signature headers), and a retry
    // resends the delivery. So the key is what the event announces: the conversation
    // for convo.created (once per conversation), the customer's newest thread for a reply.
    std::string actor_type = v[kCreatedByType].text, actor_id = v[kCreatedById].IdText();
    if (event == kCreatedEvent) {
      ev.dedupe_key = prefix + ev.ticket_id;
    } else {
      // The newest *customer* thread, not the newest of any type: deskpilot's note on an
      // earlier message, landing between this reply and its delivery, would otherwise
      // stand for the event and hide the customer's reply.
      std::optional<Thread> announced;
      if (v[kThreads].kind == JsonScalar::Kind::kArray) {
        const json doc = json::parse(request.body, nullptr, false);
        const json& embedded = doc.is_object() && doc.contains("_embedded") ? doc["_embedded"] : json();
        const json& list = embedded.is_object() && embedded.contains("threads") ? embedded["threads"] : json();
        for (const json& t : list.is_array() ? list : json::array()) {
          if (!t.is_object() || JsonString(t, "type") != "customer") continue;
          Thread th = ThreadFromJson(t);
          if (!IsHelpScoutId(th.id)) continue;
          if (!announced || announced->created_at < th.created_at ||
              (announced->created_at == th.created_at && IdLess(announced->id, th.id)))
            announced = std::move(th);
        }
      }
      if (announced) {
        ev.dedupe_key = prefix + ev.ticket_id + ":thread:" + announced->id;
        actor_type = announced->author_type;
        actor_id = announced->author_id;
      } else {
        // Without the threads a retry still repeats the body byte for byte.
        ev.dedupe_key = prefix + ev.ticket_id + ":sha256:" + Sha256Hex(request.body);
        actor_type.clear();
        actor_id.clear();
      }
    }
    // Users and customers are numbered apart: only a *user* with the API user's id is deskpilot.
    ev.self_caused = actor_type == "user" && actor_id == options_.api_user_id;
    return ev;
  }

  Result<Ticket> FetchTicket(const std::string& ticket_id) override {
    if (!IsHelpScoutId(ticket_id))
      return Status::InvalidArgument("helpscout conversation id must be a positive integer, got \"" + ticket_id + "\"");
    const std::string what = "helpscout fetch conversation " + ticket_id;
    DP_ASSIGN_OR_RETURN(json c, GetJson("/v2/conversations/" + ticket_id, what));
    if (!c.is_object()) return Status::InvalidArgument(what + ": response is not a JSON object");
    DP_ASSIGN_OR_RETURN(std::vector<Thread> threads, ReadThreads(ticket_id));
    return ToTicket(ticket_id, c, threads);
  }

  std::vector<std::string> ArticleLocales() const override { return {options_.kb_locale}; }

  // Help Scout Docs: the public collections (or the configured ones) and their articles.
  // A listing carries no body, so each published article kept is read once more; drafts
  // are flagged from the listing alone (they are never a source).
  Result<std::vector<HelpArticle>> ListArticles(
      const std::string& locale, std::optional<std::chrono::system_clock::time_point> updated_since) override {
    if (options_.docs_api_key.empty())
      return Status::FailedPrecondition(
          "helpscout knowledge base: no Docs API key; set docs_api_key_env or docs_api_key_file on [[helpdesk]] \"" +
          options_.name + "\" (an unset variable or a missing file counts as none; each user's key is under Your "
          "Profile > Authentication > API Keys in Help Scout)");
    if (locale != options_.kb_locale)
      return Status::InvalidArgument("helpscout Docs articles are synced as kb_locale \"" + options_.kb_locale +
                                     "\" (a Docs site has one language), not \"" + locale + "\"");
    DP_ASSIGN_OR_RETURN(std::vector<std::string> collections, DocsCollections());
    std::vector<HelpArticle> out;
    for (const std::string& collection : collections) {
      const std::string what = "helpscout docs list articles of collection " + collection;
      DP_ASSIGN_OR_RETURN(std::vector<json> refs,
                          DocsList("/v1/collections/" + collection + "/articles?status=all&pageSize=100", "articles", what));
      for (const json& ref : refs) {
        HelpArticle article;
        article.id = JsonString(ref, "id");
        if (!IsDocsId(article.id)) return Status::InvalidArgument(what + ": an article has no id");
        article.updated_at = DocsUpdatedAt(ref);
        if (updated_since) {
          // An unreadable time is synced again rather than missed.
          const auto updated = ParseRfc3339(article.updated_at);
          if (updated && *updated < *updated_since) continue;
        }
        article.locale = locale;
        article.title = JsonString(ref, "name");
        article.url = JsonString(ref, "publicUrl");
        // published or notpublished; a published article with unsaved changes ("hasDraft")
        // is read as published, which is what readers see.
        article.draft = JsonString(ref, "status") != "published";
        if (!article.draft) {
          const std::string read_what = "helpscout docs read article " + article.id;
          auto doc = DocsGet("/v1/articles/" + article.id, read_what);
          // Deleted since the listing: the next full listing takes it out of the KB.
          if (!doc.ok() && doc.status().code() == Code::kNotFound) continue;
          if (!doc.ok()) return doc.status();
          const json& full = doc->contains("article") ? (*doc)["article"] : json();
          if (!full.is_object()) return Status::InvalidArgument(read_what + ": the response has no \"article\" object");
          article.title = JsonString(full, "name");
          article.body_html = JsonString(full, "text");  // HTML, as the editor stores it
          if (!JsonString(full, "publicUrl").empty()) article.url = JsonString(full, "publicUrl");
          if (!DocsUpdatedAt(full).empty()) article.updated_at = DocsUpdatedAt(full);
          // Unpublished between the listing and the read.
          article.draft = JsonString(full, "status") != "published";
        }
        out.push_back(std::move(article));
      }
    }
    return out;
  }

  // Help Scout's statuses are active, pending, closed and spam: "solved" is closed. Most
  // recently modified first, so the `limit` newest are read and the listing stops there.
  Result<std::vector<Ticket>> ListSolvedTickets(std::chrono::system_clock::time_point updated_since, int limit,
                                                bool with_comments) override {
    if (limit < 1) return Status::InvalidArgument("helpscout list solved tickets: limit must be at least 1");
    const std::string what = "helpscout list closed conversations";
    std::string path = "/v2/conversations?status=closed&modifiedSince=" +
                       PercentEncode(FormatRfc3339Utc(updated_since)) + "&sortField=modifiedAt&sortOrder=desc";
    // The description is the first customer thread. With comments every thread is read
    // anyway; without, the listing embeds them, which keeps it at one call per page.
    if (!with_comments) path += "&embed=threads";
    std::vector<Ticket> out;
    for (int page = 1;; ++page) {
      DP_ASSIGN_OR_RETURN(json doc, GetJson(path + "&page=" + std::to_string(page), what));
      DP_ASSIGN_OR_RETURN(HalPage listed, ParseHalPage(doc, "conversations", what));
      for (const json& c : listed.items) {
        const std::string id = JsonId(c, "id");
        if (!IsHelpScoutId(id)) return Status::InvalidArgument(what + ": a conversation has no id");
        // Only what was asked for, whatever the filter did.
        if (JsonString(c, "status") != "closed") continue;
        std::vector<Thread> threads;
        if (with_comments) {
          auto read = ReadThreads(id);
          // Deleted between the listing and the read: nothing to learn from it.
          if (!read.ok() && read.status().code() == Code::kNotFound) continue;
          if (!read.ok()) return read.status();
          threads = std::move(read).value();
        } else {
          const json& embedded = c.contains("_embedded") ? c["_embedded"] : json();
          DP_ASSIGN_OR_RETURN(HalPage own, ParseHalPage(json{{"_embedded", embedded}}, "threads", what));
          for (const json& t : own.items) threads.push_back(ThreadFromJson(t));
          SortOldestFirst(&threads);
        }
        Ticket ticket = ToTicket(id, c, threads);
        if (!with_comments) ticket.comments.clear();
        out.push_back(std::move(ticket));
        if (static_cast<int>(out.size()) >= limit) return out;
      }
      if (page >= listed.total_pages) break;
      if (page >= kMaxConversationPages)
        return Status::FailedPrecondition(what + ": more than " + std::to_string(kMaxConversationPages) +
                                          " pages; use a later date or a lower limit");
    }
    return out;
  }

  Status Apply(const Ticket& ticket, const WritePlan& plan) override {
    if (plan.empty()) return Status::Ok();
    if (!IsHelpScoutId(ticket.id))
      return Status::InvalidArgument("helpscout conversation id must be a positive integer, got \"" + ticket.id + "\"");
    const std::string what = "helpscout apply to conversation " + ticket.id;
    std::vector<std::string> tags;
    std::map<std::string, std::string> fields;  // Help Scout field id → value
    std::string group, note, reply;
    std::vector<std::string> unwritten;  // what the note names because it cannot be written
    auto add_tag = [&](const std::string& t) {
      if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
    };
    for (const WriteAction& a : plan.actions) {
      switch (a.type) {
        case ActionType::kSetTags:
          for (const auto& t : a.tags) add_tag(t);
          break;
        case ActionType::kSetPriority:
          if (std::find(std::begin(kPriorities), std::end(kPriorities), a.value) != std::end(kPriorities))
            add_tag(options_.priority_tag_prefix + a.value);
          else
            spdlog::warn("helpscout {}: conversation {}: priority \"{}\" is not a deskpilot priority; not set",
                         options_.name, ticket.id, a.value);
          break;
        case ActionType::kSetGroup:
          if (options_.assign_users.count(a.value) || options_.mailboxes.count(a.value))
            group = a.value;
          else
            unwritten.push_back("group: " + a.value + " (not in [assign_users] or [mailboxes]; route it by hand)");
          break;
        case ActionType::kSetCustomField:
          if (auto it = options_.custom_fields.find(a.field); it != options_.custom_fields.end()) {
            fields[it->second] = a.value;
          } else {
            unwritten.push_back(a.field + ": " + a.value + " (not in [custom_fields])");
          }
          break;
        case ActionType::kAddInternalNote:
          note += (note.empty() ? "" : "\n\n") + a.value;
          break;
        case ActionType::kAddPublicReply:
          reply += (reply.empty() ? "" : "\n\n") + a.value;
          break;
      }
    }

    // What an earlier attempt already landed is not written again: the note carries the
    // plan's marker line, and the reply is recognised by its author and text, but only
    // where this plan's attempt could have put it (below). The threads are read afresh:
    // the caller's snapshot may predate an earlier attempt.
    DP_ASSIGN_OR_RETURN(std::vector<Thread> current, ReadThreads(ticket.id));
    json conversation;
    if (!tags.empty() || !fields.empty() || !reply.empty()) {
      // Read before writing: tags and fields are replaced as a whole set, so an agent's tag
      // added since the caller's snapshot must be in the set sent back. Read before the
      // note, too: the conversation's mailbox tells which drop-down values can be written,
      // and the note names those that cannot.
      DP_ASSIGN_OR_RETURN(conversation, GetJson("/v2/conversations/" + ticket.id, what));
      if (!conversation.is_object()) return Status::InvalidArgument(what + ": response is not a JSON object");
    }
    if (!fields.empty()) {
      const std::string mailbox = JsonId(conversation, "mailboxId");
      if (!IsHelpScoutId(mailbox)) return Status::InvalidArgument(what + ": the conversation has no mailboxId");
      DP_ASSIGN_OR_RETURN(auto definitions, FieldDefinitions(mailbox));
      for (auto it = fields.begin(); it != fields.end();) {
        auto def = definitions->find(it->first);
        // A field the mailbox does not list goes out as text: Help Scout decides whether it takes it.
        if (def == definitions->end() || def->second.type != "dropdown") {
          ++it;
          continue;
        }
        // A drop-down takes an option id; a value that names no single option is not
        // written (Help Scout would refuse it with 400 on every retry).
        std::string why;
        if (auto option = OptionIdFor(def->second, it->second, &why)) {
          it->second = *option;
          ++it;
        } else {
          unwritten.push_back(PlanFieldName(it->first) + ": " + it->second + " (" + why + " in drop-down field " +
                              it->first + ")");
          it = fields.erase(it);
        }
      }
    }
    if (!note.empty() && !unwritten.empty()) {
      note += "\n\nNot written to Help Scout:";
      for (const std::string& u : unwritten) note += "\n- " + u;
    } else if (!unwritten.empty()) {
      spdlog::warn("helpscout {}: conversation {}: not written (no note to name them in): {}", options_.name,
                   ticket.id, unwritten.front());
    }
    const std::string marker = plan.idempotency_key.empty() ? "" : kHelpScoutMarkerPrefix + plan.idempotency_key;
    auto is_our_note = [&](const Thread& t) {
      return t.type == "note" && !marker.empty() && t.text.find(marker) != std::string::npos;
    };
    auto note_landed = [&](const std::vector<Thread>& ts) { return std::any_of(ts.begin(), ts.end(), is_our_note); };
    // A public reply carries no marker, and the same text may rightly go out again (a
    // later plan answering the same question). So it counts as landed only after this
    // plan's own note, or, in a plan without a note (an approval), after the newest
    // thread someone else wrote.
    const std::string squashed_reply = SquashSpace(reply);
    const bool has_note = !note.empty() && !marker.empty();
    auto ours = [&](const Thread& t) { return t.author_type == "user" && t.author_id == options_.api_user_id; };
    auto reply_landed = [&](const std::vector<Thread>& ts) {
      auto from = ts.end();
      while (from != ts.begin()) {
        const Thread& t = *std::prev(from);
        if (has_note ? is_our_note(t) : (!ours(t) && t.type != "lineitem")) break;
        --from;
      }
      if (from == ts.begin() && has_note) return false;  // our note is not there yet
      return std::any_of(from, ts.end(), [&](const Thread& t) {
        return t.type == "message" && ours(t) && SquashSpace(t.text) == squashed_reply;
      });
    };

    // The note goes first: it is what agents need even when a field below is refused,
    // and the reply's landed check starts from it.
    if (!note.empty() && !note_landed(current)) {
      DP_RETURN_IF_ERROR(PostThread(ticket.id, "notes", json{{"text", TextToHtml(note)}}, note_landed,
                                    what + " (internal note)"));
    }
    if (!tags.empty()) {
      std::vector<std::string> merged = TagsOf(conversation);
      bool changed = false;
      for (const std::string& t : tags) {
        // Help Scout keeps tag names lowercased, so "VIP" is already there as "vip".
        if (!HasTagIgnoringCase(merged, t)) {
          merged.push_back(t);
          changed = true;
        }
      }
      if (changed) DP_RETURN_IF_ERROR(Write("PUT", ticket.id, "/tags", json{{"tags", merged}}, what + " (tags)"));
    }
    if (!fields.empty()) {
      // The whole set again, the other fields' values as read.
      json list = json::array();
      bool changed = false;
      std::map<std::string, std::string> pending = fields;
      if (conversation.contains("customFields") && conversation["customFields"].is_array()) {
        for (const json& f : conversation["customFields"]) {
          const std::string id = JsonId(f, "id");
          if (!IsHelpScoutId(id)) continue;
          std::string value = JsonId(f, "value");
          if (auto it = pending.find(id); it != pending.end()) {
            changed = changed || value != it->second;
            value = it->second;
            pending.erase(it);
          }
          list.push_back({{"id", std::stoll(id)}, {"value", value}});
        }
      }
      for (const auto& [id, value] : pending) {
        list.push_back({{"id", std::stoll(id)}, {"value", value}});
        changed = true;
      }
      if (changed) DP_RETURN_IF_ERROR(Write("PUT", ticket.id, "/fields", json{{"fields", list}}, what + " (custom fields)"));
    }
    if (!group.empty()) {
      // Assigning or moving is only done through the explicit map (a wrong inbox hides a
      // conversation from the team that owns it). Setting the same value again is harmless.
      json patch;
      if (auto it = options_.assign_users.find(group); it != options_.assign_users.end())
        patch = {{"op", "replace"}, {"path", "/assignTo"}, {"value", std::stoll(it->second)}};
      else
        patch = {{"op", "move"}, {"path", "/mailboxId"}, {"value", std::stoll(options_.mailboxes.at(group))}};
      DP_RETURN_IF_ERROR(Write("PATCH", ticket.id, "", patch, what + " (group " + group + ")"));
    }
    if (!reply.empty() && !reply_landed(current)) {
      const json& customer = conversation.contains("primaryCustomer") ? conversation["primaryCustomer"] : json();
      const std::string customer_id = JsonId(customer, "id");
      if (!IsHelpScoutId(customer_id))
        return Status::InvalidArgument(what + ": the conversation has no primary customer to reply to");
      // Never a draft: a plan only carries a reply deskpilot or an approver decided to send.
      json body = {{"customer", {{"id", std::stoll(customer_id)}}}, {"text", TextToHtml(reply)}, {"draft", false}};
      DP_RETURN_IF_ERROR(PostThread(ticket.id, "reply", body, reply_landed, what + " (public reply)"));
    }
    return Status::Ok();
  }

 private:
  // The collections to sync: the configured ones, else every public one. A private
  // collection is "viewable only in admin": its articles have no page a customer can open,
  // so a reply citing one would link nowhere.
  Result<std::vector<std::string>> DocsCollections() {
    DP_ASSIGN_OR_RETURN(std::vector<json> all, DocsList("/v1/collections", "collections", "helpscout docs list collections"));
    std::map<std::string, std::string> visibility;  // id → public | private
    std::vector<std::string> out;
    for (const json& c : all) {
      const std::string id = JsonString(c, "id");
      if (!IsDocsId(id)) return Status::InvalidArgument("helpscout docs list collections: a collection has no id");
      visibility[id] = JsonString(c, "visibility");
      if (options_.docs_collections.empty() && visibility[id] == "public") out.push_back(id);
    }
    for (const std::string& id : options_.docs_collections) {
      auto it = visibility.find(id);
      if (it == visibility.end())
        return Status::FailedPrecondition("helpscout docs_collections: no collection \"" + id + "\" on this account");
      if (it->second != "public")
        return Status::FailedPrecondition("helpscout docs_collections: collection \"" + id +
                                          "\" is not public; its articles have no public page to cite");
      out.push_back(id);
    }
    return out;
  }

  // Every item of a paged Docs listing: {"<key>": {"page","pages","count","items"}}.
  Result<std::vector<json>> DocsList(const std::string& path, const std::string& key, const std::string& what) {
    std::vector<json> out;
    const char* sep = path.find('?') == std::string::npos ? "?" : "&";
    for (int page = 1;; ++page) {
      DP_ASSIGN_OR_RETURN(json doc, DocsGet(path + sep + "page=" + std::to_string(page), what));
      const json& list = doc.is_object() && doc.contains(key) ? doc[key] : json();
      if (!list.is_object() || !list.contains("items") || !list["items"].is_array())
        return Status::InvalidArgument(what + ": the response has no \"" + key + ".items\" list");
      for (const json& item : list["items"]) {
        if (!item.is_object()) return Status::InvalidArgument(what + ": an item is not an object");
        out.push_back(item);
      }
      const int64_t pages = list.contains("pages") && list["pages"].is_number_integer() ? list["pages"].get<int64_t>() : 1;
      if (page >= pages) break;
      if (page >= kMaxDocsPages)
        return Status::FailedPrecondition(what + ": more than " + std::to_string(kMaxDocsPages) + " pages");
    }
    return out;
  }

  Result<json> DocsGet(const std::string& path_and_query, const std::string& what) {
    HttpRequest req;
    req.method = "GET";
    req.url = options_.docs_base_url + path_and_query;
    req.timeout = options_.request_timeout;
    req.headers = {{"Accept", "application/json"}};
    auto resp = SendWithRetry(docs_, req, options_.retry, options_.sleep);
    if (!resp.ok()) return resp.status().WithContext(what);
    if (Status st = StatusFromHttp(*resp, what); !st.ok()) {
      if (st.code() == Code::kUnauthenticated)
        return Status::Unauthenticated(st.message() + " (check docs_api_key_env/_file: the Docs API key)");
      return st;
    }
    json j = json::parse(resp->body, nullptr, false);
    if (j.is_discarded()) return Status::InvalidArgument(what + ": malformed JSON response");
    return j;
  }

  // convo.tags carries the conversation as it is after the change. An agent approves a
  // draft by adding the approval tag, and Help Scout reports that only as convo.tags, so
  // such a change is queued as an approval (the worker posts the pending draft if there is
  // one, and never triages on it). Every other tag change, deskpilot's own tag writes
  // included, is acknowledged and dropped: the payload does not say who changed the tags,
  // and a tag alone is no customer message to triage.
  Result<WebhookEvent> TagChange(const WebhookRequest& request, WebhookEvent ev, const std::string& prefix) const {
    if (options_.approval_tag.empty()) {
      ev.ignore_reason = "helpscout event convo.tags is only queued to approve a draft, and policy.approval_tag is empty";
      return ev;
    }
    if (!IsHelpScoutId(ev.ticket_id))
      return Status::InvalidArgument("helpscout webhook: missing or non-numeric conversation id");
    const std::vector<std::string> tags = TagsOf(json::parse(request.body, nullptr, false));
    if (!HasTagIgnoringCase(tags, options_.approval_tag)) {
      ev.ignore_reason = "helpscout event convo.tags without the approval tag \"" + options_.approval_tag +
                         "\" does not start triage";
      return ev;
    }
    // No delivery id and no change id: a retry resends the same body, while a later tag
    // change (the tag removed and added again, another tag beside it) has another body.
    ev.dedupe_key = prefix + ev.ticket_id + ":sha256:" + Sha256Hex(request.body);
    ev.event_type = kApprovalTagEvent;  // approves, never triages (include/deskpilot/helpdesk.h)
    return ev;
  }

  // The events deskpilot acts on: a new conversation, a customer's reply, and (when
  // approval by tag is on) a tag change, the only way Help Scout reports an added tag.
  std::vector<std::string> WantedEvents() const {
    std::vector<std::string> events = {kCreatedEvent, kCustomerReplyEvent};
    if (!options_.approval_tag.empty()) events.push_back(kTagsEvent);
    return events;
  }

  std::string WebhookLabel() const { return "deskpilot-" + options_.name; }

  // This source's webhook is the one that delivers to its endpoint, whatever the host.
  bool IsOurs(const HelpScoutWebhook& w) const {
    std::string url = w.url;
    while (!url.empty() && url.back() == '/') url.pop_back();
    return url.ends_with("/webhooks/" + options_.name);
  }

  Result<std::vector<HelpScoutWebhook>> ReadWebhooks() {
    const std::string what = "helpscout list webhooks";
    std::vector<HelpScoutWebhook> out;
    for (int page = 1;; ++page) {
      DP_ASSIGN_OR_RETURN(json doc, GetJson("/v2/webhooks?page=" + std::to_string(page), what));
      DP_ASSIGN_OR_RETURN(HalPage listed, ParseHalPage(doc, "webhooks", what));
      for (const json& w : listed.items) {
        HelpScoutWebhook hook{JsonId(w, "id"), JsonString(w, "url"), JsonString(w, "label"), JsonString(w, "state"), {}};
        if (hook.id.empty()) return Status::InvalidArgument(what + ": a webhook has no id");
        if (w.contains("events") && w["events"].is_array())
          for (const json& e : w["events"])
            if (e.is_string()) hook.events.push_back(e.get<std::string>());
        out.push_back(std::move(hook));
      }
      if (page >= listed.total_pages) break;
      if (page >= kMaxWebhookPages)
        return Status::FailedPrecondition(what + ": more than " + std::to_string(kMaxWebhookPages) + " pages");
    }
    return out;
  }

  HttpRequest JsonRequest(const std::string& method, const std::string& path, const json& body) const {
    HttpRequest req = Request(method, path);
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = JsonText(body);
    return req;
  }

  HttpRequest Request(const std::string& method, const std::string& path_and_query) const {
    HttpRequest req;
    req.method = method;
    req.url = options_.base_url + path_and_query;
    req.timeout = options_.request_timeout;
    req.headers = {{"Accept", "application/json"}};
    return req;
  }

  // With retries (429 + Retry-After, 5xx, transport errors); non-2xx mapped to a Status.
  Result<HttpResponse> Send(const HttpRequest& request, const std::string& what) {
    auto resp = SendWithRetry(transport_, request, options_.retry, options_.sleep);
    if (!resp.ok()) return resp.status().WithContext(what);
    DP_RETURN_IF_ERROR(StatusFromHttp(*resp, what));
    return resp;
  }

  // The plan's name for Help Scout field `id` ([custom_fields] maps name → id).
  std::string PlanFieldName(const std::string& id) const {
    for (const auto& [name, field_id] : options_.custom_fields)
      if (field_id == id) return name;
    return id;
  }

  // A mailbox's custom field definitions, read once per kFieldDefinitionsTtl and shared.
  Result<std::shared_ptr<const FieldDefinitionMap>> FieldDefinitions(const std::string& mailbox) {
    const auto now = options_.clock ? options_.clock() : std::chrono::system_clock::now();
    {
      std::lock_guard lock(fields_mu_);
      auto it = field_definitions_.find(mailbox);
      if (it != field_definitions_.end() && now - it->second.first < kFieldDefinitionsTtl) return it->second.second;
    }
    const std::string what = "helpscout list custom fields of mailbox " + mailbox;
    auto defs = std::make_shared<FieldDefinitionMap>();
    for (int64_t page = 1;; ++page) {
      DP_ASSIGN_OR_RETURN(json doc, GetJson("/v2/mailboxes/" + mailbox + "/fields?page=" + std::to_string(page), what));
      DP_ASSIGN_OR_RETURN(HalPage listed, ParseHalPage(doc, "fields", what));
      for (const json& f : listed.items) {
        FieldDefinition def;
        def.type = AsciiLower(JsonString(f, "type"));
        if (f.contains("options") && f["options"].is_array())
          for (const json& o : f["options"])
            if (IsHelpScoutId(JsonId(o, "id"))) def.options.emplace_back(JsonId(o, "id"), JsonString(o, "label"));
        if (const std::string id = JsonId(f, "id"); IsHelpScoutId(id)) (*defs)[id] = std::move(def);
      }
      if (page >= listed.total_pages || page >= kMaxFieldPages) break;
    }
    std::lock_guard lock(fields_mu_);
    // One entry per mailbox deskpilot writes a field to, replaced once it is too old.
    field_definitions_[mailbox] = {now, defs};
    return std::shared_ptr<const FieldDefinitionMap>(defs);
  }

  Result<json> GetJson(const std::string& path_and_query, const std::string& what) {
    DP_ASSIGN_OR_RETURN(HttpResponse resp, Send(Request("GET", path_and_query), what));
    json j = json::parse(resp.body, nullptr, false);
    if (j.is_discarded()) return Status::InvalidArgument(what + ": malformed JSON response");
    return j;
  }

  // A write that sets a whole value (tags, fields, owner): repeating it after a lost
  // answer changes nothing, so the shared retries apply as they are.
  Status Write(const std::string& method, const std::string& id, const std::string& sub, const json& body,
               const std::string& what) {
    HttpRequest req = Request(method, "/v2/conversations/" + id + sub);
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = JsonText(body);
    return Send(req, what).status();
  }

  static std::vector<std::string> TagsOf(const json& c) {
    std::vector<std::string> out;
    if (!c.is_object() || !c.contains("tags") || !c["tags"].is_array()) return out;
    for (const json& t : c["tags"]) {
      const std::string name = t.is_string() ? t.get<std::string>() : JsonString(t, "tag");
      if (!name.empty()) out.push_back(name);
    }
    return out;
  }

  // A conversation as read (GET /v2/conversations/{id}, or one entry of the listing) with
  // its threads, oldest first.
  Ticket ToTicket(const std::string& id, const json& c, const std::vector<Thread>& threads) const {
    Ticket out;
    out.id = id;
    out.source = options_.name;
    out.subject = JsonString(c, "subject");
    out.status = JsonString(c, "status");
    out.channel = JsonString(c, "type");  // email, chat, phone
    out.created_at = JsonString(c, "createdAt");
    out.updated_at = JsonString(c, "userUpdatedAt");
    // The priority tag Apply writes reads back as the priority. Tags are only added, so a
    // conversation can carry several: the highest counts, whatever their order.
    int priority = -1;
    for (const std::string& tag : TagsOf(c)) {
      out.tags.push_back(tag);
      for (int p = 0; p < static_cast<int>(std::size(kPriorities)); ++p)
        if (AsciiLower(tag) == AsciiLower(options_.priority_tag_prefix + kPriorities[p])) priority = std::max(priority, p);
    }
    if (priority >= 0) out.priority = kPriorities[priority];
    if (c.contains("customFields") && c["customFields"].is_array()) {
      for (const json& f : c["customFields"]) {
        const std::string name = JsonString(f, "name");
        // "text" is what an agent sees (a drop-down's label); "value" is its id.
        std::string value = JsonString(f, "text");
        if (value.empty()) value = JsonId(f, "value");
        if (!name.empty()) out.custom_fields[name] = value;
      }
    }
    out.group = GroupOf(c);
    const json& customer = c.contains("primaryCustomer") ? c["primaryCustomer"] : json();
    out.requester.email = JsonString(customer, "email");
    out.requester.name = std::string(TrimAsciiSpace(JsonString(customer, "first") + " " + JsonString(customer, "last")));
    for (const Thread& t : threads) {
      // Line items are state changes ("assigned to", "moved"); drafts, hidden and held
      // threads were never sent.
      if (t.type == "lineitem" || (!t.state.empty() && t.state != "published")) continue;
      out.comments.push_back(CommentOf(t));
      if (out.description.empty() && t.type == "customer") out.description = t.text;
    }
    return out;
  }

  // The configured group name the conversation's assignee or inbox stands for, if any.
  std::string GroupOf(const json& c) const {
    const std::string assignee = JsonId(c.contains("assignee") ? c["assignee"] : json(), "id");
    for (const auto& [name, id] : options_.assign_users)
      if (id == assignee) return name;
    const std::string mailbox = JsonId(c, "mailboxId");
    for (const auto& [name, id] : options_.mailboxes)
      if (id == mailbox) return name;
    return "";
  }

  Comment CommentOf(const Thread& t) const {
    Comment c;
    c.id = t.id;
    c.author_id = t.author_id;
    c.body = t.text;
    c.created_at = t.created_at;
    // Customers cannot write notes, so a customer cannot fake the marker.
    c.by_deskpilot = (t.author_type == "user" && t.author_id == options_.api_user_id) ||
                     (t.type == "note" && t.text.find(kHelpScoutMarkerPrefix) != std::string::npos);
    if (t.type == "customer") {
      c.author_role = AuthorRole::kCustomer;
    } else if (t.type == "message") {
      c.author_role = AuthorRole::kAgent;
    } else if (t.type == "note") {
      c.author_role = AuthorRole::kAgent;
      c.is_public = false;
    } else if (t.type == "chat" || t.type == "phone" || t.type == "beaconchat") {
      // Either side writes these; createdBy says which.
      c.author_role = t.author_type == "customer" ? AuthorRole::kCustomer : AuthorRole::kAgent;
    } else {
      // Forwards and types this does not know: an agent's, and not shown to the customer.
      // Never the customer's: an agent's text read as the customer's could open the way
      // to an automatic answer.
      c.author_role = AuthorRole::kAgent;
      c.is_public = false;
    }
    if (c.by_deskpilot) c.author_role = AuthorRole::kAgent;
    return c;
  }

  // All of the conversation's threads, oldest first, a page at a time.
  Result<std::vector<Thread>> ReadThreads(const std::string& id) {
    const std::string what = "helpscout fetch conversation " + id + " threads";
    std::vector<Thread> out;
    for (int page = 1;; ++page) {
      DP_ASSIGN_OR_RETURN(json doc, GetJson("/v2/conversations/" + id + "/threads?page=" + std::to_string(page), what));
      DP_ASSIGN_OR_RETURN(HalPage listed, ParseHalPage(doc, "threads", what));
      for (const json& t : listed.items) out.push_back(ThreadFromJson(t));
      if (page >= listed.total_pages) break;
      if (page >= kMaxThreadPages)
        return Status::FailedPrecondition(what + ": more than " + std::to_string(kMaxThreadPages) + " pages of threads");
    }
    SortOldestFirst(&out);
    return out;
  }

  // One thread (note or reply) with retries. A 5xx or a timeout can arrive after Help
  // Scout created the thread, so before each retry the threads are read again and the
  // thread is not posted twice when it is already there.
  Status PostThread(const std::string& id, const std::string& kind, const json& body,
                    const std::function<bool(const std::vector<Thread>&)>& landed, const std::string& what) {
    HttpRequest req = Request("POST", "/v2/conversations/" + id + "/" + kind);
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = JsonText(body);
    return SendWriteOnce(
        [&] {
          auto resp = transport_.Send(req);
          return resp.ok() ? StatusFromHttp(*resp, what) : resp.status().WithContext(what);
        },
        [&]() -> Result<bool> {
          DP_ASSIGN_OR_RETURN(std::vector<Thread> threads, ReadThreads(id));
          return landed(threads);
        },
        options_.retry, [this](std::chrono::milliseconds d) { Sleep(d); });
  }

  void Sleep(std::chrono::milliseconds d) const {
    if (options_.sleep) {
      options_.sleep(d);
    } else {
      std::this_thread::sleep_for(d);
    }
  }

  HelpScoutOptions options_;
  std::mutex fields_mu_;
  std::map<std::string, std::pair<std::chrono::system_clock::time_point, std::shared_ptr<const FieldDefinitionMap>>>
      field_definitions_;  // mailbox id → when read, its definitions
  Transport transport_;
  DocsTransport docs_;
};

// A numeric id from a config value written as a number or a string; "" otherwise.
std::string ConfigId(const json* raw) {
  if (raw == nullptr) return "";
  const std::string id = JsonIdText(*raw);
  return IsHelpScoutId(id) ? id : "";
}

void ReadIdTable(ConfigSection& section, const std::string& key, const std::string& what,
                 std::map<std::string, std::string>* out) {
  ConfigSection table = section.Table(key);
  for (const std::string& name : table.Keys()) {
    (*out)[name] = ConfigId(table.Raw(name));
    if ((*out)[name].empty()) table.AddError(name, "must be the numeric id of a Help Scout " + what);
  }
}

}  // namespace

Result<HelpScoutOptions> HelpScoutOptionsFromConfig(ConfigSection& section, const std::string& name,
                                                    bool require_webhook_secret) {
  HelpScoutOptions o;
  o.name = name;
  (void)section.String("name", name);
  (void)section.String("type", "helpscout");
  o.base_url = section.String("base_url", o.base_url);
  while (!o.base_url.empty() && o.base_url.back() == '/') o.base_url.pop_back();
  if (o.base_url.rfind("http://", 0) != 0 && o.base_url.rfind("https://", 0) != 0)
    section.AddError("base_url", "must start with https:// (or http:// for a local test server)");
  // A base_url ending in /v2 would double the prefix on every call.
  if (o.base_url.size() >= 3 && o.base_url.compare(o.base_url.size() - 3, 3, "/v2") == 0)
    section.AddError("base_url", "give the API URL without /v2 (https://api.helpscout.net)");
  o.app_id = section.String("app_id");
  if (section.Has("app_id") && o.app_id.empty()) section.AddError("app_id", "must be the OAuth2 app's App ID");
  o.app_secret = section.Secret("app_secret", true);
  // Required: an empty HMAC key would make every signature trivially forgeable. Except
  // for `webhook register`, which hands the secret out (VerifyWebhook refuses without one).
  o.webhook_secret =
      require_webhook_secret ? section.Secret("webhook_secret", true) : section.SecretIfSet("webhook_secret");
  if (o.webhook_secret.size() > kHelpScoutMaxSecretChars)
    section.AddError("webhook_secret", "is " + std::to_string(o.webhook_secret.size()) +
                                           " characters; Help Scout's webhook secret is at most 40, so this cannot be it");
  o.request_timeout = std::chrono::milliseconds(section.Int("request_timeout_ms", 10000, 100, 600000));
  if (!section.Has("api_user_id")) {
    section.AddError("api_user_id", "required: the numeric id of the Help Scout user the app belongs to (loop guard)");
  } else {
    o.api_user_id = ConfigId(section.Raw("api_user_id"));
    if (o.api_user_id.empty()) section.AddError("api_user_id", "must be the API user's numeric id");
  }
  o.priority_tag_prefix = section.String("priority_tag_prefix", o.priority_tag_prefix);
  if (o.priority_tag_prefix.empty())
    section.AddError("priority_tag_prefix", "must not be empty (the priority would be a bare tag such as \"high\")");
  ReadIdTable(section, "assign_users", "user", &o.assign_users);
  ReadIdTable(section, "mailboxes", "inbox (mailbox)", &o.mailboxes);
  ReadIdTable(section, "custom_fields", "custom field", &o.custom_fields);
  for (const auto& [group, id] : o.assign_users)
    if (o.mailboxes.count(group))
      section.AddError("mailboxes." + group, "is also in [assign_users]; a group either assigns or moves");
  // Only `kb sync` uses the Docs key: a server started without the variable still runs.
  o.docs_api_key = section.SecretIfSet("docs_api_key");
  o.docs_base_url = section.String("docs_base_url", o.docs_base_url);
  while (!o.docs_base_url.empty() && o.docs_base_url.back() == '/') o.docs_base_url.pop_back();
  if (o.docs_base_url.rfind("http://", 0) != 0 && o.docs_base_url.rfind("https://", 0) != 0)
    section.AddError("docs_base_url", "must start with https:// (or http:// for a local test server)");
  if (o.docs_base_url.ends_with("/v1"))
    section.AddError("docs_base_url", "give the Docs API URL without /v1 (https://docsapi.helpscout.net)");
  o.docs_collections = section.StringList("docs_collections", std::vector<std::string>{});
  for (const std::string& id : o.docs_collections)
    if (!IsDocsId(id)) section.AddError("docs_collections", "\"" + id + "\" is not a Docs collection id");
  o.kb_locale = section.String("kb_locale", o.kb_locale);
  if (o.kb_locale.empty() || o.kb_locale.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
    section.AddError("kb_locale", "\"" + o.kb_locale + "\" is not a lower-case locale such as \"en\" or \"en-us\"");
  DP_RETURN_IF_ERROR(section.Finish());
  return o;
}

std::unique_ptr<Helpdesk> NewHelpScoutHelpdesk(HelpScoutOptions options, HttpClient* http) {
  return std::make_unique<HelpScoutHelpdesk>(std::move(options), http);
}

}  // namespace deskpilot
