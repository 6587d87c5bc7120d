#include "store/audit_chain.h"

#include "deskpilot/crypto.h"

namespace deskpilot {
namespace {

void AppendField(std::string_view value, std::string* out) {
  out->append(std::to_string(value.size()));
  out->push_back(':');
  out->append(value);
  out->push_back(';');
}

void AppendField(int64_t value, std::string* out) { AppendField(std::to_string(value), out); }

}  // namespace

void AppendAuditEncoding(const AuditHashInput& in, std::string* out) {
  // The tag names the encoding so a future change of fields cannot be confused with v1.
  AppendField("deskpilot.audit.v1", out);
  AppendField(in.seq, out);
  AppendField(in.ts_ms, out);
  AppendField(in.job_id, out);
  AppendField(in.ticket_id, out);
  AppendField(in.source, out);
  AppendField(in.stage, out);
  AppendField(in.actor, out);
  AppendField(in.outcome, out);
  AppendField(in.data, out);
  AppendField(in.prev_hash, out);
}

std::string AuditHash(const AuditHashInput& in, std::string* scratch) {
  scratch->clear();
  AppendAuditEncoding(in, scratch);
  return Sha256Hex(*scratch);
}

std::string AuditRowHash(const AuditRow& row) {
  AuditHashInput in;
  in.seq = row.seq;
  in.ts_ms = row.ts_ms;
  in.job_id = row.entry.job_id;
  in.ticket_id = row.entry.ticket_id;
  in.source = row.entry.source;
  in.stage = row.entry.stage;
  in.actor = row.entry.actor;
  in.outcome = row.entry.outcome;
  in.data = row.entry.data;
  in.prev_hash = row.prev_hash;
  std::string scratch;
  return AuditHash(in, &scratch);
}

}  // namespace deskpilot
