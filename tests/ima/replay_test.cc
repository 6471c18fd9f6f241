// Incremental replay: chunks give the same PCR values and failures as one go.
#include <gtest/gtest.h>

#include "common/ima/replay.h"
#include "tests/ima/test_util.h"

namespace attest::ima {
namespace {

const HashAlg kBanks[] = {HashAlg::kSha1, HashAlg::kSha256, HashAlg::kSha384, HashAlg::kSha512};

TEST(ImaReplay, ChunksEqualOneGo) {
  Log log = test::LoadLog(test::ImaDir() / "rust-keylime-ascii_runtime_measurements");
  // Two failures to carry across chunk boundaries.
  log.entries[5].template_hash.bytes[0] ^= 1;
  Log shorter = log;
  shorter.entries.erase(shorter.entries.begin() + 700);
  RuntimePolicy policy = GeneratePolicy(shorter);
  ReplayOptions opt;
  opt.policy = &policy;

  ReplayState whole = ReplayState::Initial(kBanks);
  ReplayOutcome one = Replay(whole, log.entries, opt);
  ASSERT_FALSE(one.ok());
  EXPECT_EQ(whole.next_entry, log.entries.size());

  for (size_t chunk : {1u, 7u, 100u, 825u}) {
    SCOPED_TRACE(chunk);
    ReplayState st = ReplayState::Initial(kBanks);
    std::vector<Failure> failures;
    std::span<const Entry> all(log.entries);
    while (st.next_entry < all.size()) {
      auto part = all.subspan(st.next_entry, std::min<size_t>(chunk, all.size() - st.next_entry));
      auto out = Replay(st, part, opt);
      failures.insert(failures.end(), out.failures.begin(), out.failures.end());
    }
    for (HashAlg b : kBanks) EXPECT_EQ(*st.Pcr(b), *whole.Pcr(b)) << HashName(b);
    ASSERT_EQ(failures.size(), one.failures.size());
    for (size_t i = 0; i < failures.size(); ++i) {
      EXPECT_EQ(failures[i].id, one.failures[i].id);
      EXPECT_EQ(failures[i].entry, one.failures[i].entry);
    }
  }
}

TEST(ImaReplay, Sha1BankEqualsChainOfTemplateHashes) {
  Log log = test::LoadLog(test::ImaDir() / "rust-keylime-ascii_runtime_measurements");
  Hasher h;
  Digest pcr = Digest::Filled(20, 0);
  for (const auto& e : log.entries) {
    Digest v = e.IsViolation() ? Digest::Filled(20, 0xff) : e.template_hash;
    pcr = h.Hash2(HashAlg::kSha1, pcr.view(), v.view());
  }
  ReplayState st = ReplayState::Initial(std::vector<HashAlg>{HashAlg::kSha1});
  ASSERT_TRUE(Replay(st, log.entries, {}).ok());
  EXPECT_EQ(*st.Pcr(HashAlg::kSha1), pcr);
}

TEST(ImaReplay, ExpectedPcrMatchesAtPrefix) {
  Log log = test::LoadLog(test::ImaDir() / "rust-keylime-ascii_runtime_measurements");
  ReplayState st = ReplayState::Initial(std::vector<HashAlg>{HashAlg::kSha256});
  ASSERT_TRUE(Replay(st, std::span(log.entries).first(500), {}).ok());
  Digest at500 = *st.Pcr(HashAlg::kSha256);

  ReplayOptions opt;
  opt.expected_pcr = at500;
  opt.expected_bank = HashAlg::kSha256;
  ReplayState st2 = ReplayState::Initial(std::vector<HashAlg>{HashAlg::kSha256});
  auto out = Replay(st2, log.entries, opt);
  EXPECT_TRUE(out.ok());
  ASSERT_TRUE(out.pcr_matched_at);
  EXPECT_EQ(*out.pcr_matched_at, 500u);

  opt.expected_pcr = Digest::Filled(32, 0x42);
  ReplayState st3 = ReplayState::Initial(std::vector<HashAlg>{HashAlg::kSha256});
  auto bad = Replay(st3, log.entries, opt);
  ASSERT_EQ(bad.failures.size(), 1u);
  EXPECT_EQ(bad.failures[0].id, "ima.pcr_mismatch");
}

TEST(ImaReplay, WrongPcrIndexIsReported) {
  Log log = test::LoadLog(test::ImaDir() / "ima-log-sha256");
  log.entries[1].pcr = 11;
  ReplayState st = ReplayState::Initial(std::vector<HashAlg>{HashAlg::kSha1});
  auto out = Replay(st, log.entries, {});
  ASSERT_EQ(out.failures.size(), 1u);
  EXPECT_EQ(out.failures[0].id, "ima.validation.ima_pcr");
  EXPECT_EQ(out.failures[0].entry, 1u);
}

}  // namespace
}  // namespace attest::ima
