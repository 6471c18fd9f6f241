// Evidence for the tests of the evidence contract and its users (the
// gateway's decoding): the smallest one the gateway admits, and the five
// hash algorithms in wire order.
#pragma once

#include <string>

#include "attest/v1/attestation.pb.h"

namespace attest::testing {

inline constexpr char kSampleUuid[] = "0f8fad5b-d9cb-469f-a165-70867728950e";

inline constexpr v1::HashAlgorithm kWireHashAlgorithms[] = {
    v1::HASH_ALGORITHM_SHA1, v1::HASH_ALGORITHM_SHA256, v1::HASH_ALGORITHM_SHA384,
    v1::HASH_ALGORITHM_SHA512, v1::HASH_ALGORITHM_SM3_256};

// Token, one-byte quote and signature, a sha1 bank with PCR 10.
inline v1::Evidence SampleEvidence(const std::string& uuid = kSampleUuid) {
  v1::Evidence e;
  e.set_agent_uuid(uuid);
  e.set_challenge_token(std::string(64, 'x'));
  e.mutable_quote()->set_attest("a");
  e.mutable_quote()->set_signature("s");
  auto* bank = e.mutable_quote()->add_pcrs();
  bank->set_hash_algorithm(v1::HASH_ALGORITHM_SHA1);
  (*bank->mutable_values())[10] = std::string(20, '\0');
  return e;
}

}  // namespace attest::testing
