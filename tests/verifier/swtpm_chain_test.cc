// The whole chain on a real (software) TPM: the Keylime UEFI log and IMA
// entries are extended into swtpm's PCRs, swtpm quotes them with an AK made
// by our ESAPI code, and VerifyEvidence judges quote -> log -> policy.
//
// PCR 0: the Keylime log has a StartupLocality event declaring locality 3
// (PCR 0 starts at 00..03), while swtpm is started (TPM2_Startup) at locality
// 0 by the harness, so PCR 0 starts at zero. The test sets the event's
// locality byte to 0, i.e. uses the log this machine would really produce;
// every PCR 0-7, PCR 0 included, is then reproduced and checked.
#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "common/esys/context.h"
#include "common/esys/keys.h"
#include "common/esys/pcr.h"
#include "common/esys/quote.h"
#include "common/eventlog/event_log.h"
#include "common/eventlog/policy.h"
#include "tests/harness/swtpm/swtpm.h"
#include "tests/verifier/test_util.h"

namespace attest::verifier::test {
namespace {

const tpm::Bytes kTpmNonce = {0xa1, 0xb2, 0xc3, 0xd4, 0x01, 0x02, 0x03, 0x04,
                              0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c};

class SwtpmChainTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ctx = esys::EsysContext::Open(swtpm_.tcti());
    ASSERT_TRUE(ctx.ok()) << ctx.error().message;
    ctx_.emplace(std::move(*ctx));
    LoadAk();
  }

  void LoadAk() {
    auto ek = esys::CreateEk(*ctx_, esys::KeyType::kEccP256);
    ASSERT_TRUE(ek.ok()) << ek.error().message;
    auto ak = esys::LoadOrCreateAk(*ctx_, *ek, swtpm_.dir() / "ak.key", esys::KeyType::kEccP256,
                                   esys::SigScheme::kEcdsa);
    ASSERT_TRUE(ak.ok()) << ak.error().message;
    auto cached = AttestationKey::FromTpm2bPublic(ak->public_bytes);
    ASSERT_TRUE(cached.ok()) << cached.error().message;
    agent_.ak = *cached;
    ak_.emplace(std::move(*ak));  // the EK is flushed here, the AK stays loaded
  }

  void Reboot() {
    ak_.reset();
    ctx_.reset();
    swtpm_.Restart();
    auto ctx = esys::EsysContext::Open(swtpm_.tcti());
    ASSERT_TRUE(ctx.ok()) << ctx.error().message;
    ctx_.emplace(std::move(*ctx));
    LoadAk();
  }

  void Extend(uint32_t pcr, TPMI_ALG_HASH bank, std::span<const uint8_t> digest) {
    auto r = esys::ExtendPcr(*ctx_, pcr, bank, std::vector<uint8_t>(digest.begin(), digest.end()));
    ASSERT_TRUE(r.ok()) << r.error().message;
  }

  // Extends every measured event of the log (all banks swtpm has).
  void ExtendLog(const eventlog::EventLog& log) {
    for (const auto& e : log.events) {
      if (e.index == 0 || e.type == eventlog::ev::kNoAction) continue;
      for (const auto& d : e.digests) {
        if (d.alg_id == eventlog::alg::kSha1 || d.alg_id == eventlog::alg::kSha256) {
          Extend(e.pcr, d.alg_id, d.value);
        }
      }
    }
  }

  void ExtendIma(const ima::Log& log, size_t from, size_t to) {
    ima::Hasher h;
    for (size_t i = from; i < to; ++i) {
      const auto& e = log.entries[i];
      for (auto [bank, alg] : {std::pair{TPM2_ALG_SHA1, ima::HashAlg::kSha1},
                               std::pair{TPM2_ALG_SHA256, ima::HashAlg::kSha256}}) {
        auto d = e.IsViolation() ? ima::Digest::Filled(ima::DigestSize(alg), 0xff)
                                 : h.Hash(alg, ima::AsBytes(e.data));
        Extend(10, bank, d.view());
      }
    }
  }

  // Quotes sha256 PCRs `indexes` and reads their values, as an agent does.
  struct TpmQuote {
    esys::QuoteResult quote;
    tpm::PcrValues pcrs;
    Evidence MakeEvidence() const {
      Evidence ev;
      ev.quote = quote.attest;
      ev.signature = quote.signature;
      ev.pcrs = pcrs;
      return ev;
    }
  };
  TpmQuote Quote(const std::vector<uint32_t>& indexes) {
    // The TPM clock counts milliseconds: two quotes within one are (rightly)
    // a replay of each other.
    std::this_thread::sleep_for(std::chrono::milliseconds(3));
    TpmQuote out;
    auto q = esys::Quote(*ctx_, *ak_, kTpmNonce, TPM2_ALG_SHA256, indexes);
    EXPECT_TRUE(q.ok()) << q.error().message;
    if (q.ok()) out.quote = std::move(*q);
    auto values = esys::ReadPcrs(*ctx_, TPM2_ALG_SHA256, indexes);
    EXPECT_TRUE(values.ok()) << values.error().message;
    if (values.ok()) {
      for (const auto& v : *values) out.pcrs[TPM2_ALG_SHA256][v.index] = v.digest;
    }
    return out;
  }

  Verdict Run(const Evidence& ev, const AgentState& st) {
    return VerifyEvidence(ev, kTpmNonce, agent_, st, 1'700'000'000);
  }

  attest::testing::Swtpm swtpm_;
  std::optional<esys::EsysContext> ctx_;
  std::optional<esys::Key> ak_;
  Agent agent_;
};

// PCR 8: the generated reference state judges GRUB's kernel command line.
const std::vector<uint32_t> kBootAndIma = {0, 1, 2, 3, 4, 5, 6, 7, 8, 10};

TEST_F(SwtpmChainTest, UefiLogQuoteAndReferenceState) {
  std::string raw = attest::testing::ReadFile(KeylimeDir() / "uefi" / "binary_bios_measurements");
  tpm::Bytes bytes(raw.begin(), raw.end());
  {
    auto original = eventlog::ParseEventLog(bytes);
    ASSERT_TRUE(original.ok()) << original.error().message;
    const auto& loc = original->events.at(1);
    ASSERT_TRUE(loc.startup_locality.has_value());
    ASSERT_EQ(loc.data.size(), 17u);  // "StartupLocality\0" + locality
    bytes.at(loc.data_offset + 16) = 0;
  }
  auto log = eventlog::ParseEventLog(bytes);
  ASSERT_TRUE(log.ok()) << log.error().message;
  ASSERT_EQ(log->events.at(1).startup_locality, 0);
  ExtendLog(*log);
  agent_.policies.measured_boot =
      std::make_shared<eventlog::ReferenceState>(eventlog::GenerateReferenceState(*log));

  // First attestation without the log: the verifier asks for it.
  auto q0 = Quote(kBootAndIma);
  auto v0 = Run(q0.MakeEvidence(), {});
  ASSERT_EQ(v0.result, Outcome::kLogRequested) << Describe(v0);
  EXPECT_TRUE(v0.uefi_log_requested);

  auto q1 = Quote(kBootAndIma);
  auto ev1 = q1.MakeEvidence();
  ev1.uefi_log = bytes;
  auto v1 = Run(ev1, v0.new_state);
  ASSERT_EQ(v1.result, Outcome::kPass) << Describe(v1);
  EXPECT_TRUE(v1.new_state.boot_log_accepted);
  EXPECT_GT(v1.stats.uefi_events, 100u);

  // One boot application's sha256 digest altered in the log.
  const eventlog::Event* app = nullptr;
  for (const auto& e : log->events) {
    if (e.type == eventlog::ev::kEfiBootServicesApplication && e.pcr == 4) {
      app = &e;
      break;
    }
  }
  ASSERT_NE(app, nullptr);
  tpm::Bytes tampered = bytes;
  size_t off = app->offset + 12;  // pcrIndex, eventType, digest count
  for (const auto& d : app->digests) {
    off += 2;
    if (d.alg_id == eventlog::alg::kSha256) tampered.at(off) ^= 0x01;
    off += d.value.size();
  }
  auto q2 = Quote(kBootAndIma);
  auto ev2 = q2.MakeEvidence();
  ev2.uefi_log = tampered;
  auto v2 = Run(ev2, v1.new_state);
  EXPECT_EQ(v2.result, Outcome::kFail);
  const Failure* pcr = Find(v2, "measured_boot.invalid_pcr_4");
  ASSERT_NE(pcr, nullptr) << Describe(v2);
  EXPECT_EQ(Context(*pcr)["pcr"], 4);
  auto events = Context(*pcr)["events"];
  EXPECT_NE(std::find(events.begin(), events.end(), app->index), events.end()) << events;
  // The altered digest is not what the TPM measured: PCR 4's events are not
  // judged (issue 17.1), the boot application check says it cannot read them.
  EXPECT_EQ(Find(v2, "measured_boot.policy.boot_application"), nullptr) << Describe(v2);
  const Failure* unread = Find(v2, "measured_boot.pcr_not_verified");
  ASSERT_NE(unread, nullptr) << Describe(v2);
  EXPECT_EQ(Context(*unread)["pcr"], 4);
  EXPECT_EQ(Context(*unread)["component"], "boot_application");
  for (uint32_t other : {0, 1, 2, 3, 5, 6, 7}) {
    EXPECT_EQ(Find(v2, "measured_boot.invalid_pcr_" + std::to_string(other)), nullptr);
  }

  // A reboot (swtpm restart: resetCount + 1): the log is needed again.
  Reboot();
  ExtendLog(*log);
  auto q3 = Quote(kBootAndIma);
  auto v3 = Run(q3.MakeEvidence(), v1.new_state);
  EXPECT_EQ(v3.result, Outcome::kLogRequested) << Describe(v3);
  EXPECT_TRUE(v3.reboot);
  auto q4 = Quote(kBootAndIma);
  auto ev4 = q4.MakeEvidence();
  ev4.uefi_log = bytes;
  auto v4 = Run(ev4, v3.new_state);
  EXPECT_EQ(v4.result, Outcome::kPass) << Describe(v4);
  EXPECT_FALSE(v4.reboot);

  // And the replay of an accepted quote is rejected.
  auto v5 = Run(ev4, v4.new_state);
  EXPECT_EQ(v5.result, Outcome::kRejected) << Describe(v5);
}

TEST_F(SwtpmChainTest, ImaIncrementalAgainstRuntimePolicy) {
  ima::Log log = KeylimeImaLog();
  ASSERT_GE(log.entries.size(), 40u);
  ima::Log known;
  known.template_hash_alg = log.template_hash_alg;
  known.entries.assign(log.entries.begin(), log.entries.begin() + 40);
  auto policy = std::make_shared<CompiledRuntimePolicy>();
  policy->policy = ima::GeneratePolicy(known);
  agent_.policies.runtime = policy;

  ExtendIma(log, 0, 40);
  std::string first = AsciiSlice(log, 0, 40);
  auto q1 = Quote({10});
  auto ev1 = q1.MakeEvidence();
  ev1.ima = ImaEvidence{first, ima::Format::kAscii, 0, 40, {}, {}};
  auto v1 = Run(ev1, {});
  ASSERT_EQ(v1.result, Outcome::kPass) << Describe(v1);
  EXPECT_EQ(v1.new_state.ima_next_offset, 40u);
  EXPECT_EQ(v1.new_state.ima_pcr, q1.pcrs[TPM2_ALG_SHA256][10]);

  // Round two: one entry outside the policy, sent from the stored offset.
  tpm::Bytes digest(32, 0x5a);
  auto evil = ima::MakeEntry(ima::Template::kImaNg, "sha256", digest, "/tmp/evil");
  ASSERT_TRUE(evil.ok());
  ima::Hasher h;
  evil->template_hash = h.Hash(ima::HashAlg::kSha1, ima::AsBytes(evil->data));
  known.entries.push_back(*evil);
  ExtendIma(known, 40, 41);
  std::string second = AsciiSlice(known, 40, 41);
  auto q2 = Quote({10});
  auto ev2 = q2.MakeEvidence();
  ev2.ima = ImaEvidence{second, ima::Format::kAscii, v1.new_state.ima_next_offset, 1, {}, {}};
  auto v2 = Run(ev2, v1.new_state);
  EXPECT_EQ(v2.result, Outcome::kFail);
  const Failure* f = Find(v2, "ima.validation.ima-ng.not_in_allowlist");
  ASSERT_NE(f, nullptr) << Describe(v2);
  EXPECT_EQ(Context(*f)["entry"], 40);
  EXPECT_EQ(Context(*f)["path"], "/tmp/evil");
  EXPECT_EQ(v2.stats.ima_entries_checked, 1u);
  EXPECT_EQ(Find(v2, "ima.pcr_mismatch"), nullptr) << Describe(v2);
  EXPECT_EQ(v2.new_state.ima_next_offset, 41u);
}

}  // namespace
}  // namespace attest::verifier::test
