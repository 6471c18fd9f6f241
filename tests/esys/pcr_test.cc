// ESAPI against a real swtpm: context set-up, PCR reads, extends, restarts.
#include <gtest/gtest.h>
#include <openssl/evp.h>

#include <string>
#include <vector>

#include "common/esys/context.h"
#include "common/esys/errors.h"
#include "common/esys/pcr.h"
#include "tests/harness/swtpm/swtpm.h"

namespace attest::esys {
namespace {

std::vector<uint8_t> Sha256(const std::vector<uint8_t>& data) {
  std::vector<uint8_t> out(32);
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr);
  return out;
}

std::vector<uint32_t> AllPcrs() {
  std::vector<uint32_t> v;
  for (uint32_t i = 0; i < 24; ++i) v.push_back(i);
  return v;
}

int ResetCount(const testing::Swtpm& tpm) {
  std::string out;
  if (tpm.RunTool({"tpm2_readclock"}, &out) != 0) return -1;
  auto at = out.find("reset_count:");
  if (at == std::string::npos) return -1;
  return std::stoi(out.substr(at + 12));
}

TEST(SwtpmHarnessTest, RestartIsARebootKeepingNvState) {
  testing::Swtpm tpm;
  std::string tcti = tpm.tcti();
  int before = ResetCount(tpm);
  ASSERT_GE(before, 0);
  tpm.Restart();
  EXPECT_EQ(ResetCount(tpm), before + 1);
  EXPECT_EQ(tpm.tcti(), tcti);  // same ports when they are still free
  tpm.Stop();
  EXPECT_FALSE(tpm.running());
  std::string out;
  EXPECT_NE(tpm.RunTool({"tpm2_readclock"}, &out), 0);
  tpm.Start();
  EXPECT_EQ(ResetCount(tpm), before + 2);
}

TEST(EsysTest, BadTctiIsAnError) {
  auto ctx = EsysContext::Open("swtpm:host=127.0.0.1,port=1");
  ASSERT_FALSE(ctx.ok());
  EXPECT_EQ(ctx.error().code, make_error_code(errc::tcti_error));
  EXPECT_FALSE(ctx.error().message.empty());
  auto bad = EsysContext::Open("no-such-tcti-module");
  EXPECT_FALSE(bad.ok());
}

TEST(EsysTest, ReadsAllSha256Pcrs) {
  testing::Swtpm tpm;
  auto ctx = EsysContext::Open(tpm.tcti());
  ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
  auto pcrs = ReadPcrs(*ctx, TPM2_ALG_SHA256, AllPcrs());
  ASSERT_TRUE(pcrs.ok()) << pcrs.error().ToString();
  ASSERT_EQ(pcrs->size(), 24u);
  for (uint32_t i = 0; i < 24; ++i) {
    EXPECT_EQ((*pcrs)[i].index, i);
    ASSERT_EQ((*pcrs)[i].digest.size(), 32u);
    // After TPM2_Startup(CLEAR): PCRs 17..22 are all ones (locality 0
    // resettable DRTM PCRs), all others zero.
    uint8_t fill = (i >= 17 && i <= 22) ? 0xff : 0x00;
    EXPECT_EQ((*pcrs)[i].digest, std::vector<uint8_t>(32, fill)) << "PCR " << i;
  }
}

TEST(EsysTest, ExtendThenReadMatchesToolAndResetsOnRestart) {
  testing::Swtpm tpm;
  std::vector<uint8_t> measurement = Sha256({'h', 'e', 'l', 'l', 'o'});
  std::vector<uint8_t> expected;
  {
    auto ctx = EsysContext::Open(tpm.tcti());
    ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
    ASSERT_TRUE(ExtendPcr(*ctx, 16, TPM2_ALG_SHA256, measurement).ok());
    std::vector<uint8_t> in(32, 0);
    in.insert(in.end(), measurement.begin(), measurement.end());
    expected = Sha256(in);
    auto pcrs = ReadPcrs(*ctx, TPM2_ALG_SHA256, {16});
    ASSERT_TRUE(pcrs.ok()) << pcrs.error().ToString();
    ASSERT_EQ(pcrs->size(), 1u);
    EXPECT_EQ((*pcrs)[0].index, 16u);
    EXPECT_EQ((*pcrs)[0].digest, expected);
  }
  // tpm2-tools agrees (independent reader).
  std::string out;
  ASSERT_EQ(tpm.RunTool({"tpm2_pcrread", "sha256:16"}, &out), 0) << out;
  std::string hex;
  for (uint8_t b : expected) {
    static const char* k = "0123456789ABCDEF";
    hex += k[b >> 4];
    hex += k[b & 15];
  }
  EXPECT_NE(out.find("0x" + hex), std::string::npos) << out;

  tpm.Restart();
  auto ctx = EsysContext::Open(tpm.tcti());
  ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
  auto pcrs = ReadPcrs(*ctx, TPM2_ALG_SHA256, {16});
  ASSERT_TRUE(pcrs.ok()) << pcrs.error().ToString();
  EXPECT_EQ((*pcrs)[0].digest, std::vector<uint8_t>(32, 0));
}

TEST(EsysTest, RejectsBadArguments) {
  testing::Swtpm tpm;
  auto ctx = EsysContext::Open(tpm.tcti());
  ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
  EXPECT_FALSE(ReadPcrs(*ctx, TPM2_ALG_SHA256, {24}).ok());
  EXPECT_FALSE(ReadPcrs(*ctx, 0x1234, {0}).ok());
  EXPECT_FALSE(ExtendPcr(*ctx, 16, TPM2_ALG_SHA256, {1, 2, 3}).ok());
  // swtpm_setup not run: only the default banks; sha1 may or may not be
  // active, but an inactive bank must not be reported as read.
  auto sha384 = ReadPcrs(*ctx, TPM2_ALG_SHA384, {0});
  if (sha384.ok()) {
    EXPECT_EQ(sha384->at(0).digest.size(), 48u);
  }
}

TEST(EsysTest, ManufacturedTpmHasEkCertAndCa) {
  testing::Swtpm tpm(testing::Swtpm::Options{.ek_cert = true});
  EXPECT_TRUE(std::filesystem::exists(tpm.ca_cert_path()));
  std::string out;
  ASSERT_EQ(tpm.RunTool({"tpm2_nvreadpublic", "0x1c00002"}, &out), 0) << out;
  auto ctx = EsysContext::Open(tpm.tcti());
  ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
  // swtpm_setup activates only sha256.
  auto pcrs = ReadPcrs(*ctx, TPM2_ALG_SHA256, {0, 7, 10});
  ASSERT_TRUE(pcrs.ok()) << pcrs.error().ToString();
  EXPECT_EQ(pcrs->size(), 3u);
  EXPECT_FALSE(ReadPcrs(*ctx, TPM2_ALG_SHA1, {0}).ok());
}

}  // namespace
}  // namespace attest::esys
