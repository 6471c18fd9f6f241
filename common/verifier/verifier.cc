// VerifyEvidence: the quote (step 1), the reboot (2), then the steps in
// steps.h: measured boot (3, verifier_boot.cc) and IMA (4, verifier_ima.cc),
// and the PCR policy (5). Also the cached inputs (AK, runtime policy).
#include "common/verifier/verifier.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "common/checks/failure_ids.h"
#include "common/verifier/errors.h"
#include "common/verifier/steps.h"

namespace attest::verifier {
namespace {

// Whether quote failures still prove the agent's TPM signed this quote for
// this challenge: only a disallowed hash algorithm leaves the quote authentic
// (the signature is checked regardless), and a TPM rollback is only reported
// for an otherwise authentic quote (checks::VerifyQuote): the TPM signed it for
// a fresh nonce with counters that went back. Anything else (bad signature, other
// nonce, PCR values that are not the quoted ones, unparseable, a replay) says
// nothing about the agent, and the gateway gives tokens to whoever knows a
// UUID, so such evidence must not change state or revoke: it is rejected. An
// agent that only ever sends such evidence goes OFFLINE at its deadline.
bool QuoteAuthentic(const Failures& f) {
  return std::all_of(f.begin(), f.end(), [](const Failure& x) {
    return x.event_id == checks::failure_id::kQuoteHashAlgNotAllowed ||
           x.event_id == checks::failure_id::kQuoteTpmRollback;
  });
}

// Step 1: the quote, authentic, fresh, newer than the accepted one.
// quote.clock_unsafe moves to the notices.
checks::QuoteResult CheckQuote(const Evidence& ev, tpm::ByteView nonce, const Agent& agent,
                               const AgentState& stored, Verdict& v) {
  checks::QuoteInputs qi;
  qi.quote.assign(ev.quote.begin(), ev.quote.end());
  qi.signature.assign(ev.signature.begin(), ev.signature.end());
  qi.nonce.assign(nonce.begin(), nonce.end());
  qi.pcrs = ev.pcrs;
  qi.allowed_hash_algs = agent.policies.allowed_hash_algs;
  qi.previous = stored.clock;
  qi.nonce_after_previous = ev.nonce_after_stored_quote;
  if (agent.ak) {
    qi.ak_verifier = &agent.ak->verifier();
  } else {
    auto pub = tpm::ParsePublic(agent.ak_public);
    if (pub) qi.ak_public = pub->publicArea;  // else: no key, quote.invalid_signature
  }
  checks::QuoteResult q = checks::VerifyQuote(qi);
  // clockInfo.safe = NO follows every power loss until the TPM persists its
  // clock again. Replays are still caught: a clock that went back comes with
  // a higher resetCount, which quote.replay compares first. So it is a notice,
  // or every agent would fail after each power cut.
  for (auto it = q.failures.begin(); it != q.failures.end();) {
    if (it->event_id == checks::failure_id::kQuoteClockUnsafe) {
      it->severity = Severity::kWarning;
      v.notices.push_back(std::move(*it));
      it = q.failures.erase(it);
    } else {
      ++it;
    }
  }
  return q;
}

// Step 2: the state the rest starts from. A reboot (TPM counters advanced,
// or the agent's boot time changed by more than the tolerance: the gateway's
// rule, IsNewBoot) resets IMA and drops the boot baseline.
AgentState Advance(const Evidence& ev, const Agent& agent, const AgentState& stored,
                   const checks::QuoteResult& q, Verdict& v, int64_t now) {
  AgentState s = stored;
  v.reboot =
      q.reboot || (stored.boot_time && ev.boot_time &&
                   IsNewBoot(std::chrono::seconds(*stored.boot_time),
                             std::chrono::seconds(*ev.boot_time), agent.boot_time_tolerance));
  if (v.reboot) {
    detail::ResetIma(s);
    s.boot_log_accepted = false;
    s.boot_pcr_digest.clear();
  }
  s.clock = q.clock;
  if (ev.boot_time) s.boot_time = ev.boot_time;
  s.last_verified_at = now;
  return s;
}

}  // namespace

std::optional<ima::HashAlg> ImaHashAlg(TPMI_ALG_HASH alg) {
  switch (alg) {
    case TPM2_ALG_SHA1:
      return ima::HashAlg::kSha1;
    case TPM2_ALG_SHA256:
      return ima::HashAlg::kSha256;
    case TPM2_ALG_SHA384:
      return ima::HashAlg::kSha384;
    case TPM2_ALG_SHA512:
      return ima::HashAlg::kSha512;
    default:
      return std::nullopt;
  }
}

std::string_view OutcomeName(Outcome o) {
  switch (o) {
    case Outcome::kPass:
      return "pass";
    case Outcome::kFail:
      return "fail";
    case Outcome::kRejected:
      return "rejected";
    case Outcome::kLogRequested:
      return "log_requested";
  }
  return "unknown";
}

Result<std::shared_ptr<const AttestationKey>> AttestationKey::FromTpm2bPublic(tpm::ByteView bytes) {
  auto pub = tpm::ParsePublic(bytes);
  if (!pub) return MakeError(errc::invalid_key, "AK TPM2B_PUBLIC: " + pub.error().message);
  return FromPublic(pub->publicArea);
}

Result<std::shared_ptr<const AttestationKey>> AttestationKey::FromPublic(const TPMT_PUBLIC& pub) {
  if (auto ok = tpm::CheckAttestationKeyAttributes(pub); !ok) {
    return MakeError(errc::invalid_key, "AK: " + ok.error().message);
  }
  auto key = tpm::PublicToEvpPkey(pub);
  if (!key) return MakeError(errc::invalid_key, "AK: " + key.error().message);
  return std::shared_ptr<const AttestationKey>(new AttestationKey(std::move(*key), pub));
}

Result<std::shared_ptr<const CompiledRuntimePolicy>> CompiledRuntimePolicy::Compile(
    std::string_view json_text) {
  auto p = ima::RuntimePolicy::Parse(json_text);
  if (!p) return MakeError(errc::invalid_policy, "runtime policy: " + p.error().message);
  auto c = std::make_shared<CompiledRuntimePolicy>();
  c->policy = std::move(*p);
  if (auto ok = c->keys.AddVerificationKeys(c->policy.verification_keys()); !ok) {
    return MakeError(errc::invalid_policy, "runtime policy: " + ok.error().message);
  }
  return std::shared_ptr<const CompiledRuntimePolicy>(std::move(c));
}

Verdict VerifyEvidence(const Evidence& ev, tpm::ByteView nonce, const Agent& agent,
                       const AgentState& stored, int64_t now) {
  Verdict v;
  const AgentPolicies& pol = agent.policies;

  checks::QuoteResult q = CheckQuote(ev, nonce, agent, stored, v);
  if (!q.ok()) {
    // Also on quote.tpm_rollback: the stored counters stay, so every later
    // quote of the rolled-back TPM fails as well until a re-enrolment.
    v.new_state = stored;
    v.failures = std::move(q.failures);
    v.result = QuoteAuthentic(v.failures) ? Outcome::kFail : Outcome::kRejected;
    return v;
  }
  const tpm::PcrValues& quoted = ev.pcrs;  // authenticated by the quote from here on
  AgentState s = Advance(ev, agent, stored, q, v, now);

  // 3. Measured boot (PCRs 0-7, and 8 for a kernel command line policy).
  bool log_requested = detail::CheckBoot(ev, agent, quoted, s, v);

  // 4. IMA (PCR 10), when a runtime policy is set or entries were sent.
  if (pol.runtime || ev.ima) {
    if (detail::CheckIma(ev, pol.runtime.get(), quoted, s, v, now)) log_requested = true;
  }

  // 5. PCR policy.
  if (pol.pcr) {
    auto f = checks::CheckPcrPolicy(*pol.pcr, quoted);
    v.failures.insert(v.failures.end(), std::make_move_iterator(f.begin()),
                      std::make_move_iterator(f.end()));
  }

  v.new_state = std::move(s);
  if (!v.failures.empty()) {
    v.result = Outcome::kFail;
  } else if (log_requested) {
    v.result = Outcome::kLogRequested;
  } else {
    v.result = Outcome::kPass;
  }
  return v;
}

}  // namespace attest::verifier
