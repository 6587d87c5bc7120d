#include "service/http_listener.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace deskpilot {
namespace {

using Clock = std::chrono::steady_clock;

thread_local bool t_close_after_response = false;

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

}  // namespace

GuardedStream::GuardedStream(int fd, std::chrono::milliseconds read_timeout, std::chrono::milliseconds write_timeout)
    : fd_(fd), read_timeout_(read_timeout), write_timeout_(write_timeout) {}

void GuardedStream::BeginRequest(Clock::time_point deadline, size_t budget) {
  deadline_ = deadline;
  budget_ = budget;
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
  if (budget_ == 0) return -1;
  if (size == 0) return 0;
  if (!HasBuffered()) {
    if (ReadWaitMs() <= 0) return -1;
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
      if ((PollFor(fd_, POLLIN, ReadWaitMs()) & (POLLIN | POLLHUP)) == 0) return -1;
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

// Idle keep-alive wait, in short slices so that stop() is noticed promptly.
bool GuardedHttpServer::WaitForRequest(socket_t sock, bool buffered) const {
  if (buffered) return true;  // a pipelined request already arrived
  const auto until = Clock::now() + std::chrono::seconds(keep_alive_timeout_sec_);
  while (is_running()) {
    if (PollFor(sock, POLLIN, 100) != 0) return true;  // data, EOF or error: let the read tell
    if (Clock::now() >= until) return false;
  }
  return false;
}

bool GuardedHttpServer::process_and_close_socket(socket_t sock) {
  using std::chrono::milliseconds;
  const milliseconds read_timeout(read_timeout_sec_ * 1000 + read_timeout_usec_ / 1000);
  const milliseconds write_timeout(write_timeout_sec_ * 1000 + write_timeout_usec_ / 1000);
  bool ret = false;
  GuardedStream stream(sock, read_timeout, write_timeout);
  for (size_t left = keep_alive_max_count_; left > 0; --left) {
    if (!WaitForRequest(sock, stream.HasBuffered())) break;
    t_close_after_response = false;
    stream.BeginRequest(Clock::now() + limits_.request_timeout, limits_.max_body_bytes + limits_.max_head_bytes);
    bool connection_closed = false;
    ret = process_request(stream, /*close_connection=*/left == 1, connection_closed, nullptr);
    // Sent now, whatever the outcome: an error response (400, 413) is collected too.
    if (!stream.Flush()) break;
    if (!ret || connection_closed || t_close_after_response) break;
  }
  ::shutdown(sock, SHUT_RDWR);
  ::close(sock);
  return ret;
}

}  // namespace deskpilot
