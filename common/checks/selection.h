// Which PCRs a quote must cover for an agent's policies, and who is to blame
// when it does not (issue 17, point 3).
//
// The gateway tells the agent which bank and PCRs to quote and binds that
// selection into the challenge token (common/token, version 2). Without this
// check a gateway that asks for sha1 or leaves out PCR 4 or 10 (misconfigured
// or compromised) turned every honest agent's evidence into FAIL verdicts and
// revocations (quote.hash_alg_not_allowed, measured_boot.pcrs_not_quoted,
// ima.pcr_not_quoted, pcr_validation.missing_pcr_N). Now:
//
//   challenge.insufficient_selection  the challenge asked for less than the
//       policies need (a bank the verifier does not accept, or PCRs missing):
//       the gateway's fault. REJECTED: no FAIL, no revocation, state unchanged.
//       For a version-1 token (no binding) the quote's own selection is judged
//       the same way: its selection came from a challenge nobody can check.
//   quote.selection_mismatch  the quote covers less than the token asked, or
//       a bank it did not ask: the agent did not quote what it was asked.
//       REJECTED: such evidence never extends liveness, so an agent that
//       withholds PCRs goes OFFLINE and never gets PASS.
//
// What the policies need (NeedsOf):
//   - a measured-boot reference state: PCRs 0-7 in its digest bank, and PCR
//     8 when it judges GRUB's kernel command line (the caller says which);
//   - a runtime (IMA) policy, or IMA entries in the evidence (the verifier
//     replays them whenever they are sent): PCR 10 in any accepted bank;
//   - a PCR policy: its PCRs in each bank it names;
//   - every bank quoted or asked for must be an accepted one (default
//     sha256, sha384, sha512, as VerifyQuote; sha1 only when the operator
//     lists it).
//
// Pure; thread-safe.
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/checks/failure.h"
#include "common/checks/failure_ids.h"
#include "common/checks/pcr_policy.h"
#include "common/tpm/marshal.h"

namespace attest::checks {

// The two ids of this check, by their old names (catalogue: failure_ids.h).
using failure_id::kInsufficientSelection;
using failure_id::kSelectionMismatch;

// PCRs 0-7 and 10: what measured boot and IMA read.
inline constexpr uint32_t kBootPcrMask = 0x0000ff;
inline constexpr uint32_t kImaPcrMask = 1u << 10;

// VerifyQuote's default accepted banks and signing hashes.
const std::vector<TPMI_ALG_HASH>& DefaultAllowedBanks();

// A selection as bank -> PCR mask (bit i = PCR i, PCRs 0-23).
using PcrMasks = std::map<TPMI_ALG_HASH, uint32_t>;
PcrMasks MasksOf(const TPML_PCR_SELECTION& selection);

// "sha256:0-7,10" (banks ascending); "none" when empty.
std::string FormatMasks(const PcrMasks& masks);

// What the agent's policies read of a quote.
struct PolicyInputs {
  std::vector<TPMI_ALG_HASH> allowed_banks{};         // empty: DefaultAllowedBanks()
  std::optional<TPMI_ALG_HASH> measured_boot_bank{};  // a reference state is set: its digest bank
  uint32_t measured_boot_pcrs = kBootPcrMask;         // + PCR 8 for a kernel command line policy
  bool ima = false;                                   // a runtime policy, or IMA entries sent
  const PcrPolicy* pcr_policy = nullptr;              // optional; must outlive NeedsOf's caller
};

struct SelectionNeeds {
  // `pcrs` all quoted in one bank of `banks`.
  struct Need {
    std::string reason;  // "measured_boot" | "ima" | "pcr_policy"
    std::vector<TPMI_ALG_HASH> banks;
    uint32_t pcrs = 0;
  };
  std::vector<Need> needs;
  std::vector<TPMI_ALG_HASH> allowed;  // banks a quote may cover
};

SelectionNeeds NeedsOf(const PolicyInputs& in);

// What the token asked the agent to quote.
struct RequestedSelection {
  TPMI_ALG_HASH bank = TPM2_ALG_NULL;
  uint32_t pcrs = 0;
};

// The token's request against the needs, before the quote is looked at:
// nullopt when it asks for everything the policies need in an accepted
// bank, else challenge.insufficient_selection (context: requested, missing,
// needed_by, allowed_banks).
std::optional<Failure> CheckRequested(const SelectionNeeds& needs,
                                      const RequestedSelection& requested);

// The selection of an authenticated quote (TPMS_ATTEST pcrSelect). With a
// request (version-2 token): quote.selection_mismatch unless it covers the
// requested bank's PCRs and no other bank. Without (version 1): judged
// against the needs, challenge.insufficient_selection on a shortfall or a
// bank not accepted. nullopt: the verifier may go on.
std::optional<Failure> CheckQuoted(const SelectionNeeds& needs,
                                   const std::optional<RequestedSelection>& requested,
                                   const TPML_PCR_SELECTION& quoted);
// The same for a quote's bytes (TPMS_ATTEST, TPMT_SIGNATURE) that
// VerifyQuote authenticated. nullopt too when they do not parse, or when the
// signing hash is not an accepted one: the AK's scheme decides it, not the
// challenge, so quote.hash_alg_not_allowed stays the agent's FAIL.
std::optional<Failure> CheckQuoted(const SelectionNeeds& needs,
                                   const std::optional<RequestedSelection>& requested,
                                   tpm::ByteView quote, tpm::ByteView signature);

}  // namespace attest::checks
