// Forwarding header: the software TPM now lives in tools/simtpm (shared with
// attest-bench). This keeps the verifier and worker tests' names: SoftTpm
// (throws std::runtime_error on failure, test code only), Quoted, kNonce.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

#include "common/verifier/verifier.h"
#include "tools/simtpm/sim_tpm.h"

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

template <typename T>
T OrThrow(Result<T> r) {
  if (!r) throw std::runtime_error(r.error().message);
  return std::move(*r);
}

class SoftTpm : public simtpm::SimTpm {
 public:
  explicit SoftTpm(bool ecc = true)
      : SimTpm(OrThrow(ecc ? simtpm::MakeEccAk() : simtpm::MakeRsaAk())) {}

  using SimTpm::Extend;
  using SimTpm::Get;
  using SimTpm::public_area;
  using SimTpm::Reboot;
  using SimTpm::Set;

  std::shared_ptr<const AttestationKey> Ak() const {
    return OrThrow(AttestationKey::FromPublic(public_area()));
  }
  void AdvanceClock(uint64_t ms) { clock().clock += ms; }
  void SetClockSafe(bool safe) { clock().safe = safe; }

  // Quotes sha256 PCRs `indexes` with `nonce`; the clock advances first.
  Quoted Quote(const tpm::Bytes& nonce, std::initializer_list<uint32_t> indexes) {
    auto q = OrThrow(QuotePcrs(nonce, indexes));
    return Quoted{std::move(q.attest), std::move(q.signature), std::move(q.pcrs)};
  }
};

inline const tpm::Bytes kNonce = {0x6e, 0x6f, 0x6e, 0x63, 0x65, 0x2d, 0x31, 0x32,
                                  0x33, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x30};

}  // namespace attest::verifier::test
