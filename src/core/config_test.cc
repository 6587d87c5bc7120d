#include "deskpilot/config.h"

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "deskpilot/types.h"

namespace deskpilot {
namespace {

namespace fs = std::filesystem;

const char kMinimal[] = "[storage]\npath = \"/tmp/x.db\"\n";

std::string ErrorOf(const std::string& toml) {
  auto c = ParseConfig(toml, "test.toml");
  EXPECT_FALSE(c.ok()) << toml;
  if (c.ok()) return "";
  EXPECT_EQ(c.status().code(), Code::kInvalidArgument);
  return c.status().message();
}

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

// A unique scratch directory under /tmp, removed with the test.
class TempDir {
 public:
  TempDir() {
    path_ = fs::path("/tmp") / ("deskpilot_core_config_test_" + std::to_string(getpid()) + "_" +
                                std::to_string(counter_++));
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string Write(const std::string& name, const std::string& content) const {
    std::ofstream(path_ / name) << content;
    return (path_ / name).string();
  }
  const fs::path& path() const { return path_; }

 private:
  static inline int counter_ = 0;
  fs::path path_;
};

TEST(ConfigTest, ExampleConfigParses) {
  const std::string file = std::string(DESKPILOT_TEST_SAMPLE_DIR) + "/../deskpilot.example.toml";
  auto c = LoadConfig(file);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server.host, "127.0.0.1");
  EXPECT_EQ(c->server.port, 8080);
  EXPECT_EQ(c->storage.path, "/var/lib/deskpilot/deskpilot.db");
  EXPECT_EQ(c->storage.retention_days, 30);
  ASSERT_EQ(c->helpdesks.size(), 1u);
  EXPECT_EQ(c->helpdesks[0].name, "sandbox");
  EXPECT_EQ(c->helpdesks[0].type, "sandbox");
  EXPECT_EQ(c->helpdesks[0].section["api_token_env"], "DESKPILOT_SANDBOX_TOKEN");
  EXPECT_EQ(c->policy.categories.at("refund"), "approve");
  EXPECT_DOUBLE_EQ(c->policy.thresholds.at("category"), 0.9);
  EXPECT_EQ(c->policy.routing.at("refund"), "billing");
  EXPECT_TRUE(c->admin_token.empty());
  EXPECT_EQ(c->classifier.type, "embedded");
  EXPECT_FALSE(c->classifier.present);
  EXPECT_FALSE(c->llm.present);
}

TEST(ConfigTest, MinimalConfigGetsDefaults) {
  auto c = ParseConfig(kMinimal, "min.toml");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->file, "min.toml");
  EXPECT_EQ(c->server.host, "127.0.0.1");
  EXPECT_EQ(c->server.port, 8080);
  EXPECT_EQ(c->server.max_body_bytes, 1048576);
  EXPECT_EQ(c->server.threads, 64);
  EXPECT_EQ(c->workers.threads, 2);
  EXPECT_EQ(c->workers.lease_seconds, 60);
  EXPECT_EQ(c->workers.max_attempts, 8);
  EXPECT_EQ(c->workers.poll_ms, 200);
  EXPECT_EQ(c->storage.retention_days, 30);
  EXPECT_EQ(c->policy.mode, "assist");
  EXPECT_EQ(c->policy.max_auto_turns, 3);
  EXPECT_FALSE(c->policy.internal_notes_to_models);
  EXPECT_EQ(c->policy.escalate_flags,
            (std::vector<std::string>{"legal_threat", "security_incident"}));
  EXPECT_EQ(c->retriever.type, "fts5");
  EXPECT_EQ(c->drafter.type, "extractive");
  EXPECT_EQ(c->log_level, "info");
  EXPECT_TRUE(c->admin_token.empty());
  EXPECT_TRUE(c->helpdesks.empty());
}

TEST(ConfigTest, InternalNotesToModelsIsABoolean) {
  auto on = ParseConfig(std::string(kMinimal) + "[policy]\ninternal_notes_to_models = true\n", "t");
  ASSERT_TRUE(on.ok()) << on.status().ToString();
  EXPECT_TRUE(on->policy.internal_notes_to_models);
  auto bad = ParseConfig(std::string(kMinimal) + "[policy]\ninternal_notes_to_models = \"yes\"\n", "t");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("policy.internal_notes_to_models"), std::string::npos)
      << bad.status().ToString();
}

TEST(ConfigTest, ListenForms) {
  auto c = ParseConfig(std::string(kMinimal) + "[server]\nlisten = \"[::1]:0\"\n", "t");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->server.host, "::1");
  EXPECT_EQ(c->server.port, 0);
  for (const char* bad : {"localhost", "host:99999", ":80", "host:", "host:8o", "::1:80"}) {
    std::string msg = ErrorOf(std::string(kMinimal) + "[server]\nlisten = \"" + bad + "\"\n");
    EXPECT_TRUE(Contains(msg, "server.listen: expected \"host:port\"")) << bad << ": " << msg;
  }
}

TEST(ConfigTest, HostPortBracketsIPv6) {
  EXPECT_EQ(HostPort("127.0.0.1", 8080), "127.0.0.1:8080");
  EXPECT_EQ(HostPort("localhost", 0), "localhost:0");
  EXPECT_EQ(HostPort("::1", 8080), "[::1]:8080");
  EXPECT_EQ(HostPort("fe80::1%eth0", 80), "[fe80::1%eth0]:80");
}

TEST(ConfigTest, UnknownKeysNameTheirPath) {
  std::string msg = ErrorOf("bogus = 1\n" + std::string(kMinimal) +
                            "[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n"
                            "[policy.thresholds]\ncategory = 0.5\n[policy]\nmood = \"happy\"\n"
                            "[nonsense]\nx = 1\n");
  EXPECT_TRUE(Contains(msg, "\nbogus: unknown key")) << msg;
  EXPECT_TRUE(Contains(msg, "\nserver.lisen: unknown key")) << msg;
  EXPECT_TRUE(Contains(msg, "\npolicy.mood: unknown key")) << msg;
  EXPECT_TRUE(Contains(msg, "\nnonsense: unknown key")) << msg;
  EXPECT_FALSE(Contains(msg, "thresholds")) << msg;
}

TEST(ConfigTest, WrongTypesAndRanges) {
  std::string msg = ErrorOf(std::string(kMinimal) +
                            "[server]\nthreads = \"many\"\nmax_body_bytes = 1073741824\n[workers]\npoll_ms = 0\n"
                            "[policy]\nmin_confidence = 1.5\nmode = \"yolo\"\n"
                            "sensitive_categories = \"billing\"\n"
                            "[policy.categories]\nbilling = \"maybe\"\n"
                            "[logging]\nlevel = 3\n");
  EXPECT_TRUE(Contains(msg, "server.threads: expected an integer, got string")) << msg;
  EXPECT_TRUE(Contains(msg, "server.max_body_bytes: must be between 1024 and 67108864")) << msg;
  EXPECT_TRUE(Contains(msg, "workers.poll_ms: must be between 1 and 60000")) << msg;
  EXPECT_TRUE(Contains(msg, "policy.min_confidence: must be between 0 and 1")) << msg;
  EXPECT_TRUE(Contains(msg, "policy.mode: must be one of shadow, assist, auto")) << msg;
  EXPECT_TRUE(Contains(msg, "policy.sensitive_categories: expected an array")) << msg;
  EXPECT_TRUE(Contains(msg, "policy.categories.billing: must be one of")) << msg;
  EXPECT_TRUE(Contains(msg, "logging.level: expected a string, got integer")) << msg;
}

// Audit finding 10: TOML's nan and inf pass every "x < lo || x > hi" check.
TEST(ConfigTest, NonFiniteNumbersAreRefused) {
  std::string msg = ErrorOf(std::string(kMinimal) +
                            "[policy]\nmin_confidence = nan\n[policy.thresholds]\ncategory = nan\nsentiment = +inf\n");
  EXPECT_TRUE(Contains(msg, "policy.min_confidence: must be a finite number, got nan")) << msg;
  EXPECT_TRUE(Contains(msg, "policy.thresholds.category: must be a finite number, got nan")) << msg;
  EXPECT_TRUE(Contains(msg, "policy.thresholds.sentiment: must be a finite number, got inf")) << msg;
  EXPECT_EQ(std::count(msg.begin(), msg.end(), '\n'), 3) << msg;  // a heading, then one problem each
  // Every numeric key goes through the same reader, adapters' included.
  auto j = TomlToJson("min_relevance = nan\nmin_similarity = -inf\nok = 0.5\n", "t").value();
  ConfigSection s(j, "retriever");
  EXPECT_DOUBLE_EQ(s.Double("min_relevance", 0.05), 0.05);
  EXPECT_DOUBLE_EQ(s.Double("min_similarity", 0.2), 0.2);
  EXPECT_DOUBLE_EQ(s.Double("ok"), 0.5);
  Status st = s.Finish();
  EXPECT_TRUE(Contains(st.message(), "retriever.min_relevance: must be a finite number, got nan")) << st.message();
  EXPECT_TRUE(Contains(st.message(), "retriever.min_similarity: must be a finite number, got inf")) << st.message();
}

// Audit finding 9: a flag deskpilot never raises would silently switch an escalation off.
TEST(ConfigTest, EscalateFlagsMustBeFlagsDeskpilotRaises) {
  std::string msg = ErrorOf(std::string(kMinimal) + "[policy]\nescalate_flags = [\"legal_threat\", \"legal-threat\"]\n");
  EXPECT_TRUE(Contains(msg, "policy.escalate_flags[1]: unknown flag \"legal-threat\"; known flags: asked_for_human, "
                            "legal_threat, security_incident, churn_risk, classifier_error, drafter_error"))
      << msg;
  std::string all;
  for (std::string_view f : kTriageFlags) all += std::string(all.empty() ? "" : ", ") + "\"" + std::string(f) + "\"";
  auto c = ParseConfig(std::string(kMinimal) + "[policy]\nescalate_flags = [" + all + "]\n", "t");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->policy.escalate_flags.size(), kTriageFlags.size());
}

TEST(ConfigTest, MissingStoragePath) {
  EXPECT_TRUE(Contains(ErrorOf(""), "storage.path: missing required key"));
  EXPECT_TRUE(Contains(ErrorOf("[storage]\n"), "storage.path: missing required key"));
  EXPECT_TRUE(Contains(ErrorOf("[storage]\npath = \"\"\n"), "storage.path: must not be empty"));
}

TEST(ConfigTest, AConfigWithErrorsIsStillHandedBackAsRead) {
  std::optional<Config> as_read;
  auto c = ParseConfig(std::string(kMinimal) + "[server]\nthreads = 0\n[classifier]\ntype = \"x\"\n", "t", &as_read);
  EXPECT_FALSE(c.ok());
  ASSERT_TRUE(as_read.has_value()) << "check-config validates the adapter sections of it too";
  EXPECT_EQ(as_read->server.threads, 64) << "the bad value is left at its default";
  EXPECT_EQ(as_read->classifier.type, "x");
  as_read.reset();
  EXPECT_FALSE(ParseConfig("[server", "t", &as_read).ok());
  EXPECT_FALSE(as_read.has_value()) << "not TOML: nothing was read";
}

TEST(ConfigTest, RetentionDaysZeroKeepsForeverAndIsBounded) {
  auto storage = [](const std::string& value) {
    return "[storage]\npath = \"/tmp/x.db\"\nretention_days = " + value + "\n";
  };
  for (const auto& [text, days] : {std::pair{"0", 0}, {"1", 1}, {"90", 90}, {"3650", 3650}}) {
    auto c = ParseConfig(storage(text), "t");
    ASSERT_TRUE(c.ok()) << text << ": " << c.status().ToString();
    EXPECT_EQ(c->storage.retention_days, days);
  }
  for (const char* bad : {"-1", "3651"}) {
    std::string msg = ErrorOf(storage(bad));
    EXPECT_TRUE(Contains(msg, "storage.retention_days: must be between 0 and 3650")) << bad << ": " << msg;
  }
  EXPECT_TRUE(Contains(ErrorOf(storage("\"30d\"")), "storage.retention_days: expected an integer, got string"));
  EXPECT_TRUE(Contains(ErrorOf(storage("1.5")), "storage.retention_days: expected an integer"));
}

TEST(ConfigTest, TomlSyntaxErrorHasLineAndColumn) {
  auto r = TomlToJson("[server]\nlisten = \n", "bad.toml");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message().rfind("bad.toml:2:", 0), 0u) << r.status().message();
  EXPECT_FALSE(ParseConfig("a = [", "x.toml").ok());
}

TEST(ConfigTest, TomlToJsonTypes) {
  auto r = TomlToJson("a = 1\nb = 1.5\nc = true\nd = \"s\"\ne = [1, \"x\"]\n[f]\ng = 1979-05-27\n",
                      "t");
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ((*r)["a"], 1);
  EXPECT_DOUBLE_EQ((*r)["b"].get<double>(), 1.5);
  EXPECT_EQ((*r)["c"], true);
  EXPECT_EQ((*r)["d"], "s");
  EXPECT_EQ((*r)["e"][1], "x");
  EXPECT_EQ((*r)["f"]["g"], "1979-05-27");
}

TEST(ConfigTest, HelpdeskNamesAndAdapterKeys) {
  const std::string two = std::string(kMinimal) +
                          "[[helpdesk]]\nname = \"acme\"\ntype = \"zendesk\"\n"
                          "base_url = \"https://x\"\nanything_adapter_specific = 1\n"
                          "[[helpdesk]]\nname = \"beta\"\ntype = \"sandbox\"\n";
  auto c = ParseConfig(two, "t");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->helpdesks.size(), 2u);
  EXPECT_EQ(c->helpdesks[0].path, "helpdesk[0]");
  EXPECT_EQ(c->helpdesks[0].section["anything_adapter_specific"], 1);
  EXPECT_EQ(c->helpdesks[1].name, "beta");

  std::string msg = ErrorOf(std::string(kMinimal) +
                            "[[helpdesk]]\nname = \"acme\"\ntype = \"zendesk\"\n"
                            "[[helpdesk]]\nname = \"acme\"\ntype = \"sandbox\"\n"
                            "[[helpdesk]]\nname = \"Bad Name\"\n");
  EXPECT_TRUE(Contains(msg, "helpdesk[1].name: duplicate helpdesk name \"acme\"")) << msg;
  EXPECT_TRUE(Contains(msg, "helpdesk[2].name: must match [a-z0-9_-]+")) << msg;
  EXPECT_TRUE(Contains(msg, "helpdesk[2].type: missing required key")) << msg;
}

TEST(ConfigTest, AdapterSections) {
  auto c = ParseConfig(std::string(kMinimal) +
                           "[classifier]\ntype = \"llm\"\nexamples = 5\n[retriever]\ntop_k = 3\n"
                           "[llm]\ntype = \"openai\"\nmodel = \"m\"\n",
                       "t");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE(c->classifier.present);
  EXPECT_EQ(c->classifier.type, "llm");
  EXPECT_EQ(c->classifier.section["examples"], 5);
  EXPECT_EQ(c->classifier.path, "classifier");
  EXPECT_EQ(c->retriever.type, "fts5");
  EXPECT_EQ(c->retriever.section["top_k"], 3);
  EXPECT_EQ(c->llm.type, "openai");
  EXPECT_TRUE(c->llm.present);
  EXPECT_TRUE(Contains(ErrorOf(std::string(kMinimal) + "[llm]\nmodel = \"m\"\n"),
                       "llm.type: missing required key"));
}

TEST(ConfigTest, SecretFromEnv) {
  setenv("DESKPILOT_CONFIG_TEST_TOKEN", "from-env-0123456789abcdef01234567", 1);
  auto c = ParseConfig(std::string(kMinimal) + "[admin]\ntoken_env = \"DESKPILOT_CONFIG_TEST_TOKEN\"\n",
                       "t");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->admin_token, "from-env-0123456789abcdef01234567");
  setenv("DESKPILOT_CONFIG_TEST_TOKEN", "", 1);
  std::string msg = ErrorOf(std::string(kMinimal) +
                            "[admin]\ntoken_env = \"DESKPILOT_CONFIG_TEST_TOKEN\"\n");
  EXPECT_TRUE(Contains(msg, "admin.token_env: environment variable DESKPILOT_CONFIG_TEST_TOKEN "
                            "is not set or empty"))
      << msg;
  unsetenv("DESKPILOT_CONFIG_TEST_TOKEN");
}

TEST(ConfigTest, SecretFromFile) {
  TempDir dir;
  const std::string file = dir.Write("token", "from-file-0123456789abcdef0123456\n");
  auto c = ParseConfig(std::string(kMinimal) + "[admin]\ntoken_file = \"" + file + "\"\n", "t");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->admin_token, "from-file-0123456789abcdef0123456");  // trailing newline trimmed

  // Relative names resolve against $CREDENTIALS_DIRECTORY (systemd LoadCredential=).
  setenv("CREDENTIALS_DIRECTORY", dir.path().c_str(), 1);
  c = ParseConfig(std::string(kMinimal) + "[admin]\ntoken_file = \"token\"\n", "t");
  unsetenv("CREDENTIALS_DIRECTORY");
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_EQ(c->admin_token, "from-file-0123456789abcdef0123456");

  std::string msg = ErrorOf(std::string(kMinimal) + "[admin]\ntoken_file = \"" +
                            (dir.path() / "missing").string() + "\"\n");
  EXPECT_TRUE(Contains(msg, "admin.token_file: cannot read")) << msg;
}

// A 1-character admin token was accepted, and the admin API faces the network.
TEST(ConfigTest, AShortAdminTokenIsRefusedWithoutBeingShown) {
  TempDir dir;
  const std::string short_token = "s3cr3t-but-only-31-characters!!";
  ASSERT_EQ(short_token.size(), kMinAdminTokenChars - 1);
  setenv("DESKPILOT_CONFIG_TEST_TOKEN", short_token.c_str(), 1);
  std::string msg = ErrorOf(std::string(kMinimal) + "[admin]\ntoken_env = \"DESKPILOT_CONFIG_TEST_TOKEN\"\n");
  EXPECT_TRUE(Contains(msg, "admin.token_env: the admin token is 31 characters long; at least 32 are required")) << msg;
  EXPECT_FALSE(Contains(msg, short_token)) << msg;
  msg = ErrorOf(std::string(kMinimal) + "[admin]\ntoken_file = \"" + dir.Write("t", "x\n") + "\"\n");
  EXPECT_TRUE(Contains(msg, "admin.token_file: the admin token is 1 characters long")) << msg;

  setenv("DESKPILOT_CONFIG_TEST_TOKEN", (short_token + "!").c_str(), 1);
  auto c = ParseConfig(std::string(kMinimal) + "[admin]\ntoken_env = \"DESKPILOT_CONFIG_TEST_TOKEN\"\n", "t");
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  unsetenv("DESKPILOT_CONFIG_TEST_TOKEN");
}

TEST(ConfigTest, PlainOrDoubleSecretRejected) {
  std::string msg = ErrorOf(std::string(kMinimal) + "[admin]\ntoken = \"hunter2\"\n");
  EXPECT_TRUE(Contains(msg, "admin.token: secrets are never read from the config file; use "
                            "token_env or token_file"))
      << msg;
  EXPECT_FALSE(Contains(msg, "hunter2"));
  msg = ErrorOf(std::string(kMinimal) + "[admin]\ntoken_env = \"A\"\ntoken_file = \"b\"\n");
  EXPECT_TRUE(Contains(msg, "admin.token: set only one of token_env and token_file")) << msg;
}

TEST(ConfigSectionTest, AdapterStyleValidation) {
  auto j = nlohmann::json::parse(R"({"name":"acme","api_token":"x","retries":"3",
                                     "nested":{"ok":1,"extra":2},"list":["a",1]})");
  ConfigSection s(j, "helpdesk[0]");
  EXPECT_EQ(s.String("name"), "acme");
  EXPECT_EQ(s.Secret("api_token", true), "");
  EXPECT_EQ(s.Secret("webhook_secret", true), "");
  EXPECT_EQ(s.Int("retries", 5), 5);
  EXPECT_EQ(s.Bool("verbose", true), true);
  EXPECT_EQ(s.StringList("list"), std::vector<std::string>{"a"});
  EXPECT_TRUE(s.StringList("absent").empty());
  {
    // The child is gone before Finish(); its problems must still be reported.
    ConfigSection nested = s.Table("nested");
    EXPECT_EQ(nested.Int("ok"), 1);
  }
  Status st = s.Finish();
  ASSERT_FALSE(st.ok());
  const std::string& m = st.message();
  EXPECT_TRUE(Contains(m, "helpdesk[0].api_token: secrets are never read")) << m;
  EXPECT_TRUE(Contains(m, "helpdesk[0].webhook_secret: missing; set webhook_secret_env or "
                          "webhook_secret_file"))
      << m;
  EXPECT_TRUE(Contains(m, "helpdesk[0].retries: expected an integer, got string")) << m;
  EXPECT_TRUE(Contains(m, "helpdesk[0].list[1]: expected a string, got integer")) << m;
  EXPECT_TRUE(Contains(m, "helpdesk[0].nested.extra: unknown key")) << m;
  EXPECT_EQ(std::count(m.begin(), m.end(), '\n'), 4);  // five problems, one per line
}

TEST(ConfigSectionTest, CleanSectionFinishesOk) {
  auto j = nlohmann::json::parse(R"({"url":"http://x","mode":"fast","ratio":1})");
  ConfigSection s(j, "drafter");
  EXPECT_EQ(s.String("url"), "http://x");
  EXPECT_EQ(s.Enum("mode", {"fast", "slow"}), "fast");
  EXPECT_DOUBLE_EQ(s.Double("ratio"), 1.0);
  EXPECT_TRUE(s.Has("url"));
  EXPECT_FALSE(s.Has("nope"));
  EXPECT_EQ(s.path(), "drafter");
  EXPECT_TRUE(s.Finish().ok());
}

// An empty name has the right type, but would silently mean "no secret" (the admin API
// off, every Zendesk webhook answered 401): it is an error naming the key.
TEST(ConfigTest, EmptySecretNameIsAnError) {
  std::string msg = ErrorOf(std::string(kMinimal) + "[admin]\ntoken_env = \"\"\n");
  EXPECT_TRUE(Contains(msg, "admin.token_env: must name an environment variable")) << msg;
  msg = ErrorOf(std::string(kMinimal) + "[admin]\ntoken_file = \"\"\n");
  EXPECT_TRUE(Contains(msg, "admin.token_file: must name a file")) << msg;
  auto j = nlohmann::json::parse(R"({"webhook_secret_env": ""})");
  ConfigSection s(j, "helpdesk[0]");
  EXPECT_EQ(s.Secret("webhook_secret", true), "");
  Status st = s.Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(Contains(st.message(), "helpdesk[0].webhook_secret_env: must name an environment variable"))
      << st.message();
}

// SecretIfSet: for `webhook register`, which runs before the secret exists. A variable or
// file that is not there yet reads as no secret; a malformed key is still an error.
TEST(ConfigSectionTest, SecretIfSetAcceptsAnAbsentSecret) {
  unsetenv("DESKPILOT_CONFIG_TEST_UNSET");
  auto absent = nlohmann::json::parse(R"({"a_env": "DESKPILOT_CONFIG_TEST_UNSET", "b_file": "/nonexistent/secret"})");
  ConfigSection s(absent, "helpdesk[0]");
  EXPECT_EQ(s.SecretIfSet("a"), "");
  EXPECT_EQ(s.SecretIfSet("b"), "");
  EXPECT_TRUE(s.Finish().ok());

  setenv("DESKPILOT_CONFIG_TEST_SET", "s3cret", 1);
  auto set = nlohmann::json::parse(R"({"a_env": "DESKPILOT_CONFIG_TEST_SET"})");
  ConfigSection with(set, "helpdesk[0]");
  EXPECT_EQ(with.SecretIfSet("a"), "s3cret");
  EXPECT_TRUE(with.Finish().ok());
  unsetenv("DESKPILOT_CONFIG_TEST_SET");

  auto bad = nlohmann::json::parse(R"({"a_env": "", "b": "inline"})");
  ConfigSection malformed(bad, "helpdesk[0]");
  EXPECT_EQ(malformed.SecretIfSet("a"), "");
  EXPECT_EQ(malformed.SecretIfSet("b"), "");
  Status st = malformed.Finish();
  ASSERT_FALSE(st.ok());
  EXPECT_TRUE(Contains(st.message(), "helpdesk[0].a_env: must name an environment variable")) << st.message();
  EXPECT_TRUE(Contains(st.message(), "helpdesk[0].b: secrets are never read")) << st.message();
}

}  // namespace
}  // namespace deskpilot
