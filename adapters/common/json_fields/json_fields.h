// Reading single members of a vendor's JSON answer. Vendor payloads vary (a member
// missing, null, or of another type than documented; ids as numbers from one endpoint and
// as strings from another), so these never throw: a value of an unexpected shape reads as
// "" and the caller decides whether that is an error.
#pragma once

#include <cstddef>
#include <string>

#include <nlohmann/json.hpp>

namespace deskpilot {

// The string member `key` of `obj`; "" when `obj` is not an object, or the member is
// absent, null or not a string.
std::string JsonString(const nlohmann::json& obj, const char* key);

// An id as text: a string as it is, an integer in decimal; "" for anything else.
std::string JsonIdText(const nlohmann::json& value);
// The id member `key` of `obj` as text (JsonIdText); "" when `obj` is not an object or
// the member is absent.
std::string JsonId(const nlohmann::json& obj, const char* key);

// A value compared as text: a string as it is, anything else as its JSON text ("5",
// "true", "[1,2]"). Vendors echo a value they were sent as a string back as a number, and
// the other way round; compared this way, both read the same.
std::string JsonScalarText(const nlohmann::json& value);

// Whether `s` is a positive decimal database id: digits only, no leading zero, at most
// `max_digits` long (so it fits the vendor's integer type).
bool IsPositiveDecimalId(const std::string& s, size_t max_digits = 19);

}  // namespace deskpilot
