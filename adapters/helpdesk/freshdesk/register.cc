#include "helpdesk/freshdesk/register.h"

#include "helpdesk/freshdesk/freshdesk_helpdesk.h"

namespace deskpilot {

void RegisterFreshdeskHelpdesk(Registry& r) {
  r.AddHelpdesk("freshdesk", [](AdapterContext& c) -> Result<std::unique_ptr<Helpdesk>> {
    if (c.section == nullptr || c.http == nullptr)
      return Status::Internal("freshdesk helpdesk: context needs a config section and an HTTP client");
    DP_ASSIGN_OR_RETURN(FreshdeskOptions options, FreshdeskOptionsFromConfig(*c.section, c.name));
    return NewFreshdeskHelpdesk(std::move(options), c.http);
  });
}

}  // namespace deskpilot
