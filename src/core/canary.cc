#include "deskpilot/canary.h"

#include "deskpilot/crypto.h"

namespace deskpilot {

const std::string& ProcessCanary() {
  // A function-local static: initialised once, thread-safely, and never destroyed
  // before last use (no non-trivial global).
  static const std::string canary = RandomHex(8);
  return canary;
}

}  // namespace deskpilot
