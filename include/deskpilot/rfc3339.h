// RFC 3339 timestamps, as help desks write them and as Zendesk-style webhook
// signature timestamps arrive. std::chrono::parse is missing from Debian 12's
// libstdc++, hence the small hand-written parser.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace deskpilot {

// "2024-05-01T12:00:00Z" (UTC, whole seconds).
std::string FormatRfc3339Utc(std::chrono::system_clock::time_point t);

// Accepts "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)"; 't', 'z' and a space
// separator are tolerated. The fraction is dropped. nullopt when malformed.
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view text);

}  // namespace deskpilot
