// Arbitrary evidence through VerifyEvidence with a fixed AK and fixed
// policies (runtime policy, measured-boot reference state, PCR policy).
// Two modes, chosen by the first byte:
//  - raw: quote, signature and PCR values straight from the input (the
//    parsers and the quote checks see hostile bytes);
//  - signed: a quote over fuzzed PCR values and clock, signed with the fixed
//    AK, so the IMA list, the UEFI log and the stored state (all fuzzed) are
//    reached past the quote check.
// The verdict must be consistent: REJECTED/FAIL keep the stored state.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdlib>

#include "common/verifier/verifier.h"
#include "tests/quote/soft_quote.h"

namespace {

using namespace attest;

struct Setup {
  testing::SoftAk ak = testing::MakeEccAk();
  verifier::Agent agent;

  Setup() {
    auto key = verifier::AttestationKey::FromPublic(ak.pub);
    if (!key) std::abort();
    agent.ak = *key;
    auto runtime = std::make_shared<verifier::CompiledRuntimePolicy>();
    runtime->policy.AddDigest("/bin/sh", tpm::Bytes(32, 1));
    runtime->policy.AddDigest("boot_aggregate", tpm::Bytes(20, 0));
    agent.policies.runtime = runtime;
    auto ref = std::make_shared<eventlog::ReferenceState>();
    ref->secureboot_required = true;
    ref->boot_applications = std::vector<eventlog::RefEntry>{{std::string(64, 'a'), ""}};
    agent.policies.measured_boot = ref;
    auto pcr = std::make_shared<checks::PcrPolicy>();
    pcr->allowed[TPM2_ALG_SHA256][0] = {tpm::Bytes(32, 0)};
    agent.policies.pcr = pcr;
  }
};

tpm::Bytes Take(FuzzedDataProvider& p, size_t max) {
  return p.ConsumeBytes<uint8_t>(p.ConsumeIntegralInRange<size_t>(0, max));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Setup setup;
  FuzzedDataProvider p(data, size);
  const bool signed_mode = p.ConsumeBool();
  const tpm::Bytes nonce = Take(p, 64);

  verifier::AgentState stored;
  if (p.ConsumeBool()) {
    stored.clock = checks::ClockState{p.ConsumeIntegral<uint64_t>(), p.ConsumeIntegral<uint32_t>(),
                                      p.ConsumeIntegral<uint32_t>(), p.ConsumeBool()};
  }
  if (p.ConsumeBool()) stored.boot_time = p.ConsumeIntegral<int64_t>();
  stored.boot_log_accepted = p.ConsumeBool();
  stored.boot_pcr_digest = Take(p, 40);
  stored.ima_next_offset = p.ConsumeIntegralInRange<uint64_t>(0, 1000);
  stored.ima_bank = p.PickValueInArray<TPMI_ALG_HASH>(
      {TPM2_ALG_SHA1, TPM2_ALG_SHA256, TPM2_ALG_SHA384, TPM2_ALG_SM3_256});
  stored.ima_pcr = Take(p, 70);

  // PCR values: sha256 (and sometimes sha1) PCRs from a fuzzed mask.
  tpm::PcrValues pcrs;
  const uint32_t mask = p.ConsumeIntegral<uint32_t>() & 0xffffff;
  for (uint32_t i = 0; i < 24; ++i) {
    if ((mask & (1u << i)) == 0) continue;
    pcrs[TPM2_ALG_SHA256][i] =
        p.ConsumeBool() ? Take(p, 40) : tpm::Bytes(32, static_cast<uint8_t>(i));
  }
  if (p.ConsumeBool()) pcrs[TPM2_ALG_SHA1][10] = Take(p, 24);

  tpm::Bytes quote, signature;
  if (signed_mode) {
    TPML_PCR_SELECTION sel{};
    sel.count = 1;
    sel.pcrSelections[0].hash = TPM2_ALG_SHA256;
    sel.pcrSelections[0].sizeofSelect = 3;
    tpm::PcrValues quoted;
    for (const auto& [i, v] : pcrs[TPM2_ALG_SHA256]) {
      if (v.size() != 32) continue;
      sel.pcrSelections[0].pcrSelect[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
      quoted[TPM2_ALG_SHA256][i] = v;
    }
    pcrs = quoted;
    testing::SoftClock clock{p.ConsumeIntegral<uint64_t>(), p.ConsumeIntegral<uint32_t>(),
                             p.ConsumeIntegral<uint32_t>(), p.ConsumeBool()};
    quote = testing::MakeQuote(nonce, sel, pcrs, TPM2_ALG_SHA256, clock);
    signature = testing::SignLikeTpm(setup.ak, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, quote);
  } else {
    quote = Take(p, 2048);
    signature = Take(p, 1024);
  }

  verifier::Evidence ev;
  ev.quote = quote;
  ev.signature = signature;
  ev.pcrs = pcrs;
  if (p.ConsumeBool()) ev.boot_time = p.ConsumeIntegral<int64_t>();
  std::string ima_bytes;
  tpm::Bytes uefi;
  const bool with_ima = p.ConsumeBool();
  const bool with_uefi = p.ConsumeBool();
  verifier::ImaEvidence ima;
  ima.format = p.ConsumeBool() ? ima::Format::kBinary : ima::Format::kAscii;
  ima.start_offset = p.ConsumeIntegralInRange<uint64_t>(0, 1000);
  if (p.ConsumeBool()) ima.entry_count = p.ConsumeIntegralInRange<uint64_t>(0, 100);
  if (with_uefi) {
    uefi = Take(p, p.remaining_bytes() / 2);
    ev.uefi_log = uefi;
  }
  if (with_ima) {
    ima_bytes = p.ConsumeRemainingBytesAsString();
    ima.entries = ima_bytes;
    ev.ima = ima;
  }

  auto v = verifier::VerifyEvidence(ev, nonce, setup.agent, stored, 12345);
  if (v.result == verifier::Outcome::kRejected &&
      v.new_state.ima_next_offset != stored.ima_next_offset) {
    std::abort();  // a rejected evidence must not change the state
  }
  if (v.result == verifier::Outcome::kPass && !v.failures.empty()) std::abort();
  return 0;
}
