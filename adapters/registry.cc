// The explicit list of built-in adapters. Adding an adapter = one folder + one line here.
#include "deskpilot/registry.h"

#include "classifier/embedded/register.h"
#include "drafter/extractive/register.h"
#include "helpdesk/generic/register.h"
#include "helpdesk/sandbox/register.h"
#include "helpdesk/zendesk/register.h"
#include "retriever/fts5/register.h"

namespace deskpilot {

void RegisterBuiltinAdapters(Registry& r) {
  RegisterSandboxHelpdesk(r);
  RegisterGenericHelpdesk(r);
  RegisterZendeskHelpdesk(r);
  RegisterEmbeddedClassifier(r);
  RegisterFts5Retriever(r);
  RegisterExtractiveDrafter(r);
}

}  // namespace deskpilot
