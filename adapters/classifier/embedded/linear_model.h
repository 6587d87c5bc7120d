// A small, fast text classifier: TF-IDF over word n-grams and character n-grams, linear
// learners trained with AdaGrad, blended with a one-hidden-layer network on the same features.
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
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "deskpilot/stats.h"
#include "deskpilot/status.h"
#include "deskpilot/types.h"

namespace deskpilot {

// The label that means "none of the labels this model knows". A model trained with examples
// so labelled abstains when it predicts it.
inline constexpr char kOutOfScopeLabel[] = "oos";

struct LabeledText {
  std::string text;
  std::string label;
};

// Reads JSON Lines with a "text" string and a `label_field` string per line. Blank lines
// are skipped; anything else malformed is InvalidArgument naming the file and line number.
// A missing file is NotFound; a directory or a label of another type (3.5, true) is
// InvalidArgument.
// `line_numbers` (optional) receives each example's 1-based line in the file.
Result<std::vector<LabeledText>> LoadJsonl(const std::string& path, const std::string& label_field,
                                           std::vector<size_t>* line_numbers = nullptr);

struct FeatureOptions {
  int word_ngram_max = 2;  // word 1..N-grams; 0 disables word features
  int char_ngram_min = 2;  // character n-grams inside word boundaries (" word ")
  int char_ngram_max = 5;  // 0 disables character features
  // Drop features seen in fewer training texts (2 keeps the model smaller: banking77 has
  // 44% fewer features, at 0.45 points of accuracy on one 80/20 split).
  int min_df = 1;
  // Relative weight of each block; each block is L2-normalised on its own first so the
  // many character n-grams do not drown the few word n-grams (1.5: README.md).
  float word_weight = 1.5f;
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

// The loss the linear model is trained on. Prediction is the same for both: softmax of the
// class scores at the calibrated temperature.
enum class Loss : uint8_t {
  // Multiclass (Crammer-Singer) squared hinge: max(0, 1 + best wrong score - gold score)^2.
  // About as accurate as the softmax alone but wrong on other examples, which is what the
  // ensemble gains from (README.md); its temperature turns margins into probabilities.
  kCrammerSinger,
  kSoftmax,  // multinomial logistic regression (the loss of format versions 1 and 2)
};

struct Learner {
  Loss loss = Loss::kCrammerSinger;
  double learning_rate = 0.01;  // AdaGrad base step
};

// Fewer training examples than this for a label: `deskpilot train` warns that its predictions
// will be unreliable, and the uniform label prior boosts it only as much as a label of this
// many examples.
inline constexpr size_t kFewLabelExamples = 10;

// How often the model assumes each label occurs in the traffic it will classify.
enum class LabelPrior {
  kTraining,  // as often as in the training data
  // Equally often: the model's probabilities are divided by the training data's label shares
  // and renormalised (logit adjustment). Trained on skewed data, a model names rare labels
  // even less often than their share warrants; on BANKING77 (35 to 187 rows a label) this
  // raised the rarest ten labels' recall by 1.6-2.7 points with accuracy unchanged (README.md).
  // A label's share counts at least kFewLabelExamples rows: a few examples are weak evidence,
  // and dividing by their full rarity named such labels often and wrongly (README.md).
  kUniform,
};

struct TrainOptions {
  FeatureOptions features;
  // The model's class scores are the mean of these learners' scores, each divided by its own
  // temperature fitted on held-out folds (a mean of calibrated log-probabilities), so the
  // ensemble is still one linear model: same size and speed as one learner, twice the
  // training. The two losses err on different examples: together they are more accurate and
  // rank their confidence better than either (README.md).
  std::vector<Learner> learners = {{Loss::kCrammerSinger, 0.01}, {Loss::kSoftmax, 0.1}};
  int epochs = 20;
  // Per-example L2 penalty on weights (not on biases); the hinge learner applies it only to
  // the two classes an example updates.
  double l2 = 1e-6;
  bool balanced_class_weights = false;  // weight examples by n / (k * count(label))
  LabelPrior label_prior = LabelPrior::kUniform;
  uint64_t seed = 42;          // shuffling order; same data + options + seed = same model
  // Fit the softmax temperatures on held-out scores, so `confidence` is a calibrated
  // probability (a nearly unregularised model is far too sure of itself otherwise, and
  // hinge margins are no probabilities at all). Also chooses the auto-threshold and, with
  // `oos` examples, the abstain floor. All are fitted on out-of-fold scores of
  // `calibration_folds` models per learner, each trained on the rest of the data. Without
  // calibration (or under 50 examples) each learner is fitted once on all the data and the
  // mean of their raw scores ships at temperature 1.
  bool calibrate = true;
  int calibration_folds = 5;
  // With calibration: ship the average of the calibration-fold models instead of one more
  // model trained on all the data. Temperature and thresholds are fitted on those fold
  // models' held-out scores, so they describe models that saw 80% of the data; a model
  // trained on all of it is more confident than they were and its stored threshold promised
  // more precision than it delivered (README.md). The average is one linear model (weights
  // mapped onto the full vocabulary), so size and latency do not change, and it saves a fit.
  bool average_fold_models = true;
  // The auto-threshold is the lowest confidence at or above which out-of-fold predictions
  // reach this precision.
  double target_precision = kDefaultTargetPrecision;
  // With `oos` examples: the in-scope accuracy (on held-out folds) the abstain floor may
  // spend to catch more of them.
  double abstain_budget = 0.01;
  // The in-scope accuracy (on held-out folds) the familiarity floor may spend: text whose
  // words the training data mostly never used abstains, with or without `oos` examples,
  // because a confidence computed from a few shared character n-grams says nothing about it.
  // Off (0) by default: the floor is measured on the training texts, and only holds for
  // traffic shaped like them. Ticket history qualifies; short example phrases do not (real
  // tickets are far less familiar to them than their own held-out rows, README.md).
  double familiarity_budget = 0.0;
  // Threads for the calibration folds (0 = hardware concurrency); the model does not depend on it.
  int threads = 0;
  // A one-hidden-layer network (ReLU, dropout, softmax) on the same TF-IDF features, blended
  // with the linear model: it errs on other examples, so the blend is more accurate and ranks
  // its confidence better (README.md). Only with calibration and at least kMinMlpExamples
  // examples. A network trains on all calibration folds but one, which early-stops it and
  // fits its temperature. 0 hidden units: linear model only.
  int mlp_hidden = 128;
  int mlp_epochs = 18;           // at most; the epoch best on the held-out fold ships
  double mlp_learning_rate = 0.1;  // AdaGrad base step
  double mlp_dropout = 0.5;      // share of hidden units dropped per training example
  int mlp_min_df = 2;            // its input drops rarer features, which keeps the file small
  // Networks trained: each holds out one calibration fold, and the blend weight and
  // thresholds are fitted on the union of those folds, each row predicted by the network that
  // did not see it. All of them ship (the geometric mean of their calibrated probabilities is
  // the blend's network part) while the model's memory stays under max_model_bytes (its file
  // is a little smaller); the first always does.
  int mlp_folds = 3;
  size_t max_model_bytes = size_t{40} << 20;
};

struct Recalibration;
struct DisputedLabel;

class LinearModel {
 public:
  // Bumped whenever training or the feature definition changes in a way that changes
  // predictions; cached models made by an older version are then rebuilt.
  // Version 2 added the auto-threshold and the abstain floor; version 1 files still load
  // (without either). Version 3 has version 2's layout; it marks the Crammer-Singer loss, new
  // feature defaults and the averaged fold models, so cached sample models are retrained.
  // Version 4 appends the hidden-layer network (empty when none was trained); version 3 files
  // load as linear models. Version 5 holds several networks (an ensemble); version 4 files
  // load with their one. Version 6 appends the familiarity floor; older files load without.
  static constexpr uint32_t kFormatVersion = 6;
  // Fewer examples than this train no hidden-layer network: its held-out folds would be too
  // small to choose a blend weight and thresholds on.
  static constexpr size_t kMinMlpExamples = 1000;

  LinearModel() = default;

  // Writes the compact binary file ("DPLINMDL" magic, version, float32 weights) atomically:
  // a temp file in the same directory, fsynced, renamed over `path`. On failure `path` is
  // unchanged and no temp file is left.
  Status Save(const std::string& path) const;
  static Result<LinearModel> Load(const std::string& path);

  // Label with the highest probability, its probability, and the next three. The model
  // abstains (abstained = true, label "") when the top label is `oos`, its probability is
  // below abstain_threshold(), or the text's familiarity is below familiarity_floor();
  // confidence then stays the top probability and the alternatives list the best in-scope
  // labels, so an agent still sees the candidates.
  Prediction Predict(std::string_view text) const;
  // Softmax probabilities, indexed like labels().
  std::vector<double> Probabilities(std::string_view text) const;
  // How much of the text's word evidence the training data has seen: the share of its word
  // n-grams' TF-IDF mass (sublinear TF; an unseen n-gram weighs like the rarest seen one)
  // that is in the vocabulary, in [0, 1]. Character n-grams do not count: "recipe" shares
  // most of them with "receipt", which is how off-topic text gets a confident label. A model
  // without word features measures its character n-grams instead. 0 for text with no features.
  double Familiarity(std::string_view text) const;
  // The linear model's raw class scores (logits before temperature), indexed like labels().
  std::vector<float> Scores(std::string_view text) const;
  static std::vector<double> Softmax(const std::vector<float>& scores, double temperature);
  // Turns a probability vector (indexed like labels()) into a Prediction (abstention
  // included), for a text of the given Familiarity.
  Prediction FromProbabilities(const std::vector<double>& probabilities, double familiarity) const;

  const std::vector<std::string>& labels() const { return labels_; }
  size_t num_features() const { return hashes_.size(); }
  const FeatureOptions& feature_options() const { return features_; }
  // The linear model's softmax temperature fitted on held-out data (1 when not calibrated).
  double temperature() const { return temperature_; }
  // Hidden units of each blended network (0: linear model only), how many networks, and the
  // networks' weight in the blend.
  size_t mlp_hidden() const { return mlps_.empty() ? 0 : mlps_.front().hidden; }
  size_t mlp_count() const { return mlps_.size(); }
  double mlp_weight() const { return mlp_weight_; }
  // Confidence at or above which predictions reached the target precision on out-of-fold
  // data; nullopt for an uncalibrated model. 1.0 when no threshold reached it.
  std::optional<double> auto_threshold() const {
    return auto_threshold_ >= 0 ? std::optional<double>(auto_threshold_) : std::nullopt;
  }
  // Top probabilities below this abstain (0 = never for lack of confidence).
  double abstain_threshold() const { return abstain_threshold_; }
  // Texts less familiar than this abstain (0 = never for unfamiliar words).
  double familiarity_floor() const { return familiarity_floor_; }
  // Whether the labels include kOutOfScopeLabel.
  bool has_out_of_scope() const { return oos_index_ >= 0; }
  // Bytes the model occupies in memory (weights, idf, vocabulary index, labels).
  size_t MemoryBytes() const;

 private:
  friend Result<LinearModel> TrainLinearModel(const std::vector<LabeledText>&, const TrainOptions&,
                                              std::vector<Prediction>*, std::vector<size_t>*,
                                              std::vector<DisputedLabel>*);
  friend Result<Recalibration> RecalibrateLinearModel(LinearModel*, const std::vector<LabeledText>&, double);
  struct SparseVector {
    std::vector<uint32_t> index;
    std::vector<float> value;
  };
  // A hidden-layer network. Its input is `input`'s TF-IDF vector: a model with a vocabulary
  // (min df TrainOptions::mlp_min_df) and no class weights. Probabilities are
  // softmax(((1 - mlp_weight_) * log p_linear + mlp_weight_ * log p_mlp) / blend_temperature_),
  // p_mlp the geometric mean of the networks' probabilities, each at its own temperature.
  struct Mlp {
    std::shared_ptr<const LinearModel> input;
    uint32_t hidden = 0;
    // Input weights, feature-major (w1[f * hidden + h]), stored as int8 times a per-feature
    // scale: a quarter of float32's size (with float32 a CLINC150 model took 49 MB in
    // memory), and held-out figures are measured on these rounded weights.
    std::vector<int8_t> w1;
    std::vector<float> w1_scale;
    std::vector<float> b1;
    std::vector<float> w2;  // w2[h * K + k]
    std::vector<float> b2;
    double temperature = 1.0;
    std::vector<float> Logits(const SparseVector& x, size_t k) const;
    // softmax(Logits / temperature): what the blend uses, in training and in prediction alike.
    std::vector<double> Probabilities(const SparseVector& x, size_t k) const;
    size_t MemoryBytes() const;
  };

  // One training run, no calibration.
  // `labels` (sorted, a superset of the data's labels) fixes the label set, so that a fold
  // missing a rare label still scores it; empty: the data's labels.
  static Result<LinearModel> Fit(const std::vector<LabeledText>& data, const TrainOptions& options,
                                 const Learner& learner, const std::vector<std::string>& labels);
  // Labels, vocabulary and IDF of `data` with zero weights.
  static Result<LinearModel> BuildVocabulary(const std::vector<LabeledText>& data, const FeatureOptions& fo,
                                             const std::vector<std::string>& labels);
  // Adds `scale` times `part`'s class scores to this model's: each of its weights moves to
  // this model's index of the feature, rescaled by the ratio of IDFs. `part`'s vocabulary
  // must be a subset of this one's (min_df on a subset of the data) and its labels the same.
  void AddScaled(const LinearModel& part, float scale);
  // Feature index of a hash, or -1 when not in the vocabulary.
  int64_t Find(uint64_t hash) const;
  // Trains the network on the rows with held_out[i] false; it keeps the epoch most accurate
  // on the held-out rows and fits its temperature there (weight and blend are set by the caller).
  static Result<Mlp> FitMlp(const std::vector<LabeledText>& data, const std::vector<bool>& held_out,
                            const TrainOptions& options, const std::vector<std::string>& labels);
  // Rebuilds the derived lookups (hash table, oos label index, unseen IDF) after training or loading.
  void BuildIndex();
  // Subtracts scale * log_shares[c] from each class's bias: with scale the factor between a
  // bias and the final log-probability, the model then predicts as if every label were
  // equally common (LabelPrior::kUniform).
  void ShiftLogPrior(const std::vector<double>& log_shares, double scale);
  SparseVector Vectorize(std::string_view text) const;
  // The text's feature hashes (FeatureOptions, not the vocabulary, decide them) and their
  // TF-IDF vector in this model's vocabulary: Probabilities hashes once for both models.
  // Word n-grams come first; `num_word` (optional) receives how many.
  std::vector<uint64_t> FeatureHashes(std::string_view text, size_t* num_word = nullptr) const;
  double Familiarity(const std::vector<uint64_t>& hashes, size_t num_word) const;
  std::vector<double> Probabilities(const std::vector<uint64_t>& hashes) const;
  SparseVector Vectorize(const std::vector<uint64_t>& hashes) const;
  // A text's distinct feature hashes, ascending, with how often each occurs. A prediction
  // vectorises the same text in up to four vocabularies (the linear model's and each
  // network's): counting once, and then looking up and sorting only distinct features per
  // vocabulary, gives the same vectors for about half the work.
  struct HashCount {
    uint64_t hash;
    uint32_t count;
  };
  static std::vector<HashCount> CountHashes(const std::vector<uint64_t>& hashes);
  SparseVector Vectorize(const std::vector<HashCount>& counted) const;
  std::vector<float> Scores(const SparseVector& x) const;
  // The networks' part of the blend: the normalised geometric mean of their probabilities.
  std::vector<double> NetworkProbabilities(const std::vector<HashCount>& counted) const;

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
  double auto_threshold_ = -1.0;  // negative: none
  double abstain_threshold_ = 0.0;
  double familiarity_floor_ = 0.0;
  int64_t oos_index_ = -1;
  std::vector<Mlp> mlps_;  // empty: linear model only
  double mlp_weight_ = 0.0;
  double blend_temperature_ = 1.0;
  // Open-addressing table hash → feature index (rebuilt on load, not stored).
  std::vector<uint64_t> slot_hash_;
  std::vector<uint32_t> slot_index_;
  // What an unseen n-gram weighs in Familiarity: the largest IDF of the block it measures
  // (derived, not stored).
  double unseen_idf_ = 1.0;
};

// A training row whose label the held-out model disputes: the model that did not see the
// row gave another label at least kDisputeConfidence and the row's own label at most
// kDisputeLabelProbability. On BANKING77 about 1% of rows; most of those read as another
// label's text or fit both (README.md), so they are the rows worth an admin's second look.
struct DisputedLabel {
  size_t row = 0;               // index into the training data
  std::string predicted;        // the held-out model's label
  double confidence = 0.0;      // its probability
  double label_probability = 0.0;  // the probability of the row's own label
};
inline constexpr double kDisputeConfidence = 0.9;
inline constexpr double kDisputeLabelProbability = 0.02;

// Trains a model. InvalidArgument for empty data, fewer than two labels, or bad options.
// `out_of_fold` (optional) receives the held-out predictions the thresholds were fitted on,
// with the final temperatures and abstention rule, and `out_of_fold_rows` (optional) their
// indices in `data`: every row (each predicted by the calibration-fold model that did not
// see it) for a linear model, the first mlp_folds calibration folds' rows when a network is
// blended in (each predicted by the network that did not see it). Both stay empty when the
// model is not calibrated. `disputed` (optional) receives the rows whose label the held-out
// predictions dispute (DisputedLabel), least probable label first; every row is checked
// (blended predictions where a network held it out, the linear fold model's elsewhere).
// Empty when the model is not calibrated.
Result<LinearModel> TrainLinearModel(const std::vector<LabeledText>& data, const TrainOptions& options,
                                     std::vector<Prediction>* out_of_fold = nullptr,
                                     std::vector<size_t>* out_of_fold_rows = nullptr,
                                     std::vector<DisputedLabel>* disputed = nullptr);

// How many networks TrainLinearModel trains on `n` examples with these options (0: none).
// It ships fewer when they would take the model over max_model_bytes.
int NetworksToTrain(const TrainOptions& options, size_t n);

// The lowest confidence c such that the non-abstained predictions with confidence >= c are
// right at least `target` of the time (gold `oos` is never right for a non-abstained
// prediction); 1.0 when none is. `gold` and `predicted` are parallel.
double ChooseAutoThreshold(const std::vector<std::string>& gold, const std::vector<Prediction>& predicted,
                           double target);

// What RecalibrateLinearModel measured and changed.
struct Recalibration {
  size_t n = 0;      // examples
  size_t known = 0;  // of them, with a label the model has: the temperature is fitted on these
  // The final softmax temperature was multiplied by temperature_factor when
  // temperature_refitted. It stays when the model abstains below a confidence floor, which
  // was chosen on the old scale, or when fewer than kMinRecalibrationExamples rows have a
  // label the model knows.
  bool temperature_refitted = false;
  double temperature_factor = 1.0;
  double auto_threshold_before = 1.0;
  double auto_threshold = 1.0;
  // Every example's gold label and prediction as trained and as recalibrated (parallel to
  // the data), so a caller can report both without predicting again.
  std::vector<std::string> gold;
  std::vector<Prediction> as_trained, recalibrated;
};

inline constexpr size_t kMinRecalibrationExamples = 30;

// Refits what a calibrated model's confidences mean on labelled examples shaped like the
// traffic it will see, for when its training text is not (synthetic phrases, a curated or old
// history): first a temperature on its final probabilities (least NLL on the examples whose
// label it knows), then the auto-threshold at `target_precision` on all of them (naming a
// label for an example whose label the model lacks counts as wrong). Training folds cannot
// show that shift: the sample category model's threshold of 0.41 held 0.999 precision on
// held-out Bitext rows and 0.58 on hand-written tickets. The out-of-scope and familiarity
// floors stay as trained. Needs kMinRecalibrationExamples examples and a calibrated model.
Result<Recalibration> RecalibrateLinearModel(LinearModel* model, const std::vector<LabeledText>& data,
                                             double target_precision);

// Stratified fold of each example (0..k_folds-1), drawn with `seed`; fold sizes differ by at
// most one. Shared by calibration and cross-validation.
std::vector<int> AssignFolds(const std::vector<LabeledText>& data, int k_folds, uint64_t seed);

// Calls fold(0..k_folds-1) on up to `threads` threads (0 = hardware concurrency).
void RunFolds(int k_folds, int threads, const std::function<void(int)>& fold);

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
  // Mean recall over the gold labels: the accuracy the model would have on the same texts if
  // every label were equally common, so rare labels count as much as frequent ones.
  double balanced_accuracy = 0.0;
  std::vector<LabelMetrics> per_label;  // sorted by label
  // (gold, predicted, count) for wrong predictions, most frequent first.
  std::vector<std::tuple<std::string, std::string, size_t>> confusions;
};

// Metrics for parallel vectors of gold and predicted labels (same length).
EvalMetrics ComputeMetrics(const std::vector<std::string>& gold,
                           const std::vector<std::string>& predicted);

// The label a prediction is scored as: abstaining counts as predicting kOutOfScopeLabel.
std::string ScoredLabel(const Prediction& p);

}  // namespace deskpilot
