#include "helpdesk/zendesk/register.h"

#include "helpdesk/zendesk/zendesk_helpdesk.h"

namespace deskpilot {

void RegisterZendeskHelpdesk(Registry& r) {
  r.AddHelpdesk("zendesk", [](AdapterContext& c) -> Result<std::unique_ptr<Helpdesk>> {
    if (c.section == nullptr || c.http == nullptr)
      return Status::Internal("zendesk helpdesk: context needs a config section and an HTTP client");
    DP_ASSIGN_OR_RETURN(ZendeskOptions options, ZendeskOptionsFromConfig(*c.section, c.name, !c.webhook_admin_only));
    options.approval_tag = c.approval_tag;
    return NewZendeskHelpdesk(std::move(options), c.http);
  });
}

}  // namespace deskpilot
