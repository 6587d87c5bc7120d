// `deskpilot train` and `deskpilot eval`: build and score embedded classifier models, and
// score the classifier a config builds (with the cascade's share of tickets that needed the model).
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <cxxopts.hpp>
#include <nlohmann/json.hpp>

#include <fstream>

#include "classifier/embedded/embedded_classifier.h"
#include "classifier/embedded/evaluation.h"
#include "classifier/embedded/linear_model.h"
#include "cli/commands.h"
#include "deskpilot/json_text.h"
#include "deskpilot/redact.h"
#include "deskpilot/text.h"
#include "service/components.h"
#include "service/shadow_report.h"

namespace deskpilot::cli {
namespace {

constexpr size_t kConfusionsShown = 10;
constexpr size_t kDisputesShown = 10;
constexpr size_t kAutoErrorsShown = 10;
constexpr size_t kShortLabelsShown = 10;

// Input problems (no file, bad line, missing field, too few labels) are the caller's to
// fix, so they exit 2; anything else (disk full, I/O error) is a runtime failure.
int ExitFor(const std::string& cmd, const Status& s) {
  if (s.code() == Code::kNotFound || s.code() == Code::kInvalidArgument ||
      s.code() == Code::kFailedPrecondition || s.code() == Code::kDataLoss) {
    return UsageError(cmd, s.message());
  }
  return RuntimeError(cmd, s.ToString());
}

std::string Megabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MB", bytes / (1024.0 * 1024.0));
  return buf;
}

std::string Fixed(double v, int digits = 4) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

std::string Pad(const std::string& s, size_t width) {
  return s.size() >= width ? s : s + std::string(width - s.size(), ' ');
}

// One line per figure that says how far the confidences can be trusted.
// `target`: the precision automation is meant to reach; the labels whose automated answers
// fall short of it beyond chance are named.
void PrintTrust(const Evaluation& e, double target) {
  if (e.oos_n > 0) {
    std::cout << "  in-scope accuracy " << Fixed(e.in_scope_accuracy) << " (" << e.in_scope_n << "), oos recall "
              << Fixed(e.oos_recall) << " (" << e.oos_n << ")\n";
  }
  if (e.auto_threshold) {
    std::cout << "  at auto-threshold " << Fixed(*e.auto_threshold) << ": coverage " << Fixed(e.auto_coverage)
              << ", precision " << Fixed(e.auto_precision) << " (" << e.auto_n << " of " << e.metrics.n << ")\n";
    const std::vector<ShortLabel> short_labels = LabelsShortOfTarget(e, target);
    if (!short_labels.empty()) {
      std::cout << "  labels whose automated answers fall short of precision " << Fixed(target, 3)
                << " beyond chance (p < " << Fixed(kShortfallSignificance, 2) << "): " << short_labels.size() << "\n";
      for (size_t k = 0; k < std::min(short_labels.size(), kShortLabelsShown); ++k) {
        const LabelAutomation& a = short_labels[k].automation;
        std::cout << "    " << OneLineText(a.label) << ": " << a.wrong << " wrong of " << a.n << " (precision "
                  << Fixed(a.precision()) << ", p " << Fixed(short_labels[k].p_value, 4) << ")\n";
      }
      if (short_labels.size() > kShortLabelsShown) {
        std::cout << "    (" << short_labels.size() - kShortLabelsShown << " more)\n";
      }
    }
  }
  std::cout << "  expected calibration error " << Fixed(e.ece) << " (" << kCalibrationBins << " bins, " << e.answered
            << " answered)\n";
}

Status WriteText(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.flush();
  if (!out) return Status::Unavailable(path.string() + ": cannot write");
  return Status::Ok();
}

// Checked before training, which can take minutes: an output file (`flag`: --out, or
// --review-labels) that cannot be written, or one that would replace an input file, fails now
// instead of after the run. The model is renamed into place, so it is the directory that
// must be writable.
std::optional<std::string> OutProblem(const std::string& flag, const std::string& out,
                                      const std::vector<std::string>& inputs) {
  namespace fs = std::filesystem;
  if (out.empty()) return flag + " must not be empty";
  std::error_code ec;
  if (fs::is_directory(out, ec)) return flag + " " + out + " is a directory";
  for (const std::string& in : inputs) {
    if (fs::equivalent(out, in, ec)) return flag + " " + out + " is the input file " + in + "; it would be overwritten";
  }
  const fs::path dir = fs::path(out).has_parent_path() ? fs::path(out).parent_path() : fs::path(".");
  if (!fs::is_directory(dir, ec)) return flag + ": directory " + dir.string() + " does not exist";
  if (::access(dir.c_str(), W_OK) != 0) {
    return flag + ": cannot write to directory " + dir.string() + ": " + std::strerror(errno);
  }
  return std::nullopt;
}

// Where a training example came from, for the label review: its line in --data, or its
// ticket with --source.
std::string ExampleOrigin(size_t row, const std::vector<size_t>& lines, const std::vector<std::string>& ticket_ids) {
  if (row < lines.size()) return "line " + std::to_string(lines[row]);
  if (row < ticket_ids.size()) return "ticket " + ticket_ids[row];
  return "example " + std::to_string(row + 1);
}

// One listed example, for the label review and eval's automated mistakes:
//   line 12: "label", <other_kind> "other" 0.97: the text, on one line, cut at 80 bytes...
// Everything from the data goes through OneLineText: it is outside text on a terminal.
void PrintExample(const std::string& origin, const std::string& label, const char* other_kind,
                  const std::string& other, double confidence, std::string_view text) {
  constexpr size_t kTextBytes = 80;
  std::string shown = OneLineText(text);
  if (shown.size() > kTextBytes) shown = std::string(Utf8Prefix(shown, kTextBytes)) + "...";
  std::cout << "  " << OneLineText(origin) << ": \"" << OneLineText(label) << "\", " << other_kind << " \""
            << OneLineText(other) << "\" " << Fixed(confidence, 2) << ": " << shown << "\n";
}

// Rows whose label the held-out models dispute: how many, the first few, and all of them in
// `review_path` (JSON Lines) when given. Mislabeled history teaches the model the wrong
// label, and an admin can only fix what is pointed out.
Status ReportDisputedLabels(const std::vector<LabeledText>& data, const std::vector<DisputedLabel>& disputed,
                            const std::vector<size_t>& lines, const std::vector<std::string>& ticket_ids,
                            const std::string& review_path) {
  std::cout << "labels to review: " << disputed.size() << " of " << data.size() << " examples ("
            << Fixed(100.0 * static_cast<double>(disputed.size()) / static_cast<double>(data.size()), 1)
            << "%) have a label the held-out models dispute (another label at " << Fixed(kDisputeConfidence, 2)
            << " or more, their own at " << Fixed(kDisputeLabelProbability, 2)
            << " or less): often mislabeled, or text that fits both labels\n";
  for (size_t k = 0; k < disputed.size() && k < kDisputesShown; ++k) {
    const DisputedLabel& d = disputed[k];
    PrintExample(ExampleOrigin(d.row, lines, ticket_ids), data[d.row].label, "held-out", d.predicted, d.confidence,
                 data[d.row].text);
  }
  if (review_path.empty()) {
    if (disputed.size() > kDisputesShown) std::cout << "  (--review-labels FILE writes all of them)\n";
    return Status::Ok();
  }
  std::string out;
  for (const DisputedLabel& d : disputed) {
    nlohmann::json j = {{"text", data[d.row].text},
                        {"label", data[d.row].label},
                        {"held_out_label", d.predicted},
                        {"held_out_confidence", d.confidence},
                        {"label_probability", d.label_probability}};
    if (d.row < lines.size()) j["line"] = lines[d.row];
    if (d.row < ticket_ids.size()) j["ticket_id"] = ticket_ids[d.row];
    out += j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
  }
  DP_RETURN_IF_ERROR(WriteText(review_path, out));
  std::cout << "  wrote all " << disputed.size() << " to " << review_path << "\n";
  return Status::Ok();
}

// Labelled examples from the help desk's solved tickets: the label is the first tag
// that starts with `tag_prefix` (prefix removed) or, without a prefix, the custom
// field `field` (its configured name or numeric id). The text is what the classifier
// will see for a new ticket (subject and description), redacted as it will be then.
Result<std::vector<LabeledText>> LabeledFromHelpdesk(Helpdesk& helpdesk, const std::string& field,
                                                     const std::string& tag_prefix,
                                                     std::chrono::system_clock::time_point since, int limit,
                                                     std::vector<std::string>* ticket_ids) {
  DP_ASSIGN_OR_RETURN(std::vector<Ticket> tickets, helpdesk.ListSolvedTickets(since, limit, /*with_comments=*/false));
  Redactor redactor;
  std::vector<LabeledText> out;
  size_t unlabelled = 0, ambiguous = 0;
  for (Ticket& t : tickets) {
    const std::set<std::string> labels = AgentLabels(t, {tag_prefix, field});
    if (labels.empty()) {
      ++unlabelled;
      continue;
    }
    // Two labels on one ticket would teach the model both; such a ticket teaches nothing.
    if (labels.size() > 1) {
      ++ambiguous;
      continue;
    }
    std::string text = SolvedTicketTrainingText(t, redactor);
    if (text.empty()) {
      ++unlabelled;
      continue;
    }
    out.push_back({std::move(text), *labels.begin()});
    ticket_ids->push_back(t.id);
  }
  std::cout << "solved tickets: " << tickets.size() << ", labelled " << out.size() << "\n";
  if (unlabelled > 0)
    std::cout << "warning: " << unlabelled << " ticket" << (unlabelled == 1 ? "" : "s") << " without "
              << (tag_prefix.empty() ? "a value in field \"" + field + "\"" : "a tag starting with \"" + tag_prefix + "\"")
              << " (skipped)\n";
  if (ambiguous > 0)
    std::cout << "warning: " << ambiguous << " ticket" << (ambiguous == 1 ? "" : "s")
              << " with more than one label tag (skipped)\n";
  return out;
}

}  // namespace

std::string SolvedTicketTrainingText(const Ticket& ticket, const Redactor& redactor) {
  Ticket t = ticket;
  t.comments.clear();
  RedactionMap map;
  // With the requester's name, as the pipeline redacts a new ticket: a customer's name
  // must not become a feature of the model.
  return redactor.Redact(BuildTicketText(t).whole, &map, TextOrigin::kOther, KnownNames(t.requester.name));
}

int RunTrain(int argc, char** argv) {
  const std::string cmd = argv[0];
  cxxopts::Options opts(cmd, "Train an embedded classifier model (TF-IDF word+char n-grams, a calibrated linear model "
                             "blended with a small neural network from 1,000 examples) "
                             "on labelled JSON Lines: one {\"text\": ..., \"<field>\": ...} object per line; "
                             "or on a help desk's solved tickets (--config, --source), labelled by a tag prefix "
                             "or a custom field.");
  TrainOptions defaults;
  opts.add_options()("data", "training data (JSONL)", cxxopts::value<std::string>())(
      "field", "label field (with --source: the custom field's configured name or numeric id, unless "
               "--tag-prefix is given)", cxxopts::value<std::string>()->default_value("label"))(
      "c,config", "config file (TOML), with --source", cxxopts::value<std::string>())(
      "source", "train on this [[helpdesk]]'s solved tickets instead of --data", cxxopts::value<std::string>())(
      "tag-prefix", "with --source: the label is the ticket's tag with this prefix removed (cat_refund → refund)",
      cxxopts::value<std::string>())(
      "solved-since", "with --source: tickets updated since DATE (YYYY-MM-DD or RFC 3339; default: all)",
      cxxopts::value<std::string>())(
      "limit", "with --source: at most this many tickets", cxxopts::value<int>()->default_value("10000"))(
      "out", "model file to write", cxxopts::value<std::string>())(
      "cv", "also report K-fold cross-validated accuracy, macro-F1, abstention and auto-threshold figures (K >= 2)",
      cxxopts::value<int>())(
      "target-precision", "precision the stored auto-threshold must reach on held-out folds",
      cxxopts::value<double>()->default_value(std::to_string(defaults.target_precision)))(
      "familiarity-budget",
      "abstain on text whose words the training data mostly never used, spending at most this share of in-scope "
      "accuracy on held-out folds (e.g. 0.005; 0 = off). Only for training text shaped like the tickets it will see",
      cxxopts::value<double>()->default_value(std::to_string(defaults.familiarity_budget)))(
      "calibration-data",
      "labelled JSONL shaped like the traffic the model will see (e.g. recent tickets, same --field): refit the "
      "confidences' temperature and the auto-threshold on it instead of on held-out training folds",
      cxxopts::value<std::string>())(
      "seed", "random seed (shuffling and folds)", cxxopts::value<uint64_t>()->default_value(std::to_string(defaults.seed)))(
      "epochs", "training passes over the data", cxxopts::value<int>()->default_value(std::to_string(defaults.epochs)))(
      "balanced", "weight labels inversely to their frequency")(
      "label-prior",
      "how often the model assumes each label occurs: uniform (equally often; rare labels are named as readily as "
      "their evidence warrants) or training (as often as in the training data)",
      cxxopts::value<std::string>()->default_value("uniform"))(
      "review-labels",
      "write every example whose label the held-out models dispute (JSON Lines: text, label, held_out_label, "
      "confidences, line or ticket_id) to this file; the report lists the first ones",
      cxxopts::value<std::string>())(
      "no-networks",
      "ship the calibrated linear model alone, without the network ensemble it gets from 1,000 examples: about a "
      "third of the prediction time and a tenth of the file, usually for some accuracy (measure with --cv)")(
      "h,help", "show help");
  std::string data_path, field, out_path, config_path, source, tag_prefix, calibration_path, review_path;
  std::chrono::system_clock::time_point solved_since{};
  int limit = 0;
  int cv_folds = 0;
  TrainOptions options;
  try {
    auto args = opts.parse(argc, argv);
    if (args.count("help")) {
      std::cout << opts.help() << "\n";
      return kExitOk;
    }
    if (args.count("data") + args.count("source") != 1)
      return UsageError(cmd, "give --data FILE.jsonl or --config FILE --source NAME");
    if (!args.count("out")) return UsageError(cmd, "--out MODEL is required");
    if (args.count("data")) {
      data_path = args["data"].as<std::string>();
      if (args.count("tag-prefix") || args.count("solved-since"))
        return UsageError(cmd, "--tag-prefix and --solved-since only apply with --source");
    } else {
      if (!args.count("config")) return UsageError(cmd, "--source needs --config FILE");
      config_path = args["config"].as<std::string>();
      source = args["source"].as<std::string>();
      if (args.count("tag-prefix")) tag_prefix = args["tag-prefix"].as<std::string>();
      if (args.count("tag-prefix") && tag_prefix.empty()) return UsageError(cmd, "--tag-prefix must not be empty");
      if (args.count("solved-since") && !ParseCliDate(args["solved-since"].as<std::string>(), &solved_since))
        return UsageError(cmd, "--solved-since wants YYYY-MM-DD or an RFC 3339 UTC time");
      limit = args["limit"].as<int>();
      if (limit < 1) return UsageError(cmd, "--limit must be at least 1");
    }
    field = args["field"].as<std::string>();
    out_path = args["out"].as<std::string>();
    if (args.count("cv")) {
      cv_folds = args["cv"].as<int>();
      if (cv_folds < 2) return UsageError(cmd, "--cv must be at least 2");
    }
    options.seed = args["seed"].as<uint64_t>();
    options.epochs = args["epochs"].as<int>();
    // An upper bound too: a typo like 100000000 would otherwise run until killed.
    if (options.epochs < 1 || options.epochs > 1000) return UsageError(cmd, "--epochs must be between 1 and 1000");
    options.balanced_class_weights = args.count("balanced") > 0;
    if (args.count("no-networks")) options.mlp_hidden = 0;
    if (const std::string prior = args["label-prior"].as<std::string>(); prior == "training") {
      options.label_prior = LabelPrior::kTraining;
    } else if (prior == "uniform") {
      options.label_prior = LabelPrior::kUniform;
    } else {
      return UsageError(cmd, "--label-prior must be uniform or training");
    }
    options.target_precision = args["target-precision"].as<double>();
    if (!(options.target_precision > 0.0 && options.target_precision <= 1.0)) {
      return UsageError(cmd, "--target-precision must be in (0, 1]");
    }
    options.familiarity_budget = args["familiarity-budget"].as<double>();
    if (!(options.familiarity_budget >= 0.0 && options.familiarity_budget <= 1.0)) {
      return UsageError(cmd, "--familiarity-budget must be in [0, 1]");
    }
    if (args.count("calibration-data")) calibration_path = args["calibration-data"].as<std::string>();
    if (args.count("review-labels")) review_path = args["review-labels"].as<std::string>();
    if (!args.unmatched().empty()) return UsageError(cmd, "unexpected argument '" + args.unmatched().front() + "'");
  } catch (const std::exception& e) {  // cxxopts reports bad options by throwing
    return UsageError(cmd, ArgumentError(e, argc, argv));
  }
  std::vector<std::string> inputs;
  for (const std::string* in : {&data_path, &calibration_path})
    if (!in->empty()) inputs.push_back(*in);
  if (std::optional<std::string> problem = OutProblem("--out", out_path, inputs)) return UsageError(cmd, *problem);
  if (!review_path.empty()) {
    inputs.push_back(out_path);
    if (std::optional<std::string> problem = OutProblem("--review-labels", review_path, inputs))
      return UsageError(cmd, *problem);
  }

  Result<std::vector<LabeledText>> data = Status::Internal("no training data read");
  std::string origin = data_path;
  // What the labels are, for the report: the field, or with --tag-prefix the tags.
  std::string labels_from = "field \"" + field + "\"";
  std::vector<size_t> lines;             // with --data: each example's line
  std::vector<std::string> ticket_ids;   // with --source: each example's ticket
  if (source.empty()) {
    data = LoadJsonl(data_path, field, &lines);
  } else {
    auto config = LoadConfig(config_path);
    if (!config.ok()) return UsageError(cmd, config.status().message());
    auto http = NewCurlHttpClient();
    int exit_code = kExitOk;
    std::unique_ptr<Helpdesk> helpdesk = OpenHelpdesk(cmd, *config, source, http.get(), &exit_code);
    if (!helpdesk) return exit_code;
    data = LabeledFromHelpdesk(*helpdesk, field, tag_prefix, solved_since, limit, &ticket_ids);
    origin = "helpdesk \"" + source + "\"";
    if (!tag_prefix.empty()) labels_from = "tags " + tag_prefix + "*";
  }
  if (!data.ok()) return ExitFor(cmd, data.status());
  if (data->empty()) return UsageError(cmd, origin + ": no examples");

  std::map<std::string, size_t> counts;
  for (const auto& ex : *data) ++counts[ex.label];
  std::cout << "examples: " << data->size() << " from " << origin << " (" << labels_from << ", " << counts.size()
            << " labels)\n";
  size_t width = 5;
  for (const auto& [label, n] : counts) width = std::max(width, label.size());
  for (const auto& [label, n] : counts) std::cout << "  " << Pad(label, width) << "  " << n << "\n";
  for (const auto& [label, n] : counts) {
    if (n < kFewLabelExamples) {
      std::cout << "warning: label \"" << label << "\" has only " << n << " example" << (n == 1 ? "" : "s")
                << " (< " << kFewLabelExamples << "); its predictions will be unreliable\n";
    }
  }
  if (counts.size() < 2) return UsageError(cmd, labels_from + " has fewer than two distinct labels");
  // Read before the long training run, so a bad file fails fast. Its labels are in --field
  // (default "label"), also when the training labels came from tags.
  std::vector<LabeledText> calibration;
  if (!calibration_path.empty()) {
    auto loaded = LoadJsonl(calibration_path, field);
    if (!loaded.ok()) return UsageError(cmd, "--calibration-data: " + loaded.status().message());
    if (loaded->size() < kMinRecalibrationExamples) {
      return UsageError(cmd, "--calibration-data: " + std::to_string(loaded->size()) + " examples; at least " +
                                 std::to_string(kMinRecalibrationExamples) + " are needed");
    }
    calibration = std::move(*loaded);
  }

  if (cv_folds > 0) {
    if (static_cast<size_t>(cv_folds) > data->size()) return UsageError(cmd, "--cv is larger than the number of examples");
    const auto cv_start = std::chrono::steady_clock::now();
    int done = 0;
    auto cv = CrossValidate(*data, options, cv_folds, options.seed, 0, [&](int fold, double accuracy) {
      std::cerr << "cross-validation: fold " << fold + 1 << " done (" << ++done << "/" << cv_folds
                << "), accuracy " << Fixed(accuracy) << "\n";
    });
    if (!cv.ok()) return ExitFor(cmd, cv.status());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - cv_start).count();
    const Evaluation& e = cv->evaluation;
    std::cout << cv_folds << "-fold cross-validation: accuracy " << Fixed(e.metrics.accuracy) << ", balanced "
              << Fixed(e.metrics.balanced_accuracy) << ", macro-F1 " << Fixed(e.metrics.macro_f1) << " ("
              << Fixed(secs, 1) << " s; each fold at its own thresholds)\n";
    PrintTrust(e, options.target_precision);
  }

  std::cerr << "training on " << data->size() << " examples (" << options.calibration_folds
            << " calibration folds for each of " << options.learners.size() << " learners, averaged into the model"
            << (NetworksToTrain(options, data->size()) > 0
                    ? "; " + std::to_string(NetworksToTrain(options, data->size())) + " networks on held-out folds"
                    : std::string())
            << ")...\n";
  const auto start = std::chrono::steady_clock::now();
  std::vector<Prediction> out_of_fold;
  std::vector<size_t> out_of_fold_rows;  // which examples out_of_fold predicts
  std::vector<DisputedLabel> disputed;
  auto model = TrainLinearModel(*data, options, &out_of_fold, &out_of_fold_rows, &disputed);
  if (!model.ok()) return ExitFor(cmd, model.status());
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  // The held-out fold report below describes the model as trained; the calibration report
  // after it, the model as saved.
  const std::optional<double> fold_threshold = model->auto_threshold();
  const double fold_temperature = model->temperature();
  std::optional<Evaluation> calibration_before, calibration_after;
  Recalibration recalibration;
  if (!calibration.empty()) {
    auto r = RecalibrateLinearModel(&*model, calibration, options.target_precision);
    // Every refusal is about the input (too little training data to have been calibrated).
    if (!r.ok()) return UsageError(cmd, "--calibration-data: " + r.status().message());
    recalibration = std::move(*r);
    calibration_before = Evaluate(recalibration.gold, recalibration.as_trained, recalibration.auto_threshold_before);
    calibration_after = Evaluate(recalibration.gold, recalibration.recalibrated, recalibration.auto_threshold);
  }
  Status saved = model->Save(out_path);
  if (!saved.ok()) return RuntimeError(cmd, saved.ToString());
  std::error_code ec;
  const auto file_size = std::filesystem::file_size(out_path, ec);
  std::cout << "trained in " << Fixed(secs, 2) << " s: " << model->num_features() << " features, "
            << model->labels().size() << " labels, " << Megabytes(static_cast<double>(model->MemoryBytes()))
            << " in memory\n"
            << "wrote " << out_path << " (" << Megabytes(ec ? 0.0 : static_cast<double>(file_size)) << ")\n";
  if (out_of_fold.empty()) {
    std::cout << "not calibrated (fewer than 50 examples): no auto-threshold, confidences are raw softmax\n";
    if (!review_path.empty()) std::cout << "no labels to review: that needs held-out predictions\n";
    return kExitOk;
  }
  std::vector<std::string> gold;
  for (size_t i : out_of_fold_rows) gold.push_back((*data)[i].label);
  const Evaluation oof = Evaluate(gold, out_of_fold, fold_threshold);
  std::cout << "temperature " << Fixed(fold_temperature, 3);
  if (model->mlp_hidden() > 0) {
    std::cout << ", blended with " << model->mlp_count() << " " << model->mlp_hidden() << "-unit network"
              << (model->mlp_count() == 1 ? "" : "s") << " (weight " << Fixed(model->mlp_weight(), 1) << ")";
  }
  if (model->has_out_of_scope()) {
    std::cout << ", abstains on \"" << kOutOfScopeLabel << "\" or confidence below "
              << Fixed(model->abstain_threshold());
  }
  if (model->familiarity_floor() > 0) {
    std::cout << ", abstains on text less familiar than " << Fixed(model->familiarity_floor());
  }
  std::cout << (options.label_prior == LabelPrior::kUniform ? ", every label assumed equally common"
                                                             : ", labels assumed as common as in the data");
  std::cout << "; auto-threshold " << Fixed(fold_threshold.value_or(1.0)) << " for target precision "
            << Fixed(options.target_precision, 3) << "\n"
            << "on the calibration folds' held-out predictions (the data that chose the thresholds, "
            << out_of_fold_rows.size() << " examples):\n";
  PrintTrust(oof, options.target_precision);
  if (Status s = ReportDisputedLabels(*data, disputed, lines, ticket_ids, review_path); !s.ok()) {
    return RuntimeError(cmd, s.ToString());
  }
  if (oof.auto_n == 0 && !calibration_after) {
    std::cout << "warning: no confidence reached precision " << Fixed(options.target_precision, 3)
              << " on held-out folds; this model will never drive automation\n";
  }
  if (calibration_after) {
    std::cout << "calibration data " << calibration_path << ": " << recalibration.n << " examples, "
              << recalibration.known << " with a label the model has\n"
              << "as trained (auto-threshold " << Fixed(recalibration.auto_threshold_before) << "): accuracy "
              << Fixed(calibration_before->metrics.accuracy) << "\n";
    PrintTrust(*calibration_before, options.target_precision);
    std::cout << "refitted: ";
    if (recalibration.temperature_refitted) {
      std::cout << "temperature x" << Fixed(recalibration.temperature_factor, 3);
    } else {
      std::cout << (model->abstain_threshold() > 0 ? "temperature kept (the out-of-scope floor was chosen on its scale)"
                                                   : "temperature kept (fewer than " +
                                                         std::to_string(kMinRecalibrationExamples) +
                                                         " examples with a label the model has)");
    }
    std::cout << ", auto-threshold " << Fixed(recalibration.auto_threshold) << " for target precision "
              << Fixed(options.target_precision, 3) << "; on the same data (in-sample: check other tickets with "
              << "deskpilot eval):\n";
    PrintTrust(*calibration_after, options.target_precision);
    if (calibration_after->auto_n == 0) {
      std::cout << "warning: no confidence reached precision " << Fixed(options.target_precision, 3)
                << " on the calibration data; this model will never drive automation\n";
    }
  }
  return kExitOk;
}

int RunEval(int argc, char** argv) {
  const std::string cmd = argv[0];
  cxxopts::Options opts(cmd, "Evaluate a model made by `deskpilot train` (--model), or the classifier a config "
                             "builds (--config), on labelled JSON Lines.");
  opts.add_options()("model", "model file", cxxopts::value<std::string>())(
      "c,config", "config file (TOML): evaluate its [classifier] (a cascade also reports the model's share)",
      cxxopts::value<std::string>())(
      "dimension", "with --config: the classifier dimension scored against --field (default: the field's name)",
      cxxopts::value<std::string>())(
      "data", "labelled data (JSONL)", cxxopts::value<std::string>())(
      "field", "label field", cxxopts::value<std::string>()->default_value("label"))(
      "json", "print one JSON object instead of a table")(
      "plots", "write reliability.svg and risk_coverage.svg into this directory", cxxopts::value<std::string>())(
      "target-precision",
      "the precision automation is meant to reach: labels whose automated answers fall short of it beyond chance "
      "are listed",
      cxxopts::value<double>()->default_value(std::to_string(kDefaultTargetPrecision)))(
      "h,help", "show help");
  std::string model_path, config_path, dimension, data_path, field, plots_dir;
  bool json = false;
  double target_precision = 0.0;
  try {
    auto args = opts.parse(argc, argv);
    if (args.count("help")) {
      std::cout << opts.help() << "\n";
      return kExitOk;
    }
    if (args.count("model") + args.count("config") != 1)
      return UsageError(cmd, "give either --model MODEL or --config FILE (not both)");
    if (args.count("dimension") && !args.count("config")) return UsageError(cmd, "--dimension only applies with --config");
    if (!args.count("data")) return UsageError(cmd, "--data FILE.jsonl is required");
    if (args.count("model")) model_path = args["model"].as<std::string>();
    if (args.count("config")) config_path = args["config"].as<std::string>();
    data_path = args["data"].as<std::string>();
    field = args["field"].as<std::string>();
    dimension = args.count("dimension") ? args["dimension"].as<std::string>() : field;
    json = args.count("json") > 0;
    if (args.count("plots")) plots_dir = args["plots"].as<std::string>();
    target_precision = args["target-precision"].as<double>();
    if (!(target_precision > 0.0 && target_precision <= 1.0)) {
      return UsageError(cmd, "--target-precision must be in (0, 1]");
    }
    if (!args.unmatched().empty()) return UsageError(cmd, "unexpected argument '" + args.unmatched().front() + "'");
  } catch (const std::exception& e) {  // cxxopts reports bad options by throwing
    return UsageError(cmd, ArgumentError(e, argc, argv));
  }

  std::vector<size_t> lines;  // each example's line in --data
  auto data = LoadJsonl(data_path, field, &lines);
  if (!data.ok()) return ExitFor(cmd, data.status());
  if (data->empty()) return UsageError(cmd, data_path + ": no examples");

  std::vector<std::string> gold_labels;
  std::vector<Prediction> predictions;
  std::optional<double> auto_threshold;
  // The labels the model knows; a configured classifier does not list its labels, so
  // there `unknown_labels` is null rather than a guess.
  std::optional<std::set<std::string>> known;
  // The classifier's own counters (Classifier::Report): a cascade's share of tickets
  // that needed the model.
  std::optional<nlohmann::json> report;
  double secs = 0.0;
  if (!model_path.empty()) {
    auto model = LinearModel::Load(model_path);
    if (!model.ok()) return ExitFor(cmd, model.status());
    const auto start = std::chrono::steady_clock::now();
    for (const auto& ex : *data) {
      gold_labels.push_back(ex.label);
      predictions.push_back(model->Predict(ex.text));
    }
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto_threshold = model->auto_threshold();
    known.emplace(model->labels().begin(), model->labels().end());
  } else {
    auto config = LoadConfig(config_path);
    if (!config.ok()) return UsageError(cmd, config.status().message());
    BuildOptions build;
    build.sample_dir = SampleDir();
    build.with_helpdesks = false;  // eval writes to no help desk, so it needs no vendor secrets
    // Only the classifier is scored, and no classifier reads the database: a fresh scratch
    // one (the configured one is neither created nor written).
    auto scratch = ScratchDataDir::Create(&*config, &build, /*snapshot_database=*/false);
    if (!scratch.ok()) return RuntimeError(cmd, scratch.status().message());
    auto built = BuildComponents(*config, build);
    if (built.ok()) (*scratch)->KeepModels();
    if (!built.ok()) {
      if (built.status().code() == Code::kInvalidArgument) return UsageError(cmd, built.status().ToString());
      return RuntimeError(cmd, built.status().ToString());
    }
    Classifier& classifier = *(*built)->classifier;
    // The same redaction the pipeline applies: a cascade or llm classifier sends this
    // text to a model, and PII never leaves in clear.
    Redactor redactor;
    const auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < data->size(); ++i) {
      Ticket ticket;
      ticket.id = "eval-" + std::to_string(i + 1);
      RedactionMap map;
      ticket.description = redactor.Redact((*data)[i].text, &map);
      auto triage = classifier.Classify(ticket);
      if (!triage.ok()) return RuntimeError(cmd, "example " + std::to_string(i + 1) + ": " + triage.status().ToString());
      const Prediction* p = triage->Get(dimension);
      if (p == nullptr) {
        return UsageError(cmd, "the configured classifier does not predict \"" + dimension +
                                   "\" (choose one with --dimension)");
      }
      gold_labels.push_back((*data)[i].label);
      predictions.push_back(*p);
    }
    secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    auto_threshold = classifier.AutoThreshold(dimension);
    // Freshly built above, so its counters cover exactly this data set.
    report = classifier.Report();
  }
  const Evaluation e = Evaluate(gold_labels, predictions, auto_threshold);
  const EvalMetrics& m = e.metrics;
  std::set<std::string> unknown;
  for (const auto& ex : *data) {
    if (known && !known->count(ex.label) && ex.label != kOutOfScopeLabel) unknown.insert(ex.label);
  }
  if (!plots_dir.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(plots_dir, ec);
    if (ec) return RuntimeError(cmd, "cannot create " + plots_dir + ": " + ec.message());
    for (const auto& [name, svg] : {std::pair<std::string, std::string>{"reliability.svg", ReliabilitySvg(e)},
                                    {"risk_coverage.svg", RiskCoverageSvg(e)}}) {
      Status s = WriteText(std::filesystem::path(plots_dir) / name, svg);
      if (!s.ok()) return RuntimeError(cmd, s.ToString());
    }
  }

  if (json) {
    nlohmann::json out = {{"n", m.n},
                          {"correct", m.correct},
                          {"accuracy", m.accuracy},
                          {"macro_f1", m.macro_f1},
                          {"balanced_accuracy", m.balanced_accuracy},
                          {"in_scope_n", e.in_scope_n},
                          {"in_scope_accuracy", e.in_scope_accuracy},
                          {"oos_n", e.oos_n},
                          {"oos_recall", e.oos_n ? nlohmann::json(e.oos_recall) : nlohmann::json(nullptr)},
                          {"abstained", m.n - e.answered},
                          {"auto_threshold", e.auto_threshold ? nlohmann::json(*e.auto_threshold) : nlohmann::json(nullptr)},
                          {"auto_n", e.auto_n},
                          {"auto_coverage", e.auto_coverage},
                          {"auto_precision", e.auto_precision},
                          {"ece", e.ece},
                          {"unknown_labels", known ? nlohmann::json(unknown) : nlohmann::json(nullptr)},
                          {"ms_per_example", m.n ? secs * 1000.0 / m.n : 0.0}};
    if (report) out.update(*report);
    nlohmann::json per_label = nlohmann::json::object();
    for (const auto& l : m.per_label) {
      per_label[l.label] = {{"precision", l.precision}, {"recall", l.recall}, {"f1", l.f1},
                            {"support", l.support}, {"predicted", l.predicted}, {"auto_n", 0}, {"auto_wrong", 0}};
    }
    for (const LabelAutomation& a : e.auto_by_label) {
      per_label[a.label]["auto_n"] = a.n;
      per_label[a.label]["auto_wrong"] = a.wrong;
    }
    out["per_label"] = std::move(per_label);
    out["target_precision"] = target_precision;
    nlohmann::json short_labels = nlohmann::json::array();
    for (const ShortLabel& s : LabelsShortOfTarget(e, target_precision)) {
      short_labels.push_back({{"label", s.automation.label},
                              {"auto_n", s.automation.n},
                              {"auto_wrong", s.automation.wrong},
                              {"auto_precision", s.automation.precision()},
                              {"p_value", s.p_value}});
    }
    out["auto_short_labels"] = std::move(short_labels);
    nlohmann::json confusions = nlohmann::json::array();
    for (size_t i = 0; i < std::min(m.confusions.size(), kConfusionsShown); ++i) {
      const auto& [gold, predicted, count] = m.confusions[i];
      confusions.push_back({{"gold", gold}, {"predicted", predicted}, {"count", count}});
    }
    out["confusions"] = std::move(confusions);
    nlohmann::json auto_errors = nlohmann::json::array();
    for (size_t i : e.auto_errors) {
      auto_errors.push_back({{"line", lines[i]},
                             {"label", gold_labels[i]},
                             {"predicted", predictions[i].label},
                             {"confidence", predictions[i].confidence},
                             {"text", (*data)[i].text}});
    }
    out["auto_errors"] = std::move(auto_errors);
    std::cout << JsonText(out, 2) << "\n";
    return kExitOk;
  }

  size_t width = 5;
  for (const auto& l : m.per_label) width = std::max(width, l.label.size());
  std::cout << Pad("label", width) << "  precision  recall  f1      support\n";
  for (const auto& l : m.per_label) {
    std::cout << Pad(l.label, width) << "  " << Pad(Fixed(l.precision), 9) << "  " << Pad(Fixed(l.recall), 6) << "  "
              << Pad(Fixed(l.f1), 6) << "  " << l.support << "\n";
  }
  std::cout << "\nexamples " << m.n << ", correct " << m.correct << ", accuracy " << Fixed(m.accuracy)
            << ", balanced " << Fixed(m.balanced_accuracy) << ", macro-F1 " << Fixed(m.macro_f1) << " ("
            << Fixed(m.n ? secs * 1000.0 / m.n : 0.0, 3) << " ms per example)\n";
  PrintTrust(e, target_precision);
  if (report && report->contains("model_share")) {
    std::cout << "  the model was needed for " << Fixed(100.0 * report->value("model_share", 0.0), 1)
              << "% of tickets (" << report->value("model_calls", int64_t{0}) << " of "
              << report->value("tickets", int64_t{0}) << ")\n";
  }
  if (!plots_dir.empty()) std::cout << "wrote " << plots_dir << "/reliability.svg and risk_coverage.svg\n";
  if (!unknown.empty()) {
    std::cout << "labels not known to the model (always counted wrong):";
    for (const auto& u : unknown) std::cout << " " << u;
    std::cout << "\n";
  }
  if (!e.auto_errors.empty()) {
    std::cout << "\nwrong at or above the auto-threshold (automation would have sent these): " << e.auto_errors.size()
              << ", most confident first\n";
    for (size_t k = 0; k < std::min(e.auto_errors.size(), kAutoErrorsShown); ++k) {
      const size_t i = e.auto_errors[k];
      PrintExample("line " + std::to_string(lines[i]), gold_labels[i], "predicted", predictions[i].label,
                   predictions[i].confidence, (*data)[i].text);
    }
    if (e.auto_errors.size() > kAutoErrorsShown) std::cout << "  (--json lists all of them)\n";
  }
  if (!m.confusions.empty()) {
    std::cout << "\nmost confused (gold -> predicted: count)\n";
    for (size_t i = 0; i < std::min(m.confusions.size(), kConfusionsShown); ++i) {
      const auto& [gold, predicted, count] = m.confusions[i];
      std::cout << "  " << gold << " -> " << predicted << ": " << count << "\n";
    }
  }
  return kExitOk;
}

}  // namespace deskpilot::cli
