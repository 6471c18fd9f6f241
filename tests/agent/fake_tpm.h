// A fake of the agent's TPM (agent::AgentTpm) for tests that drive the
// agent's steps without swtpm: a fixed identity, quotes that carry the nonce
// and zero PCR values of the selection (no signature a verifier would
// accept), and failures on demand. FakeTpmControl::Opener() is the
// TpmOpener to pass to Agent::Create; every object it opens shares the
// control's counters, so a test sees the reopen after a TPM failure.
//
// Thread-safety: FakeTpmControl's members may be called from any thread;
// a FakeTpm is used under the agent's TPM lock.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "agent/errors.h"
#include "agent/tpm.h"

namespace attest::testing {

class FakeTpmControl : public std::enable_shared_from_this<FakeTpmControl> {
 public:
  static std::shared_ptr<FakeTpmControl> Make() { return std::make_shared<FakeTpmControl>(); }

  // The next `n` quotes fail with errc::tpm_error.
  void FailQuotes(int n) {
    std::lock_guard lock(mu_);
    fail_quotes_ = n;
  }
  int opens() const {
    std::lock_guard lock(mu_);
    return opens_;
  }
  int quotes() const {
    std::lock_guard lock(mu_);
    return quotes_;
  }

  agent::TpmOpener Opener();

 private:
  friend class FakeTpm;
  mutable std::mutex mu_;
  int opens_ = 0;
  int quotes_ = 0;
  int fail_quotes_ = 0;
};

class FakeTpm final : public agent::AgentTpm {
 public:
  explicit FakeTpm(std::shared_ptr<FakeTpmControl> control) : control_(std::move(control)) {}

  const agent::Bytes& ek_public() const override { return ek_public_; }
  const agent::Bytes& ek_cert() const override { return ek_cert_; }
  const agent::Bytes& ak_public() const override { return ak_public_; }
  const agent::Bytes& ak_name() const override { return ak_name_; }
  v1::SignatureScheme signature_scheme() const override { return v1::SIGNATURE_SCHEME_ECDSA; }
  const std::vector<v1::HashAlgorithm>& active_banks() const override { return banks_; }

  Result<agent::Bytes> Activate(const agent::Bytes&, const agent::Bytes&) override {
    return MakeError(agent::errc::tpm_error, "the fake TPM does not activate credentials");
  }

  Result<v1::Quote> Quote(
      const agent::Bytes& nonce,
      const google::protobuf::RepeatedPtrField<v1::PcrSelection>& selection) override {
    {
      std::lock_guard lock(control_->mu_);
      ++control_->quotes_;
      if (control_->fail_quotes_ > 0) {
        --control_->fail_quotes_;
        return MakeError(agent::errc::tpm_error, "fake TPM failure");
      }
    }
    v1::Quote q;
    q.set_attest("fake-attest:" + std::string(nonce.begin(), nonce.end()));
    q.set_signature("fake-signature");
    for (const auto& s : selection) {
      v1::PcrBank* bank = q.add_pcrs();
      bank->set_hash_algorithm(s.hash_algorithm());
      for (uint32_t pcr : s.pcrs()) (*bank->mutable_values())[pcr] = std::string(32, '\0');
    }
    return q;
  }

 private:
  std::shared_ptr<FakeTpmControl> control_;
  agent::Bytes ek_public_{'e', 'k'};
  agent::Bytes ek_cert_;
  agent::Bytes ak_public_{'a', 'k'};
  agent::Bytes ak_name_{0x00, 0x0b, 0xaa, 0xbb};
  std::vector<v1::HashAlgorithm> banks_{v1::HASH_ALGORITHM_SHA256};
};

inline agent::TpmOpener FakeTpmControl::Opener() {
  return [self = shared_from_this()](
             const agent::TpmOptions&) -> Result<std::unique_ptr<agent::AgentTpm>> {
    std::lock_guard lock(self->mu_);
    ++self->opens_;
    return std::unique_ptr<agent::AgentTpm>(new FakeTpm(self));
  };
}

}  // namespace attest::testing
