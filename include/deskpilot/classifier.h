#pragma once

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
};

}  // namespace deskpilot
