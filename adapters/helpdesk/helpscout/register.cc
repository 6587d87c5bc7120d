#include "helpdesk/helpscout/register.h"

#include "helpdesk/helpscout/helpscout_helpdesk.h"

namespace deskpilot {

void RegisterHelpScoutHelpdesk(Registry& r) {
  r.AddHelpdesk("helpscout", [](AdapterContext& c) -> Result<std::unique_ptr<Helpdesk>> {
    if (c.section == nullptr || c.http == nullptr)
      return Status::Internal("helpscout helpdesk: context needs a config section and an HTTP client");
    DP_ASSIGN_OR_RETURN(HelpScoutOptions options, HelpScoutOptionsFromConfig(*c.section, c.name, !c.webhook_admin_only));
    options.approval_tag = c.approval_tag;
    return NewHelpScoutHelpdesk(std::move(options), c.http);
  });
}

}  // namespace deskpilot
