#include "helpdesk/freshdesk/freshdesk_fake.h"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include <httplib.h>

#include "deskpilot/crypto.h"
#include "common/loopback_server/loopback_server.h"

namespace deskpilot {
namespace {

using nlohmann::json;

std::string Now3339() {
  std::time_t t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json; charset=utf-8");
}

// Freshdesk's error shape: {"description": ..., "errors": [{"field", "message", "code"}]}.
void Error(httplib::Response& res, int status, const std::string& field, const std::string& message) {
  SendJson(res, status,
           {{"description", "Validation failed"},
            {"errors", json::array({{{"field", field}, {"message", message}, {"code", "invalid_value"}}})}});
}

std::optional<int64_t> ParseId(const std::string& s) {
  if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoll(s);
}

// Freshdesk's body_text: the HTML's text, a <br> or a closed block a line break.
std::string TextOf(const std::string& html) {
  std::string out;
  for (size_t i = 0; i < html.size();) {
    if (html[i] == '<') {
      const size_t end = html.find('>', i);
      if (end == std::string::npos) break;
      const std::string tag = html.substr(i, std::min<size_t>(end - i, 5));
      if (tag.rfind("<br", 0) == 0 || tag.rfind("</p", 0) == 0 || tag.rfind("</div", 0) == 0) out += '\n';
      i = end + 1;
    } else if (html.compare(i, 5, "&amp;") == 0) {
      out += '&';
      i += 5;
    } else if (html.compare(i, 4, "&lt;") == 0) {
      out += '<';
      i += 4;
    } else if (html.compare(i, 4, "&gt;") == 0) {
      out += '>';
      i += 4;
    } else if (html.compare(i, 6, "&quot;") == 0) {
      out += '"';
      i += 6;
    } else {
      out += html[i++];
    }
  }
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

}  // namespace

struct FreshdeskFake::Impl {
  FreshdeskFakeOptions options;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  bool running = false;

  mutable std::mutex mu;
  int64_t next_id = 100;
  std::map<int64_t, json> contacts;  // agents too (they are users in Freshdesk)
  std::map<int64_t, std::string> groups;
  std::map<int64_t, json> tickets;
  std::map<int64_t, std::vector<json>> conversations;
  std::map<int64_t, json> categories, folders, articles;  // Solutions
  bool counts_dropped = false;
  bool categories_list_sub_folders = false;
  std::deque<Fault> faults;
  std::deque<Fault> late_faults;
  std::vector<Request> log;

  explicit Impl(FreshdeskFakeOptions o) : options(std::move(o)) {}

  // A folder as the API lists it, with its articles_count and sub_folders_count (left
  // out when counts_dropped, as an older answer might). REQUIRES mu held.
  json WithCounts(json folder) const {
    if (counts_dropped) return folder;
    const json id = folder["id"];
    int64_t sub = 0, arts = 0;
    for (const auto& [fid, f] : folders) sub += f.value("parent_folder_id", json()) == id ? 1 : 0;
    for (const auto& [aid, a] : articles) arts += a["folder_id"] == id ? 1 : 0;
    folder["sub_folders_count"] = sub;
    folder["articles_count"] = arts;
    return folder;
  }

  // REQUIRES mu held.
  int64_t NewConversation(int64_t ticket_id, int64_t user_id, const std::string& body, bool is_private,
                          bool incoming) {
    const int64_t id = ++next_id;
    const std::string now = Now3339();
    conversations[ticket_id].push_back({{"id", id},
                                        {"ticket_id", ticket_id},
                                        {"user_id", user_id},
                                        {"body", body},
                                        {"body_text", TextOf(body)},
                                        {"incoming", incoming},
                                        {"private", is_private},
                                        {"source", is_private ? 2 : 0},
                                        {"support_email", nullptr},
                                        {"to_emails", json::array()},
                                        {"attachments", json::array()},
                                        {"created_at", now},
                                        {"updated_at", now}});
    if (auto t = tickets.find(ticket_id); t != tickets.end()) t->second["updated_at"] = now;
    return id;
  }

  static bool ApplyFault(std::deque<Fault>& list, const httplib::Request& req, httplib::Response& res) {
    for (auto it = list.begin(); it != list.end(); ++it) {
      if ((!it->method.empty() && it->method != req.method) || req.path.rfind(it->path_prefix, 0) != 0) continue;
      res.status = it->status;
      if (!it->retry_after.empty()) res.set_header("Retry-After", it->retry_after);
      res.set_content(R"({"description":"injected fault"})", "application/json");
      if (--it->count <= 0) list.erase(it);
      return true;
    }
    return false;
  }

  // Runs before every handler: request log, injected faults, authentication. True when
  // it already answered.
  bool Gate(const httplib::Request& req, httplib::Response& res) {
    std::lock_guard lock(mu);
    Request logged{req.method, req.path, {}, req.body};
    for (const auto& [k, v] : req.params) logged.params[k] = v;
    log.push_back(std::move(logged));
    if (ApplyFault(faults, req, res)) return true;
    if (req.get_header_value("Authorization") != "Basic " + Base64Encode(options.api_key + ":X")) {
      SendJson(res, 401, {{"code", "invalid_credentials"}, {"message", "You have to be logged in to perform this action."}});
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

  // REQUIRES mu held.
  json* FindTicket(const std::string& id_text, httplib::Response& res) {
    auto id = ParseId(id_text);
    auto it = id ? tickets.find(*id) : tickets.end();
    if (it == tickets.end()) {
      res.status = 404;  // Freshdesk answers a missing ticket with an empty 404
      return nullptr;
    }
    return &it->second;
  }

  // One page of `all` (page, per_page <= 100, default 30) with a Link rel="next" header
  // while more remain. REQUIRES mu held.
  void SendPage(const std::vector<json>& all, const httplib::Request& req, httplib::Response& res) {
    const int64_t page = req.has_param("page") ? ParseId(req.get_param_value("page")).value_or(0) : 1;
    const int64_t per_page = req.has_param("per_page") ? ParseId(req.get_param_value("per_page")).value_or(0) : 30;
    if (page < 1 || per_page < 1 || per_page > 100)
      return Error(res, 400, "per_page", "It should be a Positive Integer less than or equal to 100");
    json out = json::array();
    for (int64_t i = (page - 1) * per_page; i < static_cast<int64_t>(all.size()) && i < page * per_page; ++i)
      out.push_back(all[static_cast<size_t>(i)]);
    if (page * per_page < static_cast<int64_t>(all.size()))
      res.set_header("Link", "<http://" + options.host + ":" + std::to_string(port) + req.path + "?page=" +
                                 std::to_string(page + 1) + "&per_page=" + std::to_string(per_page) + ">; rel=\"next\"");
    SendJson(res, 200, out);
  }

  bool ParseBody(const httplib::Request& req, httplib::Response& res, json* out) {
    *out = json::parse(req.body, nullptr, false);
    if (out->is_discarded() || !out->is_object()) {
      Error(res, 400, "body", "It should be a JSON object");
      return false;
    }
    return true;
  }

  void Routes() {
    server.Get(R"(/api/v2/tickets/(\d+))", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      json* t = FindTicket(req.matches[1], res);
      if (t == nullptr) return;
      json out = *t;
      if (req.get_param_value("include") == "requester") {
        auto c = contacts.find((*t)["requester_id"].get<int64_t>());
        out["requester"] = c == contacts.end() ? json() : c->second;
      }
      SendJson(res, 200, out);
    }));
    server.Put(R"(/api/v2/tickets/(\d+))", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      json* t = FindTicket(req.matches[1], res);
      if (t == nullptr) return;
      json next = *t;
      for (const auto& [k, v] : body.items()) {
        if (k == "tags") {
          if (!v.is_array()) return Error(res, 400, k, "It should be an array");
          next[k] = v;  // replaces the set
        } else if (k == "priority") {
          if (!v.is_number_integer() || v.get<int64_t>() < 1 || v.get<int64_t>() > 4)
            return Error(res, 400, k, "It should be one of these values: '1,2,3,4'");
          next[k] = v;
        } else if (k == "group_id") {
          if (!v.is_number_integer() || !groups.count(v.get<int64_t>()))
            return Error(res, 400, k, "There is no group matching the given group_id");
          next[k] = v;
        } else if (k == "custom_fields") {
          if (!v.is_object()) return Error(res, 400, k, "It should be a key/value pair");
          for (const auto& [cf, val] : v.items()) next[k][cf] = val;
        } else {
          return Error(res, 400, k, "Unexpected/invalid field in request");
        }
      }
      next["updated_at"] = Now3339();
      *t = next;
      SendJson(res, 200, *t);
    }));
    server.Get(R"(/api/v2/tickets/(\d+)/conversations)",
               Gated([this](const httplib::Request& req, httplib::Response& res) {
                 std::lock_guard lock(mu);
                 if (FindTicket(req.matches[1], res) == nullptr) return;
                 const int64_t id = ParseId(req.matches[1]).value();
                 SendPage(conversations[id], req, res);
               }));
    auto post = [this](bool note) {
      return Gated([this, note](const httplib::Request& req, httplib::Response& res) {
        json body;
        if (!ParseBody(req, res, &body)) return;
        std::lock_guard lock(mu);
        if (FindTicket(req.matches[1], res) == nullptr) return;
        const json& text = body.value("body", json());
        if (!text.is_string() || text.get<std::string>().empty()) return Error(res, 400, "body", "Mandatory attribute missing");
        for (const auto& [k, v] : body.items())
          if (k != "body" && !(note && k == "private")) return Error(res, 400, k, "Unexpected/invalid field in request");
        const json& priv = body.value("private", json(true));  // a note is private by default
        if (note && !priv.is_boolean()) return Error(res, 400, "private", "It should be a boolean");
        const int64_t id = ParseId(req.matches[1]).value();
        NewConversation(id, options.api_agent_id, text.get<std::string>(), note && priv.get<bool>(), false);
        SendJson(res, 201, conversations[id].back());
      });
    };
    server.Get("/api/v2/search/tickets", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::string q = req.get_param_value("query");
      if (q.size() < 2 || q.front() != '"' || q.back() != '"')
        return Error(res, 400, "query", "It should be a string enclosed in double quotes");
      q = q.substr(1, q.size() - 2);
      const size_t at = q.find("updated_at:>'");
      const std::string after = at == std::string::npos ? "" : q.substr(at + 13, 10);
      const int64_t page = req.has_param("page") ? ParseId(req.get_param_value("page")).value_or(0) : 1;
      if (page < 1 || page > 10) return Error(res, 400, "page", "It should be a Positive Integer less than or equal to 10");
      std::lock_guard lock(mu);
      json hits = json::array();
      for (const auto& [id, t] : tickets) {
        const bool status = q.find("status:" + std::to_string(t["status"].get<int64_t>())) != std::string::npos;
        if (status && t["updated_at"].get<std::string>().substr(0, 10) > after) hits.push_back(t);
      }
      json out = json::array();
      for (int64_t i = (page - 1) * 30; i < static_cast<int64_t>(hits.size()) && i < page * 30; ++i)
        out.push_back(hits[static_cast<size_t>(i)]);
      SendJson(res, 200, {{"results", out}, {"total", hits.size()}});
    }));
    server.Get("/api/v2/solutions/categories", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      std::vector<json> all;
      for (const auto& [id, c] : categories) all.push_back(c);
      SendPage(all, req, res);
    }));
    server.Get(R"(/api/v2/solutions/categories/(\d+)/folders)",
               Gated([this](const httplib::Request& req, httplib::Response& res) {
                 std::lock_guard lock(mu);
                 auto id = ParseId(req.matches[1]);
                 if (!id || !categories.count(*id)) return void(res.status = 404);
                 // Top-level folders only (sub-folders are listed by their parent), unless
                 // categories_list_sub_folders.
                 std::vector<json> all;
                 for (const auto& [fid, f] : folders)
                   if (f["category_id"] == *id && (categories_list_sub_folders || !f.contains("parent_folder_id")))
                     all.push_back(WithCounts(f));
                 SendPage(all, req, res);
               }));
    server.Get(R"(/api/v2/solutions/folders/(\d+)/subfolders)",
               Gated([this](const httplib::Request& req, httplib::Response& res) {
                 std::lock_guard lock(mu);
                 auto id = ParseId(req.matches[1]);
                 if (!id || !folders.count(*id)) return void(res.status = 404);
                 std::vector<json> all;
                 for (const auto& [fid, f] : folders)
                   if (f.value("parent_folder_id", json()) == *id) all.push_back(WithCounts(f));
                 SendPage(all, req, res);
               }));
    server.Get(R"(/api/v2/solutions/folders/(\d+)/articles)",
               Gated([this](const httplib::Request& req, httplib::Response& res) {
                 std::lock_guard lock(mu);
                 auto id = ParseId(req.matches[1]);
                 if (!id || !folders.count(*id)) return void(res.status = 404);
                 std::vector<json> all;
                 for (const auto& [aid, a] : articles)
                   if (a["folder_id"] == *id) all.push_back(a);
                 SendPage(all, req, res);
               }));
    server.Post(R"(/api/v2/tickets/(\d+)/notes)", post(true));
    server.Post(R"(/api/v2/tickets/(\d+)/reply)", post(false));
  }
};

FreshdeskFake::FreshdeskFake(FreshdeskFakeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = impl_->options.api_agent_id;
  impl_->contacts[id] = {{"id", id}, {"name", "deskpilot bot"}, {"email", "bot@example.com"}};
}

FreshdeskFake::~FreshdeskFake() { Stop(); }

Status FreshdeskFake::Start() {
  Impl& d = *impl_;
  d.server.set_tcp_nodelay(true);
  ServeOneRequestPerConnection(d.server);
  d.server.new_task_queue = [] { return new httplib::ThreadPool(4); };
  d.Routes();
  d.port = BindWithFullBacklog(d.server, d.options.host, d.options.port);
  if (d.port <= 0)
    return Status::Unavailable("freshdesk fake: cannot bind " + d.options.host + ":" + std::to_string(d.options.port));
  d.thread = std::thread([&d] { d.server.listen_after_bind(); });
  while (!d.server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  d.running = true;
  return Status::Ok();
}

void FreshdeskFake::Stop() {
  if (!impl_->running) return;
  impl_->server.stop();
  impl_->thread.join();
  impl_->running = false;
}

std::string FreshdeskFake::base_url() const {
  return "http://" + impl_->options.host + ":" + std::to_string(impl_->port);
}

int64_t FreshdeskFake::api_agent_id() const { return impl_->options.api_agent_id; }

int64_t FreshdeskFake::AddContact(const std::string& name, const std::string& email) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = ++impl_->next_id;
  impl_->contacts[id] = {{"id", id}, {"name", name}, {"email", email}, {"phone", nullptr}, {"mobile", nullptr}};
  return id;
}

int64_t FreshdeskFake::AddAgent(const std::string& name, const std::string& email) { return AddContact(name, email); }

int64_t FreshdeskFake::AddGroup(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = ++impl_->next_id;
  impl_->groups[id] = name;
  return id;
}

int64_t FreshdeskFake::AddTicket(const json& ticket, const std::string& description_html) {
  std::lock_guard lock(impl_->mu);
  Impl& d = *impl_;
  const int64_t id = ++d.next_id;
  const std::string now = Now3339();
  d.tickets[id] = {{"id", id},
                   {"subject", ticket.value("subject", "")},
                   {"description", description_html},
                   {"description_text", TextOf(description_html)},
                   {"requester_id", ticket.value("requester_id", int64_t{0})},
                   {"responder_id", nullptr},
                   {"group_id", ticket.value("group_id", json())},
                   {"priority", ticket.value("priority", 1)},
                   {"status", ticket.value("status", 2)},
                   {"source", ticket.value("source", 1)},
                   {"type", nullptr},
                   {"tags", ticket.value("tags", json::array())},
                   {"custom_fields", ticket.value("custom_fields", json::object())},
                   {"created_at", now},
                   {"updated_at", now}};
  d.conversations[id] = {};
  return id;
}

int64_t FreshdeskFake::AddConversation(int64_t ticket_id, int64_t user_id, const std::string& body_html,
                                       bool is_private, bool incoming) {
  std::lock_guard lock(impl_->mu);
  return impl_->NewConversation(ticket_id, user_id, body_html, is_private, incoming);
}

void FreshdeskFake::DeleteTicket(int64_t ticket_id) {
  std::lock_guard lock(impl_->mu);
  impl_->tickets.erase(ticket_id);
  impl_->conversations.erase(ticket_id);
}

int64_t FreshdeskFake::AddCategory(const std::string& name) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = ++impl_->next_id;
  impl_->categories[id] = {{"id", id}, {"name", name}, {"description", nullptr}};
  return id;
}

int64_t FreshdeskFake::AddFolder(int64_t category_id, const std::string& name, int visibility) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = ++impl_->next_id;
  impl_->folders[id] = {{"id", id}, {"name", name}, {"category_id", category_id}, {"visibility", visibility}};
  return id;
}

int64_t FreshdeskFake::AddSubFolder(int64_t parent_folder_id, const std::string& name, int visibility) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = ++impl_->next_id;
  const json parent = impl_->folders.at(parent_folder_id);
  impl_->folders[id] = {{"id", id},
                        {"name", name},
                        {"category_id", parent["category_id"]},
                        {"parent_folder_id", parent_folder_id},
                        {"visibility", visibility}};
  return id;
}

void FreshdeskFake::DropFolderCounts() {
  std::lock_guard lock(impl_->mu);
  impl_->counts_dropped = true;
}

void FreshdeskFake::ListSubFoldersInCategories() {
  std::lock_guard lock(impl_->mu);
  impl_->categories_list_sub_folders = true;
}

int64_t FreshdeskFake::AddArticle(int64_t folder_id, const std::string& title, const std::string& html, int status,
                                  const std::string& updated_at) {
  std::lock_guard lock(impl_->mu);
  const int64_t id = ++impl_->next_id;
  impl_->articles[id] = {{"id", id},          {"type", 1},
                         {"status", status},  {"folder_id", folder_id},
                         {"title", title},    {"description", html},
                         {"description_text", TextOf(html)},
                         {"tags", json::array()},
                         {"created_at", updated_at},
                         {"updated_at", updated_at}};
  return id;
}

void FreshdeskFake::SetUpdatedAt(int64_t ticket_id, const std::string& rfc3339) {
  std::lock_guard lock(impl_->mu);
  impl_->tickets.at(ticket_id)["updated_at"] = rfc3339;
}

void FreshdeskFake::SetStatus(int64_t ticket_id, int status) {
  std::lock_guard lock(impl_->mu);
  impl_->tickets.at(ticket_id)["status"] = status;
}

void FreshdeskFake::DropPlainText(int64_t ticket_id) {
  std::lock_guard lock(impl_->mu);
  impl_->tickets.at(ticket_id).erase("description_text");
  for (json& c : impl_->conversations.at(ticket_id)) c.erase("body_text");
}

json FreshdeskFake::Ticket(int64_t ticket_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->tickets.find(ticket_id);
  return it == impl_->tickets.end() ? json() : it->second;
}

std::vector<json> FreshdeskFake::Conversations(int64_t ticket_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->conversations.find(ticket_id);
  return it == impl_->conversations.end() ? std::vector<json>{} : it->second;
}

std::vector<std::string> FreshdeskFake::Tags(int64_t ticket_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->tickets.find(ticket_id);
  return it == impl_->tickets.end() ? std::vector<std::string>{} : it->second["tags"].get<std::vector<std::string>>();
}

std::string FreshdeskFake::WebhookBody(int64_t ticket_id, const std::string& triggered_event) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->tickets.find(ticket_id);
  const std::string modified = it == impl_->tickets.end() ? "" : it->second["updated_at"].get<std::string>();
  // Exactly the README's template, placeholders filled in.
  return "{\"ticket_id\": " + std::to_string(ticket_id) + ", \"event\": \"" + triggered_event +
         "\", \"modified_on\": \"" + modified + "\"}";
}

void FreshdeskFake::InjectFault(Fault fault) {
  std::lock_guard lock(impl_->mu);
  (fault.after_serving ? impl_->late_faults : impl_->faults).push_back(std::move(fault));
}

std::vector<FreshdeskFake::Request> FreshdeskFake::Requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->log;
}

int FreshdeskFake::CountRequests(const std::string& method, const std::string& path_prefix) const {
  std::lock_guard lock(impl_->mu);
  return static_cast<int>(std::count_if(impl_->log.begin(), impl_->log.end(), [&](const Request& r) {
    return (method.empty() || r.method == method) && r.path.rfind(path_prefix, 0) == 0;
  }));
}

}  // namespace deskpilot
