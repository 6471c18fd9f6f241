#include "bench/gateway/evidence.h"

#include "attest/v1/attestation.pb.h"

namespace attest::bench {

Result<std::string> EvidenceBody(const token::KeySet& keys, const std::string& uuid) {
  // A gateway bound to sha256 PCRs 0-7 and 10 (the values below).
  auto tok = token::Issue(keys, uuid, std::chrono::system_clock::now(), 0,
                          token::Binding{.pcr_bank = 0x000b, .pcr_mask = 0x0004ff});
  if (!tok) return tok.error();
  v1::Evidence e;
  e.set_agent_uuid(uuid);
  e.set_challenge_token(*tok);
  e.mutable_quote()->set_attest(std::string(145, 'q'));
  e.mutable_quote()->set_signature(std::string(262, 's'));
  auto* bank = e.mutable_quote()->add_pcrs();
  bank->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
  for (uint32_t i : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 10u})
    (*bank->mutable_values())[i] = std::string(32, 'p');
  auto* ima = e.mutable_ima();
  ima->set_entry_count(4);
  ima->set_format(v1::IMA_LOG_FORMAT_ASCII);
  ima->set_data(std::string(4 * 130, 'i'));
  return e.SerializeAsString();
}

}  // namespace attest::bench
