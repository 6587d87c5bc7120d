// The "embedded" classifier: one LinearModel per triage dimension, in process, no network.
//
// Config ([classifier], type = "embedded"):
//   models = { category = "/path/category.model", priority = "..." }   # from `deskpilot train`
// Relative model paths resolve against the working directory. Without `models`, the shipped
// sample models are used: <sample_dir>/models.json lists training files; each model is
// trained once and cached under <data_dir>/models/, so later starts only load it.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "classifier/embedded/linear_model.h"
#include "deskpilot/classifier.h"
#include "deskpilot/registry.h"

namespace deskpilot {

// The two texts a ticket is classified on: everything the customer wrote, and the newest
// customer message alone (empty when it adds nothing beyond `whole`).
struct TicketText {
  std::string whole;
  std::string newest;
};
TicketText BuildTicketText(const Ticket& ticket);

class EmbeddedClassifier : public Classifier {
 public:
  // Weight of the newest customer message in the blended probabilities: in a thread, the
  // latest message says what the customer wants now.
  static constexpr double kNewestWeight = 0.6;

  explicit EmbeddedClassifier(std::map<std::string, LinearModel> models);

  // Reads the adapter's config section (see the file comment).
  static Result<std::unique_ptr<EmbeddedClassifier>> Create(AdapterContext& ctx);

  // Thread-safe: models are immutable.
  Result<Triage> Classify(const Ticket& redacted_ticket) override;
  // The model's stored auto-threshold (see LinearModel::auto_threshold).
  std::optional<double> AutoThreshold(const std::string& dimension) const override;
  // Each model's labels, without kOutOfScopeLabel (predicting it is an abstention).
  std::optional<std::map<std::string, std::vector<std::string>>> Labels() const override;

  const std::map<std::string, LinearModel>& models() const { return models_; }

 private:
  std::map<std::string, LinearModel> models_;  // dimension → model
};

// Loads or trains-and-caches the sample models listed in <sample_dir>/models.json. With an
// empty `data_dir` the models are trained in memory and not cached. `trained` (optional)
// receives the dimensions that had to be trained rather than loaded from the cache. A model
// missing from `data_dir`'s cache is next looked for in each of `readonly_data_dirs`' caches,
// in order; those are read and never written.
Result<std::map<std::string, LinearModel>> LoadSampleModels(const std::string& sample_dir,
                                                            const std::string& data_dir,
                                                            std::vector<std::string>* trained = nullptr,
                                                            const std::vector<std::string>& readonly_data_dirs = {});

}  // namespace deskpilot
