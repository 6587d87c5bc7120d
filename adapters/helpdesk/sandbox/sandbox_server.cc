#include "helpdesk/sandbox/sandbox_server.h"

#include <dirent.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>
#include <vector>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "deskpilot/crypto.h"
#include "deskpilot/http_client.h"
#include "deskpilot/rfc3339.h"
#include "common/loopback_server/loopback_server.h"

namespace deskpilot {
namespace {

using nlohmann::json;

constexpr int kServerThreads = 4;
constexpr size_t kMaxBodyBytes = 1 << 20;
constexpr int kWebhookAttempts = 4;
constexpr std::chrono::milliseconds kWebhookBaseDelay{100};
constexpr int kDefaultListLimit = 100;
constexpr int kMaxListLimit = 1000;

const std::set<std::string> kPriorities = {"low", "normal", "high", "urgent"};

std::string Now() { return FormatRfc3339Utc(std::chrono::system_clock::now()); }

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json");
}

void SendError(httplib::Response& res, int status, const std::string& message) {
  SendJson(res, status, json{{"error", message}});
}

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) {
    rc_ = sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr);
  }
  ~Stmt() { sqlite3_finalize(stmt_); }
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;

  Stmt& Bind(int index, const std::string& v) {
    if (rc_ == SQLITE_OK)
      rc_ = sqlite3_bind_text(stmt_, index, v.data(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Stmt& Bind(int index, int64_t v) {
    if (rc_ == SQLITE_OK) rc_ = sqlite3_bind_int64(stmt_, index, v);
    return *this;
  }
  // SQLITE_ROW, SQLITE_DONE, or an error code (kept so Error() can report it).
  int Step() {
    if (rc_ != SQLITE_OK) return rc_;
    int rc = sqlite3_step(stmt_);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) rc_ = rc;
    return rc;
  }
  Status Run() {
    int rc = Step();
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? Status::Ok() : Error();
  }
  std::string Text(int col) const {
    const unsigned char* p = sqlite3_column_text(stmt_, col);
    return p ? std::string(reinterpret_cast<const char*>(p),
                           static_cast<size_t>(sqlite3_column_bytes(stmt_, col)))
             : std::string();
  }
  int64_t Int(int col) const { return sqlite3_column_int64(stmt_, col); }
  Status Error() const { return Status::Internal(std::string("sqlite: ") + sqlite3_errmsg(db_)); }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
  int rc_;
};

Status Exec(sqlite3* db, const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : "unknown error";
    sqlite3_free(err);
    return Status::Internal("sqlite: " + msg);
  }
  return Status::Ok();
}

// Rolls back unless Commit() succeeded, so every early return leaves the DB unchanged.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) { begin_ = Exec(db_, "BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (begin_.ok() && !done_) (void)Exec(db_, "ROLLBACK");
  }
  const Status& begin_status() const { return begin_; }
  Status Commit() {
    done_ = true;
    return Exec(db_, "COMMIT");
  }

 private:
  sqlite3* db_;
  Status begin_;
  bool done_ = false;
};

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS tickets (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  subject TEXT NOT NULL,
  description TEXT NOT NULL,
  status TEXT NOT NULL,
  priority TEXT NOT NULL,
  grp TEXT NOT NULL,
  tags TEXT NOT NULL,
  custom_fields TEXT NOT NULL,
  requester_email TEXT NOT NULL,
  requester_name TEXT NOT NULL,
  channel TEXT NOT NULL,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS comments (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  ticket_id INTEGER NOT NULL,
  author_role TEXT NOT NULL,
  author_id TEXT NOT NULL,
  public INTEGER NOT NULL,
  body TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS comments_by_ticket ON comments(ticket_id, id);
CREATE TABLE IF NOT EXISTS idempotency_keys (
  key TEXT PRIMARY KEY,
  request TEXT NOT NULL,
  status INTEGER NOT NULL,
  body TEXT NOT NULL,
  created_at TEXT NOT NULL
);
)sql";

std::optional<int64_t> ParseId(const std::string& s) {
  int64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || v <= 0) return std::nullopt;
  return v;
}

// Parses a request body as a JSON object; writes a 400 and returns nullopt otherwise.
std::optional<json> ParseBody(const httplib::Request& req, httplib::Response& res) {
  try {
    json j = json::parse(req.body);
    if (!j.is_object()) {
      SendError(res, 400, "request body must be a JSON object");
      return std::nullopt;
    }
    return j;
  } catch (const json::exception& e) {
    SendError(res, 400, std::string("malformed JSON: ") + e.what());
    return std::nullopt;
  }
}

// Optional string member: "" when absent; false when present with the wrong type.
bool OptString(const json& obj, const char* key, std::string* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  *out = it->get<std::string>();
  return true;
}

bool OptStringList(const json& obj, const char* key, std::vector<std::string>* out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return true;
  if (!it->is_array()) return false;
  for (const auto& v : *it) {
    if (!v.is_string()) return false;
    out->push_back(v.get<std::string>());
  }
  return true;
}

void AddTagsUnique(std::vector<std::string>& tags, const std::vector<std::string>& extra) {
  for (const auto& t : extra) {
    if (!t.empty() && std::find(tags.begin(), tags.end(), t) == tags.end()) tags.push_back(t);
  }
}

// How an injected fault misbehaves (README "Test controls").
enum class FaultMode { kStatus, kHang, kHtml, kTruncate, kReset };

struct Fault {
  FaultMode mode = FaultMode::kStatus;
  int status = 503;
  int remaining = 1;
  int delay_ms = 2000;  // kHang
  std::string retry_after;
  std::string path_prefix = "/api/";
  std::string method;  // empty = any
};

std::optional<FaultMode> ParseFaultMode(const std::string& s) {
  if (s == "status") return FaultMode::kStatus;
  if (s == "hang") return FaultMode::kHang;
  if (s == "html") return FaultMode::kHtml;
  if (s == "truncate") return FaultMode::kTruncate;
  if (s == "reset") return FaultMode::kReset;
  return std::nullopt;
}

// httplib hands a handler no socket, so the connection is found by its peer port. With
// SO_LINGER {on, 0} the server's close sends RST instead of FIN, and shutdown() makes
// the response it tries to write fail: the client sees a reset with no answer at all.
void ResetConnection(int remote_port) {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return;
  while (dirent* e = readdir(dir)) {
    const int fd = std::atoi(e->d_name);
    if (fd <= 2) continue;
    sockaddr_storage peer{};
    socklen_t len = sizeof peer;
    if (getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0 || peer.ss_family != AF_INET) continue;
    if (ntohs(reinterpret_cast<sockaddr_in*>(&peer)->sin_port) != remote_port) continue;
    linger hard{1, 0};
    setsockopt(fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
    shutdown(fd, SHUT_RDWR);
  }
  closedir(dir);
}

struct Delivery {
  std::string url;
  std::string body;
};

}  // namespace

struct SandboxServer::Impl {
  explicit Impl(SandboxOptions o) : options(std::move(o)) {}

  SandboxOptions options;

  std::mutex db_mu;
  sqlite3* db = nullptr;         // guarded by db_mu
  int64_t applied_updates = 0;   // guarded by db_mu
  int64_t unkeyed_updates = 0;   // applied without an Idempotency-Key; guarded by db_mu
  int64_t idempotent_replays = 0;  // repeated keys answered without applying; guarded by db_mu

  httplib::Server svr;
  std::thread listen_thread;
  int port = 0;
  bool start_attempted = false;
  bool started = false;

  std::mutex state_mu;
  std::vector<Fault> faults;                     // guarded by state_mu
  std::map<std::string, int64_t> request_counts;  // guarded by state_mu

  std::unique_ptr<HttpClient> http;
  std::mutex wh_mu;
  std::condition_variable wh_cv;
  std::deque<Delivery> wh_queue;  // guarded by wh_mu
  bool wh_busy = false;           // a delivery is being attempted
  bool wh_stop = false;
  std::string webhook_url;        // guarded by wh_mu
  int64_t wh_delivered = 0;
  int64_t wh_failed = 0;
  std::thread wh_thread;

  Status OpenDb();
  void InstallRoutes();
  using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;
  void Route(const std::string& method, const std::string& pattern, const std::string& route,
             Handler handler);
  bool Admit(const std::string& route, const httplib::Request& req, httplib::Response& res);

  Result<json> LoadTicket(int64_t id);  // caller holds db_mu
  Result<json> LoadComments(int64_t id);
  Status InsertComment(int64_t ticket_id, const std::string& role, const std::string& author,
                       bool is_public, const std::string& body);
  Status SaveTicketFields(int64_t id, const json& ticket);

  void CreateTicket(const httplib::Request& req, httplib::Response& res);
  void ListTickets(const httplib::Request& req, httplib::Response& res);
  void GetTicket(const httplib::Request& req, httplib::Response& res);
  void GetComments(const httplib::Request& req, httplib::Response& res);
  void AddComment(const httplib::Request& req, httplib::Response& res);
  void UpdateTicket(const httplib::Request& req, httplib::Response& res);
  void DeleteTicket(const httplib::Request& req, httplib::Response& res);
  void AddFault(const httplib::Request& req, httplib::Response& res);
  void GetStats(const httplib::Request& req, httplib::Response& res);

  void Emit(const std::string& type, int64_t ticket_id, const std::string& actor_id,
            const std::string& actor_role);
  void DeliveryLoop();
  bool Deliver(const Delivery& d);
};

Status SandboxServer::Impl::OpenDb() {
  if (sqlite3_open_v2(options.db_path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                      nullptr) != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    db = nullptr;
    return Status::Unavailable("open sandbox db " + options.db_path + ": " + msg);
  }
  sqlite3_busy_timeout(db, 5000);
  DP_RETURN_IF_ERROR(Exec(db, "PRAGMA journal_mode=WAL"));
  DP_RETURN_IF_ERROR(Exec(db, "PRAGMA synchronous=NORMAL"));
  return Exec(db, kSchema);
}

void SandboxServer::Impl::Route(const std::string& method, const std::string& pattern,
                                const std::string& route, Handler handler) {
  auto wrapped = [this, name = method + " " + route, handler = std::move(handler)](
                     const httplib::Request& req, httplib::Response& res) {
    if (Admit(name, req, res)) handler(req, res);
  };
  if (method == "GET") svr.Get(pattern, wrapped);
  else if (method == "POST") svr.Post(pattern, wrapped);
  else if (method == "PUT") svr.Put(pattern, wrapped);
  else if (method == "DELETE") svr.Delete(pattern, wrapped);
}

// Counts the request, checks the bearer token, then applies any injected fault.
// Returns false when the response is already written.
bool SandboxServer::Impl::Admit(const std::string& route, const httplib::Request& req,
                                httplib::Response& res) {
  std::unique_lock lock(state_mu);
  ++request_counts[route];
  const std::string auth = req.get_header_value("Authorization");
  const std::string prefix = "Bearer ";
  const bool authorized = auth.size() > prefix.size() && auth.compare(0, prefix.size(), prefix) == 0 &&
                          ConstantTimeEquals(auth.substr(prefix.size()), options.api_token);
  if (!authorized) {
    res.set_header("WWW-Authenticate", "Bearer");
    SendError(res, 401, "missing or invalid bearer token");
    return false;
  }
  // Control routes are never faulted, so a test can always reset or read stats.
  if (req.path.rfind("/api/_", 0) == 0) return true;
  for (auto& f : faults) {
    if (f.remaining <= 0 || req.path.rfind(f.path_prefix, 0) != 0) continue;
    if (!f.method.empty() && f.method != req.method) continue;
    --f.remaining;
    const Fault fault = f;
    lock.unlock();
    switch (fault.mode) {
      case FaultMode::kStatus:
        if (!fault.retry_after.empty()) res.set_header("Retry-After", fault.retry_after);
        SendError(res, fault.status, "injected fault");
        return false;
      case FaultMode::kHang:
        // Then served normally: a slow vendor still applies a write the client gave up on.
        std::this_thread::sleep_for(std::chrono::milliseconds(fault.delay_ms));
        return true;
      case FaultMode::kHtml:
        res.status = 200;
        res.set_content("<html><body><h1>Down for maintenance</h1></body></html>", "text/html");
        return false;
      case FaultMode::kTruncate: {
        // Promises 4 KiB, sends the start of a JSON document, then drops the connection.
        res.status = 200;
        res.set_content_provider(4096, "application/json", [](size_t, size_t, httplib::DataSink& sink) {
          sink.write(R"({"ticket":{"id":"1","subj)", 25);
          return false;
        });
        return false;
      }
      case FaultMode::kReset:
        ResetConnection(req.remote_port);
        res.status = 500;
        return false;
    }
  }
  return true;
}

void SandboxServer::Impl::InstallRoutes() {
  auto method = [this](void (Impl::*fn)(const httplib::Request&, httplib::Response&)) {
    return [this, fn](const httplib::Request& req, httplib::Response& res) { (this->*fn)(req, res); };
  };
  Route("POST", "/api/tickets", "/api/tickets", method(&Impl::CreateTicket));
  Route("GET", "/api/tickets", "/api/tickets", method(&Impl::ListTickets));
  Route("GET", R"(/api/tickets/(\d+))", "/api/tickets/{id}", method(&Impl::GetTicket));
  Route("PUT", R"(/api/tickets/(\d+))", "/api/tickets/{id}", method(&Impl::UpdateTicket));
  Route("DELETE", R"(/api/tickets/(\d+))", "/api/tickets/{id}", method(&Impl::DeleteTicket));
  Route("GET", R"(/api/tickets/(\d+)/comments)", "/api/tickets/{id}/comments",
        method(&Impl::GetComments));
  Route("POST", R"(/api/tickets/(\d+)/comments)", "/api/tickets/{id}/comments",
        method(&Impl::AddComment));
  Route("POST", "/api/_faults", "/api/_faults", method(&Impl::AddFault));
  Route("GET", "/api/_stats", "/api/_stats", method(&Impl::GetStats));
}

Result<json> SandboxServer::Impl::LoadTicket(int64_t id) {
  Stmt s(db,
         "SELECT id, subject, description, status, priority, grp, tags, custom_fields, "
         "requester_email, requester_name, channel, created_at, updated_at FROM tickets WHERE id=?");
  s.Bind(1, id);
  int rc = s.Step();
  if (rc == SQLITE_DONE) return Status::NotFound("ticket " + std::to_string(id) + " not found");
  if (rc != SQLITE_ROW) return s.Error();
  json t;
  t["id"] = std::to_string(s.Int(0));
  t["subject"] = s.Text(1);
  t["description"] = s.Text(2);
  t["status"] = s.Text(3);
  // Like Zendesk, unset priority and group are null rather than "".
  t["priority"] = s.Text(4).empty() ? json(nullptr) : json(s.Text(4));
  t["group"] = s.Text(5).empty() ? json(nullptr) : json(s.Text(5));
  t["tags"] = json::parse(s.Text(6));
  t["custom_fields"] = json::parse(s.Text(7));
  t["requester"] = {{"email", s.Text(8)}, {"name", s.Text(9)}};
  t["channel"] = s.Text(10);
  t["created_at"] = s.Text(11);
  t["updated_at"] = s.Text(12);
  return t;
}

Result<json> SandboxServer::Impl::LoadComments(int64_t id) {
  Stmt s(db,
         "SELECT id, author_role, author_id, public, body, created_at FROM comments "
         "WHERE ticket_id=? ORDER BY id");
  s.Bind(1, id);
  json out = json::array();
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) {
    out.push_back({{"id", std::to_string(s.Int(0))},
                   {"author_role", s.Text(1)},
                   {"author_id", s.Text(2)},
                   {"public", s.Int(3) != 0},
                   {"body", s.Text(4)},
                   {"created_at", s.Text(5)}});
  }
  if (rc != SQLITE_DONE) return s.Error();
  return out;
}

Status SandboxServer::Impl::InsertComment(int64_t ticket_id, const std::string& role,
                                          const std::string& author, bool is_public,
                                          const std::string& body) {
  Stmt s(db,
         "INSERT INTO comments(ticket_id, author_role, author_id, public, body, created_at) "
         "VALUES(?,?,?,?,?,?)");
  s.Bind(1, ticket_id).Bind(2, role).Bind(3, author).Bind(4, int64_t{is_public ? 1 : 0});
  s.Bind(5, body).Bind(6, Now());
  return s.Run();
}

Status SandboxServer::Impl::SaveTicketFields(int64_t id, const json& t) {
  Stmt s(db,
         "UPDATE tickets SET priority=?, grp=?, tags=?, custom_fields=?, updated_at=? WHERE id=?");
  s.Bind(1, t["priority"].is_string() ? t["priority"].get<std::string>() : std::string());
  s.Bind(2, t["group"].is_string() ? t["group"].get<std::string>() : std::string());
  s.Bind(3, t["tags"].dump()).Bind(4, t["custom_fields"].dump()).Bind(5, Now()).Bind(6, id);
  return s.Run();
}

void SandboxServer::Impl::CreateTicket(const httplib::Request& req, httplib::Response& res) {
  auto body = ParseBody(req, res);
  if (!body) return;
  std::string subject, description, email, name, channel = "web", priority;
  std::vector<std::string> tags;
  const json empty = json::object();
  auto rit = body->find("requester");
  const json& requester = rit != body->end() && rit->is_object() ? *rit : empty;
  if (!OptString(*body, "subject", &subject) || subject.empty())
    return SendError(res, 422, "subject: required string");
  if (!OptString(*body, "description", &description) || description.empty())
    return SendError(res, 422, "description: required string");
  if (!OptString(requester, "email", &email) || email.empty())
    return SendError(res, 422, "requester.email: required string");
  if (!OptString(requester, "name", &name)) return SendError(res, 422, "requester.name: must be a string");
  if (!OptString(*body, "channel", &channel)) return SendError(res, 422, "channel: must be a string");
  if (!OptString(*body, "priority", &priority) || (!priority.empty() && !kPriorities.count(priority)))
    return SendError(res, 422, "priority: must be one of low, normal, high, urgent");
  std::vector<std::string> raw_tags;
  if (!OptStringList(*body, "tags", &raw_tags)) return SendError(res, 422, "tags: must be a list of strings");
  AddTagsUnique(tags, raw_tags);

  json ticket;
  int64_t id = 0;
  {
    std::lock_guard lock(db_mu);
    Transaction txn(db);
    if (!txn.begin_status().ok()) return SendError(res, 500, txn.begin_status().message());
    const std::string now = Now();
    Stmt s(db,
           "INSERT INTO tickets(subject, description, status, priority, grp, tags, custom_fields, "
           "requester_email, requester_name, channel, created_at, updated_at) "
           "VALUES(?,?,'new',?,'',?,'{}',?,?,?,?,?)");
    s.Bind(1, subject).Bind(2, description).Bind(3, priority).Bind(4, json(tags).dump());
    s.Bind(5, email).Bind(6, name).Bind(7, channel).Bind(8, now).Bind(9, now);
    if (Status st = s.Run(); !st.ok()) return SendError(res, 500, st.message());
    id = sqlite3_last_insert_rowid(db);
    // The description is the first public customer comment, as in Zendesk.
    if (Status st = InsertComment(id, "customer", email, true, description); !st.ok())
      return SendError(res, 500, st.message());
    auto loaded = LoadTicket(id);
    if (!loaded.ok()) return SendError(res, 500, loaded.status().message());
    if (Status st = txn.Commit(); !st.ok()) return SendError(res, 500, st.message());
    ticket = std::move(*loaded);
  }
  Emit("ticket.created", id, email, "customer");
  SendJson(res, 201, json{{"ticket", ticket}});
}

void SandboxServer::Impl::ListTickets(const httplib::Request& req, httplib::Response& res) {
  int64_t limit = kDefaultListLimit;
  if (req.has_param("limit")) {
    auto parsed = ParseId(req.get_param_value("limit"));
    if (!parsed || *parsed > kMaxListLimit)
      return SendError(res, 400, "limit: must be an integer in [1, 1000]");
    limit = *parsed;
  }
  std::lock_guard lock(db_mu);
  Stmt s(db, "SELECT id FROM tickets ORDER BY id DESC LIMIT ?");
  s.Bind(1, limit);
  std::vector<int64_t> ids;
  int rc;
  while ((rc = s.Step()) == SQLITE_ROW) ids.push_back(s.Int(0));
  if (rc != SQLITE_DONE) return SendError(res, 500, s.Error().message());
  json list = json::array();
  for (int64_t id : ids) {
    auto t = LoadTicket(id);
    if (!t.ok()) return SendError(res, 500, t.status().message());
    list.push_back(std::move(*t));
  }
  SendJson(res, 200, json{{"tickets", list}});
}

void SandboxServer::Impl::GetTicket(const httplib::Request& req, httplib::Response& res) {
  auto id = ParseId(req.matches[1]);
  if (!id) return SendError(res, 404, "ticket not found");
  std::lock_guard lock(db_mu);
  auto t = LoadTicket(*id);
  if (!t.ok()) return SendError(res, t.status().code() == Code::kNotFound ? 404 : 500, t.status().message());
  SendJson(res, 200, json{{"ticket", *t}});
}

void SandboxServer::Impl::GetComments(const httplib::Request& req, httplib::Response& res) {
  auto id = ParseId(req.matches[1]);
  if (!id) return SendError(res, 404, "ticket not found");
  std::lock_guard lock(db_mu);
  auto t = LoadTicket(*id);
  if (!t.ok()) return SendError(res, t.status().code() == Code::kNotFound ? 404 : 500, t.status().message());
  auto comments = LoadComments(*id);
  if (!comments.ok()) return SendError(res, 500, comments.status().message());
  SendJson(res, 200, json{{"comments", *comments}});
}

void SandboxServer::Impl::AddComment(const httplib::Request& req, httplib::Response& res) {
  auto id = ParseId(req.matches[1]);
  if (!id) return SendError(res, 404, "ticket not found");
  auto body = ParseBody(req, res);
  if (!body) return;
  std::string text, role = "customer", author;
  if (!OptString(*body, "body", &text) || text.empty()) return SendError(res, 422, "body: required string");
  if (!OptString(*body, "author_role", &role) ||
      (role != "customer" && role != "agent" && role != "system"))
    return SendError(res, 422, "author_role: must be customer, agent or system");
  if (!OptString(*body, "author_id", &author)) return SendError(res, 422, "author_id: must be a string");
  bool is_public = true;
  if (auto it = body->find("public"); it != body->end()) {
    if (!it->is_boolean()) return SendError(res, 422, "public: must be a boolean");
    is_public = it->get<bool>();
  }
  json comment;
  {
    std::lock_guard lock(db_mu);
    Transaction txn(db);
    if (!txn.begin_status().ok()) return SendError(res, 500, txn.begin_status().message());
    auto t = LoadTicket(*id);
    if (!t.ok())
      return SendError(res, t.status().code() == Code::kNotFound ? 404 : 500, t.status().message());
    if (author.empty()) author = role == "customer" ? (*t)["requester"]["email"].get<std::string>() : role;
    if (Status st = InsertComment(*id, role, author, is_public, text); !st.ok())
      return SendError(res, 500, st.message());
    const int64_t comment_id = sqlite3_last_insert_rowid(db);
    Stmt touch(db, "UPDATE tickets SET updated_at=? WHERE id=?");
    touch.Bind(1, Now()).Bind(2, *id);
    if (Status st = touch.Run(); !st.ok()) return SendError(res, 500, st.message());
    if (Status st = txn.Commit(); !st.ok()) return SendError(res, 500, st.message());
    comment = {{"id", std::to_string(comment_id)}, {"author_role", role}, {"author_id", author},
               {"public", is_public}, {"body", text}};
  }
  // Only the customer's side of the conversation triggers, like a vendor trigger
  // "comment added by requester"; agents' replies would otherwise loop.
  if (role == "customer") Emit("ticket.comment_added", *id, author, role);
  SendJson(res, 201, json{{"comment", comment}});
}

void SandboxServer::Impl::UpdateTicket(const httplib::Request& req, httplib::Response& res) {
  auto id = ParseId(req.matches[1]);
  if (!id) return SendError(res, 404, "ticket not found");
  auto body = ParseBody(req, res);
  if (!body) return;
  auto tit = body->find("ticket");
  if (tit == body->end() || !tit->is_object()) return SendError(res, 422, "ticket: required object");
  const json& upd = *tit;
  std::vector<std::string> add_tags, remove_tags;
  std::string priority, group;
  if (!OptStringList(upd, "additional_tags", &add_tags))
    return SendError(res, 422, "ticket.additional_tags: must be a list of strings");
  if (!OptStringList(upd, "remove_tags", &remove_tags))
    return SendError(res, 422, "ticket.remove_tags: must be a list of strings");
  if (!OptString(upd, "priority", &priority) || (upd.contains("priority") && !kPriorities.count(priority)))
    return SendError(res, 422, "ticket.priority: must be one of low, normal, high, urgent");
  if (!OptString(upd, "group", &group)) return SendError(res, 422, "ticket.group: must be a string");
  auto cfit = upd.find("custom_fields");
  if (cfit != upd.end() && !cfit->is_object())
    return SendError(res, 422, "ticket.custom_fields: must be an object");
  std::string comment_body;
  bool comment_public = true;
  auto cit = upd.find("comment");
  if (cit != upd.end()) {
    if (!cit->is_object() || !OptString(*cit, "body", &comment_body) || comment_body.empty())
      return SendError(res, 422, "ticket.comment.body: required string");
    if (auto pit = cit->find("public"); pit != cit->end()) {
      if (!pit->is_boolean()) return SendError(res, 422, "ticket.comment.public: must be a boolean");
      comment_public = pit->get<bool>();
    }
  }

  const std::string idem_key = req.get_header_value("Idempotency-Key");
  const std::string request_id = req.method + " " + req.path;
  std::lock_guard lock(db_mu);
  Transaction txn(db);
  if (!txn.begin_status().ok()) return SendError(res, 500, txn.begin_status().message());
  if (!idem_key.empty()) {
    Stmt s(db, "SELECT request, status, body FROM idempotency_keys WHERE key=?");
    s.Bind(1, idem_key);
    int rc = s.Step();
    if (rc == SQLITE_ROW) {
      if (s.Text(0) != request_id)
        return SendError(res, 422, "Idempotency-Key was already used for a different request");
      res.set_header("Idempotent-Replayed", "true");
      ++idempotent_replays;
      res.status = static_cast<int>(s.Int(1));
      res.set_content(s.Text(2), "application/json");
      return;
    }
    if (rc != SQLITE_DONE) return SendError(res, 500, s.Error().message());
  }
  auto loaded = LoadTicket(*id);
  if (!loaded.ok())
    return SendError(res, loaded.status().code() == Code::kNotFound ? 404 : 500, loaded.status().message());
  json t = std::move(*loaded);
  std::vector<std::string> tags = t["tags"].get<std::vector<std::string>>();
  AddTagsUnique(tags, add_tags);
  std::erase_if(tags, [&](const std::string& x) {
    return std::find(remove_tags.begin(), remove_tags.end(), x) != remove_tags.end();
  });
  t["tags"] = tags;
  if (upd.contains("priority")) t["priority"] = priority;
  if (upd.contains("group")) t["group"] = group;
  if (cfit != upd.end()) {
    for (const auto& [k, v] : cfit->items()) t["custom_fields"][k] = v;
  }
  if (Status st = SaveTicketFields(*id, t); !st.ok()) return SendError(res, 500, st.message());
  if (!comment_body.empty()) {
    if (Status st = InsertComment(*id, "agent", kSandboxApiUserId, comment_public, comment_body); !st.ok())
      return SendError(res, 500, st.message());
  }
  auto updated = LoadTicket(*id);
  if (!updated.ok()) return SendError(res, 500, updated.status().message());
  const std::string response = json{{"ticket", *updated}}.dump();
  if (!idem_key.empty()) {
    Stmt s(db, "INSERT INTO idempotency_keys(key, request, status, body, created_at) VALUES(?,?,200,?,?)");
    s.Bind(1, idem_key).Bind(2, request_id).Bind(3, response).Bind(4, Now());
    if (Status st = s.Run(); !st.ok()) return SendError(res, 500, st.message());
  }
  if (Status st = txn.Commit(); !st.ok()) return SendError(res, 500, st.message());
  ++applied_updates;
  if (idem_key.empty()) ++unkeyed_updates;
  res.status = 200;
  res.set_content(response, "application/json");
}

void SandboxServer::Impl::DeleteTicket(const httplib::Request& req, httplib::Response& res) {
  auto id = ParseId(req.matches[1]);
  if (!id) return SendError(res, 404, "ticket not found");
  std::lock_guard lock(db_mu);
  Transaction txn(db);
  if (!txn.begin_status().ok()) return SendError(res, 500, txn.begin_status().message());
  Stmt del(db, "DELETE FROM tickets WHERE id=?");
  del.Bind(1, *id);
  if (Status st = del.Run(); !st.ok()) return SendError(res, 500, st.message());
  if (sqlite3_changes(db) == 0) return SendError(res, 404, "ticket " + std::to_string(*id) + " not found");
  Stmt del_comments(db, "DELETE FROM comments WHERE ticket_id=?");
  del_comments.Bind(1, *id);
  if (Status st = del_comments.Run(); !st.ok()) return SendError(res, 500, st.message());
  if (Status st = txn.Commit(); !st.ok()) return SendError(res, 500, st.message());
  res.status = 204;
}

void SandboxServer::Impl::AddFault(const httplib::Request& req, httplib::Response& res) {
  auto body = ParseBody(req, res);
  if (!body) return;
  Fault f;
  try {
    auto mode = ParseFaultMode(body->value("mode", std::string("status")));
    if (!mode) return SendError(res, 422, "fault: mode must be status, hang, html, truncate or reset");
    f.mode = *mode;
    f.status = body->value("status", 503);
    f.remaining = body->value("count", 1);
    f.delay_ms = body->value("delay_ms", 2000);
    auto ra = body->find("retry_after");
    if (ra != body->end()) f.retry_after = ra->is_string() ? ra->get<std::string>() : ra->dump();
    f.path_prefix = body->value("path_prefix", std::string("/api/"));
    f.method = body->value("method", std::string());
  } catch (const json::exception& e) {
    return SendError(res, 422, std::string("fault: ") + e.what());
  }
  if (f.status < 400 || f.status > 599 || f.remaining < 1 || f.delay_ms < 0 || f.delay_ms > 60000)
    return SendError(res, 422, "fault: status must be in [400, 599], count >= 1, delay_ms in [0, 60000]");
  std::lock_guard lock(state_mu);
  faults.push_back(f);
  SendJson(res, 201, json{{"fault", {{"status", f.status}, {"count", f.remaining},
                                     {"path_prefix", f.path_prefix}}}});
}

void SandboxServer::Impl::GetStats(const httplib::Request&, httplib::Response& res) {
  json out;
  {
    std::lock_guard lock(state_mu);
    out["requests"] = request_counts;
  }
  {
    std::lock_guard lock(db_mu);
    out["applied_updates"] = applied_updates;
    out["unkeyed_updates"] = unkeyed_updates;
    out["idempotent_replays"] = idempotent_replays;
  }
  {
    std::lock_guard lock(wh_mu);
    out["webhooks"] = {{"queued", wh_queue.size()}, {"delivered", wh_delivered}, {"failed", wh_failed}};
  }
  SendJson(res, 200, out);
}

void SandboxServer::Impl::Emit(const std::string& type, int64_t ticket_id, const std::string& actor_id,
                               const std::string& actor_role) {
  std::lock_guard lock(wh_mu);
  if (webhook_url.empty() || wh_stop) return;
  // Random ids, not a counter: the DB outlives the process, and a repeated id after a
  // restart would be dropped by deskpilot's dedupe as a redelivery.
  json event = {{"id", "evt_" + RandomHex(12)},
                {"type", type},
                {"time", Now()},
                {"ticket_id", std::to_string(ticket_id)},
                {"actor", {{"id", actor_id}, {"role", actor_role}}}};
  wh_queue.push_back({webhook_url, event.dump()});
  wh_cv.notify_all();
}

void SandboxServer::Impl::DeliveryLoop() {
  std::unique_lock lock(wh_mu);
  while (true) {
    wh_cv.wait(lock, [&] { return wh_stop || !wh_queue.empty(); });
    if (wh_stop) return;
    Delivery d = std::move(wh_queue.front());
    wh_queue.pop_front();
    wh_busy = true;
    lock.unlock();
    const bool ok = Deliver(d);
    lock.lock();
    wh_busy = false;
    ++(ok ? wh_delivered : wh_failed);
    wh_cv.notify_all();
  }
}

// One event, a few attempts: 2xx is delivered, other 4xx (except 408/429) is a
// permanent refusal, anything else is retried with exponential backoff.
bool SandboxServer::Impl::Deliver(const Delivery& d) {
  for (int attempt = 0; attempt < kWebhookAttempts; ++attempt) {
    if (attempt > 0) {
      std::unique_lock lock(wh_mu);
      if (wh_cv.wait_for(lock, kWebhookBaseDelay * (1 << (attempt - 1)), [&] { return wh_stop; }))
        return false;
    }
    // Signed per attempt so a late retry still falls inside the receiver's window.
    const std::string timestamp = Now();
    HttpRequest req;
    req.method = "POST";
    req.url = d.url;
    req.body = d.body;
    req.connect_timeout = std::chrono::milliseconds(2000);
    req.timeout = std::chrono::milliseconds(5000);
    req.headers = {
        {"Content-Type", "application/json"},
        {"X-Zendesk-Webhook-Signature",
         Base64Encode(HmacSha256(options.webhook_secret, timestamp + d.body))},
        {"X-Zendesk-Webhook-Signature-Timestamp", timestamp},
    };
    auto resp = http->Send(req);
    if (!resp.ok()) continue;
    if (resp->status >= 200 && resp->status < 300) return true;
    if (resp->status >= 400 && resp->status < 500 && resp->status != 408 && resp->status != 429)
      return false;
  }
  return false;
}

SandboxServer::SandboxServer(SandboxOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {
  impl_->webhook_url = impl_->options.webhook_url;
}

SandboxServer::~SandboxServer() { Stop(); }

Status SandboxServer::Start() {
  Impl& m = *impl_;
  // httplib servers cannot be re-armed after stop(), so one instance serves once.
  if (m.start_attempted) return Status::FailedPrecondition("sandbox: Start() may be called once");
  m.start_attempted = true;
  if (m.options.api_token.empty()) return Status::InvalidArgument("sandbox: api_token is required");
  if (m.options.db_path.empty()) return Status::InvalidArgument("sandbox: db_path is required");
  {
    std::lock_guard lock(m.db_mu);
    if (Status st = m.OpenDb(); !st.ok()) {
      sqlite3_close(m.db);
      m.db = nullptr;
      return st;
    }
  }
  m.svr.set_tcp_nodelay(true);
  m.svr.new_task_queue = [] { return new httplib::ThreadPool(kServerThreads); };
  m.svr.set_payload_max_length(kMaxBodyBytes);
  ServeOneRequestPerConnection(m.svr);  // Stop() promptly, and no dropped slow senders
  m.InstallRoutes();
  m.port = BindWithFullBacklog(m.svr, m.options.host, m.options.port);
  if (m.port <= 0) {
    std::lock_guard lock(m.db_mu);
    sqlite3_close(m.db);
    m.db = nullptr;
    return Status::Unavailable("sandbox: cannot bind " + m.options.host + ":" +
                               std::to_string(m.options.port));
  }
  m.http = NewCurlHttpClient();
  m.wh_thread = std::thread([&m] { m.DeliveryLoop(); });
  m.listen_thread = std::thread([&m] { m.svr.listen_after_bind(); });
  // httplib's stop() is a no-op until the accept loop runs, so Stop() right after
  // Start() would hang the join without this wait.
  while (!m.svr.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  m.started = true;
  return Status::Ok();
}

int SandboxServer::port() const { return impl_->port; }

void SandboxServer::Stop() {
  Impl& m = *impl_;
  if (!m.started) return;
  m.started = false;
  m.svr.stop();
  if (m.listen_thread.joinable()) m.listen_thread.join();
  {
    std::lock_guard lock(m.wh_mu);
    m.wh_stop = true;
    m.wh_queue.clear();
  }
  m.wh_cv.notify_all();
  if (m.wh_thread.joinable()) m.wh_thread.join();
  std::lock_guard lock(m.db_mu);
  sqlite3_close(m.db);
  m.db = nullptr;
}

void SandboxServer::SetWebhookUrl(const std::string& url) {
  std::lock_guard lock(impl_->wh_mu);
  impl_->webhook_url = url;
}

void SandboxServer::FlushWebhooks() {
  Impl& m = *impl_;
  std::unique_lock lock(m.wh_mu);
  m.wh_cv.wait(lock, [&] { return m.wh_stop || (m.wh_queue.empty() && !m.wh_busy); });
}

}  // namespace deskpilot
