// Conversions between the wire enum attest.v1.HashAlgorithm and TPM2_ALG_ID,
// shared by the agent (which quotes) and the workers (which verify).
#pragma once

#include <tss2/tss2_tpm2_types.h>

#include "attest/v1/common.pb.h"

namespace attest::protoconv {

// TPM2_ALG_NULL for UNSPECIFIED or an unknown value.
TPMI_ALG_HASH TpmHashAlg(v1::HashAlgorithm alg);
// HASH_ALGORITHM_UNSPECIFIED for an algorithm the wire format does not name.
v1::HashAlgorithm ProtoHashAlg(TPMI_ALG_HASH alg);

}  // namespace attest::protoconv
