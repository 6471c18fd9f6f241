// The verifier: one entry point; one call per evidence combines the quote check,
// measured boot (UEFI event log), IMA (incremental PCR-10 replay against the
// runtime policy) and the PCR policy into a verdict plus the agent state to
// store. docs/verification.md documents the order of checks, the results,
// the state transitions and every failure id.
//
// PURE: no I/O, no clock reads ("now" is an input), no global state. The
// evidence is borrowed (views into the caller's buffers, IMA bytes are parsed
// in place), the caller persists Verdict::new_state.
//
// Results, most to least severe:
//   kRejected      the quote does not prove the agent's TPM signed it for this
//                  challenge (bad signature, nonce, PCR digest, unparseable) or
//                  is a replay / older than the accepted one (quote.replay):
//                  drop it, new_state == stored state.
//   kFail          failures (disallowed quote hash, measured boot, IMA, PCR policy);
//                  a TPM rollback (quote.tpm_rollback) fails with new_state ==
//                  stored state, so every later quote of the restored TPM fails too
//                  until an operator re-enrols the agent (which clears the counters).
//   kLogRequested  no failure, but the verifier needs a log: the UEFI log
//                  (uefi_log_requested) after a reboot / without a boot
//                  baseline, or the IMA list from requested_ima_offset
//                  (also while a list sent in parts is catching up:
//                  ima_catching_up, notice ima.catching_up).
//   kPass
//
// Thread-safety: VerifyEvidence is reentrant; the cached AK and policies are
// immutable and may be shared between threads (shared_ptr<const>).
#pragma once

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/boot_time.h"
#include "common/base/result.h"
#include "common/checks/failure.h"
#include "common/checks/pcr_policy.h"
#include "common/checks/quote.h"
#include "common/eventlog/policy.h"
#include "common/ima/keyring.h"
#include "common/ima/log.h"
#include "common/ima/policy.h"
#include "common/tpm/marshal.h"
#include "common/tpm/pcr.h"
#include "common/tpm/tpm_crypto.h"
#include "common/verifier/failure_ids.h"

namespace attest::verifier {

// Failure ids: common/verifier/failure_ids.h. These three by their old names.
// kImaCatchingUp: notice of a part of an IMA list checked but not yet
// anchored by a quote. kImaNotAnchored: a list sent in parts that no quote
// anchored within kImaCatchUpMaxSeconds of its first part: an agent cannot
// stay "catching up" (neither PASS nor FAIL) for ever. A healthy
// 200,000-entry list takes about a minute. kUefiLogWithheld: below.
using failure_id::kImaCatchingUp;
using failure_id::kImaNotAnchored;
using failure_id::kUefiLogWithheld;
inline constexpr int64_t kImaCatchUpMaxSeconds = 900;

using checks::ClockState;
using checks::Failure;
using checks::Failures;
using checks::Severity;

// ---- Cached inputs (built once per agent / policy version by the worker) ----

// A registered AK converted once to an OpenSSL key.
class AttestationKey {
 public:
  // TPM2B_PUBLIC bytes as registered. Checks the AK attributes (restricted
  // signing key, fixedTPM, ...).
  static Result<std::shared_ptr<const AttestationKey>> FromTpm2bPublic(tpm::ByteView bytes);
  static Result<std::shared_ptr<const AttestationKey>> FromPublic(const TPMT_PUBLIC& pub);

  const EVP_PKEY* pkey() const { return pkey_.get(); }
  const TPMT_PUBLIC& public_area() const { return pub_; }
  // Prepared verify contexts of this key; safe to share between threads.
  const checks::AkVerifier& verifier() const { return verifier_; }

 private:
  AttestationKey(tpm::EvpPkeyPtr pkey, const TPMT_PUBLIC& pub)
      : pkey_(std::move(pkey)), pub_(pub), verifier_(pkey_.get()) {}
  tpm::EvpPkeyPtr pkey_;
  TPMT_PUBLIC pub_{};
  checks::AkVerifier verifier_;
};

// A Keylime runtime policy with its ima-sig verification keys loaded.
struct CompiledRuntimePolicy {
  ima::RuntimePolicy policy;
  ima::Keyring keys;  // the policy's "verification-keys" plus any added by the caller

  // Parses the JSON and loads its verification keys.
  static Result<std::shared_ptr<const CompiledRuntimePolicy>> Compile(std::string_view json);
};

struct AgentPolicies {
  std::shared_ptr<const checks::PcrPolicy> pcr;                   // optional
  std::shared_ptr<const CompiledRuntimePolicy> runtime;           // optional (IMA)
  std::shared_ptr<const eventlog::ReferenceState> measured_boot;  // optional
  // Names the version of measured_boot (the worker's policy id): a boot log
  // accepted against another version is verified again (AgentState::
  // boot_log_policy_id), so a changed reference state is enforced.
  int64_t measured_boot_id = 0;
  std::vector<TPMI_ALG_HASH> allowed_hash_algs;  // empty: sha256, sha384, sha512
};

// Evidence without the UEFI log it was asked for, in a row, before the agent
// FAILs with kUefiLogWithheld. Asked for after a reboot, a new reference
// state or a re-enrolment; an honest agent sends it the next round.
inline constexpr uint32_t kDefaultUefiLogMaxRounds = 3;

struct Agent {
  // The cached AK; when null, ak_public (TPM2B_PUBLIC) is converted per call.
  std::shared_ptr<const AttestationKey> ak;
  tpm::ByteView ak_public;
  AgentPolicies policies;
  // Boot times closer than this are the same boot (IsNewBoot,
  // common/base/boot_time.h): the gateway's challenge.boot_time_tolerance_seconds.
  std::chrono::seconds boot_time_tolerance = kDefaultBootTimeTolerance;
  // Rounds the agent may answer without the UEFI log it was asked for.
  uint32_t uefi_log_max_rounds = kDefaultUefiLogMaxRounds;
};

// ---- Evidence (borrowed views) ----

struct ImaEvidence {
  std::string_view entries;  // ascii or binary list, entries start_offset..
  ima::Format format = ima::Format::kAscii;
  uint64_t start_offset = 0;            // absolute index of the first entry
  std::optional<uint64_t> entry_count;  // entries the agent says it sent (checked)
  // Entries in the agent's list when it read it. More than start_offset plus
  // the entries sent: the list arrives in parts (bounded evidence size), and
  // a part that the quote does not anchor yet is "catching up", not a
  // mismatch.
  std::optional<uint64_t> list_entries;
  // The template-hash algorithm of a binary list as the agent read it (a
  // per-bank list of newer kernels holds sha256 template hashes); unset: the
  // runtime policy's log_hash_alg. It only decides how records are split:
  // every template hash is still recomputed from its data.
  std::optional<ima::HashAlg> template_hash_alg;
};

struct Evidence {
  tpm::ByteView quote;      // TPMS_ATTEST
  tpm::ByteView signature;  // TPMT_SIGNATURE
  tpm::PcrValues pcrs;      // claimed PCR values, bank -> index -> digest
  std::optional<ImaEvidence> ima;
  std::optional<tpm::ByteView> uefi_log;  // binary_bios_measurements
  std::optional<int64_t> boot_time;       // agent-reported boot time (unix seconds)
  // Whether the challenge asked for the UEFI log (the token's binding);
  // nullopt: unknown (a version-1 token), not counted as withheld: only a
  // request the token proves can be held against the agent.
  std::optional<bool> uefi_log_asked;
  // The challenge (nonce) was issued after the stored quote was made, so a
  // quote for it with lower TPM counters is a TPM rollback (FAIL,
  // quote.tpm_rollback), not an old quote delayed on its way (REJECTED,
  // quote.replay). The caller decides it from the token's issue time and when
  // the stored quote was received (checks::QuoteInputs::nonce_after_previous).
  bool nonce_after_stored_quote = false;
};

// ---- State (per agent, persisted by the worker) ----

struct AgentState {
  std::optional<ClockState> clock;  // clock info of the last accepted quote
  std::optional<int64_t> boot_time;
  // Measured boot of the current boot was verified; then boot_pcr_digest is
  // SHA-256 over the quoted PCRs 0-7 it was verified against (bank order,
  // index order), so a later change of PCRs 0-7 without a reboot is caught.
  bool boot_log_accepted = false;
  tpm::Bytes boot_pcr_digest;
  // Agent::policies.measured_boot_id the boot log was accepted against.
  int64_t boot_log_policy_id = 0;
  // Evidence in a row that came without the UEFI log it was asked for.
  uint32_t uefi_log_withheld = 0;
  // IMA: entries [0, ima_next_offset) are verified; ima_pcr is the running
  // PCR-10 value of bank ima_bank after them (empty = all zero, fresh boot).
  uint64_t ima_next_offset = 0;
  TPMI_ALG_HASH ima_bank = TPM2_ALG_SHA256;
  tpm::Bytes ima_pcr;
  // Keys that ima-buf entries loaded onto policy keyrings (Keylime trusts
  // them for later ima-sig entries). Not persisted by the worker today: after
  // a reload, ima-sig entries signed by such keys need a digest in the policy.
  ima::Keyring ima_learned_keys;
  // `now` of the first part of an IMA list still arriving in parts (0: none).
  // Not anchored by a quote within kImaCatchUpMaxSeconds: ima.not_anchored.
  int64_t ima_catch_up_since = 0;
  int64_t last_verified_at = 0;  // `now` of the last verdict that changed the state
};

// ---- Output ----

enum class Outcome { kPass, kFail, kRejected, kLogRequested };
std::string_view OutcomeName(Outcome o);  // "pass", "fail", "rejected", "log_requested"

struct VerifyStats {
  uint64_t ima_entries_received = 0;
  uint64_t ima_entries_skipped = 0;  // already verified prefix
  uint64_t ima_entries_checked = 0;
  uint64_t uefi_events = 0;
  bool measured_boot_evaluated = false;
};

struct Verdict {
  Outcome result = Outcome::kFail;
  Failures failures;
  // Findings that do not change the result (quote.clock_unsafe).
  Failures notices;
  bool reboot = false;
  bool uefi_log_requested = false;
  // The UEFI log was asked for and not sent (counted in
  // new_state.uefi_log_withheld): the evidence proves the agent runs but not
  // what it booted, so it does not extend the agent's liveness.
  bool uefi_log_withheld = false;
  std::optional<uint64_t> requested_ima_offset;  // send the IMA list from here
  // The IMA list arrives in parts and this part is checked but not anchored
  // by the quote yet: kLogRequested with notice ima.catching_up.
  bool ima_catching_up = false;
  AgentState new_state;
  VerifyStats stats;
};

// The IMA hash algorithm of a TPM hash algorithm (sha1/256/384/512), or
// nullopt: PCR banks and template hashes name the same four.
std::optional<ima::HashAlg> ImaHashAlg(TPMI_ALG_HASH alg);

// Verifies one evidence of `agent` against the challenge's `nonce` and the
// stored state. Never throws on bad input.
Verdict VerifyEvidence(const Evidence& evidence, tpm::ByteView nonce, const Agent& agent,
                       const AgentState& stored, int64_t now);

}  // namespace attest::verifier
