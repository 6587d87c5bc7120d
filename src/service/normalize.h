// The normalize stage: vendor-neutral clean-up of ticket text before anything reads
// it, and cheap rule-based signals that no model should be trusted to miss.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "deskpilot/types.h"

namespace deskpilot {

// Strips quoted replies ("> ...", "On <date>, X wrote:", forwarded headers) and, with
// `cut_signature`, the signature ("-- ", "Sent from my iPhone", a short "Best regards,
// Ann" near the end, up to a P.S. or another sentence, which stay), collapses runs of
// blank lines. Keeps the text otherwise intact.
std::string CleanMessage(std::string_view text, bool cut_signature = true);

// Cleans subject/description/comments in place.
void NormalizeTicket(Ticket* ticket);

// The customer's words that matter for triage: subject, description and public
// customer comments, newest last.
std::string CustomerText(const Ticket& ticket);
// The newest customer message (falls back to the description).
std::string LatestCustomerMessage(const Ticket& ticket);

// Rule-detected flags: asked_for_human, legal_threat, security_incident, churn_risk (the
// kFlag* names in deskpilot/types.h, which policy.escalate_flags is checked against);
// English phrases and the commonest ones of the other languages DetectLanguage knows.
std::vector<std::string> DetectFlags(std::string_view customer_text);
// DetectFlags over the customer's text of a ticket as fetched: quoted history dropped, the
// signature region kept. Pipeline and replay both use it, so replays agree.
std::vector<std::string> DetectTicketFlags(const Ticket& ticket);

// A small stop-word vote over en, de, fr, es, it, nl, pt. Confidence reflects the margin;
// short or ambiguous text yields label "und" with low confidence.
Prediction DetectLanguage(std::string_view text);

}  // namespace deskpilot
