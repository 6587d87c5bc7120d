// The "timestamp + raw body" webhook signature: base64(HMAC-SHA256(secret, timestamp +
// body)) with a replay window. Zendesk signs this way, and so does the sandbox (which
// speaks Zendesk's scheme on purpose), so both adapters verify through this one function.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "deskpilot/status.h"

namespace deskpilot {

// `when` is the adapter's parse of `timestamp` (nullopt when unparsable). Checks, in
// order: parsable, within ±tolerance of `now`, valid base64, constant-time HMAC match.
// Every failure is kUnauthenticated with a reason that never contains the secret.
Status VerifyTimestampedBase64Hmac(std::string_view secret, const std::string& signature_b64,
                                   const std::string& timestamp,
                                   std::optional<std::chrono::system_clock::time_point> when,
                                   std::string_view body, std::chrono::system_clock::time_point now,
                                   std::chrono::seconds tolerance);

}  // namespace deskpilot
