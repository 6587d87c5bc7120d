// Configuration: one TOML file, parsed with toml++ into a JSON tree, then validated
// strictly. Every error names the key's path ("helpdesk[0].webhook_secret_env: ...").
// Adapters get their own section as a ConfigSection and declare the keys they read;
// whatever is left over is an unknown key and an error.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "deskpilot/status.h"

namespace deskpilot {

// A typed, path-aware reader over one JSON object. Getters record errors instead of
// throwing; Finish() adds "unknown key" errors and returns them all at once.
class ConfigSection {
 public:
  ConfigSection(const nlohmann::json& obj, std::string path);

  std::string String(const std::string& key, std::optional<std::string> fallback = std::nullopt);
  int64_t Int(const std::string& key, std::optional<int64_t> fallback = std::nullopt,
              int64_t min = INT64_MIN, int64_t max = INT64_MAX);
  double Double(const std::string& key, std::optional<double> fallback = std::nullopt);
  bool Bool(const std::string& key, std::optional<bool> fallback = std::nullopt);
  // With no fallback, a missing list reads as empty (not as a missing required key).
  std::vector<std::string> StringList(const std::string& key,
                                      std::optional<std::vector<std::string>> fallback = {});
  // A string that must be one of `allowed`.
  std::string Enum(const std::string& key, const std::vector<std::string>& allowed,
                   std::optional<std::string> fallback = std::nullopt);
  bool Has(const std::string& key) const;
  // A nested table (missing → empty table). Its errors are merged into this one's.
  ConfigSection Table(const std::string& key);
  // The raw value for callers that accept several shapes (marks the key as read).
  const nlohmann::json* Raw(const std::string& key);
  std::vector<std::string> Keys() const;

  // Reads a secret named by "<base>_env" (an environment variable) or "<base>_file"
  // (a file; relative names resolve against $CREDENTIALS_DIRECTORY when set, else the
  // working directory; trailing newlines are trimmed). Secrets never live in the
  // config file itself: a plain "<base>" key is an error, and so is setting both forms.
  // An empty variable or file name is an error (it would silently mean "no secret").
  std::string Secret(const std::string& base, bool required);
  // Like Secret(base, false), but a named variable that is unset or empty, or a named file
  // that does not exist or is empty, reads as "" without an error: for a caller that can
  // run before the secret exists (`webhook register` creates the webhook signing secret).
  std::string SecretIfSet(const std::string& base);

  void AddError(const std::string& key, const std::string& message);
  const std::string& path() const;
  // Collects unknown-key errors; returns InvalidArgument listing every problem.
  Status Finish();

 private:
  // Shared between a section and the tables it hands out, so a child returned by value
  // (and possibly destroyed before the parent's Finish) still reports its errors and
  // unknown keys there. Holds a copy of the JSON, so no caller-owned tree must outlive it.
  struct Node;
  explicit ConfigSection(std::shared_ptr<Node> node);
  std::string KeyPath(const std::string& key) const;
  std::string ReadSecret(const std::string& base, bool required, bool absent_ok);
  static void CollectErrors(const Node& node, std::vector<std::string>* out);
  std::shared_ptr<Node> node_;
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8080;                       // 0 picks a free port (logged and printed)
  int64_t max_body_bytes = 1 << 20;      // 413 above this
  int threads = 64;                      // HTTP threads: one per keep-alive connection served
  // A request's head and body must arrive within this (slow clients are cut off).
  int request_timeout_seconds = 15;
};

// "host:port" as `listen` writes it: an IPv6 address in brackets ("[::1]:8080").
std::string HostPort(const std::string& host, int port);

struct StorageConfig {
  std::string path = "deskpilot.db";
  // Done and skipped jobs' webhook bodies and cache entries older than this are dropped
  // by `serve` (hourly). 0 keeps everything forever.
  int retention_days = 30;
};

struct WorkerConfig {
  int threads = 2;
  int lease_seconds = 60;
  int max_attempts = 8;
  int poll_ms = 200;
  // Per help desk circuit breaker: opens after this many consecutive transient failures,
  // then lets one probe through every breaker_open_seconds.
  int breaker_failures = 5;
  int breaker_open_seconds = 30;
};

struct HelpdeskConfig {
  std::string name;  // webhooks arrive at /webhooks/<name>
  std::string type;  // registry key
  nlohmann::json section;  // the whole [[helpdesk]] table; the adapter validates its keys
  std::string path;        // "helpdesk[0]" for error messages
};

struct AdapterConfig {
  std::string type;
  nlohmann::json section;  // the whole table (empty object when absent)
  std::string path;
  bool present = false;
};

struct PolicyConfig {
  std::string mode = "assist";  // global ceiling: shadow | assist | auto
  std::string default_rung = "assist";
  std::map<std::string, std::string> categories;  // category → rung
  // Categories touching money, access or legal standing: at most `approve`.
  std::vector<std::string> sensitive_categories;
  double min_confidence = 0.85;  // per-dimension threshold for auto_reply (when no model threshold)
  std::map<std::string, double> thresholds;  // dimension → threshold override
  int max_auto_turns = 3;
  std::string marker_tag = "deskpilot";
  std::string approval_tag = "deskpilot_approved";
  std::vector<std::string> escalate_flags = {"legal_threat", "security_incident"};
  std::string escalation_group = "escalations";
  std::map<std::string, std::string> routing;  // category → group/team
  std::string custom_field;  // when set, the category is written to this custom field
  // Agents' internal (private) notes reach the classifier and drafter, and so any model,
  // only when true: a model can paraphrase what it read into a public reply, and notes
  // hold what the customer must not see ("on fraud watch", "do not refund again").
  bool internal_notes_to_models = false;
};

struct Config {
  std::string file;  // where it was loaded from
  ServerConfig server;
  StorageConfig storage;
  WorkerConfig workers;
  std::vector<HelpdeskConfig> helpdesks;
  PolicyConfig policy;
  AdapterConfig classifier;  // type defaults to "embedded"
  AdapterConfig retriever;   // "fts5"
  AdapterConfig drafter;     // "extractive"
  AdapterConfig llm;         // present only when configured
  std::string log_level = "info";
  std::string admin_token;   // from [admin] token_env / token_file; empty disables /api/v1
};

// The shortest admin token accepted: 16 random bytes written as hex.
inline constexpr size_t kMinAdminTokenChars = 32;

// Parses and validates. On error: InvalidArgument whose message lists "path: problem"
// lines. Adapter sections are validated later by the adapters themselves. When the text is
// TOML, `as_read` (if given) receives the config even when validation fails, a bad value
// left at its default: for `check-config`, to validate the adapter sections in the same run.
Result<Config> LoadConfig(const std::string& file, std::optional<Config>* as_read = nullptr);
Result<Config> ParseConfig(const std::string& toml_text, const std::string& file_name,
                           std::optional<Config>* as_read = nullptr);

// Converts TOML text to the JSON tree the validators work on (exposed for tests).
Result<nlohmann::json> TomlToJson(const std::string& toml_text, const std::string& file_name);

}  // namespace deskpilot
