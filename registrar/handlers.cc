#include "registrar/handlers.h"

#include "common/db/pool.h"
#include "registrar/codec.h"
#include "registrar/errors.h"

namespace attest::registrar {

void DbDispatch::Defer(const http::Responder& res, Work work) const {
  auto queued = pool_->Submit([res, work = std::move(work)](Result<db::Connection*> conn) {
    if (!conn) {
      res.Send(ProblemFor(MakeError(errc::unavailable, conn.error().ToString())));
      return;
    }
    res.Send(work(**conn));
  });
  if (!queued) res.Send(ProblemFor(MakeError(errc::unavailable, "database work queue is full")));
}

Result<std::string> AgentUuid(const http::Request& req, const std::string& body_uuid,
                              bool body_required) {
  std::string path;
  ATTEST_ASSIGN_OR_RETURN(path, CanonicalUuid(req.param("uuid")));
  if (body_uuid.empty() && !body_required) return path;
  auto body = CanonicalUuid(body_uuid);
  if (!body || *body != path) {
    return MakeError(errc::bad_request, "agent_uuid in the body (\"" + body_uuid.substr(0, 64) +
                                            "\") is not the UUID of the path");
  }
  return path;
}

}  // namespace attest::registrar
