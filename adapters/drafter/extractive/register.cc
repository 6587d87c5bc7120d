#include "drafter/extractive/register.h"

#include "drafter/extractive/extractive_drafter.h"

namespace deskpilot {

void RegisterExtractiveDrafter(Registry& r) { r.AddDrafter("extractive", MakeExtractiveDrafter); }

}  // namespace deskpilot
