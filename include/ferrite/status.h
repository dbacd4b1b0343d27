// Status and Result<T>: how ferrite reports failures that come from outside (files, requests,
// flags). Broken internal invariants use FERRITE_CHECK (base/check.h) instead and abort.
#pragma once

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace ferrite {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,  // bad request, flag, or value
  kNotFound,         // missing file, tensor, model
  kOutOfRange,       // index/offset beyond a bound
  kDataLoss,         // truncated or corrupt file
  kUnimplemented,    // valid but not supported (architecture, dtype, component)
  kResourceExhausted,
  kFailedPrecondition,
  kAborted,
  kUnavailable,
  kDeadlineExceeded,
  kInternal,
};

const char* status_code_name(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return {}; }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  std::string to_string() const;

  // Returns a copy whose message is "context: message" (for adding the file or tensor name).
  Status with_context(const std::string& context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status ok_status() { return {}; }
inline Status invalid_argument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status not_found(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status out_of_range(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status data_loss(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status unimplemented(std::string m) { return {StatusCode::kUnimplemented, std::move(m)}; }
inline Status resource_exhausted(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status failed_precondition(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status internal_error(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Result<T>: a value or a non-OK Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    assert(!std::get<Status>(v_).ok() && "Result constructed from an OK status");
  }

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOk;
    return ok() ? kOk : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

}  // namespace ferrite

#define FERRITE_CONCAT_INNER(a, b) a##b
#define FERRITE_CONCAT(a, b) FERRITE_CONCAT_INNER(a, b)

// Returns the status from the enclosing function when it is not OK.
#define FERRITE_RETURN_IF_ERROR(expr)            \
  do {                                           \
    ::ferrite::Status _st = (expr);              \
    if (!_st.ok()) return _st;                   \
  } while (0)

// FERRITE_ASSIGN_OR_RETURN(auto x, f()): unwraps a Result or returns its status.
#define FERRITE_ASSIGN_OR_RETURN(lhs, expr) \
  FERRITE_ASSIGN_OR_RETURN_IMPL(FERRITE_CONCAT(_res_, __LINE__), lhs, expr)
#define FERRITE_ASSIGN_OR_RETURN_IMPL(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()
