#include "llm/common/fake_model_server.h"

#include <algorithm>
#include <cctype>
#include <thread>

#include <httplib.h>

#include "common/loopback_server/loopback_server.h"

namespace deskpilot {

struct FakeModelServer::Impl {
  httplib::Server server;
  std::thread thread;
  bool running = false;
};

int64_t FakeTokens(const std::string& text) { return static_cast<int64_t>(text.size() / 4 + 1); }

FakeModelServer::FakeModelServer(std::string prefix, std::vector<std::string> paths)
    : prefix_(std::move(prefix)), paths_(std::move(paths)), impl_(std::make_unique<Impl>()) {
  answer_ = [](const FakeModelRequest& r) {
    return r.schema ? std::string("{}") : std::string("This is the fake model's answer.");
  };
}

FakeModelServer::~FakeModelServer() { Stop(); }

std::string FakeModelServer::base_url() const {
  return "http://127.0.0.1:" + std::to_string(port_) + prefix_;
}

Status FakeModelServer::Start() {
  Impl& d = *impl_;
  ServeOneRequestPerConnection(d.server);
  // Enough workers that a client's own concurrency bound, not the fake's, limits calls.
  const size_t threads = static_cast<size_t>(std::max(1, max_concurrency_));
  d.server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  for (const auto& path : paths_) {
    d.server.Post(path, [this, path](const httplib::Request& hreq, httplib::Response& hres) {
      FakeModelRequest req;
      req.path = path;
      for (const auto& [k, v] : hreq.headers) {
        std::string name = k;
        for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        req.headers[name] = v;
      }
      req.raw_body = hreq.body;
      req.body = nlohmann::json::parse(hreq.body, nullptr, false);
      if (req.body.is_discarded()) req.body = nullptr;
      FakeHttpAnswer a = Handle(std::move(req));
      hres.status = a.status;
      for (const auto& [k, v] : a.headers) hres.set_header(k, v);
      // With a charset parameter, cpp-httplib (0.11) does not compress the answer. Clients
      // ask for br (curl's "any encoding"), and Debian's build compresses at brotli's
      // highest quality: milliseconds of CPU per answer that a real model server spends on
      // its own machine, but that the fake would take from the client on the same cores.
      hres.set_content(a.body, "application/json; charset=utf-8");
    });
  }
  port_ = BindWithFullBacklog(d.server, "127.0.0.1");
  if (port_ <= 0) return Status::Unavailable("fake model server: cannot bind 127.0.0.1");
  d.thread = std::thread([&d] { d.server.listen_after_bind(); });
  while (!d.server.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  d.running = true;
  return Status::Ok();
}

void FakeModelServer::Stop() {
  if (!impl_->running) return;
  {
    // Hanging handlers wake and return, so stop() can join them.
    std::lock_guard lock(wait_mu_);
    stopping_ = true;
  }
  wait_cv_.notify_all();
  impl_->server.stop();
  impl_->thread.join();
  impl_->running = false;
}

void FakeModelServer::Script(std::vector<FakeStep> steps) {
  std::lock_guard lock(mu_);
  script_.assign(steps.begin(), steps.end());
}

void FakeModelServer::SetAnswer(AnswerHook hook) {
  std::lock_guard lock(mu_);
  answer_ = std::move(hook);
}

void FakeModelServer::SetLatency(std::chrono::milliseconds latency) {
  std::lock_guard lock(mu_);
  latency_ = latency;
}

void FakeModelServer::SetMaxConcurrency(int requests) { max_concurrency_ = requests; }

std::vector<FakeModelRequest> FakeModelServer::Requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}

int FakeModelServer::RequestCount() const {
  std::lock_guard lock(mu_);
  return static_cast<int>(requests_.size());
}

FakeHttpAnswer FakeModelServer::Handle(FakeModelRequest req) {
  const int now_in_flight = ++in_flight_;
  int seen = max_in_flight_.load();
  while (now_in_flight > seen && !max_in_flight_.compare_exchange_weak(seen, now_in_flight)) {
  }
  if (req.body.is_object()) Extract(req);
  FakeStep step;
  AnswerHook answer;
  std::chrono::milliseconds wait;
  {
    std::lock_guard lock(mu_);
    requests_.push_back(req);
    if (!script_.empty()) {
      step = script_.front();
      script_.pop_front();
    }
    answer = answer_;
    wait = latency_;
  }
  if (step.behavior == FakeBehavior::kHang) wait = std::max(wait, step.hang);
  if (wait.count() > 0) {
    std::unique_lock lock(wait_mu_);
    wait_cv_.wait_for(lock, wait, [this] { return stopping_.load(); });
  }

  FakeHttpAnswer out;
  if (step.behavior == FakeBehavior::kMalformedBody) {
    out.body = "{\"id\": \"cut-off";
  } else {
    std::string text;
    if (step.behavior == FakeBehavior::kMalformedOutput) {
      text = "{\"category\": {\"label\": \"refund\", \"confid";
    } else if (step.behavior == FakeBehavior::kSchemaViolation) {
      text = "{\"unexpected\": \"field\", \"category\": 42}";
    } else {
      text = answer(req);
    }
    out = Render(req, step, text);
  }
  --in_flight_;
  return out;
}

}  // namespace deskpilot
