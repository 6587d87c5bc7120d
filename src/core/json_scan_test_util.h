// The check that ScanJsonObject agrees with nlohmann::json::parse, shared by the unit test
// (json_scan_test.cc) and the fuzz target (tests/fuzz/fuzz_json_scan.cc).
#pragma once

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/json_scan.h"

namespace deskpilot::testing_util {

using Kind = JsonScalar::Kind;
using nlohmann::json;

inline const std::vector<JsonPath> kJsonScanCheckPaths = {{"id"}, {"type"}, {"ticket_id"}, {"actor", "id"}, {"a", "b", "c"}, {"a"}, {"n"}};

// What nlohmann makes of `text` for kJsonScanCheckPaths, in ScanJsonObject's terms. nullopt: refused.
inline std::optional<std::vector<JsonScalar>> JsonScanReference(const std::string& text) {
  json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  std::vector<JsonScalar> out(kJsonScanCheckPaths.size());
  for (size_t i = 0; i < kJsonScanCheckPaths.size(); ++i) {
    const json* cur = &j;
    for (std::string_view name : kJsonScanCheckPaths[i]) {
      if (!cur->is_object()) {
        cur = nullptr;
        break;
      }
      auto it = cur->find(std::string(name));
      cur = it == cur->end() ? nullptr : &*it;
      if (!cur) break;
    }
    if (!cur) continue;
    JsonScalar& s = out[i];
    if (cur->is_null()) s.kind = Kind::kNull;
    else if (cur->is_boolean()) s = {Kind::kBool, cur->get<bool>() ? "true" : "false"};
    else if (cur->is_number()) s.kind = Kind::kNumber;  // compared by value below
    else if (cur->is_string()) s = {Kind::kString, cur->get<std::string>()};
    else if (cur->is_object()) s.kind = Kind::kObject;
    else s.kind = Kind::kArray;
  }
  return out;
}

// Same verdict and same values as nlohmann; returns a description of the first difference.
inline std::string CompareJsonScanWithNlohmann(const std::string& text) {
  auto ref = JsonScanReference(text);
  auto got = ScanJsonObject(text, kJsonScanCheckPaths);
  if (!got.ok() && got.status().message().find("nesting too deep") != std::string::npos) return "";
  // nlohmann takes a NUL byte outside a string as the end of the text and ignores what
  // follows; the scan refuses it as text after the value.
  if (ref && !got.ok() && text.find('\0') != std::string::npos &&
      got.status().message().find("unexpected text after the value") != std::string::npos &&
      ScanJsonObject(text.substr(0, text.find('\0')), kJsonScanCheckPaths).ok()) {
    return "";
  }
  if (ref.has_value() != got.ok()) {
    return std::string("verdict differs: nlohmann ") + (ref ? "accepts" : "refuses") + ", scan " +
           (got.ok() ? "accepts" : "refuses (" + std::string(got.status().message()) + ")");
  }
  if (!ref) return "";
  json j = json::parse(text);
  for (size_t i = 0; i < kJsonScanCheckPaths.size(); ++i) {
    const JsonScalar& a = (*ref)[i];
    const JsonScalar& b = (*got)[i];
    if (a.kind != b.kind) return "kind differs for path " + std::to_string(i);
    if (a.kind == Kind::kNumber) {
      const json* cur = &j;
      for (std::string_view name : kJsonScanCheckPaths[i]) cur = &(*cur)[std::string(name)];
      if (cur->is_number_integer()) {
        const std::string want = std::to_string(cur->get<int64_t>());
        if (cur->is_number_unsigned() && cur->get<uint64_t>() > uint64_t(INT64_MAX)) {
          if (!b.IdText().empty()) return "an id beyond int64 must not be read: " + b.text;
        } else if (b.IdText() != want) {
          return "integer differs for path " + std::to_string(i) + ": " + b.IdText() + " vs " + want;
        }
      } else if (std::strtod(b.text.c_str(), nullptr) != cur->get<double>()) {
        return "number differs for path " + std::to_string(i) + ": " + b.text;
      }
    } else if (a.text != b.text) {
      return "text differs for path " + std::to_string(i) + ": '" + b.text + "' vs '" + a.text + "'";
    }
  }
  return "";
}

}  // namespace deskpilot::testing_util
