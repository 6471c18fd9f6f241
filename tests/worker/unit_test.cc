// Worker parts without I/O: the verification thread pool (every job runs
// exactly once, whatever the number of jobs and threads, and RunAll returns
// only after the last one) and the UUID helpers.
#include "verifier-workers/pool.h"
#include "verifier-workers/processor.h"

#include <gtest/gtest.h>

#include <atomic>

namespace attest::worker {
namespace {

void RunCounted(ThreadPool& pool, size_t n) {
  std::vector<std::atomic<int>> runs(n);
  std::vector<std::function<void()>> jobs;
  for (size_t i = 0; i < n; ++i) jobs.push_back([&runs, i] { runs[i]++; });
  pool.RunAll(jobs);
  for (size_t i = 0; i < n; ++i) ASSERT_EQ(runs[i].load(), 1) << "job " << i << " of " << n;
}

TEST(ThreadPoolTest, EveryJobRunsOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    for (size_t n : {0, 1, 2, 7, 64, 1000, 2001}) RunCounted(pool, n);
  }
}

TEST(ThreadPoolTest, ReturnsAfterTheSlowestJob) {
  ThreadPool pool(3);
  std::atomic<int> done{0};
  std::vector<std::function<void()>> jobs;
  for (int i = 0; i < 40; ++i) {
    jobs.push_back([&done, i] {
      if (i % 13 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
      done++;
    });
  }
  pool.RunAll(jobs);
  EXPECT_EQ(done.load(), 40);
}

TEST(UuidTest, CanonicalFormAndCaseInsensitiveMatch) {
  const std::string upper = "D432FBB3-D2F1-4A97-9EF7-75BD81C0000A";
  EXPECT_TRUE(IsUuid(upper));
  EXPECT_FALSE(IsUuid("d432fbb3d2f14a979ef775bd81c0000a"));
  const std::string lower = ParseUuid(upper).value();
  EXPECT_EQ(lower, "d432fbb3-d2f1-4a97-9ef7-75bd81c0000a");
  EXPECT_TRUE(SameUuid(upper, lower));
  EXPECT_TRUE(SameUuid(lower, lower));
  EXPECT_FALSE(SameUuid(upper.substr(1), lower));
  EXPECT_FALSE(SameUuid("d432fbb3-d2f1-4a97-9ef7-75bd81c0000b", lower));
  EXPECT_FALSE(SameUuid(upper, upper));  // the second argument is the lower-case form
}

}  // namespace
}  // namespace attest::worker
