// End to end through the one-command lab (scripts/lab.sh --detach) on its
// default broker, one Apache Kafka node (scripts/kafka.sh), with the
// binaries of this build tree: three agents on swtpm reach PASS; a tampered
// IMA list yields FAIL and a revocation; a SIGKILLed worker does not stop
// the verdicts; a restarted agent resumes; `lab.sh stop` leaves no process
// of the lab behind, its Kafka node included. After the tamper, every dashboard view (migrations
// 007 and 012) is checked against the lab's data, and `attestctl verdicts tail` finds the fail
// verdict and the signed revocation on the lab's broker. Skips when a service binary is not built.
#include <signal.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "tests/harness/util/process.h"

namespace {

namespace fs = std::filesystem;
using attest::testing::ReadFile;
using attest::testing::RunCommand;
using attest::testing::Subprocess;
using attest::testing::TempDir;
using attest::testing::WaitFor;
using namespace std::chrono_literals;

const fs::path kSource = ATTEST_SOURCE_DIR;
// The binaries of this build tree, or of $ATTEST_LAB_BUILD_DIR.
const fs::path kBuild =
    std::getenv("ATTEST_LAB_BUILD_DIR") ? std::getenv("ATTEST_LAB_BUILD_DIR") : ATTEST_BINARY_DIR;

std::string FindBinary(const std::string& name) {
  std::string out;
  RunCommand(
      {"find", kBuild.string(), "-maxdepth", "3", "-type", "f", "-name", name, "-perm", "-u+x"},
      &out);
  return out.substr(0, out.find('\n'));
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

// True when a non-zombie process of process group `pgid` exists (the lab's
// processes are reparented when lab.sh exits; a zombie is dead).
bool GroupAlive(pid_t pgid) {
  for (const auto& e : fs::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat;
    try {
      stat = ReadFile(e.path() / "stat");
    } catch (const std::exception&) {
      continue;  // exited meanwhile
    }
    // pid (comm) state ppid pgrp ...: comm may hold spaces, parse after ')'.
    const size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream in(stat.substr(close + 1));
    char state = 0;
    long ppid = 0, pgrp = 0;
    if (!(in >> state >> ppid >> pgrp)) continue;
    if (pgrp == pgid && state != 'Z' && state != 'X') return true;
  }
  return false;
}

class LabTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* b :
         {"attest-registrar", "attest-gateway", "attest-worker", "attest-agent", "attestctl"}) {
      if (FindBinary(b).empty()) GTEST_SKIP() << b << " is not built in " << kBuild;
    }
    for (const char* tool :
         {"swtpm", "swtpm_setup", "tpm2_pcrextend", "psql", "perl", "java", "kcat"}) {
      if (RunCommand({"sh", "-c", std::string("command -v ") + tool}) != 0) {
        GTEST_SKIP() << tool << " is not installed (scripts/install-deps.sh)";
      }
    }
    env_ = {"LAB_RUN_DIR=" + run_.path().string(),
            "LAB_BUILD_DIR=" + kBuild.string(),
            "LAB_SKIP_BUILD=1",
            "LAB_SKIP_DEPS=1",
            "LAB_INTERVAL=2",
            "LAB_IMA_PERIOD=2"};
    std::string out;
    started_ = true;
    int rc = Lab({"--detach"}, &out);
    ASSERT_EQ(rc, 0) << out << Logs();
    state_ = ReadFile(run_.path() / "state.env");
  }

  void TearDown() override {
    if (started_) Lab({"stop"});
  }

  int Lab(const std::vector<std::string>& args, std::string* out = nullptr) {
    std::vector<std::string> argv = {(kSource / "scripts/lab.sh").string()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::string local;
    return RunCommand(argv, out ? out : &local, env_);
  }

  std::string StateVar(const std::string& name) const {
    std::istringstream in(state_);
    std::string line;
    std::string value;
    while (std::getline(in, line)) {
      if (line.rfind(name + "=", 0) == 0) value = line.substr(name.size() + 1);
    }
    if (value.size() >= 2 && value.front() == '\'') value = value.substr(1, value.size() - 2);
    return value;
  }

  // As the lab's admin, or with the dashboards' privileges (attest_readonly).
  std::string Sql(const std::string& query, bool readonly = false) const {
    std::string out;
    std::vector<std::string> env;
    if (readonly) env.push_back("PGOPTIONS=-c role=attest_readonly");
    if (RunCommand(
            {"psql", "-X", "-At", "-v", "ON_ERROR_STOP=1", StateVar("ADMIN_DB"), "-c", query}, &out,
            env) != 0) {
      return "";
    }
    return Trim(out);
  }

  long SqlInt(const std::string& query, bool readonly = false) const {
    try {
      return std::stol(Sql(query, readonly));
    } catch (const std::exception&) {
      return -1;
    }
  }

  std::string Logs() const {
    std::string all;
    const fs::path logs = run_.path() / "logs";
    if (!fs::exists(logs)) return "(no logs)";
    for (const auto& e : fs::directory_iterator(logs)) {
      std::string text;
      try {
        text = ReadFile(e.path());
      } catch (const std::exception&) {
      }
      if (text.size() > 3000) text = "..." + text.substr(text.size() - 3000);
      all += "\n==== " + e.path().filename().string() + "\n" + text;
    }
    return all;
  }

  std::vector<pid_t> LabPids() const {
    std::vector<pid_t> pids;
    std::ifstream in(run_.path() / "pids");
    std::string name;
    pid_t pid = 0;
    while (in >> name >> pid) pids.push_back(pid);
    return pids;
  }

  // The first revocation of `agent` (kcat '%k %s' lines, JSON encoding) has
  // a valid ECDSA signature by the lab's revocation key over its event.
  void VerifyRevocation(const std::string& agent, const std::string& log) {
    std::istringstream in(log);
    std::string line;
    nlohmann::json rev;
    while (std::getline(in, line)) {
      if (line.rfind(agent + " ", 0) == 0) {
        rev = nlohmann::json::parse(line.substr(agent.size() + 1), nullptr, false);
        break;
      }
    }
    ASSERT_TRUE(rev.is_object()) << log;
    ASSERT_TRUE(rev.contains("event") && rev.contains("signature")) << rev.dump();
    EXPECT_EQ(rev.value("signatureAlgorithm", ""), "ecdsa-p256-sha256");
    const fs::path dir = run_.path() / "revocation-check";
    fs::create_directories(dir);
    std::ofstream(dir / "event.b64") << rev["event"].get<std::string>();
    std::ofstream(dir / "sig.b64") << rev["signature"].get<std::string>();
    std::string out;
    ASSERT_EQ(RunCommand({"sh", "-c",
                          "cd '" + dir.string() +
                              "' && base64 -d event.b64 > event.bin && base64 -d sig.b64 > sig.der"
                              // Signed with its context (docs/soc.md).
                              " && { printf 'attest.v1.RevocationEvent\\000'; cat event.bin; }"
                              " > signed.bin && openssl dgst -sha256 -verify '" +
                              (run_.path() / "pki/revocation.pub.pem").string() +
                              "' -signature sig.der signed.bin"},
                         &out),
              0)
        << out;
    // The event names the agent (protobuf field 1, a string).
    EXPECT_NE(ReadFile(dir / "event.bin").find(agent), std::string::npos);
    // And with the operators' tool, when this attestctl has it.
    const std::string ctl = FindBinary("attestctl");
    std::string help;
    RunCommand({ctl, "--help"}, &help);
    if (help.find("\n  revocation") != std::string::npos) {
      std::ofstream(dir / "record.json") << rev.dump();
      out.clear();
      EXPECT_EQ(RunCommand({ctl, "revocation", "verify", "--key",
                            (run_.path() / "pki/revocation.pub.pem").string(),
                            (dir / "record.json").string()},
                           &out),
                0)
          << out;
      EXPECT_NE(out.find(agent), std::string::npos) << out;
    }
  }

  // Every dashboard view (007 and 012) against the lab's data after agent
  // `tampered` failed, read as the dashboards' role (attest_readonly).
  void CheckDashboardViews(const std::string& tampered) {
    const std::string in_ids = "'" + tampered + "' = ANY(agent_ids)";
    auto RoSql = [&](const std::string& q) { return Sql(q, true); };
    auto RoInt = [&](const std::string& q) { return SqlInt(q, true); };
    // agents_by_state (007): the same counts as the table, in one snapshot.
    EXPECT_EQ(RoSql("SELECT (SELECT array_agg(state::text || '=' || agents ORDER BY state) "
                    "FROM agents_by_state) = (SELECT array_agg(state::text || '=' || n "
                    "ORDER BY state) FROM (SELECT state, count(*) AS n FROM enrolments "
                    "GROUP BY state) s)"),
              "t")
        << Sql("SELECT * FROM agents_by_state");
    EXPECT_EQ(RoInt("SELECT sum(agents) FROM agents_by_state"), 3);
    EXPECT_GE(RoInt("SELECT agents FROM agents_by_state WHERE state = 'FAILED'"), 1);
    // failures_last_hour (007): the tampered agent's fail verdict.
    EXPECT_GE(RoInt("SELECT count(*) FROM failures_last_hour WHERE agent_id = '" + tampered +
                    "' AND result = 'fail'"),
              1);
    // attestation_rate (007): this hour's attestations, the failure among them.
    EXPECT_GE(RoInt("SELECT sum(attestations) FROM attestation_rate"), 3);
    EXPECT_GE(RoInt("SELECT sum(failures) FROM attestation_rate"), 1);
    // failures by event id (012): the IMA event, naming the tampered agent
    // and the measured file (lab.sh tamper measures /tmp/evil-*).
    for (const char* view : {"failures_by_event_last_hour", "failures_by_event_last_day"}) {
      EXPECT_GE(RoInt(std::string("SELECT count(*) FROM ") + view +
                      " WHERE event_id LIKE 'ima.validation.%' AND failures >= 1 AND " + in_ids),
                1)
          << view << ": " << Sql(std::string("SELECT * FROM ") + view);
    }
    EXPECT_GE(RoInt("SELECT count(*) FROM failure_events_last_day WHERE agent_id = '" + tampered +
                    "' AND event_id LIKE 'ima.validation.%' AND path LIKE '/tmp/evil-%'"),
              1)
        << Sql("SELECT agent_id, event_id, path FROM failure_events_last_day");
    // agent_last_attestation (012): every agent attested; the live ones
    // (interval 2 s) a moment ago and none is overdue.
    EXPECT_EQ(RoInt("SELECT count(*) FROM agent_last_attestation "
                    "WHERE last_attestation_at IS NOT NULL"),
              3);
    EXPECT_EQ(RoInt("SELECT count(*) FROM agent_last_attestation WHERE state = 'PASS' "
                    "AND NOT overdue AND seconds_since_last_attestation < 60"),
              2)
        << Sql("SELECT * FROM agent_last_attestation");
    // offline_agents (012): exactly the OFFLINE enrolments (none here).
    EXPECT_EQ(RoSql("SELECT (SELECT count(*) FROM offline_agents) = "
                    "(SELECT count(*) FROM enrolments WHERE state = 'OFFLINE')"),
              "t");
    // worker_lag (007), worker_partitions and worker_owners (012): the
    // evidence partitions have owners (the lab's workers), lag is consistent.
    EXPECT_GE(RoInt("SELECT count(*) FROM worker_lag WHERE owner IS NOT NULL"), 1);
    EXPECT_GE(RoInt("SELECT count(*) FROM worker_partitions WHERE owner IS NOT NULL "
                    "AND topic = 'attestation.evidence'"),
              1)
        << Sql("SELECT * FROM worker_partitions");
    EXPECT_EQ(RoInt("SELECT count(*) FROM worker_partitions WHERE log_end_offset IS NOT NULL "
                    "AND lag IS DISTINCT FROM greatest(log_end_offset - next_offset, 0)"),
              0);
    EXPECT_EQ(RoInt("SELECT coalesce(sum(agents), 0) FROM worker_partitions "
                    "WHERE consumer_group = (SELECT min(consumer_group) FROM consumer_offsets)"),
              SqlInt("SELECT count(*) FROM enrolments WHERE partition IN "
                     "(SELECT partition FROM consumer_offsets)"));
    const long owners = RoInt("SELECT count(*) FROM worker_owners WHERE owner IS NOT NULL");
    EXPECT_GE(owners, 1);
    EXPECT_LE(owners, 2) << Sql("SELECT * FROM worker_owners");
    EXPECT_EQ(RoInt("SELECT sum(partitions) FROM worker_owners"),
              SqlInt("SELECT count(*) FROM worker_partitions"));
  }

  // The SOC's tool against the lab's broker: the tampered agent's fail
  // verdict, and its revocation with a valid signature. Both run in the
  // background (joining a consumer group takes seconds) while the views are
  // checked; FinishVerdictsTails waits for them.
  struct Tails {
    std::unique_ptr<Subprocess> verdict, revocation;
    fs::path verdict_log, revocation_log;
  };

  Tails StartVerdictsTails(const std::string& tampered) {
    const std::string ctl = FindBinary("attestctl");
    const std::vector<std::string> base = {ctl,
                                           "verdicts",
                                           "tail",
                                           "--bootstrap",
                                           StateVar("KAFKA_BOOTSTRAP"),
                                           "--from-beginning",
                                           "--agent",
                                           tampered,
                                           "--count",
                                           "1",
                                           "--timeout",
                                           "30"};
    Tails t;
    t.verdict_log = run_.path() / "tail-verdict.log";
    t.revocation_log = run_.path() / "tail-revocation.log";
    std::vector<std::string> argv = base;
    argv.insert(argv.end(), {"--result", "fail"});
    t.verdict = std::make_unique<Subprocess>(argv, t.verdict_log.string());
    argv = base;
    argv.insert(argv.end(), {"--only-revocations", "--revocation-key",
                             (run_.path() / "pki/revocation.pub.pem").string()});
    t.revocation = std::make_unique<Subprocess>(argv, t.revocation_log.string());
    return t;
  }

  void FinishVerdictsTails(const std::string& tampered, Tails& t) {
    const int verdict_rc = t.verdict->Wait(60s);
    const int revocation_rc = t.revocation->Wait(60s);
    const std::string out = ReadFile(t.verdict_log);
    EXPECT_EQ(verdict_rc, 0) << out;
    EXPECT_NE(out.find(tampered + " seq="), std::string::npos) << out;
    EXPECT_NE(out.find(" fail state=FAILED failures: ima.validation."), std::string::npos) << out;
    EXPECT_NE(out.find("(/tmp/evil-"), std::string::npos) << out;
    const std::string rev = ReadFile(t.revocation_log);
    EXPECT_EQ(revocation_rc, 0) << rev;
    EXPECT_NE(rev.find(tampered + " seq="), std::string::npos) << rev;
    EXPECT_NE(rev.find(" revoked reason=ima.validation."), std::string::npos) << rev;
    EXPECT_NE(rev.find("signature=valid"), std::string::npos) << rev;
  }

  TempDir run_{"attest-lab"};
  std::vector<std::string> env_;
  std::string state_;
  bool started_ = false;
};

TEST_F(LabTest, PassTamperFailoverRestartStop) {
  const std::string agent1 = StateVar("AGENT1_UUID");
  const std::string agent2 = StateVar("AGENT2_UUID");
  ASSERT_FALSE(agent1.empty()) << state_;

  // 1. All agents attest and pass.
  ASSERT_TRUE(WaitFor(
      [&] { return SqlInt("SELECT count(*) FROM enrolments WHERE state = 'PASS'") == 3; }, 90s))
      << Sql("SELECT agent_id, state, state_reason FROM enrolments") << Logs();

  // 2. Tamper with agent 1: FAIL and a revocation event.
  ASSERT_EQ(Lab({"tamper", "1"}), 0);
  ASSERT_TRUE(WaitFor(
      [&] {
        return Sql("SELECT state FROM enrolments WHERE agent_id = '" + agent1 + "'") == "FAILED";
      },
      60s))
      << Sql("SELECT agent_id, state, state_reason FROM enrolments") << Logs();
  EXPECT_GE(SqlInt("SELECT count(*) FROM attestation_history WHERE agent_id = '" + agent1 +
                   "' AND result = 'fail'"),
            1);
  const fs::path revocations = run_.path() / "logs" / "revocations.log";
  EXPECT_TRUE(WaitFor(
      [&] {
        try {
          return ReadFile(revocations).find(agent1) != std::string::npos;
        } catch (const std::exception&) {
          return false;
        }
      },
      30s))
      << "no revocation for " << agent1 << " on attestation.revocations" << Logs();
  VerifyRevocation(agent1, ReadFile(revocations));
  // The other agents keep passing.
  EXPECT_EQ(SqlInt("SELECT count(*) FROM enrolments WHERE state = 'PASS'"), 2);
  // The dashboards' views show it, and so does the SOC's tail.
  Tails tails = StartVerdictsTails(agent1);
  CheckDashboardViews(agent1);
  FinishVerdictsTails(agent1, tails);

  // 3. SIGKILL a worker: verdicts keep coming for the healthy agents.
  ASSERT_EQ(Lab({"kill-worker"}), 0);
  const long before = SqlInt("SELECT count(*) FROM attestation_history WHERE result = 'pass'");
  ASSERT_GE(before, 0);
  EXPECT_TRUE(WaitFor(
      [&] {
        return SqlInt("SELECT count(*) FROM attestation_history WHERE result = 'pass'") >=
               before + 6;
      },
      90s))
      << "no new verdicts after a worker was killed" << Logs();

  // 4. Restart agent 2: it comes back and passes again.
  const std::string t0 = Sql("SELECT now()");
  ASSERT_EQ(Lab({"restart-agent", "2"}), 0);
  EXPECT_TRUE(WaitFor(
      [&] {
        return SqlInt("SELECT count(*) FROM attestation_history WHERE agent_id = '" + agent2 +
                      "' AND result IN ('pass', 'resumed') AND attested_at > '" + t0 + "'") >= 2;
      },
      60s))
      << Logs();
  EXPECT_EQ(Sql("SELECT state FROM enrolments WHERE agent_id = '" + agent2 + "'"), "PASS");
  // The killed worker's partitions moved (step 3): the dashboards' worker
  // view shows one owner holding every evidence partition.
  EXPECT_TRUE(WaitFor(
      [&] {
        return Sql("SELECT count(*) = 1 FROM worker_owners WHERE topic = 'attestation.evidence'",
                   true) == "t";
      },
      60s))
      << Sql("SELECT * FROM worker_owners") << Sql("SELECT * FROM worker_partitions");

  // The topics were created with explicit configurations (`lab.sh kafka`
  // passes through to scripts/kafka.sh on the lab's cluster).
  std::string topics;
  ASSERT_EQ(Lab({"kafka", "topics"}, &topics), 0) << topics;
  for (const char* t :
       {"attestation.evidence", "attestation.verdicts", "attestation.revocations"}) {
    const size_t at = topics.find(std::string("Topic: ") + t + "\t");
    ASSERT_NE(at, std::string::npos) << t << " missing:\n" << topics;
    const std::string line = topics.substr(at, topics.find('\n', at) - at);
    EXPECT_NE(line.find("PartitionCount: 6\t"), std::string::npos) << line;
    for (const char* config : {"min.insync.replicas=1", "retention.ms=", "max.message.bytes=",
                               "unclean.leader.election.enable=false"}) {
      EXPECT_NE(line.find(config), std::string::npos) << config << " not set: " << line;
    }
  }

  // 5. Stop: nothing the lab started is left, its Kafka node included.
  std::vector<pid_t> pids = LabPids();
  ASSERT_FALSE(pids.empty());
  const std::string kafka_pid = Trim(ReadFile(run_.path() / "kafka/node-1/pid"));
  ASSERT_FALSE(kafka_pid.empty());
  pids.push_back(static_cast<pid_t>(std::stol(kafka_pid)));  // its own session (setsid)
  std::string out;
  ASSERT_EQ(Lab({"stop"}, &out), 0) << out;
  started_ = false;
  for (pid_t p : pids) {
    EXPECT_FALSE(GroupAlive(p)) << "process group " << p << " is still alive";
  }
}

// Issue 16's lab scenario: a file name holding 0xFF and an escape sequence
// measured on node 1, a 2 MB burst of allowed entries on node 2 (sent in
// parts). Both workers stay alive; node 1 is FAILED with the entry's id and
// the name escaped once; node 2 catches up and passes; node 3 still passes.
TEST_F(LabTest, HostileNameAndBurstKeepBothWorkersServing) {
  const std::string agent1 = StateVar("AGENT1_UUID");
  const std::string agent2 = StateVar("AGENT2_UUID");
  const std::string agent3 = StateVar("AGENT3_UUID");
  ASSERT_TRUE(WaitFor(
      [&] { return SqlInt("SELECT count(*) FROM enrolments WHERE state = 'PASS'") == 3; }, 90s))
      << Sql("SELECT agent_id, state, state_reason FROM enrolments") << Logs();
  const long entries =
      SqlInt("SELECT ima_offset FROM enrolments WHERE agent_id = '" + agent2 + "'");
  const std::string path = "/tmp/\xff\x1b[31mevil";
  ASSERT_EQ(Lab({"tamper", "1", path}), 0);
  std::string out;
  ASSERT_EQ(Lab({"burst", "2", "2097152"}, &out), 0) << out;

  ASSERT_TRUE(WaitFor(
      [&] {
        return Sql("SELECT state || ' ' || state_reason FROM enrolments WHERE agent_id = '" +
                   agent1 + "'") == "FAILED ima.validation.ima-ng.not_in_allowlist";
      },
      90s))
      << Sql("SELECT agent_id, state, state_reason FROM enrolments") << Logs();
  // The name as the SOC sees it: escaped once (docs/soc.md), never raw.
  EXPECT_EQ(Sql("SELECT f->'context'->>'path' FROM attestation_history h, "
                "jsonb_array_elements(h.failures) f WHERE h.agent_id = '" +
                agent1 + "' AND f->>'event_id' = 'ima.validation.ima-ng.not_in_allowlist' LIMIT 1"),
            "/tmp/\\xff\\x1b[31mevil");

  // Node 2: the burst (about 15,000 entries, more than one evidence holds)
  // is delivered in parts and passes again. Whether a part shows
  // ima.catching_up depends on timing (while the burst is still being
  // measured, each quote already matches inside its part); the worker tests
  // cover that state deterministically.
  EXPECT_TRUE(WaitFor(
      [&] {
        return Sql("SELECT state || ' ' || (ima_offset > " + std::to_string(entries + 14000) +
                   ") FROM enrolments WHERE agent_id = '" + agent2 + "'") == "PASS true";
      },
      120s))
      << Sql("SELECT agent_id, state, state_reason, ima_offset FROM enrolments") << Logs();
  EXPECT_EQ(SqlInt("SELECT count(*) FROM attestation_history WHERE agent_id = '" + agent2 +
                   "' AND result IN ('fail', 'rejected')"),
            0)
      << Sql("SELECT sequence, result, failures FROM attestation_history WHERE agent_id = '" +
             agent2 + "' AND result IN ('fail', 'rejected')");
  EXPECT_EQ(Sql("SELECT state FROM enrolments WHERE agent_id = '" + agent3 + "'"), "PASS");

  // Both workers alive, and still serving: node 3 keeps getting verdicts.
  for (const char* w : {"worker1", "worker2"}) {
    std::string pid;
    std::ifstream in(run_.path() / "pids");
    std::string name, p;
    while (in >> name >> p) {
      if (name == w) pid = p;
    }
    ASSERT_FALSE(pid.empty()) << w;
    EXPECT_EQ(::kill(static_cast<pid_t>(std::stol(pid)), 0), 0) << w << " died" << Logs();
  }
  const long seq = SqlInt("SELECT sequence FROM enrolments WHERE agent_id = '" + agent3 + "'");
  EXPECT_TRUE(WaitFor(
      [&] {
        return SqlInt("SELECT sequence FROM enrolments WHERE agent_id = '" + agent3 + "'") >=
               seq + 2;
      },
      60s));
}

// Issue 17 point 5: tampering while the agent is down. Node 1 passes; its
// agent stops and the sweep makes it OFFLINE; while it is down a binary
// outside the policy is measured (IMA list + PCR 10); the agent starts: the
// next verdict is FAIL with the entry's id and a signed revocation follows.
// Then node 1 reboots (TPM power-cycled, a new UEFI log in PCRs 0-7, an IMA
// list of allowed files only, a new boot time): it must pass again without an
// operator. Deadlines are 3 intervals + 10 s of processing slack; the
// observed latencies are printed and recorded as test properties.
TEST_F(LabTest, TamperWhileOfflineFailsOnReturnAndRebootRecovers) {
  const std::string agent1 = StateVar("AGENT1_UUID");
  const std::string where = "agent_id = '" + agent1 + "'";
  constexpr auto kInterval = 2s;  // LAB_INTERVAL of SetUp; the enrolment's grace factor is 3
  constexpr auto kDeadline = 3 * kInterval + 10s;
  ASSERT_FALSE(agent1.empty()) << state_;
  ASSERT_TRUE(WaitFor(
      [&] { return SqlInt("SELECT count(*) FROM enrolments WHERE state = 'PASS'") == 3; }, 90s))
      << Sql("SELECT agent_id, state, state_reason FROM enrolments") << Logs();
  // Milliseconds from the database time `since` to the first history row of
  // agent 1 after it matching `cond`; -1 when there is none.
  auto LatencyMs = [&](const std::string& since, const std::string& cond) {
    return SqlInt("SELECT coalesce((extract(epoch FROM min(attested_at) - '" + since +
                  "'::timestamptz) * 1000)::bigint, -1) FROM attestation_history WHERE " + where +
                  " AND attested_at > '" + since + "' AND " + cond);
  };
  auto Report = [&](const char* key, long ms) {
    RecordProperty(key, std::to_string(ms));
    std::printf("[ lab      ] %s = %ld ms\n", key, ms);
  };

  // 1. The agent stops: OFFLINE after interval x grace (+ the 1 s sweep).
  std::string out;
  const std::string stopped = Sql("SELECT now()");
  ASSERT_EQ(Lab({"stop-agent", "1"}, &out), 0) << out;
  ASSERT_TRUE(
      WaitFor([&] { return Sql("SELECT state FROM enrolments WHERE " + where) == "OFFLINE"; },
              kDeadline + 3 * kInterval))
      << Sql("SELECT agent_id, state, state_reason FROM enrolments") << Logs();
  Report("offline_after_stop_ms", LatencyMs(stopped, "result = 'offline'"));
  const long offline_seq = SqlInt("SELECT sequence FROM enrolments WHERE " + where);

  // 2. While it is down: a file outside the policy runs (list + PCR 10).
  const std::string evil = "/tmp/evil-while-offline";
  ASSERT_EQ(Lab({"tamper", "1", evil}, &out), 0) << out;
  EXPECT_EQ(Sql("SELECT state FROM enrolments WHERE " + where), "OFFLINE");

  // 3. The agent starts: its next verdict is FAIL naming the entry, and a
  // signed revocation for it is published.
  const fs::path revocations = run_.path() / "logs" / "revocations.log";
  auto Revoked = [&] {
    try {
      return ReadFile(revocations).find(agent1 + " ") != std::string::npos;
    } catch (const std::exception&) {
      return false;
    }
  };
  ASSERT_FALSE(Revoked()) << "agent 1 was revoked before the tamper";
  const std::string started = Sql("SELECT now()");
  const auto started_steady = std::chrono::steady_clock::now();
  ASSERT_EQ(Lab({"start-agent", "1"}, &out), 0) << out;
  ASSERT_TRUE(WaitFor(
      [&] { return SqlInt("SELECT sequence FROM enrolments WHERE " + where) > offline_seq; },
      kDeadline))
      << "no verdict after the agent started" << Logs();
  const std::string next = "sequence = " + std::to_string(offline_seq + 1);
  EXPECT_EQ(
      Sql("SELECT result || ' ' || state FROM attestation_history WHERE " + where + " AND " + next),
      "fail FAILED")
      << Sql("SELECT sequence, result, state, failures FROM attestation_history WHERE " + where +
             " ORDER BY sequence DESC LIMIT 5");
  EXPECT_EQ(Sql("SELECT f->'context'->>'path' FROM attestation_history h, "
                "jsonb_array_elements(h.failures) f WHERE h." +
                where + " AND h." + next +
                " AND f->>'event_id' = 'ima.validation.ima-ng.not_in_allowlist'"),
            evil);
  Report("fail_after_start_ms", LatencyMs(started, "result = 'fail'"));
  ASSERT_TRUE(WaitFor(Revoked, kDeadline)) << "no revocation for " << agent1 << Logs();
  Report("revocation_after_start_ms", std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now() - started_steady)
                                          .count());
  VerifyRevocation(agent1, ReadFile(revocations));
  EXPECT_NE(ReadFile(run_.path() / "revocation-check" / "event.bin")
                .find("ima.validation.ima-ng.not_in_allowlist"),
            std::string::npos);

  // 4. A reboot: the TPM is power-cycled (resetCount advances), the firmware
  // and IMA measure again, the agent starts with a new boot time.
  const long reset_before =
      SqlInt("SELECT quote_reset_count FROM attestation_history WHERE " + where +
             " AND quote_reset_count IS NOT NULL ORDER BY sequence DESC LIMIT 1");
  const long failed_seq = SqlInt("SELECT sequence FROM enrolments WHERE " + where);
  const std::string rebooted = Sql("SELECT now()");
  ASSERT_EQ(Lab({"reboot", "1"}, &out), 0) << out;
  // The new boot's evidence is authentic and clean: a pass verdict flagged
  // as a reboot, from a TPM whose resetCount advanced, with the UEFI log.
  const fs::path verdicts = run_.path() / "logs" / "verdicts.log";
  auto RebootVerdict = [&]() -> nlohmann::json {
    std::string text;
    try {
      text = ReadFile(verdicts);
    } catch (const std::exception&) {
      return nullptr;
    }
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
      if (line.rfind(agent1 + " ", 0) != 0) continue;
      auto v = nlohmann::json::parse(line.substr(agent1.size() + 1), nullptr, false);
      if (v.is_object() && v.value("reboot", false) &&
          std::stol(v.value("sequence", "0")) > failed_seq) {
        return v;
      }
    }
    return nullptr;
  };
  ASSERT_TRUE(WaitFor([&] { return RebootVerdict().is_object(); }, kDeadline))
      << "no verdict flagged reboot after `lab.sh reboot 1`" << Logs();
  const nlohmann::json rv = RebootVerdict();
  EXPECT_EQ(rv.value("result", ""), "VERDICT_RESULT_PASS") << rv.dump();
  Report("reboot_verdict_after_reboot_ms", LatencyMs(rebooted, "true"));
  EXPECT_GT(SqlInt("SELECT quote_reset_count FROM attestation_history WHERE " + where +
                   " AND sequence = " + rv.value("sequence", "0")),
            reset_before);
  std::string agent_log;
  try {
    agent_log = ReadFile(run_.path() / "logs" / "agent1.log");
  } catch (const std::exception&) {
  }
  EXPECT_NE(agent_log.find("IMA entries from 0, UEFI log"), std::string::npos);
  // Back to PASS with no operator action. Today this fails in the worker:
  // verifier-workers/processor.cc keeps a FAILED agent FAILED on a pass,
  // reboot or not (`else if (row.state != "FAILED")`; docs/worker.md: "a
  // failed agent stays failed until re-enrolled").
  EXPECT_TRUE(WaitFor([&] { return Sql("SELECT state FROM enrolments WHERE " + where) == "PASS"; },
                      kDeadline))
      << "issue 17.5: after a clean reboot agent 1 is still "
      << Sql("SELECT state || ' (' || state_reason || ')' FROM enrolments WHERE " + where)
      << "; the worker keeps FAILED on a pass verdict flagged reboot "
         "(verifier-workers/processor.cc, ProcessEvidence, the kPass branch)";
  if (Sql("SELECT state FROM enrolments WHERE " + where) == "PASS") {
    Report("pass_after_reboot_ms", LatencyMs(rebooted, "state = 'PASS'"));
  }
  // The other nodes kept passing throughout.
  EXPECT_EQ(SqlInt("SELECT count(*) FROM enrolments WHERE state = 'PASS' AND NOT (" + where + ")"),
            2);
}

}  // namespace
