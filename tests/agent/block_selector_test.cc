// BlockSelector, the pure N-of-M decision: which [[servers]] blocks are in
// use as blocks fail, go down after the failover time, recover and are taken
// back; with `now` an input, so no test sleeps.
#include "agent/block_selector.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agent/status.h"

namespace attest::agent {
namespace {

using namespace std::chrono_literals;
using TimePoint = BlockSelector::TimePoint;

std::vector<bool> InUse(const BlockSelector& s) {
  std::vector<bool> out;
  for (size_t i = 0; i < s.size(); ++i) out.push_back(s.InUse(i));
  return out;
}

TEST(BlockSelector, UsesTheFirstNBlocksInFileOrderAndLeavesTheRestIdle) {
  BlockSelector s(3, 2, 60s);
  EXPECT_EQ(InUse(s), (std::vector<bool>{true, true, false}));
  EXPECT_TRUE(s.ShouldRun(0));
  EXPECT_FALSE(s.ShouldRun(2)) << "a spare sends nothing";
  EXPECT_EQ(s.Serving(), 2u);
}

TEST(BlockSelector, ABlockFailingForTheFailoverTimeIsReplacedByTheNextSpare) {
  const TimePoint t0{};
  BlockSelector s(3, 2, 60s);
  EXPECT_TRUE(s.OnFailed(0, t0, "refused").empty());
  EXPECT_EQ(s.Health(0), BlockHealth::kFailing);
  EXPECT_TRUE(s.OnFailed(0, t0 + 59s, "refused").empty()) << "not yet the failover time";
  EXPECT_EQ(InUse(s), (std::vector<bool>{true, true, false}));

  auto changes = s.OnFailed(0, t0 + 60s, "still refused");
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].kind, BlockChange::kDown);
  EXPECT_EQ(changes[0].block, 0u);
  EXPECT_EQ(changes[0].other, 2u);
  EXPECT_EQ(changes[0].reason, "still refused");
  EXPECT_EQ(changes[1].kind, BlockChange::kInUse);
  EXPECT_EQ(changes[1].block, 2u);
  EXPECT_EQ(changes[1].other, 0u);
  EXPECT_EQ(InUse(s), (std::vector<bool>{false, true, true}));
  EXPECT_TRUE(s.ShouldRun(0)) << "a down block is retried so that it can come back";
  EXPECT_EQ(s.Serving(), 2u);
}

TEST(BlockSelector, AnAcceptedEvidenceResetsTheFailingClock) {
  const TimePoint t0{};
  BlockSelector s(2, 1, 60s);
  s.OnFailed(0, t0, "5xx");
  s.OnAccepted(0);
  EXPECT_EQ(s.Health(0), BlockHealth::kServing);
  EXPECT_TRUE(s.OnFailed(0, t0 + 100s, "5xx").empty()) << "failing since t0+100s, not t0";
  EXPECT_TRUE(s.OnFailed(0, t0 + 159s, "5xx").empty());
  EXPECT_FALSE(s.OnFailed(0, t0 + 160s, "5xx").empty());
}

TEST(BlockSelector, ARecoveredBlockIsTakenBackAndTheSpareIdlesAgain) {
  const TimePoint t0{};
  BlockSelector s(3, 2, 10s);
  s.OnFailed(0, t0, "x");
  s.OnFailed(0, t0 + 10s, "x");
  ASSERT_EQ(InUse(s), (std::vector<bool>{false, true, true}));
  auto changes = s.OnAccepted(0);
  ASSERT_EQ(changes.size(), 3u);
  EXPECT_EQ(changes[0].kind, BlockChange::kRecovered);
  EXPECT_EQ(changes[1].kind, BlockChange::kInUse);
  EXPECT_EQ(changes[1].block, 0u);
  EXPECT_EQ(changes[2].kind, BlockChange::kSpare);
  EXPECT_EQ(changes[2].block, 2u);
  EXPECT_EQ(InUse(s), (std::vector<bool>{true, true, false}));
  EXPECT_FALSE(s.ShouldRun(2));
}

TEST(BlockSelector, OneDownThenAnotherThenBothBack) {
  const TimePoint t0{};
  BlockSelector s(3, 2, 10s);
  s.OnFailed(0, t0, "a");
  s.OnFailed(0, t0 + 10s, "a");
  EXPECT_EQ(InUse(s), (std::vector<bool>{false, true, true}));
  s.OnFailed(1, t0 + 20s, "b");
  auto changes = s.OnFailed(1, t0 + 30s, "b");
  ASSERT_EQ(changes.size(), 1u) << "no spare left";
  EXPECT_EQ(changes[0].kind, BlockChange::kDown);
  EXPECT_FALSE(changes[0].other);
  EXPECT_EQ(InUse(s), (std::vector<bool>{false, false, true}));
  EXPECT_EQ(s.Serving(), 1u);
  EXPECT_TRUE(s.ShouldRun(0));
  EXPECT_TRUE(s.ShouldRun(1));

  s.OnAccepted(1);  // b back first: in use with c (a is still down)
  EXPECT_EQ(InUse(s), (std::vector<bool>{false, true, true}));
  s.OnAccepted(0);  // a back: the preferred two again, c idles
  EXPECT_EQ(InUse(s), (std::vector<bool>{true, true, false}));
  EXPECT_EQ(s.Serving(), 2u);
}

TEST(BlockSelector, ASpareThatFailsIsJudgedAfreshWhenPutInUse) {
  const TimePoint t0{};
  BlockSelector s(3, 1, 10s);
  s.OnFailed(0, t0, "a");
  s.OnFailed(0, t0 + 10s, "a");  // 1 in use
  s.OnFailed(1, t0 + 11s, "b");
  s.OnFailed(1, t0 + 21s, "b");  // 2 in use
  EXPECT_EQ(InUse(s), (std::vector<bool>{false, false, true}));
  s.OnAccepted(0);  // 0 back: 2 idles, though it never failed
  EXPECT_EQ(InUse(s), (std::vector<bool>{true, false, false}));
  EXPECT_EQ(s.Health(2), BlockHealth::kServing);
}

TEST(BlockSelector, GiveUpTakesABlockOutAtOnce) {
  BlockSelector s(2, 1, 3600s);
  auto changes = s.GiveUp(0, "403 Forbidden");
  ASSERT_EQ(changes.size(), 2u);
  EXPECT_EQ(changes[0].kind, BlockChange::kDown);
  EXPECT_EQ(changes[0].other, 1u);
  EXPECT_EQ(InUse(s), (std::vector<bool>{false, true}));
  EXPECT_TRUE(s.GiveUp(0, "again").empty()) << "already down";
}

TEST(BlockSelector, MoreBlocksWantedThanConfiguredUsesThemAll) {
  BlockSelector s(2, 5, 10s);
  EXPECT_EQ(s.wanted(), 2u);
  EXPECT_EQ(InUse(s), (std::vector<bool>{true, true}));
}

TEST(AgentStatus, RoundTripsAndCountsServingBlocks) {
  AgentStatus st;
  st.agent_uuid = "4b7a1c2e-0000-4000-8000-000000000001";
  st.pid = 42;
  st.updated = "2026-12-04T22:30:00Z";
  st.verification_duplication = 2;
  st.blocks = {{"servers[0]", "verifiers https://a:8881", false, "down", "refused\xff", "", "x"},
               {"servers[1]", "verifiers https://b:8881", true, "serving", "", "t", ""},
               {"servers[2]", "verifiers https://c:8881", true, "failing", "503", "", "503"}};
  auto back = ParseStatusJson(StatusJson(st));
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->Serving(), 1);
  ASSERT_EQ(back->blocks.size(), 3u);
  EXPECT_EQ(back->blocks[2].state, "failing");
  std::string table = FormatStatus(*back);
  EXPECT_NE(table.find("1 of 2 block(s) serving"), std::string::npos) << table;
  // The file holds servers' words: --status prints none of their controls.
  st.blocks[0].reason = "refused\x1b[2J\nforged line";
  table = FormatStatus(st);
  EXPECT_EQ(table.find('\x1b'), std::string::npos) << table;
  EXPECT_NE(table.find("refused\\x1b[2J\\x0aforged line\n"), std::string::npos) << table;
  EXPECT_FALSE(ParseStatusJson("{\"pid\": 1}").ok());
  EXPECT_FALSE(ParseStatusJson("not json").ok());
}

}  // namespace
}  // namespace attest::agent
