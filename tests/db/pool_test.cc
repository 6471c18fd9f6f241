// db::Pool against a real PostgreSQL: the bound, the wait timeout (driven by
// a ManualClock, no sleeping), an unreachable server reported per job, a
// broken connection replaced, and both stop modes.
#include "common/db/pool.h"

#include <gtest/gtest.h>

#include <future>
#include <string>
#include <vector>

#include "common/base/manual_clock.h"
#include "tests/harness/postgres/postgres_server.h"

namespace attest::testing {
namespace {

using db::Connection;
using db::errc;
using db::Pool;

// Blocks the pool's thread until Release(); Started() waits until it runs.
class Blocker {
 public:
  Pool::Job Job() {
    return [this](Result<Connection*>) {
      started_.set_value();
      release_.get_future().wait();
    };
  }
  void Started() { started_future_.wait(); }
  void Release() { release_.set_value(); }

 private:
  std::promise<void> started_;
  std::future<void> started_future_ = started_.get_future();
  std::promise<void> release_;
};

// Runs one job on `pool` and returns what it saw: the backend pid, or the error.
Result<int> BackendPid(Pool& pool) {
  std::promise<Result<int>> out;
  auto submitted = pool.Submit([&out](Result<Connection*> conn) {
    if (!conn) {
      out.set_value(conn.error());
      return;
    }
    out.set_value(db::Guard("pid", [&] {
      pqxx::nontransaction tx((*conn)->raw());
      return tx.exec("SELECT pg_backend_pid()")[0][0].as<int>();
    }));
  });
  if (!submitted) return submitted.error();
  return out.get_future().get();
}

class PoolTest : public PostgresTest {
 protected:
  Pool::Options Options(int connections = 1, size_t queue_limit = 8) {
    Pool::Options o;
    o.conninfo = conninfo();
    o.connections = connections;
    o.queue_limit = queue_limit;
    return o;
  }
  ManualClock clock_;
};

TEST_F(PoolTest, RunsJobsWithAPreparedConnection) {
  auto o = Options();
  o.prepare = [](pqxx::connection& c) { c.prepare("answer", "SELECT 42"); };
  Pool pool(o, clock_);
  std::promise<Result<int>> out;
  ASSERT_TRUE(pool.Submit([&out](Result<Connection*> conn) {
                    ASSERT_TRUE(conn.ok()) << conn.error().message;
                    out.set_value(db::Guard("answer", [&] {
                      pqxx::nontransaction tx((*conn)->raw());
                      return tx.exec_prepared("answer")[0][0].as<int>();
                    }));
                  })
                  .ok());
  auto r = out.get_future().get();
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(*r, 42);
}

TEST_F(PoolTest, FullQueueRefusesWithPoolFull) {
  Pool pool(Options(1, 2), clock_);
  Blocker blocker;
  ASSERT_TRUE(pool.Submit(blocker.Job()).ok());
  blocker.Started();  // the only thread is busy, the queue is empty
  int ran = 0;
  auto count = [&ran](Result<Connection*> conn) { ran += conn.ok() ? 1 : 0; };
  EXPECT_TRUE(pool.Submit(count).ok());
  EXPECT_TRUE(pool.Submit(count).ok());
  EXPECT_EQ(pool.queued(), 2u);
  auto refused = pool.Submit(count);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, make_error_code(errc::pool_full));
  blocker.Release();
  pool.Stop();  // runs the queued ones
  EXPECT_EQ(ran, 2);
}

TEST_F(PoolTest, JobThatWaitedPastMaxWaitGetsPoolTimeout) {
  auto o = Options();
  o.max_wait = std::chrono::seconds(1);
  Pool pool(o, clock_);
  Blocker blocker;
  ASSERT_TRUE(pool.Submit(blocker.Job()).ok());
  blocker.Started();
  std::promise<Result<Connection*>> late, prompt;
  ASSERT_TRUE(pool.Submit([&late](Result<Connection*> c) { late.set_value(c); }).ok());
  clock_.Advance(std::chrono::milliseconds(1500));
  blocker.Release();
  auto r = late.get_future().get();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, make_error_code(errc::pool_timeout));
  // A job that did not wait runs.
  ASSERT_TRUE(pool.Submit([&prompt](Result<Connection*> c) { prompt.set_value(c); }).ok());
  EXPECT_TRUE(prompt.get_future().get().ok());
}

TEST_F(PoolTest, UnreachableServerFailsEachJobAndRecovers) {
  auto o = Options();
  o.conninfo = "host=127.0.0.1 port=" + std::to_string(FreePort()) +
               " user=x password=topsecret dbname=x connect_timeout=5";
  Pool pool(o, clock_);
  for (int i = 0; i < 2; ++i) {
    auto r = BackendPid(pool);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, make_error_code(errc::connection_failed));
    EXPECT_EQ(r.error().message.find("topsecret"), std::string::npos);
  }
}

TEST_F(PoolTest, FailingPrepareIsTheJobsErrorAndRetried) {
  auto o = Options();
  // pqxx 6 prepares lazily, so the failing setup runs a statement.
  o.prepare = [](pqxx::connection& c) {
    pqxx::nontransaction(c).exec("SELECT * FROM no_such_table");
  };
  Pool pool(o, clock_);
  for (int i = 0; i < 2; ++i) {
    auto r = BackendPid(pool);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, make_error_code(errc::query_failed)) << r.error().message;
  }
}

TEST_F(PoolTest, BrokenConnectionIsReplaced) {
  Pool pool(Options(), clock_);
  auto first = BackendPid(pool);
  ASSERT_TRUE(first.ok()) << first.error().message;
  EXPECT_EQ(*BackendPid(pool), *first);  // the connection is kept
  {
    auto admin = Connect();
    pqxx::nontransaction tx(*admin);
    tx.exec("SELECT pg_terminate_backend(" + std::to_string(*first) + ")");
  }
  // The job that meets the broken connection gets its error; the next one a
  // new connection. (libpq may notice the break only on the next query.)
  auto broken = BackendPid(pool);
  if (!broken.ok()) {
    EXPECT_EQ(broken.error().code, make_error_code(errc::connection_failed))
        << broken.error().message;
    broken = BackendPid(pool);
  }
  ASSERT_TRUE(broken.ok()) << broken.error().message;
  EXPECT_NE(*broken, *first);
}

TEST_F(PoolTest, ThrowingJobDiscardsItsConnection) {
  Pool pool(Options(), clock_);
  auto first = BackendPid(pool);
  ASSERT_TRUE(first.ok());
  ASSERT_TRUE(pool.Submit([](Result<Connection*>) { throw std::runtime_error("boom"); }).ok());
  auto next = BackendPid(pool);
  ASSERT_TRUE(next.ok());
  EXPECT_NE(*next, *first);
}

TEST_F(PoolTest, StopFailQueuedHandsQueuedJobsPoolStopped) {
  auto o = Options();
  o.on_stop = Pool::OnStop::kFailQueued;
  Pool pool(o, clock_);
  Blocker blocker;
  ASSERT_TRUE(pool.Submit(blocker.Job()).ok());
  blocker.Started();
  std::vector<std::error_code> seen;
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(pool.Submit([&seen](Result<Connection*> c) {
                      seen.push_back(c.ok() ? std::error_code() : c.error().code);
                    })
                    .ok());
  }
  std::thread stopper([&pool] { pool.Stop(); });
  // Stop() must refuse new work before the blocked job ends.
  for (;;) {
    auto r = pool.Submit([](Result<Connection*>) {});
    if (!r.ok() && r.error().code == make_error_code(errc::pool_stopped)) break;
    std::this_thread::yield();
  }
  blocker.Release();
  stopper.join();
  ASSERT_EQ(seen.size(), 3u);
  for (const auto& code : seen) EXPECT_EQ(code, make_error_code(errc::pool_stopped));
  auto after = pool.Submit([](Result<Connection*>) {});
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code, make_error_code(errc::pool_stopped));
}

TEST_F(PoolTest, ManyThreadsShareTheQueue) {
  Pool pool(Options(3, 100), clock_);
  std::mutex mu;
  int ok = 0;
  for (int i = 0; i < 30; ++i) {
    ASSERT_TRUE(pool.Submit([&](Result<Connection*> c) {
                      std::lock_guard lock(mu);
                      ok += c.ok() ? 1 : 0;
                    })
                    .ok());
  }
  pool.Stop();
  EXPECT_EQ(ok, 30);
}

}  // namespace
}  // namespace attest::testing
