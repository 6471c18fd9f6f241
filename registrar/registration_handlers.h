// The agents' side of the registrar (docs/api.md, docs/registrar.md):
//   POST /v1/agents/{uuid}/register      EK/AK check, MakeCredential, pending row
//   POST /v1/agents/{uuid}/activate      the proof of ActivateCredential
//   GET  /v1/agents/{uuid}/registration  registration facts only
// Parsing, crypto and SQL run on the database pool (DbDispatch), never on an
// I/O thread. Counts registrations and activations by result.
//
// Thread-safety: AddRoutes() while building the router; the handlers then
// run concurrently on pool threads and only read this object.
#pragma once

#include "common/base/result.h"
#include "common/db/connection.h"
#include "common/http/message.h"
#include "common/http/router.h"
#include "common/metrics/metrics.h"
#include "registrar/config.h"
#include "registrar/handlers.h"
#include "registrar/trust_store.h"

namespace attest::v1 {
class RegisterRequest;
}

namespace attest::registrar {

class RegistrationHandlers {
 public:
  // `trust`: nullptr when no EK trust store is configured. Everything given
  // must outlive this object.
  RegistrationHandlers(const RegistrarConfig& config, const EkTrustStore* trust,
                       const DbDispatch& db, metrics::Registry& registry);

  Result<void> AddRoutes(http::Router& router);

  // The handlers' work on a database connection (public for the routes).
  http::Response Register(db::Connection& conn, const http::Request& req);
  http::Response Activate(db::Connection& conn, const http::Request& req);
  http::Response Registration(db::Connection& conn, const http::Request& req);

 private:
  http::Response RegisterUncounted(db::Connection& conn, const http::Request& req);
  // The EK and AK are usable keys and the EK is trusted as configured.
  Result<void> CheckKeys(const v1::RegisterRequest& in) const;

  const RegistrarConfig& config_;
  const EkTrustStore* const trust_;
  const DbDispatch& db_;
  metrics::CounterFamily& registrations_;
  metrics::CounterFamily& activations_;
};

}  // namespace attest::registrar
