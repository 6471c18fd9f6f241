// attest-bench's pure parts: the state file round trip and its bounds, the
// verdict tracker's counts (missing, duplicates, unexpected, early
// verdicts), percentiles, and the simulated IMA pool against common/ima's
// replay.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "common/ima/log.h"
#include "common/ima/replay.h"
#include "tests/harness/util/process.h"
#include "tools/attest-bench/state_file.h"
#include "tools/attest-bench/tracker.h"
#include "tools/simtpm/sim_ima.h"
#include "tools/simtpm/sim_tpm.h"

namespace attest::bench {
namespace {

TEST(StateFile, RoundTripsKeysAndAgents) {
  attest::testing::TempDir dir;
  BenchState st;
  st.interval_seconds = 7;
  st.ima_pool = 33;
  st.policy_name = "p";
  auto ecc = simtpm::MakeEccAk();
  ASSERT_TRUE(ecc.ok());
  st.keys.push_back({KeyType::kEcc, *simtpm::PrivateDer(ecc->key.get())});
  for (int i = 0; i < 3; ++i) {
    st.uuids.push_back(RandomUuid());
    st.key_of.push_back(0);
  }
  const auto path = (dir.path() / "s").string();
  ASSERT_TRUE(WriteState(path, st).ok());
  auto back = ReadState(path);
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->interval_seconds, 7u);
  EXPECT_EQ(back->ima_pool, 33u);
  EXPECT_EQ(back->uuids, st.uuids);
  ASSERT_EQ(back->keys.size(), 1u);
  auto key = simtpm::KeyFromDer(back->keys[0].der);
  ASSERT_TRUE(key.ok());
  auto pub = simtpm::PublicFor(key->get());
  ASSERT_TRUE(pub.ok());
  EXPECT_EQ(0, std::memcmp(&pub->unique.ecc, &ecc->pub.unique.ecc, sizeof pub->unique.ecc));
  EXPECT_EQ(UuidText(st.uuids[0]).size(), 36u);
  EXPECT_EQ(UuidText(st.uuids[0])[14], '4');
}

TEST(StateFile, RefusesTruncatedAndOutOfRangeFiles) {
  attest::testing::TempDir dir;
  BenchState st;
  st.keys.push_back({KeyType::kEcc, {1, 2, 3}});
  st.uuids.push_back(RandomUuid());
  st.key_of.push_back(0);
  const auto path = (dir.path() / "s").string();
  ASSERT_TRUE(WriteState(path, st).ok());
  std::string all = attest::testing::ReadFile(path);
  std::ofstream(path, std::ios::trunc) << all.substr(0, all.size() - 3);
  EXPECT_FALSE(ReadState(path).ok());
  std::ofstream(path, std::ios::trunc)
      << "ATTEST-BENCH-STATE 1\n{\"agents\":99999999999,\"keys\":1,"
         "\"interval_seconds\":1,\"ima_pool\":1}\n";
  EXPECT_FALSE(ReadState(path).ok());
  std::ofstream(path, std::ios::trunc) << "garbage";
  EXPECT_FALSE(ReadState(path).ok());
  st.key_of[0] = 5;  // index beyond the keys
  EXPECT_TRUE(WriteState(path, st).ok());
  EXPECT_FALSE(ReadState(path).ok());
}

TEST(Tracker, CountsMissingDuplicatesUnexpectedAndEarlyVerdicts) {
  Tracker t({"a", "b"});
  EXPECT_FALSE(t.Accepted("e1", {0, 1}, 1'000'000));
  EXPECT_FALSE(t.Accepted("e2", {1, 1}, 1'000'000));
  auto who = t.OnVerdict("a", 1, "e1", "PASS", 11'000'000);
  ASSERT_TRUE(who.has_value());
  EXPECT_EQ(who->agent, 0u);
  // Same verdict again (same agent+sequence) and another for the same evidence.
  EXPECT_FALSE(t.OnVerdict("a", 1, "e1", "PASS", 12'000'000).has_value());
  EXPECT_FALSE(t.OnVerdict("a", 2, "e1", "PASS", 12'000'000).has_value());
  // A verdict before its 202 is matched when the 202 comes.
  EXPECT_FALSE(t.OnVerdict("b", 1, "e3", "FAIL", 5'000'000).has_value());
  EXPECT_TRUE(t.Accepted("e3", {1, 2}, 4'000'000));
  // Never accepted, OFFLINE without evidence, another agent's.
  t.OnVerdict("b", 2, "e-refused", "REJECTED", 6'000'000);
  t.OnVerdict("b", 3, "", "OFFLINE", 6'000'000);
  t.OnVerdict("zzz", 1, "e9", "PASS", 6'000'000);
  auto c = t.Snapshot();
  EXPECT_EQ(c.accepted, 3u);
  EXPECT_EQ(c.matched, 2u);
  EXPECT_EQ(c.missing, 1u);  // e2
  EXPECT_EQ(c.duplicates, 2u);
  EXPECT_EQ(c.unexpected, 1u);
  EXPECT_EQ(c.no_evidence, 1u);
  EXPECT_EQ(c.foreign, 1u);
  EXPECT_EQ(c.verdicts, 6u);
  EXPECT_EQ(c.by_result["PASS"], 3u);
  ASSERT_EQ(c.latencies_ms.size(), 2u);
  EXPECT_DOUBLE_EQ(c.latencies_ms[0], 1.0);
  EXPECT_DOUBLE_EQ(c.latencies_ms[1], 10.0);
  EXPECT_EQ(t.Outstanding(), 1u);
}

TEST(Percentile, NearestRank) {
  std::vector<double> v;
  for (int i = 1; i <= 100; ++i) v.push_back(i);
  EXPECT_EQ(Percentile(v, 0.5), 50);
  EXPECT_EQ(Percentile(v, 0.99), 99);
  EXPECT_EQ(Percentile(v, 1.0), 100);
  EXPECT_EQ(Percentile({}, 0.5), 0);
}

TEST(ImaPool, AsciiRangeReplaysToTheSimulatedPcr10) {
  auto pool = simtpm::ImaPool::Create(5);
  ASSERT_TRUE(pool.ok());
  std::array<uint8_t, 32> pcr{};
  pool->Extend(pcr, 0, 12);
  auto log = ima::ParseAscii(pool->AsciiRange(0, 12));
  ASSERT_TRUE(log.ok()) << log.error().message;
  ASSERT_EQ(log->entries.size(), 12u);
  const ima::HashAlg banks[] = {ima::HashAlg::kSha256};
  auto st = ima::ReplayState::Initial(banks);
  ASSERT_TRUE(ima::Replay(st, std::span(log->entries), {}).ok());
  auto v = st.Pcr(ima::HashAlg::kSha256)->view();
  EXPECT_TRUE(std::equal(v.begin(), v.end(), pcr.begin(), pcr.end()));
  EXPECT_NE(pool->RuntimePolicy().find("attest-bench-4"), std::string::npos);
}

}  // namespace
}  // namespace attest::bench
