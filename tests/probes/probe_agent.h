// A simulated agent for the security probes: a software ECC P-256 AK
// (tests/quote/soft_quote.h), a TPM clock, and the Keylime IMA list, able
// to build the Evidence an honest agent posts and the variants an attacker
// would: signed by another key, quoted over a weaker PCR bank.
//
// Thread-safety: none (one test thread).
#pragma once

#include <stdexcept>
#include <string>

#include "attest/v1/attestation.pb.h"
#include "common/ima/log.h"
#include "common/ima/policy.h"
#include "tests/quote/soft_quote.h"
#include "tests/verifier/test_util.h"
#include "tests/worker/worker_fixture.h"

namespace attest::probes {

class ProbeAgent {
 public:
  ProbeAgent() : ak_(attest::testing::MakeEccAk()), log_(verifier::test::KeylimeImaLog()) {}

  const std::string& uuid() const { return uuid_; }
  // The registered AK as a marshalled TPM2B_PUBLIC.
  std::string AkTpm2bPublic() const { return worker::test::AkTpm2bPublic(ak_.pub); }
  int64_t boot_time() const { return boot_time_; }

  // A Keylime runtime policy allowing the first `n` entries of the list.
  std::string RuntimePolicy(size_t n) const {
    ima::Log known;
    known.template_hash_alg = log_.template_hash_alg;
    n = std::min(n, log_.entries.size());
    known.entries.assign(log_.entries.begin(),
                         log_.entries.begin() + static_cast<std::ptrdiff_t>(n));
    return ima::GeneratePolicy(known).ToJson();
  }

  // Evidence answering `token` with IMA entries [from, to): PCR 10 of `bank`
  // quoted (the clock advances) and signed with `bank`'s hash by `signer`
  // (nullptr: this agent's own AK).
  static size_t HashSize(TPMI_ALG_HASH bank) { return bank == TPM2_ALG_SHA1 ? 20 : 32; }

  v1::Evidence Make(const std::string& token, size_t from, size_t to,
                    TPMI_ALG_HASH bank = TPM2_ALG_SHA256,
                    const attest::testing::SoftAk* signer = nullptr) {
    if (from > to || to > log_.entries.size()) throw std::runtime_error("IMA range");
    clock_.clock += 1000;
    const auto ima_bank = bank == TPM2_ALG_SHA1 ? ima::HashAlg::kSha1 : ima::HashAlg::kSha256;
    // What the gateway's default challenge asks for (PCRs 0-8 and 10, bound
    // into the token): an honest agent quotes exactly that. No boot log here,
    // so PCRs 0-8 hold their reset value.
    tpm::PcrValues values;
    for (uint32_t pcr : {0, 1, 2, 3, 4, 5, 6, 7, 8})
      values[bank][pcr] = tpm::Bytes(HashSize(bank), 0);
    values[bank][10] = verifier::test::ImaPcr(log_, to, ima_bank);
    const tpm::Bytes nonce(token.begin(), token.end());
    auto quote = attest::testing::MakeQuote(
        nonce, attest::testing::Selection(bank, {0, 1, 2, 3, 4, 5, 6, 7, 8, 10}), values, bank,
        clock_);
    auto sig = attest::testing::SignLikeTpm(signer ? *signer : ak_, TPM2_ALG_ECDSA, bank, quote);
    v1::Evidence e;
    e.set_agent_uuid(uuid_);
    e.set_challenge_token(token);
    e.mutable_quote()->set_attest(std::string(quote.begin(), quote.end()));
    e.mutable_quote()->set_signature(std::string(sig.begin(), sig.end()));
    auto* pcrs = e.mutable_quote()->add_pcrs();
    pcrs->set_hash_algorithm(bank == TPM2_ALG_SHA1 ? v1::HASH_ALGORITHM_SHA1
                                                   : v1::HASH_ALGORITHM_SHA256);
    for (const auto& [pcr, v] : values[bank]) {
      (*pcrs->mutable_values())[pcr] = std::string(v.begin(), v.end());
    }
    auto* ima = e.mutable_ima();
    ima->set_start_offset(from);
    ima->set_entry_count(to - from);
    ima->set_format(v1::IMA_LOG_FORMAT_ASCII);
    ima->set_data(verifier::test::AsciiSlice(log_, from, to));
    e.mutable_boot_time()->set_seconds(boot_time_);
    return e;
  }

 private:
  std::string uuid_ = worker::test::RandomUuid();
  attest::testing::SoftAk ak_;
  attest::testing::SoftClock clock_;
  ima::Log log_;
  int64_t boot_time_ = 1'700'000'000;
};

}  // namespace attest::probes
