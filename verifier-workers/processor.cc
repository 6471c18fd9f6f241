#include "verifier-workers/processor.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <limits>
#include <nlohmann/json.hpp>

#include "common/checks/pcr_policy.h"
#include "common/checks/selection.h"
#include "common/eventlog/policy.h"
#include "common/protoconv/hash_alg.h"
#include "common/tpm/marshal.h"

namespace attest::worker {
namespace {

using nlohmann::json;
namespace pbu = google::protobuf::util;

constexpr size_t kMaxPcrBanks = 8;

tpm::ByteView View(const std::string& s) {
  return tpm::ByteView(reinterpret_cast<const uint8_t*>(s.data()), s.size());
}

std::optional<TPMI_ALG_HASH> TpmAlg(v1::HashAlgorithm a) {
  TPMI_ALG_HASH alg = protoconv::TpmHashAlg(a);
  if (alg == TPM2_ALG_NULL) return std::nullopt;
  return alg;
}

v1::Severity SeverityOf(checks::Severity s) {
  switch (s) {
    case checks::Severity::kInfo:
    case checks::Severity::kNotice:
      return v1::SEVERITY_INFO;
    case checks::Severity::kWarning:
      return v1::SEVERITY_WARNING;
    default:
      return v1::SEVERITY_CRITICAL;
  }
}

void SetTime(google::protobuf::Timestamp* ts, Clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  *ts = google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(us);
}

struct Finding {
  std::string event_id;
  v1::Severity severity;
  std::string context;  // JSON object text
};

std::string FailuresJson(const std::vector<Finding>& fs) {
  if (fs.empty()) return "[]";  // a pass: no JSON document to build
  json arr = json::array();
  for (const auto& f : fs) {
    json ctx = json::parse(f.context, nullptr, false);
    if (ctx.is_discarded()) ctx = json{{"message", f.context}};
    arr.push_back({{"type", v1::Severity_Name(f.severity)},
                   {"event_id", f.event_id},
                   {"context", std::move(ctx)}});
  }
  return arr.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string ResultText(v1::VerdictResult r) {
  switch (r) {
    case v1::VERDICT_RESULT_PASS:
      return "pass";
    case v1::VERDICT_RESULT_FAIL:
      return "fail";
    case v1::VERDICT_RESULT_OFFLINE:
      return "offline";
    case v1::VERDICT_RESULT_RESUMED:
      return "resumed";
    case v1::VERDICT_RESULT_REJECTED:
      return "rejected";
    case v1::VERDICT_RESULT_LOG_REQUESTED:
      return "log_requested";
    default:
      return "rejected";
  }
}

// A verdict and its revocation must each stay one Kafka message (the
// worker's producer keeps librdkafka's 1 MB default) whatever an agent sends:
// an authentic list of 28,000 unknown files would give 56,000 findings. The
// first ones are kept (they name the first violations) and one more says how
// many were left out.
constexpr size_t kMaxFindings = 64;
constexpr size_t kMaxFindingsBytes = 256 * 1024;

void CapFindings(std::vector<Finding>& fs) {
  size_t bytes = 0, keep = 0;
  while (keep < fs.size() && keep < kMaxFindings &&
         bytes + fs[keep].context.size() + fs[keep].event_id.size() <= kMaxFindingsBytes) {
    bytes += fs[keep].context.size() + fs[keep].event_id.size();
    ++keep;
  }
  if (keep == fs.size()) return;
  const size_t omitted = fs.size() - keep;
  fs.resize(keep);
  fs.push_back(Finding{"verdict.findings_truncated", v1::SEVERITY_WARNING,
                       checks::ContextJson({{"message", "more findings than a verdict carries"},
                                            {"omitted", omitted}})});
}

// Builds verdict + history + outbox for a decided result and advances the
// row's sequence.
Outcome Finish(const Context& ctx, AgentRow& row, v1::VerdictResult result,
               const std::string& prev_state, std::vector<Finding> findings, bool reboot,
               const std::string& evidence_id, std::optional<EvidenceRef> ref,
               const AgentPolicyRefs& pol, Clock::time_point received, Clock::time_point now,
               int64_t verify_micros, std::optional<int64_t> ima_entries) {
  CapFindings(findings);
  Outcome out;
  out.result = result;
  out.verify_micros = verify_micros;
  row.sequence += 1;
  row.dirty = true;

  v1::Verdict v;
  v.set_agent_uuid(row.agent_id);
  v.set_sequence(static_cast<uint64_t>(row.sequence));
  v.set_result(result);
  for (const auto& f : findings) {
    auto* pf = v.add_failures();
    pf->set_event_id(f.event_id);
    pf->set_severity(f.severity);
    pf->set_context(f.context);
  }
  auto* t = v.mutable_timings();
  SetTime(t->mutable_evidence_received(), received);
  SetTime(t->mutable_verified(), now);
  t->set_verification_micros(static_cast<uint64_t>(std::max<int64_t>(verify_micros, 0)));
  auto* pv = v.mutable_policy_versions();
  if (pol.pcr) pv->set_pcr(static_cast<uint64_t>(pol.pcr->version));
  if (pol.runtime) pv->set_runtime(static_cast<uint64_t>(pol.runtime->version));
  if (pol.mb) pv->set_measured_boot(static_cast<uint64_t>(pol.mb->version));
  v.set_evidence_id(evidence_id);
  v.set_previous_state(StateEnum(prev_state));
  v.set_state(StateEnum(row.state));
  v.set_reboot(reboot);
  v.set_worker_id(ctx.worker_id);
  SetTime(v.mutable_time(), now);
  v.set_backend_id(ctx.backend_id);
  if (ctx.sign_verdicts && ctx.signer != nullptr) v.set_signer_key_id(ctx.signer->key_id());
  out.outbox.push_back(EncodeVerdict(ctx, v, row.partition));

  // A transition to FAILED is revoked (once: a failed agent stays failed).
  if (result == v1::VERDICT_RESULT_FAIL && prev_state != "FAILED" && row.state == "FAILED" &&
      ctx.signer != nullptr) {
    v1::RevocationEvent ev;
    ev.set_agent_uuid(row.agent_id);
    ev.set_sequence(static_cast<uint64_t>(row.sequence));
    ev.set_reason(findings.empty() ? "attestation failed" : findings.front().event_id);
    std::vector<std::string_view> ids;  // each id once: the event stays small
    for (const auto& f : findings) {
      if (std::find(ids.begin(), ids.end(), f.event_id) == ids.end()) ids.push_back(f.event_id);
    }
    for (auto id : ids) ev.add_event_ids(std::string(id));
    SetTime(ev.mutable_time(), now);
    ev.set_worker_id(ctx.worker_id);
    ev.set_backend_id(ctx.backend_id);
    auto signed_ev = ctx.signer->Sign(ev);
    if (signed_ev) {
      OutboxRecord rec;
      rec.topic = ctx.revocation_topic;
      rec.key = row.agent_id;
      rec.partition = row.partition;
      if (ctx.encoding == Encoding::kJson) {
        rec.content_type = "application/json";
        (void)pbu::MessageToJsonString(*signed_ev, &rec.payload);
      } else {
        rec.content_type = "application/x-protobuf";
        signed_ev->SerializeToString(&rec.payload);
      }
      out.outbox.push_back(std::move(rec));
    }
  }

  HistoryRecord& h = out.history;
  h.agent_id = row.agent_id;
  h.sequence = row.sequence;
  h.result = ResultText(result);
  h.state = row.state;
  h.failures_json = FailuresJson(findings);
  h.pcr_policy_id = row.pcr_policy_id;
  h.runtime_policy_id = row.runtime_policy_id;
  h.mb_policy_id = row.mb_policy_id;
  if (row.vstate.clock) {
    h.quote_clock = static_cast<int64_t>(row.vstate.clock->clock);
    h.quote_reset_count = row.vstate.clock->reset_count;
    h.quote_restart_count = row.vstate.clock->restart_count;
  }
  h.ima_entries = ima_entries;
  if (ref) {
    h.kafka_partition = ref->partition;
    h.kafka_offset = ref->offset;
  }
  if (verify_micros > 0) h.verify_micros = verify_micros;
  return out;
}

Finding MakeFinding(std::string id, std::string_view message) {
  return Finding{std::move(id), v1::SEVERITY_CRITICAL, checks::ContextJson({{"message", message}})};
}

Finding ToFinding(const checks::Failure& f) {
  return Finding{f.event_id, SeverityOf(f.severity), checks::ContextJson(f.context)};
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

bool IsUuid(std::string_view s) {
  if (s.size() != 36) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-') return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

bool SameUuid(std::string_view a, std::string_view lower) {
  if (a.size() != lower.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) != lower[i]) return false;
  }
  return true;
}

std::string LowerUuid(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

v1::AgentState StateEnum(const std::string& s) {
  if (s == "ENROLLED") return v1::AGENT_STATE_ENROLLED;
  if (s == "PASS") return v1::AGENT_STATE_PASS;
  if (s == "FAILED") return v1::AGENT_STATE_FAILED;
  if (s == "OFFLINE") return v1::AGENT_STATE_OFFLINE;
  return v1::AGENT_STATE_UNSPECIFIED;
}

std::shared_ptr<const CachedPolicy> CompilePolicy(int64_t id, int64_t version,
                                                  const std::string& kind,
                                                  const std::string& body) {
  auto p = std::make_shared<CachedPolicy>();
  p->id = id;
  p->version = version;
  p->kind = kind;
  if (kind == "pcr") {
    auto parsed = checks::ParsePcrPolicy(body);
    if (!parsed) {
      p->error = parsed.error().message;
    } else {
      p->pcr = std::make_shared<const checks::PcrPolicy>(std::move(*parsed));
    }
  } else if (kind == "runtime") {
    auto c = verifier::CompiledRuntimePolicy::Compile(body);
    if (!c) {
      p->error = c.error().message;
    } else {
      p->runtime = std::move(*c);
    }
  } else if (kind == "mb") {
    auto r = eventlog::ParseReferenceState(body);
    if (!r) {
      p->error = r.error().message;
    } else {
      p->mb = std::make_shared<const eventlog::ReferenceState>(std::move(*r));
    }
  } else {
    p->error = "unknown policy kind '" + kind + "'";
  }
  return p;
}

OutboxRecord EncodeVerdict(const Context& ctx, const v1::Verdict& verdict, int32_t partition) {
  OutboxRecord rec;
  rec.topic = ctx.verdict_topic;
  rec.key = verdict.agent_uuid();
  rec.partition = partition;
  if (ctx.encoding == Encoding::kJson) {
    rec.content_type = "application/json";
    (void)pbu::MessageToJsonString(verdict, &rec.payload);
  } else {
    rec.content_type = "application/x-protobuf";
    verdict.SerializeToString(&rec.payload);
  }
  // Signed over the exact value consumers decode; the relay moves the
  // signature into headers. Should signing fail (no memory), the verdict
  // goes out without headers: verifying consumers see it as unsigned.
  if (ctx.sign_verdicts && ctx.signer != nullptr) {
    auto sv = ctx.signer->SignVerdict(rec.payload, rec.content_type);
    if (sv) {
      rec.content_type = std::string(kSignedVerdictContentType);
      sv->SerializeToString(&rec.payload);
    }
  }
  return rec;
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

}  // namespace

Outcome ProcessEvidence(const Context& ctx, const v1::EvidenceEnvelope& env, const EvidenceRef& ref,
                        AgentRow& row, std::shared_ptr<const verifier::AttestationKey> ak,
                        const AgentPolicyRefs& pol, Clock::time_point now) {
  const auto started = std::chrono::steady_clock::now();
  const v1::Evidence& e = env.evidence();
  const std::string prev = row.state;
  const Clock::time_point received = ReceivedAt(env, now);
  auto elapsed = [&] {
    return std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() -
                                                                 started)
        .count();
  };
  auto reject = [&](std::vector<Finding> findings) {
    // State unchanged: only the sequence advances (the verdict needs one).
    return Finish(ctx, row, v1::VERDICT_RESULT_REJECTED, prev, std::move(findings), false,
                  env.evidence_id(), ref, pol, received, now, elapsed(), std::nullopt);
  };

  // 0. A second copy of the evidence verified last. The gateway's idempotent
  // producer (librdkafka 2.0.2) re-sends a batch under a new producer epoch
  // when some of its records timed out in flight, and the broker then
  // appends records it already had (docs/faults.md): verifying the copy
  // would give the agent a second verdict, a REJECTED quote.replay, for
  // evidence that passed. Skipped: no verdict, no history row, state and
  // sequence unchanged; the offset advances (worker.cc logs it and counts
  // worker_evidence_skipped_total{reason="copy"}).
  if (IsSecondCopy(env, row, received)) {
    Outcome copy;
    copy.copy = true;
    return copy;
  }

  // 1. The challenge token, checked at the time the gateway accepted the
  // evidence: a backlog in Kafka must not expire it. Freshness against
  // replays is the TPM clock's job (quote.replay).
  auto claims =
      token::Verify(*ctx.keys, e.challenge_token(), e.agent_uuid(), received, ctx.token_options);
  if (!claims) return reject({MakeFinding("token.invalid", claims.error().message)});

  // 2. Policies must compile (the registrar validates them; a bad one here
  // is an operator problem, not the agent's).
  for (const auto* p : {pol.pcr.get(), pol.runtime.get(), pol.mb.get()}) {
    if (p != nullptr && !p->error.empty()) {
      return reject({MakeFinding("policy.invalid",
                                 p->kind + " policy " + std::to_string(p->id) + ": " + p->error)});
    }
  }

  // 3. Evidence -> verifier input (views into the envelope).
  verifier::Evidence ev;
  ev.quote = View(e.quote().attest());
  ev.signature = View(e.quote().signature());
  if (e.quote().pcrs_size() > static_cast<int>(kMaxPcrBanks)) {
    return reject({MakeFinding("evidence.malformed", "too many PCR banks")});
  }
  for (const auto& bank : e.quote().pcrs()) {
    auto alg = TpmAlg(bank.hash_algorithm());
    if (!alg) return reject({MakeFinding("evidence.malformed", "unknown PCR bank hash algorithm")});
    for (const auto& [index, value] : bank.values()) {
      if (index > 23 || value.size() > 64) {
        return reject({MakeFinding("evidence.malformed", "PCR index or value out of range")});
      }
      ev.pcrs[*alg][index] = tpm::Bytes(value.begin(), value.end());
    }
  }
  if (e.has_ima()) {
    verifier::ImaEvidence ima;
    ima.entries = e.ima().data();
    ima.format =
        e.ima().format() == v1::IMA_LOG_FORMAT_BINARY ? ima::Format::kBinary : ima::Format::kAscii;
    ima.start_offset = e.ima().start_offset();
    if (e.ima().entry_count() != 0 || e.ima().data().empty())
      ima.entry_count = e.ima().entry_count();
    // Unset or unknown: the runtime policy's log_hash_alg.
    ima.template_hash_alg =
        verifier::ImaHashAlg(protoconv::TpmHashAlg(e.ima().template_hash_algorithm()));
    if (e.has_capabilities() && e.capabilities().ima_entry_count() != 0) {
      ima.list_entries = e.capabilities().ima_entry_count();
    }
    ev.ima = ima;
  }
  if (!e.uefi_log().empty()) ev.uefi_log = View(e.uefi_log());
  if (e.has_boot_time()) ev.boot_time = e.boot_time().seconds();
  // The stored quote reached a gateway by row.quote_received_at (or, for a
  // row of an earlier release, its last attestation); a challenge issued
  // later (beyond the replicas' clock skew) was answered by a quote made after
  // it, so lower TPM counters are a rollback, not a delayed old evidence.
  const Clock::time_point stored_quote_at = std::max(row.quote_received_at, row.attested_at);
  ev.nonce_after_stored_quote = row.vstate.clock.has_value() &&
                                stored_quote_at != Clock::time_point{} &&
                                claims->issued_at > stored_quote_at + ctx.token_options.max_skew;

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
  if (claims->binding) ev.uefi_log_asked = claims->binding->uefi_log_requested;

  // 3b. The PCR selection (issue 17): a challenge that asked for less than
  // the policies need is the gateway's fault, never the agent's: REJECTED
  // before anything can FAIL. The quote's own selection is judged once it is
  // authenticated (after VerifyEvidence).
  checks::PolicyInputs need_inputs;
  need_inputs.allowed_banks = agent.policies.allowed_hash_algs;
  if (agent.policies.measured_boot) {
    need_inputs.measured_boot_bank = agent.policies.measured_boot->digest_alg;
    // GRUB's command line is judged in PCR 8 (eventlog::kGrubCommandPcr).
    if (agent.policies.measured_boot->kernel_cmdlines) need_inputs.measured_boot_pcrs |= 1u << 8;
  }
  need_inputs.ima = agent.policies.runtime != nullptr || ev.ima.has_value();
  need_inputs.pcr_policy = agent.policies.pcr.get();
  const checks::SelectionNeeds needs = checks::NeedsOf(need_inputs);
  std::optional<checks::RequestedSelection> requested;
  if (claims->binding) {
    requested = checks::RequestedSelection{claims->binding->pcr_bank, claims->binding->pcr_mask};
    if (auto f = checks::CheckRequested(needs, *requested)) {
      spdlog::warn("worker: evidence {} of agent {} rejected: {} {}", env.evidence_id(),
                   row.agent_id, f->event_id, checks::ContextJson(f->context));
      return reject({ToFinding(*f)});
    }
  }

  const int64_t now_s =
      std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
  verifier::Verdict vr =
      verifier::VerifyEvidence(ev, View(e.challenge_token()), agent, row.vstate, now_s);
  const int64_t micros = elapsed();

  std::vector<Finding> findings;
  for (const auto& f : vr.failures) findings.push_back(ToFinding(f));
  auto with_notices = [&] {
    for (const auto& f : vr.notices) findings.push_back(ToFinding(f));
  };

  if (vr.result == verifier::Outcome::kRejected) {
    return Finish(ctx, row, v1::VERDICT_RESULT_REJECTED, prev, std::move(findings), false,
                  env.evidence_id(), ref, pol, received, now, micros, std::nullopt);
  }
  // The quote is authentic from here: whatever it failed for, a selection
  // other than the token asked (or, for a version-1 token, short of what the
  // policies need) is REJECTED, so a withheld PCR never gives PASS or FAIL.
  if (auto f = checks::CheckQuoted(needs, requested, ev.quote, ev.signature)) {
    spdlog::warn("worker: evidence {} of agent {} rejected: {} {}", env.evidence_id(), row.agent_id,
                 f->event_id, checks::ContextJson(f->context));
    return reject({ToFinding(*f)});
  }
  if (vr.new_state.clock &&
      vr.new_state.clock->clock > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return reject({MakeFinding("quote.clock_out_of_range", "TPM clock above 2^63-1")});
  }

  // The evidence was authentic enough to advance the stored state.
  const bool was_catching_up = row.vstate.ima_catch_up_since != 0;
  row.vstate = std::move(vr.new_state);
  // When the stored counters arrived, whether or not the evidence extends
  // liveness (a withheld log does not): what a later rollback is judged by.
  row.quote_received_at = std::max(row.quote_received_at, std::min(received, now));
  // Evidence without the UEFI log it was asked for does not keep the agent
  // alive: withholding it for ever must end in FAIL or OFFLINE, never PASS.
  if (!vr.uefi_log_withheld) {
    row.attested = true;
    row.attested_at = std::max(row.attested_at, std::min(received, now));
  }
  const bool had_uefi = ev.uefi_log.has_value();
  row.boot_log_requested = vr.uefi_log_requested || (vr.reboot && !had_uefi);
  if (vr.requested_ima_offset) row.vstate.ima_next_offset = *vr.requested_ima_offset;

  v1::VerdictResult result = v1::VERDICT_RESULT_PASS;
  switch (vr.result) {
    case verifier::Outcome::kFail:
      result = v1::VERDICT_RESULT_FAIL;
      // The boot this failure belongs to. A rolled-back TPM has no boot to
      // wait out: its counters are what cannot be trusted.
      // Never lowered: a rollback stays unrecoverable through any later
      // failure (counters pushed forward, then a garbage log) until an
      // operator re-enrols.
      row.failed_reset_count = std::max(
          row.failed_reset_count.value_or(0),
          std::any_of(findings.begin(), findings.end(),
                      [](const Finding& f) { return f.event_id == "quote.tpm_rollback"; }) ||
                  !row.vstate.clock
              ? AgentRow::kNoRecovery
              : static_cast<int64_t>(row.vstate.clock->reset_count));
      if (row.state != "FAILED") {
        row.state = "FAILED";
        row.state_reason = findings.empty() ? "failed" : findings.front().event_id;
      }
      break;
    case verifier::Outcome::kLogRequested:
      result = v1::VERDICT_RESULT_LOG_REQUESTED;
      // A failed agent keeps its failure id as the reason.
      if (vr.ima_catching_up && row.state != "FAILED") row.state_reason = verifier::kImaCatchingUp;
      break;
    default:
      if (row.state == "OFFLINE") {
        result = v1::VERDICT_RESULT_RESUMED;
        row.state = "PASS";
        row.state_reason = "resumed";
      } else if (row.state == "FAILED" && row.vstate.clock &&
                 static_cast<int64_t>(row.vstate.clock->reset_count) >
                     row.failed_reset_count.value_or(AgentRow::kNoRecovery)) {
        // Rebooted since it failed (a TPM reset, not a suspend: PCRs and the
        // IMA list were measured again) and all of it verified: the machine
        // runs what is allowed again. A suspend/resume or a reported boot
        // time alone never clears a failure.
        row.state = "PASS";
        row.state_reason = "recovered_after_reboot";
        row.failed_reset_count.reset();
      } else if (row.state != "FAILED") {
        // Also when a list that was catching up is anchored now (the
        // gateway paces agents by that reason).
        if (row.state != "PASS" || was_catching_up) {
          row.state_reason = "attesting";
        }
        row.state = "PASS";
      }
      break;
  }
  with_notices();
  return Finish(ctx, row, result, prev, std::move(findings), vr.reboot, env.evidence_id(), ref, pol,
                received, now, micros, static_cast<int64_t>(vr.stats.ima_entries_checked));
}

Outcome ProcessRecord(const Context& ctx, std::string_view value, const EvidenceRef& ref,
                      AgentRow& row, std::shared_ptr<const verifier::AttestationKey> ak,
                      const AgentPolicyRefs& pol, Clock::time_point now) noexcept {
  auto reject = [&](const char* id, std::string_view message) {
    return Finish(ctx, row, v1::VERDICT_RESULT_REJECTED, row.state, {MakeFinding(id, message)},
                  false, "", ref, pol, now, now, 0, std::nullopt);
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
        return reject("evidence.malformed", "the record is not an evidence envelope");
      }
      if (!SameUuid(env.evidence().agent_uuid(), row.agent_id)) {
        return reject("evidence.malformed", "the envelope names another agent than its record key");
      }
      return ProcessEvidence(ctx, env, ref, row, std::move(ak), pol, now);
    } catch (const std::exception& e) {
      error = e.what();
    } catch (...) {
      error = "unknown exception";
    }
    row = saved;
    Outcome out = reject("worker.processing_error", "the evidence could not be processed");
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
  const std::string prev = row.state;
  row.state = "OFFLINE";
  row.state_reason = "no attestation within interval x grace factor";
  std::vector<Finding> findings = {Finding{"liveness.offline", v1::SEVERITY_WARNING,
                                           checks::ContextJson({{"message", *row.state_reason}})}};
  return Finish(ctx, row, v1::VERDICT_RESULT_OFFLINE, prev, std::move(findings), false, "",
                std::nullopt, AgentPolicyRefs{}, now, now, 0, std::nullopt);
}

}  // namespace attest::worker
