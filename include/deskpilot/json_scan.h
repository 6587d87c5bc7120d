// Reading a few members out of an untrusted JSON text without building a document.
//
// A webhook body is parsed on every acknowledgement only to read two to five members
// (event id, ticket id, type, actor). nlohmann's DOM parse of a 2 KB body was the largest
// item of deskpilot's own CPU on the ack path (bench/RESULTS.md): its lexer copies every
// byte into a token buffer and allocates every string. ScanJsonObject makes one validating
// pass and decodes only the members asked for.
//
// It accepts exactly the texts nlohmann::json::parse accepts (RFC 8259, UTF-8 checked, a
// leading UTF-8 BOM skipped, numbers that overflow a double refused), except that it
// refuses nesting deeper than kMaxJsonScanDepth and any bytes after the value, where
// nlohmann stops reading at a NUL byte and ignores what follows it. json_scan_test.cc and
// the fuzz target tests/fuzz/fuzz_json_scan.cc check both the verdicts and the values
// against nlohmann.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "deskpilot/status.h"

namespace deskpilot {

inline constexpr int kMaxJsonScanDepth = 512;

struct JsonScalar {
  enum class Kind { kMissing, kNull, kBool, kNumber, kString, kObject, kArray };
  Kind kind = Kind::kMissing;
  // kString: the decoded UTF-8; kNumber: the number as written; kBool: "true" or "false".
  std::string text;

  bool is_string() const { return kind == Kind::kString; }
  // What the adapters call an id: a string as is, an integer (within int64) in decimal,
  // anything else "".
  std::string IdText() const;
};

// A member path from the top-level object, e.g. {"actor", "id"}.
using JsonPath = std::vector<std::string_view>;

// One result per path, in order. A member named twice takes its last value, as nlohmann
// does; a path through something that is not an object is kMissing. InvalidArgument when
// the text is not JSON ("malformed JSON: ... at byte N") or not an object.
Result<std::vector<JsonScalar>> ScanJsonObject(std::string_view text, const std::vector<JsonPath>& paths);

}  // namespace deskpilot
