// External oracle: the PCR-10 value our replay computes equals what a real
// (software) TPM holds after the same entries were extended into PCR 10.
#include <gtest/gtest.h>

#include "common/ima/replay.h"
#include "tests/harness/swtpm/swtpm.h"
#include "tests/ima/test_util.h"

namespace attest::ima {
namespace {

// Reads "sha256:\n  10: 0x<HEX>" from tpm2_pcrread.
std::string ReadPcr10(const attest::testing::Swtpm& tpm, const char* bank) {
  std::string out;
  EXPECT_EQ(tpm.RunTool({"tpm2_pcrread", std::string(bank) + ":10"}, &out), 0) << out;
  size_t pos = out.find("0x");
  if (pos == std::string::npos) return "";
  std::string hex;
  for (size_t i = pos + 2; i < out.size() && std::isxdigit(static_cast<unsigned char>(out[i]));
       ++i) {
    hex += static_cast<char>(std::tolower(static_cast<unsigned char>(out[i])));
  }
  return hex;
}

TEST(ImaSwtpm, ReplayEqualsTpmPcr10) {
  // A violation entry (extended as all-ones) followed by 30 real entries.
  Log violation = test::LoadLog(test::ImaDir() / "ima-log-sha1");
  Log big = test::LoadLog(test::ImaDir() / "rust-keylime-ascii_runtime_measurements");
  std::vector<Entry> entries{violation.entries[0]};
  entries.insert(entries.end(), big.entries.begin(), big.entries.begin() + 30);
  ASSERT_TRUE(entries[0].IsViolation());

  attest::testing::Swtpm tpm;
  Hasher h;
  for (const Entry& e : entries) {
    Digest s1 =
        e.IsViolation() ? Digest::Filled(20, 0xff) : h.Hash(HashAlg::kSha1, AsBytes(e.data));
    Digest s256 =
        e.IsViolation() ? Digest::Filled(32, 0xff) : h.Hash(HashAlg::kSha256, AsBytes(e.data));
    std::string out;
    ASSERT_EQ(
        tpm.RunTool({"tpm2_pcrextend", "10:sha1=" + ToHex(s1) + ",sha256=" + ToHex(s256)}, &out), 0)
        << out;
  }
  const HashAlg banks[] = {HashAlg::kSha1, HashAlg::kSha256};
  ReplayState st = ReplayState::Initial(banks);
  // In two chunks, as a worker would see them.
  ASSERT_TRUE(Replay(st, std::span(entries).first(11), {}).ok());
  ASSERT_TRUE(Replay(st, std::span(entries).subspan(11), {}).ok());
  EXPECT_EQ(ToHex(*st.Pcr(HashAlg::kSha256)), ReadPcr10(tpm, "sha256"));
  EXPECT_EQ(ToHex(*st.Pcr(HashAlg::kSha1)), ReadPcr10(tpm, "sha1"));

  // And the quoted value is recognised as a match by the checker.
  std::string raw;
  ASSERT_TRUE(FromHex(ReadPcr10(tpm, "sha256"), raw));
  ReplayOptions opt;
  opt.expected_pcr = Digest::From(AsBytes(raw));
  opt.expected_bank = HashAlg::kSha256;
  ReplayState again = ReplayState::Initial(banks);
  auto out = Replay(again, entries, opt);
  EXPECT_TRUE(out.ok());
  ASSERT_TRUE(out.pcr_matched_at);
  EXPECT_EQ(*out.pcr_matched_at, entries.size());
}

TEST(ImaSwtpm, BinaryListWithANewlineInANameReplaysToTpmPcr10) {
  // Names the ascii list cannot carry (issue 16), in a binary list: parsed
  // back from its bytes, the entries replay to what the TPM holds.
  Log made;
  Hasher h;
  uint8_t fill = 1;
  for (std::string path : {std::string("boot_aggregate"), std::string("/tmp/two\nlines"),
                           std::string("/usr/bin/with space"), std::string("/opt/\xff") + "bin",
                           "/" + std::string(3999, 'p')}) {
    auto e = MakeEntry(Template::kImaNg, "sha256", std::vector<uint8_t>(32, fill++), path);
    ASSERT_TRUE(e) << e.error().message;
    e->template_hash = ComputeTemplateHash(h, HashAlg::kSha1, *e);
    made.entries.push_back(std::move(*e));
  }
  attest::testing::Swtpm tpm;
  for (const Entry& e : made.entries) {
    std::string out;
    ASSERT_EQ(tpm.RunTool({"tpm2_pcrextend",
                           "10:sha256=" + ToHex(h.Hash(HashAlg::kSha256, AsBytes(e.data)))},
                          &out),
              0)
        << out;
  }
  auto log = ParseBinary(WriteBinary(made));
  ASSERT_TRUE(log) << log.error().message;
  ASSERT_EQ(log->entries.size(), made.entries.size());
  EXPECT_EQ(log->entries[1].path(), "/tmp/two\nlines");
  std::string raw;
  ASSERT_TRUE(FromHex(ReadPcr10(tpm, "sha256"), raw));
  RuntimePolicy policy = GeneratePolicy(*log);
  ReplayOptions opt;
  opt.policy = &policy;
  opt.expected_pcr = Digest::From(AsBytes(raw));
  opt.expected_bank = HashAlg::kSha256;
  const HashAlg banks[] = {HashAlg::kSha256};
  ReplayState st = ReplayState::Initial(banks);
  auto out = Replay(st, log->entries, opt);
  for (const auto& f : out.failures) ADD_FAILURE() << f.id << " @" << f.entry;
  ASSERT_TRUE(out.pcr_matched_at);
  EXPECT_EQ(*out.pcr_matched_at, made.entries.size());
}

}  // namespace
}  // namespace attest::ima
