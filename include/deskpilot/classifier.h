#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/status.h"
#include "deskpilot/types.h"

namespace deskpilot {

// Ticket (already redacted) → one Prediction per dimension it knows.
class Classifier {
 public:
  virtual ~Classifier() = default;
  virtual Result<Triage> Classify(const Ticket& redacted_ticket) = 0;
  // The per-dimension confidence at or above which the model reaches its target
  // precision (stored with the model), when it has one.
  virtual std::optional<double> AutoThreshold(const std::string& /*dimension*/) const {
    return std::nullopt;
  }
  // Every label each dimension can come out as (never the abstaining ""), by dimension.
  // BuildComponents checks the policy's category names and threshold dimensions against
  // it, so a misspelt sensitive category cannot silently lose its protection. nullopt
  // when the classifier cannot enumerate its labels; those checks are then skipped.
  virtual std::optional<std::map<std::string, std::vector<std::string>>> Labels() const {
    return std::nullopt;
  }
  // What the classifier counted about its own work since it was built, as a JSON
  // object that `deskpilot eval --config` prints beside its metrics (the cascade: the
  // share of tickets that needed the model); nullopt for one that counts nothing.
  virtual std::optional<nlohmann::json> Report() const { return std::nullopt; }
};

}  // namespace deskpilot
