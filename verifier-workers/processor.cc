#include "verifier-workers/processor.h"

#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <limits>
#include <variant>

#include "common/checks/failure_ids.h"
#include "common/checks/pcr_policy.h"
#include "common/checks/selection.h"
#include "common/eventlog/policy.h"
#include "common/evidence/convert.h"
#include "common/tpm/marshal.h"
#include "verifier-workers/findings.h"
#include "verifier-workers/verdict_builder.h"

namespace attest::worker {
namespace {

tpm::ByteView View(const std::string& s) {
  return tpm::ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

// The gateway's receive time; a timestamp out of range (a record that decodes
// but makes no sense) counts as `now`.
Clock::time_point ReceivedAt(const v1::EvidenceEnvelope& env, Clock::time_point now) {
  if (!env.has_received_at()) return now;
  const auto& t = env.received_at();
  // From the epoch to a day past now: the gateway stamps it, so anything else
  // is a record that makes no sense (and a year past 2262 would overflow the
  // clock's nanoseconds).
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  if (t.seconds() < 0 || t.seconds() > now_s + 86400 || t.nanos() < 0 || t.nanos() > 999999999) {
    return now;
  }
  return Clock::time_point(
      std::chrono::microseconds(google::protobuf::util::TimeUtil::TimestampToMicroseconds(t)));
}

}  // namespace

std::shared_ptr<const CachedPolicy> CompilePolicy(int64_t id, int64_t version, PolicyKind kind,
                                                  const std::string& body) {
  auto p = std::make_shared<CachedPolicy>();
  p->id = id;
  p->version = version;
  p->kind = kind;
  switch (kind) {
    case PolicyKind::kPcr:
      if (auto parsed = checks::ParsePcrPolicy(body); !parsed) {
        p->error = parsed.error().message;
      } else {
        p->pcr = std::make_shared<const checks::PcrPolicy>(std::move(*parsed));
      }
      break;
    case PolicyKind::kRuntime:
      if (auto c = verifier::CompiledRuntimePolicy::Compile(body); !c) {
        p->error = c.error().message;
      } else {
        p->runtime = std::move(*c);
      }
      break;
    case PolicyKind::kMeasuredBoot:
      if (auto r = eventlog::ParseReferenceState(body); !r) {
        p->error = r.error().message;
      } else {
        p->mb = std::make_shared<const eventlog::ReferenceState>(std::move(*r));
      }
      break;
  }
  return p;
}

namespace {

// Whether `env` is another copy of the evidence whose TPM counters `row`
// stores: received by the gateway at the same microsecond, quoting the same
// clock, resetCount and restartCount. Only a record Kafka holds twice is
// that: every request the gateway answers gets its own receipt time.
bool IsSecondCopy(const v1::EvidenceEnvelope& env, const AgentRow& row,
                  Clock::time_point received) {
  if (!env.has_received_at() || !row.vstate.clock || row.quote_received_at == Clock::time_point{} ||
      received != row.quote_received_at) {
    return false;
  }
  auto attest = tpm::ParseAttest(tpm::AsBytes(env.evidence().quote().attest()));
  if (!attest) return false;
  const auto& c = attest->clockInfo;
  return c.clock == row.vstate.clock->clock && c.resetCount == row.vstate.clock->reset_count &&
         c.restartCount == row.vstate.clock->restart_count;
}

// Evidence -> verifier input (common/evidence/convert.h: views into the
// envelope, the worker's limits): nullopt, or the finding that rejects
// evidence out of shape.
std::optional<Finding> ToVerifierInput(const v1::Evidence& e, verifier::Evidence& ev) {
  auto converted = evidence::ToVerifierEvidence(e, evidence::WorkerLimits());
  if (!converted) return MakeFinding(findings::kEvidenceMalformed, converted.error().message);
  ev = std::move(converted).value();
  return std::nullopt;
}

// The state table's input for `j` on the row as stored.
TransitionInput Stored(const AgentRow& row, Judgement j) {
  TransitionInput in;
  in.judgement = j;
  in.state = row.state;
  in.state_reason = row.state_reason;
  in.failed_reset_count = row.failed_reset_count;
  return in;
}

// One evidence on its way through ProcessEvidence's steps.
struct EvidenceRun {
  const Context& ctx;
  const v1::EvidenceEnvelope& env;
  const EvidenceRef& ref;
  AgentRow& row;
  const AgentPolicyRefs& pol;
  Clock::time_point now;
  Clock::time_point received;
  EnrolmentState prev;
  std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();

  int64_t Elapsed() const {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                 started)
        .count();
  }

  // The verdict of a judgement the state table applies to the row.
  Outcome Decide(const TransitionInput& in, std::vector<Finding> findings, bool reboot,
                 int64_t micros, std::optional<int64_t> ima_entries) {
    Transition t = NextState(in);
    row.state = t.state;
    row.state_reason = std::move(t.state_reason);
    row.failed_reset_count = t.failed_reset_count;
    VerdictInput v;
    v.result = t.result;
    v.previous_state = prev;
    v.findings = std::move(findings);
    v.reboot = reboot;
    v.evidence_id = env.evidence_id();
    v.ref = ref;
    v.policies = pol;
    v.received = received;
    v.now = now;
    v.verify_micros = micros;
    v.ima_entries = ima_entries;
    return Finish(ctx, row, std::move(v));
  }

  // REJECTED: state unchanged, only the sequence advances (the verdict needs one).
  Outcome Reject(std::vector<Finding> findings) {
    return Decide(Stored(row, Judgement::kRejected), std::move(findings), false, Elapsed(),
                  std::nullopt);
  }
};

// 1-2. The challenge token, checked at the time the gateway accepted the
// evidence: a backlog in Kafka must not expire it; freshness against replays
// is the TPM clock's job (quote.replay). Then the policies must compile (the
// registrar validates them; a bad one here is an operator problem, not the
// agent's). Returns the token's claims, or the finding that rejects.
std::variant<token::Claims, Finding> Admit(const EvidenceRun& run) {
  const v1::Evidence& e = run.env.evidence();
  auto claims = token::Verify(*run.ctx.keys, e.challenge_token(), e.agent_uuid(), run.received,
                              run.ctx.token_options);
  if (!claims) return MakeFinding(findings::kTokenInvalid, claims.error().message);
  for (const auto* p : {run.pol.pcr.get(), run.pol.runtime.get(), run.pol.mb.get()}) {
    if (p != nullptr && !p->error.empty()) {
      return MakeFinding(findings::kPolicyInvalid, std::string(ToText(p->kind)) + " policy " +
                                                       std::to_string(p->id) + ": " + p->error);
    }
  }
  return std::move(*claims);
}

verifier::Agent AgentOf(const Context& ctx, const AgentRow& row, const AgentPolicyRefs& pol,
                        std::shared_ptr<const verifier::AttestationKey> ak) {
  verifier::Agent agent;
  agent.ak = std::move(ak);
  agent.ak_public = View(row.ak_public);
  agent.boot_time_tolerance = ctx.boot_time_tolerance;
  if (pol.pcr) agent.policies.pcr = pol.pcr->pcr;
  if (pol.runtime) agent.policies.runtime = pol.runtime->runtime;
  if (pol.mb) {
    agent.policies.measured_boot = pol.mb->mb;
    agent.policies.measured_boot_id = pol.mb->id;
  }
  agent.uefi_log_max_rounds = ctx.uefi_log_max_rounds;
  return agent;
}

// The PCRs the policies need from this evidence (issue 17).
checks::SelectionNeeds NeedsOf(const verifier::Agent& agent, const verifier::Evidence& ev) {
  checks::PolicyInputs in;
  in.allowed_banks = agent.policies.allowed_hash_algs;
  if (agent.policies.measured_boot) {
    in.measured_boot_bank = agent.policies.measured_boot->digest_alg;
    // GRUB's command line is judged in PCR 8 (eventlog::kGrubCommandPcr).
    if (agent.policies.measured_boot->kernel_cmdlines) in.measured_boot_pcrs |= 1u << 8;
  }
  in.ima = agent.policies.runtime != nullptr || ev.ima.has_value();
  in.pcr_policy = agent.policies.pcr.get();
  return checks::NeedsOf(in);
}

Finding LoggedSelectionReject(const EvidenceRun& run, const checks::Failure& f) {
  spdlog::warn("worker: evidence {} of agent {} rejected: {} {}", run.env.evidence_id(),
               run.row.agent_id, f.event_id, checks::ContextJson(f.context));
  return ToFinding(f);
}

// The evidence was authentic enough to advance the stored state.
void AdvanceStoredState(EvidenceRun& run, verifier::Verdict& vr, const verifier::Evidence& ev) {
  AgentRow& row = run.row;
  row.vstate = std::move(vr.new_state);
  const Clock::time_point at = std::min(run.received, run.now);
  // When the stored counters arrived, whether or not the evidence extends
  // liveness (a withheld log does not): what a later rollback is judged by.
  row.quote_received_at = std::max(row.quote_received_at, at);
  // Evidence without the UEFI log it was asked for does not keep the agent
  // alive: withholding it for ever must end in FAIL or OFFLINE, never PASS.
  if (!vr.uefi_log_withheld) {
    row.attested = true;
    row.attested_at = std::max(row.attested_at, at);
  }
  row.boot_log_requested = vr.uefi_log_requested || (vr.reboot && !ev.uefi_log.has_value());
  if (vr.requested_ima_offset) row.vstate.ima_next_offset = *vr.requested_ima_offset;
}

// 4. The verifier's verdict -> the agent's new state (state_table.h) and the
// worker's verdict.
Outcome Judge(EvidenceRun& run, verifier::Verdict vr, const verifier::Evidence& ev,
              int64_t micros) {
  std::vector<Finding> findings;
  for (const auto& f : vr.failures) findings.push_back(ToFinding(f));
  const bool was_catching_up = run.row.vstate.ima_catch_up_since != 0;
  AdvanceStoredState(run, vr, ev);
  const AgentRow& row = run.row;
  TransitionInput in = Stored(row, Judgement::kPass);
  if (vr.result == verifier::Outcome::kFail) in.judgement = Judgement::kFail;
  if (vr.result == verifier::Outcome::kLogRequested) in.judgement = Judgement::kLogRequested;
  if (row.vstate.clock) in.reset_count = static_cast<int64_t>(row.vstate.clock->reset_count);
  if (!findings.empty()) in.first_failure = findings.front().event_id;
  in.rollback = std::any_of(findings.begin(), findings.end(), [](const Finding& f) {
    return f.event_id == checks::failure_id::kQuoteTpmRollback;
  });
  in.ima_catching_up = vr.ima_catching_up;
  in.was_catching_up = was_catching_up;
  // The notices go after the failures (the FAIL's reason is a failure).
  for (const auto& f : vr.notices) findings.push_back(ToFinding(f));
  return run.Decide(in, std::move(findings), vr.reboot, micros,
                    static_cast<int64_t>(vr.stats.ima_entries_checked));
}

// 3b-4. The PCR selection (issue 17), the verifier, and the verdict.
Outcome VerifyAndJudge(EvidenceRun& run, verifier::Evidence& ev, const token::Claims& claims,
                       std::shared_ptr<const verifier::AttestationKey> ak) {
  AgentRow& row = run.row;
  const v1::Evidence& e = run.env.evidence();
  // The stored quote reached a gateway by row.quote_received_at (or, for a
  // row of an earlier release, its last attestation); a challenge issued
  // later (beyond the replicas' clock skew) was answered by a quote made after
  // it, so lower TPM counters are a rollback, not a delayed old evidence.
  const Clock::time_point stored_quote_at = std::max(row.quote_received_at, row.attested_at);
  ev.nonce_after_stored_quote = row.vstate.clock.has_value() &&
                                stored_quote_at != Clock::time_point{} &&
                                claims.issued_at > stored_quote_at + run.ctx.token_options.max_skew;
  const verifier::Agent agent = AgentOf(run.ctx, row, run.pol, std::move(ak));
  if (claims.binding) ev.uefi_log_asked = claims.binding->uefi_log_requested;

  // A challenge that asked for less than the policies need is the gateway's
  // fault, never the agent's: REJECTED before anything can FAIL. The quote's
  // own selection is judged once it is authenticated (after VerifyEvidence).
  const checks::SelectionNeeds needs = NeedsOf(agent, ev);
  std::optional<checks::RequestedSelection> requested;
  if (claims.binding) {
    requested = checks::RequestedSelection{claims.binding->pcr_bank, claims.binding->pcr_mask};
    if (auto f = checks::CheckRequested(needs, *requested)) {
      return run.Reject({LoggedSelectionReject(run, *f)});
    }
  }
  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(run.now.time_since_epoch()).count();
  verifier::Verdict vr =
      verifier::VerifyEvidence(ev, View(e.challenge_token()), agent, row.vstate, now_s);
  const int64_t micros = run.Elapsed();
  if (vr.result == verifier::Outcome::kRejected) {
    std::vector<Finding> findings;
    for (const auto& f : vr.failures) findings.push_back(ToFinding(f));
    return run.Decide(Stored(row, Judgement::kRejected), std::move(findings), false, micros,
                      std::nullopt);
  }
  // The quote is authentic from here: whatever it failed for, a selection
  // other than the token asked (or, for a version-1 token, short of what the
  // policies need) is REJECTED, so a withheld PCR never gives PASS or FAIL.
  if (auto f = checks::CheckQuoted(needs, requested, ev.quote, ev.signature)) {
    return run.Reject({LoggedSelectionReject(run, *f)});
  }
  if (vr.new_state.clock &&
      vr.new_state.clock->clock > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return run.Reject({MakeFinding(findings::kQuoteClockOutOfRange, "TPM clock above 2^63-1")});
  }
  return Judge(run, std::move(vr), ev, micros);
}

}  // namespace

Outcome ProcessEvidence(const Context& ctx, const v1::EvidenceEnvelope& env, const EvidenceRef& ref,
                        AgentRow& row, std::shared_ptr<const verifier::AttestationKey> ak,
                        const AgentPolicyRefs& pol, Clock::time_point now) {
  EvidenceRun run{ctx, env, ref, row, pol, now, ReceivedAt(env, now), row.state};

  // 0. A second copy of the evidence verified last. The gateway's idempotent
  // producer (librdkafka 2.0.2) re-sends a batch under a new producer epoch
  // when some of its records timed out in flight, and the broker then
  // appends records it already had (docs/faults.md): verifying the copy
  // would give the agent a second verdict, a REJECTED quote.replay, for
  // evidence that passed. Skipped: no verdict, no history row, state and
  // sequence unchanged; the offset advances (worker_loop.cc logs it and
  // counts worker_evidence_skipped_total{reason="copy"}).
  if (IsSecondCopy(env, row, run.received)) {
    Outcome copy;
    copy.copy = !NextState(Stored(row, Judgement::kCopy)).verdict;
    return copy;
  }
  // 1-2. Token and policies.
  auto admitted = Admit(run);
  if (auto* f = std::get_if<Finding>(&admitted)) return run.Reject({std::move(*f)});
  // 3. Evidence -> verifier input.
  verifier::Evidence ev;
  if (auto f = ToVerifierInput(env.evidence(), ev)) return run.Reject({std::move(*f)});
  // 3b-4. Selection, verification, state.
  return VerifyAndJudge(run, ev, std::get<token::Claims>(admitted), std::move(ak));
}

Outcome ProcessRecord(const Context& ctx, std::string_view value, const EvidenceRef& ref,
                      AgentRow& row, std::shared_ptr<const verifier::AttestationKey> ak,
                      const AgentPolicyRefs& pol, Clock::time_point now) noexcept {
  auto reject = [&](std::string_view id, std::string_view message) {
    VerdictInput v;
    v.previous_state = row.state;
    v.findings = {MakeFinding(id, message)};
    v.ref = ref;
    v.policies = pol;
    v.received = v.now = now;
    return Finish(ctx, row, std::move(v));
  };
  std::string error;
  AgentRow saved;
  bool have_saved = false;
  try {
    saved = row;
    have_saved = true;
    try {
      v1::EvidenceEnvelope env;
      if (value.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
          !env.ParseFromArray(value.data(), static_cast<int>(value.size()))) {
        return reject(findings::kEvidenceMalformed, "the record is not an evidence envelope");
      }
      if (!SameUuid(env.evidence().agent_uuid(), row.agent_id)) {
        return reject(findings::kEvidenceMalformed,
                      "the envelope names another agent than its record key");
      }
      return ProcessEvidence(ctx, env, ref, row, std::move(ak), pol, now);
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "unknown exception";
    }
    row = saved;
    Outcome out = reject(findings::kProcessingError, "the evidence could not be processed");
    out.error = std::move(error);
    return out;
  } catch (...) {
    // Not even a REJECTED verdict could be built (memory): no outcome.
    if (have_saved) row = std::move(saved);
    Outcome out;
    // No allocation here: a move, or a literal short enough for the SSO.
    if (error.empty()) {
      out.error = "out of memory";
    } else {
      out.error = std::move(error);
    }
    return out;
  }
}

Outcome MakeOffline(const Context& ctx, AgentRow& row, Clock::time_point now) {
  VerdictInput v;
  v.result = v1::VERDICT_RESULT_OFFLINE;
  v.previous_state = row.state;
  row.state = EnrolmentState::kOffline;
  row.state_reason = std::string(findings::kReasonOffline);
  v.findings = {Finding{std::string(findings::kLivenessOffline),
                        v1::SEVERITY_WARNING,
                        {{"message", *row.state_reason}}}};
  v.received = v.now = now;
  return Finish(ctx, row, std::move(v));
}

}  // namespace attest::worker
