// A software TPM stand-in for pure verifier tests: sha256 PCRs that can be
// extended, TPM clock/counters, and quotes signed like a TPM by a software AK
// (tests/quote/soft_quote.h).
#pragma once

#include <string>
#include <vector>

#include "common/verifier/verifier.h"
#include "tests/quote/soft_quote.h"

namespace attest::verifier::test {

struct Quoted {
  tpm::Bytes quote;
  tpm::Bytes signature;
  tpm::PcrValues pcrs;

  // Evidence viewing this quote (keep *this alive while it is used).
  Evidence MakeEvidence() const {
    Evidence ev;
    ev.quote = quote;
    ev.signature = signature;
    ev.pcrs = pcrs;
    return ev;
  }
};

class SoftTpm {
 public:
  explicit SoftTpm(bool ecc = true)
      : ak_(ecc ? attest::testing::MakeEccAk() : attest::testing::MakeRsaAk()), ecc_(ecc) {
    Reset();
  }

  std::shared_ptr<const AttestationKey> Ak() const {
    auto k = AttestationKey::FromPublic(ak_.pub);
    if (!k) throw std::runtime_error(k.error().message);
    return *k;
  }
  const TPMT_PUBLIC& public_area() const { return ak_.pub; }

  void Set(uint32_t pcr, tpm::Bytes value) { pcrs_[pcr] = std::move(value); }
  const tpm::Bytes& Get(uint32_t pcr) const { return pcrs_.at(pcr); }
  void Extend(uint32_t pcr, const tpm::Bytes& digest) {
    tpm::Bytes concat = pcrs_[pcr];
    concat.insert(concat.end(), digest.begin(), digest.end());
    pcrs_[pcr] = *tpm::Hash(TPM2_ALG_SHA256, concat);
  }
  // A TPM reset: PCRs zero, resetCount + 1 (the clock keeps running).
  void Reboot() {
    Reset();
    ++clock_.reset_count;
  }
  void AdvanceClock(uint64_t ms) { clock_.clock += ms; }
  void SetClockSafe(bool safe) { clock_.safe = safe; }

  // Quotes sha256 PCRs `indexes` with `nonce`; the clock advances first.
  Quoted Quote(const tpm::Bytes& nonce, std::initializer_list<uint32_t> indexes) {
    clock_.clock += 1000;
    auto sel = attest::testing::Selection(TPM2_ALG_SHA256, indexes);
    tpm::PcrValues values;
    for (uint32_t i : indexes) values[TPM2_ALG_SHA256][i] = pcrs_.at(i);
    Quoted q;
    q.quote = attest::testing::MakeQuote(nonce, sel, values, TPM2_ALG_SHA256, clock_);
    q.signature = attest::testing::SignLikeTpm(ak_, ecc_ ? TPM2_ALG_ECDSA : TPM2_ALG_RSASSA,
                                               TPM2_ALG_SHA256, q.quote);
    q.pcrs = std::move(values);
    return q;
  }

 private:
  void Reset() {
    for (uint32_t i = 0; i < 24; ++i) pcrs_[i] = tpm::Bytes(32, 0);
  }

  attest::testing::SoftAk ak_;
  bool ecc_;
  attest::testing::SoftClock clock_;
  std::map<uint32_t, tpm::Bytes> pcrs_;
};

inline const tpm::Bytes kNonce = {0x6e, 0x6f, 0x6e, 0x63, 0x65, 0x2d, 0x31, 0x32,
                                  0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30};

}  // namespace attest::verifier::test
