// The operators' control-plane API of the registrar (docs/api.md):
//   GET    /v1/admin/agents[?state=&page_size=&page_token=]
//   GET    /v1/admin/agents/{uuid}
//   PUT    /v1/admin/agents/{uuid}/enrolment
//   PATCH  /v1/admin/agents/{uuid}/policies
//   POST   /v1/admin/agents:bulk   (only with admin.bulk_enrolment)
//   DELETE /v1/admin/agents/{uuid}
// Each request is authenticated on the I/O thread (AdminAuth, no I/O), then
// parsed, validated and run on the database pool (DbDispatch); the caller's
// name is the actor of the audit columns and log lines.
//
// Thread-safety: AddRoutes() while building the router; the handlers then
// run concurrently and only read this object.
#pragma once

#include <string>

#include "common/base/result.h"
#include "common/db/connection.h"
#include "common/http/message.h"
#include "common/http/router.h"
#include "registrar/admin_auth.h"
#include "registrar/config.h"
#include "registrar/handlers.h"

namespace attest::registrar {

class AdminHandlers {
 public:
  // `evidence_partitions`: for enrolments.partition (PartitionFor). `config`
  // and `db` must outlive this object.
  AdminHandlers(const RegistrarConfig& config, int32_t evidence_partitions, AdminAuth auth,
                const DbDispatch& db);

  Result<void> AddRoutes(http::Router& router);

  // The handlers' work on a database connection; `actor` is who asked.
  http::Response List(db::Connection& conn, const http::Request& req);
  http::Response Show(db::Connection& conn, const http::Request& req);
  http::Response Enrol(db::Connection& conn, const http::Request& req, const std::string& actor);
  http::Response Update(db::Connection& conn, const http::Request& req, const std::string& actor);
  http::Response Bulk(db::Connection& conn, const http::Request& req, const std::string& actor);
  http::Response Remove(db::Connection& conn, const http::Request& req, const std::string& actor);

 private:
  using Work = http::Response (AdminHandlers::*)(db::Connection&, const http::Request&,
                                                 const std::string&);
  // Authenticates, then runs (this->*work)(conn, req, actor) on the pool.
  void Authorized(const http::RequestPtr& req, const http::Responder& res, Work work);
  http::Handler Route(Work work);
  http::Response ListAs(db::Connection& c, const http::Request& r, const std::string&) {
    return List(c, r);
  }
  http::Response ShowAs(db::Connection& c, const http::Request& r, const std::string&) {
    return Show(c, r);
  }

  const RegistrarConfig& config_;
  const int32_t evidence_partitions_;
  const AdminAuth auth_;
  const DbDispatch& db_;
};

}  // namespace attest::registrar
