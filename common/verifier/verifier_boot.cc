// Step 3 of VerifyEvidence: measured boot (PCRs 0-7, and 8 for a kernel
// command line policy). docs/verification.md ("Order of checks", 3).
#include <algorithm>
#include <cstdlib>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "common/eventlog/event_log.h"
#include "common/eventlog/failure_ids.h"
#include "common/eventlog/replay.h"
#include "common/verifier/failure_ids.h"
#include "common/verifier/steps.h"

namespace attest::verifier::detail {
namespace {

// The quoted values of `pcrs` (only banks that quote any of them).
tpm::PcrValues QuotedSubset(const tpm::PcrValues& quoted, const std::vector<uint32_t>& pcrs) {
  tpm::PcrValues out;
  for (const auto& [bank, values] : quoted) {
    for (const auto& [pcr, v] : values) {
      if (std::find(pcrs.begin(), pcrs.end(), pcr) != pcrs.end()) out[bank][pcr] = v;
    }
  }
  return out;
}

// The quoted PCRs 0-7.
tpm::PcrValues BootPcrs(const tpm::PcrValues& quoted) {
  return QuotedSubset(quoted, eventlog::kBootPcrs);
}

// SHA-256 over the banks that quote all of PCRs 0-7, banks and indices
// ascending (std::map order); empty when no bank does.
tpm::Bytes BootPcrDigest(const tpm::PcrValues& boot) {
  tpm::Bytes concat;
  for (const auto& [bank, values] : boot) {
    if (values.size() != 8) continue;
    concat.push_back(static_cast<uint8_t>(bank >> 8));
    concat.push_back(static_cast<uint8_t>(bank));
    for (const auto& [pcr, v] : values) {
      concat.push_back(static_cast<uint8_t>(pcr));
      concat.insert(concat.end(), v.begin(), v.end());
    }
  }
  if (concat.empty()) return {};
  auto d = tpm::Hash(TPM2_ALG_SHA256, concat);
  return d ? std::move(*d) : tpm::Bytes{};
}

bool AllBootPcrsQuoted(const tpm::PcrValues& boot) {
  for (const auto& [bank, values] : boot) {
    if (values.size() == 8) return true;
  }
  return false;
}

Failure FromEventlog(const eventlog::Failure& f, const eventlog::EventLog* log) {
  checks::Context ctx;
  ctx.emplace_back("message", f.message);
  for (const auto& [k, v] : f.context) {
    if (k == "event" || k == "pcr") {
      ctx.emplace_back(k, static_cast<uint64_t>(std::strtoull(v.c_str(), nullptr, 10)));
    } else {
      ctx.emplace_back(k, v);
    }
  }
  // A PCR mismatch cannot say which event was altered: list the events that
  // extended that PCR, the candidates an operator looks at.
  if (log != nullptr && f.id.rfind(eventlog::failure_id::kInvalidPcrPrefix, 0) == 0) {
    auto it = f.context.find("pcr");
    if (it != f.context.end()) {
      const uint32_t pcr = static_cast<uint32_t>(std::strtoul(it->second.c_str(), nullptr, 10));
      std::vector<uint64_t> events;
      for (const auto& e : log->events) {
        if (e.index != 0 && e.pcr == pcr && e.type != eventlog::ev::kNoAction) {
          events.push_back(e.index);
        }
      }
      ctx.emplace_back("events", std::move(events));
    }
  }
  return Failure{f.id, Severity::kCritical, std::move(ctx)};
}

// Verifies the UEFI log against the quoted PCRs (`boot_pcrs`: their PCRs
// 0-7) and the reference state. Returns true when the log is accepted as the
// boot baseline.
bool CheckMeasuredBoot(tpm::ByteView bytes, const tpm::PcrValues& quoted,
                       const tpm::PcrValues& boot_pcrs, const eventlog::ReferenceState* ref,
                       Failures& failures, VerifyStats& stats) {
  stats.measured_boot_evaluated = true;
  auto add = [&failures](const char* id, std::string message) {
    failures.push_back(Failure{id, Severity::kCritical, {{"message", std::move(message)}}});
  };
  auto log = eventlog::ParseEventLog(bytes);
  if (!log) {
    add(failure_id::kBootLogMalformed, "UEFI event log: " + log.error().message);
    return false;
  }
  stats.uefi_events = log->events.size();
  const size_t before = failures.size();
  if (ref != nullptr && !AllBootPcrsQuoted(boot_pcrs)) {
    add(failure_id::kBootPcrsNotQuoted,
        "the quote does not cover PCRs 0-7 of any bank: the event log cannot be verified");
  }
  // PCRs 0-7, and PCR 8 when the reference state judges GRUB's command line.
  std::vector<uint32_t> compared = eventlog::kBootPcrs;
  if (ref != nullptr && ref->kernel_cmdlines) compared.push_back(eventlog::kGrubCommandPcr);
  // Only (bank, PCR) pairs whose replay matches the quote are read by the
  // reference-state checks: none when the log does not replay.
  eventlog::VerifiedPcrs verified;
  auto replayed = eventlog::Replay(*log);
  if (!replayed) {
    add(failure_id::kBootLogMalformed, "UEFI event log replay: " + replayed.error().message);
  } else {
    const tpm::PcrValues judged = QuotedSubset(quoted, compared);
    for (const auto& f : eventlog::ComparePcrs(*replayed, judged, compared)) {
      failures.push_back(FromEventlog(f, &*log));
    }
    verified = eventlog::VerifiedPcrs::FromReplay(*replayed, judged, compared);
  }
  // CheckReferenceState includes the event-digest binding check.
  const auto content = ref != nullptr ? eventlog::CheckReferenceState(*log, *ref, verified)
                                      : eventlog::VerifyEventDigests(*log);
  for (const auto& f : content) failures.push_back(FromEventlog(f, nullptr));
  return failures.size() == before;
}

// No log, a baseline accepted for this boot: PCRs 0-7 must still be what the
// log was verified against (compared when the log was verified against a
// full bank of them).
void CheckBaseline(const Agent& agent, const tpm::PcrValues& boot, const AgentState& s,
                   Verdict& v) {
  if (s.boot_pcr_digest.empty()) {
    // nothing recorded to compare with
  } else if (!AllBootPcrsQuoted(boot) && agent.policies.measured_boot) {
    v.failures.push_back(Failure{failure_id::kBootPcrsNotQuoted,
                                 Severity::kCritical,
                                 {{"message", "the quote does not cover PCRs 0-7 of any bank"}}});
  } else if (AllBootPcrsQuoted(boot) && BootPcrDigest(boot) != s.boot_pcr_digest) {
    v.failures.push_back(Failure{
        failure_id::kBootPcrsChanged,
        Severity::kCritical,
        {{"message", "PCRs 0-7 changed since the event log was verified, without a reboot"}}});
  }
}

// No log and no baseline with a reference state set: ask for the log, and
// count the round when the challenge asked for it and it was not sent. Never
// reset by a reboot (an agent could reboot to start over), only by a log or a
// re-enrolment.
void RequestLog(const Evidence& ev, const Agent& agent, AgentState& s, Verdict& v) {
  v.uefi_log_requested = true;
  if (!ev.uefi_log_asked.value_or(false)) return;
  v.uefi_log_withheld = true;
  if (s.uefi_log_withheld < static_cast<uint32_t>(std::numeric_limits<int32_t>::max())) {
    ++s.uefi_log_withheld;
  }
  if (s.uefi_log_withheld >= std::max<uint32_t>(agent.uefi_log_max_rounds, 1)) {
    v.failures.push_back(
        Failure{failure_id::kUefiLogWithheld,
                Severity::kCritical,
                {{"message", "the UEFI event log was asked for and not sent in " +
                                 std::to_string(s.uefi_log_withheld) + " evidence in a row"},
                 {"rounds", static_cast<uint64_t>(s.uefi_log_withheld)},
                 {"max_rounds", static_cast<uint64_t>(agent.uefi_log_max_rounds)}}});
  }
}

}  // namespace

bool CheckBoot(const Evidence& ev, const Agent& agent, const tpm::PcrValues& quoted, AgentState& s,
               Verdict& v) {
  const AgentPolicies& pol = agent.policies;
  const tpm::PcrValues boot = BootPcrs(quoted);
  if (s.boot_log_accepted && pol.measured_boot && s.boot_log_policy_id != pol.measured_boot_id) {
    // A reference state changed since the log was accepted: the same boot
    // is judged again, against the new one.
    s.boot_log_accepted = false;
    s.boot_pcr_digest.clear();
  }
  if (ev.uefi_log) {
    s.uefi_log_withheld = 0;
    if (CheckMeasuredBoot(*ev.uefi_log, quoted, boot, pol.measured_boot.get(), v.failures,
                          v.stats)) {
      s.boot_log_accepted = true;
      s.boot_pcr_digest = BootPcrDigest(boot);
      s.boot_log_policy_id = pol.measured_boot ? pol.measured_boot_id : 0;
    }
  } else if (s.boot_log_accepted) {
    CheckBaseline(agent, boot, s, v);
  } else if (pol.measured_boot) {
    RequestLog(ev, agent, s, v);
    return true;
  }
  return false;
}

}  // namespace attest::verifier::detail
