// attest.v1.Evidence -> verifier::Evidence, the worker's input to the
// verifier (the second half of the evidence contract, evidence.h).
//
// Its own library (attest_evidence_convert) so the gateway, which only checks
// shapes, does not link the verifier.
//
// Thread-safety: pure function.
#pragma once

#include "attest/v1/attestation.pb.h"
#include "common/base/result.h"
#include "common/evidence/evidence.h"
#include "common/verifier/verifier.h"

namespace attest::evidence {

// The verifier's view of `evidence`: quote, signature, UEFI log and IMA
// entries are views into `evidence` (which must outlive the result); PCR
// values are copied. Fills the fields the Evidence itself carries; the
// worker's own (uefi_log_asked, nonce_after_stored_quote) stay default.
//
// Checks only what the conversion needs, a subset of CheckShape under the
// same `limits`, and in this order: bank_count (more than max_banks; none is
// the verifier's to judge), bank_algorithm, then per value pcr_index and
// pcr_value_size (above max_pcr_value_bytes), then ima_size and
// uefi_log_size. Messages are the worker's finding texts ("too many PCR
// banks", "unknown PCR bank hash algorithm", "PCR index or value out of
// range", "IMA data too large", "UEFI log too large"). The worker passes
// WorkerLimits().
Result<verifier::Evidence> ToVerifierEvidence(const v1::Evidence& evidence, const Limits& limits);

}  // namespace attest::evidence
