#pragma once

#include <string>
#include <vector>

#include "deskpilot/status.h"
#include "deskpilot/types.h"

namespace deskpilot {

// A query (built from the redacted ticket) → ranked passages, best first.
class Retriever {
 public:
  virtual ~Retriever() = default;
  virtual Result<std::vector<Passage>> Retrieve(const std::string& query, int k) = 0;
};

}  // namespace deskpilot
