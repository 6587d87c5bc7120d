#include "service/shadow_report.h"

#include <algorithm>
#include <cstdio>
#include <sstream>
#include <vector>

#include "deskpilot/stats.h"
#include "deskpilot/text.h"

namespace deskpilot {
namespace {

using nlohmann::json;

// The ladder's rungs in the order an admin reads them: most automation first.
constexpr const char* kRungOrder[] = {"auto_reply", "approve", "assist", "escalate", "shadow"};
constexpr size_t kDisagreementsShown = 20;

// A prediction's label from a recorded triage ("" when absent or abstained).
std::string Predicted(const json& triage, const std::string& dim) {
  auto it = triage.find(dim);
  if (it == triage.end() || !it->is_object()) return "";
  if (it->value("abstained", false)) return "";
  auto label = it->find("label");
  return label != it->end() && label->is_string() ? label->get<std::string>() : "";
}

json Share(int part, int whole) { return whole > 0 ? json(static_cast<double>(part) / whole) : json(nullptr); }

std::string Pct(int part, int whole) {
  if (whole == 0) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d of %d (%.1f%%)", part, whole, 100.0 * part / whole);
  return buf;
}

std::string Pad(std::string s, size_t width) {
  if (s.size() < width) s.resize(width, ' ');
  return s + " ";
}

}  // namespace

std::set<std::string> AgentLabels(const Ticket& ticket, const AgentLabelSource& source) {
  std::set<std::string> labels;
  if (!source.tag_prefix.empty()) {
    for (const std::string& tag : ticket.tags)
      if (tag.size() > source.tag_prefix.size() && tag.rfind(source.tag_prefix, 0) == 0)
        labels.insert(tag.substr(source.tag_prefix.size()));
  } else if (!source.field.empty()) {
    if (auto it = ticket.custom_fields.find(source.field); it != ticket.custom_fields.end() && !it->second.empty())
      labels.insert(it->second);
  }
  return labels;
}

void ShadowReport::Add(const json& triage_record, const Ticket* now) {
  ++tickets_;
  const json triage = triage_record.value("triage", json::object());
  const json decision = triage_record.value("decision", json::object());
  // Rows written before the ladder was recorded in shadow mode have only the rung.
  std::string rung = decision.is_object() ? decision.value("ladder", decision.value("rung", "")) : "";
  if (rung.empty()) rung = "shadow";
  const std::string category = triage.is_object() ? Predicted(triage, "category") : "";
  const std::string priority = triage.is_object() ? Predicted(triage, "priority") : "";
  Tally& r = by_rung_[rung];
  Tally& c = by_category_[category];
  ++r.tickets;
  ++c.tickets;
  if (rung == "auto_reply") ++c.auto_reply;
  if (!now) {
    ++unavailable_;
    return;
  }

  const std::set<std::string> agents = AgentLabels(*now, labels_);
  if (agents.size() > 1) ++ambiguous_;
  if (agents.size() == 1) {
    const std::string& label = *agents.begin();
    const bool agreed = label == category;
    ++r.labelled;
    ++c.labelled;
    r.agreed += agreed;
    c.agreed += agreed;
    if (rung == "auto_reply") {
      ++c.auto_labelled;
      c.auto_agreed += agreed;
    }
    if (!agreed) ++confusions_[{category.empty() ? "(abstained)" : category, label}];
    if (!agreed && rung == "auto_reply") auto_reply_disagreements_.push_back({now->id, category, label});
  }
  if (!now->priority.empty()) {
    ++priority_set_;
    priority_agreed_ += now->priority == priority;
  }
  for (const Comment& comment : now->comments) {
    if (comment.author_role == AuthorRole::kAgent && comment.is_public && !comment.by_deskpilot) {
      ++r.agent_replied;
      break;
    }
  }
}

json ShadowReport::Json() const {
  json ladder = json::object();
  for (const auto& [rung, t] : by_rung_)
    ladder[rung] = {{"tickets", t.tickets},
                    {"labelled", t.labelled},
                    {"agreed", t.agreed},
                    {"agreement", Share(t.agreed, t.labelled)},
                    {"agent_replied", t.agent_replied}};
  int labelled = 0, agreed = 0;
  json by_category = json::array();
  std::vector<std::pair<double, json>> short_categories;
  for (const auto& [category, t] : by_category_) {
    labelled += t.labelled;
    agreed += t.agreed;
    by_category.push_back({{"category", category.empty() ? json(nullptr) : json(category)},
                           {"tickets", t.tickets},
                           {"auto_reply", t.auto_reply},
                           {"labelled", t.labelled},
                           {"agreed", t.agreed},
                           {"auto_reply_labelled", t.auto_labelled},
                           {"auto_reply_agreed", t.auto_agreed}});
    const Shortfall s = TestShortfall(static_cast<size_t>(t.auto_labelled),
                                      static_cast<size_t>(t.auto_labelled - t.auto_agreed), target_precision_);
    if (s.short_of_target && !category.empty()) {
      short_categories.emplace_back(s.p_value, json{{"category", category},
                                                    {"labelled", t.auto_labelled},
                                                    {"disagreed", t.auto_labelled - t.auto_agreed},
                                                    {"agreement", Share(t.auto_agreed, t.auto_labelled)},
                                                    {"p_value", s.p_value}});
    }
  }
  std::stable_sort(short_categories.begin(), short_categories.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  json short_json = json::array();
  for (auto& [p, row] : short_categories) short_json.push_back(std::move(row));
  std::vector<std::pair<std::pair<std::string, std::string>, int>> confusions(confusions_.begin(), confusions_.end());
  std::stable_sort(confusions.begin(), confusions.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  json top = json::array();
  for (size_t i = 0; i < confusions.size() && i < 10; ++i)
    top.push_back({{"predicted", confusions[i].first.first},
                   {"agents", confusions[i].first.second},
                   {"count", confusions[i].second}});
  json disagreements = json::array();
  for (const Disagreement& d : auto_reply_disagreements_)
    disagreements.push_back({{"ticket_id", d.ticket_id}, {"predicted", d.predicted}, {"agents", d.agents}});
  return {{"tickets", tickets_},
          {"unavailable", unavailable_},
          {"auto_reply_disagreements", std::move(disagreements)},
          {"ladder", ladder},
          {"category",
           {{"labelled", labelled}, {"agreed", agreed}, {"accuracy", Share(agreed, labelled)}, {"ambiguous", ambiguous_}}},
          {"priority", {{"set", priority_set_}, {"agreed", priority_agreed_}, {"accuracy", Share(priority_agreed_, priority_set_)}}},
          {"by_category", by_category},
          {"target_precision", target_precision_},
          {"auto_reply_short_categories", std::move(short_json)},
          {"confusions", top}};
}

std::string ShadowReport::Text() const {
  const json j = Json();
  std::ostringstream out;
  out << tickets_ << " ticket" << (tickets_ == 1 ? "" : "s") << " decided in shadow mode";
  if (unavailable_ > 0) out << " (" << unavailable_ << " could not be read from the help desk now)";
  out << "\n\nWhat automation would have done, and how often the agents' category agreed:\n";
  out << "  " << Pad("rung", 11) << Pad("tickets", 8) << Pad("share", 7) << Pad("category agreed", 24)
      << "agents replied\n";
  for (const char* rung : kRungOrder) {
    auto it = by_rung_.find(rung);
    if (it == by_rung_.end()) continue;
    const Tally& t = it->second;
    char share[16];
    std::snprintf(share, sizeof share, "%.1f%%", 100.0 * t.tickets / std::max(tickets_, 1));
    out << "  " << Pad(rung, 11) << Pad(std::to_string(t.tickets), 8) << Pad(share, 7)
        << Pad(Pct(t.agreed, t.labelled), 24) << t.agent_replied << "\n";
  }
  const json& cat = j["category"];
  out << "\nCategory: the agents' label is known for " << cat["labelled"].get<int>() << " ticket"
      << (cat["labelled"].get<int>() == 1 ? "" : "s") << "; deskpilot agreed on "
      << Pct(cat["agreed"].get<int>(), cat["labelled"].get<int>()) << "\n";
  if (ambiguous_ > 0) out << "  (" << ambiguous_ << " with more than one label tag not compared)\n";
  out << "Priority: set on " << priority_set_ << "; deskpilot agreed on " << Pct(priority_agreed_, priority_set_)
      << "\n";
  out << "\nBy predicted category:\n  " << Pad("category", 20) << Pad("tickets", 8) << Pad("auto_reply", 11)
      << Pad("agreed", 24) << "agreed at auto_reply\n";
  for (const json& row : j["by_category"]) {
    const std::string name = row["category"].is_null() ? "(abstained)" : row["category"].get<std::string>();
    out << "  " << Pad(OneLineText(name), 20) << Pad(std::to_string(row["tickets"].get<int>()), 8)
        << Pad(std::to_string(row["auto_reply"].get<int>()), 11)
        << Pad(Pct(row["agreed"].get<int>(), row["labelled"].get<int>()), 24)
        << Pct(row["auto_reply_agreed"].get<int>(), row["auto_reply_labelled"].get<int>()) << "\n";
  }
  if (!j["auto_reply_short_categories"].empty()) {
    char head[160];
    std::snprintf(head, sizeof head,
                  "\nCategories whose automatic replies the agents contradicted beyond chance for precision %.3f "
                  "(p < %.2f; keep them from auto_reply in [policy.categories]):\n",
                  target_precision_, kShortfallSignificance);
    out << head;
    for (const json& row : j["auto_reply_short_categories"]) {
      char p[32];
      std::snprintf(p, sizeof p, "%.4f", row["p_value"].get<double>());
      out << "  " << OneLineText(row["category"].get<std::string>()) << ": " << row["disagreed"].get<int>()
          << " of " << row["labelled"].get<int>() << " disagreed (p " << p << ")\n";
    }
  }
  if (!auto_reply_disagreements_.empty()) {
    out << "\nWould have replied automatically on a category the agents did not give (read these before "
           "turning auto-reply on): "
        << auto_reply_disagreements_.size() << "\n";
    for (size_t i = 0; i < auto_reply_disagreements_.size() && i < kDisagreementsShown; ++i) {
      const Disagreement& d = auto_reply_disagreements_[i];
      out << "  ticket " << OneLineText(d.ticket_id) << ": " << OneLineText(d.predicted) << " → "
          << OneLineText(d.agents) << "\n";
    }
    if (auto_reply_disagreements_.size() > kDisagreementsShown) out << "  (--json lists all of them)\n";
  }
  if (!j["confusions"].empty()) {
    out << "\nMost frequent disagreements (deskpilot → agents):\n";
    for (const json& c : j["confusions"])
      out << "  " << c["predicted"].get<std::string>() << " → " << c["agents"].get<std::string>() << ": "
          << c["count"].get<int>() << "\n";
  }
  return out.str();
}

}  // namespace deskpilot
