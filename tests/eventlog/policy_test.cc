// Reference-state policy: a state generated from a known-good log accepts
// it and rejects edited copies. Edits that change event *content* (the
// SecureBoot byte) recompute the event's digests, as firmware booting with
// Secure Boot off would have measured them: the policy judges content, so
// the only failure is the one under test (PCR 7 then differs from the
// original quote, which the replay comparison catches separately). Without
// the recomputation the content no longer matches its digest and the check
// reports measured_boot.event_digest_mismatch as well (tested too).
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>

#include "common/eventlog/errors.h"
#include "common/eventlog/policy.h"
#include "tests/eventlog/test_logs.h"

namespace attest::eventlog {
namespace {

using testing::MbLog;
using testing::ParseOrDie;

std::vector<std::string> Ids(const std::vector<Failure>& failures) {
  std::vector<std::string> ids;
  for (const auto& f : failures) ids.push_back(f.id);
  return ids;
}

const Event& FindEvent(const EventLog& log, uint32_t type, const std::string& what) {
  for (const auto& e : log.events) {
    if (e.type != type) continue;
    if (e.variable && e.variable->name == what) return e;
    if (e.image && e.image->device_path_text.find(what) != std::string::npos) return e;
    if (what.empty()) return e;
  }
  throw std::runtime_error("no such event: " + what);
}

class MbPolicy : public ::testing::Test {
 protected:
  void SetUp() override {
    bytes_ = MbLog();
    log_ = ParseOrDie(bytes_);
    ref_ = GenerateReferenceState(log_);
  }
  Bytes bytes_;
  EventLog log_;
  ReferenceState ref_;
};

TEST_F(MbPolicy, GeneratedStateAcceptsItsLog) {
  EXPECT_TRUE(ref_.secureboot_required);
  EXPECT_EQ(ref_.pk->size(), 1u);
  EXPECT_EQ(ref_.boot_applications->size(), 3u);  // shim, GRUB, kernel (measured twice)
  ASSERT_EQ(ref_.kernel_cmdlines->size(), 1u);
  auto failures = CheckReferenceState(log_, ref_, VerifiedPcrs::Offline());
  EXPECT_TRUE(failures.empty()) << failures.front().id << ": " << failures.front().message;
  // Through JSON and back.
  auto reparsed = ParseReferenceState(SerializeReferenceState(ref_));
  ASSERT_TRUE(reparsed.ok()) << reparsed.error().ToString();
  EXPECT_EQ(SerializeReferenceState(*reparsed), SerializeReferenceState(ref_));
  EXPECT_TRUE(CheckReferenceState(log_, *reparsed, VerifiedPcrs::Offline()).empty());
}

TEST_F(MbPolicy, RejectsSecureBootDisabled) {
  const Event& sb = FindEvent(log_, ev::kEfiVariableDriverConfig, "SecureBoot");
  Bytes edited = bytes_;
  size_t value_at = sb.data_offset + sb.data.size() - 1;  // VariableData is the last byte
  ASSERT_EQ(edited[value_at], 1);
  edited[value_at] = 0;
  testing::RecomputeDigests(edited, sb);
  EventLog log = ParseOrDie(edited);
  auto failures = CheckReferenceState(log, ref_, VerifiedPcrs::Offline());
  ASSERT_EQ(Ids(failures), std::vector<std::string>{"measured_boot.policy.secureboot_disabled"});
  EXPECT_EQ(failures[0].context.at("event"), std::to_string(sb.index));
  // The replay sees the different measurement in PCR 7.
  EXPECT_NE(Replay(log).value()[alg::kSha256][7], Replay(log_).value()[alg::kSha256][7]);

  // Same edit without recomputing the digest: the content no longer matches
  // what was extended, reported as such.
  Bytes forged = bytes_;
  forged[value_at] = 0;
  auto forged_failures =
      Ids(CheckReferenceState(ParseOrDie(forged), ref_, VerifiedPcrs::Offline()));
  EXPECT_NE(std::find(forged_failures.begin(), forged_failures.end(),
                      "measured_boot.event_digest_mismatch"),
            forged_failures.end());
  EXPECT_NE(std::find(forged_failures.begin(), forged_failures.end(),
                      "measured_boot.policy.secureboot_disabled"),
            forged_failures.end());
}

TEST_F(MbPolicy, RejectsDifferentKernel) {
  // The kernel is the last boot application (shim's LoadImage of vmlinuz).
  std::vector<const Event*> apps;
  for (const auto& e : log_.events) {
    if (e.type == ev::kEfiBootServicesApplication) apps.push_back(&e);
  }
  ASSERT_EQ(apps.size(), 4u);
  const Event& kernel = *apps.back();
  Bytes edited = bytes_;
  edited[kernel.offset + 12 + 2] ^= 0xff;  // first byte of its sha256 digest
  EventLog log = ParseOrDie(edited);
  auto failures = CheckReferenceState(log, ref_, VerifiedPcrs::Offline());
  ASSERT_EQ(Ids(failures), std::vector<std::string>{"measured_boot.policy.boot_application"});
  EXPECT_EQ(failures[0].context.at("event"), std::to_string(kernel.index));
  EXPECT_EQ(failures[0].context.at("actual"), ToHex(log.events[kernel.index].digests[0].value));
}

TEST_F(MbPolicy, EachComponentIsEnforced) {
  struct Case {
    std::string id;
    std::function<void(ReferenceState&)> edit;
  };
  std::vector<Case> cases = {
      {"measured_boot.policy.pk", [](ReferenceState& r) { r.pk->clear(); }},
      {"measured_boot.policy.kek", [](ReferenceState& r) { r.kek->erase(r.kek->begin()); }},
      {"measured_boot.policy.db", [](ReferenceState& r) { r.db->pop_back(); }},
      {"measured_boot.policy.dbx_missing",
       [](ReferenceState& r) {
         r.dbx_required->push_back({std::string(64, 'a'), ""});
       }},
      {"measured_boot.policy.scrtm_version",
       [](ReferenceState& r) {
         r.scrtm_versions->assign({{"other", ""}});
       }},
      {"measured_boot.policy.firmware_blob",
       [](ReferenceState& r) { r.firmware_blobs->pop_back(); }},
      {"measured_boot.policy.boot_application",
       [](ReferenceState& r) { r.boot_applications->erase(r.boot_applications->begin()); }},
      {"measured_boot.policy.kernel_cmdline",
       [](ReferenceState& r) { (*r.kernel_cmdlines)[0].value += " init=/bin/sh"; }},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.id);
    ReferenceState ref = ref_;
    c.edit(ref);
    auto failures = CheckReferenceState(log_, ref, VerifiedPcrs::Offline());
    ASSERT_FALSE(failures.empty());
    for (const auto& f : failures) EXPECT_EQ(f.id, c.id) << f.message;
  }
  // An absent component is not checked.
  ReferenceState lax;
  EXPECT_TRUE(CheckReferenceState(log_, lax, VerifiedPcrs::Offline()).empty());
}

TEST(MeasuredBootPolicy, GeneratedFromLogWithSecureBootOff) {
  EventLog log = ParseOrDie(testing::KeylimeLog());
  ReferenceState ref = GenerateReferenceState(log);
  EXPECT_FALSE(ref.secureboot_required);
  EXPECT_TRUE(CheckReferenceState(log, ref, VerifiedPcrs::Offline()).empty());
  ref.secureboot_required = true;
  EXPECT_EQ(Ids(CheckReferenceState(log, ref, VerifiedPcrs::Offline())),
            std::vector<std::string>{"measured_boot.policy.secureboot_disabled"});
}

TEST(MeasuredBootPolicy, ParserRejectsBadDocuments) {
  const std::string good = R"({"version": 1, "secureboot": {"required": true},
    "boot_applications": [{"digest": "0X)" +
                           std::string(64, 'A') + R"(", "note": "shim"}],
    "kernel_cmdlines": ["ro quiet"]})";
  auto ok = ParseReferenceState(good);
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ((*ok->boot_applications)[0].value, std::string(64, 'a'));
  EXPECT_FALSE(ok->pk.has_value());

  for (const std::string& bad : std::vector<std::string>{
           std::string(R"({"secureboot": {"required": true}})"),                 // no version
           std::string(R"({"version": 2})"),                                     // unknown version
           std::string(R"({"version": 1, "pkk": []})"),                          // typo
           std::string(R"({"version": 1, "db": ["abcd"]})"),                     // short digest
           std::string(R"({"version": 1, "secureboot": {"required": "yes"}})"),  // wrong type
           std::string(R"({"version": 1, "digest_alg": "md5"})"),                // unknown alg
           std::string(R"({"version": 1, "digest_alg": "sha1", "firmware_blobs": [")") +
               std::string(64, 'a') + "\"]}",
           std::string("[1, 2]"),
           std::string("{"),
           std::string(100000, '['),
       }) {
    auto r = ParseReferenceState(bad);
    ASSERT_FALSE(r.ok()) << bad.substr(0, 80);
    EXPECT_EQ(r.error().code, errc::policy_invalid);
  }
}

}  // namespace
}  // namespace attest::eventlog
