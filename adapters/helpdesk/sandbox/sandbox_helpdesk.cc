#include "helpdesk/sandbox/sandbox_helpdesk.h"

#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "deskpilot/json_scan.h"
#include "deskpilot/json_text.h"
#include "deskpilot/webhook_signature.h"
#include "deskpilot/rfc3339.h"
#include "common/json_fields/json_fields.h"

namespace deskpilot {
namespace {

using nlohmann::json;

constexpr char kSignatureHeader[] = "x-zendesk-webhook-signature";
constexpr char kTimestampHeader[] = "x-zendesk-webhook-signature-timestamp";

std::string Header(const WebhookRequest& r, const char* lower_name) {
  auto it = r.headers.find(lower_name);
  return it == r.headers.end() ? std::string() : it->second;
}

// RFC 3339 (what the sandbox and Zendesk send) or plain unix seconds.
std::optional<std::chrono::system_clock::time_point> ParseTimestamp(const std::string& s) {
  if (!s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t secs = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), secs);
    if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
    // After 2200 the nanosecond clock overflows (UB; found by fuzz_webhook_parse).
    if (secs > 7258118400) return std::nullopt;
    return std::chrono::system_clock::time_point(std::chrono::seconds(secs));
  }
  return ParseRfc3339(s);
}

// A string member, treating null/absent as "". Throws json::type_error on other types,
// which the callers convert at the boundary.
std::string Str(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return "";
  return it->get<std::string>();
}

bool IsDigits(const std::string& s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

class SandboxHelpdesk : public Helpdesk {
 public:
  SandboxHelpdesk(SandboxHelpdeskOptions options, HttpClient* http)
      : options_(std::move(options)), http_(http) {
    while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
  }

  std::string_view type() const override { return "sandbox"; }

  Status VerifyWebhook(const WebhookRequest& request) const override {
    const std::string signature = Header(request, kSignatureHeader);
    const std::string timestamp = Header(request, kTimestampHeader);
    if (signature.empty()) return Status::Unauthenticated("missing X-Zendesk-Webhook-Signature header");
    if (timestamp.empty())
      return Status::Unauthenticated("missing X-Zendesk-Webhook-Signature-Timestamp header");
    return VerifyTimestampedBase64Hmac(options_.webhook_secret, signature, timestamp, ParseTimestamp(timestamp),
                                       request.body, request.now, options_.signature_tolerance);
  }

  Result<WebhookEvent> ParseWebhook(const WebhookRequest& request) const override {
    // One validating pass that reads only these members (deskpilot/json_scan.h): this runs
    // on every acknowledgement.
    static const std::vector<JsonPath> kPaths = {{"id"}, {"ticket_id"}, {"type"}, {"actor"}, {"actor", "id"}};
    auto scan = ScanJsonObject(request.body, kPaths);
    if (!scan.ok()) return Status::InvalidArgument("sandbox webhook: " + scan.status().message());
    const std::vector<JsonScalar>& v = *scan;
    WebhookEvent ev;
    const std::string id = v[0].IdText();
    ev.ticket_id = v[1].IdText();
    if (id.empty()) return Status::InvalidArgument("sandbox webhook: missing id");
    if (ev.ticket_id.empty()) return Status::InvalidArgument("sandbox webhook: missing ticket_id");
    if (!v[2].is_string() || v[2].text.empty()) return Status::InvalidArgument("sandbox webhook: missing type");
    ev.event_type = v[2].text;
    ev.dedupe_key = "sandbox:" + options_.name + ":" + id;
    // With no API user configured, nothing is ours: an event without an actor id (or an
    // empty one) would otherwise "match" it and be dropped unprocessed as a loop.
    if (v[3].kind == JsonScalar::Kind::kObject)
      ev.self_caused = !options_.api_user_id.empty() && v[4].IdText() == options_.api_user_id;
    return ev;
  }

  Result<Ticket> FetchTicket(const std::string& ticket_id) override {
    if (!IsDigits(ticket_id))
      return Status::InvalidArgument("sandbox ticket id must be an integer, got \"" + ticket_id + "\"");
    const std::string what = "sandbox fetch ticket " + ticket_id;
    DP_ASSIGN_OR_RETURN(json ticket_doc, GetJson("/api/tickets/" + ticket_id, what));
    DP_ASSIGN_OR_RETURN(json comments_doc, GetJson("/api/tickets/" + ticket_id + "/comments", what));
    try {
      return ToTicket(ticket_doc.at("ticket"), comments_doc.at("comments"));
    } catch (const json::exception& e) {
      return Status::InvalidArgument(what + ": unexpected response shape: " + e.what());
    }
  }

  Status Apply(const Ticket& ticket, const WritePlan& plan) override {
    if (plan.empty()) return Status::Ok();
    if (!IsDigits(ticket.id))
      return Status::InvalidArgument("sandbox ticket id must be an integer, got \"" + ticket.id + "\"");
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
          fields["priority"] = a.value;
          break;
        case ActionType::kSetGroup:
          fields["group"] = a.value;
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
    if (!tags.empty()) fields["additional_tags"] = tags;
    // One update carries one comment (as in Zendesk): the note rides with the field
    // changes, and a public reply next to it needs a second update.
    std::vector<json> updates;
    json first = fields;
    if (!note.empty()) {
      first["comment"] = {{"body", note}, {"public", false}};
    } else if (!reply.empty()) {
      first["comment"] = {{"body", reply}, {"public", true}};
      reply.clear();
    }
    if (!first.empty()) updates.push_back(std::move(first));
    if (!reply.empty()) updates.push_back(json{{"comment", {{"body", reply}, {"public", true}}}});

    for (size_t i = 0; i < updates.size(); ++i) {
      HttpRequest req = BaseRequest("PUT", "/api/tickets/" + ticket.id);
      req.headers.emplace_back("Content-Type", "application/json");
      if (!plan.idempotency_key.empty())
        req.headers.emplace_back("Idempotency-Key", plan.idempotency_key + ":" + std::to_string(i + 1));
      req.body = JsonText(json{{"ticket", updates[i]}});
      const std::string what = "sandbox update ticket " + ticket.id + " (" + std::to_string(i + 1) +
                               "/" + std::to_string(updates.size()) + ")";
      auto resp = SendWithRetry(*http_, req, options_.retry);
      if (!resp.ok()) return resp.status().WithContext(what);
      DP_RETURN_IF_ERROR(StatusFromHttp(*resp, what));
    }
    return Status::Ok();
  }

 private:
  HttpRequest BaseRequest(const std::string& method, const std::string& path) const {
    HttpRequest req;
    req.method = method;
    req.url = options_.base_url + path;
    req.timeout = options_.request_timeout;
    req.headers = {{"Authorization", "Bearer " + options_.api_token}, {"Accept", "application/json"}};
    return req;
  }

  Result<json> GetJson(const std::string& path, const std::string& what) {
    auto resp = SendWithRetry(*http_, BaseRequest("GET", path), options_.retry);
    if (!resp.ok()) return resp.status().WithContext(what);
    DP_RETURN_IF_ERROR(StatusFromHttp(*resp, what));
    // A 2xx whose body is not a JSON object (a proxy's HTML maintenance page, a body cut
    // short) says the path to the vendor is unwell, not that our request was wrong: it is
    // retried like a 5xx, and the attempt budget dead-letters it if it never clears.
    json j = json::parse(resp->body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Status::Unavailable(what + ": response is not JSON (" + resp->Header("content-type") + ")");
    if (!j.is_object()) return Status::Unavailable(what + ": response is not a JSON object");
    return j;
  }

  // Throws json exceptions on a wrong shape; FetchTicket converts them.
  Ticket ToTicket(const json& t, const json& comments) const {
    Ticket out;
    out.id = JsonId(t, "id");
    out.source = options_.name;
    out.subject = Str(t, "subject");
    out.description = Str(t, "description");
    out.status = Str(t, "status");
    out.priority = Str(t, "priority");
    out.group = Str(t, "group");
    out.channel = Str(t, "channel");
    out.created_at = Str(t, "created_at");
    out.updated_at = Str(t, "updated_at");
    if (auto it = t.find("tags"); it != t.end() && !it->is_null())
      out.tags = it->get<std::vector<std::string>>();
    if (auto it = t.find("custom_fields"); it != t.end() && it->is_object()) {
      for (const auto& [k, v] : it->items())
        out.custom_fields[k] = JsonScalarText(v);
    }
    if (auto it = t.find("requester"); it != t.end() && it->is_object()) {
      out.requester.email = Str(*it, "email");
      out.requester.name = Str(*it, "name");
    }
    for (const auto& c : comments) {
      Comment cm;
      cm.id = JsonId(c, "id");
      cm.author_role = ParseAuthorRole(Str(c, "author_role")).value_or(AuthorRole::kSystem);
      cm.author_id = Str(c, "author_id");
      cm.is_public = c.value("public", true);
      cm.by_deskpilot = !options_.api_user_id.empty() && cm.author_id == options_.api_user_id;
      cm.body = Str(c, "body");
      cm.created_at = Str(c, "created_at");
      out.comments.push_back(std::move(cm));
    }
    return out;
  }

  SandboxHelpdeskOptions options_;
  HttpClient* http_;
};

}  // namespace

Result<SandboxHelpdeskOptions> SandboxHelpdeskOptionsFromConfig(ConfigSection& section,
                                                                const std::string& name) {
  SandboxHelpdeskOptions o;
  o.name = name;
  (void)section.String("name", name);
  (void)section.String("type", "sandbox");
  o.base_url = section.String("base_url");
  o.api_token = section.Secret("api_token", true);
  o.webhook_secret = section.Secret("webhook_secret", true);
  o.signature_tolerance = std::chrono::seconds(section.Int("signature_tolerance_seconds", 300, 1, 86400));
  o.request_timeout = std::chrono::milliseconds(section.Int("request_timeout_ms", 10000, 100, 600000));
  o.api_user_id = section.String("api_user_id", std::string(kSandboxApiUserId));
  if (section.Has("base_url") && o.base_url.rfind("http://", 0) != 0 && o.base_url.rfind("https://", 0) != 0)
    section.AddError("base_url", "must start with http:// or https://");
  // Finish() also reports keys nobody read, which is exactly the validation we want.
  DP_RETURN_IF_ERROR(section.Finish());
  if (o.base_url.empty() || o.api_token.empty() || o.webhook_secret.empty())
    return Status::InvalidArgument(section.path() + ": base_url, api_token and webhook_secret are required");
  return o;
}

std::unique_ptr<Helpdesk> NewSandboxHelpdesk(SandboxHelpdeskOptions options, HttpClient* http) {
  return std::make_unique<SandboxHelpdesk>(std::move(options), http);
}

}  // namespace deskpilot
