// What the registrar's registration and admin handlers share: running their
// database work on the pool's threads (never on an HTTP I/O thread), and the
// agent UUID of a request.
//
// Thread-safety: Attach() once, before the server accepts requests; Defer()
// from any thread after that.
#pragma once

#include <functional>
#include <string>

#include "common/base/result.h"
#include "common/db/connection.h"
#include "common/http/message.h"

namespace attest::db {
class Pool;
}

namespace attest::registrar {

class DbDispatch {
 public:
  using Work = std::function<http::Response(db::Connection& conn)>;

  // The pool is made by Registrar::Start, after the routes are built.
  void Attach(db::Pool* pool) { pool_ = pool; }

  // Runs work(conn) on a pool thread and sends what it returns; 503 when the
  // queue is full or no database connection can be had.
  void Defer(const http::Responder& res, Work work) const;

 private:
  db::Pool* pool_ = nullptr;
};

// The path's {uuid}, canonical; when the body names a UUID (or
// `body_required`), it must be the same one (errc::bad_request otherwise).
Result<std::string> AgentUuid(const http::Request& req, const std::string& body_uuid,
                              bool body_required);

}  // namespace attest::registrar
