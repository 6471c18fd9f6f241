// The liveness sweep driven by a ManualClock (issue 20.3): when the loop
// sweeps (SweepSchedule), which partitions it looks at and through which
// time (SweepView), and which agents go OFFLINE when, against a fake store
// whose overdue rule is the SQL's (deadline before the time the partition
// was read through; the database's now when read to its end). No database,
// no broker, no sleeping.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "common/base/manual_clock.h"
#include "verifier-workers/relay.h"
#include "verifier-workers/sweep.h"

namespace attest::worker {
namespace {

using namespace std::chrono_literals;

// The agents a fake database holds: partition and liveness deadline.
struct Agents {
  struct Agent {
    int32_t partition = 0;
    Clock::time_point deadline;
    bool offline = false;
  };
  const ManualClock* clock = nullptr;  // the database's now()
  std::map<std::string, Agent> rows;
  std::vector<std::vector<SweepPartition>> asked;  // per sweep
};

class OverdueTransaction final : public StoreTransaction {
 public:
  explicit OverdueTransaction(Agents* a) : a_(a) {}
  Result<std::vector<std::string>> LockOverdueAgents(const std::vector<SweepPartition>& parts,
                                                     int limit) override {
    a_->asked.push_back(parts);
    std::vector<std::string> out;
    for (const auto& [id, agent] : a_->rows) {
      for (const SweepPartition& p : parts) {
        const Clock::time_point seen = p.seen_through.value_or(a_->clock->Now());
        if (p.partition == agent.partition && !agent.offline && agent.deadline < seen &&
            static_cast<int>(out.size()) < limit) {
          out.push_back(id);
        }
      }
    }
    return out;
  }
  Result<std::map<std::string, AgentRow>> LoadAgents(const std::vector<std::string>& ids,
                                                     const std::vector<uint8_t>&, bool) override {
    std::map<std::string, AgentRow> out;
    for (const auto& id : ids) {
      AgentRow row;
      row.agent_id = id;
      row.partition = a_->rows.at(id).partition;
      out[id] = row;
    }
    return out;
  }
  Result<void> CheckOwner(const OffsetKey&, int64_t) override { return Ok(); }
  Result<std::vector<int64_t>> WriteResults(const std::vector<const AgentRow*>& rows,
                                            const std::vector<const HistoryRecord*>&,
                                            const std::vector<const OutboxRecord*>& outbox,
                                            const std::string&) override {
    written_ = rows;
    return std::vector<int64_t>(outbox.size(), 0);
  }
  Result<void> Commit() override {
    for (const AgentRow* row : written_) a_->rows.at(row->agent_id).offline = true;
    return Ok();
  }
  // Not used by the sweep.
  Result<void> LoadAkPublics(const std::vector<AgentRow*>&) override { return Ok(); }
  Result<std::vector<PolicyRow>> LoadPolicies(const std::vector<int64_t>&) override {
    return std::vector<PolicyRow>{};
  }
  Result<void> AdvanceOffset(const OffsetKey&, const Claim&, int64_t, const std::string&,
                             std::optional<int64_t>) override {
    return Ok();
  }

 private:
  Agents* a_;
  std::vector<const AgentRow*> written_;
};

class AgentsSession final : public StoreSession {
 public:
  explicit AgentsSession(Agents* a) : a_(a) {}
  bool is_open() const override { return true; }
  Result<std::unique_ptr<StoreTransaction>> Begin() override {
    return std::unique_ptr<StoreTransaction>(new OverdueTransaction(a_));
  }
  Result<Claim> ClaimPartition(const OffsetKey&, const std::string&) override { return Claim{}; }
  Result<std::vector<StoredOutbox>> LoadOutbox(int32_t, int64_t, int) override {
    return std::vector<StoredOutbox>{};
  }

 private:
  Agents* a_;
};

TEST(SweepScheduleTest, OncePerPeriodOfTheClockAndALateCheckDoesNotMakeTheNextEarly) {
  ManualClock clock;
  SweepSchedule schedule(clock, 1000ms);
  EXPECT_FALSE(schedule.Due());
  clock.Advance(999ms);
  EXPECT_FALSE(schedule.Due());
  clock.Advance(1ms);
  EXPECT_TRUE(schedule.Due());
  EXPECT_FALSE(schedule.Due());
  clock.Advance(2500ms);  // a slow loop turn: one sweep, not two
  EXPECT_TRUE(schedule.Due());
  EXPECT_FALSE(schedule.Due());
  clock.Advance(999ms);
  EXPECT_FALSE(schedule.Due());
  clock.Advance(1ms);
  EXPECT_TRUE(schedule.Due());
}

TEST(SweepViewTest, ReadToTheEndIsNowBehindIsTheCommittedTimeUnknownIsLeftOut) {
  const Clock::time_point t(std::chrono::seconds(1'700'000'000));
  auto caught_up = SweepView(3, 10, 10, t);
  ASSERT_TRUE(caught_up.has_value());
  EXPECT_EQ(caught_up->partition, 3);
  EXPECT_FALSE(caught_up->seen_through.has_value());
  auto behind = SweepView(4, 9, 10, t);
  ASSERT_TRUE(behind.has_value());
  EXPECT_EQ(behind->seen_through, t);
  auto no_log_end = SweepView(5, 9, std::nullopt, t);
  ASSERT_TRUE(no_log_end.has_value());
  EXPECT_EQ(no_log_end->seen_through, t);
  EXPECT_FALSE(SweepView(6, 9, 10, std::nullopt).has_value());
}

// The loop's sweep, second by second: an agent of a partition read to its
// end goes OFFLINE at the first sweep past its deadline, with the clock's
// time; one behind a backlog (read through ten minutes ago) does not, and a
// just-claimed partition behind its log end is not swept at all.
TEST(SweepTest, WhichAgentsGoOfflineAndWhenDrivenByTheClock) {
  ManualClock clock;
  const Clock::time_point t0 = clock.Now();
  Agents agents;
  agents.clock = &clock;
  agents.rows["a"] = {0, t0 + 90s, false};
  agents.rows["b"] = {1, t0 + 90s, false};
  agents.rows["c"] = {2, t0 + 30s, false};
  AgentsSession session(&agents);
  OutboxRelay relay(nullptr, "", nullptr, clock);  // reserves ids only (not started)
  const CommitTarget target{"g", "evidence", "w1", &relay};
  Context ctx;

  SweepSchedule schedule(clock, 1000ms);
  std::map<std::string, Clock::time_point> offline_at;
  int sweeps = 0;
  for (int second = 1; second <= 200; ++second) {
    clock.Advance(1s);
    if (!schedule.Due()) continue;
    ++sweeps;
    std::vector<SweepPartition> parts;
    // Partition 0: read to its end; 1: behind, read through t0 - 10 min;
    // 2: claimed, behind, nothing committed yet.
    for (auto view : {SweepView(0, 50, 50, std::nullopt), SweepView(1, 40, 50, t0 - 600s),
                      SweepView(2, 40, 50, std::nullopt)}) {
      if (view) parts.push_back(*view);
    }
    SweepResult out;
    auto r = SweepOverdue(session, ctx, target, parts, {{0, 1}, {1, 1}}, clock.Now(), 10, out);
    ASSERT_TRUE(r.ok()) << r.error().ToString();
    for (const Outcome& o : out.outcomes) {
      EXPECT_EQ(o.result, v1::VERDICT_RESULT_OFFLINE);
      offline_at[o.history.agent_id] = clock.Now();
    }
  }
  EXPECT_EQ(sweeps, 200);
  ASSERT_EQ(offline_at.size(), 1u);
  ASSERT_EQ(offline_at.count("a"), 1u);
  EXPECT_EQ(offline_at["a"], t0 + 91s);  // the first sweep past t0 + 90 s
  for (const auto& parts : agents.asked) {
    ASSERT_EQ(parts.size(), 2u);
    EXPECT_EQ(parts[0].partition, 0);
    EXPECT_FALSE(parts[0].seen_through.has_value());
    EXPECT_EQ(parts[1].partition, 1);
    EXPECT_EQ(parts[1].seen_through, t0 - 600s);
  }
}

}  // namespace
}  // namespace attest::worker
