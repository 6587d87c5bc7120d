#include "helpdesk/zammad/zammad_fake.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <httplib.h>

#include "common/loopback_server/loopback_server.h"

namespace deskpilot {
namespace {

using nlohmann::json;

std::string Now3339() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
  return buf;
}

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json; charset=utf-8");
}

// Zammad's error shape: {"error": ..., "error_human": ...}.
void Error(httplib::Response& res, int status, const std::string& message) {
  SendJson(res, status, {{"error", message}, {"error_human", message}});
}

// Zammad's default lookup tables (db/seeds).
const std::map<int64_t, std::string> kPriorities = {{1, "1 low"}, {2, "2 normal"}, {3, "3 high"}};
const std::map<int64_t, std::string> kStates = {{1, "new"},    {2, "open"},    {3, "pending reminder"}, {4, "closed"},
                                               {5, "merged"}, {6, "removed"}, {7, "pending close"}};
// db/seeds/ticket_article_senders.rb: Agent 1, Customer 2, System 3 (the admin adapter's
// customer trigger names the Customer sender by this id).
const std::map<int64_t, std::string> kSenders = {{1, "Agent"}, {2, "Customer"}, {3, "System"}};
const std::map<int64_t, std::string> kTypes = {{1, "email"}, {5, "phone"}, {10, "note"}, {11, "web"}};

std::optional<int64_t> IdOf(const std::map<int64_t, std::string>& table, const std::string& name) {
  for (const auto& [id, n] : table)
    if (n == name) return id;
  return std::nullopt;
}

std::optional<int64_t> ParseId(const std::string& s) {
  if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoll(s);
}

}  // namespace

struct ZammadFake::Impl {
  ZammadFakeOptions options;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  bool running = false;

  mutable std::mutex mu;
  int64_t next_id = 100;
  std::map<int64_t, json> users;
  std::map<int64_t, std::string> groups = {{1, "Users"}};
  std::map<int64_t, json> tickets;  // attributes with ids, as stored
  std::map<int64_t, std::vector<json>> articles;
  std::map<int64_t, std::vector<std::string>> tags;
  std::map<int64_t, json> kb_answers;       // KnowledgeBaseAnswer assets
  std::map<int64_t, json> kb_translations;  // KnowledgeBaseAnswerTranslation assets
  std::map<int64_t, json> kb_contents;      // KnowledgeBaseAnswerTranslationContent assets
  std::map<int64_t, json> webhooks;
  std::map<int64_t, json> triggers;
  std::deque<Fault> faults;       // answered instead of serving
  std::deque<Fault> late_faults;  // answered after serving
  std::vector<Request> log;

  explicit Impl(ZammadFakeOptions o) : options(std::move(o)) {}

  std::string Login(int64_t user_id) const {
    auto it = users.find(user_id);
    return it == users.end() ? "" : it->second.value("login", "");
  }

  // attributes_with_association_names: the ids plus each association by login or name.
  // REQUIRES mu held.
  json ExpandTicket(const json& t) const {
    json out = t;
    out["priority"] = kPriorities.at(t["priority_id"].get<int64_t>());
    out["state"] = kStates.at(t["state_id"].get<int64_t>());
    out["group"] = groups.at(t["group_id"].get<int64_t>());
    out["customer"] = Login(t["customer_id"].get<int64_t>());
    out["created_by"] = Login(t["created_by_id"].get<int64_t>());
    out["updated_by"] = Login(t["updated_by_id"].get<int64_t>());
    out["create_article_type"] = kTypes.at(t["create_article_type_id"].get<int64_t>());
    out["create_article_sender"] = kSenders.at(t["create_article_sender_id"].get<int64_t>());
    // User 1 is Zammad's "-" (nobody), the owner of an unassigned ticket.
    out["owner"] = t["owner_id"] == 1 ? "-" : Login(t["owner_id"].get<int64_t>());
    out["ticket_time_accounting_ids"] = json::array();
    json ids = json::array();
    for (const auto& a : articles.at(t["id"].get<int64_t>())) ids.push_back(a["id"]);
    out["article_ids"] = ids;
    return out;
  }

  // REQUIRES mu held.
  int64_t NewArticle(int64_t ticket_id, int64_t author_id, const std::string& body, const std::string& content_type,
                     bool internal, int64_t sender_id, int64_t type_id, const std::string& to,
                     const std::string& subject) {
    const int64_t id = ++next_id;
    const std::string now = Now3339();
    auto author = users.find(author_id);
    const std::string from = author == users.end() ? "" :
        author->second.value("firstname", "") + " " + author->second.value("lastname", "") + " <" +
        author->second.value("email", "") + ">";
    articles[ticket_id].push_back({{"id", id},
                                   {"ticket_id", ticket_id},
                                   {"type_id", type_id},
                                   {"type", kTypes.at(type_id)},
                                   {"sender_id", sender_id},
                                   {"sender", kSenders.at(sender_id)},
                                   {"from", from},
                                   {"to", to},
                                   {"cc", nullptr},
                                   {"subject", subject},
                                   {"reply_to", nullptr},
                                   {"message_id", nullptr},
                                   {"content_type", content_type},
                                   {"body", body},
                                   {"internal", internal},
                                   {"preferences", json::object()},
                                   {"created_by_id", author_id},
                                   {"updated_by_id", author_id},
                                   {"created_by", Login(author_id)},
                                   {"updated_by", Login(author_id)},
                                   {"origin_by_id", nullptr},
                                   {"attachments", json::array()},
                                   {"created_at", now},
                                   {"updated_at", now}});
    if (auto t = tickets.find(ticket_id); t != tickets.end()) {
      t->second["updated_at"] = now;
      t->second["updated_by_id"] = author_id;
      t->second["article_count"] = articles[ticket_id].size();
    }
    return id;
  }

  // Runs before every handler: request log, injected faults, authentication. True when
  // it already answered.
  // Answers the first fault of `list` that matches. REQUIRES mu held.
  static bool ApplyFault(std::deque<Fault>& list, const httplib::Request& req, httplib::Response& res) {
    for (auto it = list.begin(); it != list.end(); ++it) {
      if ((!it->method.empty() && it->method != req.method) || req.path.rfind(it->path_prefix, 0) != 0) continue;
      res.status = it->status;
      if (!it->retry_after.empty()) res.set_header("Retry-After", it->retry_after);
      res.set_content(R"({"error":"injected fault"})", "application/json");
      if (--it->count <= 0) list.erase(it);
      return true;
    }
    return false;
  }

  bool Gate(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    Request logged{req.method, req.path, {}, req.body};
    for (const auto& [k, v] : req.params) logged.params[k] = v;
    log.push_back(std::move(logged));
    if (ApplyFault(faults, req, res)) return true;
    if (req.get_header_value("Authorization") != "Token token=" + options.api_token) {
      Error(res, 401, "Authentication failed");
      return true;
    }
    return false;
  }

  httplib::Server::Handler Gated(httplib::Server::Handler handler) {
    return [this, handler](const httplib::Request& req, httplib::Response& res) {
      if (Gate(req, res)) return;
      handler(req, res);
      std::lock_guard lock(mu);
      ApplyFault(late_faults, req, res);
    };
  }

  // The ticket named by the path's first capture; answers 404 when absent. REQUIRES mu held.
  json* FindTicket(const std::string& id_text, httplib::Response& res) {
    auto id = ParseId(id_text);
    auto it = id ? tickets.find(*id) : tickets.end();
    if (it == tickets.end()) {
      Error(res, 404, "Couldn't find Ticket with 'id'=" + id_text);
      return nullptr;
    }
    return &it->second;
  }

  bool ParseBody(const httplib::Request& req, httplib::Response& res, json* out) {
    *out = json::parse(req.body, nullptr, false);
    if (out->is_discarded() || !out->is_object()) {
      Error(res, 422, "The request body is not a JSON object");
      return false;
    }
    return true;
  }

  // The subset of the search the fake models (see the header); nullopt when the query
  // has a term it does not know. REQUIRES mu held.
  std::optional<std::vector<const json*>> Search(const std::string& query) const {
    std::vector<std::string> terms;
    for (size_t from = 0;;) {
      const size_t at = query.find(" AND ", from);
      terms.push_back(query.substr(from, at == std::string::npos ? std::string::npos : at - from));
      if (at == std::string::npos) break;
      from = at + 5;
    }
    std::vector<const json*> out;
    for (const auto& [id, t] : tickets) {
      bool match = true;
      for (const std::string& term : terms) {
        if (term.rfind("state.name:", 0) == 0) {
          match = match && kStates.at(t["state_id"].get<int64_t>()) == term.substr(11);
        } else if (term.rfind("updated_at:[", 0) == 0 && term.size() == 28 && term.compare(22, 6, " TO *]") == 0) {
          // A date-only bound is that day's midnight, UTC: RFC 3339 text compares as time.
          match = match && t["updated_at"].get<std::string>() >= term.substr(12, 10);
        } else {
          return std::nullopt;
        }
      }
      if (match) out.push_back(&t);
    }
    return out;
  }

  // KnowledgeBasesController#init for an editor. REQUIRES mu held.
  json KbAssets(const json& content_ids) const {
    json assets = {
        {"KnowledgeBase", {{"1", {{"id", 1}, {"active", true}, {"custom_address", nullptr}, {"kb_locale_ids", {1, 2}}}}}},
        {"KnowledgeBaseLocale",
         {{"1", {{"id", 1}, {"knowledge_base_id", 1}, {"system_locale_id", 1}, {"primary", true}}},
          {"2", {{"id", 2}, {"knowledge_base_id", 1}, {"system_locale_id", 7}, {"primary", false}}}}},
        {"KnowledgeBaseCategory", {{"1", {{"id", 1}, {"knowledge_base_id", 1}, {"parent_id", nullptr}}}}},
        {"KnowledgeBaseAnswer", json::object()},
        {"KnowledgeBaseAnswerTranslation", json::object()}};
    for (const auto& [id, a] : kb_answers) assets["KnowledgeBaseAnswer"][std::to_string(id)] = a;
    for (const auto& [id, t] : kb_translations) assets["KnowledgeBaseAnswerTranslation"][std::to_string(id)] = t;
    if (content_ids.is_array()) {
      for (const json& id : content_ids) {
        auto n = id.is_number_integer() ? std::optional<int64_t>(id.get<int64_t>())
                                        : ParseId(id.is_string() ? id.get<std::string>() : "");
        if (auto c = n ? kb_contents.find(*n) : kb_contents.end(); c != kb_contents.end())
          assets["KnowledgeBaseAnswerTranslationContent"][std::to_string(*n)] = c->second;
      }
    }
    return assets;
  }

  // REQUIRES mu held.
  void NewKbTranslation(int64_t answer_id, const json& t) {
    const int64_t locale = t.value("kb_locale_id", int64_t{1});
    const int64_t id = answer_id * 10 + locale;
    const json& answer = kb_answers.at(answer_id);
    kb_translations[id] = {{"id", id},
                           {"title", t.value("title", "")},
                           {"kb_locale_id", locale},
                           {"answer_id", answer_id},
                           {"content_id", id},
                           {"created_at", answer["created_at"]},
                           {"updated_at", t.value("translation_updated_at", answer["updated_at"].get<std::string>())}};
    kb_contents[id] = {{"id", id}, {"body", t.value("body", "")}, {"attachments", json::array()}};
    kb_answers[answer_id]["translation_ids"].push_back(id);
  }

  // Webhook#validate_endpoint, #validate_custom_payload, #reset_custom_payload. "" when
  // valid. REQUIRES mu held.
  static std::string CheckWebhook(json& w) {
    if (w.value("name", "").empty()) return "Name can't be blank";
    const std::string endpoint = w.value("endpoint", "");
    const size_t scheme = endpoint.find("://");
    if (endpoint.rfind("http://", 0) != 0 && endpoint.rfind("https://", 0) != 0)
      return "The provided endpoint is invalid, no http or https protocol was specified.";
    if (scheme + 3 >= endpoint.size() || endpoint[scheme + 3] == '/')
      return "The provided endpoint is invalid, no hostname was specified.";
    if (!w.value("customized_payload", false)) w["custom_payload"] = nullptr;
    const json& payload = w.value("custom_payload", json());
    if (payload.is_string() && json::parse(payload.get<std::string>(), nullptr, false).is_discarded())
      return "The provided payload is invalid. Please check your syntax.";
    return "";
  }

  // Trigger's validations. "" when valid. REQUIRES mu held.
  std::string CheckTrigger(const json& t, int64_t self_id) const {
    const std::string name = t.value("name", "");
    if (name.empty()) return "Name can't be blank";
    auto lower = [](std::string v) {
      for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return v;
    };
    for (const auto& [id, other] : triggers)
      if (id != self_id && lower(other.value("name", "")) == lower(name)) return "Name has already been taken";
    const std::string activator = t.value("activator", "");
    if (activator != "action" && activator != "time") return "Activator is not included in the list";
    const std::string mode = t.value("execution_condition_mode", "");
    if (mode != "selective" && mode != "always") return "Execution condition mode is not included in the list";
    const json& perform = t.value("perform", json());
    if (!perform.is_object() || perform.empty()) return "Perform can't be blank";
    if (perform.contains("notification.webhook")) {
      const json& id = perform["notification.webhook"].value("webhook_id", json());
      auto n = id.is_number_integer() ? std::optional<int64_t>(id.get<int64_t>())
                                      : ParseId(id.is_string() ? id.get<std::string>() : "");
      if (!n || !webhooks.count(*n))
        return "The required 'perform' value for notification.webhook, webhook_id is missing!";
    }
    if (!t.value("condition", json()).is_object()) return "Condition is invalid";
    return "";
  }

  // The CRUD routes of one admin model (webhooks or triggers). REQUIRES nothing.
  void AdminRoutes(const std::string& path, std::map<int64_t, json> Impl::*store, bool webhook) {
    auto denied = [this](httplib::Response& res) {
      if (options.admin_permission) return false;
      Error(res, 403, "Not authorized (user)!");
      return true;
    };
    auto masked = [webhook](json o) {
      if (webhook)
        for (const char* key : {"signature_token", "basic_auth_password", "bearer_token"})
          if (o.value(key, json()).is_string() && !o[key].get<std::string>().empty()) o[key] = kZammadFakeMask;
      return o;
    };
    server.Get(path, Gated([this, store, denied, masked](const httplib::Request&, httplib::Response& res) {
      if (denied(res)) return;
      std::lock_guard lock(mu);
      json list = json::array();
      for (const auto& [id, o] : this->*store) list.push_back(masked(o));
      SendJson(res, 200, list);
    }));
    server.Post(path, Gated([this, store, denied, masked, webhook](const httplib::Request& req, httplib::Response& res) {
      if (denied(res)) return;
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      const int64_t id = ++next_id;
      body["id"] = id;
      const std::string error = webhook ? CheckWebhook(body) : CheckTrigger(body, id);
      if (!error.empty()) return Error(res, 422, error);
      body["created_at"] = body["updated_at"] = Now3339();
      (this->*store)[id] = body;
      SendJson(res, 201, masked(body));
    }));
    server.Put(path + R"(/([^/]+))",
               Gated([this, store, denied, masked, webhook](const httplib::Request& req, httplib::Response& res) {
                 if (denied(res)) return;
                 json body;
                 if (!ParseBody(req, res, &body)) return;
                 std::lock_guard lock(mu);
                 auto id = ParseId(req.matches[1]);
                 auto it = id ? (this->*store).find(*id) : (this->*store).end();
                 if (it == (this->*store).end()) return Error(res, 404, "Couldn't find object");
                 json next = it->second;
                 for (const auto& [k, v] : body.items())
                   if (k != "id") next[k] = v;
                 const std::string error = webhook ? CheckWebhook(next) : CheckTrigger(next, *id);
                 if (!error.empty()) return Error(res, 422, error);
                 next["updated_at"] = Now3339();
                 it->second = next;
                 SendJson(res, 200, masked(next));
               }));
    server.Delete(path + R"(/([^/]+))",
                  Gated([this, store, denied, webhook](const httplib::Request& req, httplib::Response& res) {
                    if (denied(res)) return;
                    std::lock_guard lock(mu);
                    auto id = ParseId(req.matches[1]);
                    auto it = id ? (this->*store).find(*id) : (this->*store).end();
                    if (it == (this->*store).end()) return Error(res, 404, "Couldn't find object");
                    if (webhook)
                      for (const auto& [tid, t] : triggers) {
                        const json& hook = t.value("perform", json::object()).value("notification.webhook", json());
                        const json& wid = hook.is_object() ? hook.value("webhook_id", json()) : json();
                        if (wid == json(*id) || wid == json(std::to_string(*id)))
                          return Error(res, 422, "This object is referenced by other object(s) and thus cannot be deleted");
                      }
                    (this->*store).erase(it);
                    SendJson(res, 200, json::object());
                  }));
  }

  void Routes() {
    AdminRoutes("/api/v1/webhooks", &Impl::webhooks, /*webhook=*/true);
    AdminRoutes("/api/v1/triggers", &Impl::triggers, /*webhook=*/false);
    server.Post("/api/v1/knowledge_bases/init", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body = req.body.empty() ? json::object() : json::parse(req.body, nullptr, false);
      if (!body.is_object()) return Error(res, 422, "The request body is not a JSON object");
      std::lock_guard lock(mu);
      if (!options.kb_permission) return SendJson(res, 200, json::array());
      SendJson(res, 200, KbAssets(body.value("answer_translation_content_ids", json())));
    }));
    // Before /tickets/{id}, which would take "search" for an id.
    server.Get("/api/v1/tickets/search", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      auto found = Search(req.get_param_value("query"));
      if (!found) return Error(res, 422, "zammad fake: unmodelled search query: " + req.get_param_value("query"));
      const std::string sort_by = req.has_param("sort_by") ? req.get_param_value("sort_by") : "updated_at";
      const bool desc = req.get_param_value("order_by") != "asc";
      if (sort_by != "updated_at" && sort_by != "created_at" && sort_by != "id")
        return Error(res, 422, "zammad fake: unmodelled sort_by " + sort_by);
      std::stable_sort(found->begin(), found->end(), [&](const json* a, const json* b) {
        return desc ? (*b)[sort_by] < (*a)[sort_by] : (*a)[sort_by] < (*b)[sort_by];
      });
      // CanPaginate: per_page or limit, 50 by default, at most 200; page from 1.
      const std::string size_text = req.has_param("per_page") ? req.get_param_value("per_page")
                                                              : req.get_param_value("limit");
      const int64_t size = std::min<int64_t>(ParseId(size_text).value_or(50), 200);
      const int64_t page = std::max<int64_t>(1, ParseId(req.get_param_value("page")).value_or(1));
      std::vector<const json*> hits;
      for (auto i = static_cast<size_t>((page - 1) * size); i < found->size() && hits.size() < static_cast<size_t>(size);
           ++i)
        hits.push_back((*found)[i]);
      if (req.get_param_value("expand") == "true") {
        json list = json::array();
        for (const json* t : hits) list.push_back(ExpandTicket(*t));
        return SendJson(res, 200, list);
      }
      json ids = json::array(), assets = json::object();
      for (const json* t : hits) {
        ids.push_back((*t)["id"]);
        assets["Ticket"][std::to_string((*t)["id"].get<int64_t>())] = *t;
      }
      SendJson(res, 200, {{"tickets", ids}, {"tickets_count", hits.size()}, {"assets", assets}});
    }));
    server.Get(R"(/api/v1/tickets/([^/]+))", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      json* t = FindTicket(req.matches[1], res);
      if (t == nullptr) return;
      SendJson(res, 200, req.get_param_value("expand") == "true" ? ExpandTicket(*t) : *t);
    }));
    server.Put(R"(/api/v1/tickets/([^/]+))", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      json* t = FindTicket(req.matches[1], res);
      if (t == nullptr) return;
      json next = *t;
      for (const auto& [k, v] : body.items()) {
        if (k == "priority" || k == "group" || k == "state") {
          const auto& table = k == "priority" ? kPriorities : k == "state" ? kStates : groups;
          auto id = v.is_string() ? IdOf(table, v.get<std::string>()) : std::nullopt;
          // Ticket.association_name_to_id_convert refuses a name it cannot look up.
          if (!id) return Error(res, 422, "No lookup value found for '" + k + "': " + v.dump());
          next[k + "_id"] = *id;
        } else if (k == "id" || k == "number") {
          continue;
        } else {
          next[k] = v;
        }
      }
      next["updated_at"] = Now3339();
      next["updated_by_id"] = options.api_user_id;
      *t = next;
      SendJson(res, 200, *t);
    }));
    server.Get(R"(/api/v1/ticket_articles/by_ticket/([^/]+))",
               Gated([this](const httplib::Request& req, httplib::Response& res) {
                 std::lock_guard lock(mu);
                 if (FindTicket(req.matches[1], res) == nullptr) return;
                 SendJson(res, 200, articles[ParseId(req.matches[1]).value()]);
               }));
    server.Post("/api/v1/ticket_articles", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      const json& tid = body.value("ticket_id", json());
      const std::string tid_text = tid.is_number_integer() ? std::to_string(tid.get<int64_t>())
                                   : tid.is_string()       ? tid.get<std::string>()
                                                           : "";
      if (FindTicket(tid_text, res) == nullptr) return;
      const std::string text = body.value("body", "");
      if (text.empty()) return Error(res, 422, "Need at least an article body");
      auto type = IdOf(kTypes, body.value("type", "note"));
      if (!type) return Error(res, 422, "No lookup value found for 'type': " + body.value("type", json()).dump());
      const json& internal = body.value("internal", json(false));
      if (!internal.is_boolean()) return Error(res, 422, "internal must be true or false");
      NewArticle(ParseId(tid_text).value(), options.api_user_id, text, body.value("content_type", "text/plain"),
                 internal.get<bool>(), 1, *type, body.value("to", ""), body.value("subject", ""));
      SendJson(res, 201, articles[ParseId(tid_text).value()].back());
    }));
    server.Get(R"(/api/v1/users/([^/]+))", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      auto id = ParseId(req.matches[1]);
      auto it = id ? users.find(*id) : users.end();
      if (it == users.end()) return Error(res, 404, "Couldn't find User with 'id'=" + std::string(req.matches[1]));
      SendJson(res, 200, it->second);
    }));
    server.Get("/api/v1/tags", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      if (req.get_param_value("object") != "Ticket") return Error(res, 422, "object must be Ticket");
      if (FindTicket(req.get_param_value("o_id"), res) == nullptr) return;
      SendJson(res, 200, {{"tags", tags[ParseId(req.get_param_value("o_id")).value()]}});
    }));
    server.Post("/api/v1/tags/add", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      if (body.value("object", "") != "Ticket") return Error(res, 422, "object must be Ticket");
      const json& o_id = body.value("o_id", json());
      const std::string id_text = o_id.is_number_integer() ? std::to_string(o_id.get<int64_t>())
                                  : o_id.is_string()       ? o_id.get<std::string>()
                                                           : "";
      json* t = FindTicket(id_text, res);
      if (t == nullptr) return;
      const std::string item = body.value("item", "");
      if (item.empty()) return Error(res, 422, "item is required");
      auto& list = tags[ParseId(id_text).value()];
      if (std::find(list.begin(), list.end(), item) == list.end()) {
        list.push_back(item);
        (*t)["updated_by_id"] = options.api_user_id;
      }
      SendJson(res, 201, true);
    }));
  }
};

ZammadFake::ZammadFake(ZammadFakeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = impl_->options.api_user_id;
  impl_->users[id] = {{"id", id},         {"login", "deskpilot-bot"},  {"firstname", "deskpilot"},
                      {"lastname", "bot"}, {"email", "bot@example.com"}, {"role", "Agent"}};
}

ZammadFake::~ZammadFake() { Stop(); }

Status ZammadFake::Start() {
  Impl& d = *impl_;
  d.server.set_tcp_nodelay(true);
  ServeOneRequestPerConnection(d.server);
  d.server.new_task_queue = [] { return new httplib::ThreadPool(4); };
  d.Routes();
  d.port = BindWithFullBacklog(d.server, d.options.host, d.options.port);
  if (d.port <= 0)
    return Status::Unavailable("zammad fake: cannot bind " + d.options.host + ":" + std::to_string(d.options.port));
  d.thread = std::thread([&d] { d.server.listen_after_bind(); });
  while (!d.server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  d.running = true;
  return Status::Ok();
}

void ZammadFake::Stop() {
  if (!impl_->running) return;
  impl_->server.stop();
  impl_->thread.join();
  impl_->running = false;
}

std::string ZammadFake::base_url() const { return "http://" + impl_->options.host + ":" + std::to_string(impl_->port); }

int64_t ZammadFake::AddUser(const std::string& firstname, const std::string& lastname, const std::string& email,
                            const std::string& role) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = ++impl_->next_id;
  impl_->users[id] = {{"id", id},         {"login", email}, {"firstname", firstname},
                      {"lastname", lastname}, {"email", email}, {"role", role}};
  return id;
}

int64_t ZammadFake::AddGroup(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = ++impl_->next_id;
  impl_->groups[id] = name;
  return id;
}

int64_t ZammadFake::AddTicket(const json& ticket, const std::string& body, const std::string& content_type) {
  std::lock_guard lock(impl_->mu);
  Impl& d = *impl_;
  const int64_t id = ++d.next_id;
  const int64_t customer = ticket.value("customer_id", int64_t{0});
  const std::string now = Now3339();
  d.tickets[id] = {{"id", id},
                   {"number", std::to_string(31000 + id)},
                   {"title", ticket.value("title", "")},
                   {"group_id", IdOf(d.groups, ticket.value("group", "Users")).value()},
                   {"priority_id", IdOf(kPriorities, ticket.value("priority", "2 normal")).value()},
                   {"state_id", IdOf(kStates, ticket.value("state", "new")).value()},
                   {"customer_id", customer},
                   {"owner_id", 1},
                   {"organization_id", nullptr},
                   {"create_article_type_id", 11},
                   {"create_article_sender_id", 2},
                   {"article_count", 0},
                   {"created_by_id", customer},
                   {"updated_by_id", customer},
                   {"created_at", now},
                   {"updated_at", now},
                   // Core columns that arrive on every ticket (null until set), so a
                   // test sees that none of them is taken for a custom attribute.
                   {"note", nullptr},
                   {"pending_time", nullptr},
                   {"escalation_at", nullptr},
                   {"first_response_at", nullptr},
                   {"last_contact_at", now},
                   {"last_contact_customer_at", now},
                   {"time_unit", nullptr},
                   {"type", nullptr},
                   {"preferences", {{"channel_id", 3}}}};
  // Custom object attributes are columns of their own, top-level keys like the core ones.
  const json attributes = ticket.value("attributes", json::object());
  for (const auto& [name, value] : attributes.items()) d.tickets[id][name] = value;
  d.articles[id] = {};
  d.tags[id] = ticket.value("tags", std::vector<std::string>{});
  d.NewArticle(id, customer, body, content_type, false, 2, 11, "", ticket.value("title", ""));
  return id;
}

int64_t ZammadFake::AddArticle(int64_t ticket_id, int64_t author_id, const std::string& body, bool internal,
                               const std::string& sender, const std::string& content_type, const std::string& type) {
  std::lock_guard lock(impl_->mu);
  return impl_->NewArticle(ticket_id, author_id, body, content_type, internal, IdOf(kSenders, sender).value(),
                           IdOf(kTypes, type).value(), "", "");
}

void ZammadFake::DeleteTicket(int64_t ticket_id) {
  std::lock_guard lock(impl_->mu);
  impl_->tickets.erase(ticket_id);
  impl_->articles.erase(ticket_id);
  impl_->tags.erase(ticket_id);
}

void ZammadFake::SetUpdatedAt(int64_t ticket_id, const std::string& rfc3339) {
  std::lock_guard lock(impl_->mu);
  impl_->tickets.at(ticket_id)["updated_at"] = rfc3339;
}

int64_t ZammadFake::AddKbAnswer(const json& answer) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = ++impl_->next_id;
  const std::string now = Now3339();
  json a = {{"id", id},
            {"category_id", answer.value("category_id", int64_t{1})},
            {"promoted", false},
            {"position", 0},
            {"published_at", nullptr},
            {"internal_at", nullptr},
            {"archived_at", nullptr},
            {"created_at", now},
            {"updated_at", answer.value("updated_at", now)},
            {"translation_ids", json::array()},
            {"attachments", json::array()},
            {"tags", json::array()}};
  for (const char* key : {"published_at", "internal_at", "archived_at"})
    if (answer.contains(key)) a[key] = answer[key];
  impl_->kb_answers[id] = a;
  impl_->NewKbTranslation(id, answer);
  return id;
}

void ZammadFake::AddKbTranslation(int64_t answer_id, const json& translation) {
  std::lock_guard lock(impl_->mu);
  impl_->NewKbTranslation(answer_id, translation);
}

json ZammadFake::Ticket(int64_t ticket_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->tickets.find(ticket_id);
  return it == impl_->tickets.end() ? json() : impl_->ExpandTicket(it->second);
}

std::vector<json> ZammadFake::Articles(int64_t ticket_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->articles.find(ticket_id);
  return it == impl_->articles.end() ? std::vector<json>{} : it->second;
}

std::vector<std::string> ZammadFake::Tags(int64_t ticket_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->tags.find(ticket_id);
  return it == impl_->tags.end() ? std::vector<std::string>{} : it->second;
}

std::string ZammadFake::WebhookPayload(int64_t ticket_id, int64_t article_id) const {
  std::lock_guard lock(impl_->mu);
  const Impl& d = *impl_;
  auto t = d.tickets.find(ticket_id);
  if (t == d.tickets.end()) return "{}";
  json ticket = d.ExpandTicket(t->second);
  // The webhook payload expands user associations into records (vendors.md, Zammad).
  for (const char* assoc : {"customer", "created_by", "updated_by"}) {
    auto u = d.users.find(t->second[std::string(assoc) + "_id"].get<int64_t>());
    ticket[assoc] = u == d.users.end() ? json() : u->second;
  }
  json payload = {{"ticket", ticket}};
  for (const auto& a : d.articles.at(ticket_id))
    if (a["id"] == article_id) payload["article"] = a;
  return payload.dump();
}

std::map<int64_t, json> ZammadFake::Webhooks() const {
  std::lock_guard lock(impl_->mu);
  return impl_->webhooks;
}

std::map<int64_t, json> ZammadFake::Triggers() const {
  std::lock_guard lock(impl_->mu);
  return impl_->triggers;
}

int64_t ZammadFake::AddWebhook(const json& webhook) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = ++impl_->next_id;
  impl_->webhooks[id] = webhook;
  impl_->webhooks[id]["id"] = id;
  return id;
}

void ZammadFake::EditTrigger(int64_t id, const json& fields) {
  std::lock_guard lock(impl_->mu);
  for (const auto& [k, v] : fields.items()) impl_->triggers.at(id)[k] = v;
}

void ZammadFake::InjectFault(Fault fault) {
  std::lock_guard lock(impl_->mu);
  (fault.after_serving ? impl_->late_faults : impl_->faults).push_back(std::move(fault));
}

std::vector<ZammadFake::Request> ZammadFake::Requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->log;
}

int ZammadFake::CountRequests(const std::string& method, const std::string& path_prefix) const {
  std::lock_guard lock(impl_->mu);
  return static_cast<int>(std::count_if(impl_->log.begin(), impl_->log.end(), [&](const Request& r) {
    return (method.empty() || r.method == method) && r.path.rfind(path_prefix, 0) == 0;
  }));
}

}  // namespace deskpilot
