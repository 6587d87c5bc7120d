#include "deskpilot/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <ctime>
#include <thread>

#include <gtest/gtest.h>
#include <httplib.h>

namespace deskpilot {
namespace {

using std::chrono::milliseconds;

std::string HttpDate(std::chrono::system_clock::time_point t) {
  std::time_t tt = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  return buf;
}

// A local upstream on 127.0.0.1:<ephemeral> whose routes misbehave on purpose.
class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_.set_tcp_nodelay(true);
    server_.new_task_queue = [] { return new httplib::ThreadPool(4); };
    // The client keeps connections alive per thread; an idle kept-alive connection
    // would hold stop() for the whole keep-alive timeout (5 s) in every TearDown.
    server_.set_keep_alive_max_count(1);
    server_.Get("/ok", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("X-Answer", "42");
      res.set_content("hello", "text/plain");
    });
    server_.Post("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.method + " " + req.get_header_value("X-Token") + " " + req.body,
                      "text/plain");
    });
    server_.Put("/echo", [](const httplib::Request& req, httplib::Response& res) {
      res.set_content(req.method + " " + req.body, "text/plain");
    });
    server_.Get("/flaky", [this](const httplib::Request&, httplib::Response& res) {
      if (calls_++ == 0) {
        res.status = 503;
        return;
      }
      res.set_content("recovered", "text/plain");
    });
    server_.Get("/limited", [this](const httplib::Request&, httplib::Response& res) {
      if (calls_++ == 0) {
        res.status = 429;
        res.set_header("Retry-After", "1");
        return;
      }
      res.set_content("done", "text/plain");
    });
    server_.Get("/limited-date", [this](const httplib::Request&, httplib::Response& res) {
      if (calls_++ == 0) {
        res.status = 429;
        res.set_header("Retry-After",
                       HttpDate(std::chrono::system_clock::now() + std::chrono::seconds(3)));
        return;
      }
      res.set_content("done", "text/plain");
    });
    server_.Get("/limited-long", [this](const httplib::Request&, httplib::Response& res) {
      ++calls_;
      res.status = 429;
      res.set_header("Retry-After", "120");
    });
    server_.Get("/bad", [this](const httplib::Request&, httplib::Response& res) {
      ++calls_;
      res.status = 400;
      res.set_content(R"({"error":"bad field"})", "application/json");
    });
    server_.Get("/quota", [this](const httplib::Request&, httplib::Response& res) {
      ++calls_;
      res.status = 429;
      res.set_content(R"({"error":{"type":"insufficient_quota","message":"check billing"}})",
                      "application/json");
    });
    server_.Get("/always503", [this](const httplib::Request&, httplib::Response& res) {
      ++calls_;
      res.status = 503;
    });
    server_.Get("/slow", [this](const httplib::Request&, httplib::Response& res) {
      // Polls the stop flag so TearDown never waits for a full sleep.
      for (int i = 0; i < 500 && !stopping_; ++i) std::this_thread::sleep_for(milliseconds(10));
      res.set_content("late", "text/plain");
    });
    port_ = server_.bind_to_any_port("127.0.0.1");
    ASSERT_GT(port_, 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(milliseconds(1));
  }

  void TearDown() override {
    stopping_ = true;
    server_.stop();
    thread_.join();
  }

  HttpRequest Get(const std::string& path) {
    HttpRequest r;
    r.url = "http://127.0.0.1:" + std::to_string(port_) + path;
    r.timeout = milliseconds(5000);
    return r;
  }

  httplib::Server server_;
  std::thread thread_;
  int port_ = 0;
  std::atomic<int> calls_{0};
  std::atomic<bool> stopping_{false};
  std::unique_ptr<HttpClient> client_ = NewCurlHttpClient();
};

struct RecordingSleeper {
  std::vector<milliseconds> delays;
  Sleeper AsSleeper() {
    return [this](milliseconds d) { delays.push_back(d); };
  }
};

TEST_F(HttpClientTest, SendReturnsStatusHeadersAndBody) {
  auto r = client_->Send(Get("/ok"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello");
  EXPECT_EQ(r->Header("x-answer"), "42");  // names are lower-cased
  EXPECT_EQ(r->Header("content-type"), "text/plain");
}

TEST_F(HttpClientTest, SendsMethodHeadersAndBody) {
  HttpRequest post = Get("/echo");
  post.method = "POST";
  post.headers = {{"X-Token", "t1"}, {"Content-Type", "application/json"}};
  post.body = R"({"a":1})";
  auto r = client_->Send(post);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, R"(POST t1 {"a":1})");

  HttpRequest put = Get("/echo");
  put.method = "PUT";
  put.body = "xyz";
  r = client_->Send(put);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "PUT xyz");
}

TEST_F(HttpClientTest, RetriesServiceUnavailable) {
  RetryPolicy policy;
  policy.base_delay = milliseconds(5);
  // Default sleeper (a real sleep) on purpose: the short base delay keeps it fast.
  auto r = SendWithRetry(*client_, Get("/flaky"), policy);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "recovered");
  EXPECT_EQ(calls_, 2);
}

TEST_F(HttpClientTest, WaitsAtLeastRetryAfterSeconds) {
  RecordingSleeper sleeper;
  RetryPolicy policy;
  policy.base_delay = milliseconds(1);
  auto r = SendWithRetry(*client_, Get("/limited"), policy, sleeper.AsSleeper());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(sleeper.delays.size(), 1u);
  EXPECT_GE(sleeper.delays[0], milliseconds(1000));
}

TEST_F(HttpClientTest, WaitsForRetryAfterHttpDate) {
  RecordingSleeper sleeper;
  RetryPolicy policy;
  policy.base_delay = milliseconds(1);
  auto r = SendWithRetry(*client_, Get("/limited-date"), policy, sleeper.AsSleeper());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200);
  ASSERT_EQ(sleeper.delays.size(), 1u);
  // The date has one-second resolution, so 3 s ahead reads as 2-3 s.
  EXPECT_GE(sleeper.delays[0], milliseconds(1000));
  EXPECT_LE(sleeper.delays[0], milliseconds(3000));
}

TEST_F(HttpClientTest, LongRetryAfterReturnsAtOnceWithRetryAfter) {
  RecordingSleeper sleeper;
  auto r = SendWithRetry(*client_, Get("/limited-long"), RetryPolicy{}, sleeper.AsSleeper());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(calls_, 1);
  EXPECT_TRUE(sleeper.delays.empty());
  Status s = StatusFromHttp(*r, "create note");
  EXPECT_EQ(s.code(), Code::kResourceExhausted);
  ASSERT_TRUE(s.retry_after().has_value());
  EXPECT_EQ(*s.retry_after(), milliseconds(120000));
}

TEST_F(HttpClientTest, BadRequestIsNotRetried) {
  RecordingSleeper sleeper;
  auto r = SendWithRetry(*client_, Get("/bad"), RetryPolicy{}, sleeper.AsSleeper());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 400);
  EXPECT_EQ(calls_, 1);
  EXPECT_TRUE(sleeper.delays.empty());
  Status s = StatusFromHttp(*r, "update ticket 7");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_NE(s.message().find("update ticket 7: HTTP 400"), std::string::npos);
  EXPECT_NE(s.message().find("bad field"), std::string::npos);

  // A vendor's error page keeps to one line of the log: its line breaks and escapes are
  // spaces in the excerpt.
  HttpResponse page;
  page.status = 502;
  page.body = "<html>\n<title>Bad gateway</title>\r\n\x1b[31mupstream\x7f down\n";
  const Status gateway = StatusFromHttp(page, "fetch ticket 7");
  EXPECT_EQ(gateway.message(), "fetch ticket 7: HTTP 502: <html> <title>Bad gateway</title>   [31mupstream  down ");
}

TEST_F(HttpClientTest, SpendLimitIsNotRetried) {
  RecordingSleeper sleeper;
  auto r = SendWithRetry(*client_, Get("/quota"), RetryPolicy{}, sleeper.AsSleeper());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 429);
  EXPECT_EQ(calls_, 1);
  EXPECT_TRUE(sleeper.delays.empty());
}

TEST_F(HttpClientTest, GivesUpAfterMaxAttempts) {
  RecordingSleeper sleeper;
  RetryPolicy policy;
  policy.max_attempts = 3;
  auto r = SendWithRetry(*client_, Get("/always503"), policy, sleeper.AsSleeper());
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 503);
  EXPECT_EQ(calls_, 3);
  EXPECT_EQ(sleeper.delays.size(), 2u);
  EXPECT_EQ(StatusFromHttp(*r, "x").code(), Code::kUnavailable);
}

TEST_F(HttpClientTest, TimeoutIsDeadlineExceeded) {
  HttpRequest r = Get("/slow");
  r.timeout = milliseconds(200);
  auto start = std::chrono::steady_clock::now();
  auto result = client_->Send(r);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kDeadlineExceeded) << result.status().ToString();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
}

TEST_F(HttpClientTest, HandleIsReusedAfterTimeout) {
  HttpRequest slow = Get("/slow");
  slow.timeout = milliseconds(100);
  EXPECT_FALSE(client_->Send(slow).ok());
  auto r = client_->Send(Get("/ok"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->body, "hello");
}

TEST_F(HttpClientTest, ConcurrentSendsFromManyThreads) {
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        auto r = client_->Send(Get("/ok"));
        if (r.ok() && r->status == 200 && r->body == "hello") ++ok;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok, 40);
}

// A port that was bound and released: nothing listens there.
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) return -1;
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

TEST(HttpClientTransportTest, ConnectionRefusedIsUnavailableAndRetried) {
  const int port = ClosedPort();
  ASSERT_GT(port, 0);
  auto client = NewCurlHttpClient();
  HttpRequest r;
  r.url = "http://127.0.0.1:" + std::to_string(port) + "/";
  auto result = client->Send(r);
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kUnavailable) << result.status().ToString();

  RecordingSleeper sleeper;
  RetryPolicy policy;
  policy.max_attempts = 3;
  result = SendWithRetry(*client, r, policy, sleeper.AsSleeper());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kUnavailable);
  EXPECT_EQ(sleeper.delays.size(), 2u);
}

TEST(HttpClientTransportTest, MalformedUrlIsNotRetried) {
  auto client = NewCurlHttpClient();
  HttpRequest r;
  r.url = "nope://x";
  RecordingSleeper sleeper;
  auto result = SendWithRetry(*client, r, RetryPolicy{}, sleeper.AsSleeper());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(sleeper.delays.empty());
}

// A one-shot raw TCP upstream: accepts one connection per `answer` call, reads the
// request head, then misbehaves as the answer says. cpp-httplib cannot send a reset or
// a body shorter than its Content-Length, so this speaks TCP directly.
class RawUpstream {
 public:
  enum class Answer { kReset, kTruncated };
  RawUpstream() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 8);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
  }
  ~RawUpstream() {
    if (thread_.joinable()) thread_.join();
    close(fd_);
  }
  // Serves `connections` connections with `answer` on a background thread.
  void Serve(Answer answer, int connections) {
    thread_ = std::thread([this, answer, connections] {
      for (int i = 0; i < connections; ++i) {
        int c = accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        char buf[4096];
        std::string head;
        while (head.find("\r\n\r\n") == std::string::npos) {
          ssize_t n = recv(c, buf, sizeof buf, 0);
          if (n <= 0) break;
          head.append(buf, static_cast<size_t>(n));
        }
        if (answer == Answer::kTruncated) {
          const std::string partial =
              "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"ticket\":{";
          send(c, partial.data(), partial.size(), MSG_NOSIGNAL);
        } else {
          linger hard{1, 0};  // close() sends RST, not FIN
          setsockopt(c, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
        }
        close(c);
      }
    });
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/api/tickets/1"; }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::thread thread_;
};

TEST(HttpClientTransportTest, ConnectionResetIsUnavailableAndRetried) {
  RawUpstream upstream;
  upstream.Serve(RawUpstream::Answer::kReset, 3);
  auto client = NewCurlHttpClient();
  HttpRequest r;
  r.url = upstream.url();
  RecordingSleeper sleeper;
  RetryPolicy policy;
  policy.max_attempts = 3;
  auto result = SendWithRetry(*client, r, policy, sleeper.AsSleeper());
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(result.status().code(), Code::kUnavailable) << result.status().ToString();
  EXPECT_EQ(sleeper.delays.size(), 2u) << "a reset is transient: every attempt is used";
}

TEST(HttpClientTransportTest, TruncatedBodyIsUnavailableAndRetried) {
  RawUpstream upstream;
  upstream.Serve(RawUpstream::Answer::kTruncated, 2);
  auto client = NewCurlHttpClient();
  HttpRequest r;
  r.url = upstream.url();
  RecordingSleeper sleeper;
  RetryPolicy policy;
  policy.max_attempts = 2;
  auto result = SendWithRetry(*client, r, policy, sleeper.AsSleeper());
  ASSERT_FALSE(result.ok()) << "a body shorter than its Content-Length must not pass as a response";
  EXPECT_EQ(result.status().code(), Code::kUnavailable) << result.status().ToString();
  EXPECT_EQ(sleeper.delays.size(), 1u);
}

// A scripted client: answers every Send with the same status (and headers).
struct FixedAnswerClient : HttpClient {
  HttpResponse answer;
  Status error;
  int sends = 0;
  Result<HttpResponse> Send(const HttpRequest&) override {
    ++sends;
    if (!error.ok()) return error;
    return answer;
  }
};

// The retry decision for every class of answer an upstream gives, in-process
// (SendWithRetry) and for the job (StatusFromHttp → retryable()).
TEST(RetryMatrixTest, EveryAnswerClassGetsTheRightDecision) {
  struct Case {
    int status;
    std::string retry_after;
    std::string body;
    Status transport_error;
    bool retried;      // SendWithRetry tries again
    bool job_retries;  // the job is rescheduled rather than dead-lettered
  };
  const auto later = HttpDate(std::chrono::system_clock::now() + std::chrono::seconds(2));
  const Case cases[] = {
      {500, "", "", {}, true, true},
      {502, "", "", {}, true, true},
      {503, "", "", {}, true, true},
      {504, "", "", {}, true, true},
      {529, "", R"({"type":"error","error":{"type":"overloaded_error"}})", {}, true, true},
      {429, "1", "", {}, true, true},
      {429, later, "", {}, true, true},
      {429, "", R"({"error":{"code":"insufficient_quota"}})", {}, false, false},
      {408, "", "", {}, true, true},
      {409, "", "", {}, true, true},
      {400, "", "", {}, false, false},
      {401, "", "", {}, false, false},
      {403, "", "", {}, false, false},
      {404, "", "", {}, false, false},
      {422, "", "", {}, false, false},
      {0, "", "", Status::DeadlineExceeded("timed out"), true, true},
      {0, "", "", Status::Unavailable("connection reset by peer"), true, true},
      {0, "", "", Status::Unavailable("could not resolve host"), true, true},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("status " + std::to_string(c.status) + " " + c.retry_after + " " + c.body +
                 c.transport_error.ToString());
    FixedAnswerClient client;
    client.answer.status = c.status;
    if (!c.retry_after.empty()) client.answer.headers["retry-after"] = c.retry_after;
    client.answer.body = c.body;
    client.error = c.transport_error;
    RecordingSleeper sleeper;
    RetryPolicy policy;
    policy.max_attempts = 3;
    auto result = SendWithRetry(client, HttpRequest{}, policy, sleeper.AsSleeper());
    EXPECT_EQ(client.sends, c.retried ? 3 : 1);
    Status final_status = result.ok() ? StatusFromHttp(*result, "call") : result.status();
    EXPECT_FALSE(final_status.ok());
    EXPECT_EQ(final_status.retryable(), c.job_retries) << final_status.ToString();
    if (!c.retry_after.empty()) {
      // Every in-process wait honoured the server's Retry-After.
      for (auto d : sleeper.delays) EXPECT_GE(d, milliseconds(c.retry_after == "1" ? 1000 : 900));
    }
  }
}

std::chrono::system_clock::time_point At(int year, int mon, int day, int h, int m, int s) {
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = mon - 1;
  tm.tm_mday = day;
  tm.tm_hour = h;
  tm.tm_min = m;
  tm.tm_sec = s;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

TEST(ParseRetryAfterTest, DeltaSeconds) {
  EXPECT_EQ(ParseRetryAfter("5"), milliseconds(5000));
  EXPECT_EQ(ParseRetryAfter(" 0 "), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("-3"), milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("99999999999999999999"), milliseconds(86400 * 1000));
}

TEST(ParseRetryAfterTest, HttpDates) {
  const auto now = At(1994, 11, 6, 8, 49, 0);
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:49:37 GMT", now), milliseconds(37000));
  EXPECT_EQ(ParseRetryAfter("Sunday, 06-Nov-94 08:49:37 GMT", now), milliseconds(37000));
  EXPECT_EQ(ParseRetryAfter("Sun Nov  6 08:49:37 1994", now), milliseconds(37000));
  EXPECT_EQ(ParseRetryAfter("Sun, 06 Nov 1994 08:48:00 GMT", now), milliseconds(0));  // past
  // Found by fuzz_retry_after: a far-future date overflowed system_clock (UB); it saturates.
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 9007 07:28:00 GMT", now), milliseconds(86400 * 1000));
  EXPECT_EQ(ParseRetryAfter("Mon, 07 Nov 1994 08:49:00 GMT", now), milliseconds(86400000));
}

TEST(ParseRetryAfterTest, GarbageIsNullopt) {
  const auto now = At(1994, 11, 6, 8, 49, 0);
  for (const char* bad : {"", "  ", "soon", "1.5", "5s", "Sun, 32 Nov 1994 08:49:37 GMT",
                          "Sun, 06 Foo 1994 08:49:37 GMT", "Sun, 06 Nov 1994 25:49:37 GMT",
                          "Sun, 06 Nov 1994 08:49:37 GMT trailing", "Sun, 06 Nov 1994 08:49:37",
                          "Sun Nov  6 08:49:37"}) {
    EXPECT_FALSE(ParseRetryAfter(bad, now).has_value()) << bad;
  }
}

TEST(StatusFromHttpTest, MapsStatusCodes) {
  auto code_of = [](int status) {
    HttpResponse r;
    r.status = status;
    return StatusFromHttp(r, "call").code();
  };
  EXPECT_EQ(code_of(200), Code::kOk);
  EXPECT_EQ(code_of(204), Code::kOk);
  EXPECT_EQ(code_of(400), Code::kInvalidArgument);
  EXPECT_EQ(code_of(422), Code::kInvalidArgument);
  EXPECT_EQ(code_of(401), Code::kUnauthenticated);
  EXPECT_EQ(code_of(403), Code::kPermissionDenied);
  EXPECT_EQ(code_of(404), Code::kNotFound);
  EXPECT_EQ(code_of(410), Code::kNotFound);
  EXPECT_EQ(code_of(408), Code::kUnavailable);
  EXPECT_EQ(code_of(409), Code::kUnavailable);
  EXPECT_EQ(code_of(429), Code::kResourceExhausted);
  EXPECT_EQ(code_of(500), Code::kUnavailable);
  EXPECT_EQ(code_of(503), Code::kUnavailable);
  EXPECT_EQ(code_of(302), Code::kFailedPrecondition);
}

TEST(StatusFromHttpTest, CarriesRetryAfter) {
  HttpResponse r;
  r.status = 503;
  r.headers["retry-after"] = "7";
  Status s = StatusFromHttp(r, "fetch ticket 42");
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(s.retry_after(), milliseconds(7000));
  EXPECT_TRUE(s.retryable());
  EXPECT_EQ(s.message().rfind("fetch ticket 42: HTTP 503", 0), 0u);
}

TEST(BackoffDelayTest, FullJitterWithinCeiling) {
  RetryPolicy policy;
  policy.base_delay = milliseconds(100);
  policy.max_delay = milliseconds(1000);
  milliseconds largest{0};
  for (int i = 0; i < 200; ++i) {
    auto d0 = BackoffDelay(policy, 0);
    EXPECT_GE(d0, milliseconds(0));
    EXPECT_LE(d0, milliseconds(100));
    auto d3 = BackoffDelay(policy, 3);
    EXPECT_LE(d3, milliseconds(800));
    auto big = BackoffDelay(policy, 62);  // must not overflow
    EXPECT_GE(big, milliseconds(0));
    EXPECT_LE(big, milliseconds(1000));
    largest = std::max(largest, big);
  }
  EXPECT_GT(largest, milliseconds(500));  // jitter actually spreads over the range
}

TEST(PercentEncode, KeepsUnreservedAndEscapesEveryOtherByte) {
  EXPECT_EQ(PercentEncode("AZaz09-_.~"), "AZaz09-_.~");
  EXPECT_EQ(PercentEncode("type:ticket status>=solved"), "type%3Aticket%20status%3E%3Dsolved");
  EXPECT_EQ(PercentEncode("a/b?c#\xff"), "a%2Fb%3Fc%23%FF");
  // Whole dot segments are escaped (a client would resolve them); dots inside a value are not.
  EXPECT_EQ(PercentEncode("."), "%2E");
  EXPECT_EQ(PercentEncode(".."), "%2E%2E");
  EXPECT_EQ(PercentEncode("..."), "...");
  EXPECT_EQ(PercentEncode("a..b"), "a..b");
}

}  // namespace
}  // namespace deskpilot

namespace deskpilot {
namespace {

// SendWriteOnce: a write is never made twice. Before each retry of a 5xx or timeout it
// asks whether the write landed anyway; a 429 made nothing and is retried without asking.
TEST(SendWriteOnce, AsksBeforeRetryingAndNeverWritesTwice) {
  RetryPolicy policy;
  policy.max_attempts = 4;
  std::vector<std::chrono::milliseconds> slept;
  const Sleeper sleep = [&](std::chrono::milliseconds d) { slept.push_back(d); };

  // A 503 after the desk made the write: the read-back finds it, no second send.
  int sends = 0, reads = 0;
  Status s = SendWriteOnce([&] { ++sends; return Status::Unavailable("503"); },
                           [&]() -> Result<bool> { ++reads; return true; }, policy, sleep);
  EXPECT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(sends, 1);
  EXPECT_EQ(reads, 1);

  // A 429 then success: retried after its Retry-After, never read back.
  sends = reads = 0;
  slept.clear();
  s = SendWriteOnce(
      [&] {
        return ++sends == 1 ? Status::ResourceExhausted("429").set_retry_after(std::chrono::milliseconds(700))
                            : Status::Ok();
      },
      [&]() -> Result<bool> { ++reads; return false; }, policy, sleep);
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(sends, 2);
  EXPECT_EQ(reads, 0);
  ASSERT_EQ(slept.size(), 1u);
  EXPECT_GE(slept[0], std::chrono::milliseconds(700));

  // Not there after a 5xx: sent again, up to max_attempts, and the last error returned.
  sends = reads = 0;
  s = SendWriteOnce([&] { ++sends; return Status::Unavailable("503"); },
                    [&]() -> Result<bool> { ++reads; return false; }, policy, sleep);
  EXPECT_EQ(s.code(), Code::kUnavailable);
  EXPECT_EQ(sends, 4);
  EXPECT_EQ(reads, 3);

  // A 4xx and a long Retry-After return at once; a failed read-back is the error.
  sends = reads = 0;
  s = SendWriteOnce([&] { ++sends; return Status::InvalidArgument("400"); },
                    [&]() -> Result<bool> { ++reads; return false; }, policy, sleep);
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  s = SendWriteOnce([&] { ++sends; return Status::ResourceExhausted("429").set_retry_after(std::chrono::minutes(5)); },
                    [&]() -> Result<bool> { ++reads; return false; }, policy, sleep);
  EXPECT_EQ(s.code(), Code::kResourceExhausted);
  EXPECT_EQ(sends, 2);
  s = SendWriteOnce([&] { return Status::Unavailable("503"); },
                    [&]() -> Result<bool> { return Status::NotFound("ticket deleted"); }, policy, sleep);
  EXPECT_EQ(s.code(), Code::kNotFound);
  EXPECT_EQ(reads, 0);
}

}  // namespace
}  // namespace deskpilot
