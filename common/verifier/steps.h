// Internal to common/verifier: the steps VerifyEvidence runs after the quote
// (verifier.cc), each in its own file: measured boot (verifier_boot.cc) and
// IMA (verifier_ima.cc). Each reads the evidence, updates the state to store
// and appends to the verdict; docs/verification.md ("Order of checks") is
// their specification.
//
// Pure functions; reentrant.
#pragma once

#include <cstdint>

#include "common/verifier/verifier.h"

namespace attest::verifier::detail {

// Forgets the IMA progress (offset, running PCR 10, learned keys, catch-up).
void ResetIma(AgentState& s);

// Step 3, measured boot (PCRs 0-7, and 8 for a kernel command line policy):
// the UEFI log when sent, else the baseline of this boot, else a request for
// the log (counted when withheld). Returns whether a log is requested.
bool CheckBoot(const Evidence& ev, const Agent& agent, const tpm::PcrValues& quoted, AgentState& s,
               Verdict& v);

// Step 4, IMA (PCR 10): the new entries replayed from the stored running value
// and checked against `policy` (may be null). Returns whether a log (the IMA
// list from Verdict::requested_ima_offset) is requested.
bool CheckIma(const Evidence& ev, const CompiledRuntimePolicy* policy, const tpm::PcrValues& quoted,
              AgentState& state, Verdict& v, int64_t now);

}  // namespace attest::verifier::detail
