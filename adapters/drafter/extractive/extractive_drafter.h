// The "extractive" drafter: a grounded template reply built only from retrieved
// passages, or an honest "an agent will follow up" when nothing relevant was found.
//
// It never copies ticket text into the reply (the ticket is untrusted input): ticket
// terms are used only to *choose* which passage sentences to quote. The one exception
// is the requester's first name in the greeting, reduced to letters, '-', '\'' and '.'.
// Stateless after construction, so thread-safe.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "deskpilot/drafter.h"
#include "deskpilot/registry.h"

namespace deskpilot {

struct ExtractiveDrafterOptions {
  int max_sentences = 3;  // sentences quoted from the passages, in total
  std::string signature = "\u2014 The support team";
};

class ExtractiveDrafter : public Drafter {
 public:
  explicit ExtractiveDrafter(ExtractiveDrafterOptions options);

  // Drafter:
  // With passages: greeting, the 1..max_sentences passage sentences that share the most
  // terms with the ticket (top passage first; a lower passage contributes only when it
  // scores at least 80% of the top one), a "You can read more here: <title> (<url>)" line
  // per cited document, closing and signature; citations = cited doc_ids in passage
  // order, grounded = true. Without passages (nothing passed the retriever's floor): a
  // plain "we could not find an article that answers this" and that an agent will follow
  // up; with passages but no sentence that is evidence: only the latter. Either way no
  // citations, grounded = false.
  // Never fails.
  Result<Draft> Write(const Ticket& redacted_ticket, const Triage& triage,
                      const std::vector<Passage>& passages) override;

 private:
  const ExtractiveDrafterOptions options_;
};

// Registry factory: reads `type`, `max_sentences` (1..10) and `signature`.
Result<std::unique_ptr<Drafter>> MakeExtractiveDrafter(AdapterContext& ctx);

}  // namespace deskpilot
