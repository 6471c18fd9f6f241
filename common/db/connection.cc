#include "common/db/connection.h"

#include <exception>
#include <regex>

namespace attest::db {

std::string RedactConninfo(std::string_view conninfo) {
  std::string s(conninfo);
  // URI user info: scheme://user:secret@host
  static const std::regex uri_password(R"(^(postgres(?:ql)?://[^:/@?]*):[^@/?]*@)",
                                       std::regex::icase);
  s = std::regex_replace(s, uri_password, "$1:***@");
  // Keyword form (quoted or bare value) and URI query parameter.
  static const std::regex kw_password(R"((password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s&]*))",
                                      std::regex::icase);
  return std::regex_replace(s, kw_password, "$1***");
}

Error TranslateCurrentException(std::string_view context) {
  const std::string where(context);
  auto with = [&](errc code, const std::string& what) {
    // libpq messages end in a newline; keep messages one line where possible.
    std::string msg = what;
    while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
    return MakeError(code, where + ": " + msg);
  };
  try {
    throw;
  } catch (const pqxx::in_doubt_error& e) {
    return with(errc::in_doubt, e.what());
  } catch (const pqxx::broken_connection& e) {
    return with(errc::connection_failed, e.what());
  } catch (const pqxx::transaction_rollback& e) {
    // serialization_failure, deadlock_detected, statement_completion_unknown
    return with(errc::retryable, e.what());
  } catch (const pqxx::integrity_constraint_violation& e) {
    return with(errc::constraint_violation, e.what());
  } catch (const pqxx::sql_error& e) {
    std::string msg = e.what();
    if (!e.sqlstate().empty()) msg = "[" + e.sqlstate() + "] " + msg;
    return with(errc::query_failed, msg);
  } catch (const pqxx::usage_error& e) {
    return with(errc::usage_error, e.what());
  } catch (const pqxx::failure& e) {
    return with(errc::query_failed, e.what());
  } catch (const pqxx::conversion_error& e) {
    return with(errc::query_failed, std::string("conversion: ") + e.what());
  } catch (const pqxx::range_error& e) {
    return with(errc::query_failed, std::string("range: ") + e.what());
  } catch (const std::exception& e) {
    return with(errc::query_failed, e.what());
  } catch (...) {
    return with(errc::query_failed, "unknown exception");
  }
}

Result<Connection> Connection::Open(const std::string& conninfo) {
  std::string description = RedactConninfo(conninfo);
  try {
    auto conn = std::make_unique<pqxx::connection>(conninfo);
    return Connection(std::move(conn), std::move(description));
  } catch (...) {
    Error e = TranslateCurrentException("connect to " + description);
    // A bad conninfo is reported by libpq as a broken connection too.
    e.code = make_error_code(errc::connection_failed);
    return e;
  }
}

}  // namespace attest::db
