#include "common/json_fields/json_fields.h"

#include <algorithm>
#include <cstdint>

namespace deskpilot {

using nlohmann::json;

std::string JsonString(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : "";
}

std::string JsonIdText(const json& value) {
  if (value.is_string()) return value.get<std::string>();
  if (value.is_number_unsigned()) return std::to_string(value.get<uint64_t>());
  if (value.is_number_integer()) return std::to_string(value.get<int64_t>());
  return "";
}

std::string JsonId(const json& obj, const char* key) {
  if (!obj.is_object()) return "";
  auto it = obj.find(key);
  return it == obj.end() ? "" : JsonIdText(*it);
}

std::string JsonScalarText(const json& value) {
  return value.is_string() ? value.get<std::string>() : value.dump();
}

bool IsPositiveDecimalId(const std::string& s, size_t max_digits) {
  return !s.empty() && s.size() <= max_digits && s[0] != '0' &&
         std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace deskpilot
