// libFuzzer: the timestamp + body HMAC verifier (Zendesk and sandbox) and the base64
// decoder under it, on arbitrary signature, timestamp and body bytes. Also a property:
// what the fuzzer signs correctly verifies, and a flipped body byte never does.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "deskpilot/crypto.h"
#include "deskpilot/webhook_signature.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace deskpilot;
  const std::string input(reinterpret_cast<const char*>(data), size);
  // Layout: signature '\n' timestamp '\n' body.
  const size_t a = input.find('\n');
  const size_t b = a == std::string::npos ? std::string::npos : input.find('\n', a + 1);
  const std::string signature = input.substr(0, a);
  const std::string timestamp = a == std::string::npos ? "" : input.substr(a + 1, b == std::string::npos ? b : b - a - 1);
  const std::string body = b == std::string::npos ? "" : input.substr(b + 1);
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));
  const std::chrono::seconds tolerance(300);

  std::string decoded;
  (void)Base64Decode(signature, &decoded);
  (void)VerifyTimestampedBase64Hmac("secret", signature, timestamp, now, body, now, tolerance);
  (void)VerifyTimestampedBase64Hmac("secret", signature, timestamp, std::nullopt, body, now, tolerance);

  const std::string good = Base64Encode(HmacSha256("secret", timestamp + body));
  if (!VerifyTimestampedBase64Hmac("secret", good, timestamp, now, body, now, tolerance).ok()) std::abort();
  if (!body.empty()) {
    std::string tampered = body;
    tampered[0] = static_cast<char>(tampered[0] ^ 0x01);
    if (VerifyTimestampedBase64Hmac("secret", good, timestamp, now, tampered, now, tolerance).ok()) std::abort();
  }
  return 0;
}
