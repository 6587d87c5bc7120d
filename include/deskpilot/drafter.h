#pragma once

#include <vector>

#include "deskpilot/status.h"
#include "deskpilot/types.h"

namespace deskpilot {

// Ticket + Triage + passages → a reply that cites what it uses, or an honest
// "an agent will follow up" (grounded = false) when nothing relevant was found.
class Drafter {
 public:
  virtual ~Drafter() = default;
  virtual Result<Draft> Write(const Ticket& redacted_ticket, const Triage& triage,
                              const std::vector<Passage>& passages) = 0;
};

}  // namespace deskpilot
