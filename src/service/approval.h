// Approving a pending draft: a ticket decided at rung `approve` got an internal note with
// the draft; once an agent approves it (the admin API, or the policy's approval tag on the
// ticket) deskpilot posts that draft as the public reply. Both ways run this one function,
// so they agree on what is pending, what is posted and that it is posted once.
#pragma once

#include <cstdint>
#include <string>

#include "deskpilot/status.h"
#include "deskpilot/types.h"
#include "service/components.h"

namespace deskpilot {

struct ApprovalOutcome {
  bool already_approved = false;  // an earlier approval posted it: nothing was sent now
  int64_t triage_seq = 0;         // the audit row whose draft was approved
  std::string idempotency_key;    // of the public-reply write-back
};

// How an agent approved. The tag stays on the ticket after it was used, so it approves
// only a draft decided while the ticket did not carry it yet; later drafts need the API
// (or the tag removed and added again).
enum class ApprovalVia { kAdminApi, kTag };

// A draft an approval of the ticket would post now.
struct PendingDraft {
  ApprovalOutcome outcome;  // already_approved: posted before, nothing more to post
  int64_t job_id = 0;       // the job whose triage decided it
  std::string reply;        // the text to post (placeholders restored); empty when already_approved
};

// The one answer to "is a draft waiting for approval": the admin API reports it on GET and
// ApprovePendingDraft posts what it finds, so an admin is never offered an approval that
// would be refused. Reads the audit and `current` only. Errors as ApprovePendingDraft's,
// except that it never calls the help desk.
Result<PendingDraft> FindPendingDraft(Components& c, const std::string& source, const Ticket& current,
                                      ApprovalVia via);

// Posts the draft of the ticket's latest `triage` audit row if its rung is `approve`.
// `current` is the ticket as fetched now (its text rebuilds the redaction placeholders
// the draft was written with). Audits an `approval` row with `actor`.
// NotFound: no triage recorded for the ticket. FailedPrecondition: the latest triage is
// not waiting for approval, `current` has a public comment (not deskpilot's) that the
// deciding attempt did not see, the tag predates the draft (kTag), or the draft names data
// no longer on the ticket. Errors of
// the help desk's Apply are returned as they are (retryable ones may be retried: the
// write carries the same idempotency key).
Result<ApprovalOutcome> ApprovePendingDraft(Components& c, const std::string& source, const Ticket& current,
                                            const std::string& actor, ApprovalVia via);

// The ticket carries the policy's approval tag.
bool HasApprovalTag(const Ticket& ticket, const PolicyConfig& policy);

}  // namespace deskpilot
