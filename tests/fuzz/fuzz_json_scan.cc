// ScanJsonObject (the webhook adapters' one-pass JSON reader) against nlohmann::json: the
// same verdict on every input and the same value for every path (core/json_scan_test_util.h).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/json_scan_test_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  const std::string difference = deskpilot::testing_util::CompareJsonScanWithNlohmann(text);
  if (!difference.empty()) {
    std::fprintf(stderr, "json_scan disagrees with nlohmann: %s\n", difference.c_str());
    std::abort();
  }
  return 0;
}
