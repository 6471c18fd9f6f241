// Result<T>: a value or an Error, the return type of every fallible call in
// the project. Each module defines its own error enum and std::error_category
// (see errors.h for the pattern) and translates library errors at its edge, so
// callers see one vocabulary per module and a human-readable message.
//
// Thread-safety: plain value types; no shared state.
#pragma once

#include <cassert>
#include <string>
#include <system_error>
#include <utility>
#include <variant>

namespace attest {

struct Error {
  std::error_code code;
  std::string message;  // says what failed and where, for logs and users

  std::string ToString() const {
    if (message.empty()) return code.message();
    return message;
  }
};

template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & {
    assert(ok());
    return std::get<0>(v_);
  }
  const T& value() const& {
    assert(ok());
    return std::get<0>(v_);
  }
  T&& value() && {
    assert(ok());
    return std::get<0>(std::move(v_));
  }
  const Error& error() const {
    assert(!ok());
    return std::get<1>(v_);
  }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT

  bool ok() const { return ok_; }
  explicit operator bool() const { return ok_; }
  const Error& error() const {
    assert(!ok_);
    return error_;
  }

 private:
  Error error_;
  bool ok_ = true;
};

inline Result<void> Ok() { return Result<void>(); }

// Assigns the value of a Result expression to `lhs`, or returns its Error from
// the enclosing function (which must return a Result or an Error).
#define ATTEST_ASSIGN_OR_RETURN(lhs, expr)                   \
  do {                                                       \
    auto attest_result_ = (expr);                            \
    if (!attest_result_.ok()) return attest_result_.error(); \
    lhs = std::move(attest_result_).value();                 \
  } while (0)

// Returns the Error of a Result expression from the enclosing function.
#define ATTEST_RETURN_IF_ERROR(expr)                         \
  do {                                                       \
    auto attest_result_ = (expr);                            \
    if (!attest_result_.ok()) return attest_result_.error(); \
  } while (0)

template <typename E>
Error MakeError(E code, std::string message) {
  return Error{make_error_code(code), std::move(message)};
}

}  // namespace attest
