// The operations routes every service serves the same way:
//   GET /healthz  the process runs (default: 200 "ok\n")
//   GET /readyz   it may take traffic now (only when the service has a check)
//   GET /metrics  the registry in the Prometheus text format
// Each service says what its answers depend on through OpsHandlers; the paths,
// the default answers and the metrics content type live here only.
//
//   http::Router router;
//   ATTEST_RETURN_IF_ERROR(http::AddOpsRoutes(router, {.ready = ..., .metrics = &registry}));
//
// Thread-safety: call while building the router (before the server starts);
// the handlers then run on the server's I/O threads and must be thread-safe.
#pragma once

#include "common/base/result.h"
#include "common/http/message.h"
#include "common/http/router.h"

namespace attest::metrics {
class Registry;
}

namespace attest::http {

struct OpsHandlers {
  // GET /healthz. Empty: answers 200 "ok\n".
  Handler healthy = nullptr;
  // GET /readyz. Empty: no route (a service without a readiness check).
  Handler ready = nullptr;
  // GET /metrics renders this registry, which must outlive the router. Null:
  // no route.
  const metrics::Registry* metrics = nullptr;
};

// The answer of a /healthz that has nothing to check.
Handler AlwaysHealthy();

// Adds the routes above to `router`. Error (invalid_argument, from
// Router::Add) when one of the paths is already routed.
Result<void> AddOpsRoutes(Router& router, OpsHandlers handlers);

}  // namespace attest::http
