// The audit log's hash chain: how one row's hash is computed.
//
// Each row's hash covers every column plus the previous row's hash, so editing, deleting,
// inserting or reordering rows breaks the chain at the first touched row. The chain cannot
// detect a truncated tail (the last rows removed) nor a chain rewritten from some row on by
// someone who can run this code: both need an anchor kept elsewhere (the head that `audit
// verify` prints, passed back as --anchor: Store::VerifyAudit(AuditAnchor)). That is a
// limit of any unkeyed chain, not of this encoding.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "deskpilot/store.h"

namespace deskpilot {

// prev_hash of the first row (seq 1).
inline constexpr std::string_view kAuditGenesisHash =
    "0000000000000000000000000000000000000000000000000000000000000000";

// The columns that a row's hash covers, as views so verification can hash straight from
// SQLite's column buffers without copying each row into an AuditRow.
struct AuditHashInput {
  int64_t seq = 0;
  int64_t ts_ms = 0;
  int64_t job_id = 0;
  std::string_view ticket_id;
  std::string_view source;
  std::string_view stage;
  std::string_view actor;
  std::string_view outcome;
  std::string_view data;
  std::string_view prev_hash;
};

// Appends the canonical encoding to *out: a version tag, then every field as
// "<byte length>:<bytes>;". Length prefixes make it unambiguous: no choice of field
// contents can make two different rows encode to the same bytes.
void AppendAuditEncoding(const AuditHashInput& in, std::string* out);

// Lowercase hex SHA-256 of the canonical encoding. `scratch` is reused between calls.
std::string AuditHash(const AuditHashInput& in, std::string* scratch);
std::string AuditRowHash(const AuditRow& row);

}  // namespace deskpilot
