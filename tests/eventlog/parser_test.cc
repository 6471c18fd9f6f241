// Parser: decoding of the real Keylime logs, and clean errors on bad input.
#include <gtest/gtest.h>

#include <algorithm>

#include "common/eventlog/errors.h"
#include "common/eventlog/event_log.h"
#include "common/eventlog/policy.h"
#include "tests/eventlog/test_logs.h"
#include "tests/harness/util/process.h"

namespace attest::eventlog {
namespace {

using testing::KeylimeLog;
using testing::MbLog;
using testing::ParseOrDie;

const Event* FindVariable(const EventLog& log, const std::string& name) {
  for (const auto& e : log.events) {
    if (e.type == ev::kEfiVariableDriverConfig && e.variable && e.variable->name == name) return &e;
  }
  return nullptr;
}

TEST(EventLogParser, DecodesKeylimeLog) {
  EventLog log = ParseOrDie(KeylimeLog());
  ASSERT_EQ(log.spec.algorithms.size(), 2u);
  EXPECT_EQ(log.spec.algorithms[0].alg_id, alg::kSha1);
  EXPECT_EQ(log.spec.algorithms[1].alg_id, alg::kSha256);
  EXPECT_EQ(log.events.size(), 121u);  // tpm2_eventlog numbers events 0..120
  ASSERT_TRUE(log.events[1].startup_locality.has_value());
  EXPECT_EQ(*log.events[1].startup_locality, 3);
  EXPECT_EQ(log.events[3].type, ev::kSCrtmVersion);
  EXPECT_EQ(log.events[3].text.value_or(""), "N40ET41W ");
  ASSERT_TRUE(log.events[4].blob.has_value());
  EXPECT_EQ(log.events[4].blob->base, 0xfff00000u);
  EXPECT_EQ(log.events[4].blob->length, 0x59d0u);

  const Event* sb = FindVariable(log, "SecureBoot");
  ASSERT_NE(sb, nullptr);
  EXPECT_EQ(sb->variable->data, Bytes{0});
  EXPECT_EQ(GuidToString(sb->variable->vendor), "8be4df61-93ca-11d2-aa0d-00e098032b8c");

  const Event* pk = FindVariable(log, "PK");
  ASSERT_NE(pk, nullptr);
  ASSERT_TRUE(pk->variable->signature_lists.has_value());
  ASSERT_EQ(pk->variable->signature_lists->size(), 1u);
  EXPECT_EQ((*pk->variable->signature_lists)[0].type, guid::kCertX509);
  // The certificate is DER: SEQUENCE with a two-byte length.
  const Bytes& cert = (*pk->variable->signature_lists)[0].signatures.at(0).data;
  ASSERT_GE(cert.size(), 4u);
  EXPECT_EQ(cert[0], 0x30);
  EXPECT_EQ(cert.size(), static_cast<size_t>(((cert[2] << 8) | cert[3]) + 4));

  const Event* db = FindVariable(log, "db");
  ASSERT_NE(db, nullptr);
  EXPECT_EQ(GuidToString(db->variable->vendor), "d719b2cb-3d3a-4596-a3bc-dad00e67656f");
  const Event* dbx = FindVariable(log, "dbx");
  ASSERT_NE(dbx, nullptr);
  ASSERT_TRUE(dbx->variable->signature_lists.has_value());
  size_t sha256_entries = 0;
  for (const auto& l : *dbx->variable->signature_lists) {
    if (l.type == guid::kCertSha256) sha256_entries += l.signatures.size();
  }
  EXPECT_GT(sha256_entries, 10u);

  std::vector<std::string> apps;
  size_t gpt_partitions = 0;
  for (const auto& e : log.events) {
    EXPECT_TRUE(e.decode_error.empty()) << "event " << e.index << ": " << e.decode_error;
    if (e.type == ev::kEfiBootServicesApplication) {
      ASSERT_TRUE(e.image.has_value());
      apps.push_back(e.image->device_path_text);
    }
    if (e.gpt) gpt_partitions = e.gpt->partitions.size();
  }
  ASSERT_EQ(apps.size(), 3u);
  EXPECT_NE(apps[1].find("HD(1,GPT,b8f6bee9-bc10-4c72-b34a-6db8fd8f772c)"), std::string::npos)
      << apps[1];
  EXPECT_NE(apps[1].find("\\EFI\\fedora\\shimx64.efi"), std::string::npos) << apps[1];
  EXPECT_EQ(apps[2], "\\EFI\\fedora\\grubx64.efi");
  EXPECT_GT(gpt_partitions, 0u);

  auto cmdlines = KernelCmdlines(log);
  ASSERT_EQ(cmdlines.size(), 1u);
  EXPECT_EQ(cmdlines[0].second.rfind("(hd3,gpt2)/vmlinuz-6.11.5-300.fc41.x86_64 root=UUID=", 0),
            0u);
}

TEST(EventLogParser, DecodesBase64MbLog) {
  EventLog log = ParseOrDie(MbLog());
  ASSERT_EQ(log.spec.algorithms.size(), 1u);
  EXPECT_EQ(log.spec.algorithms[0].alg_id, alg::kSha256);
  const Event* sb = FindVariable(log, "SecureBoot");
  ASSERT_NE(sb, nullptr);
  EXPECT_EQ(sb->variable->data, Bytes{1});
  size_t apps = 0;
  for (const auto& e : log.events) {
    if (e.type == ev::kEfiBootServicesApplication) ++apps;
    if (e.type == ev::kSeparator) {
      ASSERT_TRUE(e.separator.has_value());
      EXPECT_EQ(*e.separator, 0u);
    }
  }
  EXPECT_EQ(apps, 4u);  // shim, GRUB, the kernel twice
}

TEST(EventLogParser, BogusAndEmptyLogsFailCleanly) {
  std::string bogus =
      attest::testing::ReadFile(testing::UefiDir() / "binary_bios_measurements-bogus");
  auto r = ParseEventLog(Bytes(bogus.begin(), bogus.end()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::malformed);
  EXPECT_NE(r.error().message.find("byte offset 0"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("not a TCG event log"), std::string::npos) << r.error().message;

  std::string empty =
      attest::testing::ReadFile(testing::UefiDir() / "binary_bios_measurements-empty");
  ASSERT_TRUE(empty.empty());
  auto e = ParseEventLog(Bytes{});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.error().code, errc::truncated);
  EXPECT_NE(e.error().message.find("empty event log"), std::string::npos);
}

// Every prefix of a real log either parses (cut at an event boundary) or
// fails as truncated with the offset of the cut structure.
TEST(EventLogParser, EveryTruncationIsACleanError) {
  Bytes full = MbLog();
  EventLog log = ParseOrDie(full);
  std::vector<size_t> boundaries;
  for (const auto& e : log.events) boundaries.push_back(e.offset + e.size);
  for (size_t n = 1; n < full.size(); ++n) {
    auto r = ParseEventLog(std::span<const uint8_t>(full.data(), n));
    bool boundary = std::find(boundaries.begin(), boundaries.end(), n) != boundaries.end();
    if (boundary) {
      ASSERT_TRUE(r.ok()) << n;
      continue;
    }
    ASSERT_FALSE(r.ok()) << n;
    ASSERT_EQ(r.error().code, errc::truncated) << n << ": " << r.error().message;
    ASSERT_NE(r.error().message.find("byte offset "), std::string::npos);
  }
}

TEST(EventLogParser, OversizedAndInconsistentLogs) {
  Bytes full = MbLog();
  EventLog log = ParseOrDie(full);
  const Event& e = log.events[5];  // PK
  size_t size_field = e.data_offset - 4;

  Bytes huge = full;
  huge[size_field + 3] = 0x7f;  // event size ~2 GiB
  auto r = ParseEventLog(huge);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::too_large);
  EXPECT_NE(r.error().message.find("byte offset " + std::to_string(size_field)), std::string::npos)
      << r.error().message;

  ParseLimits few;
  few.max_events = 10;
  r = ParseEventLog(full, few);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::too_large);

  Bytes count = full;
  count[e.offset + 8] = 2;  // two digests while one bank is declared
  r = ParseEventLog(count);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::inconsistent);
  EXPECT_NE(r.error().message.find("event 5"), std::string::npos) << r.error().message;

  Bytes alg_id = full;
  alg_id[e.offset + 12] = 0x0c;  // sha384 digest in a sha256-only log
  r = ParseEventLog(alg_id);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::inconsistent);
  EXPECT_NE(r.error().message.find("sha384"), std::string::npos) << r.error().message;

  Bytes pcr = full;
  pcr[e.offset] = 24;
  r = ParseEventLog(pcr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, errc::malformed);

  // A corrupt UEFI_VARIABLE_DATA inside a well-framed event keeps the log
  // parseable and says why the content did not decode.
  Bytes var = full;
  var[e.data_offset + 18] = 0xff;  // UnicodeNameLength (third byte)
  EventLog bad = ParseOrDie(var);
  EXPECT_FALSE(bad.events[5].variable.has_value());
  EXPECT_NE(bad.events[5].decode_error.find("UnicodeNameLength"), std::string::npos)
      << bad.events[5].decode_error;
}

TEST(EventLogEncoding, Helpers) {
  EXPECT_EQ(Base64Decode("AAEC/w==").value(), (Bytes{0, 1, 2, 0xff}));
  EXPECT_FALSE(Base64Decode("AAE").has_value());
  EXPECT_FALSE(Base64Decode("AA=A").has_value());
  EXPECT_EQ(FromHex("0xABcd").value(), (Bytes{0xab, 0xcd}));
  EXPECT_FALSE(FromHex("abc").has_value());
  const uint8_t utf16[] = {'P', 0, 'K', 0, 0, 0};
  EXPECT_EQ(Utf16LeToUtf8(utf16).value(), "PK");
  EXPECT_EQ(GuidToString(guid::kCertSha256), "c1c41626-504c-4092-aca9-41f936934328");
  EXPECT_EQ(GuidToString(guid::kCertX509), "a5c059a1-94e4-4aa7-87b5-ab155c2bf072");
}

}  // namespace
}  // namespace attest::eventlog
