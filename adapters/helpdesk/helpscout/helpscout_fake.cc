#include "helpdesk/helpscout/helpscout_fake.h"

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <utility>

#include <httplib.h>

#include "common/loopback_server/loopback_server.h"
#include "deskpilot/crypto.h"

namespace deskpilot {
namespace {

using nlohmann::json;

void SendJson(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/hal+json;charset=UTF-8");
}

// Help Scout's error shape (VndErrors).
void Error(httplib::Response& res, int status, const std::string& message) {
  SendJson(res, status, {{"message", message}, {"logRef", "fake"}});
}

std::optional<int64_t> ParseId(const std::string& s) {
  if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return std::nullopt;
  return std::stoll(s);
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

struct HelpScoutFake::Impl {
  HelpScoutFakeOptions options;
  httplib::Server server;
  std::thread thread;
  int port = 0;
  bool running = false;

  mutable std::mutex mu;
  int64_t next_id = 1000;
  int64_t clock_s = 0;  // seconds after the fake's epoch; every write moves it on
  std::map<int64_t, json> customers;
  std::map<int64_t, json> conversations;
  std::map<int64_t, std::vector<json>> threads;  // oldest first
  std::map<int64_t, std::string> modified_at;    // by conversation
  std::map<int64_t, json> webhooks;              // with "secret", which is never listed
  std::map<int64_t, json> mailbox_fields;        // by mailbox: [{id,name,type,required,order,options}]
  std::map<std::string, json> docs_collections;  // by id
  std::map<std::string, json> docs_articles;     // by id, with "text"
  std::set<std::string> tokens;                  // issued and valid
  int tokens_issued = 0;
  std::deque<Fault> faults;       // answered instead of serving
  std::deque<Fault> late_faults;  // answered after serving
  std::vector<Request> log;

  explicit Impl(HelpScoutFakeOptions o) : options(std::move(o)) {}

  // REQUIRES mu held.
  std::string Tick() {
    std::time_t t = 1767225600 + ++clock_s;  // 2026-01-01T00:00:00Z onwards
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
  }

  json UserRef() const {
    return {{"id", options.api_user_id}, {"type", "user"}, {"first", "deskpilot"}, {"last", "bot"},
            {"email", "bot@example.com"}};
  }

  // REQUIRES mu held.
  int64_t NewThread(int64_t conversation_id, const std::string& type, const std::string& html, const json& by,
                    const std::string& state) {
    const int64_t id = ++next_id;
    const std::string now = Tick();
    json& c = conversations.at(conversation_id);
    threads[conversation_id].push_back({{"id", id},
                                        {"type", type},
                                        {"status", "active"},
                                        {"state", state},
                                        {"body", html},
                                        {"source", {{"type", "email"}, {"via", by.value("type", "user")}}},
                                        {"customer", c["primaryCustomer"]},
                                        {"createdBy", by},
                                        {"createdAt", now},
                                        {"_embedded", {{"attachments", json::array()}}}});
    c["threads"] = threads[conversation_id].size();
    if (by.value("type", "") == "user") c["userUpdatedAt"] = now;
    modified_at[conversation_id] = now;
    return id;
  }

  // Newest first, as Help Scout lists them. REQUIRES mu held.
  json NewestFirst(int64_t conversation_id) const {
    const auto& list = threads.at(conversation_id);
    return json(std::vector<json>(list.rbegin(), list.rend()));
  }

  // Answers the first fault of `list` that matches. REQUIRES mu held.
  static bool ApplyFault(std::deque<Fault>& list, const httplib::Request& req, httplib::Response& res) {
    for (auto it = list.begin(); it != list.end(); ++it) {
      if ((!it->method.empty() && it->method != req.method) || req.path.rfind(it->path_prefix, 0) != 0) continue;
      res.status = it->status;
      if (!it->retry_after.empty()) res.set_header("X-RateLimit-Retry-After", it->retry_after);
      if (!it->rate_limit_reset.empty()) res.set_header("X-RateLimit-Reset", it->rate_limit_reset);
      res.set_content(R"({"message":"injected fault"})", "application/json");
      if (--it->count <= 0) list.erase(it);
      return true;
    }
    return false;
  }

  enum class Auth { kNone, kBearer, kDocsKey };

  // Docs: HTTP Basic, the Docs API key as the user; the password is a dummy.
  bool DocsKeyOk(const std::string& auth) const {
    std::string decoded;
    if (auth.rfind("Basic ", 0) != 0 || !Base64Decode(auth.substr(6), &decoded)) return false;
    return decoded.substr(0, decoded.find(':')) == options.docs_api_key && decoded.find(':') != std::string::npos;
  }

  // Runs before every handler: request log, injected faults, then authentication (none
  // for the token endpoint). True when it already answered.
  bool Gate(const httplib::Request& req, httplib::Response& res, Auth auth_kind) {
    std::lock_guard lock(mu);
    Request logged{req.method, req.path, {}, req.body, req.get_header_value("Authorization"),
                   req.get_header_value("Content-Type")};
    for (const auto& [k, v] : req.params) logged.params[k] = v;
    log.push_back(std::move(logged));
    if (ApplyFault(faults, req, res)) return true;
    if (auth_kind == Auth::kNone) return false;
    const std::string auth = req.get_header_value("Authorization");
    if (auth_kind == Auth::kDocsKey) {
      if (DocsKeyOk(auth)) return false;
      SendJson(res, 401, {{"status", 401}, {"message", "Unauthorized"}});
      return true;
    }
    if (auth.rfind("Bearer ", 0) != 0 || !tokens.count(auth.substr(7))) {
      Error(res, 401, "Invalid or expired access token");
      return true;
    }
    return false;
  }

  httplib::Server::Handler Gated(httplib::Server::Handler handler, Auth auth_kind = Auth::kBearer) {
    return [this, handler, auth_kind](const httplib::Request& req, httplib::Response& res) {
      if (Gate(req, res, auth_kind)) return;
      handler(req, res);
      std::lock_guard lock(mu);
      ApplyFault(late_faults, req, res);
    };
  }

  // The conversation named by `id_text`; answers 404 when absent. REQUIRES mu held.
  json* Find(const std::string& id_text, httplib::Response& res) {
    auto id = ParseId(id_text);
    auto it = id ? conversations.find(*id) : conversations.end();
    if (it == conversations.end()) {
      Error(res, 404, "Conversation not found");
      return nullptr;
    }
    return &it->second;
  }

  bool ParseBody(const httplib::Request& req, httplib::Response& res, json* out) {
    *out = json::parse(req.body, nullptr, false);
    if (out->is_discarded() || !out->is_object()) {
      Error(res, 400, "Request body is not a JSON object");
      return false;
    }
    return true;
  }

  // The webhook fields POST and PUT require; answers 400 when one is missing or bad.
  static bool ValidWebhook(const json& body, httplib::Response& res) {
    if (!body.contains("url") || !body["url"].is_string() || body["url"].get<std::string>().empty()) {
      Error(res, 400, "url: may not be empty");
      return false;
    }
    if (!body.contains("events") || !body["events"].is_array() || body["events"].empty()) {
      Error(res, 400, "events: may not be empty");
      return false;
    }
    for (const json& e : body["events"]) {
      if (!e.is_string()) {
        Error(res, 400, "events: must be strings");
        return false;
      }
    }
    const std::string secret = body.value("secret", "");
    if (secret.empty() || secret.size() > 40) {
      Error(res, 400, "secret: must be 1 to 40 characters");
      return false;
    }
    return true;
  }

  // REQUIRES mu held.
  int64_t NewWebhook(const json& body) {
    const int64_t id = ++next_id;
    webhooks[id] = {{"id", id},
                    {"url", body["url"]},
                    {"state", "enabled"},
                    {"events", body["events"]},
                    {"notification", false},
                    {"payloadVersion", "V2"},
                    {"label", body.value("label", "")},
                    {"secret", body["secret"]}};
    return id;
  }

  void WebhookRoutes() {
    server.Get("/v2/webhooks", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      const int64_t size = options.webhooks_page_size;
      const int64_t total = static_cast<int64_t>(webhooks.size());
      const int64_t pages = std::max<int64_t>(1, (total + size - 1) / size);
      const int64_t page = req.has_param("page") ? ParseId(req.get_param_value("page")).value_or(1) : 1;
      json slice = json::array();
      int64_t i = 0;
      for (const auto& [id, w] : webhooks) {
        if (i >= (page - 1) * size && i < page * size) {
          json shown = w;
          shown.erase("secret");
          shown["_links"] = {{"self", {{"href", "..."}}}};
          slice.push_back(shown);
        }
        ++i;
      }
      SendJson(res, 200, {{"_embedded", {{"webhooks", slice}}},
                          {"page", {{"size", size}, {"totalElements", total}, {"totalPages", pages}, {"number", page}}}});
    }));
    server.Post("/v2/webhooks", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body) || !ValidWebhook(body, res)) return;
      std::lock_guard lock(mu);
      const int64_t id = NewWebhook(body);
      res.status = 201;
      res.set_header("Resource-ID", std::to_string(id));
      res.set_header("Location", "https://api.helpscout.net/v2/webhooks/" + std::to_string(id));
    }));
    server.Put(R"(/v2/webhooks/(\d+))", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body) || !ValidWebhook(body, res)) return;
      std::lock_guard lock(mu);
      auto it = webhooks.find(ParseId(req.matches[1]).value_or(0));
      if (it == webhooks.end()) return Error(res, 404, "Webhook not found");
      json& w = it->second;
      w["url"] = body["url"];
      w["events"] = body["events"];
      w["secret"] = body["secret"];
      w["label"] = body.value("label", "");
      res.status = 204;
    }));
    server.Delete(R"(/v2/webhooks/(\d+))", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      if (webhooks.erase(ParseId(req.matches[1]).value_or(0)) == 0) return Error(res, 404, "Webhook not found");
      res.status = 204;
    }));
  }

  // {"<name>": {page, pages, count, items}}, the Docs list envelope.
  static json DocsPage(const std::string& name, const std::vector<json>& all, int64_t size, int64_t page) {
    const int64_t total = static_cast<int64_t>(all.size());
    const int64_t pages = std::max<int64_t>(1, (total + size - 1) / size);
    json items = json::array();
    for (int64_t i = (page - 1) * size; i >= 0 && i < std::min(total, page * size); ++i) items.push_back(all[i]);
    return {{name, {{"page", page}, {"pages", pages}, {"count", total}, {"items", items}}}};
  }

  static int64_t PageParam(const httplib::Request& req) {
    return req.has_param("page") ? ParseId(req.get_param_value("page")).value_or(1) : 1;
  }

  void DocsRoutes() {
    server.Get("/v1/collections", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      std::vector<json> all;
      for (const auto& [id, c] : docs_collections) all.push_back(c);
      SendJson(res, 200, DocsPage("collections", all, options.docs_collections_page_size, PageParam(req)));
    }, Auth::kDocsKey));
    server.Get(R"(/v1/collections/(\w+)/articles)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      const std::string collection = req.matches[1];
      if (!docs_collections.count(collection)) return SendJson(res, 404, {{"status", 404}, {"message", "Not found"}});
      const std::string status = req.has_param("status") ? req.get_param_value("status") : "all";
      int64_t size = req.has_param("pageSize") ? ParseId(req.get_param_value("pageSize")).value_or(50) : 50;
      size = std::min<int64_t>(size, options.docs_max_page_size);
      std::vector<json> all;
      for (const auto& [id, a] : docs_articles) {
        if (a["collectionId"] != collection || (status != "all" && a["status"] != status)) continue;
        json ref = a;  // an ArticleRef: no text, categories or related
        ref.erase("text");
        ref.erase("categories");
        ref.erase("related");
        all.push_back(ref);
      }
      SendJson(res, 200, DocsPage("articles", all, size, PageParam(req)));
    }, Auth::kDocsKey));
    server.Get(R"(/v1/articles/(\w+))", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      auto it = docs_articles.find(req.matches[1]);
      if (it == docs_articles.end()) return SendJson(res, 404, {{"status", 404}, {"message", "Not found"}});
      SendJson(res, 200, {{"article", it->second}});
    }, Auth::kDocsKey));
  }

  void Routes() {
    DocsRoutes();
    WebhookRoutes();
    server.Post("/v2/oauth2/token", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      if (req.get_param_value("grant_type") != "client_credentials")
        return SendJson(res, 400, {{"error", "unsupported_grant_type"}});
      if (req.get_param_value("client_id") != options.app_id ||
          req.get_param_value("client_secret") != options.app_secret)
        return SendJson(res, 401, {{"error", "invalid_client"}});
      const std::string token = "hs-token-" + std::to_string(++tokens_issued);
      tokens.insert(token);
      SendJson(res, 200, {{"token_type", "bearer"}, {"access_token", token}, {"expires_in", options.expires_in}});
    }, Auth::kNone));
    server.Get("/v2/conversations", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      const std::string status = req.has_param("status") ? req.get_param_value("status") : "active";
      const std::string since = req.get_param_value("modifiedSince");
      const std::string sort_field = req.has_param("sortField") ? req.get_param_value("sortField") : "createdAt";
      if (sort_field != "createdAt" && sort_field != "modifiedAt") return Error(res, 400, "sortField: not supported here");
      const bool asc = req.get_param_value("sortOrder") == "asc";
      std::vector<json> found;
      for (const auto& [id, c] : conversations) {
        // Times of one format compare as strings.
        if ((status != "all" && c["status"] != status) || (!since.empty() && modified_at.at(id) < since)) continue;
        json shown = c;
        if (req.get_param_value("embed") == "threads") shown["_embedded"] = {{"threads", NewestFirst(id)}};
        found.push_back(shown);
      }
      auto key = [&](const json& c) {
        return sort_field == "modifiedAt" ? modified_at.at(c["id"].get<int64_t>()) : c["createdAt"].get<std::string>();
      };
      std::stable_sort(found.begin(), found.end(),
                       [&](const json& a, const json& b) { return asc ? key(a) < key(b) : key(b) < key(a); });
      const int64_t size = options.conversations_page_size;
      const int64_t total = static_cast<int64_t>(found.size());
      const int64_t pages = std::max<int64_t>(1, (total + size - 1) / size);
      const int64_t page = req.has_param("page") ? ParseId(req.get_param_value("page")).value_or(1) : 1;
      json slice = json::array();
      for (int64_t i = (page - 1) * size; i < std::min(total, page * size); ++i) slice.push_back(found[i]);
      SendJson(res, 200, {{"_embedded", {{"conversations", slice}}},
                          {"page", {{"size", size}, {"totalElements", total}, {"totalPages", pages}, {"number", page}}}});
    }));
    server.Get(R"(/v2/conversations/(\d+))", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      json* c = Find(req.matches[1], res);
      if (c == nullptr) return;
      json out = *c;
      if (req.get_param_value("embed") == "threads")
        out["_embedded"] = {{"threads", NewestFirst(out["id"].get<int64_t>())}};
      SendJson(res, 200, out);
    }));
    server.Get(R"(/v2/conversations/(\d+)/threads)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      json* c = Find(req.matches[1], res);
      if (c == nullptr) return;
      const json all = NewestFirst((*c)["id"].get<int64_t>());
      const int64_t size = options.threads_page_size;
      const int64_t total = static_cast<int64_t>(all.size());
      const int64_t pages = std::max<int64_t>(1, (total + size - 1) / size);
      const int64_t page = req.has_param("page") ? ParseId(req.get_param_value("page")).value_or(1) : 1;
      json slice = json::array();
      for (int64_t i = (page - 1) * size; i < std::min(total, page * size); ++i) slice.push_back(all[i]);
      SendJson(res, 200, {{"_embedded", {{"threads", slice}}},
                          {"page", {{"size", size}, {"totalElements", total}, {"totalPages", pages}, {"number", page}}}});
    }));
    server.Put(R"(/v2/conversations/(\d+)/tags)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      json* c = Find(req.matches[1], res);
      if (c == nullptr) return;
      if (!body.contains("tags") || !body["tags"].is_array()) return Error(res, 400, "tags: must be an array");
      json tags = json::array();
      for (const json& t : body["tags"]) {
        if (!t.is_string()) return Error(res, 400, "tags: must be strings");
        tags.push_back({{"id", ++next_id}, {"color", "#929499"}, {"tag", Lower(t.get<std::string>())}});
      }
      (*c)["tags"] = tags;
      modified_at[(*c)["id"].get<int64_t>()] = Tick();
      res.status = 204;
    }));
    server.Get(R"(/v2/mailboxes/(\d+)/fields)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      std::lock_guard lock(mu);
      const json fields = mailbox_fields.count(std::stoll(req.matches[1])) ? mailbox_fields.at(std::stoll(req.matches[1]))
                                                                            : json::array();
      SendJson(res, 200, {{"_embedded", {{"fields", fields}}},
                          {"page", {{"size", 50}, {"totalElements", fields.size()}, {"totalPages", 1}, {"number", 1}}}});
    }));
    server.Put(R"(/v2/conversations/(\d+)/fields)", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      json* c = Find(req.matches[1], res);
      if (c == nullptr) return;
      if (!body.contains("fields") || !body["fields"].is_array()) return Error(res, 400, "fields: must be an array");
      json fields = json::array();
      for (const json& f : body["fields"]) {
        if (!f.is_object() || !f.contains("id") || !f["id"].is_number_integer() || !f.contains("value") ||
            !f["value"].is_string())
          return Error(res, 400, "fields: each needs a numeric id and a string value");
        std::string name, text = f["value"];
        for (const json& old : (*c)["customFields"])
          if (old["id"] == f["id"]) name = old.value("name", "");
        // A field of the mailbox: its name, and for a drop-down the option's label as the
        // text (an id that is not an option is refused).
        const int64_t mailbox = (*c)["mailboxId"].get<int64_t>();
        for (const json& def : mailbox_fields.count(mailbox) ? mailbox_fields.at(mailbox) : json::array()) {
          if (def["id"] != f["id"]) continue;
          name = def.value("name", "");
          if (def.value("type", "") != "dropdown") break;
          bool known = false;
          for (const json& o : def["options"])
            if (std::to_string(o["id"].get<int64_t>()) == f["value"].get<std::string>()) {
              text = o.value("label", "");
              known = true;
            }
          if (!known) return Error(res, 400, "fields: " + f["value"].get<std::string>() + " is not an option");
        }
        fields.push_back({{"id", f["id"]}, {"name", name}, {"value", f["value"]}, {"text", text}});
      }
      (*c)["customFields"] = fields;
      modified_at[(*c)["id"].get<int64_t>()] = Tick();
      res.status = 204;
    }));
    server.Patch(R"(/v2/conversations/(\d+))", Gated([this](const httplib::Request& req, httplib::Response& res) {
      json body;
      if (!ParseBody(req, res, &body)) return;
      std::lock_guard lock(mu);
      json* c = Find(req.matches[1], res);
      if (c == nullptr) return;
      const std::string op = body.value("op", ""), path = body.value("path", "");
      const json value = body.value("value", json());
      if (path == "/assignTo" && op == "replace" && value.is_number_integer()) {
        (*c)["assignee"] = {{"id", value}, {"type", "user"}};
      } else if (path == "/mailboxId" && op == "move" && value.is_number_integer()) {
        (*c)["mailboxId"] = value;
      } else {
        return Error(res, 400, "unsupported patch " + body.dump());
      }
      modified_at[(*c)["id"].get<int64_t>()] = Tick();
      res.status = 204;
    }));
    for (const char* kind : {"notes", "reply"}) {
      const std::string k = kind;
      server.Post(R"(/v2/conversations/(\d+)/)" + k, Gated([this, k](const httplib::Request& req, httplib::Response& res) {
        json body;
        if (!ParseBody(req, res, &body)) return;
        std::lock_guard lock(mu);
        json* c = Find(req.matches[1], res);
        if (c == nullptr) return;
        const std::string text = body.value("text", "");
        if (text.empty()) return Error(res, 400, "text: may not be empty");
        std::string state = "published";
        if (k == "reply") {
          const json customer = body.value("customer", json());
          if (!customer.is_object() || !customer.contains("id") || !customer["id"].is_number_integer() ||
              !customers.count(customer["id"].get<int64_t>()))
            return Error(res, 400, "customer: must name an existing customer by id");
          if (body.value("draft", false)) state = "draft";
        }
        const int64_t id = NewThread((*c)["id"].get<int64_t>(), k == "notes" ? "note" : "message", text, UserRef(), state);
        res.status = 201;
        res.set_header("Resource-ID", std::to_string(id));
      }));
    }
  }
};

HelpScoutFake::HelpScoutFake(HelpScoutFakeOptions options) : impl_(std::make_unique<Impl>(std::move(options))) {}

HelpScoutFake::~HelpScoutFake() { Stop(); }

Status HelpScoutFake::Start() {
  Impl& d = *impl_;
  d.server.set_tcp_nodelay(true);
  ServeOneRequestPerConnection(d.server);
  d.server.new_task_queue = [] { return new httplib::ThreadPool(4); };
  d.Routes();
  d.port = BindWithFullBacklog(d.server, d.options.host, d.options.port);
  if (d.port <= 0)
    return Status::Unavailable("helpscout fake: cannot bind " + d.options.host + ":" + std::to_string(d.options.port));
  d.thread = std::thread([&d] { d.server.listen_after_bind(); });
  while (!d.server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  d.running = true;
  return Status::Ok();
}

void HelpScoutFake::Stop() {
  if (!impl_->running) return;
  impl_->server.stop();
  impl_->thread.join();
  impl_->running = false;
}

std::string HelpScoutFake::base_url() const {
  return "http://" + impl_->options.host + ":" + std::to_string(impl_->port);
}

int64_t HelpScoutFake::AddCustomer(const std::string& first, const std::string& last, const std::string& email,
                                   int64_t id) {
  std::lock_guard lock(impl_->mu);
  if (id == 0) id = ++impl_->next_id;
  impl_->customers[id] = {{"id", id}, {"type", "customer"}, {"first", first}, {"last", last}, {"email", email}};
  return id;
}

int64_t HelpScoutFake::AddConversation(const std::string& subject, int64_t customer_id, const std::string& html,
                                       const std::vector<std::string>& tags, int64_t mailbox_id) {
  std::lock_guard lock(impl_->mu);
  Impl& d = *impl_;
  const int64_t id = ++d.next_id;
  const json customer = d.customers.count(customer_id) ? d.customers.at(customer_id) : json();
  json tag_list = json::array();
  for (const std::string& t : tags) tag_list.push_back({{"id", ++d.next_id}, {"color", "#929499"}, {"tag", t}});
  const std::string now = d.Tick();
  d.conversations[id] = {{"id", id},
                         {"number", id - 900},
                         {"threads", 0},
                         {"type", "email"},
                         {"folderId", 1},
                         {"status", "active"},
                         {"state", "published"},
                         {"subject", subject},
                         {"preview", html.substr(0, 40)},
                         {"mailboxId", mailbox_id},
                         {"assignee", nullptr},
                         {"createdBy", {{"id", customer_id}, {"type", "customer"}, {"email", customer.value("email", "")}}},
                         {"createdAt", now},
                         {"userUpdatedAt", now},
                         {"source", {{"type", "email"}, {"via", "customer"}}},
                         {"tags", tag_list},
                         {"cc", json::array()},
                         {"bcc", json::array()},
                         {"primaryCustomer", customer},
                         {"customFields", json::array()},
                         {"_links", {{"self", {{"href", "..."}}}}}};
  d.threads[id] = {};
  d.NewThread(id, "customer", html, {{"id", customer_id}, {"type", "customer"}, {"email", customer.value("email", "")}},
              "published");
  return id;
}

int64_t HelpScoutFake::AddThread(int64_t conversation_id, const std::string& type, const std::string& html,
                                 const std::string& by, int64_t by_id, const std::string& state) {
  std::lock_guard lock(impl_->mu);
  return impl_->NewThread(conversation_id, type, html, {{"id", by_id}, {"type", by}}, state);
}

void HelpScoutFake::SetMailboxFields(int64_t mailbox_id, const json& fields) {
  std::lock_guard lock(impl_->mu);
  impl_->mailbox_fields[mailbox_id] = fields;
}

void HelpScoutFake::SetCustomFields(int64_t conversation_id, const json& fields) {
  std::lock_guard lock(impl_->mu);
  impl_->conversations.at(conversation_id)["customFields"] = fields;
}

void HelpScoutFake::SetTags(int64_t conversation_id, const std::vector<std::string>& tags) {
  std::lock_guard lock(impl_->mu);
  json tag_list = json::array();
  for (const std::string& t : tags) tag_list.push_back({{"id", ++impl_->next_id}, {"color", "#929499"}, {"tag", Lower(t)}});
  impl_->conversations.at(conversation_id)["tags"] = tag_list;
}

void HelpScoutFake::SetStatus(int64_t conversation_id, const std::string& status) {
  std::lock_guard lock(impl_->mu);
  json& c = impl_->conversations.at(conversation_id);
  c["status"] = status;
  const std::string now = impl_->Tick();
  if (status == "closed") c["closedAt"] = now;
  impl_->modified_at[conversation_id] = now;
}

std::string HelpScoutFake::ModifiedAt(int64_t conversation_id) const {
  std::lock_guard lock(impl_->mu);
  return impl_->modified_at.at(conversation_id);
}

void HelpScoutFake::DeleteConversation(int64_t conversation_id) {
  std::lock_guard lock(impl_->mu);
  impl_->conversations.erase(conversation_id);
  impl_->threads.erase(conversation_id);
}

int64_t HelpScoutFake::AddWebhook(const std::string& url, const std::vector<std::string>& events,
                                  const std::string& secret, const std::string& label) {
  std::lock_guard lock(impl_->mu);
  return impl_->NewWebhook({{"url", url}, {"events", events}, {"secret", secret}, {"label", label}});
}

std::string HelpScoutFake::AddDocsCollection(const std::string& name, const std::string& visibility) {
  std::lock_guard lock(impl_->mu);
  const int64_t n = ++impl_->next_id;
  char id[32];
  std::snprintf(id, sizeof(id), "5214c83d45667acd2539%04llx", static_cast<unsigned long long>(n & 0xffff));
  impl_->docs_collections[id] = {{"id", id},
                                 {"siteId", "52404efc4566740003092640"},
                                 {"number", n},
                                 {"slug", Lower(name)},
                                 {"visibility", visibility},
                                 {"order", 1},
                                 {"name", name},
                                 {"publicUrl", "https://acme.helpscoutdocs.com/collection/" + std::to_string(n)},
                                 {"createdAt", "2026-01-01T00:00:00Z"},
                                 {"updatedAt", nullptr}};
  return id;
}

std::string HelpScoutFake::AddDocsArticle(const std::string& collection_id, const std::string& name,
                                          const std::string& html, const std::string& status,
                                          const std::string& created_at, const std::string& updated_at) {
  std::lock_guard lock(impl_->mu);
  const int64_t n = ++impl_->next_id;
  char id[32];
  std::snprintf(id, sizeof(id), "521632244566c845e582%04llx", static_cast<unsigned long long>(n & 0xffff));
  impl_->docs_articles[id] = {{"id", id},
                              {"number", n},
                              {"collectionId", collection_id},
                              {"slug", Lower(name)},
                              {"status", status},
                              {"hasDraft", false},
                              {"name", name},
                              {"text", html},
                              {"categories", json::array()},
                              {"related", json::array()},
                              {"publicUrl", "https://acme.helpscoutdocs.com/article/" + std::to_string(n)},
                              {"popularity", 0.0},
                              {"viewCount", 0},
                              {"createdBy", 73423},
                              {"updatedBy", nullptr},
                              {"createdAt", created_at},
                              {"updatedAt", updated_at.empty() ? json() : json(updated_at)},
                              {"lastPublishedAt", status == "published" ? json(created_at) : json()}};
  return id;
}

json HelpScoutFake::DocsArticle(const std::string& article_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->docs_articles.find(article_id);
  return it == impl_->docs_articles.end() ? json() : it->second;
}

std::vector<json> HelpScoutFake::Webhooks() const {
  std::lock_guard lock(impl_->mu);
  std::vector<json> out;
  for (const auto& [id, w] : impl_->webhooks) out.push_back(w);
  return out;
}

void HelpScoutFake::RevokeTokens() {
  std::lock_guard lock(impl_->mu);
  impl_->tokens.clear();
}

json HelpScoutFake::Conversation(int64_t conversation_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->conversations.find(conversation_id);
  return it == impl_->conversations.end() ? json() : it->second;
}

std::vector<json> HelpScoutFake::Threads(int64_t conversation_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->threads.find(conversation_id);
  return it == impl_->threads.end() ? std::vector<json>{} : it->second;
}

std::vector<std::string> HelpScoutFake::Tags(int64_t conversation_id) const {
  std::vector<std::string> out;
  for (const json& t : Conversation(conversation_id).value("tags", json::array())) out.push_back(t["tag"]);
  return out;
}

std::string HelpScoutFake::WebhookPayload(int64_t conversation_id) const {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->conversations.find(conversation_id);
  if (it == impl_->conversations.end()) return "{}";
  json payload = it->second;
  payload["_embedded"] = {{"threads", impl_->NewestFirst(conversation_id)}};
  return payload.dump();
}

int HelpScoutFake::TokensIssued() const {
  std::lock_guard lock(impl_->mu);
  return impl_->tokens_issued;
}

void HelpScoutFake::InjectFault(Fault fault) {
  std::lock_guard lock(impl_->mu);
  (fault.after_serving ? impl_->late_faults : impl_->faults).push_back(std::move(fault));
}

std::vector<HelpScoutFake::Request> HelpScoutFake::Requests() const {
  std::lock_guard lock(impl_->mu);
  return impl_->log;
}

int HelpScoutFake::CountRequests(const std::string& method, const std::string& path_prefix) const {
  std::lock_guard lock(impl_->mu);
  return static_cast<int>(std::count_if(impl_->log.begin(), impl_->log.end(), [&](const Request& r) {
    return (method.empty() || r.method == method) && r.path.rfind(path_prefix, 0) == 0;
  }));
}

}  // namespace deskpilot
