#include "helpdesk/zendesk/zendesk_helpdesk.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "deskpilot/crypto.h"
#include "deskpilot/json_scan.h"
#include "deskpilot/http_client.h"
#include "deskpilot/json_text.h"
#include "deskpilot/rfc3339.h"
#include "deskpilot/text.h"
#include "deskpilot/webhook_signature.h"
#include "helpdesk/zendesk/zendesk_admin.h"
#include "common/json_fields/json_fields.h"

namespace deskpilot {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

constexpr char kSignatureHeader[] = "x-zendesk-webhook-signature";
constexpr char kTimestampHeader[] = "x-zendesk-webhook-signature-timestamp";
constexpr char kEventPrefix[] = "zen:event-type:";
constexpr char kTicketSubjectPrefix[] = "zen:ticket:";

std::string Header(const WebhookRequest& r, const char* lower_name) {
  auto it = r.headers.find(lower_name);
  return it == r.headers.end() ? std::string() : it->second;
}

const json& Member(const json& obj, const char* key) {
  static const json kNull;
  if (!obj.is_object()) return kNull;
  auto it = obj.find(key);
  return it == obj.end() ? kNull : *it;
}

bool AllDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Zendesk sends the signature timestamp as RFC 3339; unix seconds are accepted too.
std::optional<Clock::time_point> ParseSignatureTimestamp(const std::string& s) {
  if (AllDigits(s) && s.size() <= 12) {
    const int64_t secs = std::stoll(s);
    if (secs > 7258118400) return std::nullopt;  // after 2200: would overflow the clock (as ParseRfc3339 refuses)
    return Clock::time_point(std::chrono::seconds(secs));
  }
  return ParseRfc3339(s);
}

std::string Utc3339(Clock::time_point t) {
  const std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string ValueString(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {  // multi-select fields
    std::string out;
    for (const auto& x : v) {
      if (!out.empty()) out += ',';
      out += ValueString(x);
    }
    return out;
  }
  return v.dump();
}

std::vector<WebhookChange> ToChanges(const std::vector<ZendeskChange>& in) {
  std::vector<WebhookChange> out;
  for (const auto& c : in) out.push_back({c.action, c.kind, c.id, c.name});
  return out;
}

class ZendeskHelpdesk : public Helpdesk, public WebhookAdmin {
 public:
  ZendeskHelpdesk(ZendeskOptions options, HttpClient* http) : api_(std::move(options), http) {
    for (const auto& [name, id] : api_.options().groups) group_names_[std::to_string(id)] = name;
    for (const auto& [name, id] : api_.options().custom_fields) field_names_[std::to_string(id)] = name;
  }

  std::string_view type() const override { return "zendesk"; }

  WebhookAdmin* webhook_admin() override { return this; }

  Result<WebhookRegistration> RegisterWebhook(const std::string& endpoint) override {
    DP_ASSIGN_OR_RETURN(ZendeskRegistration reg, RegisterZendeskWebhook(api_, endpoint));
    return WebhookRegistration{reg.endpoint, reg.signing_secret, ToChanges(reg.changes)};
  }

  Result<std::vector<WebhookInfo>> ListWebhooks() override {
    DP_ASSIGN_OR_RETURN(std::vector<ZendeskWebhookInfo> list, ListZendeskWebhooks(api_));
    std::vector<WebhookInfo> out;
    for (auto& w : list) {
      WebhookInfo info{w.id, w.name, w.endpoint, w.status, w.ours, {}};
      for (const auto& t : w.triggers) info.details.push_back("trigger: " + t);
      out.push_back(std::move(info));
    }
    return out;
  }

  Result<std::vector<WebhookChange>> RemoveWebhook() override {
    DP_ASSIGN_OR_RETURN(std::vector<ZendeskChange> removed, RemoveZendeskWebhook(api_));
    return ToChanges(removed);
  }

  std::vector<std::string> ArticleLocales() const override { return api_.options().kb_locales; }

  Result<std::vector<HelpArticle>> ListArticles(const std::string& locale,
                                                std::optional<Clock::time_point> updated_since) override {
    std::string lower;
    for (char c : locale) lower += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
    if (lower.empty() || lower.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") != std::string::npos)
      return Status::InvalidArgument("zendesk: \"" + locale + "\" is not a Help Center locale such as en-us");
    // Oldest change first, so a sync cut short by an error has still seen a prefix in
    // update order. start_time (unix seconds) asks for articles updated since then.
    std::string path = "/api/v2/help_center/" + lower + "/articles.json?per_page=100&sort_by=updated_at&sort_order=asc";
    if (updated_since) {
      path += "&start_time=" +
              std::to_string(std::chrono::duration_cast<std::chrono::seconds>(updated_since->time_since_epoch()).count());
    }
    const std::string what = "zendesk list " + lower + " articles";
    DP_ASSIGN_OR_RETURN(std::vector<json> raw, api_.GetAll(path, "articles", what));
    std::vector<HelpArticle> out;
    for (const json& a : raw) {
      HelpArticle article;
      article.id = ZendeskIdString(a, "id");
      if (article.id.empty()) return Status::InvalidArgument(what + ": an article has no id");
      article.locale = JsonString(a, "locale");
      if (article.locale.empty()) article.locale = lower;
      article.title = JsonString(a, "title");
      article.body_html = JsonString(a, "body");
      article.url = JsonString(a, "html_url");
      article.updated_at = JsonString(a, "updated_at");
      const json& draft = Member(a, "draft");
      article.draft = draft.is_boolean() && draft.get<bool>();
      out.push_back(std::move(article));
    }
    return out;
  }

  Result<std::vector<Ticket>> ListSolvedTickets(Clock::time_point updated_since, int limit,
                                                bool with_comments) override {
    if (limit < 1) return Status::InvalidArgument("zendesk list solved tickets: limit must be at least 1");
    DP_ASSIGN_OR_RETURN(std::string me, api_.ApiUserId());
    // The export flavour of search pages by cursor without the 1,000-result cap of
    // /search; status>=solved is solved or closed (statuses are ordered).
    const std::string query = "type:ticket status>=solved updated>=" + Utc3339(updated_since);
    const std::string path = "/api/v2/search/export.json?query=" + PercentEncode(query) +
                             "&filter%5Btype%5D=ticket&page%5Bsize%5D=" + std::to_string(std::min(limit, 100));
    const std::string what = "zendesk search solved tickets";
    DP_ASSIGN_OR_RETURN(std::vector<json> raw,
                        api_.GetAll(path, "results", what, "", nullptr, static_cast<size_t>(limit)));
    std::vector<Ticket> out;
    for (const json& t : raw) {
      const std::string id = ZendeskIdString(t, "id");
      const std::string status = JsonString(t, "status");
      if (!IsZendeskId(id) || (status != "solved" && status != "closed")) continue;
      if (with_comments) {
        auto ticket = FetchTicket(id);
        // Deleted between the search and the read: nothing to learn from it.
        if (!ticket.ok() && ticket.status().code() == Code::kNotFound) continue;
        if (!ticket.ok()) return ticket.status();
        out.push_back(std::move(ticket).value());
      } else {
        try {
          out.push_back(ToTicket(t, {}, {}, me));
        } catch (const json::exception& e) {
          return Status::InvalidArgument(what + ": unexpected ticket shape: " + e.what());
        }
      }
      if (static_cast<int>(out.size()) >= limit) break;
    }
    return out;
  }

  Status VerifyWebhook(const WebhookRequest& request) const override {
    const ZendeskOptions& o = api_.options();
    if (o.webhook_secret.empty()) return Status::Unauthenticated("no webhook signing secret configured");
    const std::string signature = Header(request, kSignatureHeader);
    const std::string timestamp = Header(request, kTimestampHeader);
    if (signature.empty()) return Status::Unauthenticated("missing X-Zendesk-Webhook-Signature header");
    if (timestamp.empty())
      return Status::Unauthenticated("missing X-Zendesk-Webhook-Signature-Timestamp header");
    return VerifyTimestampedBase64Hmac(o.webhook_secret, signature, timestamp, ParseSignatureTimestamp(timestamp),
                                       request.body, request.now, o.signature_tolerance);
  }

  Result<WebhookEvent> ParseWebhook(const WebhookRequest& request) const override {
    // One validating pass that reads only these members (deskpilot/json_scan.h): this runs
    // on every acknowledgement, and an event's `detail` carries the whole ticket.
    enum { kType, kId, kDetailId, kSubject, kDetailActor, kAuthorId, kTicketId, kEvent, kActorId };
    static const std::vector<JsonPath> kPaths = {
        {"type"},       {"id"},           {"detail", "id"}, {"subject"},  {"detail", "actor_id"},
        {"event", "comment", "author", "id"}, {"ticket_id"}, {"event"}, {"actor_id"}};
    auto scan = ScanJsonObject(request.body, kPaths);
    if (!scan.ok()) return Status::InvalidArgument("zendesk webhook: " + scan.status().message());
    const std::vector<JsonScalar>& v = *scan;
    auto str = [&](int i) { return v[i].is_string() ? v[i].text : std::string(); };
    WebhookEvent ev;
    std::string actor;
    const std::string type = str(kType);
    if (type.rfind(kEventPrefix, 0) == 0) {
      // An event-subscription payload: {type, id, subject, detail, event, ...}.
      ev.event_type = type.substr(sizeof(kEventPrefix) - 1);
      if (ev.event_type.rfind("ticket.", 0) != 0)
        return Status::InvalidArgument("zendesk webhook: not a ticket event: " + type);
      const std::string id = v[kId].IdText();
      if (id.empty()) return Status::InvalidArgument("zendesk webhook: event has no id");
      ev.ticket_id = v[kDetailId].IdText();
      const std::string subject = str(kSubject);
      if (ev.ticket_id.empty() && subject.rfind(kTicketSubjectPrefix, 0) == 0)
        ev.ticket_id = subject.substr(sizeof(kTicketSubjectPrefix) - 1);
      actor = v[kDetailActor].IdText();
      // For comment events the comment's author is who acted.
      if (std::string a = v[kAuthorId].IdText(); !a.empty()) actor = a;
      ev.dedupe_key = "zendesk:" + api_.options().name + ":" + id;
    } else {
      // The trigger body `deskpilot webhook register` installs (see zendesk_admin.cc):
      // {"ticket_id", "event", "updated_at", "actor_id"}. It has no delivery id, and a
      // redelivery repeats the body byte for byte, so the body's hash identifies it.
      ev.ticket_id = v[kTicketId].IdText();
      ev.event_type = str(kEvent);
      if (ev.event_type.rfind(kEventPrefix, 0) == 0) ev.event_type.erase(0, sizeof(kEventPrefix) - 1);
      if (ev.event_type.empty()) ev.event_type = "ticket.updated";
      actor = v[kActorId].IdText();
      ev.dedupe_key = "zendesk:" + api_.options().name + ":sha256:" + Sha256Hex(request.body);
    }
    if (!IsZendeskId(ev.ticket_id))
      return Status::InvalidArgument("zendesk webhook: missing or non-numeric ticket id");
    // Parsing must not call Zendesk; before the API user's id is known, the worker's
    // loop guard (the newest comment is deskpilot's) still stops the round.
    const std::string me = api_.KnownApiUserId();
    ev.self_caused = !me.empty() && actor == me;
    return ev;
  }

  Result<Ticket> FetchTicket(const std::string& ticket_id) override {
    if (!IsZendeskId(ticket_id))
      return Status::InvalidArgument("zendesk ticket id must be a positive integer, got \"" + ticket_id + "\"");
    DP_ASSIGN_OR_RETURN(std::string me, api_.ApiUserId());
    const std::string what = "zendesk fetch ticket " + ticket_id;
    DP_ASSIGN_OR_RETURN(json doc, api_.GetJson("/api/v2/tickets/" + ticket_id + ".json?include=users", what));
    std::vector<json> users;
    if (auto it = doc.find("users"); it != doc.end() && it->is_array()) users = it->get<std::vector<json>>();
    DP_ASSIGN_OR_RETURN(std::vector<json> comments, FetchRawComments(ticket_id, &users));
    try {
      return ToTicket(doc.at("ticket"), comments, users, me);
    } catch (const json::exception& e) {
      return Status::InvalidArgument(what + ": unexpected response shape: " + e.what());
    }
  }

  Status Apply(const Ticket& ticket, const WritePlan& plan) override {
    if (plan.empty()) return Status::Ok();
    if (!IsZendeskId(ticket.id))
      return Status::InvalidArgument("zendesk ticket id must be a positive integer, got \"" + ticket.id + "\"");
    DP_ASSIGN_OR_RETURN(std::string me, api_.ApiUserId());
    json fields = json::object();
    std::vector<std::string> tags;
    std::string note, reply;
    for (const WriteAction& a : plan.actions) {
      switch (a.type) {
        case ActionType::kSetTags:
          for (const auto& t : a.tags)
            if (std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
          break;
        case ActionType::kSetPriority:
          if (a.value == "low" || a.value == "normal" || a.value == "high" || a.value == "urgent")
            fields["priority"] = a.value;
          else
            spdlog::warn("zendesk {}: ticket {}: priority \"{}\" is not a Zendesk priority; not set",
                         api_.options().name, ticket.id, a.value);
          break;
        case ActionType::kSetGroup:
          if (auto id = IdFor(api_.options().groups, a.value, "group", ticket.id)) fields["group_id"] = *id;
          break;
        case ActionType::kSetCustomField:
          if (auto id = IdFor(api_.options().custom_fields, a.field, "custom field", ticket.id))
            fields["custom_fields"].push_back({{"id", *id}, {"value", a.value}});
          break;
        case ActionType::kAddInternalNote:
          note += (note.empty() ? "" : "\n\n") + a.value;
          break;
        case ActionType::kAddPublicReply:
          reply += (reply.empty() ? "" : "\n\n") + a.value;
          break;
      }
    }
    // additional_tags adds to the ticket's tags; "tags" would replace the agents' ones.
    if (!tags.empty()) fields["additional_tags"] = tags;

    // What an earlier attempt already landed is not written again: the note carries the
    // plan's marker line, and the reply is recognised by its author and text, but only
    // where this plan's attempt could have put it (below). The comments are read afresh:
    // the caller's snapshot may predate an earlier attempt.
    DP_ASSIGN_OR_RETURN(std::vector<Comment> current, CurrentComments(ticket.id, me));
    const std::string marker = plan.idempotency_key.empty() ? "" : kZendeskMarkerPrefix + plan.idempotency_key;
    auto note_landed = [&](const std::vector<Comment>& cs) {
      return !marker.empty() && std::any_of(cs.begin(), cs.end(), [&](const Comment& c) {
               return c.body.find(marker) != std::string::npos;
             });
    };
    const std::string squashed_reply = SquashSpace(reply);
    // A public comment carries no marker, and the same text may rightly go out again: a
    // later plan answering the same question with the same passage. So a reply counts as
    // landed only after this plan's own note (which goes first, with the marker), or, in a
    // plan without a note (an approval), after the newest comment someone else wrote.
    // Matching anywhere on the ticket dropped such a reply while the note and the audit
    // said it was sent.
    const bool has_note = !note.empty() && !marker.empty();
    auto reply_landed = [&](const std::vector<Comment>& cs) {
      auto from = cs.end();
      while (from != cs.begin()) {
        const Comment& c = *std::prev(from);
        if (has_note ? c.body.find(marker) != std::string::npos : c.author_id != me) break;
        --from;
      }
      if (from == cs.begin() && has_note) return false;  // our note is not there yet
      return std::any_of(from, cs.end(), [&](const Comment& c) {
        return c.is_public && c.author_id == me && SquashSpace(c.body) == squashed_reply;
      });
    };

    // One update carries one comment: the note rides with every field change, and a
    // public reply next to it needs a second update.
    struct Update {
      json body;
      std::function<bool(const std::vector<Comment>&)> landed;
    };
    std::vector<Update> updates;
    if (!note.empty()) {
      if (!note_landed(current)) {
        json first = fields;
        first["comment"] = {{"body", note}, {"public", false}};
        updates.push_back({std::move(first), note_landed});
      }
    } else if (!reply.empty()) {
      if (!reply_landed(current)) {
        json first = fields;
        first["comment"] = {{"body", reply}, {"public", true}};
        updates.push_back({std::move(first), reply_landed});
      }
      reply.clear();
    } else if (!fields.empty()) {
      // Field changes alone are idempotent (tags add, values set).
      updates.push_back({fields, [](const std::vector<Comment>&) { return false; }});
    }
    if (!reply.empty() && !reply_landed(current))
      updates.push_back({json{{"comment", {{"body", reply}, {"public", true}}}}, reply_landed});
    if (updates.empty()) return Status::Ok();

    DP_RETURN_IF_ERROR(CheckUpdateCap(ticket.id, current, me, static_cast<int>(updates.size())));
    for (size_t i = 0; i < updates.size(); ++i) {
      const std::string what = "zendesk update ticket " + ticket.id + " (" + std::to_string(i + 1) + "/" +
                               std::to_string(updates.size()) + ")";
      if (i > 0 && api_.rate_limit_remaining() == std::optional<int64_t>(0)) {
        // The account's per-minute budget is spent: the next call would only earn a 429.
        return Status::ResourceExhausted(what + ": X-Rate-Limit-Remaining is 0")
            .set_retry_after(std::chrono::seconds(60));
      }
      DP_RETURN_IF_ERROR(PutUpdate(ticket.id, updates[i].body, updates[i].landed, me, what));
    }
    return Status::Ok();
  }

 private:
  std::optional<int64_t> IdFor(const std::map<std::string, int64_t>& mapping, const std::string& name,
                               const char* kind, const std::string& ticket_id) const {
    if (auto it = mapping.find(name); it != mapping.end()) return it->second;
    if (IsZendeskId(name)) return std::stoll(name);
    // Not fatal: the note and the other fields are still worth writing.
    spdlog::warn("zendesk {}: ticket {}: no id configured for {} \"{}\" (add it to [helpdesk.{}]); not set",
                 api_.options().name, ticket_id, kind, name,
                 std::string(kind) == "group" ? "groups" : "custom_fields");
    return std::nullopt;
  }

  // Cursor-paginated comments; sideloaded users are appended to *users.
  Result<std::vector<json>> FetchRawComments(const std::string& ticket_id, std::vector<json>* users) {
    return api_.GetAll("/api/v2/tickets/" + ticket_id + "/comments.json?include=users&page%5Bsize%5D=100",
                       "comments", "zendesk fetch ticket " + ticket_id + " comments", "users", users);
  }

  // Comments as they are now, for the landed checks (roles do not matter there).
  Result<std::vector<Comment>> CurrentComments(const std::string& ticket_id, const std::string& me) {
    std::vector<json> users;
    DP_ASSIGN_OR_RETURN(std::vector<json> raw, FetchRawComments(ticket_id, &users));
    std::vector<Comment> out;
    try {
      for (const auto& c : raw) out.push_back(ToComment(c, {}, "", me));
    } catch (const json::exception& e) {
      return Status::InvalidArgument("zendesk ticket " + ticket_id + ": unexpected comments shape: " + e.what());
    }
    return out;
  }

  Status CheckUpdateCap(const std::string& ticket_id, const std::vector<Comment>& comments, const std::string& me,
                        int planned) const {
    const auto now = Clock::now();
    std::vector<Clock::time_point> recent;
    for (const Comment& c : comments) {
      if (c.author_id != me) continue;
      auto when = ParseRfc3339(c.created_at);
      if (when && now - *when < kZendeskTicketUpdateWindow) recent.push_back(*when);
    }
    if (static_cast<int>(recent.size()) + planned <= kZendeskTicketUpdateCap) return Status::Ok();
    std::sort(recent.begin(), recent.end());
    // Wait until enough of our updates leave the window to make room for this one.
    const size_t must_expire = recent.size() + static_cast<size_t>(planned) - kZendeskTicketUpdateCap;
    const auto free_at = recent[std::min(must_expire, recent.size()) - 1] + kZendeskTicketUpdateWindow;
    auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(free_at - now) + std::chrono::seconds(1);
    return Status::ResourceExhausted("zendesk ticket " + ticket_id + ": " + std::to_string(recent.size()) +
                                     " deskpilot updates in the last 10 minutes; Zendesk allows " +
                                     std::to_string(kZendeskTicketUpdateCap))
        .set_retry_after(wait);
  }

  // One ticket update with retries. A 5xx or a timeout can arrive after Zendesk
  // committed the update, so before each retry the comments are read again and the
  // update is not repeated when it is already there.
  Status PutUpdate(const std::string& ticket_id, const json& update,
                   const std::function<bool(const std::vector<Comment>&)>& landed, const std::string& me,
                   const std::string& what) {
    HttpRequest req = api_.Request("PUT", "/api/v2/tickets/" + ticket_id + ".json");
    req.headers.emplace_back("Content-Type", "application/json");
    req.body = JsonText(json{{"ticket", update}});
    const RetryPolicy& policy = api_.options().retry;
    const int attempts = std::max(1, policy.max_attempts);
    for (int attempt = 0;; ++attempt) {
      auto resp = api_.SendOnce(req, what);
      if (resp.ok()) return Status::Ok();
      const Status& st = resp.status();
      if (!st.retryable() || attempt + 1 >= attempts) return st;
      std::chrono::milliseconds delay = BackoffDelay(policy, attempt);
      if (auto ra = st.retry_after()) {
        // A long server-requested wait goes back to the job queue, not a held worker.
        if (*ra > policy.max_retry_after) return st;
        delay = std::max(delay, *ra);
      }
      Sleep(delay);
      if (st.code() == Code::kResourceExhausted) continue;  // a 429 never applied anything
      DP_ASSIGN_OR_RETURN(std::vector<Comment> comments, CurrentComments(ticket_id, me));
      if (landed(comments)) return Status::Ok();
    }
  }

  void Sleep(std::chrono::milliseconds d) const {
    if (api_.options().sleep) {
      api_.options().sleep(d);
    } else {
      std::this_thread::sleep_for(d);
    }
  }

  // Throws json exceptions on a wrong shape; callers convert them at the boundary.
  Comment ToComment(const json& c, const std::map<std::string, std::string>& roles,
                    const std::string& requester_id, const std::string& me) const {
    Comment cm;
    cm.id = ZendeskIdString(c, "id");
    cm.author_id = ZendeskIdString(c, "author_id");
    const json& is_public = Member(c, "public");
    cm.is_public = is_public.is_boolean() ? is_public.get<bool>() : true;
    cm.body = JsonString(c, "plain_body");
    if (cm.body.empty()) cm.body = JsonString(c, "body");
    cm.created_at = JsonString(c, "created_at");
    // Only agents can write internal notes, so a customer cannot fake the marker.
    cm.by_deskpilot = (!me.empty() && cm.author_id == me) ||
                      (!cm.is_public && cm.body.find(kZendeskMarkerPrefix) != std::string::npos);
    const std::string channel = JsonString(Member(c, "via"), "channel");
    auto role = roles.find(cm.author_id);
    if (cm.by_deskpilot) {
      cm.author_role = AuthorRole::kAgent;
    } else if (channel == "rule" || channel == "system") {
      cm.author_role = AuthorRole::kSystem;  // triggers, automations, merges
    } else if (role != roles.end()) {
      cm.author_role = role->second == "end-user" ? AuthorRole::kCustomer : AuthorRole::kAgent;
    } else {
      cm.author_role = cm.author_id == requester_id ? AuthorRole::kCustomer : AuthorRole::kAgent;
    }
    return cm;
  }

  Ticket ToTicket(const json& t, const std::vector<json>& comments, const std::vector<json>& users,
                  const std::string& me) const {
    std::map<std::string, std::string> roles;
    std::map<std::string, const json*> by_id;
    for (const auto& u : users) {
      const std::string id = ZendeskIdString(u, "id");
      roles[id] = JsonString(u, "role");
      by_id[id] = &u;
    }
    Ticket out;
    out.id = ZendeskIdString(t, "id");
    out.source = api_.options().name;
    out.subject = JsonString(t, "subject");
    out.description = JsonString(t, "description");
    out.status = JsonString(t, "status");
    out.priority = JsonString(t, "priority");
    out.channel = JsonString(Member(t, "via"), "channel");
    out.created_at = JsonString(t, "created_at");
    out.updated_at = JsonString(t, "updated_at");
    for (const auto& tag : Member(t, "tags"))
      if (tag.is_string()) out.tags.push_back(tag.get<std::string>());
    for (const auto& f : Member(t, "custom_fields")) {
      const json& value = Member(f, "value");
      if (value.is_null()) continue;
      const std::string id = ZendeskIdString(f, "id");
      auto name = field_names_.find(id);
      out.custom_fields[name != field_names_.end() ? name->second : id] = ValueString(value);
    }
    if (std::string group = ZendeskIdString(t, "group_id"); !group.empty()) {
      auto name = group_names_.find(group);
      out.group = name != group_names_.end() ? name->second : group;
    }
    const std::string requester_id = ZendeskIdString(t, "requester_id");
    if (auto it = by_id.find(requester_id); it != by_id.end()) {
      out.requester.email = JsonString(*it->second, "email");
      out.requester.name = JsonString(*it->second, "name");
    }
    for (const auto& c : comments) out.comments.push_back(ToComment(c, roles, requester_id, me));
    return out;
  }

  ZendeskApi api_;
  std::map<std::string, std::string> group_names_;  // group_id → configured name
  std::map<std::string, std::string> field_names_;  // field id → configured name
};

}  // namespace

std::unique_ptr<Helpdesk> NewZendeskHelpdesk(ZendeskOptions options, HttpClient* http) {
  return std::make_unique<ZendeskHelpdesk>(std::move(options), http);
}

}  // namespace deskpilot
