// A small, fast linear text classifier: TF-IDF over word n-grams and character n-grams,
// and a multinomial logistic regression (softmax) trained with AdaGrad.
//
// Why hand-written: no ML library is a Debian package we may use, and a linear model over
// good sparse features is within a point or two of fine-tuned transformers on short help
// desk texts while training in seconds and predicting in microseconds.
//
// Thread safety: a LinearModel is immutable after training or loading; Predict and the
// other const methods may be called concurrently.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "deskpilot/status.h"
#include "deskpilot/types.h"

namespace deskpilot {

struct LabeledText {
  std::string text;
  std::string label;
};

// Reads JSON Lines with a "text" string and a `label_field` string per line. Blank lines
// are skipped; anything else malformed is InvalidArgument naming the file and line number.
// A missing file is NotFound.
Result<std::vector<LabeledText>> LoadJsonl(const std::string& path, const std::string& label_field);

struct FeatureOptions {
  int word_ngram_max = 2;  // word 1..N-grams; 0 disables word features
  int char_ngram_min = 2;  // character n-grams inside word boundaries (" word ")
  int char_ngram_max = 5;  // 0 disables character features
  int min_df = 2;          // drop features seen in fewer training texts (keeps the model small)
  // Relative weight of each block; each block is L2-normalised on its own first so the
  // many character n-grams do not drown the few word n-grams.
  float word_weight = 1.0f;
  float char_weight = 1.0f;
};

// Which kind of feature a callback receives from ForEachFeature.
enum class FeatureKind : uint8_t { kWord = 'w', kChar = 'c' };

// Calls `fn(kind, text)` for every feature occurrence in `text` (repeats included), in
// a fixed order. Text is lower-cased (ASCII), digits fold to '0', and bytes >= 0x80 count
// as word characters so UTF-8 words survive; character n-grams are cut on code-point
// boundaries, never inside a multi-byte sequence. Exposed for tests and diagnostics.
void ForEachFeature(std::string_view text, const FeatureOptions& options,
                    const std::function<void(FeatureKind, std::string_view)>& fn);

struct TrainOptions {
  FeatureOptions features;
  int epochs = 20;
  double learning_rate = 0.1;  // AdaGrad base step
  double l2 = 1e-6;            // per-example L2 penalty on weights (not on biases)
  bool balanced_class_weights = false;  // weight examples by n / (k * count(label))
  uint64_t seed = 42;          // shuffling order; same data + options + seed = same model
  // Fit a softmax temperature on a held-out fifth first, so `confidence` is a calibrated
  // probability (a nearly unregularised model is far too sure of itself otherwise).
  // Costs one extra training run on 80% of the data.
  bool calibrate = true;
};

class LinearModel {
 public:
  // Bumped whenever training or the feature definition changes in a way that changes
  // predictions; cached models made by an older version are then rebuilt.
  static constexpr uint32_t kFormatVersion = 1;

  LinearModel() = default;

  // Writes the compact binary file ("DPLINMDL" magic, version, float32 weights).
  Status Save(const std::string& path) const;
  static Result<LinearModel> Load(const std::string& path);

  // Label with the highest probability, its probability, and the next three.
  Prediction Predict(std::string_view text) const;
  // Softmax probabilities, indexed like labels().
  std::vector<double> Probabilities(std::string_view text) const;
  // Raw class scores (logits before temperature), indexed like labels().
  std::vector<float> Scores(std::string_view text) const;
  static std::vector<double> Softmax(const std::vector<float>& scores, double temperature);
  // Turns a probability vector (indexed like labels()) into a Prediction.
  Prediction FromProbabilities(const std::vector<double>& probabilities) const;

  const std::vector<std::string>& labels() const { return labels_; }
  size_t num_features() const { return hashes_.size(); }
  const FeatureOptions& feature_options() const { return features_; }
  // Softmax temperature fitted on held-out data (1 when not calibrated).
  double temperature() const { return temperature_; }
  // Bytes the model occupies in memory (weights, idf, vocabulary index, labels).
  size_t MemoryBytes() const;

 private:
  friend Result<LinearModel> TrainLinearModel(const std::vector<LabeledText>&, const TrainOptions&);
  struct SparseVector {
    std::vector<uint32_t> index;
    std::vector<float> value;
  };

  // One training run, no calibration.
  static Result<LinearModel> Fit(const std::vector<LabeledText>& data, const TrainOptions& options);
  // Feature index of a hash, or -1 when not in the vocabulary.
  int64_t Find(uint64_t hash) const;
  void BuildIndex();
  SparseVector Vectorize(std::string_view text) const;

  FeatureOptions features_;
  std::vector<std::string> labels_;
  // Vocabulary: feature hashes, word block first then char block, each sorted.
  std::vector<uint64_t> hashes_;
  uint32_t num_word_features_ = 0;
  std::vector<float> idf_;
  // Feature-major: weights_[f * K + k], so one feature's K weights are contiguous.
  std::vector<float> weights_;
  std::vector<float> bias_;
  double temperature_ = 1.0;
  // Open-addressing table hash → feature index (rebuilt on load, not stored).
  std::vector<uint64_t> slot_hash_;
  std::vector<uint32_t> slot_index_;
};

// Trains a model. InvalidArgument for empty data, fewer than two labels, or bad options.
Result<LinearModel> TrainLinearModel(const std::vector<LabeledText>& data, const TrainOptions& options);

struct LabelMetrics {
  std::string label;
  double precision = 0.0;
  double recall = 0.0;
  double f1 = 0.0;
  size_t support = 0;    // gold examples with this label
  size_t predicted = 0;  // examples predicted as this label
};

struct EvalMetrics {
  size_t n = 0;
  size_t correct = 0;
  double accuracy = 0.0;
  double macro_f1 = 0.0;  // unweighted mean F1 over every label seen in gold or predictions
  std::vector<LabelMetrics> per_label;  // sorted by label
  // (gold, predicted, count) for wrong predictions, most frequent first.
  std::vector<std::tuple<std::string, std::string, size_t>> confusions;
};

// Metrics for parallel vectors of gold and predicted labels (same length).
EvalMetrics ComputeMetrics(const std::vector<std::string>& gold,
                           const std::vector<std::string>& predicted);

// Predicts every example and scores it; labels the model does not know count as errors.
EvalMetrics Evaluate(const LinearModel& model, const std::vector<LabeledText>& data);

struct CrossValidation {
  double accuracy = 0.0;  // over all held-out predictions pooled
  double macro_f1 = 0.0;
  std::vector<double> fold_accuracy;
};

// Stratified k-fold cross-validation (folds drawn with `seed`). Folds train in parallel on
// up to `threads` threads (0 = hardware concurrency); the result does not depend on it.
// `progress(fold, accuracy)` is called as each fold finishes (from a worker thread, serially).
Result<CrossValidation> CrossValidate(const std::vector<LabeledText>& data, const TrainOptions& options,
                                      int k_folds, uint64_t seed, int threads = 0,
                                      const std::function<void(int, double)>& progress = nullptr);

}  // namespace deskpilot
