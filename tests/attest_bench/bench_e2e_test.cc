// attest-bench end to end: enrol 20 simulated agents through the registrar's
// bulk path, run the protocol for 5 s against a real gateway, Apache Kafka
// (this test's topics on the run's cluster), worker and PostgreSQL, and check
// the run's JSON: evidence accepted, every accepted evidence has exactly one
// verdict, all verdicts PASS.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "tests/attest_bench/pipeline.h"

namespace attest::bench::test {
namespace {

std::string Slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

int64_t Count(const std::string& conninfo, const std::string& sql) {
  pqxx::connection c(conninfo);
  pqxx::work tx(c);
  return tx.exec1(sql)[0].as<int64_t>();
}

TEST(AttestBenchE2E, EnrolAndRunGivesOneVerdictPerAcceptedEvidence) {
  Pipeline p;
  const fs::path state = p.dir() / "agents.state";
  std::string out;
  int rc = RunCommand({ATTEST_BENCH_BINARY,
                       "enrol",
                       "--agents",
                       "20",
                       "--ak",
                       "mix",
                       "--rsa-keys",
                       "3",
                       "--registrar",
                       p.registrar_url(),
                       "--admin-token-file",
                       p.admin_token_file(),
                       "--ca-file",
                       p.ca_file(),
                       "--state-file",
                       state.string(),
                       "--interval",
                       "1",
                       "--grace-factor",
                       "1000",
                       "--batch",
                       "7"},
                      &out);
  ASSERT_EQ(rc, 0) << out << p.Logs();
  EXPECT_EQ(Count(p.conninfo(), "SELECT count(*) FROM registrations WHERE state = 'active'"), 20);
  EXPECT_EQ(Count(p.conninfo(), "SELECT count(*) FROM enrolments WHERE interval_seconds = 1"), 20);
  EXPECT_EQ(Count(p.conninfo(), "SELECT count(*) FROM policies"), 1) << "one shared policy";

  const fs::path json = p.dir() / "run.json";
  out.clear();
  rc = RunCommand({ATTEST_BENCH_BINARY,
                   "run",
                   "--state-file",
                   state.string(),
                   "--gateway",
                   p.gateway_url(),
                   "--ca-file",
                   p.ca_file(),
                   "--bootstrap",
                   p.bootstrap(),
                   "--verdict-topic",
                   p.topics().verdicts,
                   "--rate",
                   "50",
                   "--duration",
                   "5",
                   "--connections",
                   "4",
                   "--threads",
                   "1",
                   "--ima-entries-per-round",
                   "3",
                   "--drain-timeout",
                   "60",
                   "--watch-pid",
                   "gateway=" + std::to_string(p.gateway_pid()),
                   "--watch-pid",
                   "worker=" + std::to_string(p.worker_pid(0)),
                   "--json",
                   json.string()},
                  &out);
  ASSERT_EQ(rc, 0) << out << p.Logs();
  auto j = nlohmann::json::parse(Slurp(json));
  SCOPED_TRACE(j.dump(2) + "\n" + out);
  EXPECT_GT(j["accepted"].get<int64_t>(), 0);
  EXPECT_EQ(j["missing"].get<int64_t>(), 0);
  EXPECT_EQ(j["duplicates"].get<int64_t>(), 0);
  EXPECT_EQ(j["unexpected"].get<int64_t>(), 0);
  EXPECT_EQ(j["refused_total"].get<int64_t>(), 0);
  EXPECT_EQ(j["matched"].get<int64_t>(), j["accepted"].get<int64_t>());
  EXPECT_EQ(j["verdicts_by_result"].size(), 1u);
  EXPECT_EQ(j["verdicts_by_result"].value("PASS", 0), j["verdicts"].get<int64_t>());
  EXPECT_GE(j["latency_ms"]["count"].get<int64_t>(), j["accepted"].get<int64_t>());
  ASSERT_EQ(j["processes"].size(), 3u);
  EXPECT_EQ(j["processes"][1]["name"], "gateway");
  EXPECT_GT(j["processes"][1]["cpu_seconds"].get<double>(), 0);
  // Several rounds per agent: IMA lists grew and were verified incrementally.
  EXPECT_GT(Count(p.conninfo(), "SELECT max(ima_offset) FROM enrolments"), 3);

  // A second run from the same state file: every agent reboots (new
  // resetCount), so reuse works and still passes.
  out.clear();
  rc = RunCommand({ATTEST_BENCH_BINARY,
                   "run",
                   "--state-file",
                   state.string(),
                   "--gateway",
                   p.gateway_url(),
                   "--ca-file",
                   p.ca_file(),
                   "--bootstrap",
                   p.bootstrap(),
                   "--verdict-topic",
                   p.topics().verdicts,
                   "--flat-out",
                   "--duration",
                   "2",
                   "--connections",
                   "2",
                   "--drain-timeout",
                   "60",
                   "--json",
                   json.string()},
                  &out);
  ASSERT_EQ(rc, 0) << out << p.Logs();
  j = nlohmann::json::parse(Slurp(json));
  EXPECT_GT(j["accepted"].get<int64_t>(), 0) << j.dump(2);
  EXPECT_EQ(j["missing"].get<int64_t>(), 0) << j.dump(2);
  EXPECT_EQ(j["verdicts_by_result"].value("PASS", 0), j["verdicts"].get<int64_t>()) << j.dump(2);
}

}  // namespace
}  // namespace attest::bench::test
