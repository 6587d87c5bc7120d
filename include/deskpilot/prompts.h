// Prompts are data: versioned templates in prompts/<purpose>.v<N>.txt, loaded and
// checked at start, so a missing variable or a typo fails `check-config`, not a ticket.
//
// File format:
//   lines starting with "#" at the top are the header; one of them declares the
//   variables:   # variables: labels, examples
//   the rest is the template; {{name}} is replaced by the variable's value. Every
//   {{name}} used must be declared and every declared variable must be used.
// The audit names "<purpose>.v<N>" behind every model output.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "deskpilot/status.h"

namespace deskpilot {

struct PromptTemplate {
  std::string purpose;  // "classify"
  int version = 0;      // 1
  std::string id;       // "classify.v1"
  std::vector<std::string> variables;
  std::string body;

  // InvalidArgument when a declared variable is missing from `vars` (extra ones too).
  Result<std::string> Render(const std::map<std::string, std::string>& vars) const;
};

class PromptLibrary {
 public:
  // Loads every *.txt in `dir`; InvalidArgument naming the file for any malformed one.
  static Result<PromptLibrary> LoadDir(const std::string& dir);
  // Parses one template (exposed for tests); `file_name` must be <purpose>.v<N>.txt.
  static Result<PromptTemplate> Parse(const std::string& file_name, const std::string& text);

  void Add(PromptTemplate t);
  // The highest version of `purpose`, or exactly `purpose.vN` when `version` > 0.
  Result<const PromptTemplate*> Get(const std::string& purpose, int version = 0) const;
  std::vector<std::string> Ids() const;

 private:
  std::map<std::string, std::map<int, PromptTemplate>> by_purpose_;
};

}  // namespace deskpilot
