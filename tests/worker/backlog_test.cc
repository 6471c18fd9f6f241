// Liveness that survives a backlog (issue 16 point 4). Agents keep attesting
// while no worker runs, so their evidence piles up in Kafka; then a worker
// starts on the backlog. Liveness counts from when the gateway received the
// evidence, and the sweep must not mark OFFLINE an agent whose evidence is
// still waiting in its partition: no OFFLINE verdict, every evidence verified
// exactly once, last_attestation_at = the received time. Once caught up, an
// agent that stops goes OFFLINE after interval x grace, the others do not.
#include <gtest/gtest.h>

#include <google/protobuf/util/time_util.h>

#include <map>
#include <mutex>
#include <set>

#include "tests/worker/worker_test_base.h"

namespace attest::worker::test {
namespace {

using namespace std::chrono_literals;

constexpr int kAgents = 4;
// A 4 s window against a 500 ms send period: a sender, broker or worker
// stall of up to ~3 s on a loaded CI machine must not make a live agent
// overdue (a 2 s window once left too little room).
constexpr int kInterval = 2;  // seconds
constexpr double kGrace = 2;  // interval x grace = 4 s
constexpr auto kWindow = 4s;
constexpr auto kSendPeriod = 500ms;
constexpr auto kBacklogFor = 6s;  // longer than the window: all would be overdue at processing time

class BacklogTest : public WorkerTest {
 protected:
  // Sends one evidence of `a` (its first carries the IMA list, the others
  // none) and returns the gateway received time it carries, in microseconds.
  int64_t SendOne(SimAgent& a, bool first) {
    const std::string env = a.Envelope(keys_set_, first ? 0 : 30);
    v1::EvidenceEnvelope parsed;
    EXPECT_TRUE(parsed.ParseFromString(env));
    Send(a, env);
    return google::protobuf::util::TimeUtil::TimestampToMicroseconds(parsed.received_at());
  }

  // Every kSendPeriod, one evidence of each agent still active, until Stop().
  void StartSending() {
    sender_ = std::thread([this] {
      auto next = std::chrono::steady_clock::now();
      while (!stop_sending_.load()) {
        for (size_t i = 0; i < agents_.size(); ++i) {
          if (!active_[i].load()) continue;
          std::lock_guard lock(sent_mu_);  // held across the send: sent_ = what Kafka holds
          sent_[i].push_back(SendOne(agents_[i], sent_[i].empty()));
        }
        next += kSendPeriod;
        std::this_thread::sleep_until(next);
      }
    });
  }
  void StopSending() {
    stop_sending_ = true;
    if (sender_.joinable()) sender_.join();
  }
  void TearDown() override {
    StopSending();
    WorkerTest::TearDown();
  }
  std::vector<int64_t> Sent(size_t i) {
    std::lock_guard lock(sent_mu_);
    return sent_[i];
  }
  int64_t History(const std::string& uuid, const std::string& result) {
    return Count("SELECT count(*) FROM attestation_history WHERE agent_id = $1 AND result = '" +
                     result + "'",
                 uuid);
  }
  // last_attestation_at in microseconds since the epoch (-1: NULL).
  int64_t LastAttestationUs(const std::string& uuid) {
    return Count(
        "SELECT coalesce((extract(epoch FROM last_attestation_at) * 1000000)::bigint, -1) "
        "FROM enrolments WHERE agent_id = $1",
        uuid);
  }

  std::vector<SimAgent> agents_ = std::vector<SimAgent>(kAgents);
  std::atomic<bool> active_[kAgents] = {true, true, true, true};
  std::mutex sent_mu_;
  std::vector<int64_t> sent_[kAgents];
  std::atomic<bool> stop_sending_{false};
  std::thread sender_;
};

TEST_F(BacklogTest, BacklogDoesNotExpireLivenessAndStoppedAgentGoesOffline) {
  for (auto& a : agents_) {
    Enrol(*db_, a, 30, kInterval, kGrace);
    a.ExtendTo(30);
  }
  // Sends once before the backlog and never again; its window (60 s) outlasts
  // the test, so its stored time shows plainly whether it is the received
  // time or the processing time, seconds later.
  SimAgent early;
  Enrol(*db_, early, 30, 60, 1);
  early.ExtendTo(30);
  const int64_t early_sent = SendOne(early, true);

  // No worker yet: the evidence waits in Kafka.
  StartSending();
  std::this_thread::sleep_for(kBacklogFor);
  std::vector<size_t> backlog(kAgents);
  for (size_t i = 0; i < kAgents; ++i) backlog[i] = Sent(i).size();
  StartWorker();

  // The worker reads through the backlog and catches up with the live flow.
  ASSERT_TRUE(attest::testing::WaitFor(
      [&] {
        for (size_t i = 0; i < kAgents; ++i) {
          if (History(agents_[i].uuid, "pass") < static_cast<int64_t>(backlog[i]) + 2) return false;
        }
        return History(early.uuid, "pass") == 1;
      },
      30s))
      << "the backlog was not processed";
  for (size_t i = 0; i < kAgents; ++i) {
    EXPECT_EQ(History(agents_[i].uuid, "offline"), 0) << "agent " << i;
    EXPECT_EQ(AgentRow(agents_[i])[0].as<std::string>(), "PASS") << "agent " << i;
  }
  EXPECT_EQ(History(early.uuid, "offline"), 0);
  EXPECT_EQ(LastAttestationUs(early.uuid), early_sent) << "the processing time, not the received";

  // Agent 0 stops; the others keep attesting.
  active_[0] = false;
  const int64_t quiet_last = Sent(0).back();
  ASSERT_TRUE(attest::testing::WaitFor([&] { return History(agents_[0].uuid, "offline") == 1; },
                                       kWindow + 15s))
      << "the silent agent did not go OFFLINE";
  for (size_t i = 1; i < kAgents; ++i) {
    EXPECT_EQ(History(agents_[i].uuid, "offline"), 0) << "agent " << i;
  }
  const int64_t offline_at = Count(
      "SELECT (extract(epoch FROM attested_at) * 1000000)::bigint FROM attestation_history "
      "WHERE agent_id = $1 AND result = 'offline'",
      agents_[0].uuid);
  // Never before its real deadline; at most a sweep period after it (plus
  // loop and scheduling slack on a busy machine).
  const int64_t window_us = std::chrono::microseconds(kWindow).count();
  EXPECT_GE(offline_at - quiet_last, window_us);
  EXPECT_LE(offline_at - quiet_last,
            window_us + std::chrono::microseconds(200ms /* sweep_period */ + 2500ms).count());

  // Stop the flow; once the last evidence is in, stop the worker (the others
  // would rightly go OFFLINE a window later).
  StopSending();
  ASSERT_TRUE(attest::testing::WaitFor(
      [&] {
        for (size_t i = 0; i < kAgents; ++i) {
          if (History(agents_[i].uuid, "pass") != static_cast<int64_t>(Sent(i).size())) {
            return false;
          }
        }
        return true;
      },
      20s));
  StopWorker();

  // Every evidence verified exactly once: one history row per record (its
  // own offset and sequence), the last attestation at the last received time.
  for (size_t i = 0; i < kAgents; ++i) {
    const std::string& uuid = agents_[i].uuid;
    const auto sent = Sent(i);
    const auto n = static_cast<int64_t>(sent.size());
    EXPECT_EQ(History(uuid, "pass"), n) << "agent " << i;
    EXPECT_EQ(Count("SELECT count(DISTINCT kafka_offset) FROM attestation_history "
                    "WHERE agent_id = $1 AND result = 'pass'",
                    uuid),
              n)
        << "agent " << i;
    EXPECT_EQ(
        Count("SELECT count(DISTINCT sequence) FROM attestation_history WHERE agent_id = $1", uuid),
        Count("SELECT count(*) FROM attestation_history WHERE agent_id = $1", uuid));
    EXPECT_EQ(LastAttestationUs(uuid), sent.back()) << "agent " << i;
    EXPECT_EQ(History(uuid, "offline"), i == 0 ? 1 : 0) << "agent " << i;
  }
  // On the verdict topic: one verdict per (agent, sequence), all passing
  // but the silent agent's OFFLINE. The relay is at-least-once, so a
  // sequence may arrive twice, but only as the same bytes.
  ASSERT_TRUE(attest::testing::WaitFor(
      [&] {
        for (size_t i = 0; i < kAgents; ++i) {
          const size_t want = Sent(i).size() + (i == 0 ? 1 : 0);
          if (collector_->Verdicts(agents_[i].uuid).size() < want) return false;
        }
        return true;
      },
      20s));
  for (size_t i = 0; i < kAgents; ++i) {
    std::map<uint64_t, std::set<std::string>> per_sequence;
    std::set<uint64_t> offline;
    for (const auto& v : collector_->Verdicts(agents_[i].uuid)) {
      per_sequence[v.sequence()].insert(v.SerializeAsString());
      if (v.result() == v1::VERDICT_RESULT_OFFLINE) {
        offline.insert(v.sequence());
      } else {
        EXPECT_EQ(v.result(), v1::VERDICT_RESULT_PASS) << v.DebugString();
      }
    }
    const size_t want = Sent(i).size() + (i == 0 ? 1 : 0);
    EXPECT_EQ(per_sequence.size(), want) << "agent " << i;
    for (const auto& [seq, versions] : per_sequence) {
      EXPECT_EQ(versions.size(), 1u) << "agent " << i << " sequence " << seq;
      EXPECT_TRUE(seq >= 1 && seq <= want) << "agent " << i << " sequence " << seq;
    }
    EXPECT_EQ(offline.size(), i == 0 ? 1u : 0u) << "agent " << i;
  }
}

}  // namespace
}  // namespace attest::worker::test
