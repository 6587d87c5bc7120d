// The "llm" classifier: one model call labels every configured dimension at once.
//
// The answer must be one JSON object matching a strict schema built from the configured
// label sets (per dimension: "label" from the labels plus "none", "confidence" in 0..1,
// no other keys). The schema is sent as LlmRequest::json_schema and the answer is
// validated here whatever the server did; an invalid answer gets one repair call (see
// CompleteJson), after which Classify fails and the pipeline hands the ticket to a
// human with the error in the audit.
//
// A model's confidence is its own guess, not a calibrated probability: AutoThreshold
// is always empty, so the policy applies its min_confidence (or policy.thresholds) to
// every llm prediction.
//
// Thread-safe: immutable after construction; the LlmClient is shared and thread-safe.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/classifier.h"
#include "deskpilot/llm.h"
#include "deskpilot/prompts.h"
#include "deskpilot/registry.h"

namespace deskpilot {

struct LabelSet {
  std::string dimension;                                    // "category"
  std::vector<std::pair<std::string, std::string>> labels;  // label → description
};

// One labelled ticket from history, shown to the model as a few-shot example.
struct LabeledExample {
  std::string text;
  std::map<std::string, std::string> labels;  // dimension → label (only configured ones)
};

// Picks the labelled examples most like a ticket by shared rare words (sum of the idf
// of the distinct words of 3+ letters both texts contain). Plain and predictable; an
// example that shares nothing is never chosen.
class ExampleIndex {
 public:
  explicit ExampleIndex(std::vector<LabeledExample> examples);
  // At most k examples, best first; ties keep file order.
  std::vector<const LabeledExample*> Nearest(const std::string& text, int k) const;
  size_t size() const { return examples_.size(); }

 private:
  std::vector<LabeledExample> examples_;
  std::vector<std::vector<std::string>> terms_;  // per example, sorted and unique
  std::map<std::string, double> idf_;
};

// Reads a JSONL file of {"text": ..., "<dimension>": "<label>", ...}: only keys naming a
// configured dimension with one of its labels are kept (bitext.jsonl's "category" and
// "intent" work as is); lines with no usable label are skipped. InvalidArgument names
// the file and line for malformed JSON or a missing "text". Each text is redacted (PII and
// secrets become placeholders) before it is kept.
Result<std::vector<LabeledExample>> ReadExamples(const std::string& path, const std::vector<LabelSet>& labels);

struct LlmClassifierOptions {
  std::vector<LabelSet> labels;
  int examples = 3;                  // few-shot examples per call (0: none)
  int max_output_tokens = 400;
  size_t max_ticket_chars = 6000;    // ticket text sent (the newest messages are kept)
};

class LlmClassifier : public Classifier {
 public:
  // `llm` and `prompt` must outlive this. `prompt` is a classify template declaring
  // the variables "dimensions" and "canary".
  LlmClassifier(LlmClient& llm, const PromptTemplate& prompt, LlmClassifierOptions options,
                ExampleIndex examples, std::string canary);

  // Classifier:
  // One call (two with a repair). A dimension answered "none" is an abstaining
  // Prediction. Triage.usage lists the calls. Errors: the client's status (retryable
  // ones stay retryable), PermissionDenied for an answer that repeats the prompt's
  // canary, InvalidArgument for output still invalid after one repair.
  Result<Triage> Classify(const Ticket& redacted_ticket) override;
  // The configured label sets ("none" is the abstention, not a label).
  std::optional<std::map<std::string, std::vector<std::string>>> Labels() const override;

  // The strict output schema built from the label sets (exposed for tests).
  const nlohmann::json& schema() const { return schema_; }
  std::vector<std::string> dimensions() const;

 private:
  LlmClient& llm_;
  const PromptTemplate& prompt_;
  const LlmClassifierOptions options_;
  const ExampleIndex examples_;
  const std::string canary_;
  nlohmann::json schema_;
  std::string system_;  // the rendered prompt (labels and canary are fixed at start)
};

// Builds the JSON schema for `labels` (see the file comment).
nlohmann::json BuildLabelSchema(const std::vector<LabelSet>& labels);

// Registry factory: reads [classifier] (type, prompt_version, labels, examples_file,
// examples, max_output_tokens, max_ticket_chars; see README.md). Needs ctx.llm and
// ctx.prompts (a config error naming [llm] otherwise).
Result<std::unique_ptr<LlmClassifier>> MakeLlmClassifier(AdapterContext& ctx);

// Reads the `labels` table shared by the llm and cascade classifiers:
// [<section>.labels.<dimension>] label = "description". InvalidArgument when empty,
// when a label is "none" or when a description is empty.
Result<std::vector<LabelSet>> ReadLabelSets(ConfigSection& section);

}  // namespace deskpilot
