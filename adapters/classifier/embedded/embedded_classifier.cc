#include "classifier/embedded/embedded_classifier.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "deskpilot/crypto.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;

void AppendPart(std::string* out, const std::string& part) {
  if (part.find_first_not_of(" \t\r\n") == std::string::npos) return;
  if (!out->empty()) out->append("\n");
  out->append(part);
}

Result<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound(path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Everything that changes what training produces goes into the cache key, so editing the
// training data, the field, the recipe or the file format retrains instead of reusing.
std::string Recipe(const TrainOptions& o) {
  const FeatureOptions& f = o.features;
  std::ostringstream s;
  s << "format=" << LinearModel::kFormatVersion << " words=" << f.word_ngram_max << " chars=" << f.char_ngram_min
    << "-" << f.char_ngram_max << " min_df=" << f.min_df << " ww=" << f.word_weight << " cw=" << f.char_weight
    << " average=" << o.average_fold_models << " epochs=" << o.epochs << " l2=" << o.l2
    << " balanced=" << o.balanced_class_weights
    << " prior=" << (o.label_prior == LabelPrior::kUniform ? "uniform" : "training") << " seed=" << o.seed
    << " calibrate=" << o.calibrate
    << " folds=" << o.calibration_folds << " target=" << o.target_precision << " budget=" << o.abstain_budget
    << " familiarity_budget=" << o.familiarity_budget;
  for (const Learner& l : o.learners) s << " learner=" << static_cast<int>(l.loss) << "@" << l.learning_rate;
  s << " mlp=" << o.mlp_hidden << "x" << o.mlp_epochs << "@" << o.mlp_learning_rate << " dropout=" << o.mlp_dropout
    << " mlp_min_df=" << o.mlp_min_df << " mlp_folds=" << o.mlp_folds;
  return s.str();
}

// Save writes next to the destination and renames, so a concurrent reader (another
// replica starting at the same moment) sees either no file or a whole one.
Status SaveAtomically(const LinearModel& model, const fs::path& dest) {
  std::error_code ec;
  fs::create_directories(dest.parent_path(), ec);
  if (ec) return Status::Unavailable("cannot create " + dest.parent_path().string() + ": " + ec.message());
  return model.Save(dest.string());
}

}  // namespace

TicketText BuildTicketText(const Ticket& ticket) {
  TicketText out;
  AppendPart(&out.whole, ticket.subject);
  AppendPart(&out.whole, ticket.description);
  const Comment* newest = nullptr;
  for (const Comment& c : ticket.comments) {
    if (c.author_role != AuthorRole::kCustomer) continue;
    newest = &c;
    // Many desks repeat the description as the first comment; counting it twice would
    // skew term frequencies toward the opening message.
    if (c.body == ticket.description) continue;
    AppendPart(&out.whole, c.body);
  }
  if (newest != nullptr && newest->body != ticket.description && newest->body != out.whole) {
    out.newest = newest->body;
  }
  return out;
}

EmbeddedClassifier::EmbeddedClassifier(std::map<std::string, LinearModel> models)
    : models_(std::move(models)) {}

Result<Triage> EmbeddedClassifier::Classify(const Ticket& redacted_ticket) {
  const TicketText text = BuildTicketText(redacted_ticket);
  const bool has_words = std::any_of(text.whole.begin(), text.whole.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || static_cast<unsigned char>(c) >= 0x80;
  });
  Triage triage;
  for (const auto& [dimension, model] : models_) {
    if (!has_words) {
      // Nothing to go on: the class prior is not a prediction about this ticket.
      Prediction p;
      p.abstained = true;
      triage.predictions[dimension] = p;
      continue;
    }
    std::vector<double> probs = model.Probabilities(text.whole);
    if (!text.newest.empty()) {
      const std::vector<double> newest = model.Probabilities(text.newest);
      for (size_t i = 0; i < probs.size(); ++i) {
        probs[i] = kNewestWeight * newest[i] + (1.0 - kNewestWeight) * probs[i];
      }
    }
    // Familiarity of everything the customer wrote (the newest message is part of it); not
    // measured for a model without a familiarity floor, where it changes nothing.
    const double familiarity = model.familiarity_floor() > 0 ? model.Familiarity(text.whole) : 1.0;
    triage.predictions[dimension] = model.FromProbabilities(probs, familiarity);
  }
  return triage;
}

std::optional<double> EmbeddedClassifier::AutoThreshold(const std::string& dimension) const {
  auto it = models_.find(dimension);
  return it == models_.end() ? std::nullopt : it->second.auto_threshold();
}

std::optional<std::map<std::string, std::vector<std::string>>> EmbeddedClassifier::Labels() const {
  std::map<std::string, std::vector<std::string>> out;
  for (const auto& [dimension, model] : models_) {
    std::vector<std::string>& labels = out[dimension];
    for (const auto& label : model.labels())
      if (label != kOutOfScopeLabel) labels.push_back(label);
  }
  return out;
}

Result<std::map<std::string, LinearModel>> LoadSampleModels(const std::string& sample_dir,
                                                            const std::string& data_dir,
                                                            std::vector<std::string>* trained,
                                                            const std::vector<std::string>& readonly_data_dirs) {
  const fs::path index_path = fs::path(sample_dir) / "models.json";
  auto index_text = ReadFile(index_path.string());
  if (!index_text.ok()) {
    return Status::FailedPrecondition("no [classifier] models configured and no sample models at " +
                                      index_path.string());
  }
  nlohmann::json index;
  try {
    index = nlohmann::json::parse(*index_text);
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(index_path.string() + ": invalid JSON: " + e.what());
  }
  if (!index.is_array()) return Status::InvalidArgument(index_path.string() + ": expected a JSON array");

  const TrainOptions defaults;  // the tuned defaults
  std::map<std::string, LinearModel> models;
  for (size_t i = 0; i < index.size(); ++i) {
    const nlohmann::json& entry = index[i];
    const std::string where = index_path.string() + "[" + std::to_string(i) + "]";
    if (!entry.is_object() || !entry.contains("dimension") || !entry["dimension"].is_string() ||
        !entry.contains("data") || !entry["data"].is_string() || !entry.contains("field") ||
        !entry["field"].is_string()) {
      return Status::InvalidArgument(where + ": needs string fields dimension, data, field");
    }
    const std::string dimension = entry["dimension"].get<std::string>();
    const std::string field = entry["field"].get<std::string>();
    // "networks": false ships the linear model alone (train --no-networks): for a model
    // whose networks buy nothing measurable, a quarter of the prediction time.
    TrainOptions options = defaults;
    if (entry.contains("networks")) {
      if (!entry["networks"].is_boolean()) return Status::InvalidArgument(where + ": networks must be true or false");
      if (!entry["networks"].get<bool>()) options.mlp_hidden = 0;
    }
    const fs::path data_path = fs::path(sample_dir) / entry["data"].get<std::string>();
    DP_ASSIGN_OR_RETURN(std::string data_bytes, ReadFile(data_path.string()));
    // Optional hand-labelled tickets to refit the confidences on (RecalibrateLinearModel): the
    // sample training text is short requests or synthetic, and its held-out folds promise
    // far more than the model does on tickets.
    fs::path calibration_path;
    std::string calibration_field, calibration_key;
    if (entry.contains("calibration")) {
      const nlohmann::json& c = entry["calibration"];
      if (!c.is_object() || !c.contains("data") || !c["data"].is_string() || !c.contains("field") ||
          !c["field"].is_string()) {
        return Status::InvalidArgument(where + ": calibration needs string fields data, field");
      }
      calibration_path = fs::path(sample_dir) / c["data"].get<std::string>();
      calibration_field = c["field"].get<std::string>();
      DP_ASSIGN_OR_RETURN(std::string calibration_bytes, ReadFile(calibration_path.string()));
      calibration_key = std::string(1, '\0') + calibration_bytes + '\0' + calibration_field;
    }

    fs::path cache;
    const std::string file_name =
        "sample-" + dimension + "-" +
        Sha256Hex(data_bytes + '\0' + field + '\0' + Recipe(options) + calibration_key).substr(0, 16) + ".model";
    if (!data_dir.empty()) {
      cache = fs::path(data_dir) / "models" / file_name;
      auto cached = LinearModel::Load(cache.string());
      if (cached.ok()) {
        models.emplace(dimension, std::move(cached).value());
        continue;
      }
      if (cached.status().code() != Code::kNotFound) {
        spdlog::warn("sample model {} unusable ({}); retraining", cache.string(), cached.status().ToString());
      }
    }
    // The same content-hashed name: a file there is what training here would produce.
    bool found = false;
    for (const std::string& readonly : readonly_data_dirs) {
      auto cached = LinearModel::Load((fs::path(readonly) / "models" / file_name).string());
      if (cached.ok()) {
        models.emplace(dimension, std::move(cached).value());
        found = true;
        break;
      }
    }
    if (found) continue;
    DP_ASSIGN_OR_RETURN(auto examples, LoadJsonl(data_path.string(), field));
    auto model = TrainLinearModel(examples, options);
    if (!model.ok()) return model.status().WithContext("train sample model " + dimension);
    spdlog::info("trained sample {} model on {} examples ({} labels)", dimension, examples.size(),
                 model->labels().size());
    if (!calibration_path.empty()) {
      DP_ASSIGN_OR_RETURN(auto tickets, LoadJsonl(calibration_path.string(), calibration_field));
      auto r = RecalibrateLinearModel(&*model, tickets, options.target_precision);
      if (!r.ok()) return r.status().WithContext("calibrate sample model " + dimension);
      spdlog::info("calibrated sample {} model on {} tickets: temperature x{:.3f}, auto-threshold {:.4f} -> {:.4f}",
                   dimension, r->n, r->temperature_factor, r->auto_threshold_before, r->auto_threshold);
    }
    if (trained != nullptr) trained->push_back(dimension);
    if (!cache.empty()) {
      Status saved = SaveAtomically(*model, cache);
      // A read-only data dir costs a retrain at the next start, not a failure now.
      if (!saved.ok()) spdlog::warn("cannot cache sample model: {}", saved.ToString());
    }
    models.emplace(dimension, std::move(model).value());
  }
  if (models.empty()) return Status::InvalidArgument(index_path.string() + ": lists no models");
  return models;
}

Result<std::unique_ptr<EmbeddedClassifier>> EmbeddedClassifier::Create(AdapterContext& ctx) {
  std::map<std::string, std::string> paths;
  if (ctx.section != nullptr) {
    (void)ctx.section->String("type", "embedded");
    if (ctx.section->Has("models")) {
      ConfigSection models = ctx.section->Table("models");
      for (const std::string& dimension : models.Keys()) {
        // A wrong type is recorded by the section and reported by the caller's Finish().
        std::string path = models.String(dimension);
        if (!path.empty()) paths[dimension] = std::move(path);
      }
      if (paths.empty()) {
        return Status::InvalidArgument(
            "classifier.models: no model paths (omit the table to use the sample models)");
      }
    }
  }
  std::map<std::string, LinearModel> loaded;
  if (paths.empty()) {
    DP_ASSIGN_OR_RETURN(loaded, LoadSampleModels(ctx.sample_dir, ctx.data_dir, nullptr, ctx.readonly_data_dirs));
  } else {
    for (const auto& [dimension, path] : paths) {
      auto model = LinearModel::Load(path);
      if (!model.ok()) {
        return Status::InvalidArgument("classifier.models." + dimension + ": " + model.status().message());
      }
      loaded.emplace(dimension, std::move(model).value());
    }
  }
  return std::make_unique<EmbeddedClassifier>(std::move(loaded));
}

}  // namespace deskpilot
