// ProcessEvidence's state table (verifier-workers/state_table.h) driven row
// by row: no database, no broker, no quote.
#include "verifier-workers/state_table.h"

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "common/checks/failure_ids.h"
#include "common/verifier/verifier.h"
#include "verifier-workers/findings.h"

namespace attest::worker {
namespace {

using S = EnrolmentState;
using J = Judgement;

struct Row {
  const char* name;
  TransitionInput in;
  bool verdict;
  v1::VerdictResult result;
  S state;
  std::optional<std::string> reason;
  std::optional<int64_t> failed_reset_count;
};

TransitionInput In(J j, S s, std::optional<std::string> reason = std::nullopt,
                   std::optional<int64_t> failed = std::nullopt,
                   std::optional<int64_t> reset = std::nullopt) {
  TransitionInput in;
  in.judgement = j;
  in.state = s;
  in.state_reason = std::move(reason);
  in.failed_reset_count = failed;
  in.reset_count = reset;
  return in;
}

TransitionInput With(TransitionInput in, void (*f)(TransitionInput&)) {
  f(in);
  return in;
}

const std::string kId = "pcr.mismatch";

std::vector<Row> Table() {
  const auto first = [](TransitionInput& in) { in.first_failure = kId; };
  const auto rollback = [](TransitionInput& in) {
    in.first_failure = checks::failure_id::kQuoteTpmRollback;
    in.rollback = true;
  };
  const auto catching_up = [](TransitionInput& in) { in.ima_catching_up = true; };
  const auto was_catching_up = [](TransitionInput& in) { in.was_catching_up = true; };
  constexpr auto kPassR = v1::VERDICT_RESULT_PASS;
  return {
      // A copy: nothing changes, no verdict.
      {"copy", In(J::kCopy, S::kPass, "attesting", 3, 4), false, v1::VERDICT_RESULT_UNSPECIFIED,
       S::kPass, "attesting", 3},
      // Rejected: the state and its reason are kept, whatever they are.
      {"reject enrolled", In(J::kRejected, S::kEnrolled), true, v1::VERDICT_RESULT_REJECTED,
       S::kEnrolled, std::nullopt, std::nullopt},
      {"reject failed", In(J::kRejected, S::kFailed, kId, 2, 5), true, v1::VERDICT_RESULT_REJECTED,
       S::kFailed, kId, 2},
      {"reject offline", In(J::kRejected, S::kOffline, "x"), true, v1::VERDICT_RESULT_REJECTED,
       S::kOffline, "x", std::nullopt},
      // Fail: FAILED with the first failure's id, in the boot of the quote.
      {"fail pass", With(In(J::kFail, S::kPass, "attesting", std::nullopt, 4), first), true,
       v1::VERDICT_RESULT_FAIL, S::kFailed, kId, 4},
      {"fail without findings", In(J::kFail, S::kEnrolled, std::nullopt, std::nullopt, 4), true,
       v1::VERDICT_RESULT_FAIL, S::kFailed, "failed", 4},
      {"fail without counters",
       With(In(J::kFail, S::kPass, std::nullopt, std::nullopt, std::nullopt), first), true,
       v1::VERDICT_RESULT_FAIL, S::kFailed, kId, kNoRecovery},
      {"fail rollback", With(In(J::kFail, S::kPass, std::nullopt, std::nullopt, 9), rollback), true,
       v1::VERDICT_RESULT_FAIL, S::kFailed, std::string(checks::failure_id::kQuoteTpmRollback),
       kNoRecovery},
      // Already FAILED: its reason stays; the boot count is never lowered.
      {"fail again later boot", With(In(J::kFail, S::kFailed, "old", 2, 5), first), true,
       v1::VERDICT_RESULT_FAIL, S::kFailed, "old", 5},
      {"fail again after rollback", With(In(J::kFail, S::kFailed, "old", kNoRecovery, 7), first),
       true, v1::VERDICT_RESULT_FAIL, S::kFailed, "old", kNoRecovery},
      // Log requested: state unchanged; a catching-up list names itself
      // unless the agent is FAILED.
      {"log requested", In(J::kLogRequested, S::kPass, "attesting"), true,
       v1::VERDICT_RESULT_LOG_REQUESTED, S::kPass, "attesting", std::nullopt},
      {"log requested catching up", With(In(J::kLogRequested, S::kPass, "attesting"), catching_up),
       true, v1::VERDICT_RESULT_LOG_REQUESTED, S::kPass, verifier::kImaCatchingUp, std::nullopt},
      {"log requested catching up failed",
       With(In(J::kLogRequested, S::kFailed, kId, 2, 2), catching_up), true,
       v1::VERDICT_RESULT_LOG_REQUESTED, S::kFailed, kId, 2},
      // Pass.
      {"pass offline", In(J::kPass, S::kOffline, "gone"), true, v1::VERDICT_RESULT_RESUMED,
       S::kPass, "resumed", std::nullopt},
      {"pass enrolled", In(J::kPass, S::kEnrolled), true, kPassR, S::kPass, "attesting",
       std::nullopt},
      {"pass pass", In(J::kPass, S::kPass, "attesting"), true, kPassR, S::kPass, "attesting",
       std::nullopt},
      {"pass pass keeps reason", In(J::kPass, S::kPass, "other"), true, kPassR, S::kPass, "other",
       std::nullopt},
      {"pass anchors catch-up", With(In(J::kPass, S::kPass, "ima.catching_up"), was_catching_up),
       true, kPassR, S::kPass, "attesting", std::nullopt},
      {"pass failed same boot", In(J::kPass, S::kFailed, kId, 4, 4), true, kPassR, S::kFailed, kId,
       4},
      {"pass failed later boot", In(J::kPass, S::kFailed, kId, 4, 5), true, kPassR, S::kPass,
       "recovered_after_reboot", std::nullopt},
      {"pass failed no counters", In(J::kPass, S::kFailed, kId, 4, std::nullopt), true, kPassR,
       S::kFailed, kId, 4},
      {"pass failed before migration 018", In(J::kPass, S::kFailed, kId, std::nullopt, 100), true,
       kPassR, S::kFailed, kId, std::nullopt},
      {"pass failed after rollback", In(J::kPass, S::kFailed, kId, kNoRecovery, kNoRecovery - 1),
       true, kPassR, S::kFailed, kId, kNoRecovery},
  };
}

TEST(StateTable, EveryRow) {
  for (const Row& r : Table()) {
    SCOPED_TRACE(r.name);
    const Transition t = NextState(r.in);
    EXPECT_EQ(t.verdict, r.verdict);
    EXPECT_EQ(t.result, r.result);
    EXPECT_EQ(t.state, r.state);
    EXPECT_EQ(t.state_reason, r.reason);
    EXPECT_EQ(t.failed_reset_count, r.failed_reset_count);
  }
}

TEST(States, TextRoundTripsAndUnknownIsATypedError) {
  for (S s : {S::kEnrolled, S::kPass, S::kFailed, S::kOffline}) {
    auto back = ParseEnrolmentState(ToText(s));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, s);
  }
  EXPECT_EQ(ToProto(S::kFailed), v1::AGENT_STATE_FAILED);
  EXPECT_EQ(ToProto(S::kOffline), v1::AGENT_STATE_OFFLINE);
  for (PolicyKind k : {PolicyKind::kPcr, PolicyKind::kRuntime, PolicyKind::kMeasuredBoot}) {
    auto back = ParsePolicyKind(ToText(k));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, k);
  }
  EXPECT_EQ(ToText(PolicyKind::kMeasuredBoot), "mb");
  auto bad = ParseEnrolmentState("SUSPENDED");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code.message(), "unknown value");
  EXPECT_NE(bad.error().message.find("SUSPENDED"), std::string::npos);
  EXPECT_FALSE(ParseEnrolmentState("pass").ok());  // the database's spelling only
  EXPECT_FALSE(ParsePolicyKind("ima").ok());
  EXPECT_EQ(HistoryResultText(v1::VERDICT_RESULT_LOG_REQUESTED), "log_requested");
  EXPECT_EQ(HistoryResultText(v1::VERDICT_RESULT_RESUMED), "resumed");
}

}  // namespace
}  // namespace attest::worker
