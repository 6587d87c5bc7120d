#include "deskpilot/prompts.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace deskpilot {
namespace {

constexpr std::string_view kVariablesHeader = "variables:";

bool ValidName(std::string_view s) {
  if (s.empty()) return false;
  if (!((s[0] >= 'a' && s[0] <= 'z') || s[0] == '_')) return false;
  return std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

// One placeholder occurrence: where it starts, how long "{{name}}" is, and the name.
struct Placeholder {
  size_t pos = 0;
  size_t len = 0;
  std::string name;
};

// Finds every {{name}} in `body`. An unclosed "{{" or a bad name is an error rather than
// literal text, so a typo in a template fails at start instead of reaching a model.
Result<std::vector<Placeholder>> ScanPlaceholders(const std::string& body) {
  std::vector<Placeholder> out;
  size_t at = 0;
  while ((at = body.find("{{", at)) != std::string::npos) {
    const size_t close = body.find("}}", at + 2);
    if (close == std::string::npos)
      return Status::InvalidArgument("unclosed \"{{\" at offset " + std::to_string(at));
    std::string name(Trim(std::string_view(body).substr(at + 2, close - at - 2)));
    if (!ValidName(name))
      return Status::InvalidArgument("bad placeholder \"" + body.substr(at, close + 2 - at) +
                                     "\" (names are [a-z_][a-z0-9_]*)");
    out.push_back({at, close + 2 - at, std::move(name)});
    at = close + 2;
  }
  return out;
}

}  // namespace

Result<std::string> PromptTemplate::Render(const std::map<std::string, std::string>& vars) const {
  for (const auto& v : variables)
    if (vars.count(v) == 0) return Status::InvalidArgument(id + ": missing variable \"" + v + "\"");
  for (const auto& [k, value] : vars)
    if (std::find(variables.begin(), variables.end(), k) == variables.end())
      return Status::InvalidArgument(id + ": undeclared variable \"" + k + "\"");
  DP_ASSIGN_OR_RETURN(std::vector<Placeholder> placeholders, ScanPlaceholders(body));
  // Single pass over the template: values are copied verbatim and never scanned again,
  // so ticket text containing "{{labels}}" stays literal text.
  std::string out;
  size_t copied = 0;
  for (const auto& p : placeholders) {
    out.append(body, copied, p.pos - copied);
    out += vars.at(p.name);
    copied = p.pos + p.len;
  }
  out.append(body, copied, std::string::npos);
  return out;
}

Result<PromptTemplate> PromptLibrary::Parse(const std::string& file_name, const std::string& text) {
  auto fail = [&](const std::string& m) { return Status::InvalidArgument(file_name + ": " + m); };
  // <purpose>.v<N>.txt
  const std::string suffix = ".txt";
  if (file_name.size() <= suffix.size() ||
      file_name.compare(file_name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return fail("name must be <purpose>.v<N>.txt");
  const std::string stem = file_name.substr(0, file_name.size() - suffix.size());
  const size_t dot = stem.rfind(".v");
  if (dot == std::string::npos || dot == 0) return fail("name must be <purpose>.v<N>.txt");
  PromptTemplate t;
  t.purpose = stem.substr(0, dot);
  const std::string digits = stem.substr(dot + 2);
  if (!ValidName(t.purpose)) return fail("purpose \"" + t.purpose + "\" must match [a-z_][a-z0-9_]*");
  if (digits.empty() || digits.size() > 6 || digits.front() == '0' ||
      digits.find_first_not_of("0123456789") != std::string::npos)
    return fail("version must be a positive integer without leading zeros");
  t.version = std::stoi(digits);
  t.id = t.purpose + ".v" + digits;

  std::istringstream in(text);
  std::string line;
  size_t offset = 0;
  bool declared = false;
  while (std::getline(in, line)) {
    std::string_view l = line;
    if (l.empty() || l.front() != '#') break;
    offset += line.size() + 1;
    std::string_view rest = Trim(l.substr(1));
    if (rest.substr(0, kVariablesHeader.size()) != kVariablesHeader) continue;
    if (declared) return fail("more than one \"# variables:\" line");
    declared = true;
    std::string_view list = rest.substr(kVariablesHeader.size());
    while (!Trim(list).empty()) {
      const size_t comma = list.find(',');
      std::string name(Trim(list.substr(0, comma)));
      if (!ValidName(name)) return fail("bad variable name \"" + name + "\" in the header");
      if (std::find(t.variables.begin(), t.variables.end(), name) != t.variables.end())
        return fail("variable \"" + name + "\" declared twice");
      t.variables.push_back(std::move(name));
      if (comma == std::string_view::npos) break;
      list.remove_prefix(comma + 1);
    }
  }
  if (!declared) return fail("header has no \"# variables: ...\" line");
  t.body = offset < text.size() ? text.substr(offset) : std::string();
  // The blank line that separates header from body is layout, not prompt.
  const size_t first = t.body.find_first_not_of("\r\n");
  t.body = first == std::string::npos ? std::string() : t.body.substr(first);
  if (t.body.find_first_not_of(" \t\r\n") == std::string::npos) return fail("template body is empty");

  auto placeholders = ScanPlaceholders(t.body);
  if (!placeholders.ok()) return fail(placeholders.status().message());
  std::set<std::string> used;
  for (const auto& p : *placeholders) {
    if (std::find(t.variables.begin(), t.variables.end(), p.name) == t.variables.end())
      return fail("{{" + p.name + "}} is used but not declared in \"# variables:\"");
    used.insert(p.name);
  }
  for (const auto& v : t.variables)
    if (used.count(v) == 0) return fail("variable \"" + v + "\" is declared but never used");
  return t;
}

Result<PromptLibrary> PromptLibrary::LoadDir(const std::string& dir) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return Status::InvalidArgument(dir + ": not a directory of prompt templates");
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(dir, ec))
    if (entry.is_regular_file() && entry.path().extension() == ".txt") files.push_back(entry.path());
  if (ec) return Status::InvalidArgument(dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  PromptLibrary library;
  for (const auto& path : files) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::InvalidArgument(path.string() + ": cannot read");
    std::ostringstream text;
    text << in.rdbuf();
    auto parsed = Parse(path.filename().string(), text.str());
    if (!parsed.ok()) return parsed.status().WithContext(dir);
    library.Add(std::move(parsed).value());
  }
  return library;
}

void PromptLibrary::Add(PromptTemplate t) {
  const int version = t.version;
  by_purpose_[t.purpose][version] = std::move(t);
}

Result<const PromptTemplate*> PromptLibrary::Get(const std::string& purpose, int version) const {
  auto it = by_purpose_.find(purpose);
  if (it == by_purpose_.end() || it->second.empty())
    return Status::NotFound("no prompt template for \"" + purpose + "\"");
  if (version <= 0) return &it->second.rbegin()->second;
  auto v = it->second.find(version);
  if (v == it->second.end())
    return Status::NotFound("no prompt template " + purpose + ".v" + std::to_string(version));
  return &v->second;
}

std::vector<std::string> PromptLibrary::Ids() const {
  std::vector<std::string> ids;
  for (const auto& [purpose, versions] : by_purpose_)
    for (const auto& [v, t] : versions) ids.push_back(t.id);
  return ids;
}

}  // namespace deskpilot
