#include "deskpilot/config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "deskpilot/types.h"

namespace deskpilot {

struct ConfigSection::Node {
  nlohmann::json obj;
  std::string path;
  std::set<std::string> read;
  std::vector<std::string> errors;
  std::vector<std::shared_ptr<Node>> children;
};

namespace {

const char* JsonTypeName(const nlohmann::json& v) {
  if (v.is_object()) return "table";
  if (v.is_array()) return "array";
  if (v.is_string()) return "string";
  if (v.is_boolean()) return "boolean";
  if (v.is_number_integer()) return "integer";
  if (v.is_number_float()) return "float";
  return "null";
}

std::string Join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) {
    if (i > 0) out += sep;
    out += items[i];
  }
  return out;
}

}  // namespace

ConfigSection::ConfigSection(const nlohmann::json& obj, std::string path)
    : node_(std::make_shared<Node>()) {
  node_->path = std::move(path);
  if (obj.is_object()) {
    node_->obj = obj;
  } else {
    node_->obj = nlohmann::json::object();
    if (!obj.is_null())
      node_->errors.push_back(node_->path + ": expected a table, got " + JsonTypeName(obj));
  }
}

ConfigSection::ConfigSection(std::shared_ptr<Node> node) : node_(std::move(node)) {}

const std::string& ConfigSection::path() const { return node_->path; }

std::string ConfigSection::KeyPath(const std::string& key) const {
  if (node_->path.empty()) return key;
  if (key.empty()) return node_->path;
  return node_->path + "." + key;
}

void ConfigSection::AddError(const std::string& key, const std::string& message) {
  node_->errors.push_back(KeyPath(key) + ": " + message);
}

bool ConfigSection::Has(const std::string& key) const {
  auto it = node_->obj.find(key);
  return it != node_->obj.end() && !it->is_null();
}

std::vector<std::string> ConfigSection::Keys() const {
  std::vector<std::string> keys;
  for (const auto& [key, value] : node_->obj.items()) keys.push_back(key);
  return keys;
}

const nlohmann::json* ConfigSection::Raw(const std::string& key) {
  node_->read.insert(key);
  auto it = node_->obj.find(key);
  return it == node_->obj.end() ? nullptr : &*it;
}

std::string ConfigSection::String(const std::string& key, std::optional<std::string> fallback) {
  const nlohmann::json* v = Raw(key);
  if (v == nullptr || v->is_null()) {
    if (fallback) return *fallback;
    AddError(key, "missing required key");
    return {};
  }
  if (!v->is_string()) {
    AddError(key, std::string("expected a string, got ") + JsonTypeName(*v));
    return fallback.value_or("");
  }
  return v->get<std::string>();
}

int64_t ConfigSection::Int(const std::string& key, std::optional<int64_t> fallback, int64_t min,
                           int64_t max) {
  const nlohmann::json* v = Raw(key);
  if (v == nullptr || v->is_null()) {
    if (fallback) return *fallback;
    AddError(key, "missing required key");
    return 0;
  }
  if (!v->is_number_integer()) {
    AddError(key, std::string("expected an integer, got ") + JsonTypeName(*v));
    return fallback.value_or(0);
  }
  const int64_t value = v->get<int64_t>();
  if (value < min || value > max) {
    AddError(key, "must be between " + std::to_string(min) + " and " + std::to_string(max) +
                      ", got " + std::to_string(value));
    return fallback.value_or(value < min ? min : max);
  }
  return value;
}

double ConfigSection::Double(const std::string& key, std::optional<double> fallback) {
  const nlohmann::json* v = Raw(key);
  if (v == nullptr || v->is_null()) {
    if (fallback) return *fallback;
    AddError(key, "missing required key");
    return 0.0;
  }
  if (!v->is_number()) {
    AddError(key, std::string("expected a number, got ") + JsonTypeName(*v));
    return fallback.value_or(0.0);
  }
  const double value = v->get<double>();
  // TOML has nan and inf. No setting means either, and NaN defeats every range check
  // written "x < lo || x > hi" and every bar written "x < bar": a NaN threshold would
  // let everything through. Refused here, once, for every numeric key.
  if (!std::isfinite(value)) {
    AddError(key, "must be a finite number, got " + std::string(std::isnan(value) ? "nan" : "inf"));
    return fallback.value_or(0.0);
  }
  return value;
}

bool ConfigSection::Bool(const std::string& key, std::optional<bool> fallback) {
  const nlohmann::json* v = Raw(key);
  if (v == nullptr || v->is_null()) {
    if (fallback) return *fallback;
    AddError(key, "missing required key");
    return false;
  }
  if (!v->is_boolean()) {
    AddError(key, std::string("expected a boolean, got ") + JsonTypeName(*v));
    return fallback.value_or(false);
  }
  return v->get<bool>();
}

std::vector<std::string> ConfigSection::StringList(
    const std::string& key, std::optional<std::vector<std::string>> fallback) {
  const nlohmann::json* v = Raw(key);
  if (v == nullptr || v->is_null()) return fallback.value_or(std::vector<std::string>{});
  if (!v->is_array()) {
    AddError(key, std::string("expected an array of strings, got ") + JsonTypeName(*v));
    return fallback.value_or(std::vector<std::string>{});
  }
  std::vector<std::string> out;
  for (size_t i = 0; i < v->size(); ++i) {
    const auto& item = (*v)[i];
    if (!item.is_string()) {
      AddError(key + "[" + std::to_string(i) + "]",
               std::string("expected a string, got ") + JsonTypeName(item));
      continue;
    }
    out.push_back(item.get<std::string>());
  }
  return out;
}

std::string ConfigSection::Enum(const std::string& key, const std::vector<std::string>& allowed,
                                std::optional<std::string> fallback) {
  const size_t errors_before = node_->errors.size();
  std::string value = String(key, fallback);
  if (node_->errors.size() != errors_before) return value;
  for (const auto& a : allowed)
    if (a == value) return value;
  AddError(key, "must be one of " + Join(allowed, ", ") + ", got \"" + value + "\"");
  return fallback.value_or(allowed.empty() ? std::string() : allowed.front());
}

ConfigSection ConfigSection::Table(const std::string& key) {
  const nlohmann::json* v = Raw(key);
  auto child = std::make_shared<Node>();
  child->path = KeyPath(key);
  child->obj = nlohmann::json::object();
  if (v != nullptr && !v->is_null()) {
    if (v->is_object()) {
      child->obj = *v;
    } else {
      AddError(key, std::string("expected a table, got ") + JsonTypeName(*v));
    }
  }
  node_->children.push_back(child);
  return ConfigSection(std::move(child));
}

std::string ConfigSection::Secret(const std::string& base, bool required) {
  return ReadSecret(base, required, /*absent_ok=*/false);
}

std::string ConfigSection::SecretIfSet(const std::string& base) {
  return ReadSecret(base, /*required=*/false, /*absent_ok=*/true);
}

std::string ConfigSection::ReadSecret(const std::string& base, bool required, bool absent_ok) {
  const std::string env_key = base + "_env";
  const std::string file_key = base + "_file";
  if (Has(base)) {
    Raw(base);
    // The value itself is never echoed: it is a secret that ended up in the file.
    AddError(base, "secrets are never read from the config file; use " + env_key + " or " +
                       file_key);
    return {};
  }
  const bool has_env = Has(env_key);
  const bool has_file = Has(file_key);
  if (has_env && has_file) {
    Raw(env_key);
    Raw(file_key);
    AddError(base, "set only one of " + env_key + " and " + file_key);
    return {};
  }
  if (has_env) {
    const std::string var = String(env_key);
    if (var.empty()) {
      // A wrong type is already recorded; an empty name would silently mean "no secret".
      if (Raw(env_key)->is_string()) AddError(env_key, "must name an environment variable");
      return {};
    }
    const char* value = std::getenv(var.c_str());
    if (value == nullptr || *value == '\0') {
      if (!absent_ok) AddError(env_key, "environment variable " + var + " is not set or empty");
      return {};
    }
    return value;
  }
  if (has_file) {
    std::string name = String(file_key);
    if (name.empty()) {
      if (Raw(file_key)->is_string()) AddError(file_key, "must name a file");
      return {};
    }
    // systemd LoadCredential= puts credentials in $CREDENTIALS_DIRECTORY; elsewhere a
    // relative name is taken relative to the working directory.
    const char* cred_dir = std::getenv("CREDENTIALS_DIRECTORY");
    if (name.front() != '/' && cred_dir != nullptr && *cred_dir != '\0')
      name = std::string(cred_dir) + "/" + name;
    std::ifstream in(name, std::ios::binary);
    if (!in) {
      if (!(absent_ok && errno == ENOENT)) AddError(file_key, "cannot read " + name + ": " + std::strerror(errno));
      return {};
    }
    std::ostringstream buffer;
    buffer << in.rdbuf();
    std::string value = buffer.str();
    while (!value.empty() && (value.back() == '\n' || value.back() == '\r')) value.pop_back();
    if (value.empty() && !absent_ok) AddError(file_key, name + " is empty");
    return value;
  }
  if (required) AddError(base, "missing; set " + env_key + " or " + file_key);
  return {};
}

void ConfigSection::CollectErrors(const Node& node, std::vector<std::string>* out) {
  out->insert(out->end(), node.errors.begin(), node.errors.end());
  for (const auto& [key, value] : node.obj.items()) {
    if (node.read.count(key) == 0)
      out->push_back((node.path.empty() ? key : node.path + "." + key) + ": unknown key");
  }
  for (const auto& child : node.children) CollectErrors(*child, out);
}

Status ConfigSection::Finish() {
  std::vector<std::string> errors;
  CollectErrors(*node_, &errors);
  if (errors.empty()) return Status::Ok();
  return Status::InvalidArgument(Join(errors, "\n"));
}

// ---------------------------------------------------------------- TOML → JSON

namespace {

nlohmann::json NodeToJson(const toml::node& node) {
  if (const auto* table = node.as_table()) {
    nlohmann::json obj = nlohmann::json::object();
    for (const auto& [key, value] : *table) obj[std::string(key.str())] = NodeToJson(value);
    return obj;
  }
  if (const auto* array = node.as_array()) {
    nlohmann::json arr = nlohmann::json::array();
    for (const auto& item : *array) arr.push_back(NodeToJson(item));
    return arr;
  }
  if (const auto* v = node.as_string()) return v->get();
  if (const auto* v = node.as_integer()) return v->get();
  if (const auto* v = node.as_floating_point()) return v->get();
  if (const auto* v = node.as_boolean()) return v->get();
  // Dates and times have no JSON type; their TOML spelling is ISO 8601 already.
  std::ostringstream out;
  if (const auto* v = node.as_date()) out << v->get();
  if (const auto* v = node.as_time()) out << v->get();
  if (const auto* v = node.as_date_time()) out << v->get();
  return out.str();
}

// "127.0.0.1:8080", "[::1]:8080" or "localhost:0".
bool ParseListen(const std::string& listen, std::string* host, int* port) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size()) return false;
  std::string h = listen.substr(0, colon);
  if (h.front() == '[') {
    if (h.size() < 3 || h.back() != ']') return false;
    h = h.substr(1, h.size() - 2);
  } else if (h.find(':') != std::string::npos) {
    return false;  // a bare IPv6 address is ambiguous without brackets
  }
  const std::string p = listen.substr(colon + 1);
  if (p.size() > 5 || p.find_first_not_of("0123456789") != std::string::npos) return false;
  const int value = std::stoi(p);
  if (value > 65535) return false;
  *host = h;
  *port = value;
  return true;
}

bool ValidHelpdeskName(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  return true;
}

const std::vector<std::string> kRungs = {"shadow", "assist", "approve", "auto_reply", "escalate"};

// Adapter sections keep every key: the adapter chosen by `type` validates the rest.
AdapterConfig ReadAdapter(ConfigSection& root, const std::string& key,
                          std::optional<std::string> default_type) {
  AdapterConfig a;
  a.path = key;
  a.present = root.Has(key);
  a.section = nlohmann::json::object();
  ConfigSection section = root.Table(key);
  if (!a.present) {
    a.type = default_type.value_or("");
    return a;
  }
  a.type = section.String("type", default_type);
  const nlohmann::json* raw = root.Raw(key);
  if (raw->is_object()) a.section = *raw;
  for (const auto& k : section.Keys()) section.Raw(k);
  return a;
}

void ReadPolicy(ConfigSection& root, PolicyConfig* p) {
  ConfigSection s = root.Table("policy");
  p->mode = s.Enum("mode", {"shadow", "assist", "auto"}, p->mode);
  p->default_rung = s.Enum("default_rung", kRungs, p->default_rung);
  ConfigSection categories = s.Table("categories");
  for (const auto& k : categories.Keys()) p->categories[k] = categories.Enum(k, kRungs);
  p->sensitive_categories = s.StringList("sensitive_categories", p->sensitive_categories);
  p->min_confidence = s.Double("min_confidence", p->min_confidence);
  // Written so that anything not provably in range (NaN included) is an error.
  if (!(p->min_confidence >= 0.0 && p->min_confidence <= 1.0))
    s.AddError("min_confidence", "must be between 0 and 1");
  // Keys are dimension names; they are checked against the classifier's dimensions once
  // it is built (ValidatePolicyNames, service/policy.h).
  ConfigSection thresholds = s.Table("thresholds");
  for (const auto& k : thresholds.Keys()) {
    const double t = thresholds.Double(k);
    if (!(t >= 0.0 && t <= 1.0)) thresholds.AddError(k, "must be between 0 and 1");
    p->thresholds[k] = t;
  }
  p->max_auto_turns = static_cast<int>(s.Int("max_auto_turns", p->max_auto_turns, 0, 1000));
  p->marker_tag = s.String("marker_tag", p->marker_tag);
  p->approval_tag = s.String("approval_tag", p->approval_tag);
  p->escalate_flags = s.StringList("escalate_flags", p->escalate_flags);
  // A flag deskpilot never raises would silently switch an escalation off ("legal-threat").
  for (size_t i = 0; i < p->escalate_flags.size(); ++i) {
    const std::string& flag = p->escalate_flags[i];
    if (std::find(kTriageFlags.begin(), kTriageFlags.end(), flag) == kTriageFlags.end()) {
      std::vector<std::string> known(kTriageFlags.begin(), kTriageFlags.end());
      s.AddError("escalate_flags[" + std::to_string(i) + "]",
                 "unknown flag \"" + flag + "\"; known flags: " + Join(known, ", "));
    }
  }
  p->escalation_group = s.String("escalation_group", p->escalation_group);
  ConfigSection routing = s.Table("routing");
  for (const auto& k : routing.Keys()) p->routing[k] = routing.String(k);
  p->custom_field = s.String("custom_field", p->custom_field);
  p->internal_notes_to_models = s.Bool("internal_notes_to_models", p->internal_notes_to_models);
}

}  // namespace

std::string HostPort(const std::string& host, int port) {
  const std::string p = std::to_string(port);
  return host.find(':') == std::string::npos ? host + ":" + p : "[" + host + "]:" + p;
}

Result<nlohmann::json> TomlToJson(const std::string& toml_text, const std::string& file_name) {
  try {
    toml::table table = toml::parse(toml_text, file_name);
    return NodeToJson(table);
  } catch (const toml::parse_error& e) {
    const auto& where = e.source().begin;
    return Status::InvalidArgument(file_name + ":" + std::to_string(where.line) + ":" +
                                   std::to_string(where.column) + ": " +
                                   std::string(e.description()));
  }
}

Result<Config> ParseConfig(const std::string& toml_text, const std::string& file_name,
                           std::optional<Config>* as_read) {
  DP_ASSIGN_OR_RETURN(nlohmann::json tree, TomlToJson(toml_text, file_name));
  Config c;
  c.file = file_name;
  ConfigSection root(tree, "");
  // [[helpdesk]] entries are array items, not child tables of root; their errors are
  // gathered here and reported together with root's.
  std::vector<std::string> errors;

  {
    ConfigSection s = root.Table("server");
    const std::string listen = s.String("listen", "127.0.0.1:8080");
    if (!ParseListen(listen, &c.server.host, &c.server.port))
      s.AddError("listen", "expected \"host:port\" with port 0-65535, got \"" + listen + "\"");
    // At most 64 MiB: a webhook is a small JSON event, each request's body is held in memory
    // while it is read, and a body over SQLite's maximum string length (1e9 bytes) would fail
    // the whole group commit it is in, taking its batch-mates' acks with it.
    c.server.max_body_bytes = s.Int("max_body_bytes", c.server.max_body_bytes, 1024, 64LL << 20);
    c.server.threads = static_cast<int>(s.Int("threads", c.server.threads, 1, 1024));
    c.server.request_timeout_seconds =
        static_cast<int>(s.Int("request_timeout_seconds", c.server.request_timeout_seconds, 1, 3600));
  }
  {
    ConfigSection s = root.Table("storage");
    c.storage.path = s.String("path");
    if (s.Has("path") && c.storage.path.empty()) s.AddError("path", "must not be empty");
    c.storage.retention_days =
        static_cast<int>(s.Int("retention_days", c.storage.retention_days, 0, 3650));
  }
  {
    ConfigSection s = root.Table("workers");
    c.workers.threads = static_cast<int>(s.Int("threads", c.workers.threads, 1, 256));
    c.workers.lease_seconds =
        static_cast<int>(s.Int("lease_seconds", c.workers.lease_seconds, 1, 86400));
    c.workers.max_attempts =
        static_cast<int>(s.Int("max_attempts", c.workers.max_attempts, 1, 1000));
    c.workers.poll_ms = static_cast<int>(s.Int("poll_ms", c.workers.poll_ms, 1, 60000));
    c.workers.breaker_failures =
        static_cast<int>(s.Int("breaker_failures", c.workers.breaker_failures, 1, 1000));
    c.workers.breaker_open_seconds =
        static_cast<int>(s.Int("breaker_open_seconds", c.workers.breaker_open_seconds, 1, 3600));
  }

  if (const nlohmann::json* helpdesks = root.Raw("helpdesk");
      helpdesks != nullptr && !helpdesks->is_null()) {
    if (!helpdesks->is_array()) {
      root.AddError("helpdesk", "expected an array of tables ([[helpdesk]])");
    } else {
      std::set<std::string> names;
      for (size_t i = 0; i < helpdesks->size(); ++i) {
        const std::string path = "helpdesk[" + std::to_string(i) + "]";
        const nlohmann::json& item = (*helpdesks)[i];
        if (!item.is_object()) {
          errors.push_back(path + ": expected a table");
          continue;
        }
        ConfigSection s(item, path);
        HelpdeskConfig h;
        h.path = path;
        h.section = item;
        h.name = s.String("name");
        h.type = s.String("type");
        if (!h.name.empty() && !ValidHelpdeskName(h.name))
          s.AddError("name", "must match [a-z0-9_-]+ (it becomes the URL /webhooks/<name>)");
        if (!h.name.empty() && !names.insert(h.name).second)
          s.AddError("name", "duplicate helpdesk name \"" + h.name + "\"");
        // The adapter validates its own keys later; only name/type problems count here.
        for (const auto& k : s.Keys()) s.Raw(k);
        Status st = s.Finish();
        if (!st.ok()) errors.push_back(st.message());
        c.helpdesks.push_back(std::move(h));
      }
    }
  }

  ReadPolicy(root, &c.policy);
  c.classifier = ReadAdapter(root, "classifier", "embedded");
  c.retriever = ReadAdapter(root, "retriever", "fts5");
  c.drafter = ReadAdapter(root, "drafter", "extractive");
  c.llm = ReadAdapter(root, "llm", std::nullopt);

  {
    ConfigSection s = root.Table("logging");
    c.log_level = s.Enum("level", {"trace", "debug", "info", "warn", "error"}, c.log_level);
  }
  {
    ConfigSection s = root.Table("admin");
    c.admin_token = s.Secret("token", false);
    // The token is the admin API's only lock, and it faces the network: a short one falls to
    // guessing. 32 characters is 16 random bytes as hex (`openssl rand -hex 16`). The message
    // gives the length, never the token.
    if (!c.admin_token.empty() && c.admin_token.size() < kMinAdminTokenChars)
      s.AddError(s.Has("token_env") ? "token_env" : "token_file",
                 "the admin token is " + std::to_string(c.admin_token.size()) + " characters long; at least " +
                     std::to_string(kMinAdminTokenChars) + " are required (e.g. `openssl rand -hex 32`)");
  }

  Status status = root.Finish();
  if (!status.ok()) errors.push_back(status.message());
  if (as_read != nullptr) *as_read = c;
  if (!errors.empty())
    return Status::InvalidArgument(file_name + ": invalid config:\n" + Join(errors, "\n"));
  return c;
}

Result<Config> LoadConfig(const std::string& file, std::optional<Config>* as_read) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return Status::InvalidArgument("cannot read config " + file + ": " + std::strerror(errno));
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return ParseConfig(buffer.str(), file, as_read);
}

}  // namespace deskpilot
