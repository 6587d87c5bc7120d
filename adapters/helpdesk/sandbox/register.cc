#include "helpdesk/sandbox/register.h"

#include "helpdesk/sandbox/sandbox_helpdesk.h"

namespace deskpilot {

void RegisterSandboxHelpdesk(Registry& r) {
  r.AddHelpdesk("sandbox", [](AdapterContext& c) -> Result<std::unique_ptr<Helpdesk>> {
    if (c.section == nullptr || c.http == nullptr)
      return Status::Internal("sandbox helpdesk: context needs a config section and an HTTP client");
    DP_ASSIGN_OR_RETURN(SandboxHelpdeskOptions options, SandboxHelpdeskOptionsFromConfig(*c.section, c.name));
    return NewSandboxHelpdesk(std::move(options), c.http);
  });
}

}  // namespace deskpilot
