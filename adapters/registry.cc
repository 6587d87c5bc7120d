// The explicit list of built-in adapters. Adding an adapter = one folder + one line here.
#include "deskpilot/registry.h"

#include "classifier/cascade/register.h"
#include "classifier/embedded/register.h"
#include "classifier/llm/register.h"
#include "drafter/extractive/register.h"
#include "drafter/llm/register.h"
#include "helpdesk/freshdesk/register.h"
#include "helpdesk/generic/register.h"
#include "helpdesk/helpscout/register.h"
#include "helpdesk/sandbox/register.h"
#include "helpdesk/zammad/register.h"
#include "helpdesk/zendesk/register.h"
#include "llm/anthropic/register.h"
#include "llm/openai/register.h"
#include "retriever/fts5/register.h"
#include "retriever/hybrid/register.h"

namespace deskpilot {

void RegisterBuiltinAdapters(Registry& r) {
  RegisterOpenAiLlm(r);
  RegisterAnthropicLlm(r);
  RegisterSandboxHelpdesk(r);
  RegisterGenericHelpdesk(r);
  RegisterZendeskHelpdesk(r);
  RegisterZammadHelpdesk(r);
  RegisterFreshdeskHelpdesk(r);
  RegisterHelpScoutHelpdesk(r);
  RegisterEmbeddedClassifier(r);
  RegisterLlmClassifier(r);
  RegisterCascadeClassifier(r);
  RegisterFts5Retriever(r);
  RegisterHybridRetriever(r);
  RegisterExtractiveDrafter(r);
  RegisterLlmDrafter(r);
}

}  // namespace deskpilot
