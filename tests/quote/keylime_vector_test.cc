// The real quote from Keylime's test data (made by tpm2-tools on a TPM):
// accepted as tpm2_checkquote accepts it, refused when any input is altered.
#include <gtest/gtest.h>

#include "common/checks/quote.h"
#include "common/tpm/pcr.h"
#include "common/tpm/tpm_crypto.h"
#include "tests/quote/quote_test_util.h"

namespace attest {
namespace {

using testing::HasEvent;
using testing::Ids;
using testing::KeylimeQuoteDir;
using testing::ReadBytes;

class KeylimeQuote : public ::testing::Test {
 protected:
  void SetUp() override {
    auto ak = tpm::LoadAkPublic(ReadBytes(KeylimeQuoteDir() / "ak.pub"));
    ASSERT_TRUE(ak) << ak.error().message;
    ak_ = std::move(*ak);
    auto pcrs = tpm::ParseTpm2ToolsPcrFile(ReadBytes(KeylimeQuoteDir() / "quotepcr.out"));
    ASSERT_TRUE(pcrs) << pcrs.error().message;
    in_.quote = ReadBytes(KeylimeQuoteDir() / "quote.out");
    in_.signature = ReadBytes(KeylimeQuoteDir() / "quotesig.out");
    in_.nonce = ReadBytes(KeylimeQuoteDir() / "rand.out");
    in_.pcrs = pcrs->values;
    in_.ak_key = ak_.pkey.get();
  }
  tpm::LoadedKey ak_;
  checks::QuoteInputs in_;
};

TEST_F(KeylimeQuote, PassesWithTheRightNonce) {
  auto r = checks::VerifyQuote(in_);
  EXPECT_TRUE(r.ok()) << Ids(r);
  EXPECT_TRUE(r.parsed);
  EXPECT_EQ(r.clock.clock, 5994u);
  EXPECT_EQ(r.clock.reset_count, 0u);
  EXPECT_TRUE(r.clock.safe);
  EXPECT_EQ(r.firmware_version, 0x2016051100162800u);  // bytes 20 16 05 11 00 16 28 00
  EXPECT_EQ(tpm::FormatSelection(r.pcr_selection), "sha256:15,16,22");
  EXPECT_EQ(r.hash_alg, TPM2_ALG_SHA256);
  EXPECT_EQ(r.sig_alg, TPM2_ALG_RSASSA);
  EXPECT_EQ(tpm::ToHex(r.qualified_signer),
            "000b7ca54a622c87f30888b6da66f51e4a31ccb723cad8daa111a5006b44342dd623");
  EXPECT_FALSE(r.reboot);
}

TEST_F(KeylimeQuote, PassesWithTheAkAsTpmPublic) {
  in_.ak_key = nullptr;
  in_.ak_public = ak_.tpm_public;
  auto r = checks::VerifyQuote(in_);
  EXPECT_TRUE(r.ok()) << Ids(r);
}

TEST_F(KeylimeQuote, PassesWithAPreparedVerifier) {
  const checks::AkVerifier verifier(ak_.pkey.get());
  in_.ak_key = nullptr;
  in_.ak_verifier = &verifier;
  for (int i = 0; i < 2; ++i) {  // preparing, then prepared
    auto r = checks::VerifyQuote(in_);
    EXPECT_TRUE(r.ok()) << Ids(r);
  }
  in_.nonce[0] ^= 1;
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(in_), "quote.nonce_mismatch"));
  in_.nonce[0] ^= 1;
  in_.signature[in_.signature.size() - 1] ^= 1;
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(in_), "quote.invalid_signature"));
}

TEST_F(KeylimeQuote, PcrFileValues) {
  const auto& bank = in_.pcrs.at(TPM2_ALG_SHA256);
  ASSERT_EQ(bank.size(), 3u);
  EXPECT_EQ(tpm::ToHex(bank.at(15)), std::string(64, '0'));
  EXPECT_EQ(tpm::ToHex(bank.at(16)),
            "9dbb22387e019c04da95477333546082ce313152c4a7f8a6e1d5f0c77f4fb6f0");
  EXPECT_EQ(tpm::ToHex(bank.at(22)), std::string(64, 'f'));
  // Round trip through our serializer gives tpm2-tools' bytes back.
  auto file = tpm::ParseTpm2ToolsPcrFile(ReadBytes(KeylimeQuoteDir() / "quotepcr.out"));
  ASSERT_TRUE(file);
  auto again = tpm::SerializeTpm2ToolsPcrFile(file->selection, file->values);
  ASSERT_TRUE(again);
  EXPECT_EQ(*again, ReadBytes(KeylimeQuoteDir() / "quotepcr.out"));
}

TEST_F(KeylimeQuote, FailsWithAWrongNonce) {
  in_.nonce[0] ^= 1;
  auto r = checks::VerifyQuote(in_);
  EXPECT_TRUE(HasEvent(r, "quote.nonce_mismatch")) << Ids(r);
  EXPECT_EQ(r.failures.size(), 1u) << Ids(r);
  in_.nonce.clear();
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(in_), "quote.nonce_mismatch"));
}

TEST_F(KeylimeQuote, FailsWithAFlippedPcrByte) {
  for (uint32_t pcr : {15u, 16u, 22u}) {
    auto in = in_;
    in.pcrs[TPM2_ALG_SHA256][pcr][5] ^= 0x40;
    auto r = checks::VerifyQuote(in);
    EXPECT_TRUE(HasEvent(r, "quote.pcr_digest_mismatch")) << pcr << Ids(r);
    EXPECT_EQ(r.failures.size(), 1u) << Ids(r);
  }
}

TEST_F(KeylimeQuote, FailsWhenAPcrValueIsMissingOrExtra) {
  auto in = in_;
  in.pcrs[TPM2_ALG_SHA256].erase(16);
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(in), "quote.pcr_value_missing"));
  in = in_;
  in.pcrs[TPM2_ALG_SHA256][16].pop_back();
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(in), "quote.pcr_value_missing"));
  in = in_;
  in.pcrs[TPM2_ALG_SHA256][10] = tpm::Bytes(32, 0);
  auto r = checks::VerifyQuote(in);
  EXPECT_TRUE(HasEvent(r, "quote.pcr_selection_mismatch")) << Ids(r);
  EXPECT_FALSE(HasEvent(r, "quote.pcr_digest_mismatch")) << Ids(r);
  in = in_;
  in.pcrs[TPM2_ALG_SHA1][0] = tpm::Bytes(20, 0);
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(in), "quote.pcr_selection_mismatch"));
}

TEST_F(KeylimeQuote, FailsWithAFlippedSignatureByte) {
  // Flip a byte of the RSA signature itself (after sigAlg, hash, size).
  for (size_t pos : {size_t{6}, size_t{100}, in_.signature.size() - 1}) {
    auto in = in_;
    in.signature[pos] ^= 0x01;
    auto r = checks::VerifyQuote(in);
    EXPECT_TRUE(HasEvent(r, "quote.invalid_signature")) << pos << Ids(r);
  }
}

TEST_F(KeylimeQuote, FailsWithAFlippedQuoteByte) {
  auto in = in_;
  in.quote[0x40] ^= 0x01;  // inside clockInfo.clock
  auto r = checks::VerifyQuote(in);
  EXPECT_TRUE(HasEvent(r, "quote.invalid_signature")) << Ids(r);
}

TEST_F(KeylimeQuote, FailsWithAnotherAk) {
  // The EK is an RSA-2048 key too, so only the signature check can tell.
  auto ek = tpm::LoadAkPublic(ReadBytes(KeylimeQuoteDir() / "ek.pub"));
  ASSERT_TRUE(ek) << ek.error().message;
  in_.ak_key = ek->pkey.get();
  auto r = checks::VerifyQuote(in_);
  EXPECT_TRUE(HasEvent(r, "quote.invalid_signature")) << Ids(r);
  EXPECT_EQ(r.failures.size(), 1u) << Ids(r);
}

TEST_F(KeylimeQuote, HashAlgorithmPolicy) {
  in_.allowed_hash_algs = {TPM2_ALG_SHA384};
  auto r = checks::VerifyQuote(in_);
  EXPECT_TRUE(HasEvent(r, "quote.hash_alg_not_allowed")) << Ids(r);
  in_.allowed_hash_algs = {TPM2_ALG_SHA1, TPM2_ALG_SHA256};
  EXPECT_TRUE(checks::VerifyQuote(in_).ok());
}

TEST_F(KeylimeQuote, TrailingBytesAreMalformed) {
  auto in = in_;
  in.quote.push_back(0);
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(in), "quote.malformed"));
  in = in_;
  in.signature.push_back(0);
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(in), "quote.malformed"));
}

TEST(KeylimeAk, PemAndTpmPublicAreTheSameKey) {
  auto pub = tpm::LoadAkPublic(ReadBytes(KeylimeQuoteDir() / "ak.pub"));
  auto pem = tpm::LoadAkPublic(ReadBytes(KeylimeQuoteDir() / "akpub.pem"));
  ASSERT_TRUE(pub) << pub.error().message;
  ASSERT_TRUE(pem) << pem.error().message;
  EXPECT_TRUE(pub->tpm_public.has_value());
  EXPECT_FALSE(pem->tpm_public.has_value());
  EXPECT_TRUE(tpm::SamePublicKey(pub->pkey.get(), pem->pkey.get()));
  auto ek = tpm::LoadAkPublic(ReadBytes(KeylimeQuoteDir() / "ekpub.pem"));
  ASSERT_TRUE(ek);
  EXPECT_FALSE(tpm::SamePublicKey(pub->pkey.get(), ek->pkey.get()));
  auto ek_pub = tpm::LoadAkPublic(ReadBytes(KeylimeQuoteDir() / "ek.pub"));
  ASSERT_TRUE(ek_pub);
  EXPECT_TRUE(tpm::SamePublicKey(ek->pkey.get(), ek_pub->pkey.get()));
}

TEST(KeylimeAk, NameMatchesAkName) {
  auto pub = tpm::ParsePublic(ReadBytes(KeylimeQuoteDir() / "ak.pub"));
  ASSERT_TRUE(pub) << pub.error().message;
  auto name = tpm::ComputeName(pub->publicArea);
  ASSERT_TRUE(name) << name.error().message;
  EXPECT_EQ(*name, ReadBytes(KeylimeQuoteDir() / "ak.name"));
}

TEST(KeylimeAk, AttributeCheck) {
  auto ak = tpm::ParsePublic(ReadBytes(KeylimeQuoteDir() / "ak.pub"));
  ASSERT_TRUE(ak);
  EXPECT_TRUE(tpm::CheckAttestationKeyAttributes(ak->publicArea))
      << tpm::CheckAttestationKeyAttributes(ak->publicArea).error().message;
  // The EK is a restricted decryption key: refused, naming why.
  auto ek = tpm::ParsePublic(ReadBytes(KeylimeQuoteDir() / "ek.pub"));
  ASSERT_TRUE(ek);
  auto check = tpm::CheckAttestationKeyAttributes(ek->publicArea);
  ASSERT_FALSE(check);
  EXPECT_NE(check.error().message.find("missing sign"), std::string::npos);
  EXPECT_NE(check.error().message.find("unexpected decrypt"), std::string::npos);
  TPMT_PUBLIC movable = ak->publicArea;
  movable.objectAttributes &= ~TPMA_OBJECT_FIXEDTPM;
  EXPECT_FALSE(tpm::CheckAttestationKeyAttributes(movable));
}

TEST(KeylimeAk, RejectsGarbageAndTrailingBytes) {
  auto bytes = ReadBytes(KeylimeQuoteDir() / "ak.pub");
  bytes.push_back(0);
  EXPECT_FALSE(tpm::LoadAkPublic(bytes));
  EXPECT_FALSE(tpm::LoadAkPublic(tpm::AsBytes("-----BEGIN PUBLIC KEY-----\nxx\n")));
  EXPECT_FALSE(tpm::LoadAkPublic({}));
}

}  // namespace
}  // namespace attest
