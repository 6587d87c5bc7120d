// libFuzzer: the PII redactor on arbitrary text. Besides not crashing, putting every
// placeholder back must give the input whenever the input held no placeholder-like text
// of its own, redacting the same text twice must give the same placeholders, and a
// restore for the customer must replace every placeholder it does not restore.
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
  if (input.find('<') == std::string::npos) {
    // Every placeholder back, whoever wrote the value: the inverse of Redact.
    std::string restored;
    size_t cursor = 0;
    for (size_t open = redacted.find('<'); open != std::string::npos; open = redacted.find('<', open + 1)) {
      const size_t close = redacted.find('>', open);
      if (close == std::string::npos) break;
      auto it = map.values.find(redacted.substr(open, close - open + 1));
      if (it == map.values.end()) continue;
      restored.append(redacted, cursor, open - cursor).append(it->second);
      cursor = close + 1;
      open = close;
    }
    restored.append(redacted, cursor, std::string::npos);
    if (restored != input) std::abort();
  }
  // A restore for the customer (nothing here is the customer's: kOther) leaves none of
  // the map's placeholders behind for a later step to turn into a value.
  const std::string reply = Redactor::Restore(redacted, map);
  for (const auto& [placeholder, original] : map.values)
    if (map.restorable.count(placeholder) == 0 && reply.find(placeholder) != std::string::npos) std::abort();
  return 0;
}
