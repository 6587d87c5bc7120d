// Small wrappers over OpenSSL used for webhook signatures and the audit chain.
#pragma once

#include <string>
#include <string_view>

namespace deskpilot {

std::string HmacSha256(std::string_view key, std::string_view message);  // raw 32 bytes
std::string HmacSha1(std::string_view key, std::string_view message);    // raw 20 bytes
std::string Sha256(std::string_view data);                                // raw 32 bytes
std::string Sha256Hex(std::string_view data);
std::string HexEncode(std::string_view raw);
// Lower- or upper-case hex of an even length into raw bytes; false on anything else.
bool HexDecode(std::string_view hex, std::string* out);
std::string Base64Encode(std::string_view raw);
// Returns false on malformed input (bad characters or padding).
bool Base64Decode(std::string_view text, std::string* out);
// Constant-time equality (CRYPTO_memcmp); lengths are compared first, which leaks only
// the length, never the position of the first difference.
bool ConstantTimeEquals(std::string_view a, std::string_view b);
std::string RandomHex(size_t bytes);  // for secrets and ids (RAND_bytes)

}  // namespace deskpilot
