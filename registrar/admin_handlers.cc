#include "registrar/admin_handlers.h"

#include <spdlog/spdlog.h>

#include <cctype>
#include <cstdlib>
#include <set>

#include "attest/v1/admin.pb.h"
#include "common/kafka/partitioner.h"
#include "registrar/bulk.h"
#include "registrar/codec.h"
#include "registrar/errors.h"
#include "registrar/policy_check.h"
#include "registrar/store.h"

namespace attest::registrar {
namespace {

using http::RequestPtr;
using http::Responder;
using http::Response;

Response BadRequest(std::string what) {
  return ProblemFor(MakeError(errc::bad_request, std::move(what)));
}

// Value of `key` in a query string ("a=1&b=2"), without percent-decoding
// (the admin API's parameters are UUIDs, numbers and state names).
std::string QueryParam(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    auto eq = part.find('=');
    if (part.substr(0, eq) == key)
      return eq == std::string_view::npos ? "" : std::string(part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

// "failed", "FAILED" or "AGENT_STATE_FAILED"; empty text: unspecified (all).
Result<v1::AgentState> ParseStateFilter(const std::string& text) {
  v1::AgentState state = v1::AGENT_STATE_UNSPECIFIED;
  if (text.empty()) return state;
  std::string upper;
  for (char c : text) upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  if (!upper.starts_with("AGENT_STATE_")) upper = "AGENT_STATE_" + upper;
  if (!v1::AgentState_Parse(upper, &state)) {
    return MakeError(errc::bad_request,
                     "state: unknown agent state \"" + text.substr(0, 40) + "\"");
  }
  return state;
}

// The agent's full status, the answer to a change.
Response StatusAfterChange(db::Connection& conn, const http::Request& req,
                           const std::string& uuid) {
  auto s = LoadAgentStatus(conn, uuid, true);
  if (!s) return ProblemFor(s.error());
  return Encode(200, *s, ResponseEncoding(req));
}

// ek_sha256 as 64 lower-case hex digits ("" when not given).
Result<std::string> EkPin(const std::string& text) {
  std::string out;
  for (char ch : text) out += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  if (!out.empty() &&
      (out.size() != 64 || out.find_first_not_of("0123456789abcdef") != std::string::npos)) {
    return MakeError(errc::bad_request, "ek_sha256: expected 64 hex digits");
  }
  return out;
}

}  // namespace

AdminHandlers::AdminHandlers(const RegistrarConfig& config, int32_t evidence_partitions,
                             AdminAuth auth, const DbDispatch& db)
    : config_(config), evidence_partitions_(evidence_partitions), auth_(std::move(auth)), db_(db) {}

void AdminHandlers::Authorized(const RequestPtr& req, const Responder& res, Work work) {
  auto who = auth_.Check(*req);
  if (!who) {
    Response r = ProblemFor(who.error());
    if (HttpStatus(who.error()) == 401) r.Header("WWW-Authenticate", "Bearer realm=\"attest\"");
    res.Send(std::move(r));
    return;
  }
  db_.Defer(res, [this, req, work, actor = *who](db::Connection& c) {
    return (this->*work)(c, *req, actor);
  });
}

http::Handler AdminHandlers::Route(Work work) {
  return [this, work](RequestPtr q, Responder r) { Authorized(q, r, work); };
}

Result<void> AdminHandlers::AddRoutes(http::Router& router) {
  ATTEST_RETURN_IF_ERROR(router.Add("GET", "/v1/admin/agents", Route(&AdminHandlers::ListAs)));
  ATTEST_RETURN_IF_ERROR(
      router.Add("GET", "/v1/admin/agents/{uuid}", Route(&AdminHandlers::ShowAs)));
  ATTEST_RETURN_IF_ERROR(
      router.Add("PUT", "/v1/admin/agents/{uuid}/enrolment", Route(&AdminHandlers::Enrol)));
  ATTEST_RETURN_IF_ERROR(
      router.Add("PATCH", "/v1/admin/agents/{uuid}/policies", Route(&AdminHandlers::Update)));
  ATTEST_RETURN_IF_ERROR(
      router.Add("POST", "/v1/admin/agents:bulk", [this](RequestPtr q, Responder r) {
        // Off unless configured: bulk identities skip the EK check, so a
        // leaked admin token must not be enough to plant agents.
        if (!config_.bulk_enrolment) {
          spdlog::warn("registrar: bulk enrolment refused: admin.bulk_enrolment is off");
          r.Send(ProblemFor(MakeError(errc::not_found,
                                      "bulk enrolment is disabled on this registrar "
                                      "(admin.bulk_enrolment = false)")));
          return;
        }
        Authorized(q, r, &AdminHandlers::Bulk);
      }));
  return router.Add("DELETE", "/v1/admin/agents/{uuid}", Route(&AdminHandlers::Remove));
}

Response AdminHandlers::List(db::Connection& conn, const http::Request& req) {
  auto state = ParseStateFilter(QueryParam(req.query(), "state"));
  if (!state) return ProblemFor(state.error());
  uint32_t page_size = 100;
  if (std::string ps = QueryParam(req.query(), "page_size"); !ps.empty()) {
    char* end = nullptr;
    unsigned long v = std::strtoul(ps.c_str(), &end, 10);
    if (*end != '\0' || v < 1 || v > 1000) return BadRequest("page_size: expected 1..1000");
    page_size = static_cast<uint32_t>(v);
  }
  std::string token = QueryParam(req.query(), "page_token");
  if (!token.empty()) {
    auto t = CanonicalUuid(token);
    if (!t) return BadRequest("page_token: not a page token");
    token = *t;
  }
  auto out = ListAgents(conn, *state, page_size, token);
  if (!out) return ProblemFor(out.error());
  return Encode(200, *out, ResponseEncoding(req));
}

Response AdminHandlers::Show(db::Connection& conn, const http::Request& req) {
  auto uuid = CanonicalUuid(req.param("uuid"));
  if (!uuid) return ProblemFor(uuid.error());
  auto s = LoadAgentStatus(conn, *uuid, true);
  if (!s) return ProblemFor(s.error());
  return Encode(200, *s, ResponseEncoding(req));
}

Response AdminHandlers::Enrol(db::Connection& conn, const http::Request& req,
                              const std::string& actor) {
  v1::EnrolRequest in;
  if (auto p = ParseBody(req, &in); !p) return ProblemFor(p.error());
  auto uuid = AgentUuid(req, in.agent_uuid(), false);
  if (!uuid) return ProblemFor(uuid.error());
  if (in.interval_seconds() < 1 || in.interval_seconds() > 86400) {
    return BadRequest("interval_seconds: expected 1..86400");
  }
  if (in.grace_factor() != 0 && !(in.grace_factor() >= 1 && in.grace_factor() <= 1000)) {
    return BadRequest("grace_factor: expected 0 (default) or 1..1000");
  }
  EnrolInput e;
  e.uuid = *uuid;
  e.interval_seconds = in.interval_seconds();
  e.grace_factor = in.grace_factor();
  e.partition = kafka::PartitionFor(*uuid, evidence_partitions_);
  e.actor = actor;
  auto pin = EkPin(in.ek_sha256());
  if (!pin) return ProblemFor(pin.error());
  e.ek_sha256 = *pin;
  const std::pair<v1::PolicyKind, const std::string*> given[] = {
      {v1::POLICY_KIND_PCR, &in.pcr_policy()},
      {v1::POLICY_KIND_RUNTIME, &in.runtime_policy()},
      {v1::POLICY_KIND_MEASURED_BOOT, &in.measured_boot_policy()}};
  for (const auto& [kind, body] : given) {
    if (!body->empty()) {
      if (auto v = ValidatePolicy(kind, *body); !v) return ProblemFor(v.error());
    }
    e.policies.push_back({kind, *body});
  }
  if (auto r = registrar::Enrol(conn, e); !r) {
    if (r.error().code == errc::conflict) {
      spdlog::warn("registrar: enrolment of agent {} by {} refused: {}", *uuid, actor,
                   r.error().message);
    }
    return ProblemFor(r.error());
  }
  spdlog::info("registrar: agent {} enrolled by {}{}", *uuid, actor,
               e.ek_sha256.empty() ? "" : " (EK pinned)");
  return StatusAfterChange(conn, req, *uuid);
}

Response AdminHandlers::Update(db::Connection& conn, const http::Request& req,
                               const std::string& actor) {
  v1::UpdatePoliciesRequest in;
  if (auto p = ParseBody(req, &in); !p) return ProblemFor(p.error());
  auto uuid = AgentUuid(req, in.agent_uuid(), false);
  if (!uuid) return ProblemFor(uuid.error());
  if (in.interval_seconds() > 86400) return BadRequest("interval_seconds: expected 0 or 1..86400");
  if (in.policies_size() == 0 && in.interval_seconds() == 0) {
    return BadRequest("nothing to update");
  }
  EnrolInput e;
  e.uuid = *uuid;
  e.interval_seconds = in.interval_seconds();
  e.actor = actor;
  std::set<int> seen;
  for (const auto& p : in.policies()) {
    if (!seen.insert(p.kind()).second) return BadRequest("policies: a kind is given twice");
    if (p.kind() == v1::POLICY_KIND_UNSPECIFIED) {
      return BadRequest("policies: kind is not specified");
    }
    if (!p.body().empty()) {
      if (auto v = ValidatePolicy(p.kind(), p.body()); !v) return ProblemFor(v.error());
    }
    e.policies.push_back({p.kind(), p.body()});
  }
  if (auto r = UpdatePolicies(conn, e); !r) return ProblemFor(r.error());
  spdlog::info("registrar: policies of agent {} updated by {}", *uuid, actor);
  return StatusAfterChange(conn, req, *uuid);
}

Response AdminHandlers::Bulk(db::Connection& conn, const http::Request& req,
                             const std::string& actor) {
  auto in = ParseBulkRequest(req.body(), evidence_partitions_);
  if (!in) return ProblemFor(in.error());
  in->actor = actor;
  auto out = BulkEnrol(conn, *in);
  if (!out) return ProblemFor(out.error());
  spdlog::info("registrar: bulk enrolment by {}: {} enrolled, {} already registered", actor,
               out->enrolled, out->existing);
  return Response::Binary(200, "application/json", BulkOutcomeJson(*out));
}

Response AdminHandlers::Remove(db::Connection& conn, const http::Request& req,
                               const std::string& actor) {
  auto uuid = CanonicalUuid(req.param("uuid"));
  if (!uuid) return ProblemFor(uuid.error());
  if (auto r = RemoveAgent(conn, *uuid); !r) return ProblemFor(r.error());
  spdlog::info("registrar: agent {} removed by {}", *uuid, actor);
  return Response::Text(204, "");
}

}  // namespace attest::registrar
