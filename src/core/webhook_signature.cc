#include "deskpilot/webhook_signature.h"

#include "deskpilot/crypto.h"

namespace deskpilot {

Status VerifyTimestampedBase64Hmac(std::string_view secret, const std::string& signature_b64,
                                   const std::string& timestamp,
                                   std::optional<std::chrono::system_clock::time_point> when,
                                   std::string_view body, std::chrono::system_clock::time_point now,
                                   std::chrono::seconds tolerance) {
  if (!when) return Status::Unauthenticated("signature timestamp is not RFC 3339 or unix seconds");
  if (std::chrono::abs(now - *when) > tolerance) {
    return Status::Unauthenticated("signature timestamp outside the allowed window of " +
                                   std::to_string(tolerance.count()) + " s");
  }
  std::string provided;
  if (!Base64Decode(signature_b64, &provided)) return Status::Unauthenticated("signature is not valid base64");
  std::string message = timestamp;
  message.append(body);
  if (!ConstantTimeEquals(provided, HmacSha256(secret, message))) return Status::Unauthenticated("signature mismatch");
  return Status::Ok();
}

}  // namespace deskpilot
