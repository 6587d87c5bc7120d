// libFuzzer: the PII redactor on arbitrary text. Besides not crashing, restoring a
// redaction must give back the input whenever the input held no placeholder-like text
// of its own, and redacting the same text twice must give the same placeholders.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "deskpilot/redact.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace deskpilot;
  const std::string input(reinterpret_cast<const char*>(data), size);
  Redactor redactor;
  RedactionMap map;
  const std::string redacted = redactor.Redact(input, &map);
  const std::string again = redactor.Redact(input, &map);  // the same values reuse placeholders
  if (again != redacted) std::abort();
  if (input.find('<') == std::string::npos && Redactor::Restore(redacted, map) != input) std::abort();
  return 0;
}
