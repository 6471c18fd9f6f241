// Keylime's IMA verification cases (ima-conformance/cases.tsv): each row
// gives a log (or some of its lines), a policy, keys and pass/fail.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "common/ima/replay.h"
#include "tests/ima/test_util.h"

namespace attest::ima {
namespace {

using test::ConformanceDir;

struct Case {
  std::string log, policy, keys, expected, what;
  int line = 0;
};

std::vector<Case> LoadCases() {
  std::istringstream in(attest::testing::ReadFile(ConformanceDir() / "cases.tsv"));
  std::vector<Case> cases;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> cols;
    std::stringstream ss(line);
    std::string col;
    while (std::getline(ss, col, '\t')) cols.push_back(col);
    if (cols.size() < 4) throw std::runtime_error("cases.tsv line " + std::to_string(lineno));
    cases.push_back(
        Case{cols[0], cols[1], cols[2], cols[3], cols.size() > 4 ? cols[4] : "", lineno});
  }
  return cases;
}

// "file", "file:N" or "file:N-M" (1-based, inclusive).
std::string SelectLines(const std::string& spec) {
  size_t colon = spec.find(':');
  std::string text = attest::testing::ReadFile(ConformanceDir() / spec.substr(0, colon));
  if (colon == std::string::npos) return text;
  std::string range = spec.substr(colon + 1);
  size_t dash = range.find('-');
  int from = std::stoi(range.substr(0, dash));
  int to = dash == std::string::npos ? from : std::stoi(range.substr(dash + 1));
  std::istringstream in(text);
  std::string line, out;
  for (int n = 1; std::getline(in, line); ++n) {
    if (n >= from && n <= to) out += line + "\n";
  }
  return out;
}

std::vector<std::string> Split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, sep)) out.push_back(item);
  return out;
}

TEST(ImaConformance, KeylimeCases) {
  auto cases = LoadCases();
  ASSERT_GE(cases.size(), 17u);
  for (const Case& c : cases) {
    SCOPED_TRACE("cases.tsv:" + std::to_string(c.line) + " " + c.log + " " + c.policy + " " +
                 c.keys + " -> " + c.expected + " (" + c.what + ")");
    auto log = Parse(SelectLines(c.log));
    ASSERT_TRUE(log) << log.error().message;
    std::optional<RuntimePolicy> policy;
    if (c.policy != "(none)") policy = test::LoadPolicy(ConformanceDir() / c.policy);
    std::optional<Keyring> keys;
    if (c.keys != "(none)") {
      keys.emplace();
      if (c.keys != "(empty keyring)") {
        for (const auto& k : Split(c.keys, ',')) {
          std::string pem = attest::testing::ReadFile(ConformanceDir() / "keys" / k);
          ASSERT_TRUE(keys->AddKeyData(AsBytes(pem), k));
        }
      }
    }
    if (policy && !policy->verification_keys().empty()) {
      if (!keys) keys.emplace();
      ASSERT_TRUE(keys->AddVerificationKeys(policy->verification_keys()));
    }
    ReplayOptions opt;
    opt.policy = policy ? &*policy : nullptr;
    opt.keys = keys ? &*keys : nullptr;
    HashAlg banks[] = {HashAlg::kSha1};
    ReplayState state = ReplayState::Initial(banks);
    ReplayOutcome out = Replay(state, log->entries, opt);
    std::string failures;
    for (const auto& f : out.failures) failures += f.id + "@" + std::to_string(f.entry) + " ";
    EXPECT_EQ(out.ok() ? "pass" : "fail", c.expected) << failures;
  }
}

TEST(ImaConformance, FailureIdsOfFailingCases) {
  Keyring empty;
  // Unsigned entries with keys and no policy: invalid_signature at 0..2.
  auto log = Parse(attest::testing::ReadFile(ConformanceDir() / "combined.log")).value();
  ReplayOptions opt;
  opt.keys = &empty;
  ReplayState st = ReplayState::Initial(std::vector<HashAlg>{HashAlg::kSha1});
  auto out = Replay(st, log.entries, opt);
  ASSERT_GE(out.failures.size(), 3u);
  EXPECT_EQ(out.failures[0].id, "ima.validator.ima-sig.invalid_signature");
  EXPECT_EQ(out.failures[0].entry, 0u);
  // Malformed signature header.
  auto bad = Parse(attest::testing::ReadFile(ConformanceDir() / "bad-signatures.log")).value();
  ReplayState st2 = ReplayState::Initial(std::vector<HashAlg>{HashAlg::kSha1});
  auto out2 = Replay(st2, bad.entries, opt);
  ASSERT_FALSE(out2.ok());
  EXPECT_EQ(out2.failures[0].entry, 0u);
  EXPECT_EQ(out2.failures[0].path, "/usr/bin/zmore");
}

TEST(ImaKeys, KeyIdsMatchKeylime) {
  Keyring ring;
  for (const char* k : {"rsa2048pub.pem", "secp256k1pub.pem"}) {
    std::string pem = attest::testing::ReadFile(ConformanceDir() / "keys" / k);
    ASSERT_TRUE(ring.AddKeyData(AsBytes(pem), k));
  }
  // Key ids listed in policy-with-verification-keys.json and in the logs.
  EXPECT_NE(ring.Find(0xf3452d23), nullptr);
  EXPECT_NE(ring.Find(0x531f4025), nullptr);
  std::string junk = "not a key";
  EXPECT_FALSE(ring.AddKeyData(AsBytes(junk), "junk"));
}

TEST(ImaKeys, PolicyVerificationKeysVerifySignatures) {
  auto policy = test::LoadPolicy(ConformanceDir() / "policy-with-verification-keys.json");
  Keyring ring;
  ASSERT_TRUE(ring.AddVerificationKeys(policy.verification_keys()));
  EXPECT_EQ(ring.size(), 2u);
  auto log = Parse(attest::testing::ReadFile(ConformanceDir() / "signatures.log")).value();
  ReplayOptions opt;
  opt.keys = &ring;
  ReplayState st = ReplayState::Initial(std::vector<HashAlg>{HashAlg::kSha1});
  EXPECT_TRUE(Replay(st, log.entries, opt).ok());
  // The RSA signature no longer verifies once one digest bit flips.
  Entry e = log.entries[0];
  e.data[e.digest.off] ^= 1;
  std::string_view algo = e.algo();
  EXPECT_EQ(ring.Verify(e.signature(), algo, e.file_digest()), SigStatus::kInvalid);
  EXPECT_EQ(ring.Verify(log.entries[0].signature(), algo, log.entries[0].file_digest()),
            SigStatus::kValid);
  EXPECT_EQ(ring.Verify(log.entries[0].signature(), "sha1", log.entries[0].file_digest()),
            SigStatus::kBadAlgo);
}

TEST(ImaKeys, ImaBufKeyLearnedFromLog) {
  // keyrings.log loads a certificate onto .ima; the policy allows it, so
  // the key is kept for later signature checks.
  auto policy = test::LoadPolicy(ConformanceDir() / "policy-test.json");
  auto log = Parse(attest::testing::ReadFile(ConformanceDir() / "keyrings.log")).value();
  Keyring empty;
  ReplayOptions opt;
  opt.policy = &policy;
  opt.keys = &empty;
  ReplayState st = ReplayState::Initial(std::vector<HashAlg>{HashAlg::kSha1});
  EXPECT_TRUE(Replay(st, log.entries, opt).ok());
  EXPECT_EQ(st.learned_keys.size(), 1u);
  // Without the keyring digest in the policy, the entry fails.
  auto empty_policy = test::LoadPolicy(ConformanceDir() / "policy-empty.json");
  opt.policy = &empty_policy;
  ReplayState st2 = ReplayState::Initial(std::vector<HashAlg>{HashAlg::kSha1});
  auto out = Replay(st2, log.entries, opt);
  ASSERT_EQ(out.failures.size(), 1u);
  EXPECT_EQ(out.failures[0].id, "ima.validation.ima-ng.not_in_allowlist");
  EXPECT_EQ(st2.learned_keys.size(), 0u);
}

}  // namespace
}  // namespace attest::ima
