#include "helpdesk/zendesk/zendesk_fake.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include <httplib.h>

#include "deskpilot/crypto.h"
#include "deskpilot/text.h"
#include "common/loopback_server/loopback_server.h"

namespace deskpilot {
namespace {

using nlohmann::json;
using Clock = std::chrono::system_clock;

std::string Now3339() {
  std::time_t t = Clock::to_time_t(Clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string HtmlEscape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json; charset=utf-8");
}

// The error shapes of the ticketing API (RecordNotFound / RecordInvalid) and of the
// newer webhooks API ({"errors":[...]}).
void RecordNotFound(httplib::Response& res) {
  SendJson(res, 404, {{"error", "RecordNotFound"}, {"description", "Not found"}});
}
void RecordInvalid(httplib::Response& res, const std::string& field, const std::string& description) {
  SendJson(res, 422, {{"error", "RecordInvalid"},
                      {"description", "Record validation errors"},
                      {"details", {{field, json::array({{{"description", description}}})}}}});
}
void WebhookError(httplib::Response& res, int status, const std::string& code, const std::string& detail) {
  SendJson(res, status, {{"errors", json::array({{{"code", code}, {"title", code}, {"detail", detail}}})}});
}

bool ParseBody(const httplib::Request& req, httplib::Response& res, json* out) {
  *out = json::parse(req.body, nullptr, false);
  if (out->is_discarded() || !out->is_object()) {
    SendJson(res, 400, {{"error", "InvalidJSON"}, {"description", "The request body is not a JSON object"}});
    return false;
  }
  return true;
}

// "2024-05-01T12:00:00Z" or "2024-05-01" (search dates) as unix seconds.
std::optional<int64_t> ParseTime(const std::string& s) {
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
  const int n = std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec);
  if (n != 3 && n != 6) return std::nullopt;
  std::tm tm{};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  tm.tm_sec = sec;
  return static_cast<int64_t>(timegm(&tm));
}

std::string Slug(const std::string& title) {
  std::string out;
  for (char c : title) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out;
}

// Ticket statuses are ordered, which search's status< / status>= rely on.
int StatusRank(const std::string& status) {
  static const std::vector<std::string> kOrder = {"new", "open", "pending", "hold", "solved", "closed"};
  auto it = std::find(kOrder.begin(), kOrder.end(), status);
  return it == kOrder.end() ? -1 : static_cast<int>(it - kOrder.begin());
}

// One term of a search query ("status>=solved") applied to a ticket.
bool MatchesTerm(const json& t, const std::string& term) {
  static const std::vector<std::string> kOps = {">=", "<=", ":", ">", "<"};
  for (const std::string& key : {std::string("status"), std::string("updated"), std::string("created"),
                                 std::string("tags"), std::string("type")}) {
    if (term.rfind(key, 0) != 0) continue;
    const std::string rest = term.substr(key.size());
    for (const std::string& op : kOps) {
      if (rest.rfind(op, 0) != 0) continue;
      const std::string value = rest.substr(op.size());
      auto compare = [&](int64_t have, int64_t want) {
        if (op == ">=") return have >= want;
        if (op == "<=") return have <= want;
        if (op == ">") return have > want;
        if (op == "<") return have < want;
        return have == want;
      };
      if (key == "type") return value == "ticket";
      if (key == "tags") {
        for (const auto& tag : t.value("tags", json::array()))
          if (tag == value) return true;
        return false;
      }
      if (key == "status") return compare(StatusRank(t.value("status", "")), StatusRank(AsciiLower(value)));
      const auto want = ParseTime(value);
      const auto have = ParseTime(t.value(key + "_at", ""));
      if (!want || !have) return false;
      // A bare date compares by day, as Zendesk's search does.
      if (value.size() == 10 && op == ":") return *have / 86400 == *want / 86400;
      return compare(*have, *want);
    }
  }
  // Anything else is free text over subject and description.
  const std::string text = AsciiLower(t.value("subject", "") + " " + t.value("description", ""));
  return text.find(AsciiLower(term)) != std::string::npos;
}

// The user a request authenticated as (set by the gate, read by handlers on the same
// server thread).
thread_local int64_t g_current_user = 0;

}  // namespace

struct ZendeskFake::Impl {
  ZendeskFakeOptions options;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  bool running = false;

  mutable std::mutex mu;
  int64_t next_id = 1000;
  int64_t next_webhook = 1;
  std::map<int64_t, json> users;
  std::map<int64_t, json> groups;
  std::map<int64_t, json> tickets;
  std::map<int64_t, std::vector<json>> comments;
  std::map<std::string, json> webhooks;  // by id (ULID-like strings, ordered by creation)
  std::map<std::string, std::string> secrets;
  std::map<int64_t, json> triggers;
  std::deque<Fault> faults;
  std::vector<Request> log;
  Clock::time_point window_start = Clock::now();
  int window_count = 0;
  std::map<int64_t, std::deque<Clock::time_point>> ticket_updates;
  std::map<int64_t, json> articles;
  std::set<int64_t> archived;

  // Webhook deliveries run on their own thread, after the request that caused them
  // has been answered, as Zendesk's are.
  struct Pending {
    std::string webhook_id, endpoint, body, secret;
  };
  std::deque<Pending> outbox;
  std::condition_variable outbox_cv;
  bool stopping = false;
  std::thread deliverer;
  std::vector<Delivery> deliveries;

  explicit Impl(ZendeskFakeOptions o) : options(std::move(o)) {}

  void DeliverLoop() {
    for (;;) {
      Pending p;
      {
        std::unique_lock lock(mu);
        outbox_cv.wait(lock, [&] { return stopping || !outbox.empty(); });
        if (outbox.empty()) return;  // stopping, nothing left
        p = std::move(outbox.front());
        outbox.pop_front();
      }
      // endpoint = scheme://host:port/path
      int status = 0;
      const auto scheme_end = p.endpoint.find("://");
      const auto path_start = scheme_end == std::string::npos ? std::string::npos : p.endpoint.find('/', scheme_end + 3);
      if (path_start != std::string::npos) {
        httplib::Client client(p.endpoint.substr(0, path_start));
        client.set_connection_timeout(2);
        client.set_read_timeout(10);
        const std::string ts = Now3339();
        httplib::Headers headers = {
            {"X-Zendesk-Webhook-Signature-Timestamp", ts},
            {"X-Zendesk-Webhook-Signature", Base64Encode(HmacSha256(p.secret, ts + p.body))},
            {"X-Zendesk-Webhook-Id", p.webhook_id},
            {"User-Agent", "Zendesk Webhook"}};
        if (auto res = client.Post(p.endpoint.substr(path_start), headers, p.body, "application/json"))
          status = res->status;
      }
      std::lock_guard lock(mu);
      deliveries.push_back({p.webhook_id, p.endpoint, p.body, status});
    }
  }

  // Runs the active triggers for one ticket change. REQUIRES mu held.
  // Supported conditions: "is" on update_type Create|Change, comment_is_public, role
  // (end_user | agent); "includes" on current_tags (any of the space-separated tags is on
  // the ticket). A trigger with any other condition does not fire.
  void RunTriggers(int64_t ticket_id, bool created, bool comment_public, const std::string& actor_role,
                   int64_t actor_id) {
    const json& ticket = tickets[ticket_id];
    for (const auto& [tid, trig] : triggers) {
      if (!trig.value("active", true)) continue;
      bool match = true;
      for (const auto& c : trig["conditions"].value("all", json::array())) {
        const std::string field = c.value("field", ""), op = c.value("operator", "");
        const std::string value = c["value"].is_string() ? c["value"].get<std::string>() : c["value"].dump();
        bool ok = false;
        if (op == "is" && field == "update_type") ok = value == (created ? "Create" : "Change");
        if (op == "is" && field == "comment_is_public") ok = (value == "true") == comment_public;
        if (op == "is" && field == "role") ok = value == actor_role;
        if (op == "includes" && field == "current_tags") {
          std::istringstream words(value);
          const json& have = ticket.value("tags", json::array());
          for (std::string tag; words >> tag;) ok = ok || std::find(have.begin(), have.end(), tag) != have.end();
        }
        match = match && ok;
      }
      if (!match) continue;
      for (const auto& a : trig["actions"]) {
        if (a.value("field", "") != "notification_webhook") continue;
        const std::string webhook_id = a["value"][0].get<std::string>();
        auto w = webhooks.find(webhook_id);
        if (w == webhooks.end() || w->second.value("status", "") != "active") continue;
        std::string body = a["value"][1].get<std::string>();
        const std::map<std::string, std::string> values = {
            {"{{ticket.id}}", std::to_string(ticket_id)},
            {"{{ticket.title}}", ticket.value("subject", "")},
            {"{{ticket.status}}", ticket.value("status", "")},
            {"{{ticket.updated_at_with_timestamp}}", ticket.value("updated_at", "")},
            {"{{current_user.id}}", std::to_string(actor_id)}};
        for (const auto& [placeholder, v] : values)
          for (size_t at = body.find(placeholder); at != std::string::npos; at = body.find(placeholder, at + v.size()))
            body.replace(at, placeholder.size(), v);
        outbox.push_back({webhook_id, w->second.value("endpoint", ""), body, secrets[webhook_id]});
      }
    }
    outbox_cv.notify_one();
  }

  json ArticleJson(int64_t id) const { return articles.at(id); }

  json UserById(int64_t id) const {
    auto it = users.find(id);
    return it == users.end() ? json() : it->second;
  }

  // Cursor pagination (page[size] / page[after]) when asked for, else offset pagination
  // (page / per_page), over `items` under `key`, as the ticketing API answers both.
  // `extra_query` ("&k=v...") is carried into the next/prev links.
  json Paginate(const httplib::Request& req, const std::string& key, const std::vector<json>& items,
                const std::string& extra_query = "") const {
    const std::string base = "http://" + req.get_header_value("Host") + req.path;
    std::string extra = extra_query;
    if (req.has_param("include")) extra += "&include=" + req.get_param_value("include");
    json doc;
    if (req.has_param("page[size]") || req.has_param("page[after]")) {
      size_t size = 100;
      if (req.has_param("page[size]")) size = std::clamp<size_t>(std::stoul(req.get_param_value("page[size]")), 1, 100);
      size_t start = 0;
      if (req.has_param("page[after]")) {
        std::string decoded;
        const std::string cursor = req.get_param_value("page[after]");
        if (Base64Decode(cursor, &decoded) && !decoded.empty()) start = std::stoul(decoded);
      }
      const size_t end = std::min(items.size(), start + size);
      doc[key] = json::array();
      for (size_t i = start; i < end; ++i) doc[key].push_back(items[i]);
      const bool more = end < items.size();
      const std::string after = Base64Encode(std::to_string(end));
      const std::string before = Base64Encode(std::to_string(start));
      doc["meta"] = {{"has_more", more}, {"after_cursor", after}, {"before_cursor", before}};
      doc["links"] = {
          {"next", more ? json(base + "?page%5Bafter%5D=" + after + "&page%5Bsize%5D=" + std::to_string(size) + extra)
                        : json()},
          {"prev", start > 0 ? json(base + "?page%5Bbefore%5D=" + before + "&page%5Bsize%5D=" + std::to_string(size) +
                                    extra)
                             : json()}};
    } else {
      size_t per_page = 100, page = 1;
      if (req.has_param("per_page")) per_page = std::clamp<size_t>(std::stoul(req.get_param_value("per_page")), 1, 100);
      if (req.has_param("page")) page = std::max<size_t>(1, std::stoul(req.get_param_value("page")));
      const size_t start = std::min(items.size(), (page - 1) * per_page);
      const size_t end = std::min(items.size(), start + per_page);
      doc[key] = json::array();
      for (size_t i = start; i < end; ++i) doc[key].push_back(items[i]);
      doc["count"] = items.size();
      doc["next_page"] = end < items.size() ? json(base + "?page=" + std::to_string(page + 1) + "&per_page=" +
                                                   std::to_string(per_page) + extra)
                                            : json();
      doc["previous_page"] = page > 1 ? json(base + "?page=" + std::to_string(page - 1) + "&per_page=" +
                                             std::to_string(per_page) + extra)
                                      : json();
    }
    return doc;
  }

  json SideloadUsers(const std::set<int64_t>& ids) const {
    json out = json::array();
    for (int64_t id : ids)
      if (auto u = UserById(id); !u.is_null()) out.push_back(u);
    return out;
  }

  int64_t NewComment(int64_t ticket_id, int64_t author_id, const std::string& body, bool is_public,
                     const std::string& channel) {
    const int64_t id = ++next_id;
    comments[ticket_id].push_back({{"id", id},
                                   {"type", "Comment"},
                                   {"author_id", author_id},
                                   {"body", body},
                                   {"html_body", "<div class=\"zd-comment\" dir=\"auto\"><p>" + HtmlEscape(body) + "</p></div>"},
                                   {"plain_body", body},
                                   {"public", is_public},
                                   {"attachments", json::array()},
                                   {"audit_id", ++next_id},
                                   {"via", {{"channel", channel}, {"source", {{"from", json::object()}, {"to", json::object()}, {"rel", nullptr}}}}},
                                   {"created_at", Now3339()},
                                   {"metadata", json::object()}});
    return id;
  }

  // Runs before every handler (the body is read by then): request log, injected
  // faults, authentication, rate limit. True when it already answered.
  bool Gate(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    Request logged{req.method, req.path, {}, req.body};
    for (const auto& [k, v] : req.params) logged.params[k] = v;
    log.push_back(std::move(logged));
    for (auto it = faults.begin(); it != faults.end(); ++it) {
      if ((!it->method.empty() && it->method != req.method) || req.path.rfind(it->path_prefix, 0) != 0) continue;
      res.status = it->status;
      if (!it->retry_after.empty()) res.set_header("Retry-After", it->retry_after);
      res.set_content(it->status == 401 ? R"({"error":"Couldn't authenticate you"})"
                                        : R"({"error":"injected fault"})",
                      "application/json");
      if (--it->count <= 0) faults.erase(it);
      return true;
    }
    const std::string auth = req.get_header_value("Authorization");
    g_current_user = 0;
    if (!options.oauth_token.empty() && auth == "Bearer " + options.oauth_token) g_current_user = options.api_user_id;
    std::string decoded;
    if (auth.rfind("Basic ", 0) == 0 && Base64Decode(auth.substr(6), &decoded)) {
      const std::string marker = "/token:";
      const auto at = decoded.find(marker);
      if (at != std::string::npos && decoded.substr(at + marker.size()) == options.api_token) {
        const std::string email = decoded.substr(0, at);
        for (const auto& [id, u] : users)
          if (u.value("email", "") == email) g_current_user = id;
      }
    }
    if (g_current_user == 0) {
      SendJson(res, 401, {{"error", "Couldn't authenticate you"}});
      return true;
    }
    const auto now = Clock::now();
    if (now - window_start >= std::chrono::minutes(1)) {
      window_start = now;
      window_count = 0;
    }
    res.set_header("X-Rate-Limit", std::to_string(options.rate_limit_per_minute));
    if (window_count >= options.rate_limit_per_minute) {
      const auto left = std::chrono::duration_cast<std::chrono::seconds>(window_start + std::chrono::minutes(1) - now);
      res.set_header("X-Rate-Limit-Remaining", "0");
      res.set_header("Retry-After", std::to_string(std::max<int64_t>(1, left.count())));
      SendJson(res, 429, {{"error", "APIRateLimitExceeded"}, {"description", "Number of allowed API requests per minute exceeded"}});
      return true;
    }
    ++window_count;
    res.set_header("X-Rate-Limit-Remaining", std::to_string(options.rate_limit_per_minute - window_count));
    return false;
  }

  httplib::Server::Handler Gated(httplib::Server::Handler handler) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      if (!Gate(req, res)) handler(req, res);
    };
  }

  void Routes() {
    server.Post(R"(/api/v2/users(?:\.json)?)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      if (UserById(g_current_user).value("role", "") == "end-user") {
        SendJson(res, 403, {{"error", "Forbidden"}, {"description", "You do not have access to this page"}});
        return;
      }
      const json u = body.value("user", json::object());
      const std::string email = u.value("email", ""), name = u.value("name", "");
      if (name.empty()) return RecordInvalid(res, "name", "Name: is too short");
      for (const auto& [id, have] : users)
        if (!email.empty() && have.value("email", "") == email)
          return RecordInvalid(res, "email", "Email: " + email + " is already being used by another user");
      const int64_t id = ++next_id;
      users[id] = {{"id", id}, {"name", name}, {"email", email}, {"role", u.value("role", "end-user")},
                   {"locale", "en-US"}, {"created_at", Now3339()}};
      SendJson(res, 201, {{"user", users[id]}});
    }));
    // Requests API: an end user files a ticket as its requester; the triggers run.
    server.Post(R"(/api/v2/requests(?:\.json)?)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      const json r = body.value("request", json::object());
      const json comment = r.value("comment", json::object());
      const std::string text = comment.value("body", comment.value("html_body", ""));
      if (!r.contains("subject") || !r["subject"].is_string() || text.empty())
        return RecordInvalid(res, "description", "Description: cannot be blank");
      const int64_t requester = g_current_user;
      const int64_t id = ++next_id;
      const std::string now = Now3339();
      json t = {{"id", id},
                {"url", "http://" + req.get_header_value("Host") + "/api/v2/tickets/" + std::to_string(id) + ".json"},
                {"subject", r["subject"]}, {"raw_subject", r["subject"]}, {"description", text},
                {"priority", r.value("priority", json())}, {"status", "new"}, {"type", nullptr},
                {"requester_id", requester}, {"submitter_id", requester}, {"assignee_id", nullptr},
                {"organization_id", nullptr}, {"group_id", nullptr}, {"tags", json::array()},
                {"via", {{"channel", "api"}, {"source", {{"from", json::object()}, {"to", json::object()}, {"rel", nullptr}}}}},
                {"custom_fields", json::array()}, {"fields", json::array()}, {"created_at", now}, {"updated_at", now}};
      tickets[id] = t;
      NewComment(id, requester, text, true, "api");
      const json user = UserById(requester);
      RunTriggers(id, /*created=*/true, /*comment_public=*/true,
                  user.value("role", "") == "end-user" ? "end_user" : "agent", requester);
      SendJson(res, 201, {{"request", {{"id", id}, {"subject", t["subject"]}, {"description", text},
                                       {"status", "new"}, {"requester_id", requester}, {"created_at", now}}}});
    }));

    // Help Center articles of one locale, drafts included (the API user is an agent).
    server.Get(R"(/api/v2/help_center/([A-Za-z-]+)/articles(?:\.json)?)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      const std::string locale = AsciiLower(req.matches[1].str());
      std::optional<int64_t> since;
      std::string extra;
      if (req.has_param("start_time")) {
        const std::string v = req.get_param_value("start_time");
        if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos) {
          SendJson(res, 400, {{"error", "InvalidParameter"}, {"description", "start_time must be a unix timestamp"}});
          return;
        }
        since = std::stoll(v);
        extra += "&start_time=" + v;
      }
      std::vector<json> list;
      for (const auto& [id, a] : articles) {
        if (archived.count(id) || AsciiLower(a.value("locale", "")) != locale) continue;
        if (since && ParseTime(a.value("updated_at", "")).value_or(0) < *since) continue;
        list.push_back(a);
      }
      const std::string sort_by = req.get_param_value("sort_by");
      if (sort_by == "updated_at" || sort_by == "created_at" || sort_by == "title") {
        std::stable_sort(list.begin(), list.end(), [&](const json& x, const json& y) {
          return x.value(sort_by, "") < y.value(sort_by, "");
        });
        extra += "&sort_by=" + sort_by;
      }
      if (req.get_param_value("sort_order") == "desc") {
        std::reverse(list.begin(), list.end());
        extra += "&sort_order=desc";
      } else if (req.has_param("sort_order")) {
        extra += "&sort_order=asc";
      }
      SendJson(res, 200, Paginate(req, "articles", list, extra));
    }));

    // Search export: cursor-paginated, filter[type] is required.
    server.Get(R"(/api/v2/search/export(?:\.json)?)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      const std::string type = req.get_param_value("filter[type]");
      if (type.empty()) {
        SendJson(res, 400, {{"error", "InvalidSearchParameter"}, {"description", "filter[type] is required"}});
        return;
      }
      const std::string query = req.get_param_value("query");
      std::vector<std::string> terms;
      std::istringstream words(query);
      for (std::string w; words >> w;) terms.push_back(w);
      std::vector<json> list;
      if (type == "ticket") {
        for (const auto& entry : tickets) {
          // Not a structured binding: clang 14 (the fuzz build) cannot capture one in a lambda.
          const json& t = entry.second;
          if (std::all_of(terms.begin(), terms.end(), [&](const std::string& term) { return MatchesTerm(t, term); })) {
            json r = t;
            r["result_type"] = "ticket";
            list.push_back(std::move(r));
          }
        }
      }
      if (!req.has_param("page[size]") && !req.has_param("page[after]")) {
        SendJson(res, 400, {{"error", "InvalidPaginationParameter"}, {"description", "page[size] is required"}});
        return;
      }
      std::string encoded;
      for (unsigned char c : query) {
        static const char kHex[] = "0123456789ABCDEF";
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.') {
          encoded += static_cast<char>(c);
        } else {
          encoded += '%';
          encoded += kHex[c >> 4];
          encoded += kHex[c & 15];
        }
      }
      SendJson(res, 200, Paginate(req, "results", list, "&query=" + encoded + "&filter%5Btype%5D=" + type));
    }));

    auto me = [this](const httplib::Request&, httplib::Response& res) {
      std::lock_guard lock(mu);
      SendJson(res, 200, {{"user", UserById(options.api_user_id)}});
    };
    server.Get(R"(/api/v2/users/me(?:\.json)?)", Gated(me));

    server.Get(R"(/api/v2/tickets/(\d+)(?:\.json)?)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      const int64_t id = std::stoll(req.matches[1]);
      auto it = tickets.find(id);
      if (it == tickets.end()) return RecordNotFound(res);
      json doc = {{"ticket", it->second}};
      if (req.get_param_value("include").find("users") != std::string::npos) {
        std::set<int64_t> ids;
        for (const char* k : {"requester_id", "submitter_id", "assignee_id"})
          if (it->second[k].is_number_integer()) ids.insert(it->second[k].get<int64_t>());
        doc["users"] = SideloadUsers(ids);
      }
      SendJson(res, 200, doc);
    }));

    server.Get(R"(/api/v2/tickets/(\d+)/comments(?:\.json)?)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      const int64_t id = std::stoll(req.matches[1]);
      if (!tickets.count(id)) return RecordNotFound(res);
      const auto& list = comments[id];
      json doc = Paginate(req, "comments", list);
      if (req.get_param_value("include").find("users") != std::string::npos) {
        std::set<int64_t> ids;
        for (const auto& c : doc["comments"]) ids.insert(c["author_id"].get<int64_t>());
        doc["users"] = SideloadUsers(ids);
      }
      SendJson(res, 200, doc);
    }));

    server.Put(R"(/api/v2/tickets/(\d+)(?:\.json)?)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      const int64_t id = std::stoll(req.matches[1]);
      auto it = tickets.find(id);
      if (it == tickets.end()) return RecordNotFound(res);
      if (!body.contains("ticket") || !body["ticket"].is_object()) {
        SendJson(res, 400, {{"error", "InvalidJSON"}, {"description", "Missing ticket"}});
        return;
      }
      const json& u = body["ticket"];
      // Zendesk: at most `ticket_update_cap` updates of one ticket per user per 10 minutes.
      auto& recent = ticket_updates[id];
      const auto now = Clock::now();
      while (!recent.empty() && now - recent.front() >= std::chrono::minutes(10)) recent.pop_front();
      if (static_cast<int>(recent.size()) >= options.ticket_update_cap) {
        const auto wait = std::chrono::duration_cast<std::chrono::seconds>(recent.front() + std::chrono::minutes(10) - now);
        res.set_header("Retry-After", std::to_string(std::max<int64_t>(1, wait.count())));
        SendJson(res, 429, {{"error", "TooManyRequests"}, {"description", "Ticket update rate limit exceeded"}});
        return;
      }
      json t = it->second;
      if (u.contains("priority")) {
        const json& p = u["priority"];
        static const std::set<std::string> kPriorities = {"low", "normal", "high", "urgent"};
        if (!p.is_null() && !(p.is_string() && kPriorities.count(p.get<std::string>())))
          return RecordInvalid(res, "priority", "Priority: is not valid");
        t["priority"] = p;
      }
      if (u.contains("group_id")) {
        const json& g = u["group_id"];
        if (!g.is_null() && !(g.is_number_integer() && groups.count(g.get<int64_t>())))
          return RecordInvalid(res, "group", "Group: is invalid");
        t["group_id"] = g;
      }
      if (u.contains("status") && u["status"].is_string()) t["status"] = u["status"];
      std::vector<std::string> tags = t["tags"].get<std::vector<std::string>>();
      if (u.contains("tags")) tags = u["tags"].get<std::vector<std::string>>();  // replaces
      if (u.contains("additional_tags"))
        for (const auto& tag : u["additional_tags"].get<std::vector<std::string>>())
          if (std::find(tags.begin(), tags.end(), tag) == tags.end()) tags.push_back(tag);
      if (u.contains("remove_tags"))
        for (const auto& tag : u["remove_tags"].get<std::vector<std::string>>())
          tags.erase(std::remove(tags.begin(), tags.end(), tag), tags.end());
      t["tags"] = tags;
      if (u.contains("custom_fields")) {
        for (const auto& f : u["custom_fields"]) {
          bool found = false;
          for (auto& have : t["custom_fields"])
            if (have["id"] == f["id"]) {
              have["value"] = f["value"];
              found = true;
            }
          if (!found) t["custom_fields"].push_back({{"id", f["id"]}, {"value", f["value"]}});
        }
        t["fields"] = t["custom_fields"];
      }
      json events = json::array();
      if (u.contains("comment") && u["comment"].is_object()) {
        const json& c = u["comment"];
        std::string text = c.value("body", "");
        if (text.empty()) text = c.value("html_body", "");
        const int64_t author = c.contains("author_id") && c["author_id"].is_number_integer()
                                   ? c["author_id"].get<int64_t>()
                                   : options.api_user_id;
        const bool is_public = c.value("public", true);
        const int64_t comment_id = NewComment(id, author, text, is_public, "api");
        events.push_back({{"id", comment_id}, {"type", "Comment"}, {"public", is_public}, {"author_id", author}});
      }
      t["updated_at"] = Now3339();
      it->second = t;
      recent.push_back(now);
      SendJson(res, 200, {{"ticket", t},
                          {"audit", {{"id", ++next_id}, {"ticket_id", id}, {"created_at", t["updated_at"]},
                                     {"author_id", options.api_user_id}, {"events", events}}}});
    }));

    // Webhooks API: POST/GET list (cursor pagination, filter[name_contains]); GET, PUT,
    // PATCH, DELETE one; GET/POST signing_secret.
    server.Post("/api/v2/webhooks", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      const json w = body.value("webhook", json::object());
      if (std::string problem = ValidateWebhook(w); !problem.empty())
        return WebhookError(res, 400, "InvalidValue", problem);
      char id[32];
      std::snprintf(id, sizeof(id), "01HZDESK%018lld", static_cast<long long>(next_webhook++));
      json stored = w;
      stored["id"] = id;
      stored["created_at"] = Now3339();
      stored["created_by"] = std::to_string(options.api_user_id);
      if (!stored.contains("subscriptions")) stored["subscriptions"] = json::array();
      webhooks[id] = stored;
      secrets[id] = RandomHex(24);
      SendJson(res, 201, {{"webhook", stored}});
    }));
    server.Get("/api/v2/webhooks", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      std::vector<json> list;
      const std::string contains = req.get_param_value("filter[name_contains]");
      for (const auto& [id, w] : webhooks)
        if (contains.empty() || w["name"].get<std::string>().find(contains) != std::string::npos) list.push_back(w);
      SendJson(res, 200, Paginate(req, "webhooks", list));
    }));
    server.Get(R"(/api/v2/webhooks/([A-Za-z0-9]+))", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      auto it = webhooks.find(req.matches[1]);
      if (it == webhooks.end()) return WebhookError(res, 404, "WebhookNotFound", "Webhook not found");
      SendJson(res, 200, {{"webhook", it->second}});
    }));
    auto update_webhook = [this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      auto it = webhooks.find(req.matches[1]);
      if (it == webhooks.end()) return WebhookError(res, 404, "WebhookNotFound", "Webhook not found");
      json merged = it->second;
      const json patch = body.value("webhook", json::object());
      for (const auto& [k, v] : patch.items())
        if (k != "id") merged[k] = v;
      if (std::string problem = ValidateWebhook(merged); !problem.empty())
        return WebhookError(res, 400, "InvalidValue", problem);
      it->second = merged;
      res.status = 204;
    };
    server.Put(R"(/api/v2/webhooks/([A-Za-z0-9]+))", Gated(update_webhook));
    server.Patch(R"(/api/v2/webhooks/([A-Za-z0-9]+))", Gated(update_webhook));
    server.Delete(R"(/api/v2/webhooks/([A-Za-z0-9]+))", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      const std::string id = req.matches[1];
      if (!webhooks.count(id)) return WebhookError(res, 404, "WebhookNotFound", "Webhook not found");
      for (const auto& [tid, t] : triggers)
        for (const auto& a : t["actions"])
          if (a["field"] == "notification_webhook" && a["value"].is_array() && a["value"][0] == id)
            return WebhookError(res, 400, "WebhookInUse", "Webhook is used by trigger " + std::to_string(tid));
      webhooks.erase(id);
      secrets.erase(id);
      res.status = 204;
    }));
    auto signing_secret = [this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      const std::string id = req.matches[1];
      if (!webhooks.count(id)) return WebhookError(res, 404, "WebhookNotFound", "Webhook not found");
      if (req.method == "POST") secrets[id] = RandomHex(24);  // reset
      SendJson(res, 200, {{"signing_secret", {{"algorithm", "SHA256"}, {"secret", secrets[id]}}}});
    };
    server.Get(R"(/api/v2/webhooks/([A-Za-z0-9]+)/signing_secret)", Gated(signing_secret));
    server.Post(R"(/api/v2/webhooks/([A-Za-z0-9]+)/signing_secret)", Gated(signing_secret));

    // Triggers API.
    server.Get(R"(/api/v2/triggers(?:\.json)?)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      std::vector<json> list;
      for (const auto& [id, t] : triggers) list.push_back(t);
      SendJson(res, 200, Paginate(req, "triggers", list));
    }));
    server.Post(R"(/api/v2/triggers(?:\.json)?)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      json t = body.value("trigger", json::object());
      if (std::string problem = ValidateTrigger(t); !problem.empty()) return RecordInvalid(res, "base", problem);
      const int64_t id = ++next_id;
      t["id"] = id;
      t["url"] = "http://" + req.get_header_value("Host") + "/api/v2/triggers/" + std::to_string(id) + ".json";
      if (!t.contains("active")) t["active"] = true;
      t["position"] = static_cast<int64_t>(triggers.size()) + 1;
      t["raw_title"] = t["title"];
      t["created_at"] = t["updated_at"] = Now3339();
      triggers[id] = t;
      SendJson(res, 201, {{"trigger", t}});
    }));
    server.Put(R"(/api/v2/triggers/(\d+)(?:\.json)?)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      auto it = triggers.find(std::stoll(req.matches[1]));
      if (it == triggers.end()) return RecordNotFound(res);
      json merged = it->second;
      const json patch = body.value("trigger", json::object());
      for (const auto& [k, v] : patch.items())
        if (k != "id") merged[k] = v;
      if (std::string problem = ValidateTrigger(merged); !problem.empty()) return RecordInvalid(res, "base", problem);
      merged["updated_at"] = Now3339();
      it->second = merged;
      SendJson(res, 200, {{"trigger", merged}});
    }));
    server.Delete(R"(/api/v2/triggers/(\d+)(?:\.json)?)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      if (triggers.erase(std::stoll(req.matches[1])) == 0) return RecordNotFound(res);
      res.status = 204;
    }));
  }

  std::string ValidateWebhook(const json& w) const {
    static const std::set<std::string> kMethods = {"GET", "POST", "PUT", "PATCH", "DELETE"};
    static const std::set<std::string> kFormats = {"json", "xml", "form_encoded"};
    static const std::set<std::string> kStatuses = {"active", "inactive"};
    auto str = [&](const char* k) { return w.contains(k) && w[k].is_string() ? w[k].get<std::string>() : ""; };
    if (str("name").empty()) return "name is required";
    const std::string endpoint = str("endpoint");
    if (endpoint.rfind("https://", 0) != 0 && endpoint.rfind("http://", 0) != 0) return "endpoint must be a URL";
    if (!kMethods.count(str("http_method"))) return "http_method is invalid";
    if (!kFormats.count(str("request_format"))) return "request_format is invalid";
    if (!kStatuses.count(str("status"))) return "status is invalid";
    return "";
  }

  std::string ValidateTrigger(const json& t) const {
    if (!t.contains("title") || !t["title"].is_string() || t["title"].get<std::string>().empty())
      return "Title: cannot be blank";
    if (!t.contains("conditions") || !t["conditions"].is_object()) return "Conditions: cannot be blank";
    if (!t.contains("actions") || !t["actions"].is_array() || t["actions"].empty()) return "Actions: cannot be blank";
    for (const auto& a : t["actions"]) {
      if (a.value("field", "") != "notification_webhook") continue;
      const json& v = a.value("value", json());
      if (!v.is_array() || v.size() != 2 || !v[0].is_string() || !v[1].is_string())
        return "notification_webhook needs [webhook_id, body]";
      const std::string id = v[0].get<std::string>();
      if (!webhooks.count(id)) return "Webhook " + id + " does not exist";
      if (json::parse(v[1].get<std::string>(), nullptr, false).is_discarded())
        return "notification_webhook body is not valid JSON";
    }
    return "";
  }
};

ZendeskFake::ZendeskFake(ZendeskFakeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  AddUser("deskpilot bot", impl_->options.email, "agent");
}

ZendeskFake::~ZendeskFake() { Stop(); }

Status ZendeskFake::Start() {
  Impl& d = *impl_;
  d.server.set_tcp_nodelay(true);
  ServeOneRequestPerConnection(d.server);
  d.server.new_task_queue = [] { return new httplib::ThreadPool(4); };
  d.Routes();
  d.port = BindWithFullBacklog(d.server, d.options.host, d.options.port);
  if (d.port <= 0)
    return Status::Unavailable("zendesk fake: cannot bind " + d.options.host + ":" + std::to_string(d.options.port));
  d.thread = std::thread([&d] { d.server.listen_after_bind(); });
  d.deliverer = std::thread([&d] { d.DeliverLoop(); });
  while (!d.server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  d.running = true;
  return Status::Ok();
}

void ZendeskFake::Stop() {
  if (!impl_->running) return;
  impl_->server.stop();
  impl_->thread.join();
  {
    std::lock_guard lock(impl_->mu);
    impl_->stopping = true;
  }
  impl_->outbox_cv.notify_all();
  impl_->deliverer.join();
  impl_->running = false;
}

int ZendeskFake::port() const { return impl_->port; }
std::string ZendeskFake::base_url() const {
  // A wildcard bind is still reached through loopback.
  const std::string host = impl_->options.host == "0.0.0.0" ? "127.0.0.1" : impl_->options.host;
  return "http://" + host + ":" + std::to_string(impl_->port);
}

int64_t ZendeskFake::AddUser(const std::string& name, const std::string& email, const std::string& role) {
  std::lock_guard lock(impl_->mu);
  // The first user is the API user, with the id the options give it.
  const int64_t id = impl_->users.empty() ? impl_->options.api_user_id : ++impl_->next_id;
  impl_->users[id] = {{"id", id}, {"name", name}, {"email", email}, {"role", role}, {"locale", "en-US"},
                      {"created_at", Now3339()}};
  return id;
}

int64_t ZendeskFake::AddGroup(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = ++impl_->next_id;
  impl_->groups[id] = {{"id", id}, {"name", name}};
  return id;
}

int64_t ZendeskFake::AddTicket(json ticket) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = ++impl_->next_id;
  const std::string now = Now3339();
  json t = {{"id", id},
            {"url", base_url() + "/api/v2/tickets/" + std::to_string(id) + ".json"},
            {"external_id", nullptr},
            {"type", nullptr},
            {"subject", ""},
            {"description", ""},
            {"priority", nullptr},
            {"status", "new"},
            {"requester_id", nullptr},
            {"submitter_id", nullptr},
            {"assignee_id", nullptr},
            {"organization_id", nullptr},
            {"group_id", nullptr},
            {"tags", json::array()},
            {"via", {{"channel", "web"}, {"source", {{"from", json::object()}, {"to", json::object()}, {"rel", nullptr}}}}},
            {"custom_fields", json::array()},
            {"created_at", now},
            {"updated_at", now}};
  for (const auto& [k, v] : ticket.items()) t[k] = v;
  t["raw_subject"] = t["subject"];
  if (t["submitter_id"].is_null()) t["submitter_id"] = t["requester_id"];
  t["fields"] = t["custom_fields"];
  impl_->tickets[id] = t;
  const int64_t requester = t["requester_id"].is_number_integer() ? t["requester_id"].get<int64_t>() : 0;
  impl_->NewComment(id, requester, t["description"].get<std::string>(), true, t["via"]["channel"].get<std::string>());
  return id;
}

int64_t ZendeskFake::AddComment(int64_t ticket_id, int64_t author_id, const std::string& body, bool is_public) {
  std::lock_guard lock(impl_->mu);
  if (auto it = impl_->tickets.find(ticket_id); it != impl_->tickets.end()) it->second["updated_at"] = Now3339();
  return impl_->NewComment(ticket_id, author_id, body, is_public, "web");
}

void ZendeskFake::AgentSetsTags(int64_t ticket_id, int64_t agent_id, const std::vector<std::string>& tags) {
  std::lock_guard lock(impl_->mu);
  json& t = impl_->tickets.at(ticket_id);
  t["tags"] = tags;
  t["updated_at"] = Now3339();
  impl_->RunTriggers(ticket_id, /*created=*/false, /*comment_public=*/false, "agent", agent_id);
}

void ZendeskFake::DeleteTicket(int64_t ticket_id) {
  std::lock_guard lock(impl_->mu);
  impl_->tickets.erase(ticket_id);
  impl_->comments.erase(ticket_id);
}

int64_t ZendeskFake::AddArticle(json article) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = ++impl_->next_id;
  const std::string now = Now3339();
  const std::string base = base_url();
  json a = {{"id", id}, {"title", ""}, {"body", ""}, {"locale", "en-us"}, {"draft", false},
            {"author_id", impl_->options.api_user_id}, {"comments_disabled", false}, {"content_tag_ids", json::array()},
            {"label_names", json::array()}, {"outdated", false}, {"outdated_locales", json::array()},
            {"permission_group_id", 1}, {"position", 0}, {"promoted", false}, {"section_id", 360000001},
            {"user_segment_id", nullptr}, {"user_segment_ids", json::array()}, {"vote_count", 0}, {"vote_sum", 0},
            {"created_at", now}, {"edited_at", now}, {"updated_at", now}};
  for (const auto& [k, v] : article.items()) a[k] = v;
  a["source_locale"] = a["locale"];
  const std::string locale = a["locale"].get<std::string>();
  a["url"] = base + "/api/v2/help_center/" + locale + "/articles/" + std::to_string(id) + ".json";
  a["html_url"] = base + "/hc/" + locale + "/articles/" + std::to_string(id) + "-" + Slug(a["title"].get<std::string>());
  impl_->articles[id] = a;
  return id;
}

void ZendeskFake::UpdateArticle(int64_t article_id, const json& patch) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->articles.find(article_id);
  if (it == impl_->articles.end()) return;
  it->second["updated_at"] = it->second["edited_at"] = Now3339();
  for (const auto& [k, v] : patch.items()) it->second[k] = v;
}

void ZendeskFake::ArchiveArticle(int64_t article_id) {
  std::lock_guard lock(impl_->mu);
  impl_->archived.insert(article_id);
}

std::vector<ZendeskFake::Delivery> ZendeskFake::Deliveries() const {
  std::lock_guard lock(impl_->mu);
  return impl_->deliveries;
}

void ZendeskFake::ResetRateLimit() {
  std::lock_guard lock(impl_->mu);
  impl_->window_start = Clock::now();
  impl_->window_count = 0;
}

json ZendeskFake::Ticket(int64_t ticket_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->tickets.find(ticket_id);
  return it == impl_->tickets.end() ? json() : it->second;
}

std::vector<json> ZendeskFake::Comments(int64_t ticket_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->comments.find(ticket_id);
  return it == impl_->comments.end() ? std::vector<json>{} : it->second;
}

std::vector<json> ZendeskFake::Webhooks() const {
  std::lock_guard lock(impl_->mu);
  std::vector<json> out;
  for (const auto& [id, w] : impl_->webhooks) out.push_back(w);
  return out;
}

std::vector<json> ZendeskFake::Triggers() const {
  std::lock_guard lock(impl_->mu);
  std::vector<json> out;
  for (const auto& [id, t] : impl_->triggers) out.push_back(t);
  return out;
}

void ZendeskFake::InjectFault(Fault fault) {
  std::lock_guard lock(impl_->mu);
  impl_->faults.push_back(std::move(fault));
}

std::vector<ZendeskFake::Request> ZendeskFake::Requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->log;
}

int ZendeskFake::CountRequests(const std::string& method, const std::string& path_prefix) const {
  std::lock_guard lock(impl_->mu);
  return static_cast<int>(std::count_if(impl_->log.begin(), impl_->log.end(), [&](const Request& r) {
    return (method.empty() || r.method == method) && r.path.rfind(path_prefix, 0) == 0;
  }));
}

}  // namespace deskpilot
