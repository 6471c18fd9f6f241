// RAII PostgreSQL connection (libpqxx 6.4) and the translation of pqxx
// exceptions into attest::Error with attest::db::errc codes.
//
// Every call that can throw pqxx exceptions is wrapped by Guard() (or the
// Connection helpers built on it), so services see Result<T> only.
//
// Thread-safety: a Connection is used by one thread at a time (libpq
// connections are not thread-safe); distinct Connections are independent.
#pragma once

#include <pqxx/pqxx>

#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "common/base/result.h"
#include "common/db/errors.h"

namespace attest::db {

// Returns `conninfo` with the value of any password removed, for log and
// error messages. Handles keyword form ("password=x") and URIs
// ("postgresql://user:x@host/db", "?password=x").
std::string RedactConninfo(std::string_view conninfo);

// Translates the exception currently being handled into an Error whose
// message starts with `context`. Call only from inside a catch block.
Error TranslateCurrentException(std::string_view context);

// Runs fn() and returns its value as Result, translating any exception.
template <typename F>
auto Guard(std::string_view context, F&& fn) -> Result<std::invoke_result_t<F>> {
  using R = std::invoke_result_t<F>;
  try {
    if constexpr (std::is_void_v<R>) {
      std::forward<F>(fn)();
      return Ok();
    } else {
      return Result<R>(std::forward<F>(fn)());
    }
  } catch (...) {
    return TranslateCurrentException(context);
  }
}

class Connection {
 public:
  // Connects with a libpq conninfo string (keyword form or URI). Put
  // connect_timeout in the conninfo to bound the wait for unreachable hosts.
  static Result<Connection> Open(const std::string& conninfo);

  Connection(Connection&&) noexcept = default;
  Connection& operator=(Connection&&) noexcept = default;

  pqxx::connection& raw() { return *conn_; }
  // The conninfo without its password, for messages.
  const std::string& description() const { return description_; }
  bool is_open() const { return conn_ && conn_->is_open(); }

  // Runs fn(pqxx::work&) in one transaction and commits it. Any exception
  // (from fn or from COMMIT) rolls back and becomes an Error; a broken
  // connection during COMMIT is errc::in_doubt.
  template <typename F>
  auto Transact(std::string_view context, F&& fn) -> Result<std::invoke_result_t<F, pqxx::work&>> {
    using R = std::invoke_result_t<F, pqxx::work&>;
    return Guard(context, [&]() -> R {
      pqxx::work tx(*conn_);
      if constexpr (std::is_void_v<R>) {
        fn(tx);
        tx.commit();
      } else {
        R r = fn(tx);
        tx.commit();
        return r;
      }
    });
  }

 private:
  Connection(std::unique_ptr<pqxx::connection> conn, std::string description)
      : conn_(std::move(conn)), description_(std::move(description)) {}

  std::unique_ptr<pqxx::connection> conn_;  // pqxx 6.4 connections are not movable
  std::string description_;
};

}  // namespace attest::db
