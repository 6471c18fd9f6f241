// End-to-end evidence probes: what an attacker can post to the gateway and
// what becomes of it in the worker. The gateway is stateless, so it may take
// a replayed or forged body (the shape is right); then the worker must
// refuse it (REJECTED / FAIL) without advancing the agent's state, and
// nothing refused by the gateway may ever get a verdict.
#include <fmt/format.h>

#include "tests/probes/probe_fixture.h"

namespace attest::probes {
namespace {

std::string ResultName(const v1::Verdict& v) {
  std::string out = v1::VerdictResult_Name(v.result()).substr(sizeof("VERDICT_RESULT_") - 1);
  for (const auto& f : v.failures()) out += " " + f.event_id();
  return out;
}

bool HasFailureId(const v1::Verdict& v, const std::string& id) {
  for (const auto& f : v.failures()) {
    if (f.event_id() == id) return true;
  }
  return false;
}

std::string IdOf(const httpclient::Response& r) {
  v1::EvidenceAccepted acc;
  return r.status == 202 && acc.ParseFromString(r.body) ? acc.evidence_id() : "";
}

class EvidenceProbes : public ProbeTest {};

TEST_F(EvidenceProbes, ReplayForeignTokenForgedQuoteDowngradedHash) {
  StartWorker();
  ProbeAgent honest, other, forged, downgraded;
  for (auto* a : {&honest, &other, &forged, &downgraded}) {
    EnrolThroughRegistrar(*a, 40);
    ASSERT_FALSE(HasFatalFailure());
  }
  // Tokens are stateless: take every challenge before the first verdict
  // (afterwards the interval would answer 429).
  const std::string t_honest = TokenFor(honest.uuid()), t_other = TokenFor(other.uuid()),
                    t_forged = TokenFor(forged.uuid()), t_down = TokenFor(downgraded.uuid());

  // Control: the honest agent's evidence passes.
  const v1::Evidence first = honest.Make(t_honest, 0, 20);
  auto r = Submit(honest.uuid(), first);
  ASSERT_EQ(r.status, 202) << r.body;
  auto v = VerdictFor(honest.uuid(), IdOf(r));
  ASSERT_TRUE(v.has_value());
  Record("honest evidence (control)", "202; verdict PASS (or LOG_REQUESTED)",
         fmt::format("{}; {}", r.status, ResultName(*v)),
         v->result() == v1::VERDICT_RESULT_PASS || v->result() == v1::VERDICT_RESULT_LOG_REQUESTED);
  const std::string before = AgentState(honest.uuid());

  // Replay: the very same body again, token still valid.
  r = Submit(honest.uuid(), first);
  std::string honest_after = before;
  if (r.status == 202) {
    auto rv = VerdictFor(honest.uuid(), IdOf(r));
    ASSERT_TRUE(rv.has_value());
    const std::string after = AgentState(honest.uuid());
    honest_after = after;
    // Only the verdict sequence may move: state, IMA offset, TPM clock stay.
    auto strip_sequence = [](const std::string& s) {
      auto a = s.find('/'), b = s.find('/', a + 1);
      return s.substr(0, a) + s.substr(b);
    };
    Record("replayed evidence (same body twice)",
           "gateway 202 (stateless) then worker REJECTED quote.replay, state unchanged",
           fmt::format("202; {}; state {} -> {}", ResultName(*rv), before, after),
           rv->result() == v1::VERDICT_RESULT_REJECTED && HasFailureId(*rv, "quote.replay") &&
               strip_sequence(before) == strip_sequence(after));
  } else {
    Record("replayed evidence (same body twice)", "refused (4xx) by the gateway",
           fmt::format("{}", r.status), r.status >= 400 && r.status < 500);
  }

  // A valid token, but issued to another agent.
  r = Submit(honest.uuid(), honest.Make(t_other, 0, 20));
  Record("token issued for another agent", "403, nothing published", fmt::format("{}", r.status),
         r.status == 403);
  // The other agent's own evidence carrying the honest agent's identity in
  // the body: the path and the body disagree.
  auto spoof = other.Make(t_other, 0, 20);
  spoof.set_agent_uuid(honest.uuid());
  r = Submit(other.uuid(), spoof);
  Record("body names another agent than the path", "400", fmt::format("{}", r.status),
         r.status == 400);

  // A quote with the right nonce and PCRs, signed by a key that is not the
  // registered AK.
  const attest::testing::SoftAk mallory = attest::testing::MakeEccAk();
  const std::string forged_before = AgentState(forged.uuid());
  r = Submit(forged.uuid(), forged.Make(t_forged, 0, 20, TPM2_ALG_SHA256, &mallory));
  if (r.status == 202) {
    auto fv = VerdictFor(forged.uuid(), IdOf(r));
    ASSERT_TRUE(fv.has_value());
    const std::string after = AgentState(forged.uuid());
    // Not authentic: it must not fail (or revoke) the honest agent. State,
    // IMA offset and quote clock stay (all fields but the sequence).
    auto tail = [](const std::string& s) { return s.substr(s.find('/', s.find('/') + 1)); };
    auto head = [](const std::string& s) { return s.substr(0, s.find('/')); };
    Record("forged quote (signed by a wrong AK)",
           "gateway 202 (shape ok) then worker REJECTED quote.invalid_signature, state unchanged",
           fmt::format("202; {}; state {} -> {}", ResultName(*fv), forged_before, after),
           fv->result() == v1::VERDICT_RESULT_REJECTED &&
               HasFailureId(*fv, "quote.invalid_signature") && head(forged_before) == head(after) &&
               tail(forged_before) == tail(after));
  } else {
    Record("forged quote (signed by a wrong AK)", "refused or worker FAIL",
           fmt::format("{}", r.status), r.status >= 400 && r.status < 500);
  }

  // The agent's real AK, but a sha1 PCR bank and a sha1 signature (the
  // policy allows sha256/384/512 only).
  const std::string down_before = AgentState(downgraded.uuid());
  r = Submit(downgraded.uuid(), downgraded.Make(t_down, 0, 20, TPM2_ALG_SHA1));
  if (r.status == 202) {
    auto dv = VerdictFor(downgraded.uuid(), IdOf(r));
    ASSERT_TRUE(dv.has_value());
    auto tail = [](const std::string& s) { return s.substr(s.find('/', s.find('/') + 1)); };
    const std::string after = AgentState(downgraded.uuid());
    Record("downgraded hash (sha1 quote, sha256 required)",
           "gateway 4xx, or 202 then worker FAIL quote.hash_alg_not_allowed",
           fmt::format("202; {}; state {} -> {}", ResultName(*dv), down_before, after),
           dv->result() == v1::VERDICT_RESULT_FAIL &&
               HasFailureId(*dv, "quote.hash_alg_not_allowed") && tail(down_before) == tail(after));
  } else {
    Record("downgraded hash (sha1 quote, sha256 required)",
           "gateway 4xx, or 202 then worker FAIL quote.hash_alg_not_allowed",
           fmt::format("{} {}", r.status, r.body.substr(0, 80)), r.status >= 400 && r.status < 500);
  }

  // Nothing above moved the honest agent beyond the replay's sequence.
  const std::string end_state = AgentState(honest.uuid());
  Record("honest agent after all probes", "state unchanged since its own last verdict", end_state,
         end_state == honest_after);

  CheckInvariants({honest.uuid(), other.uuid(), forged.uuid(), downgraded.uuid()});
}

}  // namespace
}  // namespace attest::probes
