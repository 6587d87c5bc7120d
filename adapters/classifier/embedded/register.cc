#include "classifier/embedded/register.h"

#include "classifier/embedded/embedded_classifier.h"

namespace deskpilot {

void RegisterEmbeddedClassifier(Registry& r) {
  r.AddClassifier("embedded", [](AdapterContext& ctx) -> Result<std::unique_ptr<Classifier>> {
    DP_ASSIGN_OR_RETURN(auto classifier, EmbeddedClassifier::Create(ctx));
    return std::unique_ptr<Classifier>(std::move(classifier));
  });
}

}  // namespace deskpilot
