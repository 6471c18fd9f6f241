// Quotes made by tpm2-tools on swtpm (tpm2_createek, tpm2_createak,
// tpm2_quote): our verdict must agree with the external oracles on valid and
// tampered inputs -- tpm2_checkquote for RSASSA/ECDSA, `openssl dgst` for
// RSAPSS (tpm2_checkquote cannot verify PSS) -- and a real TPM reset must
// show as a reboot, an old quote as a replay.
#include <gtest/gtest.h>

#include <fstream>

#include "common/checks/quote.h"
#include "common/tpm/pcr.h"
#include "common/tpm/tpm_crypto.h"
#include "tests/harness/swtpm/swtpm.h"
#include "tests/quote/quote_test_util.h"

namespace attest {
namespace {

using testing::HasEvent;
using testing::Ids;
using testing::ReadBytes;
namespace fs = std::filesystem;

constexpr char kNonceHex[] = "0badc0ffee11223344556677";
constexpr char kSelection[] = "sha256:0,1,2,10+sha384:0,7";

void WriteBytes(const fs::path& p, const tpm::Bytes& b) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

struct QuoteFiles {
  fs::path msg, sig, pcrs;
};

class TpmTools {
 public:
  explicit TpmTools(testing::Swtpm& tpm) : tpm_(tpm), dir_(tpm.dir() / "work") {
    fs::create_directories(dir_);
  }
  fs::path Path(const std::string& name) const { return dir_ / name; }

  // Runs a tool and flushes transient objects (swtpm has no resource manager).
  void Run(std::vector<std::string> argv) {
    std::string out;
    int rc = tpm_.RunTool(argv, &out);
    ASSERT_EQ(rc, 0) << argv[0] << ": " << out;
    Flush();
  }
  void Flush() {
    std::string out;
    ASSERT_EQ(tpm_.RunTool({"tpm2_flushcontext", "-t"}, &out), 0) << out;
  }
  int Oracle(std::vector<std::string> argv, std::string* out) { return tpm_.RunTool(argv, out); }

  void CreateEk() {
    Run({"tpm2_createek", "-c", Path("ek.ctx"), "-G", "rsa", "-u", Path("ek.pub")});
  }
  // AK `name` under the EK: name.ctx, name.pub (TPM2B_PUBLIC), name.pem.
  void CreateAk(const std::string& name, const std::string& alg, const std::string& hash,
                const std::string& scheme) {
    Run({"tpm2_createak", "-C", Path("ek.ctx"), "-c", Path(name + ".ctx"), "-G", alg, "-g", hash,
         "-s", scheme, "-u", Path(name + ".pub"), "-n", Path(name + ".name")});
    Run({"tpm2_readpublic", "-c", Path(name + ".ctx"), "-f", "pem", "-o", Path(name + ".pem")});
  }
  QuoteFiles Quote(const std::string& key, const std::string& hash, bool pss,
                   const std::string& tag) {
    QuoteFiles q{Path(tag + ".msg"), Path(tag + ".sig"), Path(tag + ".pcrs")};
    std::vector<std::string> argv = {"tpm2_quote", "-c",      key,    "-l",  kSelection,
                                     "-q",         kNonceHex, "-m",   q.msg, "-s",
                                     q.sig,        "-o",      q.pcrs, "-g",  hash};
    if (pss) {
      argv.push_back("--scheme");
      argv.push_back("rsapss");
    }
    Run(argv);
    return q;
  }

 private:
  testing::Swtpm& tpm_;
  fs::path dir_;
};

checks::QuoteResult Verify(const QuoteFiles& q, const fs::path& ak_file,
                           const std::string& nonce_hex,
                           std::optional<checks::ClockState> previous = std::nullopt) {
  auto ak = tpm::LoadAkPublic(ReadBytes(ak_file));
  EXPECT_TRUE(ak) << ak.error().message;
  auto pcrs = tpm::ParseTpm2ToolsPcrFile(ReadBytes(q.pcrs));
  EXPECT_TRUE(pcrs) << pcrs.error().message;
  checks::QuoteInputs in;
  in.quote = ReadBytes(q.msg);
  in.signature = ReadBytes(q.sig);
  if (ak) in.ak_public = ak->tpm_public;
  if (ak && !ak->tpm_public) in.ak_key = ak->pkey.get();
  in.nonce = *tpm::FromHex(nonce_hex);
  if (pcrs) in.pcrs = pcrs->values;
  in.previous = previous;
  auto r = checks::VerifyQuote(in);
  // A prepared verifier of the same AK (what the verifier caches) agrees.
  if (ak) {
    const checks::AkVerifier verifier(ak->pkey.get());
    auto prepared = in;
    prepared.ak_verifier = &verifier;
    EXPECT_EQ(checks::VerifyQuote(prepared).ok(), r.ok());
  }
  // The PEM form of the same AK must give the same verdict.
  if (ak && ak->tpm_public) {
    auto pem = ak_file;
    pem.replace_extension(".pem");
    if (fs::exists(pem)) {
      auto key = tpm::LoadAkPublic(ReadBytes(pem));
      EXPECT_TRUE(key);
      if (key) {
        EXPECT_TRUE(tpm::SamePublicKey(key->pkey.get(), ak->pkey.get()));
        in.ak_public.reset();
        in.ak_key = key->pkey.get();
        EXPECT_EQ(checks::VerifyQuote(in).ok(), r.ok());
      }
    }
  }
  return r;
}

struct Case {
  const char* name;
  const char* key_alg;
  const char* hash;
  const char* scheme;
  size_t digest_len;
};

class SwtpmQuote : public ::testing::TestWithParam<Case> {};

TEST_P(SwtpmQuote, VerdictAgreesWithOracle) {
  const Case& c = GetParam();
  const bool pss = std::string(c.scheme) == "rsapss";
  testing::Swtpm tpm;
  TpmTools tools(tpm);
  tools.CreateEk();
  tools.CreateAk("ak", c.key_alg, c.hash, c.scheme);
  tools.CreateAk("ak2", c.key_alg, c.hash, c.scheme);
  if (HasFatalFailure()) return;
  QuoteFiles good = tools.Quote(tools.Path("ak.ctx"), c.hash, pss, "q");
  if (HasFatalFailure()) return;

  // Tampered inputs: a flipped PCR digest byte (first digest starts at 0x8e),
  // a flipped signature byte, the other AK, a wrong nonce.
  QuoteFiles bad_pcr = good, bad_sig = good;
  bad_pcr.pcrs = tools.Path("bad.pcrs");
  auto pcr_bytes = ReadBytes(good.pcrs);
  pcr_bytes.at(0x8e + 3) ^= 0x20;
  WriteBytes(bad_pcr.pcrs, pcr_bytes);
  bad_sig.sig = tools.Path("bad.sig");
  auto sig_bytes = ReadBytes(good.sig);
  sig_bytes.back() ^= 0x01;
  WriteBytes(bad_sig.sig, sig_bytes);

  struct Variant {
    const char* what;
    QuoteFiles files;
    std::string ak;
    std::string nonce;
    const char* expected_event;  // nullptr: must pass
  };
  const std::vector<Variant> variants = {
      {"valid", good, "ak", kNonceHex, nullptr},
      {"wrong nonce", good, "ak", "0badc0ffee11223344556678", "quote.nonce_mismatch"},
      {"flipped PCR byte", bad_pcr, "ak", kNonceHex, "quote.pcr_digest_mismatch"},
      {"flipped signature byte", bad_sig, "ak", kNonceHex, "quote.invalid_signature"},
      {"another AK", good, "ak2", kNonceHex, "quote.invalid_signature"},
  };
  for (const auto& v : variants) {
    SCOPED_TRACE(v.what);
    auto ours = Verify(v.files, tools.Path(v.ak + ".pub"), v.nonce);
    if (v.expected_event) {
      EXPECT_TRUE(HasEvent(ours, v.expected_event)) << Ids(ours);
    } else {
      EXPECT_TRUE(ours.ok()) << Ids(ours);
    }
    std::string out;
    bool oracle_ok;
    if (!pss) {
      oracle_ok =
          tools.Oracle({"tpm2_checkquote", "-u", tools.Path(v.ak + ".pem"), "-m", v.files.msg, "-s",
                        v.files.sig, "-f", v.files.pcrs, "-g", c.hash, "-q", v.nonce},
                       &out) == 0;
      EXPECT_EQ(ours.ok(), oracle_ok) << "tpm2_checkquote: " << out << "\nours: " << Ids(ours);
    } else {
      // openssl checks the signature only: raw signature = TPMT_SIGNATURE
      // minus sigAlg, hash and size (6 bytes).
      auto raw = ReadBytes(v.files.sig);
      raw.erase(raw.begin(), raw.begin() + 6);
      WriteBytes(tools.Path("raw.sig"), raw);
      oracle_ok =
          testing::RunCommand(
              {"openssl", "dgst", std::string("-") + c.hash, "-sigopt", "rsa_padding_mode:pss",
               "-sigopt", "rsa_pss_saltlen:" + std::to_string(c.digest_len), "-verify",
               tools.Path(v.ak + ".pem"), "-signature", tools.Path("raw.sig"), v.files.msg},
              &out) == 0;
      EXPECT_EQ(!HasEvent(ours, "quote.invalid_signature"), oracle_ok)
          << "openssl: " << out << "\nours: " << Ids(ours);
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Tpm2Tools, SwtpmQuote,
                         ::testing::Values(Case{"rsa_rsassa_sha256", "rsa", "sha256", "rsassa", 32},
                                           Case{"rsa_rsapss_sha256", "rsa", "sha256", "rsapss", 32},
                                           Case{"ecc_p256_sha256", "ecc256", "sha256", "ecdsa", 32},
                                           Case{"ecc_p384_sha384", "ecc384", "sha384", "ecdsa",
                                                48}),
                         [](const auto& info) { return std::string(info.param.name); });

TEST(SwtpmQuoteClock, ResetIsARebootAndOldQuotesAreReplays) {
  testing::Swtpm tpm;
  TpmTools tools(tpm);
  tools.CreateEk();
  tools.CreateAk("ak", "rsa", "sha256", "rsassa");
  // Persist the AK: a TPM reset discards transient objects and their contexts.
  tools.Run({"tpm2_evictcontrol", "-C", "o", "-c", tools.Path("ak.ctx"), "0x81010002"});
  if (HasFatalFailure()) return;
  auto q1 = tools.Quote("0x81010002", "sha256", false, "q1");
  auto q2 = tools.Quote("0x81010002", "sha256", false, "q2");
  if (HasFatalFailure()) return;
  auto r1 = Verify(q1, tools.Path("ak.pub"), kNonceHex);
  ASSERT_TRUE(r1.ok()) << Ids(r1);
  auto r2 = Verify(q2, tools.Path("ak.pub"), kNonceHex, r1.clock);
  EXPECT_TRUE(r2.ok()) << Ids(r2);
  EXPECT_FALSE(r2.reboot);
  auto replay = Verify(q1, tools.Path("ak.pub"), kNonceHex, r2.clock);
  EXPECT_TRUE(HasEvent(replay, "quote.replay")) << Ids(replay);
  EXPECT_TRUE(HasEvent(Verify(q2, tools.Path("ak.pub"), kNonceHex, r2.clock), "quote.replay"));

  // An orderly reboot (the OS sends TPM2_Shutdown): the TPM saves its clock,
  // so the counts stay and the clock keeps advancing: an ordinary next quote.
  tools.Run({"tpm2_shutdown"});
  tpm.Restart();
  auto q3 = tools.Quote("0x81010002", "sha256", false, "q3");
  if (HasFatalFailure()) return;
  auto r3 = Verify(q3, tools.Path("ak.pub"), kNonceHex, r2.clock);
  EXPECT_TRUE(r3.ok()) << Ids(r3);
  EXPECT_GT(r3.clock.clock, r2.clock.clock);
  EXPECT_TRUE(HasEvent(Verify(q2, tools.Path("ak.pub"), kNonceHex, r3.clock), "quote.replay"));

  // Power loss (no TPM2_Shutdown): TPM Reset, resetCount increments and the
  // clock is reported unsafe (it may have gone back).
  tpm.Restart();
  auto q4 = tools.Quote("0x81010002", "sha256", false, "q4");
  if (HasFatalFailure()) return;
  auto r4 = Verify(q4, tools.Path("ak.pub"), kNonceHex, r3.clock);
  EXPECT_TRUE(r4.reboot) << Ids(r4);
  EXPECT_GT(r4.clock.reset_count, r3.clock.reset_count);
  EXPECT_TRUE(HasEvent(r4, "quote.clock_unsafe")) << Ids(r4);
  EXPECT_EQ(r4.failures.size(), 1u) << Ids(r4);
  // After the reset was accepted, a quote from the previous boot is old.
  auto old = Verify(q3, tools.Path("ak.pub"), kNonceHex, r4.clock);
  EXPECT_TRUE(HasEvent(old, "quote.replay")) << Ids(old);
  EXPECT_FALSE(old.reboot);
}

}  // namespace
}  // namespace attest
