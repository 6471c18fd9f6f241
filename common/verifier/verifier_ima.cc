// Step 4 of VerifyEvidence: IMA (PCR 10), incremental. docs/verification.md
// ("Order of checks", 4) is the specification; each step below is one of its
// bullets.
#include <algorithm>
#include <optional>
#include <span>
#include <utility>

#include "common/ima/failure_ids.h"
#include "common/ima/replay.h"
#include "common/verifier/failure_ids.h"
#include "common/verifier/steps.h"

namespace attest::verifier::detail {
namespace {

constexpr uint32_t kImaPcr = 10;

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

// One IMA check in progress: its inputs, and what the steps found so far.
struct ImaRun {
  const Evidence& ev;
  const CompiledRuntimePolicy* policy;
  AgentState& state;
  Verdict& v;
  int64_t now;

  bool log_requested = false;
  TPMI_ALG_HASH bank = TPM2_ALG_NULL;
  ima::HashAlg ibank = ima::HashAlg::kSha256;
  const tpm::Bytes* quoted10 = nullptr;
  uint64_t start = 0;  // absolute index of the first entry sent
  ima::Log log{};
  ima::ReplayState rs{};

  void Add(const char* id, checks::Context ctx) {
    v.failures.push_back(Failure{id, Severity::kCritical, std::move(ctx)});
  }
  // Start over from a fresh list.
  void AskFullList() {
    ResetIma(state);
    log_requested = true;
    v.requested_ima_offset = 0;
  }
  ima::Digest& Running() { return rs.pcr[static_cast<size_t>(ibank)]; }
};

// The bank compared; false when the check stops here (not quoted, or a new
// bank while entries were verified in another: the whole list is asked for).
bool ChooseBank(ImaRun& r, const tpm::PcrValues& quoted) {
  auto bank = ChooseImaBank(quoted, r.state.ima_bank);
  if (!bank) {
    r.Add(failure_id::kImaPcrNotQuoted,
          {{"message", "the quote does not cover PCR 10 in a supported bank"}});
    return false;
  }
  if (*bank != r.state.ima_bank) {
    // Another bank than the stored running value: continue only from a fresh list.
    if (r.state.ima_next_offset != 0) {
      r.AskFullList();
      r.state.ima_bank = *bank;
      return false;
    }
    r.state.ima_bank = *bank;
    r.state.ima_pcr.clear();
  }
  r.bank = *bank;
  r.ibank = *ImaHashAlg(*bank);
  r.quoted10 = QuotedPcr(quoted, *bank, kImaPcr);
  return true;
}

// The list sent: it must continue the verified prefix, parse and hold the
// number of entries the evidence says. False when the check stops here.
bool ReadList(ImaRun& r) {
  const ImaEvidence* ima = r.ev.ima ? &*r.ev.ima : nullptr;
  r.start = ima ? ima->start_offset : r.state.ima_next_offset;
  if (r.start > r.state.ima_next_offset) {
    // Entries between the stored offset and this list are missing: ask for
    // the whole list (the state may have been lost or rolled back).
    r.AskFullList();
    return false;
  }
  if (ima && !ima->entries.empty()) {
    const auto tmpl_alg = ima->template_hash_alg ? *ima->template_hash_alg
                          : r.policy             ? r.policy->policy.log_hash_alg()
                                                 : ima::HashAlg::kSha1;
    auto parsed = ima->format == ima::Format::kBinary ? ima::ParseBinary(ima->entries, tmpl_alg)
                                                      : ima::ParseAscii(ima->entries);
    if (!parsed) {
      r.Add(failure_id::kImaLogMalformed,
            {{"message", "IMA measurement list: " + parsed.error().message},
             {"start_offset", r.start}});
      return false;
    }
    r.log = std::move(*parsed);
  }
  if (ima && ima->entry_count && *ima->entry_count != r.log.entries.size()) {
    r.Add(failure_id::kImaEntryCountMismatch,
          {{"message", "the IMA list holds another number of entries than the evidence says"},
           {"expected", *ima->entry_count},
           {"got", r.log.entries.size()}});
    return false;
  }
  return true;
}

// The replay starts from the stored running value; false (the whole list is
// asked for) when that value is corrupt.
bool StartReplay(ImaRun& r) {
  r.rs.next_entry = r.state.ima_next_offset;
  r.Running() = r.state.ima_pcr.empty() ? ima::Digest::Filled(ima::DigestSize(r.ibank), 0)
                                        : ima::Digest::From(r.state.ima_pcr);
  r.rs.learned_keys = r.state.ima_learned_keys;
  if (r.Running().size != ima::DigestSize(r.ibank)) {
    // Corrupt stored state: start over rather than compare garbage.
    r.AskFullList();
    return false;
  }
  return true;
}

// Sent in parts (the agent's list holds more than this evidence carries)
// and not anchored yet: the quoted PCR 10 covers entries still to come, so
// no match is expected. Every entry was still checked against the policy.
// An empty part is never a healthy agent's (it always sends at least one
// entry when there are more): no catching up without entries. True when
// this settles the check (catching up, or not anchored in time).
bool CatchUp(ImaRun& r, ima::ReplayOutcome& outcome) {
  const uint64_t delivered = r.start + r.log.entries.size();
  const bool more_follow = r.ev.ima && r.ev.ima->list_entries && !r.log.entries.empty() &&
                           delivered < *r.ev.ima->list_entries;
  if (!more_follow || outcome.pcr_matched_at) return false;
  std::erase_if(outcome.failures,
                [](const ima::Failure& f) { return f.id == ima::failure_id::kPcrMismatch; });
  const uint64_t list_entries = *r.ev.ima->list_entries;
  const int64_t since = r.state.ima_catch_up_since != 0 ? r.state.ima_catch_up_since : r.now;
  if (r.now - since > kImaCatchUpMaxSeconds) {
    // Parts for longer than any healthy list takes: an agent that keeps
    // claiming more entries without ever reaching its quote.
    r.Add(failure_id::kImaNotAnchored,
          {{"message", "the IMA list sent in parts was not anchored by a quote in time"},
           {"catching_up_since", since},
           {"max_seconds", kImaCatchUpMaxSeconds},
           {"verified_entries", r.state.ima_next_offset},
           {"list_entries", list_entries}});
    return true;  // state kept: the unanchored entries prove nothing
  }
  if (!outcome.failures.empty()) return false;  // a violation in any part fails (state kept)
  r.state.ima_catch_up_since = since;
  // Catching up: keep the running value so the next part continues the
  // chain; it proves nothing until a quoted PCR 10 equals it, and the
  // verdict stays LOG_REQUESTED until then (never PASS, never FAIL).
  r.state.ima_next_offset = r.rs.next_entry;
  r.state.ima_pcr.assign(r.Running().view().begin(), r.Running().view().end());
  r.state.ima_learned_keys = std::move(r.rs.learned_keys);
  r.log_requested = true;
  r.v.requested_ima_offset = r.rs.next_entry;
  r.v.ima_catching_up = true;
  r.v.notices.push_back(Failure{
      failure_id::kImaCatchingUp,
      Severity::kInfo,
      {{"message", "the IMA list arrives in parts: entries checked, not yet anchored by a quote"},
       {"verified_entries", r.rs.next_entry},
       {"list_entries", list_entries}}});
  return true;
}

// The replay's failures into the verdict; the state advances to the quoted
// prefix when the replay matched the quote.
void Conclude(ImaRun& r, ima::ReplayOutcome& outcome) {
  bool mismatch = false;
  for (const auto& f : outcome.failures) {
    mismatch = mismatch || f.id == ima::failure_id::kPcrMismatch;
    checks::Context ctx = {{"message", f.message}, {"entry", f.entry}};
    if (!f.path.empty()) ctx.emplace_back("path", f.path);
    if (f.id == ima::failure_id::kPcrMismatch) {
      ctx.emplace_back("bank", tpm::HashAlgName(r.bank));
      ctx.emplace_back("quoted", tpm::ToHex(*r.quoted10));
      ctx.emplace_back("replayed", ima::ToHex(r.Running()));
      ctx.emplace_back("start_offset", r.start);
    }
    r.v.failures.push_back(Failure{f.id, Severity::kCritical, std::move(ctx)});
  }
  if (mismatch || !outcome.pcr_matched_at) return;  // the list is not authentic: keep state
  // The quote may lag the list: keep only what it covers (the running value
  // then equals the quoted PCR 10); later entries come again next time.
  r.state.ima_next_offset = *outcome.pcr_matched_at;
  r.state.ima_pcr.assign(r.quoted10->begin(), r.quoted10->end());
  r.state.ima_catch_up_since = 0;
  r.state.ima_learned_keys = std::move(r.rs.learned_keys);
}

}  // namespace

void ResetIma(AgentState& s) {
  s.ima_next_offset = 0;
  s.ima_pcr.clear();
  s.ima_learned_keys = ima::Keyring();
  s.ima_catch_up_since = 0;
}

bool CheckIma(const Evidence& ev, const CompiledRuntimePolicy* policy, const tpm::PcrValues& quoted,
              AgentState& state, Verdict& v, int64_t now) {
  ImaRun r{ev, policy, state, v, now};
  if (!ChooseBank(r, quoted) || !ReadList(r)) return r.log_requested;
  v.stats.ima_entries_received = r.log.entries.size();
  // Entries before the stored offset were verified by an earlier evidence.
  const uint64_t skip = std::min<uint64_t>(state.ima_next_offset - r.start, r.log.entries.size());
  v.stats.ima_entries_skipped = skip;
  std::span<const ima::Entry> fresh(r.log.entries.data() + skip, r.log.entries.size() - skip);
  if (!StartReplay(r)) return r.log_requested;

  ima::ReplayOptions opt;
  opt.policy = policy ? &policy->policy : nullptr;
  opt.keys = policy ? &policy->keys : nullptr;
  opt.ima_pcr = kImaPcr;
  opt.expected_pcr = ima::Digest::From(*r.quoted10);
  opt.expected_bank = r.ibank;
  auto outcome = ima::Replay(r.rs, fresh, opt);
  v.stats.ima_entries_checked = fresh.size();
  if (!CatchUp(r, outcome)) Conclude(r, outcome);
  return r.log_requested;
}

}  // namespace attest::verifier::detail
