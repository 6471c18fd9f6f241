#include "common/verifier/verifier.h"

#include <algorithm>
#include <limits>
#include <span>
#include <utility>

#include "common/eventlog/event_log.h"
#include "common/eventlog/replay.h"
#include "common/ima/replay.h"
#include "common/verifier/errors.h"

namespace attest::verifier {
namespace {

constexpr uint32_t kImaPcr = 10;

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
    return x.event_id == "quote.hash_alg_not_allowed" || x.event_id == "quote.tpm_rollback";
  });
}

// ---- Measured boot ----

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
  if (log != nullptr && f.id.rfind("measured_boot.invalid_pcr_", 0) == 0) {
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
    add("measured_boot.log_malformed", "UEFI event log: " + log.error().message);
    return false;
  }
  stats.uefi_events = log->events.size();
  const size_t before = failures.size();
  if (ref != nullptr && !AllBootPcrsQuoted(boot_pcrs)) {
    add("measured_boot.pcrs_not_quoted",
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
    add("measured_boot.log_malformed", "UEFI event log replay: " + replayed.error().message);
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

// ---- IMA ----

const tpm::Bytes* QuotedPcr(const tpm::PcrValues& pcrs, TPMI_ALG_HASH bank, uint32_t index) {
  auto b = pcrs.find(bank);
  if (b == pcrs.end()) return nullptr;
  auto v = b->second.find(index);
  return v == b->second.end() ? nullptr : &v->second;
}

// The bank whose PCR 10 the IMA replay is compared with: the stored bank
// while it is quoted (continuity), else sha256, else the first quoted one.
std::optional<TPMI_ALG_HASH> ChooseImaBank(const tpm::PcrValues& pcrs, TPMI_ALG_HASH stored) {
  auto usable = [&pcrs](TPMI_ALG_HASH b) {
    return ImaHashAlg(b).has_value() && QuotedPcr(pcrs, b, kImaPcr) != nullptr;
  };
  if (usable(stored)) return stored;
  if (usable(TPM2_ALG_SHA256)) return TPM2_ALG_SHA256;
  for (const auto& [bank, values] : pcrs) {
    if (usable(bank)) return bank;
  }
  return std::nullopt;
}

void ResetIma(AgentState& s) {
  s.ima_next_offset = 0;
  s.ima_pcr.clear();
  s.ima_learned_keys = ima::Keyring();
  s.ima_catch_up_since = 0;
}

struct ImaCheck {
  bool log_requested = false;
};

ImaCheck CheckIma(const Evidence& ev, const CompiledRuntimePolicy* policy,
                  const tpm::PcrValues& quoted, AgentState& state, Verdict& v, int64_t now) {
  ImaCheck out;
  auto add = [&v](const char* id, Severity sev, checks::Context ctx) {
    v.failures.push_back(Failure{id, sev, std::move(ctx)});
  };
  auto bank = ChooseImaBank(quoted, state.ima_bank);
  if (!bank) {
    add("ima.pcr_not_quoted", Severity::kCritical,
        {{"message", "the quote does not cover PCR 10 in a supported bank"}});
    return out;
  }
  if (*bank != state.ima_bank) {
    // Another bank than the stored running value: continue only from a fresh list.
    if (state.ima_next_offset != 0) {
      ResetIma(state);
      state.ima_bank = *bank;
      out.log_requested = true;
      v.requested_ima_offset = 0;
      return out;
    }
    state.ima_bank = *bank;
    state.ima_pcr.clear();
  }
  const ima::HashAlg ibank = *ImaHashAlg(*bank);
  const tpm::Bytes& quoted10 = *QuotedPcr(quoted, *bank, kImaPcr);

  const uint64_t start = ev.ima ? ev.ima->start_offset : state.ima_next_offset;
  if (start > state.ima_next_offset) {
    // Entries between the stored offset and this list are missing: ask for
    // the whole list (the state may have been lost or rolled back).
    ResetIma(state);
    out.log_requested = true;
    v.requested_ima_offset = 0;
    return out;
  }

  ima::Log log;
  if (ev.ima && !ev.ima->entries.empty()) {
    const auto tmpl_alg = ev.ima->template_hash_alg ? *ev.ima->template_hash_alg
                          : policy                  ? policy->policy.log_hash_alg()
                                                    : ima::HashAlg::kSha1;
    auto parsed = ev.ima->format == ima::Format::kBinary
                      ? ima::ParseBinary(ev.ima->entries, tmpl_alg)
                      : ima::ParseAscii(ev.ima->entries);
    if (!parsed) {
      add("ima.log_malformed", Severity::kCritical,
          {{"message", "IMA measurement list: " + parsed.error().message},
           {"start_offset", start}});
      return out;
    }
    log = std::move(*parsed);
  }
  if (ev.ima && ev.ima->entry_count && *ev.ima->entry_count != log.entries.size()) {
    add("ima.entry_count_mismatch", Severity::kCritical,
        {{"message", "the IMA list holds another number of entries than the evidence says"},
         {"expected", *ev.ima->entry_count},
         {"got", log.entries.size()}});
    return out;
  }
  v.stats.ima_entries_received = log.entries.size();
  // Entries before the stored offset were verified by an earlier evidence.
  const uint64_t skip = std::min<uint64_t>(state.ima_next_offset - start, log.entries.size());
  v.stats.ima_entries_skipped = skip;
  std::span<const ima::Entry> fresh(log.entries.data() + skip, log.entries.size() - skip);

  ima::ReplayState rs;
  rs.next_entry = state.ima_next_offset;
  rs.pcr[static_cast<size_t>(ibank)] = state.ima_pcr.empty()
                                           ? ima::Digest::Filled(ima::DigestSize(ibank), 0)
                                           : ima::Digest::From(state.ima_pcr);
  rs.learned_keys = state.ima_learned_keys;
  if (rs.pcr[static_cast<size_t>(ibank)].size != ima::DigestSize(ibank)) {
    // Corrupt stored state: start over rather than compare garbage.
    ResetIma(state);
    out.log_requested = true;
    v.requested_ima_offset = 0;
    return out;
  }

  ima::ReplayOptions opt;
  opt.policy = policy ? &policy->policy : nullptr;
  opt.keys = policy ? &policy->keys : nullptr;
  opt.ima_pcr = kImaPcr;
  opt.expected_pcr = ima::Digest::From(quoted10);
  opt.expected_bank = ibank;
  auto outcome = ima::Replay(rs, fresh, opt);
  v.stats.ima_entries_checked = fresh.size();

  // Sent in parts (the agent's list holds more than this evidence carries)
  // and not anchored yet: the quoted PCR 10 covers entries still to come, so
  // no match is expected. Every entry was still checked against the policy.
  // An empty part is never a healthy agent's (it always sends at least one
  // entry when there are more): no catching up without entries.
  const uint64_t delivered = start + log.entries.size();
  const bool more_follow =
      ev.ima && ev.ima->list_entries && !log.entries.empty() && delivered < *ev.ima->list_entries;
  if (more_follow && !outcome.pcr_matched_at) {
    std::erase_if(outcome.failures,
                  [](const ima::Failure& f) { return f.id == ima::failure_id::kPcrMismatch; });
    const int64_t since = state.ima_catch_up_since != 0 ? state.ima_catch_up_since : now;
    if (now - since > kImaCatchUpMaxSeconds) {
      // Parts for longer than any healthy list takes: an agent that keeps
      // claiming more entries without ever reaching its quote.
      add(kImaNotAnchored, Severity::kCritical,
          {{"message", "the IMA list sent in parts was not anchored by a quote in time"},
           {"catching_up_since", since},
           {"max_seconds", kImaCatchUpMaxSeconds},
           {"verified_entries", state.ima_next_offset},
           {"list_entries", *ev.ima->list_entries}});
      return out;  // state kept: the unanchored entries prove nothing
    }
    if (outcome.failures.empty()) {
      state.ima_catch_up_since = since;
      // Catching up: keep the running value so the next part continues the
      // chain; it proves nothing until a quoted PCR 10 equals it, and the
      // verdict stays LOG_REQUESTED until then (never PASS, never FAIL).
      state.ima_next_offset = rs.next_entry;
      state.ima_pcr.assign(rs.pcr[static_cast<size_t>(ibank)].view().begin(),
                           rs.pcr[static_cast<size_t>(ibank)].view().end());
      state.ima_learned_keys = std::move(rs.learned_keys);
      out.log_requested = true;
      v.requested_ima_offset = rs.next_entry;
      v.ima_catching_up = true;
      v.notices.push_back(
          Failure{kImaCatchingUp,
                  Severity::kInfo,
                  {{"message",
                    "the IMA list arrives in parts: entries checked, not yet anchored by a quote"},
                   {"verified_entries", rs.next_entry},
                   {"list_entries", *ev.ima->list_entries}}});
      return out;
    }
    // A violation in any part fails, anchored or not (state kept).
  }

  bool mismatch = false;
  for (const auto& f : outcome.failures) {
    mismatch = mismatch || f.id == ima::failure_id::kPcrMismatch;
    checks::Context ctx = {{"message", f.message}, {"entry", f.entry}};
    if (!f.path.empty()) ctx.emplace_back("path", f.path);
    if (f.id == ima::failure_id::kPcrMismatch) {
      ctx.emplace_back("bank", tpm::HashAlgName(*bank));
      ctx.emplace_back("quoted", tpm::ToHex(quoted10));
      ctx.emplace_back("replayed", ima::ToHex(rs.pcr[static_cast<size_t>(ibank)]));
      ctx.emplace_back("start_offset", start);
    }
    v.failures.push_back(Failure{f.id, Severity::kCritical, std::move(ctx)});
  }
  if (mismatch || !outcome.pcr_matched_at) return out;  // the list is not authentic: keep state
  // The quote may lag the list: keep only what it covers (the running value
  // then equals the quoted PCR 10); later entries come again next time.
  state.ima_next_offset = *outcome.pcr_matched_at;
  state.ima_pcr.assign(quoted10.begin(), quoted10.end());
  state.ima_catch_up_since = 0;
  state.ima_learned_keys = std::move(rs.learned_keys);
  return out;
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

  // 1. The quote: authentic, fresh, newer than the accepted one.
  checks::QuoteInputs qi;
  qi.quote.assign(ev.quote.begin(), ev.quote.end());
  qi.signature.assign(ev.signature.begin(), ev.signature.end());
  qi.nonce.assign(nonce.begin(), nonce.end());
  qi.pcrs = ev.pcrs;
  qi.allowed_hash_algs = pol.allowed_hash_algs;
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
    if (it->event_id == "quote.clock_unsafe") {
      it->severity = Severity::kWarning;
      v.notices.push_back(std::move(*it));
      it = q.failures.erase(it);
    } else {
      ++it;
    }
  }
  if (!q.ok()) {
    // Also on quote.tpm_rollback: the stored counters stay, so every later
    // quote of the rolled-back TPM fails as well until a re-enrolment.
    v.new_state = stored;
    v.failures = std::move(q.failures);
    v.result = QuoteAuthentic(v.failures) ? Outcome::kFail : Outcome::kRejected;
    return v;
  }
  const tpm::PcrValues& quoted = ev.pcrs;  // authenticated by the quote from here on

  // 2. Reboot: TPM counters advanced, or the agent's boot time changed by
  // more than the tolerance (the gateway's rule: IsNewBoot).
  AgentState s = stored;
  v.reboot =
      q.reboot || (stored.boot_time && ev.boot_time &&
                   IsNewBoot(std::chrono::seconds(*stored.boot_time),
                             std::chrono::seconds(*ev.boot_time), agent.boot_time_tolerance));
  if (v.reboot) {
    ResetIma(s);
    s.boot_log_accepted = false;
    s.boot_pcr_digest.clear();
  }
  s.clock = q.clock;
  if (ev.boot_time) s.boot_time = ev.boot_time;
  s.last_verified_at = now;

  // 3. Measured boot (PCRs 0-7, and 8 for a kernel command line policy).
  bool log_requested = false;
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
    // Same boot: PCRs 0-7 must still be what the log was verified against
    // (compared when the log was verified against a full bank of them).
    if (s.boot_pcr_digest.empty()) {
      // nothing recorded to compare with
    } else if (!AllBootPcrsQuoted(boot) && pol.measured_boot) {
      v.failures.push_back(Failure{"measured_boot.pcrs_not_quoted",
                                   Severity::kCritical,
                                   {{"message", "the quote does not cover PCRs 0-7 of any bank"}}});
    } else if (AllBootPcrsQuoted(boot) && BootPcrDigest(boot) != s.boot_pcr_digest) {
      v.failures.push_back(Failure{
          "measured_boot.pcrs_changed",
          Severity::kCritical,
          {{"message", "PCRs 0-7 changed since the event log was verified, without a reboot"}}});
    }
  } else if (pol.measured_boot) {
    log_requested = true;
    v.uefi_log_requested = true;
    // Asked for and not sent. Never reset by a reboot (an agent could reboot
    // to start over), only by a log or a re-enrolment.
    if (ev.uefi_log_asked.value_or(false)) {
      v.uefi_log_withheld = true;
      if (s.uefi_log_withheld < static_cast<uint32_t>(std::numeric_limits<int32_t>::max())) {
        ++s.uefi_log_withheld;
      }
      if (s.uefi_log_withheld >= std::max<uint32_t>(agent.uefi_log_max_rounds, 1)) {
        v.failures.push_back(
            Failure{kUefiLogWithheld,
                    Severity::kCritical,
                    {{"message", "the UEFI event log was asked for and not sent in " +
                                     std::to_string(s.uefi_log_withheld) + " evidence in a row"},
                     {"rounds", static_cast<uint64_t>(s.uefi_log_withheld)},
                     {"max_rounds", static_cast<uint64_t>(agent.uefi_log_max_rounds)}}});
      }
    }
  }

  // 4. IMA (PCR 10), when a runtime policy is set or entries were sent.
  if (pol.runtime || ev.ima) {
    if (CheckIma(ev, pol.runtime.get(), quoted, s, v, now).log_requested) log_requested = true;
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
