#include "classifier/llm/register.h"

#include "classifier/llm/llm_classifier.h"

namespace deskpilot {

void RegisterLlmClassifier(Registry& r) {
  r.AddClassifier("llm", [](AdapterContext& ctx) -> Result<std::unique_ptr<Classifier>> {
    DP_ASSIGN_OR_RETURN(auto classifier, MakeLlmClassifier(ctx));
    return std::unique_ptr<Classifier>(std::move(classifier));
  });
}

}  // namespace deskpilot
