// libFuzzer: Retry-After parsing (delta-seconds or HTTP-date) on arbitrary header values.
// A parsed delay is never negative.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "deskpilot/http_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string value(reinterpret_cast<const char*>(data), size);
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  auto delay = deskpilot::ParseRetryAfter(value, now);
  if (delay && delay->count() < 0) std::abort();
  return 0;
}
