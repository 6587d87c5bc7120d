#include "helpdesk/zammad/zammad_helpdesk.h"

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
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
#include "helpdesk/zammad/zammad_admin.h"
#include "common/json_fields/json_fields.h"

namespace deskpilot {
namespace {

constexpr char kSignatureHeader[] = "x-hub-signature";
constexpr char kDeliveryHeader[] = "x-zammad-delivery";
constexpr std::string_view kSignaturePrefix = "sha1=";

std::string Header(const WebhookRequest& r, const char* lower_name) {
  auto it = r.headers.find(lower_name);
  return it == r.headers.end() ? std::string() : it->second;
}

using nlohmann::json;

// deskpilot's priorities, lowest first: a Zammad priority that several of them map to
// (urgent and high both to "3 high" by default) reads back as the first.
constexpr const char* kPriorityOrder[] = {"low", "normal", "high", "urgent"};

// The state a solved ticket is in: Zammad has no "solved" (a merged ticket lives on in
// its target, so it is not one).
constexpr char kSolvedState[] = "closed";
// A search page (Zammad allows up to 200) and how many pages one listing reads at most:
// 10,000 tickets, `train --limit`'s default.
constexpr int kSearchPageSize = 100;
constexpr int kMaxSearchPages = 100;

// Zammad ids are positive integers (database ids).
bool IsZammadId(const std::string& s) { return IsPositiveDecimalId(s); }

// The ticket's own keys, which are never custom object attributes. A ticket record is its
// columns plus, with expand=true, each association by name; a custom attribute is a column
// of its own, so it is told apart by name (no extra call, and no admin permission to read
// the object manager's attribute list). From zammad/zammad: the `tickets` table in
// db/migrate/20120101000010_create_ticket.rb and the associations in app/models/ticket.rb.
// Zammad refuses a new attribute named like an existing column ("already exists") or ending
// in _id/_ids (ObjectManager::Attribute#check_name), so these never hide a custom one.
constexpr std::string_view kCoreTicketKeys[] = {
    // Columns (ids ending in _id are left out by the suffix rule).
    "id", "number", "title", "note", "first_response_at", "first_response_escalation_at", "first_response_in_min",
    "first_response_diff_in_min", "close_at", "close_escalation_at", "close_in_min", "close_diff_in_min",
    "update_escalation_at", "update_in_min", "update_diff_in_min", "last_close_at", "last_contact_at",
    "last_contact_agent_at", "last_contact_customer_at", "last_owner_update_at", "article_count", "escalation_at",
    "pending_time", "type", "approver", "approval_state", "time_unit", "preferences", "ai_agent_running",
    "created_at", "updated_at",
    // Associations, named by expand=true.
    "group", "organization", "articles", "ticket_time_accounting", "flags", "mentions", "shared_draft", "checklist",
    "referencing_checklists", "state", "priority", "owner", "customer", "created_by", "updated_by",
    "create_article_type", "create_article_sender",
    // Not a column, but what other endpoints call a ticket's tags (read through tags, below).
    "tags"};

bool IsCustomAttributeName(std::string_view key) {
  if (key.empty() || key.ends_with("_id") || key.ends_with("_ids")) return false;
  return std::find(std::begin(kCoreTicketKeys), std::end(kCoreTicketKeys), key) == std::end(kCoreTicketKeys);
}

// A custom attribute's value as text: strings as they are, numbers and booleans as JSON
// writes them (42, 1.5, true); a multi-select's array as its values joined by ", " in
// Zammad's order. Null, an empty array and objects give nothing.
std::optional<std::string> AttributeText(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number() || v.is_boolean()) return v.dump();
  if (!v.is_array()) return std::nullopt;
  std::string joined;
  for (const json& item : v) {
    auto text = item.is_array() ? std::nullopt : AttributeText(item);
    if (!text) continue;
    joined += (joined.empty() ? "" : ", ") + *text;
  }
  if (joined.empty()) return std::nullopt;
  return joined;
}

class ZammadHelpdesk : public Helpdesk {
 public:
  ZammadHelpdesk(ZammadOptions options, HttpClient* http)
      : options_(std::move(options)),
        http_(http),
        admin_(NewZammadWebhookAdmin(
            {options_.name, options_.signature_token, options_.api_user_id, options_.approval_tag},
            [this](const std::string& method, const std::string& path, const json* body, bool retry,
                   const std::string& what) { return AdminCall(method, path, body, retry, what); })) {}

  std::string_view type() const override { return "zammad"; }

  WebhookAdmin* webhook_admin() override { return admin_.get(); }

  Status VerifyWebhook(const WebhookRequest& request) const override {
    if (options_.signature_token.empty()) return Status::Unauthenticated("no webhook signature token configured");
    // Zammad signs the raw body only; there is no timestamp to bound replays, so a
    // replayed delivery is caught by its X-Zammad-Delivery id (ParseWebhook) instead.
    const std::string signature = Header(request, kSignatureHeader);
    if (signature.empty()) return Status::Unauthenticated("missing X-Hub-Signature header");
    if (signature.rfind(kSignaturePrefix, 0) != 0)
      return Status::Unauthenticated("X-Hub-Signature must start with sha1=");
    std::string provided;
    // A repeated header arrives joined with ", " and so fails here, as it should.
    if (!HexDecode(std::string_view(signature).substr(kSignaturePrefix.size()), &provided))
      return Status::Unauthenticated("X-Hub-Signature is not valid hex");
    if (!ConstantTimeEquals(provided, HmacSha1(options_.signature_token, request.body)))
      return Status::Unauthenticated("signature mismatch");
    return Status::Ok();
  }

  Result<WebhookEvent> ParseWebhook(const WebhookRequest& request) const override {
    // One validating pass that reads only these members (deskpilot/json_scan.h): the
    // default payload carries the whole ticket and article, read on every acknowledgement.
    enum { kTicket, kTicketId, kUpdatedById, kUpdatedBy, kArticle, kArticleId, kCreatedById, kCreatedBy, kMarker };
    static const std::vector<JsonPath> kPaths = {
        {"ticket"},  {"ticket", "id"},         {"ticket", "updated_by_id"}, {"ticket", "updated_by", "id"},
        {"article"}, {"article", "id"}, {"article", "created_by_id"}, {"article", "created_by", "id"},
        {kZammadMarkerMember}};
    auto scan = ScanJsonObject(request.body, kPaths);
    if (!scan.ok()) return Status::InvalidArgument("zammad webhook: " + scan.status().message());
    const std::vector<JsonScalar>& v = *scan;
    if (v[kTicket].kind != JsonScalar::Kind::kObject)
      return Status::InvalidArgument("zammad webhook: payload has no \"ticket\" object (is the webhook's payload customised?)");
    WebhookEvent ev;
    ev.ticket_id = v[kTicketId].IdText();
    if (!IsZammadId(ev.ticket_id))
      return Status::InvalidArgument("zammad webhook: missing or non-numeric ticket.id");
    // Who acted: the article's author when the trigger fired for an article (a ticket's
    // updated_by can still name whoever touched it before), else the ticket's updater.
    std::string actor;
    const bool has_article = v[kArticle].kind == JsonScalar::Kind::kObject;
    if (has_article) {
      actor = v[kCreatedById].IdText();
      if (actor.empty()) actor = v[kCreatedBy].IdText();
      ev.event_type = "ticket.article_created";
    } else if (v[kMarker].is_string() && v[kMarker].text == kZammadApprovalMarker) {
      // The approval webhook's signed custom payload (zammad_admin.cc). Only without an
      // article: a marker can make a delivery approval-only, never hide a customer's
      // message from triage.
      ev.event_type = kApprovalTagEvent;
      if (options_.approval_tag.empty())
        ev.ignore_reason = "zammad approval-tag delivery, but policy.approval_tag is empty (a leftover approval "
                           "trigger: `deskpilot webhook remove`, then `register`, drops it)";
    } else {
      ev.event_type = "ticket.updated";
    }
    if (actor.empty()) actor = v[kUpdatedById].IdText();
    if (actor.empty()) actor = v[kUpdatedBy].IdText();
    // Zammad's retries of one delivery keep its X-Zammad-Delivery id; without the header
    // a redelivery repeats the body byte for byte, so the body's hash identifies it.
    const std::string delivery = Header(request, kDeliveryHeader);
    ev.dedupe_key = "zammad:" + options_.name + ":" +
                    (delivery.empty() ? "sha256:" + Sha256Hex(request.body) : delivery);
    ev.self_caused = !options_.api_user_id.empty() && actor == options_.api_user_id;
    return ev;
  }

  Result<Ticket> FetchTicket(const std::string& ticket_id) override {
    if (!IsZammadId(ticket_id))
      return Status::InvalidArgument("zammad ticket id must be a positive integer, got \"" + ticket_id + "\"");
    const std::string what = "zammad fetch ticket " + ticket_id;
    // expand=true names the associations (priority, state, group, article type).
    DP_ASSIGN_OR_RETURN(json t, GetJson("/api/v1/tickets/" + ticket_id + "?expand=true", what));
    if (!t.is_object()) return Status::InvalidArgument(what + ": response is not a JSON object");
    return ReadTicket(ticket_id, t, /*full=*/true);
  }

  // Closed tickets through the search, whose query Zammad hands to Elasticsearch. Its
  // date terms compare whole days, so the query asks from the day before, and the state
  // and time of every hit are checked again here: nothing older than updated_since and
  // nothing that is not closed is ever listed. Without Elasticsearch Zammad matches the
  // query as text against titles and articles and finds nothing: an empty list, never a
  // wrong one (README).
  Result<std::vector<Ticket>> ListSolvedTickets(std::chrono::system_clock::time_point updated_since, int limit,
                                                bool with_comments) override {
    if (limit < 1) return Status::InvalidArgument("zammad list solved tickets: limit must be at least 1");
    const std::string what = "zammad search closed tickets";
    const std::string day = FormatRfc3339Utc(updated_since - std::chrono::hours(24)).substr(0, 10);
    const std::string query = "state.name:closed AND updated_at:[" + day + " TO *]";
    std::vector<std::pair<std::chrono::system_clock::time_point, Ticket>> found;
    // A ticket updated while the pages are read moves to the first page and shifts the
    // others: one seen twice is listed once.
    std::set<std::string> seen;
    for (int page = 1; page <= kMaxSearchPages && static_cast<int>(found.size()) < limit; ++page) {
      DP_ASSIGN_OR_RETURN(json list, GetJson("/api/v1/tickets/search?query=" + PercentEncode(query) +
                                                 "&limit=" + std::to_string(kSearchPageSize) +
                                                 "&page=" + std::to_string(page) +
                                                 "&sort_by=updated_at&order_by=desc&expand=true",
                                             what));
      if (!list.is_array())
        return Status::InvalidArgument(what + ": response is not a JSON array (expand=true lists tickets)");
      for (const json& t : list) {
        const std::string id = JsonId(t, "id");
        const auto updated = ParseRfc3339(JsonString(t, "updated_at"));
        if (!IsZammadId(id) || JsonString(t, "state") != kSolvedState || !updated || *updated < updated_since ||
            !seen.insert(id).second)
          continue;
        auto ticket = ReadTicket(id, t, with_comments);
        // Deleted between the search and the read: nothing to learn from it.
        if (!ticket.ok() && ticket.status().code() == Code::kNotFound) continue;
        if (!ticket.ok()) return ticket.status();
        found.emplace_back(*updated, std::move(ticket).value());
        if (static_cast<int>(found.size()) >= limit) break;
      }
      if (list.size() < static_cast<size_t>(kSearchPageSize)) break;
    }
    // The search sorts already; sorting again keeps the contract if an index lags.
    std::stable_sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<Ticket> out;
    for (auto& entry : found) out.push_back(std::move(entry.second));
    return out;
  }

  std::vector<std::string> ArticleLocales() const override {
    return options_.kb_locale.empty() ? std::vector<std::string>{} : std::vector<std::string>{options_.kb_locale};
  }

  // The answers of the knowledge base's primary locale, from two calls: the knowledge
  // base's assets (answers and their translations, no bodies), then the contents of the
  // published ones that changed. Zammad has no "changed since" listing, but an edited body
  // touches its translation and answer (content.rb, translation.rb), so the answer's and
  // the translation's updated_at tell what changed.
  Result<std::vector<HelpArticle>> ListArticles(
      const std::string& locale, std::optional<std::chrono::system_clock::time_point> updated_since) override {
    if (options_.kb_locale.empty() || locale != options_.kb_locale)
      return Status::InvalidArgument("zammad syncs the knowledge base's primary locale only: set kb_locale (now \"" +
                                     options_.kb_locale + "\") and sync that locale, not \"" + locale + "\"");
    const std::string what = "zammad list knowledge base answers";
    DP_ASSIGN_OR_RETURN(json assets, PostJson("/api/v1/knowledge_bases/init", json::object(), what));
    // A user without knowledge_base.reader/editor gets the public assets: [] or no answers.
    if (!assets.is_object() || !assets.contains("KnowledgeBaseLocale") || !assets["KnowledgeBaseLocale"].is_object())
      return Status::FailedPrecondition(what + ": no knowledge base visible to the API user (does Zammad have one, "
                                               "and does the user have the knowledge_base.reader permission?)");
    std::set<std::string> primary;
    for (const json& l : assets["KnowledgeBaseLocale"])
      if (l.is_object() && l.contains("primary") && l["primary"] == true) primary.insert(JsonId(l, "id"));
    // Listing nothing would take every synced answer out of the KB.
    if (primary.empty()) return Status::InvalidArgument(what + ": the knowledge base has no primary locale");
    const json answers = assets.value("KnowledgeBaseAnswer", json::object());
    const json translations = assets.value("KnowledgeBaseAnswerTranslation", json::object());
    if (!answers.is_object() || !translations.is_object())
      return Status::InvalidArgument(what + ": answers or translations are not objects");
    const auto now = std::chrono::system_clock::now();
    // Set and not in the future: published_at and archived_at may be scheduled ahead.
    auto reached = [&](const json& a, const char* key) {
      auto at = ParseRfc3339(JsonString(a, key));
      return at.has_value() && *at <= now;
    };
    std::vector<HelpArticle> out;
    json content_ids = json::array();
    std::map<std::string, size_t> by_content;  // content id → index in out
    for (const json& tr : translations) {
      if (!primary.count(JsonId(tr, "kb_locale_id"))) continue;
      const std::string answer_id = JsonId(tr, "answer_id");
      auto a = answers.find(answer_id);
      if (!IsZammadId(answer_id) || a == answers.end() || !a->is_object()) continue;
      if (reached(*a, "archived_at")) continue;  // archived answers are not listed
      const std::string answer_updated = JsonString(*a, "updated_at"), tr_updated = JsonString(tr, "updated_at");
      const auto t1 = ParseRfc3339(answer_updated), t2 = ParseRfc3339(tr_updated);
      const bool tr_newer = t2 && (!t1 || *t2 > *t1);
      const auto updated = tr_newer ? t2 : t1;
      if (updated_since && (!updated || *updated < *updated_since)) continue;
      HelpArticle article;
      article.id = answer_id;
      article.locale = locale;
      article.title = JsonString(tr, "title");
      article.updated_at = tr_newer ? tr_updated : answer_updated;
      // Internal answers are for agents only, and drafts for nobody: never a source.
      article.draft = !reached(*a, "published_at");
      // /help/{locale}/{category}/{answer}: the public controller finds both by their
      // leading id (Zammad's own links add a slug after it).
      article.url = options_.base_url + "/help/" + locale + "/" + JsonId(*a, "category_id") + "/" + answer_id;
      const std::string content_id = JsonId(tr, "content_id");
      if (!article.draft && IsZammadId(content_id)) {
        content_ids.push_back(std::stoll(content_id));
        by_content[content_id] = out.size();
      }
      out.push_back(std::move(article));
    }
    // Only what will be ingested is fetched: a draft's body never leaves Zammad.
    if (!content_ids.empty()) {
      DP_ASSIGN_OR_RETURN(json with_contents,
                          PostJson("/api/v1/knowledge_bases/init", {{"answer_translation_content_ids", content_ids}},
                                   what + " (contents)"));
      const json contents = with_contents.is_object()
                                ? with_contents.value("KnowledgeBaseAnswerTranslationContent", json::object())
                                : json();
      for (const auto& [content_id, index] : by_content) {
        auto c = contents.is_object() ? contents.find(content_id) : contents.end();
        // A published answer without its text would be dropped from the KB as if gone.
        if (!contents.is_object() || c == contents.end() || !c->is_object())
          return Status::InvalidArgument(what + ": no content " + content_id + " for answer " + out[index].id);
        out[index].body_html = JsonString(*c, "body");
      }
    }
    // Numeric order of the answer ids (the assets are keyed by id as text).
    std::sort(out.begin(), out.end(), [](const HelpArticle& a, const HelpArticle& b) {
      return a.id.size() != b.id.size() ? a.id.size() < b.id.size() : a.id < b.id;
    });
    return out;
  }

  Status Apply(const Ticket& ticket, const WritePlan& plan) override {
    if (plan.empty()) return Status::Ok();
    if (!IsZammadId(ticket.id))
      return Status::InvalidArgument("zammad ticket id must be a positive integer, got \"" + ticket.id + "\"");
    const std::string what = "zammad apply to ticket " + ticket.id;
    std::vector<std::string> tags;
    json fields = json::object();
    std::string note, reply;
    for (const WriteAction& a : plan.actions) {
      switch (a.type) {
        case ActionType::kSetTags:
          for (const auto& t : a.tags)
            if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
          break;
        case ActionType::kSetPriority:
          if (auto it = options_.priorities.find(a.value); it != options_.priorities.end())
            fields["priority"] = it->second;
          else
            spdlog::warn("zammad {}: ticket {}: priority \"{}\" is not a deskpilot priority; not set", options_.name,
                         ticket.id, a.value);
          break;
        case ActionType::kSetGroup: {
          auto it = options_.groups.find(a.value);
          fields["group"] = it != options_.groups.end() ? it->second : a.value;
          break;
        }
        case ActionType::kSetCustomField:
          // Custom object attributes are top-level ticket keys in Zammad.
          fields[a.field] = a.value;
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
    // where this plan's attempt could have put it (below). The articles are read afresh:
    // the caller's snapshot may predate an earlier attempt.
    DP_ASSIGN_OR_RETURN(std::vector<Comment> current, ReadComments(ticket.id));
    const std::string marker = plan.idempotency_key.empty() ? "" : kZammadMarkerPrefix + plan.idempotency_key;
    auto note_landed = [&](const std::vector<Comment>& cs) {
      return !marker.empty() && std::any_of(cs.begin(), cs.end(), [&](const Comment& c) {
               return !c.is_public && c.body.find(marker) != std::string::npos;
             });
    };
    // A public reply carries no marker, and the same text may rightly go out again (a
    // later plan answering the same question). So it counts as landed only after this
    // plan's own note, or, in a plan without a note (an approval), after the newest
    // article someone else wrote.
    const std::string squashed_reply = SquashSpace(reply);
    const bool has_note = !note.empty() && !marker.empty();
    auto reply_landed = [&](const std::vector<Comment>& cs) {
      auto from = cs.end();
      while (from != cs.begin()) {
        const Comment& c = *std::prev(from);
        if (has_note ? (!c.is_public && c.body.find(marker) != std::string::npos)
                     : c.author_id != options_.api_user_id)
          break;
        --from;
      }
      if (from == cs.begin() && has_note) return false;  // our note is not there yet
      return std::any_of(from, cs.end(), [&](const Comment& c) {
        return c.is_public && c.author_id == options_.api_user_id && SquashSpace(c.body) == squashed_reply;
      });
    };

    // The note goes first: it is what agents need even when a field below is refused,
    // and the reply's landed check starts from it.
    if (!note.empty() && !note_landed(current)) {
      json article = {{"ticket_id", std::stoll(ticket.id)}, {"body", TextToHtml(note)}, {"content_type", "text/html"},
                      {"type", "note"},                     {"internal", true}};
      DP_RETURN_IF_ERROR(PostArticle(ticket.id, article, note_landed, what + " (internal note)"));
    }
    if (!tags.empty()) {
      // tags/add takes one tag per call; the ones already there are not sent again.
      DP_ASSIGN_OR_RETURN(std::vector<std::string> have, ReadTags(ticket.id));
      for (const std::string& tag : tags) {
        if (std::find(have.begin(), have.end(), tag) != have.end()) continue;
        HttpRequest req = Request("POST", "/api/v1/tags/add");
        req.headers.emplace_back("Content-Type", "application/json");
        req.body = JsonText(json{{"item", tag}, {"object", "Ticket"}, {"o_id", std::stoll(ticket.id)}});
        // Adding a tag that is there is a no-op in Zammad, so a plain retry is safe.
        DP_RETURN_IF_ERROR(Send(req, what + " (tag " + tag + ")").status());
      }
    }
    if (!fields.empty()) {
      HttpRequest req = Request("PUT", "/api/v1/tickets/" + ticket.id);
      req.headers.emplace_back("Content-Type", "application/json");
      req.body = JsonText(fields);
      // Setting values is idempotent: a retry after a lost answer changes nothing.
      DP_RETURN_IF_ERROR(Send(req, what + " (fields)").status());
    }
    if (!reply.empty() && !reply_landed(current)) {
      if (ticket.requester.email.empty())
        return Status::InvalidArgument(what + ": the customer has no email address to send the reply to");
      json article = {{"ticket_id", std::stoll(ticket.id)},
                      {"body", TextToHtml(reply)},
                      {"content_type", "text/html"},
                      {"type", "email"},
                      {"internal", false},
                      {"to", ticket.requester.email},
                      {"subject", "Re: " + ticket.subject}};
      DP_RETURN_IF_ERROR(PostArticle(ticket.id, article, reply_landed, what + " (public reply)"));
    }
    return Status::Ok();
  }

 private:
  // The ticket from its expand=true record, as FetchTicket returns it. The articles are
  // read for the description; `full` keeps them as comments and reads the customer too.
  Result<Ticket> ReadTicket(const std::string& ticket_id, const json& t, bool full) {
    const std::string what = "zammad fetch ticket " + ticket_id;
    DP_ASSIGN_OR_RETURN(std::vector<Comment> comments, ReadComments(ticket_id));
    DP_ASSIGN_OR_RETURN(std::vector<std::string> tags, ReadTags(ticket_id));
    Ticket out;
    out.id = ticket_id;
    out.source = options_.name;
    out.subject = JsonString(t, "title");
    out.status = JsonString(t, "state");
    out.channel = JsonString(t, "create_article_type");
    out.created_at = JsonString(t, "created_at");
    out.updated_at = JsonString(t, "updated_at");
    const std::string priority = JsonString(t, "priority");
    for (const char* p : kPriorityOrder) {
      if (options_.priorities.at(p) == priority) {
        out.priority = p;
        break;
      }
    }
    out.group = JsonString(t, "group");
    for (const auto& [name, zammad_name] : options_.groups) {
      if (zammad_name == out.group) {
        out.group = name;
        break;
      }
    }
    out.tags = std::move(tags);
    for (const auto& [key, value] : t.items()) {
      if (!IsCustomAttributeName(key)) continue;
      if (auto text = AttributeText(value)) out.custom_fields[key] = std::move(*text);
    }
    // The customer's address comes from the user record: expand=true names users by
    // login, which is not always the email.
    if (const std::string customer = JsonId(t, "customer_id"); full && IsZammadId(customer)) {
      auto user = GetJson("/api/v1/users/" + customer, what + " customer");
      // A customer record that is gone leaves the ticket readable, without an address.
      if (!user.ok() && user.status().code() != Code::kNotFound) return user.status();
      if (user.ok()) {
        out.requester.email = JsonString(*user, "email");
        out.requester.name = std::string(TrimAsciiSpace(JsonString(*user, "firstname") + " " + JsonString(*user, "lastname")));
      }
    }
    // The first article is what the customer wrote when opening the ticket.
    if (!comments.empty()) out.description = comments.front().body;
    if (full) out.comments = std::move(comments);
    return out;
  }

  HttpRequest Request(const std::string& method, const std::string& path_and_query) const {
    HttpRequest req;
    req.method = method;
    req.url = options_.base_url + path_and_query;
    req.timeout = options_.request_timeout;
    req.headers = {{"Authorization", "Token token=" + options_.api_token}, {"Accept", "application/json"}};
    return req;
  }

  // With retries (429 + Retry-After, 5xx, transport errors); non-2xx mapped to a Status.
  Result<HttpResponse> Send(const HttpRequest& request, const std::string& what) {
    auto resp = SendWithRetry(*http_, request, options_.retry, options_.sleep);
    if (!resp.ok()) return resp.status().WithContext(what);
    DP_RETURN_IF_ERROR(StatusFromHttp(*resp, what));
    return resp;
  }

  // WebhookAdmin's calls. Without `retry`, one attempt: a create whose answer is lost is
  // not sent again (the admin reruns the idempotent command instead).
  Result<json> AdminCall(const std::string& method, const std::string& path, const json* body, bool retry,
                         const std::string& what) {
    HttpRequest req = Request(method, path);
    if (body != nullptr) {
      req.headers.emplace_back("Content-Type", "application/json");
      req.body = JsonText(*body);
    }
    HttpResponse resp;
    if (retry) {
      DP_ASSIGN_OR_RETURN(resp, Send(req, what));
    } else {
      auto sent = http_->Send(req);
      if (!sent.ok()) return sent.status().WithContext(what);
      DP_RETURN_IF_ERROR(StatusFromHttp(*sent, what));
      resp = std::move(sent).value();
    }
    if (TrimAsciiSpace(resp.body).empty()) return json();
    json j = json::parse(resp.body, nullptr, false);
    if (j.is_discarded()) return Status::InvalidArgument(what + ": malformed JSON response");
    return j;
  }

  // A read that Zammad routes as a POST (knowledge_bases/init): safe to retry.
  Result<json> PostJson(const std::string& path, const json& body, const std::string& what) {
    HttpRequest req = Request("POST", path);
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = JsonText(body);
    DP_ASSIGN_OR_RETURN(HttpResponse resp, Send(req, what));
    json j = json::parse(resp.body, nullptr, false);
    if (j.is_discarded()) return Status::InvalidArgument(what + ": malformed JSON response");
    return j;
  }

  Result<json> GetJson(const std::string& path_and_query, const std::string& what) {
    DP_ASSIGN_OR_RETURN(HttpResponse resp, Send(Request("GET", path_and_query), what));
    json j = json::parse(resp.body, nullptr, false);
    if (j.is_discarded()) return Status::InvalidArgument(what + ": malformed JSON response");
    return j;
  }

  Result<std::vector<std::string>> ReadTags(const std::string& ticket_id) {
    const std::string what = "zammad fetch ticket " + ticket_id + " tags";
    DP_ASSIGN_OR_RETURN(json doc, GetJson("/api/v1/tags?object=Ticket&o_id=" + ticket_id, what));
    std::vector<std::string> out;
    if (!doc.is_object() || !doc.contains("tags") || !doc["tags"].is_array())
      return Status::InvalidArgument(what + ": response has no \"tags\" array");
    for (const auto& tag : doc["tags"])
      if (tag.is_string()) out.push_back(tag.get<std::string>());
    return out;
  }

  // The ticket's articles as comments, oldest first.
  Result<std::vector<Comment>> ReadComments(const std::string& ticket_id) {
    const std::string what = "zammad fetch ticket " + ticket_id + " articles";
    DP_ASSIGN_OR_RETURN(json list, GetJson("/api/v1/ticket_articles/by_ticket/" + ticket_id, what));
    if (!list.is_array()) return Status::InvalidArgument(what + ": response is not a JSON array");
    std::vector<Comment> out;
    for (const json& a : list) {
      if (!a.is_object()) return Status::InvalidArgument(what + ": an article is not an object");
      Comment c;
      c.id = JsonId(a, "id");
      c.author_id = JsonId(a, "created_by_id");
      const json& internal = a.contains("internal") ? a["internal"] : json();
      c.is_public = !(internal.is_boolean() && internal.get<bool>());
      c.body = JsonString(a, "body");
      if (AsciiLower(JsonString(a, "content_type")).find("html") != std::string::npos) c.body = HtmlToText(c.body);
      c.created_at = JsonString(a, "created_at");
      // Customers cannot write internal articles, so a customer cannot fake the marker.
      c.by_deskpilot = c.author_id == options_.api_user_id ||
                       (!c.is_public && c.body.find(kZammadMarkerPrefix) != std::string::npos);
      const std::string sender = JsonString(a, "sender");
      if (c.by_deskpilot || sender == "Agent") {
        c.author_role = AuthorRole::kAgent;
      } else if (sender == "Customer") {
        c.author_role = AuthorRole::kCustomer;
      } else if (sender == "System") {
        c.author_role = AuthorRole::kSystem;  // triggers, auto-replies
      } else {
        // An unknown sender is not trusted as the customer: an agent's reply counted as
        // the customer's would open the way to an automatic answer.
        c.author_role = AuthorRole::kAgent;
      }
      out.push_back(std::move(c));
    }
    return out;
  }

  // One article with retries. A 5xx or a timeout can arrive after Zammad created the
  // article, so before each retry the articles are read again and the article is not
  // posted twice when it is already there.
  Status PostArticle(const std::string& ticket_id, const json& article,
                     const std::function<bool(const std::vector<Comment>&)>& landed, const std::string& what) {
    HttpRequest req = Request("POST", "/api/v1/ticket_articles");
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = JsonText(article);
    return SendWriteOnce(
        [&] {
          auto resp = http_->Send(req);
          return resp.ok() ? StatusFromHttp(*resp, what) : resp.status().WithContext(what);
        },
        [&]() -> Result<bool> {
          DP_ASSIGN_OR_RETURN(std::vector<Comment> comments, ReadComments(ticket_id));
          return landed(comments);
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

  ZammadOptions options_;
  HttpClient* http_;
  std::unique_ptr<WebhookAdmin> admin_;
};

}  // namespace

Result<ZammadOptions> ZammadOptionsFromConfig(ConfigSection& section, const std::string& name) {
  ZammadOptions o;
  o.name = name;
  (void)section.String("name", name);
  (void)section.String("type", "zammad");
  o.base_url = section.String("base_url");
  while (!o.base_url.empty() && o.base_url.back() == '/') o.base_url.pop_back();
  if (section.Has("base_url") && o.base_url.rfind("http://", 0) != 0 && o.base_url.rfind("https://", 0) != 0)
    section.AddError("base_url", "must start with https:// (or http:// for a local test server)");
  // A base_url ending in /api/v1 would double the prefix on every call.
  if (o.base_url.size() >= 7 && o.base_url.compare(o.base_url.size() - 7, 7, "/api/v1") == 0)
    section.AddError("base_url", "give the Zammad URL without /api/v1 (https://desk.example.com)");
  o.api_token = section.Secret("api_token", true);
  // Required: without it any well-formed body would be accepted (Zammad only signs when
  // the webhook has a token), and an empty HMAC key would be trivially forgeable.
  o.signature_token = section.Secret("signature_token", true);
  o.request_timeout = std::chrono::milliseconds(section.Int("request_timeout_ms", 10000, 100, 600000));
  o.kb_locale = section.String("kb_locale", "");
  if (!section.Has("api_user_id")) {
    section.AddError("api_user_id", "required: the numeric id of the Zammad user the API token belongs to (loop guard)");
  } else {
    const nlohmann::json* raw = section.Raw("api_user_id");
    o.api_user_id = raw->is_number_integer() ? std::to_string(raw->get<int64_t>())
                    : raw->is_string()       ? raw->get<std::string>()
                                             : "";
    if (!IsZammadId(o.api_user_id)) section.AddError("api_user_id", "must be the API user's numeric id");
  }
  ConfigSection priorities = section.Table("priorities");
  for (const std::string& key : priorities.Keys()) {
    if (!o.priorities.count(key)) {
      priorities.AddError(key, "not a deskpilot priority (low, normal, high, urgent)");
      (void)priorities.Raw(key);
      continue;
    }
    o.priorities[key] = priorities.String(key);
    if (o.priorities[key].empty()) priorities.AddError(key, "must name a Zammad priority");
  }
  ConfigSection groups = section.Table("groups");
  for (const std::string& key : groups.Keys()) {
    o.groups[key] = groups.String(key);
    if (o.groups[key].empty()) groups.AddError(key, "must name a Zammad group");
  }
  DP_RETURN_IF_ERROR(section.Finish());
  return o;
}

std::unique_ptr<Helpdesk> NewZammadHelpdesk(ZammadOptions options, HttpClient* http) {
  return std::make_unique<ZammadHelpdesk>(std::move(options), http);
}

}  // namespace deskpilot
