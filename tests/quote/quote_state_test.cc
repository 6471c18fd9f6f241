// Clock/resetCount/restartCount monotonicity (real Keylime quote and
// software-signed quotes with synthesized previous state), all signature
// schemes against software keys, and malformed inputs that must never crash
// and never pass.
#include <gtest/gtest.h>

#include <random>

#include "common/checks/quote.h"
#include "common/tpm/pcr.h"
#include "common/tpm/tpm_crypto.h"
#include "tests/quote/quote_test_util.h"
#include "tests/quote/soft_quote.h"

namespace attest {
namespace {

using checks::ClockState;
using testing::HasEvent;
using testing::Ids;
using testing::KeylimeQuoteDir;
using testing::ReadBytes;

checks::QuoteInputs KeylimeInputs(const tpm::LoadedKey& ak) {
  checks::QuoteInputs in;
  in.quote = ReadBytes(KeylimeQuoteDir() / "quote.out");
  in.signature = ReadBytes(KeylimeQuoteDir() / "quotesig.out");
  in.nonce = ReadBytes(KeylimeQuoteDir() / "rand.out");
  auto pcrs = tpm::ParseTpm2ToolsPcrFile(ReadBytes(KeylimeQuoteDir() / "quotepcr.out"));
  if (pcrs) in.pcrs = pcrs->values;
  in.ak_key = ak.pkey.get();
  return in;
}

tpm::LoadedKey KeylimeAk() {
  auto ak = tpm::LoadAkPublic(ReadBytes(KeylimeQuoteDir() / "ak.pub"));
  if (!ak) throw std::runtime_error(ak.error().message);
  return std::move(*ak);
}

// The Keylime quote: clock 5994, resetCount 0, restartCount 0.
TEST(QuoteClock, KeylimeQuoteAgainstPreviousState) {
  auto ak = KeylimeAk();
  auto in = KeylimeInputs(ak);

  in.previous = ClockState{5993, 0, 0, true};  // older quote of the same boot
  auto r = checks::VerifyQuote(in);
  EXPECT_TRUE(r.ok()) << Ids(r);
  EXPECT_FALSE(r.reboot);

  in.previous = ClockState{5994, 0, 0, true};  // the same quote again
  r = checks::VerifyQuote(in);
  EXPECT_TRUE(HasEvent(r, "quote.replay")) << Ids(r);
  EXPECT_EQ(r.failures.size(), 1u) << Ids(r);

  in.previous = ClockState{9000, 0, 0, true};  // a newer quote was already accepted
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(in), "quote.replay"));

  in.previous = ClockState{10, 1, 0, true};  // from before a reset that already happened
  r = checks::VerifyQuote(in);
  EXPECT_TRUE(HasEvent(r, "quote.replay")) << Ids(r);
  EXPECT_FALSE(r.reboot);

  in.previous = ClockState{10, 0, 3, true};  // lower restartCount
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(in), "quote.replay"));
}

class SoftQuote : public ::testing::Test {
 protected:
  checks::QuoteInputs Make(const testing::SoftClock& clock) {
    auto sel = testing::Selection(TPM2_ALG_SHA256, {0, 1, 7, 10});
    checks::QuoteInputs in;
    in.nonce = tpm::Bytes(20, 0x5a);
    in.pcrs = testing::ValuesFor(sel);
    in.quote = testing::MakeQuote(in.nonce, sel, in.pcrs, TPM2_ALG_SHA256, clock);
    in.signature = testing::SignLikeTpm(ak_, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, in.quote);
    in.ak_public = ak_.pub;
    return in;
  }
  testing::SoftAk ak_ = testing::MakeEccAk();
};

TEST_F(SoftQuote, RebootIsReportedNotFailed) {
  // Reset: resetCount up, clock may even be lower after a power loss, which
  // the TPM reports as safe = NO (safe = YES promises no higher Clock was
  // ever reported: CountersPushedForwardOverARestoredClockAreARollback).
  auto in = Make({500, 3, 0, false});
  in.previous = ClockState{800, 2, 5, true};
  auto r = checks::VerifyQuote(in);
  EXPECT_TRUE(r.reboot);
  EXPECT_FALSE(HasEvent(r, "quote.replay")) << Ids(r);
  EXPECT_FALSE(HasEvent(r, "quote.tpm_rollback")) << Ids(r);
  in = Make({900, 3, 0, true});
  in.previous = ClockState{800, 2, 5, true};
  r = checks::VerifyQuote(in);
  EXPECT_TRUE(r.ok()) << Ids(r);
  EXPECT_TRUE(r.reboot);
  // Restart (TPM2_Startup(STATE) after hibernate): restartCount up.
  in = Make({900, 2, 6, true});
  in.previous = ClockState{800, 2, 5, true};
  r = checks::VerifyQuote(in);
  EXPECT_TRUE(r.ok()) << Ids(r);
  EXPECT_TRUE(r.reboot);
  // Same boot, clock advanced: no reboot.
  in = Make({801, 2, 5, true});
  in.previous = ClockState{800, 2, 5, true};
  r = checks::VerifyQuote(in);
  EXPECT_TRUE(r.ok()) << Ids(r);
  EXPECT_FALSE(r.reboot);
  // Lower restart count with the same reset count: old quote.
  in = Make({900, 2, 4, true});
  in.previous = ClockState{800, 2, 5, true};
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(in), "quote.replay"));
}

// Issue 17.4: lower counters in a quote the TPM signed for a nonce issued
// after the stored quote was made is a TPM rollback (a restored snapshot, a
// cloned vTPM), in the TPM's order: resetCount, restartCount, clock.
// A snapshot restored, then TPM Restart/Resume cycles (or Resets that keep
// a saved clock) until the counters pass the stored ones: the counters say
// "reboot", the clock says the state is from another time.
TEST_F(SoftQuote, CountersPushedForwardOverARestoredClockAreARollback) {
  const ClockState stored{90'000, 2, 5, true};
  for (const testing::SoftClock& c : {testing::SoftClock{40'000, 2, 6, true},     // restart
                                      testing::SoftClock{40'000, 2, 6, false},    // restart
                                      testing::SoftClock{40'000, 3, 0, true}}) {  // safe reset
    SCOPED_TRACE(std::to_string(c.clock) + "/" + std::to_string(c.reset_count) + "/" +
                 std::to_string(c.restart_count) + (c.safe ? " safe" : ""));
    auto in = Make(c);
    in.previous = stored;
    in.nonce_after_previous = true;
    auto r = checks::VerifyQuote(in);
    EXPECT_TRUE(HasEvent(r, "quote.tpm_rollback")) << Ids(r);
    EXPECT_FALSE(r.reboot);
    in.nonce_after_previous = false;
    r = checks::VerifyQuote(in);
    EXPECT_TRUE(HasEvent(r, "quote.replay")) << Ids(r);
  }
  // A reset after a power loss may lose the clock since it was saved: a
  // reboot (with the clock_unsafe notice), as every real power cut gives.
  auto in = Make(testing::SoftClock{40'000, 3, 0, false});
  in.previous = stored;
  in.nonce_after_previous = true;
  auto r = checks::VerifyQuote(in);
  EXPECT_TRUE(r.reboot);
  EXPECT_FALSE(HasEvent(r, "quote.tpm_rollback")) << Ids(r);
}

TEST_F(SoftQuote, CountersBackwardsForAFreshNonceAreARollback) {
  const ClockState stored{800, 2, 5, true};
  for (const testing::SoftClock& c : {testing::SoftClock{900, 1, 9, true},     // reset lower
                                      testing::SoftClock{900, 2, 4, true},     // restart lower
                                      testing::SoftClock{799, 2, 5, true},     // clock lower
                                      testing::SoftClock{10, 0, 0, false}}) {  // a cleared TPM
    SCOPED_TRACE(std::to_string(c.clock) + "/" + std::to_string(c.reset_count) + "/" +
                 std::to_string(c.restart_count));
    auto in = Make(c);
    in.previous = stored;
    in.nonce_after_previous = true;
    auto r = checks::VerifyQuote(in);
    ASSERT_TRUE(HasEvent(r, "quote.tpm_rollback")) << Ids(r);
    EXPECT_FALSE(HasEvent(r, "quote.replay")) << Ids(r);
    EXPECT_FALSE(r.reboot);
    const checks::Failure* f = nullptr;
    for (const auto& x : r.failures) {
      if (x.event_id == "quote.tpm_rollback") f = &x;
    }
    EXPECT_EQ(f->severity, checks::Severity::kCritical);
    auto json = checks::ContextJson(f->context);
    EXPECT_NE(json.find("\"previous_clock\":800"), std::string::npos) << json;
    EXPECT_NE(json.find("\"reset_count\":" + std::to_string(c.reset_count)), std::string::npos)
        << json;

    // A nonce that may predate the stored quote: an old quote delayed on its
    // way (reordered), not provably a rollback.
    in.nonce_after_previous = false;
    r = checks::VerifyQuote(in);
    EXPECT_TRUE(HasEvent(r, "quote.replay")) << Ids(r);
    EXPECT_FALSE(HasEvent(r, "quote.tpm_rollback")) << Ids(r);
  }
}

TEST_F(SoftQuote, RollbackNeedsAnOtherwiseAuthenticQuote) {
  auto in = Make({700, 2, 5, true});
  in.previous = ClockState{800, 2, 5, true};
  in.nonce_after_previous = true;
  auto wrong_nonce = in;
  wrong_nonce.nonce = tpm::Bytes(20, 0x11);
  auto r = checks::VerifyQuote(wrong_nonce);
  EXPECT_TRUE(HasEvent(r, "quote.replay")) << Ids(r);
  EXPECT_FALSE(HasEvent(r, "quote.tpm_rollback")) << Ids(r);
  auto bad_sig = in;
  bad_sig.signature =
      testing::SignLikeTpm(testing::MakeEccAk(), TPM2_ALG_ECDSA, TPM2_ALG_SHA256, in.quote);
  r = checks::VerifyQuote(bad_sig);
  EXPECT_TRUE(HasEvent(r, "quote.replay")) << Ids(r);
  EXPECT_FALSE(HasEvent(r, "quote.tpm_rollback")) << Ids(r);
  auto bad_pcr = in;
  bad_pcr.pcrs[TPM2_ALG_SHA256][7][0] ^= 1;
  r = checks::VerifyQuote(bad_pcr);
  EXPECT_FALSE(HasEvent(r, "quote.tpm_rollback")) << Ids(r);
}

// The same clockInfo again is the same quote re-sent (a retry), never a
// rollback, whatever the nonce's age.
TEST_F(SoftQuote, EqualClockInfoStaysAReplay) {
  auto in = Make({800, 2, 5, true});
  in.previous = ClockState{800, 2, 5, true};
  in.nonce_after_previous = true;
  auto r = checks::VerifyQuote(in);
  EXPECT_TRUE(HasEvent(r, "quote.replay")) << Ids(r);
  EXPECT_FALSE(HasEvent(r, "quote.tpm_rollback")) << Ids(r);
  EXPECT_EQ(r.failures.size(), 1u) << Ids(r);
}

TEST_F(SoftQuote, UnsafeClockFails) {
  auto in = Make({900, 0, 0, false});
  auto r = checks::VerifyQuote(in);
  EXPECT_TRUE(HasEvent(r, "quote.clock_unsafe")) << Ids(r);
  EXPECT_EQ(r.failures.size(), 1u) << Ids(r);
}

TEST_F(SoftQuote, MagicAndTypeAreChecked) {
  auto in = Make({});
  auto attest = tpm::ParseAttest(in.quote);
  ASSERT_TRUE(attest);
  attest->magic = 0x12345678;
  in.quote = *tpm::MarshalAttest(*attest);
  in.signature = testing::SignLikeTpm(ak_, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, in.quote);
  auto r = checks::VerifyQuote(in);
  EXPECT_TRUE(HasEvent(r, "quote.invalid_magic")) << Ids(r);
  EXPECT_EQ(r.failures.size(), 1u) << Ids(r);

  // A certify structure signed by the same key is not a quote.
  TPMS_ATTEST certify{};
  certify.magic = TPM2_GENERATED_VALUE;
  certify.type = TPM2_ST_ATTEST_CERTIFY;
  certify.extraData.size = 20;
  std::fill_n(certify.extraData.buffer, 20, 0x5a);
  certify.clockInfo.safe = TPM2_YES;
  in.quote = *tpm::MarshalAttest(certify);
  in.signature = testing::SignLikeTpm(ak_, TPM2_ALG_ECDSA, TPM2_ALG_SHA256, in.quote);
  r = checks::VerifyQuote(in);
  EXPECT_TRUE(HasEvent(r, "quote.invalid_type")) << Ids(r);
}

using testing::Scheme;

class AllSchemes : public ::testing::TestWithParam<Scheme> {};

TEST_P(AllSchemes, ValidPassesTamperedFails) {
  const Scheme& s = GetParam();
  auto ak = s.rsa ? testing::MakeRsaAk() : testing::MakeEccAk(s.curve);
  auto other = s.rsa ? testing::MakeRsaAk() : testing::MakeEccAk(s.curve);
  TPML_PCR_SELECTION sel = testing::Selection(TPM2_ALG_SHA256, {0, 2, 4});
  sel.count = 2;
  sel.pcrSelections[1] = testing::Selection(TPM2_ALG_SHA384, {10, 23}).pcrSelections[0];
  checks::QuoteInputs in;
  in.nonce = tpm::Bytes(32, 0x11);
  in.pcrs = testing::ValuesFor(sel);
  in.quote = testing::MakeQuote(in.nonce, sel, in.pcrs, s.hash);
  in.signature = testing::SignLikeTpm(ak, s.sig, s.hash, in.quote);
  in.ak_public = ak.pub;
  auto r = checks::VerifyQuote(in);
  EXPECT_TRUE(r.ok()) << Ids(r);
  EXPECT_EQ(r.hash_alg, s.hash);
  EXPECT_EQ(tpm::FormatSelection(r.pcr_selection), "sha256:0,2,4+sha384:10,23");

  auto bad = in;
  bad.pcrs[TPM2_ALG_SHA384][23][0] ^= 1;
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(bad), "quote.pcr_digest_mismatch"));
  bad = in;
  bad.ak_public = other.pub;
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(bad), "quote.invalid_signature"));
  bad = in;
  bad.signature[bad.signature.size() - 3] ^= 0x80;
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(bad), "quote.invalid_signature"));
  // The signature of another key type never verifies (RSA vs ECC).
  auto swapped = s.rsa ? testing::MakeEccAk() : testing::MakeRsaAk();
  bad = in;
  bad.ak_public = swapped.pub;
  EXPECT_TRUE(HasEvent(checks::VerifyQuote(bad), "quote.invalid_signature"));
}

INSTANTIATE_TEST_SUITE_P(
    Schemes, AllSchemes,
    ::testing::Values(
        Scheme{"rsassa_sha256", true, 0, TPM2_ALG_RSASSA, TPM2_ALG_SHA256},
        Scheme{"rsassa_sha384", true, 0, TPM2_ALG_RSASSA, TPM2_ALG_SHA384},
        Scheme{"rsapss_sha256", true, 0, TPM2_ALG_RSAPSS, TPM2_ALG_SHA256},
        Scheme{"rsapss_sha384", true, 0, TPM2_ALG_RSAPSS, TPM2_ALG_SHA384},
        Scheme{"ecdsa_p256_sha256", false, TPM2_ECC_NIST_P256, TPM2_ALG_ECDSA, TPM2_ALG_SHA256},
        Scheme{"ecdsa_p384_sha384", false, TPM2_ECC_NIST_P384, TPM2_ALG_ECDSA, TPM2_ALG_SHA384}),
    testing::SchemeName);

TEST(QuoteRobustness, EveryBitFlipOfQuoteOrSignatureFails) {
  auto ak = KeylimeAk();
  const auto in = KeylimeInputs(ak);
  ASSERT_TRUE(checks::VerifyQuote(in).ok());
  for (size_t i = 0; i < in.quote.size() * 8; ++i) {
    auto bad = in;
    bad.quote[i / 8] ^= static_cast<uint8_t>(1 << (i % 8));
    EXPECT_FALSE(checks::VerifyQuote(bad).ok()) << "quote bit " << i;
  }
  for (size_t i = 0; i < in.signature.size() * 8; ++i) {
    auto bad = in;
    bad.signature[i / 8] ^= static_cast<uint8_t>(1 << (i % 8));
    EXPECT_FALSE(checks::VerifyQuote(bad).ok()) << "signature bit " << i;
  }
}

TEST(QuoteRobustness, TruncationsAndGarbageNeverCrashOrPass) {
  auto ak = KeylimeAk();
  const auto in = KeylimeInputs(ak);
  const auto pcr_file = ReadBytes(KeylimeQuoteDir() / "quotepcr.out");
  const auto ak_pub = ReadBytes(KeylimeQuoteDir() / "ak.pub");
  for (size_t n = 0; n < in.quote.size(); ++n) {
    auto bad = in;
    bad.quote.resize(n);
    EXPECT_TRUE(HasEvent(checks::VerifyQuote(bad), "quote.malformed")) << n;
  }
  for (size_t n = 0; n < in.signature.size(); ++n) {
    auto bad = in;
    bad.signature.resize(n);
    EXPECT_TRUE(HasEvent(checks::VerifyQuote(bad), "quote.malformed")) << n;
  }
  for (size_t n = 0; n < pcr_file.size(); ++n) {
    EXPECT_FALSE(tpm::ParseTpm2ToolsPcrFile(tpm::ByteView(pcr_file).first(n))) << n;
  }
  for (size_t n = 0; n < ak_pub.size(); ++n) {
    EXPECT_FALSE(tpm::LoadAkPublic(tpm::ByteView(ak_pub).first(n))) << n;
  }
  std::mt19937 rng(42);
  for (int round = 0; round < 2000; ++round) {
    tpm::Bytes junk(rng() % 700);
    for (auto& b : junk) b = static_cast<uint8_t>(rng());
    auto bad = in;
    (round % 2 ? bad.quote : bad.signature) = junk;
    EXPECT_FALSE(checks::VerifyQuote(bad).ok());
    (void)tpm::ParseTpm2ToolsPcrFile(junk);
    (void)tpm::LoadAkPublic(junk);
    (void)tpm::ParsePcrSelection(junk);
  }
}

TEST(QuoteRobustness, PcrFileBitFlipsNeverPassWithChangedValues) {
  auto ak = KeylimeAk();
  const auto in = KeylimeInputs(ak);
  const auto pcr_file = ReadBytes(KeylimeQuoteDir() / "quotepcr.out");
  for (size_t i = 0; i < pcr_file.size() * 8; ++i) {
    auto bad = pcr_file;
    bad[i / 8] ^= static_cast<uint8_t>(1 << (i % 8));
    auto parsed = tpm::ParseTpm2ToolsPcrFile(bad);
    if (!parsed) continue;
    auto v = in;
    v.pcrs = parsed->values;
    // Padding bytes do not matter; any change of a value must be caught.
    EXPECT_EQ(checks::VerifyQuote(v).ok(), parsed->values == in.pcrs) << "bit " << i;
  }
}

}  // namespace
}  // namespace attest
