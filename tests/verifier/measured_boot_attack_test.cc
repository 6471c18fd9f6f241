// Attacks on measured boot that a PCR replay alone does not catch (issue 17,
// point 1). Each test builds what a root attacker on the node can send: a UEFI
// log whose digests replay to exactly what the TPM measured (so the quote
// matches), with event types, PCR indexes or texts edited so that the
// reference-state checks would read something else. The "TPM" is a software
// TPM holding the replay of the log the firmware really measured; the verdict
// comes from VerifyEvidence, the worker's entry point.
#include <gtest/gtest.h>

#include <cstring>

#include "common/eventlog/event_log.h"
#include "common/eventlog/policy.h"
#include "common/eventlog/replay.h"
#include "tests/verifier/soft_tpm.h"
#include "tests/verifier/test_util.h"

namespace attest::verifier::test {
namespace {

namespace el = eventlog;
constexpr int64_t kNow = 1'700'000'000;

el::EventLog Parse(const tpm::Bytes& bytes) {
  auto log = el::ParseEventLog(bytes);
  if (!log) throw std::runtime_error(log.error().message);
  return std::move(*log);
}

void PutLe32(tpm::Bytes& b, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.at(at + i) = static_cast<uint8_t>(v >> (8 * i));
}

// Byte offset of the digest of `alg_id` in the event at `e`.
size_t DigestAt(const tpm::Bytes& b, const el::Event& e, uint16_t alg_id) {
  size_t pos = e.offset + 12;  // PCR index, event type, digest count
  for (const auto& d : e.digests) {
    const uint16_t id = static_cast<uint16_t>(b.at(pos) | b.at(pos + 1) << 8);
    if (id == alg_id) return pos + 2;
    pos += 2 + d.value.size();
  }
  throw std::runtime_error("no such digest");
}

const el::Event& First(const el::EventLog& log, uint32_t pcr, uint32_t type) {
  for (const auto& e : log.events) {
    if (e.index != 0 && e.pcr == pcr && e.type == type) return e;
  }
  throw std::runtime_error("no such event");
}

tpm::Bytes FromBase64File(const std::filesystem::path& p) {
  auto b = el::Base64Decode(attest::testing::ReadFile(p));
  if (!b) throw std::runtime_error("bad base64");
  return *b;
}

// The index of the event `e` in `log` by variable name (last one).
const el::Event& Variable(const el::EventLog& log, const std::string& name) {
  const el::Event* found = nullptr;
  for (const auto& e : log.events) {
    if (e.variable && e.variable->name == name) found = &e;
  }
  if (found == nullptr) throw std::runtime_error("no variable " + name);
  return *found;
}

// Rewrites every digest of the event at `e` in `log` to the hash of `data`.
void SetDigests(tpm::Bytes& log, const el::Event& e, std::span<const uint8_t> data) {
  for (const auto& d : e.digests) {
    auto h = el::HashBytes(d.alg_id, data);
    if (!h) throw std::runtime_error("hash");
    std::memcpy(&log[DigestAt(log, e, d.alg_id)], h->data(), h->size());
  }
}

// Appends a copy of event `e` of `from` to `log`, in PCR `pcr`.
void AppendCopy(tpm::Bytes& log, const tpm::Bytes& from, const el::Event& e, uint32_t pcr) {
  const size_t at = log.size();
  log.insert(log.end(), from.begin() + static_cast<std::ptrdiff_t>(e.offset),
             from.begin() + static_cast<std::ptrdiff_t>(e.offset + e.size));
  PutLe32(log, at, pcr);
}

class MeasuredBootAttack : public ::testing::Test {
 protected:
  void SetUp() override { agent_.ak = tpm_.Ak(); }

  // The firmware measured `measured`; the agent sends `sent`; the reference
  // state was made from the known-good `good`. PCRs `quoted` (sha256).
  Verdict Attest(const tpm::Bytes& good, const tpm::Bytes& measured, const tpm::Bytes& sent,
                 std::initializer_list<uint32_t> quoted,
                 std::function<void(el::ReferenceState&)> edit_ref = {}) {
    auto ref = el::GenerateReferenceState(Parse(good));
    if (edit_ref) edit_ref(ref);
    agent_.policies.measured_boot = std::make_shared<el::ReferenceState>(std::move(ref));
    auto pcrs = el::Replay(Parse(measured));
    if (!pcrs) throw std::runtime_error(pcrs.error().message);
    for (const auto& [pcr, value] : pcrs->at(el::alg::kSha256)) tpm_.Set(pcr, value);
    quote_ = tpm_.Quote(kNonce, quoted);
    Evidence ev = quote_.MakeEvidence();
    ev.uefi_log = sent;
    return VerifyEvidence(ev, kNonce, agent_, {}, kNow);
  }

  static tpm::Bytes MbLog() { return FromBase64File(KeylimeDir() / "uefi" / "mb_log.b64"); }
  static tpm::Bytes KeylimeLog() {
    std::string s = attest::testing::ReadFile(KeylimeDir() / "uefi" / "binary_bios_measurements");
    return tpm::Bytes(s.begin(), s.end());
  }

  SoftTpm tpm_;
  Agent agent_;
  Quoted quote_;
};

const std::initializer_list<uint32_t> kBootAndIma = {0, 1, 2, 3, 4, 5, 6, 7, 10};
const std::initializer_list<uint32_t> kBootGrubAndIma = {0, 1, 2, 3, 4, 5, 6, 7, 8, 10};

TEST_F(MeasuredBootAttack, RealLogsPassAgainstTheirOwnReferenceState) {
  for (const auto& log : {MbLog(), KeylimeLog()}) {
    auto v = Attest(log, log, log, kBootGrubAndIma);
    EXPECT_EQ(v.result, Outcome::kPass) << Describe(v);
    EXPECT_TRUE(v.new_state.boot_log_accepted);
  }
}

// The attack: another first boot application (shim) in PCR 4, whose
// event is relabelled EV_POST_CODE so the boot-application check skips it.
TEST_F(MeasuredBootAttack, RetypedBootApplicationFails) {
  const tpm::Bytes good = MbLog();
  const el::EventLog log = Parse(good);
  const el::Event& shim = First(log, 4, el::ev::kEfiBootServicesApplication);
  tpm::Bytes measured = good;
  measured[DigestAt(measured, shim, el::alg::kSha256)] ^= 0x5a;  // a different bootloader
  {
    auto plain = Attest(good, measured, measured, kBootGrubAndIma);
    ASSERT_EQ(plain.result, Outcome::kFail);
    EXPECT_NE(Find(plain, "measured_boot.policy.boot_application"), nullptr) << Describe(plain);
  }
  tpm::Bytes sent = measured;
  PutLe32(sent, shim.offset + 4, el::ev::kPostCode);
  auto v = Attest(good, measured, sent, kBootGrubAndIma);
  ASSERT_EQ(v.result, Outcome::kFail) << Describe(v);
  const Failure* type = Find(v, "measured_boot.event_type_not_allowed");
  ASSERT_NE(type, nullptr) << Describe(v);
  EXPECT_EQ(Context(*type)["event"], shim.index);
  EXPECT_EQ(Context(*type)["pcr"], 4);
  // And the digest is still judged, whatever type the log gives it.
  EXPECT_NE(Find(v, "measured_boot.policy.boot_application"), nullptr) << Describe(v);
  EXPECT_FALSE(v.new_state.boot_log_accepted);
}

// The same boot application moved to PCR 2 (where boot applications from
// option ROMs go): the replay of PCRs 2 and 4 no longer matches the quote.
TEST_F(MeasuredBootAttack, BootApplicationMovedToAnotherPcrFails) {
  const tpm::Bytes good = MbLog();
  const el::EventLog good_log = Parse(good);
  const el::Event& shim = First(good_log, 4, el::ev::kEfiBootServicesApplication);
  tpm::Bytes measured = good;
  measured[DigestAt(measured, shim, el::alg::kSha256)] ^= 0x5a;
  tpm::Bytes sent = measured;
  PutLe32(sent, shim.offset, 2);
  auto v = Attest(good, measured, sent, kBootGrubAndIma);
  ASSERT_EQ(v.result, Outcome::kFail) << Describe(v);
  EXPECT_NE(Find(v, "measured_boot.invalid_pcr_4"), nullptr) << Describe(v);
  const Failure* unread = Find(v, "measured_boot.pcr_not_verified");
  ASSERT_NE(unread, nullptr) << Describe(v);
  EXPECT_EQ(Context(*unread)["component"], "boot_application");
}

// Firmware that booted with Secure Boot off measured SecureBoot=00 into PCR
// 7; the attacker appends a SecureBoot=01 event (digest = hash of its data)
// in a PCR the quote does not cover or the policy does not govern.
TEST_F(MeasuredBootAttack, SecureBootEventAppendedOutsidePcr7Fails) {
  const tpm::Bytes good = MbLog();
  const el::EventLog log = Parse(good);
  const el::Event* sb = nullptr;
  for (const auto& e : log.events) {
    if (e.variable && e.variable->name == "SecureBoot") sb = &e;
  }
  ASSERT_NE(sb, nullptr);
  // What the firmware measured: SecureBoot = 00.
  tpm::Bytes measured = good;
  measured[sb->data_offset + sb->data.size() - 1] = 0;
  {
    const el::EventLog measured_log = Parse(measured);
    const el::Event& off = measured_log.events[sb->index];
    auto h = el::HashBytes(el::alg::kSha256, off.data);
    ASSERT_TRUE(h.ok());
    std::memcpy(&measured[DigestAt(measured, off, el::alg::kSha256)], h->data(), h->size());
  }
  for (uint32_t pcr : {8u, 14u}) {
    SCOPED_TRACE("appended in PCR " + std::to_string(pcr));
    // The copy of the original SecureBoot=01 event, moved to `pcr`.
    tpm::Bytes sent = measured;
    sent.insert(sent.end(), good.begin() + static_cast<std::ptrdiff_t>(sb->offset),
                good.begin() + static_cast<std::ptrdiff_t>(sb->offset + sb->size));
    PutLe32(sent, measured.size(), pcr);
    ASSERT_EQ(Parse(sent).events.back().variable->data, tpm::Bytes{1});
    auto v = Attest(good, measured, sent, kBootAndIma, [](el::ReferenceState& r) {
      r.kernel_cmdlines.reset();  // PCR 8 is not quoted here
    });
    ASSERT_EQ(v.result, Outcome::kFail) << Describe(v);
    const Failure* f = Find(v, "measured_boot.policy.secureboot_disabled");
    ASSERT_NE(f, nullptr) << Describe(v);
    EXPECT_EQ(Context(*f)["event"], sb->index);
  }
}

// GRUB measured one kernel command line; the log shows the allowed text over
// the digest of another (the replay of PCR 8 matches the quote).
TEST_F(MeasuredBootAttack, EditedKernelCommandLineFails) {
  const tpm::Bytes good = MbLog();
  const el::EventLog log = Parse(good);
  const auto cmdlines = el::KernelCmdlines(log);
  ASSERT_FALSE(cmdlines.empty());
  const el::Event& e = log.events[cmdlines.front().first];
  tpm::Bytes sent = good;
  // The digest of "<allowed> init=/bin/sh", shown with the allowed text.
  const std::string measured = cmdlines.front().second + " init=/bin/sh";
  auto evil =
      el::HashBytes(el::alg::kSha256,
                    std::span(reinterpret_cast<const uint8_t*>(measured.data()), measured.size()));
  ASSERT_TRUE(evil.ok());
  std::memcpy(&sent[DigestAt(sent, e, el::alg::kSha256)], evil->data(), evil->size());
  auto v = Attest(good, sent, sent, kBootGrubAndIma);
  ASSERT_EQ(v.result, Outcome::kFail) << Describe(v);
  const Failure* f = Find(v, "measured_boot.event_digest_mismatch");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(Context(*f)["event"], e.index);
}

// A policy on the command line needs PCR 8 quoted and replayed: without it
// the text could be anything.
TEST_F(MeasuredBootAttack, CommandLinePolicyWithoutPcr8Fails) {
  const tpm::Bytes good = MbLog();
  auto v = Attest(good, good, good, kBootAndIma);
  ASSERT_EQ(v.result, Outcome::kFail) << Describe(v);
  const Failure* f = Find(v, "measured_boot.pcr_not_verified");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(Context(*f)["pcr"], 8);
  EXPECT_EQ(Context(*f)["component"], "kernel_cmdline");
}

// The reference state judges sha1 digests but only sha256 was quoted: the
// attacker keeps the allowed sha1 digest of the boot application and the
// sha256 digest of what really ran.
TEST_F(MeasuredBootAttack, PolicyBankThatWasNotQuotedFails) {
  const tpm::Bytes good = KeylimeLog();
  const el::EventLog log = Parse(good);
  const el::Event& app = First(log, 4, el::ev::kEfiBootServicesApplication);
  tpm::Bytes sent = good;
  sent[DigestAt(sent, app, el::alg::kSha256)] ^= 0x5a;  // what ran; sha1 left as allowed
  // A reference state in sha1, made from the known-good log.
  auto v = Attest(good, sent, sent, kBootGrubAndIma, [&log](el::ReferenceState& r) {
    r.digest_alg = el::alg::kSha1;
    r.firmware_blobs.reset();
    r.boot_applications.emplace();
    for (const auto& e : log.events) {
      if (e.pcr == 4 && e.type == el::ev::kEfiBootServicesApplication) {
        r.boot_applications->push_back({el::ToHex(e.DigestFor(el::alg::kSha1)->value), ""});
      }
    }
  });
  ASSERT_EQ(v.result, Outcome::kFail) << Describe(v);
  const Failure* f = Find(v, "measured_boot.pcr_not_verified");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(Context(*f)["bank"], "sha1");
}

// Root extends PCR 7 at run time (static PCRs take extends from locality 0)
// with a SecureBoot=01 event and appends it to the log: the replay matches,
// the event's digest is the hash of its data. Firmware measures Secure Boot
// state before PCR 7's separator, so only that one counts.
TEST_F(MeasuredBootAttack, SecureBootEventExtendedIntoPcr7AtRunTimeFails) {
  const tpm::Bytes good = MbLog();
  const el::EventLog good_log = Parse(good);
  const el::Event& sb = Variable(good_log, "SecureBoot");
  tpm::Bytes off = good;
  off[sb.data_offset + sb.data.size() - 1] = 0;
  {
    const el::EventLog off_log = Parse(off);
    SetDigests(off, off_log.events[sb.index], off_log.events[sb.index].data);
  }
  tpm::Bytes sent = off;
  AppendCopy(sent, good, sb, 7);  // measured too: the replay matches
  auto v = Attest(good, sent, sent, kBootGrubAndIma);
  ASSERT_EQ(v.result, Outcome::kFail) << Describe(v);
  const Failure* after = Find(v, "measured_boot.event_after_separator");
  ASSERT_NE(after, nullptr) << Describe(v);
  EXPECT_EQ(Context(*after)["pcr"], 7);
  const Failure* f = Find(v, "measured_boot.policy.secureboot_disabled");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(Context(*f)["event"], sb.index);
}

// An old dbx (lacking a required revocation) measured by the firmware; root
// appends the current dbx to PCR 7 after the separator.
TEST_F(MeasuredBootAttack, DbxExtendedIntoPcr7AtRunTimeFails) {
  const tpm::Bytes good = MbLog();
  const el::EventLog log = Parse(good);
  const el::Event& dbx = Variable(log, "dbx");
  tpm::Bytes old = good;
  old[dbx.data_offset + dbx.data.size() - 1] ^= 0xff;  // another hash in the list
  {
    const el::EventLog old_log = Parse(old);
    SetDigests(old, old_log.events[dbx.index], old_log.events[dbx.index].data);
  }
  tpm::Bytes sent = old;
  AppendCopy(sent, good, dbx, 7);
  auto v = Attest(good, sent, sent, kBootGrubAndIma);
  ASSERT_EQ(v.result, Outcome::kFail) << Describe(v);
  EXPECT_NE(Find(v, "measured_boot.event_after_separator"), nullptr) << Describe(v);
  EXPECT_NE(Find(v, "measured_boot.policy.dbx_missing"), nullptr) << Describe(v);
}

// GRUB measured a command line the policy does not allow; root relabels
// that event (EV_EVENT_TAG) and extends PCR 8 with the allowed one.
TEST_F(MeasuredBootAttack, RelabelledCommandLineWithAnAllowedOneAppendedFails) {
  const tpm::Bytes good = MbLog();
  const el::EventLog log = Parse(good);
  const auto cmdlines = el::KernelCmdlines(log);
  ASSERT_FALSE(cmdlines.empty());
  const el::Event& e = log.events[cmdlines.front().first];
  const std::string text = *e.text;
  // Same length, another command line ("...quiet" -> "...quieT").
  tpm::Bytes evil = good;
  evil[e.data_offset + text.size() - 1] ^= 0x20;
  const el::EventLog evil_log = Parse(evil);
  const el::Event& evil_event = evil_log.events[e.index];
  const std::string evil_text = *evil_event.text;
  const std::string hashed = evil_text.substr(std::string("kernel_cmdline: ").size());
  SetDigests(evil, evil_event,
             std::span(reinterpret_cast<const uint8_t*>(hashed.data()), hashed.size()));
  {
    auto plain = Attest(good, evil, evil, kBootGrubAndIma);
    ASSERT_EQ(plain.result, Outcome::kFail);
    EXPECT_NE(Find(plain, "measured_boot.policy.kernel_cmdline"), nullptr) << Describe(plain);
  }
  tpm::Bytes sent = evil;
  PutLe32(sent, evil_event.offset + 4, 0x00000006);  // EV_EVENT_TAG
  AppendCopy(sent, good, e, 8);
  auto v = Attest(good, sent, sent, kBootGrubAndIma);
  ASSERT_EQ(v.result, Outcome::kFail) << Describe(v);
  const Failure* f = Find(v, "measured_boot.event_type_not_allowed");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(Context(*f)["event"], e.index);
}

// An option ROM driver in PCR 2 replaced: every code digest of PCR 2 is
// judged by firmware_blobs, whatever type the log gives it.
TEST_F(MeasuredBootAttack, ReplacedOptionRomDriverFails) {
  const tpm::Bytes good = KeylimeLog();
  const el::EventLog good_log = Parse(good);
  const el::Event& driver = First(good_log, 2, el::ev::kEfiBootServicesDriver);
  tpm::Bytes sent = good;
  sent[DigestAt(sent, driver, el::alg::kSha256)] ^= 0x5a;
  auto v = Attest(good, sent, sent, kBootGrubAndIma);
  ASSERT_EQ(v.result, Outcome::kFail) << Describe(v);
  const Failure* f = Find(v, "measured_boot.policy.firmware_blob");
  ASSERT_NE(f, nullptr) << Describe(v);
  EXPECT_EQ(Context(*f)["event"], driver.index);
}

// A disallowed S-CRTM version relabelled EV_POST_CODE, with a reference
// state that lists versions but not firmware digests.
TEST_F(MeasuredBootAttack, RelabelledScrtmVersionFails) {
  const tpm::Bytes good = MbLog();
  const el::EventLog good_log = Parse(good);
  const el::Event& version = First(good_log, 0, el::ev::kSCrtmVersion);
  tpm::Bytes sent = good;
  PutLe32(sent, version.offset + 4, el::ev::kPostCode);
  auto v = Attest(good, sent, sent, kBootGrubAndIma, [](el::ReferenceState& r) {
    r.firmware_blobs.reset();
    r.scrtm_versions->assign({{"a newer version", ""}});
  });
  ASSERT_EQ(v.result, Outcome::kFail) << Describe(v);
  EXPECT_NE(Find(v, "measured_boot.policy.scrtm_version"), nullptr) << Describe(v);
}

}  // namespace
}  // namespace attest::verifier::test
