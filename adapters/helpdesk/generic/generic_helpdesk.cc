#include "helpdesk/generic/generic_helpdesk.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "deskpilot/json_scan.h"
#include "deskpilot/json_text.h"

namespace deskpilot {
namespace {

using nlohmann::json;

constexpr char kSignatureHeader[] = "x-deskpilot-signature";
constexpr char kTimestampHeader[] = "x-deskpilot-timestamp";
constexpr std::string_view kSignaturePrefix = "sha256=";

std::string Header(const WebhookRequest& r, const char* lower_name) {
  auto it = r.headers.find(lower_name);
  return it == r.headers.end() ? std::string() : it->second;
}

class GenericHelpdesk : public Helpdesk {
 public:
  GenericHelpdesk(GenericHelpdeskOptions options, HttpClient* http)
      : options_(std::move(options)), http_(http) {
    while (!options_.base_url.empty() && options_.base_url.back() == '/') options_.base_url.pop_back();
  }

  std::string_view type() const override { return "generic"; }

  Status VerifyWebhook(const WebhookRequest& request) const override {
    const std::string signature = Header(request, kSignatureHeader);
    const std::string timestamp = Header(request, kTimestampHeader);
    if (signature.empty()) return Status::Unauthenticated("missing X-Deskpilot-Signature header");
    if (timestamp.empty()) return Status::Unauthenticated("missing X-Deskpilot-Timestamp header");
    int64_t secs = 0;
    auto [p, ec] = std::from_chars(timestamp.data(), timestamp.data() + timestamp.size(), secs);
    // Beyond 2200 the nanosecond clock below overflows (UB; found by fuzz_webhook_parse).
    if (ec != std::errc() || p != timestamp.data() + timestamp.size() || secs < 0 || secs > 7258118400)
      return Status::Unauthenticated("X-Deskpilot-Timestamp is not unix seconds");
    const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(secs));
    if (std::chrono::abs(request.now - when) > options_.signature_tolerance) {
      return Status::Unauthenticated("signature timestamp outside the allowed window of " +
                                     std::to_string(options_.signature_tolerance.count()) + " s");
    }
    if (signature.rfind(kSignaturePrefix, 0) != 0)
      return Status::Unauthenticated("X-Deskpilot-Signature must start with sha256=");
    std::string provided;
    if (!HexDecode(std::string_view(signature).substr(kSignaturePrefix.size()), &provided))
      return Status::Unauthenticated("X-Deskpilot-Signature is not valid hex");
    std::string message = timestamp;
    message.push_back('.');
    message.append(request.body);
    if (!ConstantTimeEquals(provided, HmacSha256(options_.webhook_secret, message)))
      return Status::Unauthenticated("signature mismatch");
    return Status::Ok();
  }

  Result<WebhookEvent> ParseWebhook(const WebhookRequest& request) const override {
    // One validating pass that reads only these members (deskpilot/json_scan.h): this runs
    // on every acknowledgement.
    static const std::vector<JsonPath> kPaths = {{"event_id"}, {"ticket_id"}, {"event_type"}, {"actor"},
                                                 {"actor", "id"}};
    auto scan = ScanJsonObject(request.body, kPaths);
    if (!scan.ok()) return Status::InvalidArgument("generic webhook: " + scan.status().message());
    const std::vector<JsonScalar>& v = *scan;
    WebhookEvent ev;
    const std::string event_id = v[0].IdText();
    ev.ticket_id = v[1].IdText();
    if (event_id.empty()) return Status::InvalidArgument("generic webhook: missing event_id");
    if (ev.ticket_id.empty()) return Status::InvalidArgument("generic webhook: missing ticket_id");
    if (!v[2].is_string() || v[2].text.empty()) return Status::InvalidArgument("generic webhook: missing event_type");
    ev.event_type = v[2].text;
    ev.dedupe_key = "generic:" + options_.name + ":" + event_id;
    if (v[3].kind != JsonScalar::Kind::kMissing && v[3].kind != JsonScalar::Kind::kNull) {
      if (v[3].kind != JsonScalar::Kind::kObject) return Status::InvalidArgument("generic webhook: actor must be an object");
      ev.self_caused = !options_.api_user_id.empty() && v[4].IdText() == options_.api_user_id;
    }
    return ev;
  }

  Result<Ticket> FetchTicket(const std::string& ticket_id) override {
    if (ticket_id.empty()) return Status::InvalidArgument("generic fetch ticket: empty ticket id");
    const std::string what = "generic fetch ticket " + ticket_id;
    auto resp = SendWithRetry(*http_, BaseRequest("GET", "/tickets/" + PercentEncode(ticket_id)),
                              options_.retry);
    if (!resp.ok()) return resp.status().WithContext(what);
    DP_RETURN_IF_ERROR(StatusFromHttp(*resp, what));
    json j;
    try {
      j = json::parse(resp->body);
    } catch (const json::exception& e) {
      return Status::InvalidArgument(what + ": malformed JSON response: " + e.what());
    }
    Ticket t;
    if (Status st = TicketFromJson(j, &t); !st.ok()) return st.WithContext(what);
    if (t.id.empty()) t.id = ticket_id;
    t.source = options_.name;
    // The desk may flag deskpilot's comments itself (by_deskpilot); the API user id is
    // the second, vendor-independent signal.
    if (!options_.api_user_id.empty()) {
      for (Comment& c : t.comments) c.by_deskpilot = c.by_deskpilot || c.author_id == options_.api_user_id;
    }
    return t;
  }

  Status Apply(const Ticket& ticket, const WritePlan& plan) override {
    if (plan.empty()) return Status::Ok();
    if (ticket.id.empty()) return Status::InvalidArgument("generic apply: ticket has no id");
    const std::string what = "generic apply to ticket " + ticket.id;
    HttpRequest req = BaseRequest("POST", "/tickets/" + PercentEncode(ticket.id) + "/actions");
    req.headers.emplace_back("Content-Type", "application/json");
    if (!plan.idempotency_key.empty()) req.headers.emplace_back("Idempotency-Key", plan.idempotency_key);
    json actions = json::array();
    for (const WriteAction& a : plan.actions) actions.push_back(a);
    req.body = JsonText(json{{"idempotency_key", plan.idempotency_key}, {"actions", actions}});
    auto resp = SendWithRetry(*http_, req, options_.retry);
    if (!resp.ok()) return resp.status().WithContext(what);
    return StatusFromHttp(*resp, what);
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

  GenericHelpdeskOptions options_;
  HttpClient* http_;
};

}  // namespace

Result<GenericHelpdeskOptions> GenericHelpdeskOptionsFromConfig(ConfigSection& section,
                                                                const std::string& name) {
  GenericHelpdeskOptions o;
  o.name = name;
  (void)section.String("name", name);
  (void)section.String("type", "generic");
  o.base_url = section.String("base_url");
  o.api_token = section.Secret("api_token", true);
  o.webhook_secret = section.Secret("webhook_secret", true);
  o.signature_tolerance = std::chrono::seconds(section.Int("signature_tolerance_seconds", 300, 1, 86400));
  o.request_timeout = std::chrono::milliseconds(section.Int("request_timeout_ms", 10000, 100, 600000));
  o.api_user_id = section.String("api_user_id", std::string());
  if (section.Has("base_url") && o.base_url.rfind("http://", 0) != 0 && o.base_url.rfind("https://", 0) != 0)
    section.AddError("base_url", "must start with http:// or https://");
  // Finish() also reports keys nobody read, which is exactly the validation we want.
  DP_RETURN_IF_ERROR(section.Finish());
  if (o.base_url.empty() || o.api_token.empty() || o.webhook_secret.empty())
    return Status::InvalidArgument(section.path() + ": base_url, api_token and webhook_secret are required");
  return o;
}

std::unique_ptr<Helpdesk> NewGenericHelpdesk(GenericHelpdeskOptions options, HttpClient* http) {
  return std::make_unique<GenericHelpdesk>(std::move(options), http);
}

}  // namespace deskpilot
