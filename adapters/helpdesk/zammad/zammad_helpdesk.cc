#include "helpdesk/zammad/zammad_helpdesk.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "deskpilot/crypto.h"
#include "deskpilot/json_scan.h"

namespace deskpilot {
namespace {

constexpr char kSignatureHeader[] = "x-hub-signature";
constexpr char kDeliveryHeader[] = "x-zammad-delivery";
constexpr std::string_view kSignaturePrefix = "sha1=";

std::string Header(const WebhookRequest& r, const char* lower_name) {
  auto it = r.headers.find(lower_name);
  return it == r.headers.end() ? std::string() : it->second;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Lower- or upper-case hex of an even length; false on anything else.
bool HexDecode(std::string_view hex, std::string* out) {
  if (hex.size() % 2 != 0) return false;
  out->clear();
  for (size_t i = 0; i < hex.size(); i += 2) {
    const int hi = HexValue(hex[i]), lo = HexValue(hex[i + 1]);
    if (hi < 0 || lo < 0) return false;
    out->push_back(static_cast<char>(hi * 16 + lo));
  }
  return true;
}

// Zammad ids are positive integers (database ids).
bool IsZammadId(const std::string& s) {
  return !s.empty() && s.size() <= 19 && s[0] != '0' &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

class ZammadHelpdesk : public Helpdesk {
 public:
  ZammadHelpdesk(ZammadOptions options, HttpClient* http) : options_(std::move(options)), http_(http) {}

  std::string_view type() const override { return "zammad"; }

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
    enum { kTicket, kTicketId, kUpdatedById, kUpdatedBy, kArticle, kArticleId, kCreatedById, kCreatedBy };
    static const std::vector<JsonPath> kPaths = {
        {"ticket"},  {"ticket", "id"},         {"ticket", "updated_by_id"}, {"ticket", "updated_by", "id"},
        {"article"}, {"article", "id"}, {"article", "created_by_id"}, {"article", "created_by", "id"}};
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
    return Status::FailedPrecondition("zammad fetch ticket " + ticket_id + ": not implemented yet");
  }

  Status Apply(const Ticket& ticket, const WritePlan& plan) override {
    (void)plan;
    return Status::FailedPrecondition("zammad apply to ticket " + ticket.id + ": not implemented yet");
  }

 private:
  ZammadOptions options_;
  HttpClient* http_;
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
