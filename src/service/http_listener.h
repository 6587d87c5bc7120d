// cpp-httplib's server with limits it lacks at run time (Debian ships it as a compiled
// library, so its CPPHTTPLIB_* limits are fixed; performance.md). Its own connection loop
// times out each read, not a request: a client trickling a byte every few seconds holds
// a pool thread forever, and a chunked or length-less body is buffered without bound.
// This subclass runs the connection loop itself over a stream that gives every request
// a total deadline and a byte budget (headers + body), and can close a connection after
// a response whose request body was left unread (413, 415).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <httplib.h>

namespace deskpilot {

struct ListenerLimits {
  // Request line + headers + body must arrive within this, from the request's first byte.
  std::chrono::milliseconds request_timeout{15000};
  // Bytes one request may send in total: the body cap plus this much for the head.
  size_t max_body_bytes = 1 << 20;
  size_t max_head_bytes = 64 * 1024;
  // Connection threads: each serves one connection at a time, for its whole keep-alive life.
  size_t threads = 64;
  // Accepted connections that may wait for a thread; past this a new one is answered 503
  // and closed at once, rather than left waiting behind the others.
  size_t max_queued_connections = 256;
  // While connections wait for a thread, a new connection whose first byte has not come
  // this long after it was accepted gives its thread up (closes): a real sender's request
  // follows its handshake within a round trip.
  std::chrono::milliseconds first_byte_grace{100};
};

// httplib's ThreadPool, fair to waiting connections. httplib hands a pool one task per
// accepted connection, and a task holds its thread for the connection's whole keep-alive
// life: 64 idle sockets held all 64 threads and every later connection (a health check, a
// webhook) queued behind them for seconds. This pool tells its connections when accepted
// ones wait for a thread, so an idle one can close and hand its thread over, and bounds
// how many may wait.
class ConnectionPool : public httplib::TaskQueue {
 public:
  using Clock = std::chrono::steady_clock;
  ConnectionPool(size_t threads, size_t max_queued);
  ~ConnectionPool() override;
  ConnectionPool(const ConnectionPool&) = delete;
  ConnectionPool& operator=(const ConnectionPool&) = delete;

  void enqueue(std::function<void()> fn) override;
  void shutdown() override;

  // On a pool thread: its pool, else nullptr.
  static ConnectionPool* Current();
  // On a pool thread: when the connection it is serving was accepted.
  static Clock::time_point AcceptedAt();
  // True while the task running on this thread is a connection over the queue bound, run by
  // the accepting thread to be refused (503) at once.
  static bool Refusing();

  // Readable while accepted connections wait for a thread that nobody has offered: poll()
  // it beside a connection's socket.
  int waiting_fd() const { return event_fd_; }
  // An idle connection offers its thread to a waiting one. True: close the connection now;
  // its thread is counted as already on its way to the queue.
  bool Yield();

 private:
  struct Task {
    std::function<void()> fn;
    Clock::time_point accepted;
  };
  void Work();
  size_t Unserved() const;  // mu_ held
  void Signal();            // mu_ held: waiting_fd() readable exactly while Unserved() > 0

  const size_t max_queued_;
  int event_fd_ = -1;
  std::mutex mu_;
  std::condition_variable wake_;
  std::deque<Task> tasks_;   // guarded by mu_
  size_t idle_ = 0;          // guarded by mu_: threads waiting for a task
  size_t yielding_ = 0;      // guarded by mu_: threads closing an idle connection for the queue
  bool signalled_ = false;   // guarded by mu_
  bool shutdown_ = false;    // guarded by mu_
  std::vector<std::thread> threads_;
};

class GuardedStream;

// What a connection's thread shares with whoever sends a deferred response on it (the
// store's committer, for a webhook ack). At most one response is deferred at a time, so
// responses keep their order; the socket is closed only after it is settled.
class ConnectionState {
 public:
  ConnectionState(int fd, int keep_alive_timeout_sec) : fd_(fd), keep_alive_timeout_sec_(keep_alive_timeout_sec) {}

  // Any thread. Sends without blocking; what the socket does not take at once is left for
  // the connection's thread, which looks every 100 ms while it waits for a request.
  void Deliver(const std::string& bytes);
  // The deferred response will never come: the connection is closed without an answer
  // (the sender then retries, as after any lost connection).
  void Abandon();

  // The connection's thread: true when a deferred response can be started now.
  bool TryDefer();
  // Waits for the deferred response, if any, and sends what Deliver left unsent. False when
  // the connection must be closed.
  bool Settle(GuardedStream& stream);
  bool HasUnsent();
  int keep_alive_timeout_sec() const { return keep_alive_timeout_sec_; }

 private:
  const int fd_;
  const int keep_alive_timeout_sec_;
  std::mutex mu_;
  std::condition_variable settled_;
  bool outstanding_ = false;  // guarded by mu_
  bool broken_ = false;       // guarded by mu_: a deferred send failed or was abandoned
  std::string unsent_;        // guarded by mu_
};

// A response that a handler leaves to another thread, so that the connection's thread
// goes back to its socket instead of sleeping: a webhook is answered by the store's
// committer once its job is durable (bench/RESULTS.md, issue 7). Destroyed unsent, it
// closes the connection.
class DeferredResponse {
 public:
  explicit DeferredResponse(std::shared_ptr<ConnectionState> conn) : conn_(std::move(conn)) {}
  ~DeferredResponse();
  DeferredResponse(const DeferredResponse&) = delete;
  DeferredResponse& operator=(const DeferredResponse&) = delete;

  // Sends the response (later calls do nothing). Never blocks.
  void Send(int status, const std::string& content_type, const std::string& body);

 private:
  std::shared_ptr<ConnectionState> conn_;
  std::atomic<bool> sent_{false};
};

// A connection's view of the socket for cpp-httplib (one per connection, used by one
// thread). Every read waits at most the per-read timeout and never past the current
// request's deadline, and a request may consume at most its byte budget; a refused read
// makes httplib end the request (400 when the head was incomplete) and the connection.
//
// Reads are buffered: httplib parses the request line and headers one byte per read() call,
// and an unbuffered stream turned that into a poll() + recv() pair per header byte — most of
// the CPU of a webhook ack (bench/RESULTS.md). The buffer belongs to the connection, not the
// request, so bytes of a pipelined next request that arrive with this one are kept for it.
// A read tries the socket first and waits (poll) only when nothing has arrived.
//
// Writes are collected and sent by Flush(), which the connection loop calls after each
// response: httplib writes a response's head and body separately, and each write was a
// poll() + send() and a TCP segment of its own. A read flushes first, so an interim
// response ("100 Continue") reaches the client before its body is awaited. A flush settles
// the connection's deferred response first, so responses leave in request order.
class GuardedStream : public httplib::Stream {
 public:
  using Clock = std::chrono::steady_clock;
  GuardedStream(int fd, ConnectionState& conn, std::chrono::milliseconds read_timeout,
                std::chrono::milliseconds write_timeout);

  // Starts the next request on this connection: its deadline and byte budget.
  void BeginRequest(Clock::time_point deadline, size_t budget);
  // A read of the current request was refused: its deadline passed, a read timed out or
  // its byte budget ran out. httplib answers 400 and would read on, so the connection
  // must be closed instead (else a slow client keeps its thread one request at a time).
  bool cut_off() const { return cut_off_; }
  bool HasBuffered() const { return pos_ < end_; }
  // Sends what write() collected; false when the peer is gone or does not read within the
  // write timeout (the connection is then closed).
  bool Flush();
  // Drops what write() collected: httplib's copy of a response that was deferred.
  void Discard() { pending_.clear(); }
  // Sends bytes at once, ahead of anything collected (what a deferred send left over).
  bool SendNow(const std::string& bytes) { return SendAll(bytes.data(), bytes.size()); }

  bool is_readable() const override;
  bool is_writable() const override;
  ssize_t read(char* ptr, size_t size) override;
  ssize_t write(const char* ptr, size_t size) override;
  void get_remote_ip_and_port(std::string& ip, int& port) const override;
  void get_local_ip_and_port(std::string& ip, int& port) const override;
  socket_t socket() const override { return fd_; }

 private:
  // Writes beyond this are sent as they come (after what is pending) rather than collected.
  static constexpr size_t kMaxPending = 64 * 1024;
  int ReadWaitMs() const;
  bool SendAll(const char* data, size_t size);

  int fd_;
  ConnectionState& conn_;
  Clock::time_point deadline_{};
  size_t budget_ = 0;
  bool cut_off_ = false;
  std::chrono::milliseconds read_timeout_;
  std::chrono::milliseconds write_timeout_;
  char buffer_[4096];
  size_t pos_ = 0;  // buffer_[pos_, end_) is received but not yet consumed
  size_t end_ = 0;
  std::string pending_;  // written, not yet sent
  // The connection's addresses, asked for once: httplib wants them for every request.
  mutable std::string remote_ip_, local_ip_;
  mutable int remote_port_ = -1, local_port_ = -1;
};

class GuardedHttpServer : public httplib::Server {
 public:
  explicit GuardedHttpServer(ListenerLimits limits);

  // After bind_to_port / bind_to_any_port: raises the listen backlog, which Debian's build
  // compiles in as 5 — a burst of new connections (64 senders at once in bench/) overflowed
  // it, and each dropped SYN costs the sender a 1 s retransmit (performance.md, finding 4).
  // Linux applies a second listen() on a listening socket as a new backlog.
  void RaiseListenBacklog(int backlog);

  // From a handler on this server: close the connection once the response is written
  // (its request body was not read, so the bytes that follow are not a next request).
  static void CloseAfterResponse();

  // From a handler on this server: the response will be sent through the returned handle,
  // and whatever the handler puts in its Response is discarded. nullptr when it must be
  // answered now, in the Response: the connection closes after this request (HTTP/1.0,
  // "Connection: close", its last keep-alive request, CloseAfterResponse) or an earlier
  // deferred response on it is not yet sent (pipelining).
  static std::shared_ptr<DeferredResponse> DeferResponse(const httplib::Request& req);

  // For /metrics: connections refused with a 503 because too many already waited for a
  // thread, and idle keep-alive connections closed to give their thread to a waiting one.
  // Without them an operator sees senders' 503s and reconnects but no cause on this side.
  uint64_t refused_connections() const { return refused_.load(std::memory_order_relaxed); }
  uint64_t yielded_connections() const { return yielded_.load(std::memory_order_relaxed); }

 private:
  // Overrides httplib's private per-connection loop (called through its vtable).
  bool process_and_close_socket(socket_t sock) override;
  bool WaitForRequest(socket_t sock, GuardedStream& stream, ConnectionState& conn, bool first) const;

  ListenerLimits limits_;
  int listen_fd_ = -1;  // the listening socket, seen through httplib's socket-options hook
  std::atomic<uint64_t> refused_{0};
  mutable std::atomic<uint64_t> yielded_{0};  // counted in the const WaitForRequest
};

}  // namespace deskpilot
