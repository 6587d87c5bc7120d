#include "service/http_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

#include "deskpilot/text.h"

namespace deskpilot {
namespace {

using Clock = std::chrono::steady_clock;

thread_local bool t_close_after_response = false;
// The connection the current thread is serving, and what its current request allows.
thread_local std::shared_ptr<ConnectionState> t_connection;
thread_local bool t_may_defer = false;
thread_local bool t_deferred = false;
// What a ConnectionPool tells the task running on one of its threads (or, refusing, on the
// accepting thread).
thread_local ConnectionPool* t_pool = nullptr;
thread_local Clock::time_point t_accepted{};
thread_local bool t_refusing = false;
thread_local bool t_yielded = false;

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 404: return "Not Found";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Status";
  }
}

int PollFor(int fd, short events, int timeout_ms) {
  pollfd p{fd, events, 0};
  int r;
  do {
    r = ::poll(&p, 1, std::max(timeout_ms, 0));
  } while (r < 0 && errno == EINTR);
  return r > 0 ? p.revents : 0;
}

void AddressOf(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  int rc = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&addr), &len)
                : ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  if (rc != 0) return;
  char buf[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    auto* a = reinterpret_cast<sockaddr_in*>(&addr);
    ::inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    port = ntohs(a->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
    ::inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    port = ntohs(a->sin6_port);
  }
  ip = buf;
}

// A connection over the pool's queue bound, on the accepting thread: nothing here may block.
void RefuseConnection(int fd) {
  static constexpr char kBusy[] =
      "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nContent-Length: 40\r\n"
      "Retry-After: 1\r\nConnection: close\r\n\r\n{\"error\":\"too many connections waiting\"}";
  (void)::send(fd, kBusy, sizeof kBusy - 1, MSG_NOSIGNAL | MSG_DONTWAIT);
  // Closing over unread bytes resets the connection, and a reset can destroy the 503 before
  // the client reads it: take away what the request has sent so far (a bounded amount).
  char discard[4096];
  for (int i = 0; i < 16 && ::recv(fd, discard, sizeof discard, MSG_DONTWAIT) > 0; ++i) {
  }
  ::shutdown(fd, SHUT_RDWR);
  ::close(fd);
}

}  // namespace

ConnectionPool::ConnectionPool(size_t threads, size_t max_queued)
    : max_queued_(max_queued), event_fd_(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) {
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

ConnectionPool::~ConnectionPool() {
  shutdown();
  if (event_fd_ >= 0) ::close(event_fd_);
}

ConnectionPool* ConnectionPool::Current() { return t_pool; }
ConnectionPool::Clock::time_point ConnectionPool::AcceptedAt() { return t_accepted; }
bool ConnectionPool::Refusing() { return t_refusing; }

void ConnectionPool::enqueue(std::function<void()> fn) {
  std::unique_lock lock(mu_);
  if (tasks_.size() >= idle_ + max_queued_) {
    lock.unlock();
    // Run here, marked, so that the connection is answered 503 and closed at once.
    t_refusing = true;
    fn();
    t_refusing = false;
    return;
  }
  tasks_.push_back({std::move(fn), Clock::now()});
  Signal();
  lock.unlock();
  wake_.notify_one();
}

void ConnectionPool::shutdown() {
  {
    std::lock_guard lock(mu_);
    shutdown_ = true;
  }
  wake_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
}

void ConnectionPool::Work() {
  t_pool = this;
  for (;;) {
    Task task;
    {
      std::unique_lock lock(mu_);
      if (t_yielded) --yielding_;
      t_yielded = false;
      ++idle_;
      wake_.wait(lock, [&] { return !tasks_.empty() || shutdown_; });
      --idle_;
      if (tasks_.empty()) return;  // shut down, and every accepted connection was served
      task = std::move(tasks_.front());
      tasks_.pop_front();
      Signal();
    }
    t_accepted = task.accepted;
    task.fn();
  }
}

size_t ConnectionPool::Unserved() const {
  const size_t covered = idle_ + yielding_;
  return tasks_.size() > covered ? tasks_.size() - covered : 0;
}

// Only a change costs a system call, and there is none while connections get threads at once.
void ConnectionPool::Signal() {
  const bool want = Unserved() > 0;
  if (want == signalled_ || event_fd_ < 0) return;
  uint64_t value = 1;
  const ssize_t n = want ? ::write(event_fd_, &value, sizeof value) : ::read(event_fd_, &value, sizeof value);
  if (n == static_cast<ssize_t>(sizeof value)) signalled_ = want;
}

bool ConnectionPool::Yield() {
  std::lock_guard lock(mu_);
  if (Unserved() == 0) return false;
  ++yielding_;
  t_yielded = true;
  Signal();
  return true;
}

void ConnectionState::Deliver(const std::string& bytes) {
  std::lock_guard lock(mu_);
  size_t off = 0;
  if (!broken_ && unsent_.empty()) {
    while (off < bytes.size()) {
      ssize_t n = ::send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        off += static_cast<size_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        break;  // the client is not reading: the connection's thread sends the rest
      } else {
        broken_ = true;
        break;
      }
    }
  }
  if (!broken_) unsent_.append(bytes, off, std::string::npos);
  outstanding_ = false;
  settled_.notify_all();
}

void ConnectionState::Abandon() {
  std::lock_guard lock(mu_);
  broken_ = true;
  outstanding_ = false;
  // Wakes the connection's thread from its wait for a next request; it then closes.
  ::shutdown(fd_, SHUT_RDWR);
  settled_.notify_all();
}

bool ConnectionState::TryDefer() {
  std::lock_guard lock(mu_);
  if (outstanding_ || broken_ || !unsent_.empty()) return false;
  outstanding_ = true;
  return true;
}

// Asked only when a connection's wait for its next request times out (every 100 ms).
bool ConnectionState::HasUnsent() {
  std::lock_guard lock(mu_);
  return !unsent_.empty();
}

bool ConnectionState::Settle(GuardedStream& stream) {
  std::string rest;
  {
    std::unique_lock lock(mu_);
    settled_.wait(lock, [&] { return !outstanding_; });
    if (broken_) return false;
    rest.swap(unsent_);
  }
  return rest.empty() || stream.SendNow(rest);
}

DeferredResponse::~DeferredResponse() {
  if (!sent_.exchange(true)) conn_->Abandon();
}

void DeferredResponse::Send(int status, const std::string& content_type, const std::string& body) {
  if (sent_.exchange(true)) return;
  // What httplib writes for a keep-alive response; only kept-alive ones are deferred.
  std::string bytes = "HTTP/1.1 " + std::to_string(status) + " " + ReasonPhrase(status) +
                      "\r\nContent-Type: " + content_type +
                      "\r\nContent-Length: " + std::to_string(body.size()) +
                      "\r\nKeep-Alive: timeout=" + std::to_string(conn_->keep_alive_timeout_sec()) +
                      "\r\n\r\n";
  bytes += body;
  conn_->Deliver(bytes);
}

GuardedStream::GuardedStream(int fd, ConnectionState& conn, std::chrono::milliseconds read_timeout,
                             std::chrono::milliseconds write_timeout)
    : fd_(fd), conn_(conn), read_timeout_(read_timeout), write_timeout_(write_timeout) {}

void GuardedStream::BeginRequest(Clock::time_point deadline, size_t budget) {
  deadline_ = deadline;
  budget_ = budget;
  cut_off_ = false;
}

int GuardedStream::ReadWaitMs() const {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline_ - Clock::now());
  return static_cast<int>(std::min(left, read_timeout_).count());
}

bool GuardedStream::is_readable() const {
  return HasBuffered() || (PollFor(fd_, POLLIN, ReadWaitMs()) & (POLLIN | POLLHUP)) != 0;
}

bool GuardedStream::is_writable() const {
  return (PollFor(fd_, POLLOUT, static_cast<int>(write_timeout_.count())) & POLLOUT) != 0;
}

ssize_t GuardedStream::read(char* ptr, size_t size) {
  if (!pending_.empty() && !Flush()) return -1;
  if (budget_ == 0) {
    cut_off_ = true;
    return -1;
  }
  if (size == 0) return 0;
  if (!HasBuffered()) {
    if (ReadWaitMs() <= 0) {
      cut_off_ = true;
      return -1;
    }
    // A large read (a body) goes straight to the caller; small ones fill the buffer.
    const bool direct = size >= sizeof buffer_;
    char* into = direct ? ptr : buffer_;
    const size_t want = direct ? std::min(size, budget_) : sizeof buffer_;
    auto receive = [&](int flags) {
      ssize_t n;
      do {
        n = ::recv(fd_, into, want, flags);
      } while (n < 0 && errno == EINTR);
      return n;
    };
    // The bytes have usually arrived already (the connection loop waited for them): try
    // first, wait only when there is nothing yet.
    ssize_t n = receive(MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if ((PollFor(fd_, POLLIN, ReadWaitMs()) & (POLLIN | POLLHUP)) == 0) {
        cut_off_ = true;
        return -1;
      }
      n = receive(0);
    }
    if (n <= 0) return n;
    if (direct) {
      budget_ -= static_cast<size_t>(n);
      return n;
    }
    pos_ = 0;
    end_ = static_cast<size_t>(n);
  }
  const size_t take = std::min({size, end_ - pos_, budget_});
  std::memcpy(ptr, buffer_ + pos_, take);
  pos_ += take;
  budget_ -= take;
  return static_cast<ssize_t>(take);
}

ssize_t GuardedStream::write(const char* ptr, size_t size) {
  if (pending_.size() + size <= kMaxPending) {
    pending_.append(ptr, size);
    return static_cast<ssize_t>(size);
  }
  if (!Flush() || !SendAll(ptr, size)) return -1;
  return static_cast<ssize_t>(size);
}

bool GuardedStream::Flush() {
  if (!conn_.Settle(*this)) return false;
  if (pending_.empty()) return true;
  const bool sent = SendAll(pending_.data(), pending_.size());
  pending_.clear();
  return sent;
}

bool GuardedStream::SendAll(const char* data, size_t size) {
  size_t off = 0;
  while (off < size) {
    ssize_t n;
    do {
      n = ::send(fd_, data + off, size - off, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n > 0) {
      off += static_cast<size_t>(n);
      continue;
    }
    // The socket buffer is full: wait (at most the write timeout) until the peer reads.
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && is_writable()) continue;
    return false;
  }
  return true;
}

void GuardedStream::get_remote_ip_and_port(std::string& ip, int& port) const {
  if (remote_port_ < 0) AddressOf(fd_, true, remote_ip_, remote_port_);
  ip = remote_ip_;
  port = remote_port_;
}

void GuardedStream::get_local_ip_and_port(std::string& ip, int& port) const {
  if (local_port_ < 0) AddressOf(fd_, false, local_ip_, local_port_);
  ip = local_ip_;
  port = local_port_;
}

GuardedHttpServer::GuardedHttpServer(ListenerLimits limits) : limits_(limits) {
  new_task_queue = [limits] { return new ConnectionPool(limits.threads, limits.max_queued_connections); };
  // Replaces httplib's default options (SO_REUSEPORT, which lets a second process bind the
  // same port and take half the webhooks) with SO_REUSEADDR, and remembers the socket.
  set_socket_options([this](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    listen_fd_ = sock;
  });
}

void GuardedHttpServer::RaiseListenBacklog(int backlog) {
  if (listen_fd_ >= 0) ::listen(listen_fd_, backlog);
}

void GuardedHttpServer::CloseAfterResponse() { t_close_after_response = true; }

std::shared_ptr<DeferredResponse> GuardedHttpServer::DeferResponse(const httplib::Request& req) {
  if (!t_connection || !t_may_defer || t_close_after_response) return nullptr;
  // httplib closes these connections after the response, and says so in its headers.
  if (req.version != "HTTP/1.1") return nullptr;
  if (AsciiLower(req.get_header_value("Connection")).find("close") != std::string::npos) return nullptr;
  if (!t_connection->TryDefer()) return nullptr;
  t_deferred = true;
  return std::make_shared<DeferredResponse>(t_connection);
}

// Idle keep-alive wait, in short slices so that stop() is noticed promptly. stop() closes
// the listening socket at once, but is_running() turns false only after every connection
// thread has ended, so an idle keep-alive connection held a stop for its whole timeout.
// While accepted connections wait for a thread, an idle one hands its thread over: at once
// after a request, after the pool's first-byte grace when it has not sent one yet.
bool GuardedHttpServer::WaitForRequest(socket_t sock, GuardedStream& stream, ConnectionState& conn,
                                       bool first) const {
  if (stream.HasBuffered()) return true;  // a pipelined request already arrived
  ConnectionPool* pool = ConnectionPool::Current();
  const auto until = Clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
  const auto may_yield_from = first ? ConnectionPool::AcceptedAt() + limits_.first_byte_grace : Clock::time_point::min();
  while (is_running() && svr_sock_ != INVALID_SOCKET) {
    const auto now = Clock::now();
    const bool may_yield = pool != nullptr && now >= may_yield_from;
    int slice_ms = 100;
    if (pool != nullptr && !may_yield) {
      const auto grace_left = std::chrono::ceil<std::chrono::milliseconds>(may_yield_from - now).count();
      slice_ms = static_cast<int>(std::clamp<int64_t>(grace_left, 1, slice_ms));
    }
    pollfd fds[2] = {{sock, POLLIN, 0}, {may_yield ? pool->waiting_fd() : -1, POLLIN, 0}};
    if (::poll(fds, 2, slice_ms) < 0 && errno != EINTR) return false;
    if (fds[0].revents != 0) return true;  // data, EOF or error: let the read tell
    if ((fds[1].revents & POLLIN) != 0 && pool->Yield()) {
      yielded_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    // A deferred response the socket did not take whole: its client waits for the rest.
    if (conn.HasUnsent() && !stream.Flush()) return false;
    if (Clock::now() >= until) return false;
  }
  return false;
}

bool GuardedHttpServer::process_and_close_socket(socket_t sock) {
  if (ConnectionPool::Refusing()) {
    refused_.fetch_add(1, std::memory_order_relaxed);
    RefuseConnection(sock);
    return false;
  }
  using std::chrono::milliseconds;
  const milliseconds read_timeout(read_timeout_sec_ * 1000 + read_timeout_usec_ / 1000);
  const milliseconds write_timeout(write_timeout_sec_ * 1000 + write_timeout_usec_ / 1000);
  bool ret = false;
  auto conn = std::make_shared<ConnectionState>(sock, static_cast<int>(keep_alive_timeout_sec_));
  t_connection = conn;
  GuardedStream stream(sock, *conn, read_timeout, write_timeout);
  for (size_t left = keep_alive_max_count_; left > 0; --left) {
    if (!WaitForRequest(sock, stream, *conn, left == keep_alive_max_count_)) break;
    t_close_after_response = false;
    t_deferred = false;
    t_may_defer = left > 1;
    stream.BeginRequest(Clock::now() + limits_.request_timeout, limits_.max_body_bytes + limits_.max_head_bytes);
    bool connection_closed = false;
    ret = process_request(stream, /*close_connection=*/left == 1, connection_closed, nullptr);
    if (t_deferred) {
      stream.Discard();  // httplib's copy; the handle sends the real one
    } else if (!stream.Flush()) {  // sent now, whatever the outcome: an error (400, 413) too
      break;
    }
    if (!ret || connection_closed || t_close_after_response || stream.cut_off()) break;
  }
  // A deferred response still on its way is sent before the socket is closed: until then
  // another thread may write to this descriptor.
  stream.Flush();
  t_connection.reset();
  t_may_defer = false;
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ret;
}

}  // namespace deskpilot
