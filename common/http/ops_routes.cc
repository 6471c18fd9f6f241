#include "common/http/ops_routes.h"

#include "common/metrics/metrics.h"

namespace attest::http {

Handler AlwaysHealthy() {
  return [](RequestPtr, Responder res) { res.Send(Response::Text(200, "ok\n")); };
}

Result<void> AddOpsRoutes(Router& router, OpsHandlers handlers) {
  ATTEST_RETURN_IF_ERROR(router.Add(
      "GET", "/healthz", handlers.healthy ? std::move(handlers.healthy) : AlwaysHealthy()));
  if (handlers.ready)
    ATTEST_RETURN_IF_ERROR(router.Add("GET", "/readyz", std::move(handlers.ready)));
  if (const metrics::Registry* registry = handlers.metrics) {
    ATTEST_RETURN_IF_ERROR(router.Add("GET", "/metrics", [registry](RequestPtr, Responder res) {
      res.Send(
          Response::Binary(200, std::string(metrics::Registry::kContentType), registry->Render()));
    }));
  }
  return Ok();
}

}  // namespace attest::http
