#include "classifier/cascade/register.h"

#include "classifier/cascade/cascade_classifier.h"

namespace deskpilot {

void RegisterCascadeClassifier(Registry& r) {
  r.AddClassifier("cascade", [](AdapterContext& ctx) -> Result<std::unique_ptr<Classifier>> {
    DP_ASSIGN_OR_RETURN(auto classifier, MakeCascadeClassifier(ctx));
    return std::unique_ptr<Classifier>(std::move(classifier));
  });
}

}  // namespace deskpilot
