// attest-bench's Scheduler (tools/attest-bench/scheduler.h): the rate
// limit, the interval after a verdict and the verdict timeout, with `now`
// passed in (no sleeping).
#include "tools/attest-bench/scheduler.h"

#include <gtest/gtest.h>

#include <variant>

namespace attest::bench {
namespace {

constexpr int64_t kMs = 1'000'000;
constexpr int64_t kS = 1'000 * kMs;

std::vector<Agent> Agents(size_t n) { return std::vector<Agent>(n); }

TEST(Scheduler, TheRateLimitAllowsAShortBurstThenAsksToWait) {
  auto agents = Agents(3);
  Scheduler sched(agents, /*rate=*/10, /*interval_ns=*/5 * kS, /*verdict_timeout_ns=*/30 * kS);
  const int64_t now = 10 * kS;
  EXPECT_EQ(std::get<uint32_t>(sched.Next(now)), 0u);
  // 100 ms of credit: one more permit at the same instant.
  EXPECT_EQ(std::get<uint32_t>(sched.Next(now)), 1u);
  auto wait = sched.Next(now);
  ASSERT_TRUE(std::holds_alternative<int64_t>(wait));
  EXPECT_EQ(std::get<int64_t>(wait), 20 * kMs);  // capped; the permit is 100 ms away
  EXPECT_EQ(std::get<uint32_t>(sched.Next(now + 100 * kMs)), 2u);
  EXPECT_EQ(agents[0].phase, Phase::kBusy);
  EXPECT_EQ(agents[0].round, 1u);
}

TEST(Scheduler, AVerdictStartsTheNextRoundAfterTheInterval) {
  auto agents = Agents(1);
  Scheduler sched(agents, /*rate=*/0, 5 * kS, 30 * kS);
  ASSERT_EQ(std::get<uint32_t>(sched.Next(0)), 0u);
  sched.Awaiting(0, 0);
  EXPECT_EQ(std::get<int64_t>(sched.Next(kMs)), 5 * kMs);  // nobody ready
  sched.Decided({0, 1}, 100);
  EXPECT_EQ(std::get<int64_t>(sched.Next(200)), 20 * kMs);  // interval not over
  EXPECT_EQ(std::get<uint32_t>(sched.Next(5 * kS + 100)), 0u);
  EXPECT_EQ(agents[0].round, 2u);
  EXPECT_EQ(sched.verdict_timeouts(), 0u);
}

TEST(Scheduler, AMissingVerdictRequeuesTheAgentAndALateOneIsIgnored) {
  auto agents = Agents(1);
  Scheduler sched(agents, /*rate=*/0, 5 * kS, 30 * kS);
  ASSERT_EQ(std::get<uint32_t>(sched.Next(0)), 0u);
  sched.Awaiting(0, 0);
  EXPECT_TRUE(std::holds_alternative<int64_t>(sched.Next(30 * kS - 1)));
  EXPECT_EQ(std::get<uint32_t>(sched.Next(30 * kS)), 0u);  // timed out: round 2 at once
  EXPECT_EQ(sched.verdict_timeouts(), 1u);
  sched.Decided({0, 1}, 30 * kS);  // round 1's verdict, late
  EXPECT_EQ(agents[0].phase, Phase::kBusy);
  EXPECT_EQ(agents[0].round, 2u);
}

TEST(Scheduler, ARetryWaitsItsDelay) {
  auto agents = Agents(1);
  Scheduler sched(agents, /*rate=*/0, 5 * kS, 30 * kS);
  ASSERT_EQ(std::get<uint32_t>(sched.Next(0)), 0u);
  sched.Retry(0, 0, kS);
  EXPECT_TRUE(std::holds_alternative<int64_t>(sched.Next(kS - 1)));
  EXPECT_EQ(std::get<uint32_t>(sched.Next(kS)), 0u);
}

}  // namespace
}  // namespace attest::bench
