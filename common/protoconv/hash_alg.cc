#include "common/protoconv/hash_alg.h"

namespace attest::protoconv {

TPMI_ALG_HASH TpmHashAlg(v1::HashAlgorithm alg) {
  switch (alg) {
    case v1::HASH_ALGORITHM_SHA1:
      return TPM2_ALG_SHA1;
    case v1::HASH_ALGORITHM_SHA256:
      return TPM2_ALG_SHA256;
    case v1::HASH_ALGORITHM_SHA384:
      return TPM2_ALG_SHA384;
    case v1::HASH_ALGORITHM_SHA512:
      return TPM2_ALG_SHA512;
    case v1::HASH_ALGORITHM_SM3_256:
      return TPM2_ALG_SM3_256;
    default:
      return TPM2_ALG_NULL;
  }
}

v1::HashAlgorithm ProtoHashAlg(TPMI_ALG_HASH alg) {
  switch (alg) {
    case TPM2_ALG_SHA1:
      return v1::HASH_ALGORITHM_SHA1;
    case TPM2_ALG_SHA256:
      return v1::HASH_ALGORITHM_SHA256;
    case TPM2_ALG_SHA384:
      return v1::HASH_ALGORITHM_SHA384;
    case TPM2_ALG_SHA512:
      return v1::HASH_ALGORITHM_SHA512;
    case TPM2_ALG_SM3_256:
      return v1::HASH_ALGORITHM_SM3_256;
    default:
      return v1::HASH_ALGORITHM_UNSPECIFIED;
  }
}

}  // namespace attest::protoconv
