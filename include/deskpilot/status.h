// Status and Result<T>: errors as values at every adapter and storage boundary.
//
// Codes are chosen by what the caller should do next (after abseil): retry later
// (kUnavailable, kResourceExhausted, kDeadlineExceeded), give up on this job
// (everything else), or treat as a bug (kInternal).
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace deskpilot {

enum class Code {
  kOk = 0,
  kInvalidArgument,     // the input is wrong; retrying the same input cannot help
  kNotFound,            // the thing does not exist (e.g. a deleted ticket)
  kAlreadyExists,
  kUnauthenticated,     // bad or missing credentials / signature
  kPermissionDenied,
  kFailedPrecondition,  // state does not allow it (e.g. ticket closed, lease lost)
  kResourceExhausted,   // rate-limited or over quota; see retry_after()
  kUnavailable,         // transient: connection refused/reset, 5xx; retry with backoff
  kDeadlineExceeded,    // timed out; retry with backoff
  kDataLoss,            // corruption detected (audit chain, integrity_check)
  kInternal,            // a bug or an invariant broken
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;  // OK
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status AlreadyExists(std::string m) { return {Code::kAlreadyExists, std::move(m)}; }
  static Status Unauthenticated(std::string m) { return {Code::kUnauthenticated, std::move(m)}; }
  static Status PermissionDenied(std::string m) { return {Code::kPermissionDenied, std::move(m)}; }
  static Status FailedPrecondition(std::string m) { return {Code::kFailedPrecondition, std::move(m)}; }
  static Status ResourceExhausted(std::string m) { return {Code::kResourceExhausted, std::move(m)}; }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status DeadlineExceeded(std::string m) { return {Code::kDeadlineExceeded, std::move(m)}; }
  static Status DataLoss(std::string m) { return {Code::kDataLoss, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // True when the same request may succeed later (transient failure or rate limit).
  bool retryable() const {
    return deferred_ || code_ == Code::kUnavailable || code_ == Code::kResourceExhausted ||
           code_ == Code::kDeadlineExceeded;
  }
  // Server-requested wait (Retry-After), when the upstream gave one.
  std::optional<std::chrono::milliseconds> retry_after() const { return retry_after_; }
  Status& set_retry_after(std::chrono::milliseconds d) {
    retry_after_ = d;
    return *this;
  }
  // Set when the failure says nothing about this job (an upstream's circuit is open,
  // the process is stopping): the job is put back for later without using up one of
  // its attempts. Implies retryable().
  bool deferred() const { return deferred_; }
  Status& set_deferred(bool d = true) {
    deferred_ = d;
    return *this;
  }

  // Prefixes context: "fetch ticket 42: connection refused".
  Status WithContext(std::string_view context) const;
  std::string ToString() const;  // "UNAVAILABLE: connection refused"

 private:
  Code code_ = Code::kOk;
  std::string message_;
  std::optional<std::chrono::milliseconds> retry_after_;
  bool deferred_ = false;
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}               // NOLINT: implicit by design
  Result(Status status) : v_(std::move(status)) {         // NOLINT: implicit by design
    if (std::get<Status>(v_).ok()) v_ = Status::Internal("Result constructed from OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  // By value, not T&&: `for (auto& x : F().value())` must not dangle when F's Result dies.
  T value() && { return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace deskpilot

#define DP_CONCAT_INNER_(a, b) a##b
#define DP_CONCAT_(a, b) DP_CONCAT_INNER_(a, b)

#define DP_RETURN_IF_ERROR(expr)                  \
  do {                                            \
    ::deskpilot::Status dp_status_ = (expr);      \
    if (!dp_status_.ok()) return dp_status_;      \
  } while (0)

#define DP_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                              \
  if (!tmp.ok()) return tmp.status();             \
  lhs = std::move(tmp).value()

#define DP_ASSIGN_OR_RETURN(lhs, expr) \
  DP_ASSIGN_OR_RETURN_IMPL_(DP_CONCAT_(dp_result_, __LINE__), lhs, expr)
