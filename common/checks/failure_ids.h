// The failure ids the single checks report (Failure::event_id), one
// catalogue: docs/verification.md ("Failure ids") lists each with when it is
// raised, and tests/verifier/failure_ids_test.cc checks that the two agree.
// const char* rather than string_view: ids initialise std::string members
// and the pcr_validation ones are concatenated with a PCR number.
//
// Constants only; thread-safe.
#pragma once

namespace attest::checks::failure_id {

// Quote (VerifyQuote, quote.h).
// TPMS_ATTEST / TPMT_SIGNATURE do not parse.
inline constexpr const char* kQuoteMalformed = "quote.malformed";
// magic != TPM_GENERATED_VALUE: not made by a TPM.
inline constexpr const char* kQuoteInvalidMagic = "quote.invalid_magic";
// type != TPM_ST_ATTEST_QUOTE.
inline constexpr const char* kQuoteInvalidType = "quote.invalid_type";
// The AK does not verify the signature, or no usable AK.
inline constexpr const char* kQuoteInvalidSignature = "quote.invalid_signature";
// Signing hash or a quoted bank not allowed (the quote stays authentic).
inline constexpr const char* kQuoteHashAlgNotAllowed = "quote.hash_alg_not_allowed";
// extraData != the challenge nonce.
inline constexpr const char* kQuoteNonceMismatch = "quote.nonce_mismatch";
// A quoted PCR without a (right-size) supplied value.
inline constexpr const char* kQuotePcrValueMissing = "quote.pcr_value_missing";
// Supplied PCR values the quote does not cover.
inline constexpr const char* kQuotePcrSelectionMismatch = "quote.pcr_selection_mismatch";
// pcrDigest != the hash of the supplied values.
inline constexpr const char* kQuotePcrDigestMismatch = "quote.pcr_digest_mismatch";
// The same clockInfo again, or lower counters not proven fresh.
inline constexpr const char* kQuoteReplay = "quote.replay";
// Lower counters in an otherwise authentic quote for a fresh challenge.
inline constexpr const char* kQuoteTpmRollback = "quote.tpm_rollback";
// clockInfo.safe = NO (a notice in the verdict).
inline constexpr const char* kQuoteClockUnsafe = "quote.clock_unsafe";

// PCR policy (CheckPcrPolicy, pcr_policy.h): prefixes of ..._N.
// pcr_validation.invalid_pcr_N: the quoted value is not allowed.
inline constexpr const char* kPcrInvalidPrefix = "pcr_validation.invalid_pcr_";
// pcr_validation.missing_pcr_N: a policy PCR is not in the quote.
inline constexpr const char* kPcrMissingPrefix = "pcr_validation.missing_pcr_";

// PCR selection (selection.h).
// The challenge asked for less than the policies need.
inline constexpr const char* kInsufficientSelection = "challenge.insufficient_selection";
// The authenticated quote does not cover what its token asked for.
inline constexpr const char* kSelectionMismatch = "quote.selection_mismatch";

}  // namespace attest::checks::failure_id
