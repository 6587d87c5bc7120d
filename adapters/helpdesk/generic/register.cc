#include "helpdesk/generic/register.h"

#include "helpdesk/generic/generic_helpdesk.h"

namespace deskpilot {

void RegisterGenericHelpdesk(Registry& r) {
  r.AddHelpdesk("generic", [](AdapterContext& c) -> Result<std::unique_ptr<Helpdesk>> {
    if (c.section == nullptr || c.http == nullptr)
      return Status::Internal("generic helpdesk: context needs a config section and an HTTP client");
    DP_ASSIGN_OR_RETURN(GenericHelpdeskOptions options, GenericHelpdeskOptionsFromConfig(*c.section, c.name));
    return NewGenericHelpdesk(std::move(options), c.http);
  });
}

}  // namespace deskpilot
