// Consumer offsets in PostgreSQL and zombie fencing, on a real database:
// two workers' transactions against the same partition, driven directly.
#include <gtest/gtest.h>

#include "common/db/connection.h"
#include "tests/harness/postgres/postgres_server.h"
#include "verifier-workers/errors.h"
#include "verifier-workers/offsets.h"

namespace attest::worker {
namespace {

class OffsetsTest : public attest::testing::MigratedPostgresTest {
 protected:
  std::unique_ptr<pqxx::connection> Open() {
    auto c = Connect();
    PrepareOffsetStatements(*c);
    return c;
  }
  OffsetKey key_{"workers", "attestation.evidence", 3};
};

TEST_F(OffsetsTest, ClaimInsertsRowAndBumpsEpoch) {
  auto a = Open();
  auto c1 = ClaimPartition(*a, key_, "w1");
  ASSERT_TRUE(c1.ok()) << c1.error().message;
  EXPECT_EQ(c1->next_offset, 0);
  auto c2 = ClaimPartition(*a, key_, "w2");
  ASSERT_TRUE(c2.ok());
  EXPECT_EQ(c2->next_offset, 0);
  EXPECT_EQ(c2->epoch, c1->epoch + 1);
}

TEST_F(OffsetsTest, AdvanceIsConditionalOnExpectedOffset) {
  auto a = Open();
  auto claim = ClaimPartition(*a, key_, "w1");
  ASSERT_TRUE(claim.ok());
  {
    pqxx::work tx(*a);
    ASSERT_TRUE(AdvanceOffset(tx, key_, *claim, 10, "w1").ok());
    tx.commit();
  }
  {
    // Same expected value again (a duplicate commit): 0 rows -> fenced.
    pqxx::work tx(*a);
    auto r = AdvanceOffset(tx, key_, *claim, 12, "w1");
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, make_error_code(errc::fenced));
  }
  auto again = ClaimPartition(*a, key_, "w1");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->next_offset, 10);
}

TEST_F(OffsetsTest, ZombieCannotCommitAfterReassignment) {
  // Worker A owns the partition and has a batch in flight; the group moves
  // the partition to B, which claims it before A commits. A's conditional
  // update matches 0 rows: its whole transaction (state, history, outbox)
  // rolls back. B then commits normally.
  auto a = Open();
  auto b = Open();
  auto claim_a = ClaimPartition(*a, key_, "A");
  ASSERT_TRUE(claim_a.ok());
  {
    pqxx::work tx(*a);
    ASSERT_TRUE(AdvanceOffset(tx, key_, *claim_a, 5, "A").ok());
    tx.commit();
  }
  claim_a->next_offset = 5;

  pqxx::work zombie(*a);
  zombie.exec("CREATE TEMP TABLE zombie_write (x int)");  // stands for the batch's writes
  auto claim_b = ClaimPartition(*b, key_, "B");
  ASSERT_TRUE(claim_b.ok());
  EXPECT_EQ(claim_b->next_offset, 5);
  auto r = AdvanceOffset(zombie, key_, *claim_a, 9, "A");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(errc::fenced)) << r.error().message;
  zombie.abort();

  pqxx::work tx(*b);
  ASSERT_TRUE(AdvanceOffset(tx, key_, *claim_b, 9, "B").ok());
  tx.commit();
  pqxx::work check(*b);
  auto row = check.exec1("SELECT next_offset, owner FROM consumer_offsets WHERE partition = 3");
  EXPECT_EQ(row[0].as<int64_t>(), 9);
  EXPECT_EQ(row[1].as<std::string>(), "B");
}

TEST_F(OffsetsTest, ClaimWaitsForTheOldOwnersCommitThenFencesIt) {
  // A holds the row lock (its batch already advanced the offset) when B's
  // claim arrives: the claim waits, then sees A's committed offset, so no
  // evidence is verified twice.
  auto a = Open();
  auto claim_a = ClaimPartition(*a, key_, "A");
  ASSERT_TRUE(claim_a.ok());
  pqxx::work tx(*a);
  ASSERT_TRUE(AdvanceOffset(tx, key_, *claim_a, 7, "A").ok());
  Result<Claim> claim_b = MakeError(errc::database, "not run");
  std::thread t([&] {
    auto b = Open();
    claim_b = ClaimPartition(*b, key_, "B");
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  tx.commit();
  t.join();
  ASSERT_TRUE(claim_b.ok()) << claim_b.error().message;
  EXPECT_EQ(claim_b->next_offset, 7);
  // A's next commit is fenced by the epoch even though the offset matches.
  pqxx::work tx2(*a);
  Claim stale{7, claim_a->epoch};
  auto r = AdvanceOffset(tx2, key_, stale, 8, "A");
  EXPECT_FALSE(r.ok());
  // And so is a sweep's ownership check.
  auto own = CheckOwner(tx2, key_, claim_a->epoch);
  EXPECT_FALSE(own.ok());
}

}  // namespace
}  // namespace attest::worker
