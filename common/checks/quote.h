// Verification of a TPM 2.0 quote (TPM2_Quote output) against an attestation
// key, a nonce, the claimed PCR values and the previously accepted quote.
//
// PURE: no I/O, no clock reads, no global state. Everything the check depends
// on (previous TPM clock state, policy) is passed in; the caller persists the
// new state, and only when the result has no failures.
//
// Checks, each reported as a Failure (event ids below) rather than stopping
// at the first, except that unparsable input stops the check:
//   quote.malformed             TPMS_ATTEST / TPMT_SIGNATURE do not parse, or trailing bytes
//   quote.invalid_magic         magic != TPM_GENERATED_VALUE (not made by a TPM)
//   quote.invalid_type          type != TPM_ST_ATTEST_QUOTE
//   quote.invalid_signature     signature by the AK does not verify (RSASSA, RSAPSS,
//                               ECDSA on P-256/P-384), or the scheme does not fit the key
//   quote.hash_alg_not_allowed  signing hash or a quoted PCR bank not in allowed_hash_algs
//   quote.nonce_mismatch        extraData != nonce
//   quote.pcr_value_missing     a quoted PCR has no supplied value (or a wrong-size one)
//   quote.pcr_selection_mismatch supplied PCR values that the quote does not cover
//   quote.pcr_digest_mismatch   pcrDigest != H(supplied values in selection order), H
//                               being the hash of the signing scheme
//   quote.clock_unsafe          clockInfo.safe is NO (the clock may have gone back)
//   quote.replay                the same clockInfo as the previous quote (the same quote
//                               again), or lower counters in a quote that does not prove
//                               it was made after the previous one (see tpm_rollback)
//   quote.tpm_rollback          lower counters (resetCount, then restartCount, then clock,
//                               the TPM's order) than the previous quote, in a quote that
//                               is otherwise authentic (signature, nonce, PCR digest) for a
//                               nonce the caller says was issued after the previous quote
//                               was made (nonce_after_previous): the TPM signed it now,
//                               so its state went back (a restored VM snapshot, a cloned
//                               vTPM, a cleared TPM). Never a replay.
// A higher resetCount or restartCount than the previous quote is a reboot
// (TPM reset/restart): reported in `reboot`, not a failure. Note that after
// an orderly shutdown (TPM2_Shutdown(CLEAR)) a TPM keeps resetCount and its
// clock, so such a reboot is a plain next quote here; after a power loss the
// first quotes have clockInfo.safe = NO (quote.clock_unsafe) until the TPM
// persists its clock again.
//
// resetCount/restartCount/firmwareVersion are only comparable across quotes
// for an AK in the endorsement (or platform) hierarchy, as tpm2_createak
// makes; other hierarchies obfuscate them per key (TPM 2.0 Part 1, 36.6).
//
// Thread-safety: VerifyQuote is reentrant; the EVP_PKEY and AkVerifier are
// only read (an AkVerifier is safe to share between threads, see signature.h).
#pragma once

#include <openssl/evp.h>
#include <tss2/tss2_tpm2_types.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "common/checks/failure.h"
#include "common/checks/signature.h"
#include "common/tpm/marshal.h"
#include "common/tpm/pcr.h"

namespace attest::checks {

// TPMS_CLOCK_INFO of an accepted quote.
struct ClockState {
  uint64_t clock = 0;  // ms the TPM has been powered (non-volatile, advances monotonically)
  uint32_t reset_count = 0;
  uint32_t restart_count = 0;
  bool safe = true;
};

struct QuoteInputs {
  tpm::Bytes quote;      // TPMS_ATTEST (TPM2B_ATTEST contents)
  tpm::Bytes signature;  // TPMT_SIGNATURE
  // The AK, first set wins: a prepared verifier (what a verifier caches per
  // AK: fastest), an OpenSSL key (verify context set up per call), or the
  // TPM public area (converted per call). Not owned; must outlive the call.
  const AkVerifier* ak_verifier = nullptr;
  const EVP_PKEY* ak_key = nullptr;
  std::optional<TPMT_PUBLIC> ak_public;
  tpm::Bytes nonce;     // expected extraData
  tpm::PcrValues pcrs;  // claimed PCR values, bank -> index -> digest
  // Hash algorithms accepted for signing and PCR banks (TPM2_ALG_*); empty
  // means the default set sha256, sha384, sha512.
  std::vector<TPMI_ALG_HASH> allowed_hash_algs;
  std::optional<ClockState> previous;  // clock info of the last accepted quote
  // The nonce was issued after `previous`'s quote was made (the caller knows
  // both times: the challenge's issue time and when the previous quote was
  // received). Then lower counters are a TPM rollback, not an old quote that
  // was delayed or reordered on its way (which stays quote.replay).
  bool nonce_after_previous = false;
};

struct QuoteResult {
  Failures failures;
  bool reboot = false;  // resetCount or restartCount advanced since `previous`

  // Parsed fields, valid when `parsed` (even if other checks failed; then
  // they are untrusted and for display only).
  bool parsed = false;
  ClockState clock;
  uint64_t firmware_version = 0;
  TPML_PCR_SELECTION pcr_selection{};
  tpm::Bytes qualified_signer;  // TPM2B_NAME contents
  tpm::Bytes extra_data;
  tpm::Bytes pcr_digest;
  TPMI_ALG_HASH sig_alg = TPM2_ALG_NULL;   // TPM2_ALG_RSASSA / RSAPSS / ECDSA
  TPMI_ALG_HASH hash_alg = TPM2_ALG_NULL;  // hash of the signing scheme

  bool ok() const { return failures.empty(); }
};

QuoteResult VerifyQuote(const QuoteInputs& in);

}  // namespace attest::checks
