#include "helpdesk/zammad/register.h"

#include "helpdesk/zammad/zammad_helpdesk.h"

namespace deskpilot {

void RegisterZammadHelpdesk(Registry& r) {
  r.AddHelpdesk("zammad", [](AdapterContext& c) -> Result<std::unique_ptr<Helpdesk>> {
    if (c.section == nullptr || c.http == nullptr)
      return Status::Internal("zammad helpdesk: context needs a config section and an HTTP client");
    DP_ASSIGN_OR_RETURN(ZammadOptions options, ZammadOptionsFromConfig(*c.section, c.name));
    options.approval_tag = c.approval_tag;
    return NewZammadHelpdesk(std::move(options), c.http);
  });
}

}  // namespace deskpilot
