// A consumer group of two real processes (kafka_group_member) on the dev
// broker: they must split a topic's partitions disjointly and cover all of
// them; when one is SIGKILLed the survivor must take over every partition once
// the dead member's session times out.
#include <gtest/gtest.h>

#include <set>
#include <sstream>
#include <string>

#include "tests/harness/broker/dev_broker.h"
#include "tests/harness/util/process.h"

namespace attest::testing {
namespace {

constexpr int kPartitions = 12;

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

class GroupTest : public ::testing::Test {
 protected:
  std::unique_ptr<Subprocess> StartMember(const std::string& name) {
    return std::make_unique<Subprocess>(
        std::vector<std::string>{ATTEST_GROUP_MEMBER_BINARY, "--bootstrap", broker_.bootstrap(),
                                 "--group", "workers", "--topic", "attestation.evidence", "--state",
                                 (dir_.path() / (name + ".state")).string(), "--session-timeout-ms",
                                 "4000"},
        (dir_.path() / (name + ".log")).string());
  }
  std::filesystem::path State(const std::string& name) { return dir_.path() / (name + ".state"); }
  std::string Logs() {
    std::string out;
    for (std::string name : {"a", "b"}) {
      try {
        out += "--- " + name + "\n" + ReadFile(dir_.path() / (name + ".log"));
      } catch (const std::exception&) {
      }
    }
    return out;
  }

  DevBroker broker_{[] {
    DevBrokerOptions o;
    o.partitions = kPartitions;
    return o;
  }()};
  TempDir dir_{"attest-kafka-group"};
};

TEST_F(GroupTest, TwoProcessesSplitPartitionsAndSurvivorTakesOver) {
  auto a = StartMember("a");
  auto b = StartMember("b");

  std::set<int> all;
  for (int p = 0; p < kPartitions; ++p) all.insert(p);

  const bool split = WaitFor(
      [&] {
        auto sa = ReadState(State("a"));
        auto sb = ReadState(State("b"));
        if (!sa || !sb || sa->empty() || sb->empty()) return false;
        std::set<int> both = *sa;
        both.insert(sb->begin(), sb->end());
        return both == all && sa->size() + sb->size() == all.size();  // disjoint cover
      },
      std::chrono::seconds(40));
  ASSERT_TRUE(split) << "a=" << Show(ReadState(State("a"))) << " b=" << Show(ReadState(State("b")))
                     << "\n"
                     << Logs();
  ASSERT_TRUE(a->Running());
  ASSERT_TRUE(b->Running());

  a->Kill();  // SIGKILL: no LeaveGroup, the broker must notice by session timeout
  const bool took_over =
      WaitFor([&] { return ReadState(State("b")) == all; }, std::chrono::seconds(40));
  EXPECT_TRUE(took_over) << "b=" << Show(ReadState(State("b"))) << "\n" << Logs();
  EXPECT_TRUE(b->Running());

  // The survivor also closes cleanly (orderly revoke of everything).
  EXPECT_EQ(b->Stop(SIGTERM, std::chrono::seconds(20)), 0) << Logs();
}

}  // namespace
}  // namespace attest::testing
