// Reboot on a real TPM: an agent whose quotes come from swtpm (the agent's
// own TPM code, agent/tpm.h) passes, then swtpm is power-cycled with its
// state kept (resetCount moves, PCRs reset) and the IMA list starts again;
// the next evidence is verified as a reboot: PASS with the new boot, IMA state
// reset, UEFI log asked for. (The software-quote variant is in worker_test.cc.)
#include <gtest/gtest.h>

#include "agent/tpm.h"
#include "common/esys/context.h"
#include "common/esys/pcr.h"
#include "tests/harness/swtpm/swtpm.h"
#include "tests/worker/worker_test_base.h"

namespace attest::worker::test {
namespace {

// An agent on swtpm: ECC EK and ECDSA AK (fast to create), the AK saved in
// the swtpm's temp dir so it survives the power cycle like the real agent's.
struct SwtpmAgent {
  std::string uuid = RandomUuid();
  attest::testing::Swtpm swtpm;
  ima::Log log = verifier::test::KeylimeImaLog();
  size_t extended = 0;
  int64_t boot_time = 1'700'000'000;

  std::unique_ptr<agent::AgentTpm> Open() {
    agent::TpmOptions o;
    o.tcti = swtpm.tcti();
    o.ek_type = "ecc";
    o.ak_type = "ecc";
    o.ak_path = swtpm.dir() / "ak.bin";
    auto t = agent::AgentTpm::Open(o);
    if (!t) throw std::runtime_error("agent tpm: " + t.error().message);
    return std::move(*t);
  }
  std::string ak_public() {
    auto tpm = Open();
    const auto& b = tpm->ak_public();
    return std::string(b.begin(), b.end());
  }
  // Extends entries [extended, n) into PCR 10 of the SHA-256 bank (one ESAPI
  // context at a time: swtpm serves one connection).
  void ExtendTo(size_t n) {
    auto ctx = esys::EsysContext::Open(swtpm.tcti());
    if (!ctx) throw std::runtime_error(ctx.error().message);
    for (; extended < n; ++extended) {
      auto r = esys::ExtendPcr(*ctx, 10, TPM2_ALG_SHA256, ImaPcrDigest(log.entries[extended]));
      if (!r) throw std::runtime_error(r.error().message);
    }
  }
  // Power cycle: same persistent state, volatile state (PCRs) lost.
  void Reboot() {
    swtpm.Restart();
    extended = 0;
    boot_time += 3600;
  }
  std::string Envelope(const token::KeySet& keys, uint64_t from) {
    return MakeEnvelope(keys, uuid, from, log, extended, boot_time,
                        [&](const std::string& nonce, v1::Quote* out) {
                          google::protobuf::RepeatedPtrField<v1::PcrSelection> sel;
                          auto* s = sel.Add();
                          s->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
                          s->add_pcrs(10);
                          auto q = Open()->Quote(agent::Bytes(nonce.begin(), nonce.end()), sel);
                          if (!q) throw std::runtime_error("quote: " + q.error().message);
                          *out = std::move(*q);
                        });
  }
};

using SwtpmRebootTest = WorkerTest;

TEST_F(SwtpmRebootTest, PowerCycledSwtpmPassesAsARebootWithImaStateReset) {
  StartWorker();
  SwtpmAgent a;
  EnrolAgent(*db_, a.uuid, a.ak_public(), RuntimePolicyFor(a.log, 30));
  a.ExtendTo(30);
  Send(a.uuid, a.Envelope(keys_set_, 0));
  auto first = collector_->WaitVerdict(a.uuid, 1);
  ASSERT_TRUE(first);
  ASSERT_EQ(first->result(), v1::VERDICT_RESULT_PASS) << first->DebugString();
  EXPECT_FALSE(first->reboot());
  auto before = AgentRow(a.uuid);
  EXPECT_EQ(before[2].as<int64_t>(), 30);  // ima offset
  const int64_t reset_before = before[4].as<int64_t>();
  ASSERT_GE(reset_before, 0);

  a.Reboot();
  a.ExtendTo(25);  // the IMA list of the new boot
  Send(a.uuid, a.Envelope(keys_set_, 0));
  auto v = collector_->WaitVerdict(a.uuid, 2);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->result(), v1::VERDICT_RESULT_PASS) << v->DebugString();
  EXPECT_TRUE(v->reboot());
  EXPECT_EQ(v->previous_state(), v1::AGENT_STATE_PASS);
  EXPECT_EQ(v->state(), v1::AGENT_STATE_PASS);
  auto row = AgentRow(a.uuid);
  EXPECT_EQ(row[0].as<std::string>(), "PASS");
  EXPECT_EQ(row[2].as<int64_t>(), 25);                // IMA state of the new boot
  EXPECT_EQ(row[4].as<int64_t>(), reset_before + 1);  // resetCount from the TPM
  EXPECT_TRUE(row[5].as<bool>());                     // UEFI log asked for (none sent)

  // The new boot continues incrementally.
  a.ExtendTo(30);
  Send(a.uuid, a.Envelope(keys_set_, 25));
  auto v3 = collector_->WaitVerdict(a.uuid, 3);
  ASSERT_TRUE(v3);
  EXPECT_EQ(v3->result(), v1::VERDICT_RESULT_PASS) << v3->DebugString();
  EXPECT_FALSE(v3->reboot());
  EXPECT_EQ(AgentRow(a.uuid)[2].as<int64_t>(), 30);
}

}  // namespace
}  // namespace attest::worker::test
