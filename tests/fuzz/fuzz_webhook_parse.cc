// libFuzzer: every help desk adapter's webhook entry points (VerifyWebhook, then
// ParseWebhook as the receiver calls it after a valid signature) on arbitrary bodies and
// signature headers. The adapters must answer with a Status, never crash or call out.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "deskpilot/helpdesk.h"
#include "deskpilot/http_client.h"
#include "helpdesk/generic/generic_helpdesk.h"
#include "helpdesk/sandbox/sandbox_helpdesk.h"
#include "helpdesk/zendesk/zendesk_helpdesk.h"

namespace {

using namespace deskpilot;

// Parsing must never reach the network; if it tried, it gets a transport error.
struct NoNetwork : HttpClient {
  Result<HttpResponse> Send(const HttpRequest&) override { return Status::Unavailable("fuzzing: no network"); }
};

std::vector<std::unique_ptr<Helpdesk>>& Adapters() {
  static NoNetwork http;
  static std::vector<std::unique_ptr<Helpdesk>> all = [] {
    std::vector<std::unique_ptr<Helpdesk>> v;
    SandboxHelpdeskOptions s;
    s.name = "sandbox";
    s.base_url = "http://127.0.0.1:9";
    s.webhook_secret = "secret";
    v.push_back(NewSandboxHelpdesk(s, &http));
    GenericHelpdeskOptions g;
    g.name = "generic";
    g.base_url = "http://127.0.0.1:9";
    g.webhook_secret = "secret";
    g.api_user_id = "bot";
    v.push_back(NewGenericHelpdesk(g, &http));
    ZendeskOptions z;
    z.name = "zendesk";
    z.base_url = "http://127.0.0.1:9";
    z.email = "bot@example.com";
    z.api_token = "token";
    z.webhook_secret = "secret";
    z.api_user_id = "900001";
    v.push_back(NewZendeskHelpdesk(z, &http));
    return v;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Layout: header value '\n' body. The same value is offered as every signature header.
  const std::string input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  const std::string header = nl == std::string::npos ? "" : input.substr(0, nl);
  const std::string body = nl == std::string::npos ? input : input.substr(nl + 1);
  WebhookRequest req;
  req.body = body;
  req.now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  for (const char* name : {"x-zendesk-webhook-signature", "x-zendesk-webhook-signature-timestamp",
                           "x-deskpilot-signature", "x-deskpilot-timestamp", "x-signature", "x-timestamp",
                           "x-zendesk-webhook-id", "x-delivery-id"})
    req.headers[name] = header;
  for (auto& hd : Adapters()) {
    (void)hd->VerifyWebhook(req);
    auto event = hd->ParseWebhook(req);
    if (event.ok()) (void)event->dedupe_key.size();
  }
  return 0;
}
