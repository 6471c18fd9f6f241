// A consumer group of real processes (kafka_group_member) on Apache Kafka's
// group coordinator, through a whole rebalance history: one member owns every
// partition; a second and a third join and the partitions are split evenly;
// one is SIGKILLed (no LeaveGroup) and the others take its partitions over
// once its session times out; one leaves in order and the last takes
// everything without waiting for a timeout. All along, a sampler reads every
// member's state file and checks that no partition is owned by two live
// members at once (the member rewrites its file before acknowledging a
// revocation, see kafka_group_member.cc).
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "tests/harness/kafka/kafka_cluster.h"
#include "tests/harness/util/process.h"

namespace attest::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

constexpr int kPartitions = 12;
// The broker's minimum (group.min.session.timeout.ms); heartbeats every 1 s.
constexpr auto kSessionTimeout = 6000ms;

// The member's reported partitions; nullopt while it has not reported yet.
std::optional<std::set<int>> ReadState(const std::filesystem::path& file) {
  std::error_code ec;
  if (!std::filesystem::exists(file, ec)) return std::nullopt;
  std::string text;
  try {
    text = ReadFile(file);
  } catch (const std::exception&) {
    return std::nullopt;
  }
  std::set<int> parts;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (item.empty() || item == "\n") continue;
    parts.insert(std::stoi(item));
  }
  return parts;
}

std::string Show(const std::optional<std::set<int>>& s) {
  if (!s) return "(no report)";
  std::string out = "{";
  for (int p : *s) out += std::to_string(p) + " ";
  return out + "}";
}

// Samples the state files of the live members every few milliseconds and
// records every partition it sees owned by two of them. A file is read twice
// per sample and a partition counts for a member only when both reads list
// it: reads of different files are not simultaneous, and with two reads a
// partition in X's and Y's file twice over was owned by both between X's two
// reads, not moved from X to Y between them.
class OwnershipMonitor {
 public:
  explicit OwnershipMonitor(std::filesystem::path dir) : dir_(std::move(dir)) {
    thread_ = std::thread([this] { Run(); });
  }
  ~OwnershipMonitor() {
    stop_ = true;
    thread_.join();
  }
  OwnershipMonitor(const OwnershipMonitor&) = delete;
  OwnershipMonitor& operator=(const OwnershipMonitor&) = delete;

  void Add(const std::string& name) {
    std::lock_guard lock(mu_);
    live_.insert(name);
  }
  // Before the member is SIGKILLed: its file stays as it was at its death.
  void Retire(const std::string& name) {
    std::lock_guard lock(mu_);
    live_.erase(name);
  }
  std::vector<std::string> violations() const {
    std::lock_guard lock(mu_);
    return violations_;
  }
  int samples() const { return samples_.load(); }

 private:
  void Run() {
    while (!stop_) {
      Sample();
      std::this_thread::sleep_for(5ms);
    }
  }

  void Sample() {
    std::lock_guard lock(mu_);
    std::map<std::string, std::optional<std::set<int>>> first, second;
    for (const auto& name : live_) first[name] = ReadState(dir_ / (name + ".state"));
    for (const auto& name : live_) second[name] = ReadState(dir_ / (name + ".state"));
    std::map<int, std::vector<std::string>> owners;
    for (const auto& name : live_) {
      if (!first[name] || !second[name]) continue;
      for (int p : *first[name]) {
        if (second[name]->count(p)) owners[p].push_back(name);
      }
    }
    for (const auto& [p, names] : owners) {
      if (names.size() > 1 && violations_.size() < 20) {
        std::string who;
        for (const auto& n : names) who += " " + n;
        violations_.push_back("partition " + std::to_string(p) + " owned by" + who);
      }
    }
    ++samples_;
  }

  std::filesystem::path dir_;
  mutable std::mutex mu_;
  std::set<std::string> live_;
  std::vector<std::string> violations_;
  std::atomic<int> samples_{0};
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class GroupTest : public ::testing::Test {
 protected:
  void SetUp() override { CreateTopics(kafka_, {{topic_, kPartitions, 0, {}}}); }
  // Checked even when the test stopped at a failed assertion.
  void TearDown() override {
    const auto violations = monitor_.violations();
    EXPECT_TRUE(violations.empty())
        << violations.front() << " (" << violations.size() << " samples)\n"
        << Report();
  }

  std::unique_ptr<Subprocess> StartMember(const std::string& name) {
    monitor_.Add(name);
    names_.push_back(name);
    return std::make_unique<Subprocess>(
        std::vector<std::string>{ATTEST_GROUP_MEMBER_BINARY, "--bootstrap", kafka_.bootstrap(),
                                 "--group", group_, "--topic", topic_, "--state",
                                 State(name).string(), "--session-timeout-ms",
                                 std::to_string(kSessionTimeout.count())},
        (dir_.path() / (name + ".log")).string());
  }
  std::filesystem::path State(const std::string& name) { return dir_.path() / (name + ".state"); }

  // True when the members' reports are disjoint, non-empty and cover every
  // partition with `each` partitions per member.
  bool Split(const std::vector<std::string>& members, size_t each) {
    std::set<int> all;
    size_t total = 0;
    for (const auto& name : members) {
      auto s = ReadState(State(name));
      if (!s || s->size() != each) return false;
      all.insert(s->begin(), s->end());
      total += s->size();
    }
    return total == kPartitions && all.size() == static_cast<size_t>(kPartitions);
  }
  std::string Report() {
    std::string out;
    for (const auto& name : names_) out += name + "=" + Show(ReadState(State(name))) + " ";
    out += "\n";
    for (const auto& name : names_) {
      try {
        out += "--- " + name + "\n" + ReadFile(dir_.path() / (name + ".log"));
      } catch (const std::exception&) {
      }
    }
    return out;
  }

  KafkaCluster& kafka_ = KafkaCluster::Shared();
  const std::string topic_ = UniqueName("group.evidence");
  const std::string group_ = UniqueName("group.workers");
  TempDir dir_{"attest-kafka-group"};
  OwnershipMonitor monitor_{dir_.path()};
  std::vector<std::string> names_;
};

TEST_F(GroupTest, MembersJoinAKilledMemberIsReplacedAndNoPartitionHasTwoOwners) {
  auto a = StartMember("a");
  ASSERT_TRUE(WaitFor([&] { return Split({"a"}, kPartitions); }, 60s)) << Report();

  auto b = StartMember("b");
  ASSERT_TRUE(WaitFor([&] { return Split({"a", "b"}, kPartitions / 2); }, 30s)) << Report();

  auto c = StartMember("c");
  ASSERT_TRUE(WaitFor([&] { return Split({"a", "b", "c"}, kPartitions / 3); }, 30s)) << Report();
  ASSERT_TRUE(a->Running() && b->Running() && c->Running()) << Report();

  // SIGKILL: no LeaveGroup; the coordinator notices when b's session ends,
  // and the survivors get b's partitions in the rebalance that follows.
  monitor_.Retire("b");
  const auto killed_at = Clock::now();
  b->Kill();
  ASSERT_TRUE(WaitFor([&] { return Split({"a", "c"}, kPartitions / 2); }, 60s)) << Report();
  const auto takeover = Clock::now() - killed_at;
  RecordProperty(
      "takeover_after_kill_ms",
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(takeover).count()));
  // The session timeout plus one rebalance (the survivors hear of it at their
  // next heartbeat, 1 s): far longer means the group is not doing its job.
  EXPECT_LT(takeover, kSessionTimeout + 5s) << Report();

  // An orderly leave hands a's partitions over at once, no timeout to wait.
  const auto left_at = Clock::now();
  EXPECT_EQ(a->Stop(SIGTERM, 20s), 0) << Report();
  ASSERT_TRUE(WaitFor([&] { return Split({"c"}, kPartitions); }, 30s)) << Report();
  const auto handover = Clock::now() - left_at;
  RecordProperty(
      "handover_after_leave_ms",
      std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(handover).count()));
  EXPECT_LT(handover, kSessionTimeout) << Report();
  EXPECT_TRUE(ReadState(State("a")).value_or(std::set<int>{1}).empty()) << Report();

  EXPECT_EQ(c->Stop(SIGTERM, 20s), 0) << Report();
  EXPECT_TRUE(ReadState(State("c")).value_or(std::set<int>{1}).empty()) << Report();
  EXPECT_GT(monitor_.samples(), 100);
}

}  // namespace
}  // namespace attest::testing
