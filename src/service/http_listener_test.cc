#include "service/http_listener.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>

namespace deskpilot {
namespace {

using namespace std::chrono_literals;

// One end of a connected socket pair is the server's stream, the other the client.
class GuardedStreamTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds_), 0);
    conn_ = std::make_shared<ConnectionState>(fds_[0], 5);
    stream_ = std::make_unique<GuardedStream>(fds_[0], *conn_, 2000ms, 2000ms);
    stream_->BeginRequest(GuardedStream::Clock::now() + 5s, 1 << 20);
  }
  void TearDown() override {
    stream_.reset();
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  // What the client can read right now, without waiting.
  std::string ClientReadNow() {
    char buf[65536];
    ssize_t n = ::recv(fds_[1], buf, sizeof buf, MSG_DONTWAIT);
    return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
  }
  std::string ClientReadExactly(size_t size) {
    std::string out;
    char buf[65536];
    while (out.size() < size) {
      pollfd p{fds_[1], POLLIN, 0};
      if (::poll(&p, 1, 2000) != 1) break;
      ssize_t n = ::recv(fds_[1], buf, std::min(sizeof buf, size - out.size()), 0);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    return out;
  }

  int fds_[2] = {-1, -1};
  std::shared_ptr<ConnectionState> conn_;
  std::unique_ptr<GuardedStream> stream_;
};

TEST_F(GuardedStreamTest, AResponseWrittenInPartsLeavesInOneSendAtFlush) {
  const std::string head = "HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n";
  ASSERT_EQ(stream_->write(head.data(), head.size()), static_cast<ssize_t>(head.size()));
  ASSERT_EQ(stream_->write("{}", 2), 2);
  EXPECT_EQ(ClientReadNow(), "") << "nothing may leave before the response is complete";
  ASSERT_TRUE(stream_->Flush());
  EXPECT_EQ(ClientReadNow(), head + "{}") << "head and body in one read: one send";
  EXPECT_TRUE(stream_->Flush()) << "nothing pending is not an error";
}

TEST_F(GuardedStreamTest, AReadSendsWhatIsPendingFirstSoAnInterimResponseIsNotStuck) {
  // "Expect: 100-continue": the client sends its body only once it has seen the interim
  // response, and the server writes that response and then reads the body.
  std::thread client([this] {
    const std::string interim = ClientReadExactly(25);
    if (interim == "HTTP/1.1 100 Continue\r\n\r\n") (void)::send(fds_[1], "body", 4, MSG_NOSIGNAL);
  });
  const std::string interim = "HTTP/1.1 100 Continue\r\n\r\n";
  ASSERT_EQ(stream_->write(interim.data(), interim.size()), static_cast<ssize_t>(interim.size()));
  char buf[16] = {};
  const ssize_t n = stream_->read(buf, sizeof buf);
  client.join();
  ASSERT_EQ(n, 4);
  EXPECT_EQ(std::string(buf, 4), "body");
}

TEST_F(GuardedStreamTest, ALargeWriteFollowsWhatIsPendingInOrder) {
  ASSERT_EQ(stream_->write("head:", 5), 5);
  const std::string big(200 * 1024, 'x');  // more than is collected, more than the socket buffer
  std::string received;
  std::thread client([&] { received = ClientReadExactly(5 + big.size()); });
  ASSERT_EQ(stream_->write(big.data(), big.size()), static_cast<ssize_t>(big.size()));
  ASSERT_TRUE(stream_->Flush());
  client.join();
  EXPECT_EQ(received.size(), 5 + big.size());
  EXPECT_EQ(received.substr(0, 5), "head:");
  EXPECT_EQ(received.find_first_not_of('x', 5), std::string::npos);
}

TEST_F(GuardedStreamTest, FlushFailsWhenThePeerIsGone) {
  ::close(fds_[1]);
  fds_[1] = -1;
  ASSERT_EQ(stream_->write("x", 1), 1);
  EXPECT_FALSE(stream_->Flush());
}

TEST_F(GuardedStreamTest, AReadWaitsForBytesThatHaveNotArrivedYet) {
  std::thread client([this] {
    std::this_thread::sleep_for(100ms);
    (void)::send(fds_[1], "late", 4, MSG_NOSIGNAL);
  });
  char buf[16] = {};
  const ssize_t n = stream_->read(buf, sizeof buf);
  client.join();
  ASSERT_EQ(n, 4);
  EXPECT_EQ(std::string(buf, 4), "late");
}

// A deferred response (a webhook ack sent by the store's committer) and the connection's
// own next response: the second must wait for the first, however late it comes.
TEST_F(GuardedStreamTest, AResponseAfterADeferredOneWaitsForIt) {
  ASSERT_TRUE(conn_->TryDefer());
  EXPECT_FALSE(conn_->TryDefer()) << "one deferred response at a time keeps their order";
  auto deferred = std::make_shared<DeferredResponse>(conn_);
  std::thread committer([deferred] {
    std::this_thread::sleep_for(150ms);
    deferred->Send(202, "application/json", "{\"job_id\":1}");
    deferred->Send(500, "text/plain", "ignored: a response is sent once");
  });
  ASSERT_EQ(stream_->write("second", 6), 6);
  ASSERT_TRUE(stream_->Flush());  // waits for the deferred one
  committer.join();
  const std::string first =
      "HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\nContent-Length: 12\r\n"
      "Keep-Alive: timeout=5\r\n\r\n{\"job_id\":1}";
  EXPECT_EQ(ClientReadExactly(first.size() + 6), first + "second");
  EXPECT_TRUE(conn_->TryDefer()) << "settled: the next request may defer again";
}

TEST_F(GuardedStreamTest, WhatTheSocketDoesNotTakeIsSentByTheConnection) {
  int small = 4096;
  ASSERT_EQ(::setsockopt(fds_[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
  ASSERT_TRUE(conn_->TryDefer());
  const std::string body(512 * 1024, 'b');
  DeferredResponse(conn_).Send(200, "text/plain", body);  // the client reads nothing yet
  ASSERT_TRUE(conn_->HasUnsent()) << "the committer must not block on a slow client";
  EXPECT_FALSE(conn_->TryDefer());
  std::string received;
  std::thread client([&] { received = ClientReadExactly(body.size() + 200); });
  ASSERT_TRUE(stream_->Flush());
  ::shutdown(fds_[0], SHUT_WR);
  client.join();
  EXPECT_FALSE(conn_->HasUnsent());
  ASSERT_GT(received.size(), body.size());
  EXPECT_EQ(received.substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_EQ(received.substr(received.size() - body.size()), body);
}

TEST_F(GuardedStreamTest, ADeferredResponseNeverSentClosesTheConnection) {
  ASSERT_TRUE(conn_->TryDefer());
  std::make_shared<DeferredResponse>(conn_).reset();  // e.g. its handler threw
  EXPECT_FALSE(stream_->Flush()) << "the connection must close: its client got no answer";
  char c;
  EXPECT_EQ(::recv(fds_[1], &c, 1, 0), 0) << "the client sees the connection end";
}

}  // namespace
}  // namespace deskpilot
