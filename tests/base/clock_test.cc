#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "common/base/clock.h"
#include "common/base/manual_clock.h"

namespace attest {
namespace {

using namespace std::chrono_literals;

TEST(ManualClockTest, ASleeperWakesOnlyWhenTimeReachesItsDeadline) {
  ManualClock clock;
  std::atomic<int> woke{0};
  std::jthread t([&](std::stop_token st) {
    if (clock.SleepFor(10s, st)) woke = 1;
  });
  clock.WaitForSleepers(1);
  clock.Advance(9s);
  EXPECT_EQ(clock.Sleepers(), 1);
  clock.Advance(1s);
  t.join();
  EXPECT_EQ(woke, 1);
  EXPECT_EQ(clock.Sleepers(), 0);
}

TEST(ManualClockTest, AStopEndsTheSleepAndReportsIt) {
  ManualClock clock;
  std::atomic<int> result{-1};
  std::jthread t([&](std::stop_token st) { result = clock.SleepFor(1h, st) ? 1 : 0; });
  clock.WaitForSleepers(1);
  t.request_stop();
  t.join();
  EXPECT_EQ(result, 0);
}

TEST(ManualClockTest, WaitForParkedCountsOnlySleepersStillWaitingAndGivesTheirDeadlines) {
  ManualClock clock;
  const auto t0 = clock.Monotonic();
  std::jthread a([&](std::stop_token st) {
    clock.SleepFor(10s, st);  // then the next sleep, as a loop with backoff does
    clock.SleepFor(20s, st);
  });
  std::jthread b([&](std::stop_token st) { clock.SleepFor(1h, st); });
  EXPECT_EQ(clock.WaitForParked(2), (std::vector<Clock::MonotonicTime>{t0 + 10s, t0 + 1h}));
  clock.Advance(10s);
  // The first sleep of `a` is over even if `a` has not returned from it yet.
  EXPECT_EQ(clock.WaitForParked(2), (std::vector<Clock::MonotonicTime>{t0 + 30s, t0 + 1h}));
  b.request_stop();
  EXPECT_EQ(clock.WaitForParked(1), std::vector<Clock::MonotonicTime>{t0 + 30s});
}

TEST(ManualClockTest, AdvanceMovesWallAndMonotonicTogether) {
  ManualClock clock;
  const auto wall = clock.Now();
  const auto mono = clock.Monotonic();
  clock.Advance(5s);
  EXPECT_EQ(clock.Now() - wall, 5s);
  EXPECT_EQ(clock.Monotonic() - mono, 5s);
}

TEST(SystemClockTest, SleepReturnsAtItsDeadlineOrAtStop) {
  SystemClock clock;
  std::stop_source never;
  EXPECT_TRUE(clock.SleepFor(1ms, never.get_token()));
  std::stop_source stopped;
  stopped.request_stop();
  EXPECT_FALSE(clock.SleepFor(1h, stopped.get_token()));
}

}  // namespace
}  // namespace attest
