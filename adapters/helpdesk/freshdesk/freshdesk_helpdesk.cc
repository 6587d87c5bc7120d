#include "helpdesk/freshdesk/freshdesk_helpdesk.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <iterator>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "common/html_text/html_text.h"
#include "deskpilot/crypto.h"
#include "deskpilot/json_scan.h"
#include "deskpilot/json_text.h"
#include "deskpilot/rfc3339.h"
#include "deskpilot/text.h"
#include "common/json_fields/json_fields.h"

namespace deskpilot {
namespace {

using nlohmann::json;

// Freshdesk's priority codes (1 Low, 2 Medium, 3 High, 4 Urgent): index + 1.
constexpr const char* kPriorityNames[] = {"low", "normal", "high", "urgent"};
// A page of conversations; Freshdesk's maximum per_page.
constexpr int kPerPage = 100;
// 100 pages of 100: a bound on one ticket's read whatever the server answers.
constexpr int kMaxPages = 100;
// Ticket search answers 30 per page and at most 10 pages.
constexpr int kSearchPageSize = 30;
constexpr int kMaxSearchPages = 10;
// Levels of sub-folders below a category's folder. Freshdesk's own nesting limit is not
// confirmed; the bound (with the set of folders already read) only keeps a malformed or
// cyclic answer from being walked forever.
constexpr int kMaxSubFolderDepth = 8;
// A folder's visibility 1 is "All users" (askasoft/pango sdk/fdk/freshdesk/folder.go);
// the others (logged-in users, agents, selected companies, bots, segments) are not for
// every customer, so their articles are never quoted to one.
constexpr const char* kVisibleToAllUsers = "1";

std::string Header(const WebhookRequest& r, const std::string& lower_name) {
  auto it = r.headers.find(lower_name);
  return it == r.headers.end() ? std::string() : it->second;
}

bool BoolOr(const json& obj, const char* key, bool fallback) {
  if (!obj.is_object()) return fallback;
  auto it = obj.find(key);
  return it != obj.end() && it->is_boolean() ? it->get<bool>() : fallback;
}

// Freshdesk ids are positive integers.
bool IsFreshdeskId(const std::string& s) { return IsPositiveDecimalId(s); }

// Freshdesk's status codes; a custom status reads as its number.
std::string StatusName(const json& t) {
  const std::string code = JsonId(t, "status");
  if (code == "2") return "open";
  if (code == "3") return "pending";
  if (code == "4") return "solved";
  if (code == "5") return "closed";
  return code;
}

// Freshdesk's source codes (1 Email, 2 Portal, 3 Phone, 7 Chat, 9 Feedback Widget,
// 10 Outbound Email) in deskpilot's channel words.
std::string ChannelName(const json& t) {
  const std::string code = JsonId(t, "source");
  if (code == "1" || code == "10") return "email";
  if (code == "2" || code == "9") return "web";
  if (code == "3") return "phone";
  if (code == "7") return "chat";
  return "";
}

class FreshdeskHelpdesk : public Helpdesk {
 public:
  FreshdeskHelpdesk(FreshdeskOptions options, HttpClient* http)
      : options_(std::move(options)), header_(AsciiLower(options_.webhook_header)), http_(http) {}

  std::string_view type() const override { return "freshdesk"; }

  Status VerifyWebhook(const WebhookRequest& request) const override {
    if (options_.webhook_secret.empty()) return Status::Unauthenticated("no webhook secret configured");
    // Freshdesk signs nothing, so the secret itself travels with every delivery (over
    // TLS); a redelivery is caught by the body hash (ParseWebhook).
    const std::string token = Header(request, header_);
    if (!token.empty()) {
      // A repeated header arrives joined with ", " and so fails here, as it should.
      if (!ConstantTimeEquals(token, options_.webhook_secret))
        return Status::Unauthenticated(options_.webhook_header + " does not match the webhook secret");
      return Status::Ok();
    }
    // The rule's "Requires authentication" option: any user name, the secret as password.
    const std::string auth = Header(request, "authorization");
    if (auth.empty()) return Status::Unauthenticated("missing " + options_.webhook_header + " header");
    constexpr std::string_view kBasic = "Basic ";
    std::string decoded;
    if (auth.size() <= kBasic.size() || AsciiLower(auth.substr(0, kBasic.size())) != "basic " ||
        !Base64Decode(TrimAsciiSpace(std::string_view(auth).substr(kBasic.size())), &decoded))
      return Status::Unauthenticated("Authorization is not HTTP Basic");
    const size_t colon = decoded.find(':');
    if (colon == std::string::npos) return Status::Unauthenticated("Basic credentials have no password");
    if (!ConstantTimeEquals(std::string_view(decoded).substr(colon + 1), options_.webhook_secret))
      return Status::Unauthenticated("Basic password does not match the webhook secret");
    return Status::Ok();
  }

  Result<WebhookEvent> ParseWebhook(const WebhookRequest& request) const override {
    enum { kTicketId, kEvent, kModifiedOn };
    static const std::vector<JsonPath> kPaths = {{"ticket_id"}, {"event"}, {"modified_on"}};
    auto scan = ScanJsonObject(request.body, kPaths);
    if (!scan.ok()) return Status::InvalidArgument("freshdesk webhook: " + scan.status().message());
    const std::vector<JsonScalar>& v = *scan;
    WebhookEvent ev;
    ev.ticket_id = v[kTicketId].IdText();
    if (!IsFreshdeskId(ev.ticket_id))
      return Status::InvalidArgument(
          "freshdesk webhook: missing or non-numeric \"ticket_id\" (paste the body template from the adapter's README)");
    ev.event_type = "ticket.rule_fired";
    // There is no delivery id: Freshdesk's retries resend the same body byte for byte,
    // and the documented template carries {{triggered_event}} and {{ticket.modified_on}},
    // so two different updates of one ticket make two different bodies.
    ev.dedupe_key = "freshdesk:" + options_.name + ":sha256:" + Sha256Hex(request.body);
    // No placeholder names who acted; the rule's "performed by" condition keeps
    // deskpilot's own updates out, and the worker skips a ticket whose newest
    // conversation is deskpilot's (FetchTicket marks them).
    return ev;
  }

  Result<Ticket> FetchTicket(const std::string& ticket_id) override {
    if (!IsFreshdeskId(ticket_id))
      return Status::InvalidArgument("freshdesk ticket id must be a positive integer, got \"" + ticket_id + "\"");
    const std::string what = "freshdesk fetch ticket " + ticket_id;
    // include=requester embeds the contact, which saves a call per ticket.
    DP_ASSIGN_OR_RETURN(HttpResponse resp, Send(Request("GET", "/api/v2/tickets/" + ticket_id + "?include=requester"), what));
    DP_ASSIGN_OR_RETURN(json t, ParseJson(resp.body, what));
    if (!t.is_object()) return Status::InvalidArgument(what + ": response is not a JSON object");
    DP_ASSIGN_OR_RETURN(std::vector<Comment> conversations, ReadConversations(ticket_id));
    Ticket out = ToTicket(t, std::move(conversations));
    out.id = ticket_id;
    return out;
  }

  std::vector<std::string> ArticleLocales() const override {
    return options_.kb_locale.empty() ? std::vector<std::string>{} : std::vector<std::string>{options_.kb_locale};
  }

  // Solutions: categories → folders → sub-folders → articles, the portal's primary
  // language only (the list calls return it). There is no "changed since" listing, so
  // every article is listed and the ones older than updated_since are dropped here.
  Result<std::vector<HelpArticle>> ListArticles(
      const std::string& locale, std::optional<std::chrono::system_clock::time_point> updated_since) override {
    if (options_.kb_locale.empty() || locale != options_.kb_locale)
      return Status::InvalidArgument("freshdesk syncs the portal's primary language only: set kb_locale (now \"" +
                                     options_.kb_locale + "\") and sync that locale, not \"" + locale + "\"");
    DP_ASSIGN_OR_RETURN(std::vector<json> categories,
                        GetAllPages("/api/v2/solutions/categories", "freshdesk list solution categories"));
    ArticleWalk walk{locale, updated_since ? FormatRfc3339Utc(*updated_since) : "", {}, {}};
    for (const json& category : categories) {
      const std::string category_id = JsonId(category, "id");
      if (!IsFreshdeskId(category_id)) return Status::InvalidArgument("freshdesk list solution categories: a category has no id");
      const std::string what = "freshdesk list folders of category " + category_id;
      DP_ASSIGN_OR_RETURN(std::vector<json> folders, GetAllPages("/api/v2/solutions/categories/" + category_id + "/folders", what));
      // A sub-folder is read through its parent, whose visibility it must not escape,
      // should the category's list name it too (whether it does is not confirmed).
      for (const json& folder : folders)
        if (!IsFreshdeskId(JsonId(folder, "parent_folder_id"))) DP_RETURN_IF_ERROR(WalkFolder(folder, 0, walk, what));
    }
    return std::move(walk.out);
  }

  Result<std::vector<Ticket>> ListSolvedTickets(std::chrono::system_clock::time_point updated_since, int limit,
                                                bool with_comments) override {
    if (limit < 1) return Status::InvalidArgument("freshdesk list solved tickets: limit must be at least 1");
    const std::string what = "freshdesk search solved tickets";
    // The search's updated_at filter compares whole days, so it asks from the day before
    // and what is older than updated_since is dropped below. 4 Resolved, 5 Closed.
    const std::string day = FormatRfc3339Utc(updated_since - std::chrono::hours(24)).substr(0, 10);
    const std::string query = "\"(status:4 OR status:5) AND updated_at:>'" + day + "'\"";
    const std::string since = FormatRfc3339Utc(updated_since);
    std::vector<json> found;
    for (int page = 1; page <= kMaxSearchPages; ++page) {
      DP_ASSIGN_OR_RETURN(HttpResponse resp, Send(Request("GET", "/api/v2/search/tickets?query=" + PercentEncode(query) +
                                                                     "&page=" + std::to_string(page)),
                                                  what));
      DP_ASSIGN_OR_RETURN(json doc, ParseJson(resp.body, what));
      if (!doc.is_object() || !doc.contains("results") || !doc["results"].is_array())
        return Status::InvalidArgument(what + ": response has no \"results\" array");
      for (const json& t : doc["results"]) {
        const std::string status = JsonId(t, "status");
        // RFC 3339 UTC text of one shape compares as time.
        if (IsFreshdeskId(JsonId(t, "id")) && (status == "4" || status == "5") && JsonString(t, "updated_at") >= since)
          found.push_back(t);
      }
      if (static_cast<int>(doc["results"].size()) < kSearchPageSize) break;
    }
    std::stable_sort(found.begin(), found.end(),
                     [](const json& a, const json& b) { return JsonString(a, "updated_at") > JsonString(b, "updated_at"); });
    std::vector<Ticket> out;
    for (const json& t : found) {
      if (static_cast<int>(out.size()) >= limit) break;
      if (!with_comments) {
        out.push_back(ToTicket(t, {}));
        continue;
      }
      auto ticket = FetchTicket(JsonId(t, "id"));
      // Deleted between the search and the read: nothing to learn from it.
      if (!ticket.ok() && ticket.status().code() == Code::kNotFound) continue;
      if (!ticket.ok()) return ticket.status();
      out.push_back(std::move(ticket).value());
    }
    return out;
  }

  Status Apply(const Ticket& ticket, const WritePlan& plan) override {
    if (plan.empty()) return Status::Ok();
    if (!IsFreshdeskId(ticket.id))
      return Status::InvalidArgument("freshdesk ticket id must be a positive integer, got \"" + ticket.id + "\"");
    const std::string what = "freshdesk apply to ticket " + ticket.id;
    std::vector<std::string> tags;
    json fields = json::object();
    std::string note, reply, unmapped_group;
    for (const WriteAction& a : plan.actions) {
      switch (a.type) {
        case ActionType::kSetTags:
          for (const auto& t : a.tags)
            if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
          break;
        case ActionType::kSetPriority: {
          auto p = std::find(std::begin(kPriorityNames), std::end(kPriorityNames), a.value);
          if (p != std::end(kPriorityNames))
            fields["priority"] = std::distance(std::begin(kPriorityNames), p) + 1;
          else
            spdlog::warn("freshdesk {}: ticket {}: priority \"{}\" is not a deskpilot priority; not set",
                         options_.name, ticket.id, a.value);
          break;
        }
        case ActionType::kSetGroup:
          if (auto it = options_.groups.find(a.value); it != options_.groups.end())
            fields["group_id"] = it->second;
          else
            unmapped_group = a.value;
          break;
        case ActionType::kSetCustomField:
          fields["custom_fields"][a.field] = a.value;
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
    // after this plan's note (or, in a plan without a note, after the newest
    // conversation someone else wrote). Read afresh: the caller's snapshot may predate an
    // earlier attempt.
    std::vector<Comment> current;
    if (!note.empty() || !reply.empty()) {
      DP_ASSIGN_OR_RETURN(current, ReadConversations(ticket.id));
    }
    const std::string marker = plan.idempotency_key.empty() ? "" : kFreshdeskMarkerPrefix + plan.idempotency_key;
    auto note_landed = [&](const std::vector<Comment>& cs) {
      return !marker.empty() && std::any_of(cs.begin(), cs.end(), [&](const Comment& c) {
               return !c.is_public && c.body.find(marker) != std::string::npos;
             });
    };
    const std::string squashed_reply = SquashSpace(reply);
    const bool has_note = !note.empty() && !marker.empty();
    auto reply_landed = [&](const std::vector<Comment>& cs) {
      auto from = cs.end();
      while (from != cs.begin()) {
        const Comment& c = *std::prev(from);
        if (has_note ? (!c.is_public && c.body.find(marker) != std::string::npos)
                     : c.author_id != options_.api_agent_id)
          break;
        --from;
      }
      if (from == cs.begin() && has_note) return false;  // our note is not there yet
      return std::any_of(from, cs.end(), [&](const Comment& c) {
        return c.is_public && c.author_id == options_.api_agent_id && SquashSpace(c.body) == squashed_reply;
      });
    };

    // The note goes first: it is what agents need even when a field below is refused,
    // and the reply's landed check starts from it.
    if (!note.empty() && !note_landed(current)) {
      json body = {{"body", TextToHtml(note)}, {"private", true}};
      DP_RETURN_IF_ERROR(PostOnce("/api/v2/tickets/" + ticket.id + "/notes", body, ticket.id, note_landed,
                                  what + " (private note)"));
    }
    if (!tags.empty()) {
      // PUT {"tags":[...]} replaces the whole set, so the set is read right before the
      // write and deskpilot's tags are added to it: an agent's tag is never dropped.
      DP_ASSIGN_OR_RETURN(std::vector<std::string> have, ReadTags(ticket.id));
      const size_t had = have.size();
      for (const std::string& tag : tags)
        if (std::find(have.begin(), have.end(), tag) == have.end()) have.push_back(tag);
      if (have.size() != had) fields["tags"] = have;
    }
    if (!fields.empty()) {
      HttpRequest req = Request("PUT", "/api/v2/tickets/" + ticket.id);
      req.headers.emplace_back("Content-Type", "application/json");
      req.body = JsonText(fields);
      // Setting values is idempotent: a retry after a lost answer changes nothing.
      DP_RETURN_IF_ERROR(Send(req, what + " (fields)").status());
    }
    // After the other fields landed, before a reply: a config gap fails the job loudly
    // instead of moving the ticket to no group or sending a reply past it.
    if (!unmapped_group.empty())
      return Status::InvalidArgument(what + ": group \"" + unmapped_group +
                                     "\" has no Freshdesk group id in the helpdesk's [groups] table");
    if (!reply.empty() && !reply_landed(current)) {
      json body = {{"body", TextToHtml(reply)}};
      DP_RETURN_IF_ERROR(PostOnce("/api/v2/tickets/" + ticket.id + "/reply", body, ticket.id, reply_landed,
                                  what + " (reply)"));
    }
    return Status::Ok();
  }

 private:
  HttpRequest Request(const std::string& method, const std::string& path_and_query) const {
    HttpRequest req;
    req.method = method;
    req.url = options_.base_url + path_and_query;
    req.timeout = options_.request_timeout;
    req.headers = {{"Authorization", "Basic " + Base64Encode(options_.api_key + ":X")},
                   {"Accept", "application/json"}};
    return req;
  }

  // With retries (429 + Retry-After, 5xx, transport errors); non-2xx mapped to a Status.
  Result<HttpResponse> Send(const HttpRequest& request, const std::string& what) {
    auto resp = SendWithRetry(*http_, request, options_.retry, options_.sleep);
    if (!resp.ok()) return resp.status().WithContext(what);
    DP_RETURN_IF_ERROR(StatusFromHttp(*resp, what));
    return resp;
  }

  static Result<json> ParseJson(const std::string& body, const std::string& what) {
    json j = json::parse(body, nullptr, false);
    if (j.is_discarded()) return Status::InvalidArgument(what + ": malformed JSON response");
    return j;
  }

  Result<std::vector<std::string>> ReadTags(const std::string& ticket_id) {
    const std::string what = "freshdesk read ticket " + ticket_id + " tags";
    DP_ASSIGN_OR_RETURN(HttpResponse resp, Send(Request("GET", "/api/v2/tickets/" + ticket_id), what));
    DP_ASSIGN_OR_RETURN(json t, ParseJson(resp.body, what));
    if (!t.is_object() || !t.contains("tags") || !t["tags"].is_array())
      return Status::InvalidArgument(what + ": response has no \"tags\" array");
    std::vector<std::string> out;
    for (const auto& tag : t["tags"])
      if (tag.is_string()) out.push_back(tag.get<std::string>());
    return out;
  }

  // Every object of a paged list: pages of 100 until a page has no rel="next" Link or
  // comes back short. The next page's URL is built here, not taken from the header: the
  // API key only goes to base_url.
  Result<std::vector<json>> GetAllPages(const std::string& path, const std::string& what) {
    std::vector<json> out;
    for (int page = 1;; ++page) {
      if (page > kMaxPages) return Status::InvalidArgument(what + ": more than " + std::to_string(kMaxPages) + " pages");
      DP_ASSIGN_OR_RETURN(HttpResponse resp,
                          Send(Request("GET", path + "?per_page=" + std::to_string(kPerPage) + "&page=" + std::to_string(page)),
                               what));
      DP_ASSIGN_OR_RETURN(json list, ParseJson(resp.body, what));
      if (!list.is_array()) return Status::InvalidArgument(what + ": response is not a JSON array");
      for (json& item : list) {
        if (!item.is_object()) return Status::InvalidArgument(what + ": an item is not an object");
        out.push_back(std::move(item));
      }
      if (static_cast<int>(list.size()) < kPerPage || resp.Header("link").find("rel=\"next\"") == std::string::npos)
        return out;
    }
  }

  struct ArticleWalk {
    std::string locale;
    std::string since;                 // RFC 3339 UTC; "" lists every article
    std::set<std::string> visited;     // folder ids already read
    std::vector<HelpArticle> out;
  };

  // A folder's articles, then its sub-folders' (depth levels below a category's
  // folder). A folder not visible to all users is skipped with everything below it:
  // a sub-folder never counts as more public than its parent. GET
  // /solutions/folders/{id}/subfolders, paged like the other lists, and the folder's
  // sub_folders_count and parent_folder_id: askasoft/pango sdk/fdk/freshdesk
  // (solutions.go, folder.go).
  Status WalkFolder(const json& folder, int depth, ArticleWalk& walk, const std::string& listed_by) {
    const std::string folder_id = JsonId(folder, "id");
    if (!IsFreshdeskId(folder_id)) return Status::InvalidArgument(listed_by + ": a folder has no id");
    // A folder listed twice (by its category and by its parent, or in a cycle) is read once.
    if (!walk.visited.insert(folder_id).second) return Status::Ok();
    if (JsonId(folder, "visibility") != kVisibleToAllUsers) return Status::Ok();
    const std::string what = "freshdesk list articles of folder " + folder_id;
    DP_ASSIGN_OR_RETURN(std::vector<json> articles, GetAllPages("/api/v2/solutions/folders/" + folder_id + "/articles", what));
    for (const json& a : articles) {
      HelpArticle article;
      article.id = JsonId(a, "id");
      if (!IsFreshdeskId(article.id)) return Status::InvalidArgument(what + ": an article has no id");
      article.updated_at = JsonString(a, "updated_at");
      if (!walk.since.empty() && article.updated_at < walk.since) continue;
      article.locale = walk.locale;
      article.title = JsonString(a, "title");
      article.body_html = JsonString(a, "description");
      article.url = options_.base_url + "/support/solutions/articles/" + article.id;
      // 1 draft, 2 published.
      article.draft = JsonId(a, "status") != "2";
      walk.out.push_back(std::move(article));
    }
    // sub_folders_count 0 saves the call; without the member the sub-folders are asked for.
    const bool count_reported = folder.contains("sub_folders_count");
    if (JsonId(folder, "sub_folders_count") == "0") return Status::Ok();
    const std::string sub_what = "freshdesk list sub-folders of folder " + folder_id;
    auto subfolders = GetAllPages("/api/v2/solutions/folders/" + folder_id + "/subfolders", sub_what);
    // A folder that reports no sub_folders_count comes from a portal whose API may predate
    // sub-folders (the member came with them), where the endpoint can be missing: a 404
    // there means "none", as every article such a portal has was listed above. Where the
    // count is reported, a 404 is a real error and fails the sync.
    if (!subfolders.ok() && subfolders.status().code() == Code::kNotFound && !count_reported) return Status::Ok();
    if (!subfolders.ok()) return subfolders.status();
    // Failing beats stopping here: a sync that silently left out a deep folder would
    // remove its articles from the knowledge base.
    if (!subfolders->empty() && depth >= kMaxSubFolderDepth)
      return Status::InvalidArgument(sub_what + ": more than " + std::to_string(kMaxSubFolderDepth) +
                                     " levels of sub-folders");
    for (const json& sub : *subfolders) DP_RETURN_IF_ERROR(WalkFolder(sub, depth + 1, walk, sub_what));
    return Status::Ok();
  }

  // The ticket's conversations (replies and notes) as comments, oldest first.
  Result<std::vector<Comment>> ReadConversations(const std::string& ticket_id) {
    DP_ASSIGN_OR_RETURN(std::vector<json> list, GetAllPages("/api/v2/tickets/" + ticket_id + "/conversations",
                                                            "freshdesk fetch ticket " + ticket_id + " conversations"));
    std::vector<Comment> out;
    for (const json& a : list) out.push_back(ToComment(a));
    return out;
  }

  // A ticket record (as GET /tickets/{id} or a search returns it) and its
  // conversations as deskpilot's Ticket.
  Ticket ToTicket(const json& t, std::vector<Comment> conversations) const {
    Ticket out;
    out.id = JsonId(t, "id");
    out.source = options_.name;
    out.subject = JsonString(t, "subject");
    out.description = JsonString(t, "description_text");
    if (out.description.empty()) out.description = HtmlToText(JsonString(t, "description"));
    out.status = StatusName(t);
    out.channel = ChannelName(t);
    out.created_at = JsonString(t, "created_at");
    out.updated_at = JsonString(t, "updated_at");
    if (auto p = t.find("priority"); p != t.end() && p->is_number_integer() && p->get<int64_t>() >= 1 &&
                                     p->get<int64_t>() <= 4)
      out.priority = kPriorityNames[p->get<int64_t>() - 1];
    const std::string group = JsonId(t, "group_id");
    out.group = group;
    for (const auto& [name, id] : options_.groups) {
      if (std::to_string(id) == group) {
        out.group = name;
        break;
      }
    }
    if (auto tags = t.find("tags"); tags != t.end() && tags->is_array())
      for (const auto& tag : *tags)
        if (tag.is_string()) out.tags.push_back(tag.get<std::string>());
    if (auto cf = t.find("custom_fields"); cf != t.end() && cf->is_object())
      for (const auto& [k, val] : cf->items())
        if (!val.is_null()) out.custom_fields[k] = JsonScalarText(val);
    const json requester = t.contains("requester") ? t["requester"] : json();
    out.requester.email = JsonString(requester, "email");
    out.requester.name = JsonString(requester, "name");
    // The description is the customer's first message; Freshdesk keeps it on the ticket,
    // not among the conversations, and the thread deskpilot reads starts with it.
    if (!out.description.empty()) {
      Comment first;
      first.id = "description";
      first.author_id = JsonId(t, "requester_id");
      first.author_role = AuthorRole::kCustomer;
      first.body = out.description;
      first.created_at = out.created_at;
      out.comments.push_back(std::move(first));
    }
    for (Comment& c : conversations) {
      // The requester's own messages are the customer's, whichever way they came in.
      if (c.author_role != AuthorRole::kCustomer && c.is_public && !c.by_deskpilot &&
          c.author_id == JsonId(t, "requester_id"))
        c.author_role = AuthorRole::kCustomer;
      out.comments.push_back(std::move(c));
    }
    return out;
  }

  Comment ToComment(const json& a) const {
    Comment c;
    c.id = JsonId(a, "id");
    c.author_id = JsonId(a, "user_id");
    c.is_public = !BoolOr(a, "private", false);
    c.body = JsonString(a, "body_text");
    if (c.body.empty()) c.body = HtmlToText(JsonString(a, "body"));
    c.created_at = JsonString(a, "created_at");
    // Customers cannot write private notes, so a customer cannot fake the marker.
    c.by_deskpilot = c.author_id == options_.api_agent_id ||
                     (!c.is_public && c.body.find(kFreshdeskMarkerPrefix) != std::string::npos);
    // incoming marks what came from outside (the customer's mail, a portal reply); a
    // private note is always an agent's. Anything else is not trusted as the customer:
    // an agent's reply counted as the customer's would open the way to an automatic answer.
    c.author_role = !c.by_deskpilot && c.is_public && BoolOr(a, "incoming", false) ? AuthorRole::kCustomer
                                                                                    : AuthorRole::kAgent;
    return c;
  }

  // One note or reply with retries. A 5xx or a timeout can arrive after Freshdesk created
  // it, so before each retry the conversations are read again and it is not posted
  // twice when it is already there.
  Status PostOnce(const std::string& path, const json& body, const std::string& ticket_id,
                  const std::function<bool(const std::vector<Comment>&)>& landed, const std::string& what) {
    HttpRequest req = Request("POST", path);
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = JsonText(body);
    return SendWriteOnce(
        [&] {
          auto resp = http_->Send(req);
          return resp.ok() ? StatusFromHttp(*resp, what) : resp.status().WithContext(what);
        },
        [&]() -> Result<bool> {
          DP_ASSIGN_OR_RETURN(std::vector<Comment> conversations, ReadConversations(ticket_id));
          return landed(conversations);
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

  FreshdeskOptions options_;
  std::string header_;  // webhook_header, lower-cased as the listener hands headers over
  HttpClient* http_;
};

}  // namespace

Result<FreshdeskOptions> FreshdeskOptionsFromConfig(ConfigSection& section, const std::string& name) {
  FreshdeskOptions o;
  o.name = name;
  (void)section.String("name", name);
  (void)section.String("type", "freshdesk");
  o.base_url = section.String("base_url");
  while (!o.base_url.empty() && o.base_url.back() == '/') o.base_url.pop_back();
  if (section.Has("base_url") && o.base_url.rfind("http://", 0) != 0 && o.base_url.rfind("https://", 0) != 0)
    section.AddError("base_url", "must start with https:// (or http:// for a local test server)");
  // A base_url ending in /api/v2 would double the prefix on every call.
  if (o.base_url.size() >= 7 && o.base_url.compare(o.base_url.size() - 7, 7, "/api/v2") == 0)
    section.AddError("base_url", "give the Freshdesk URL without /api/v2 (https://acme.freshdesk.com)");
  o.api_key = section.Secret("api_key", true);
  o.webhook_secret = section.Secret("webhook_secret", true);
  // Secret() already refuses an empty one; a short one is guessable.
  if (!o.webhook_secret.empty() && o.webhook_secret.size() < kFreshdeskMinSecretBytes)
    section.AddError("webhook_secret", "must be at least " + std::to_string(kFreshdeskMinSecretBytes) +
                                           " bytes (e.g. openssl rand -hex 32)");
  o.webhook_header = section.String("webhook_header", o.webhook_header);
  const bool token_char_only = std::all_of(o.webhook_header.begin(), o.webhook_header.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_';
  });
  if (o.webhook_header.empty() || !token_char_only)
    section.AddError("webhook_header", "must be an HTTP header name (letters, digits, '-', '_')");
  else if (AsciiLower(o.webhook_header) == "authorization")
    section.AddError("webhook_header", "Authorization is read as Basic auth already; name another header");
  o.request_timeout = std::chrono::milliseconds(section.Int("request_timeout_ms", 10000, 100, 600000));
  if (!section.Has("api_agent_id")) {
    section.AddError("api_agent_id", "required: the numeric id of the Freshdesk agent the API key belongs to (loop guard)");
  } else {
    const nlohmann::json* raw = section.Raw("api_agent_id");
    o.api_agent_id = raw->is_number_integer() ? std::to_string(raw->get<int64_t>())
                     : raw->is_string()       ? raw->get<std::string>()
                                              : "";
    if (!IsFreshdeskId(o.api_agent_id)) section.AddError("api_agent_id", "must be the API agent's numeric id");
  }
  o.kb_locale = section.String("kb_locale", "");
  ConfigSection groups = section.Table("groups");
  for (const std::string& key : groups.Keys()) {
    const int64_t id = groups.Int(key, std::nullopt, 1);
    o.groups[key] = id;
  }
  DP_RETURN_IF_ERROR(section.Finish());
  return o;
}

std::unique_ptr<Helpdesk> NewFreshdeskHelpdesk(FreshdeskOptions options, HttpClient* http) {
  return std::make_unique<FreshdeskHelpdesk>(std::move(options), http);
}

}  // namespace deskpilot
