// What the tests that kill `deskpilot serve` share: one sandbox ticket per delivery, senders
// that behave like a vendor (redeliver until acknowledged, to whichever process is up), and
// the count of deskpilot's notes on a ticket for the exactly-once check.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "harness.h"

namespace deskpilot::testing_harness {

struct Delivery {
  std::string event_id;
  std::string ticket_id;
  std::string body;
  int status = 0;  // the acknowledging HTTP status, 0 until acknowledged
};

// n tickets at the sandbox ("Order <first_order + i> has not arrived"), each with the
// ticket.created delivery the vendor would send; empty if the sandbox refused one.
inline std::vector<Delivery> CreateTicketDeliveries(const SandboxDesk& desk, int n, int first_order,
                                                    const std::string& event_prefix) {
  using json = nlohmann::json;
  std::vector<Delivery> out;
  auto c = desk.Client();
  for (int i = 0; i < n; ++i) {
    const std::string order = std::to_string(first_order + i);
    json t = {{"subject", "Order " + order + " has not arrived"},
              {"description", "Hello, my order " + order +
                                  " was supposed to arrive last week and tracking has not moved. Where is it?"},
              {"requester", {{"email", "customer" + std::to_string(i) + "@example.com"}, {"name", "C"}}}};
    auto res = c.Post("/api/tickets", t.dump(), "application/json");
    if (!res || res->status != 201) return {};
    Delivery d;
    d.ticket_id = json::parse(res->body)["ticket"]["id"].get<std::string>();
    d.event_id = event_prefix + std::to_string(i);
    d.body = json{{"id", d.event_id}, {"type", "ticket.created"}, {"time", Timestamp()},
                  {"ticket_id", d.ticket_id}, {"actor", {{"id", "customer"}, {"role", "customer"}}}}
                 .dump();
    out.push_back(std::move(d));
  }
  return out;
}

// `senders` threads post the deliveries in turn, each redelivered until a 202/200 (like a
// vendor), pausing `pace` after each acknowledged one so that ingestion overlaps the test's
// kills. Half keep their connection alive, as vendors' HTTP clients do: the server then
// answers from its store's committer rather than from the connection's thread, and the
// promise (an answer means a durable job) must hold on both paths. SetPort(0) while no
// process is up. Destruction stops and joins them.
class RedeliveringSenders {
 public:
  RedeliveringSenders(std::vector<Delivery>& deliveries, std::string secret, int senders,
                      std::chrono::milliseconds pace)
      : deliveries_(deliveries), secret_(std::move(secret)) {
    for (int s = 0; s < senders; ++s) {
      const bool keep_alive = s % 2 == 0;
      threads_.emplace_back([this, keep_alive, pace] { Run(keep_alive, pace); });
    }
  }
  ~RedeliveringSenders() { Stop(); }
  RedeliveringSenders(const RedeliveringSenders&) = delete;
  RedeliveringSenders& operator=(const RedeliveringSenders&) = delete;

  void SetPort(int port) { port_ = port; }
  int acked() const { return acked_.load(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  // Event ids acknowledged so far.
  std::vector<std::string> AckedEventIds() {
    std::lock_guard lock(mu_);
    std::vector<std::string> out;
    for (const auto& d : deliveries_)
      if (d.status != 0) out.push_back(d.event_id);
    return out;
  }

 private:
  void Run(bool keep_alive, std::chrono::milliseconds pace) {
    using namespace std::chrono_literals;
    std::unique_ptr<httplib::Client> client;
    int client_port = 0;
    for (size_t i; !stop_ && (i = next_.fetch_add(1)) < deliveries_.size();) {
      while (!stop_) {
        const int p = port_.load();
        if (p == 0) {
          std::this_thread::sleep_for(5ms);
          continue;
        }
        if (!client || client_port != p) {
          client = WebhookClient(p, keep_alive);
          client_port = p;
        }
        auto res = PostSignedWith(*client, "desk", deliveries_[i].body, secret_);
        if (!res) client.reset();  // the process died: connect afresh next time
        if (res && (res->status == 202 || res->status == 200)) {
          std::lock_guard lock(mu_);
          deliveries_[i].status = res->status;
          ++acked_;
          break;
        }
        std::this_thread::sleep_for(10ms);
      }
      std::this_thread::sleep_for(pace);
    }
  }

  std::vector<Delivery>& deliveries_;  // status guarded by mu_ while senders run
  const std::string secret_;
  std::mutex mu_;
  std::atomic<int> port_{0};
  std::atomic<size_t> next_{0};
  std::atomic<int> acked_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

// deskpilot's internal notes on a sandbox ticket, or nullopt if the sandbox did not answer.
inline std::optional<int> DeskpilotNotes(const SandboxDesk& desk, const std::string& ticket_id) {
  auto c = desk.Client();
  auto res = c.Get(("/api/tickets/" + ticket_id + "/comments").c_str());
  if (!res || res->status != 200) return std::nullopt;
  const nlohmann::json doc = nlohmann::json::parse(res->body);
  int notes = 0;
  for (const auto& cm : doc["comments"])
    notes += cm.value("author_id", "") == std::string(kSandboxApiUserId) && !cm.value("public", true);
  return notes;
}

}  // namespace deskpilot::testing_harness
