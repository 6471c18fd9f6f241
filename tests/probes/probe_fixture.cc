#include "tests/probes/probe_fixture.h"

#include <fmt/format.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <set>

#include "common/kafka/partitioner.h"
#include "tests/gateway/topic_reader.h"

namespace attest::probes {

using namespace std::chrono_literals;

std::vector<ProbeRow>* ProbeTest::rows_ = nullptr;
attest::testing::TempDir* ProbeTest::worker_dir_ = nullptr;
worker::test::KeyFiles* ProbeTest::worker_keys_ = nullptr;

std::string StatusOf(const std::string& raw) {
  static const std::regex status_line(R"(^HTTP/1\.[01] (\d{3}))");
  std::smatch m;
  if (std::regex_search(raw, m, status_line)) return "HTTP " + m[1].str();
  return "";
}

void ProbeTest::SetUpTestSuite() {
  GatewayTest::SetUpTestSuite();
  RegistrarSide::Up();
  rows_ = new std::vector<ProbeRow>();
  worker_dir_ = new attest::testing::TempDir("attest-probes");
  worker_keys_ = new worker::test::KeyFiles(worker_dir_->path());
}

void ProbeTest::TearDownTestSuite() {
  // The table: probe -> expected -> observed (docs/security-probes.md).
  std::string table = "| probe | expected | observed | ok |\n|---|---|---|---|\n";
  auto cell = [](std::string s) {  // markdown: '|' inside a cell is escaped
    for (size_t at = 0; (at = s.find('|', at)) != std::string::npos; at += 2) s.insert(at, "\\");
    return s;
  };
  for (const auto& r : *rows_) {
    table += fmt::format("| {} | {} | {} | {} |\n", cell(r.probe), cell(r.expected),
                         cell(r.observed), r.ok ? "yes" : "**NO**");
  }
  std::printf("\nSecurity probes (%zu):\n%s\n", rows_->size(), table.c_str());
  if (const char* out = std::getenv("ATTEST_PROBES_TABLE"); out && *out) {
    std::ofstream(out, std::ios::app) << table;
  }
  delete worker_keys_;
  delete worker_dir_;
  delete rows_;
  worker_keys_ = nullptr;
  worker_dir_ = nullptr;
  rows_ = nullptr;
  RegistrarSide::Down();
  GatewayTest::TearDownTestSuite();
}

void ProbeTest::SetUp() {
  GatewayTest::SetUp();
  if (HasFatalFailure()) return;
  StartGateway(MakeConfig());
  if (HasFatalFailure()) return;
  auto rc = registrar_side_.Config();
  rc.db_conninfo = conninfo();
  registrar_ = registrar_side_.Start(rc);
  ASSERT_NE(registrar_, nullptr);
}

void ProbeTest::TearDown() {
  StopWorker();
  collector_.reset();
  if (registrar_) registrar_->Stop(2s);
  registrar_.reset();
  GatewayTest::TearDown();
}

void ProbeTest::StartWorker() {
  auto config = worker::test::MakeConfig(kafka().bootstrap(), topics(), conninfo(), *worker_keys_,
                                         attest::testing::UniqueName("probes"));
  config.token_key_files = {key_file_};  // the gateway's key: its tokens verify
  auto w = worker::Worker::Create(config, &registry_, clock_);
  ASSERT_TRUE(w.ok()) << w.error().message;
  worker_ = std::move(*w);
  worker_thread_ = std::thread([this] {
    auto r = worker_->Run();
    if (!r) ADD_FAILURE() << r.error().message;
  });
  collector_ = std::make_unique<worker::test::Collector>(kafka().bootstrap(), topics());
}

void ProbeTest::StopWorker() {
  if (!worker_) return;
  worker_->RequestStop();
  worker_thread_.join();
  worker_.reset();
}

void ProbeTest::EnrolThroughRegistrar(const ProbeAgent& a, size_t allowed_entries) {
  {
    auto conn = Connect();
    pqxx::work tx(*conn);
    const std::string ak = a.AkTpm2bPublic();
    tx.exec_params(
        "INSERT INTO registrations (agent_id, ek_public, ak_public, ak_name, state, "
        "activated_at) VALUES ($1, '\\x01', $2, $3, 'active', now())",
        a.uuid(), pqxx::binarystring(ak.data(), ak.size()),
        pqxx::binarystring(worker::test::AkName(ak)));
    tx.commit();
  }
  auto admin = registrar_side_.Admin(registrar_port());
  v1::EnrolRequest req;
  req.set_agent_uuid(a.uuid());
  req.set_runtime_policy(a.RuntimePolicy(allowed_entries));
  req.set_interval_seconds(60);
  req.set_grace_factor(3);
  auto st = admin.Enrol(a.uuid(), req);
  ASSERT_TRUE(st.ok()) << st.error().ToString();
}

std::string ProbeTest::TokenFor(const std::string& uuid) {
  auto r = AskChallenge(uuid);
  EXPECT_EQ(r.status, 200) << r.body;
  return ChallengeOf(r).token();
}

httpclient::Response ProbeTest::Submit(const std::string& path_uuid, const v1::Evidence& e) {
  auto r = PostEvidence(path_uuid, e);
  if (r.status == 202) {
    v1::EvidenceAccepted acc;
    EXPECT_TRUE(acc.ParseFromString(r.body));
    EXPECT_TRUE(accepted_.emplace(acc.evidence_id(), path_uuid).second) << acc.evidence_id();
  }
  return r;
}

std::optional<v1::Verdict> ProbeTest::VerdictFor(const std::string& agent,
                                                 const std::string& evidence_id) {
  std::optional<v1::Verdict> found;
  attest::testing::WaitFor(
      [&] {
        for (auto& v : collector_->Verdicts(agent)) {
          if (v.evidence_id() == evidence_id) {
            found = v;
            return true;
          }
        }
        return false;
      },
      60s);
  return found;
}

std::string ProbeTest::AgentState(const std::string& uuid) {
  auto conn = Connect();
  pqxx::work tx(*conn);
  auto r = tx.exec_params(
      "SELECT state::text || '/' || sequence || '/' || ima_offset || '/' || "
      "coalesce(quote_clock, -1) FROM enrolments WHERE agent_id = $1",
      uuid);
  return r.empty() ? "none" : r[0][0].as<std::string>();
}

std::string ProbeTest::Snapshot() {
  auto conn = Connect();
  pqxx::work tx(*conn);
  return tx
      .exec1(
          "SELECT md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY t::text) FROM "
          "registrations t), '') || '#' || coalesce((SELECT string_agg(t::text, '|' ORDER BY "
          "t::text) FROM policies t), '') || '#' || coalesce((SELECT string_agg(t::text, '|' "
          "ORDER BY t::text) FROM enrolments t), ''))")[0]
      .as<std::string>();
}

void ProbeTest::Record(const std::string& probe, const std::string& expected,
                       const std::string& observed, bool ok) {
  rows_->push_back({probe, expected, observed, ok});
  EXPECT_TRUE(ok) << probe << ": expected " << expected << ", observed " << observed;
}

void ProbeTest::CheckInvariants(const std::vector<std::string>& agents) {
  std::map<std::string, int> accepted_per_agent;
  for (const auto& [id, agent] : accepted_) ++accepted_per_agent[agent];
  // Every accepted evidence has its verdict.
  for (const auto& [id, agent] : accepted_) {
    EXPECT_TRUE(VerdictFor(agent, id).has_value()) << "no verdict for accepted " << id;
  }
  std::map<std::string, int> on_topic;
  for (const auto& rec : attest::testing::ReadTopic(kafka().bootstrap(), topics().evidence)) {
    ++on_topic[rec.key];
  }
  int verdicts = 0, accepted = 0, records = 0;
  bool ok = true;
  for (const auto& agent : agents) {
    auto vs = collector_->Verdicts(agent);
    std::set<uint64_t> sequences;
    std::map<std::string, int> per_evidence;
    for (const auto& v : vs) {
      ok &= sequences.insert(v.sequence()).second;  // one verdict per (agent, sequence)
      ok &= ++per_evidence[v.evidence_id()] == 1;   // one verdict per evidence
      ok &= accepted_.count(v.evidence_id()) == 1;  // only for accepted evidence
    }
    ok &= static_cast<int>(vs.size()) == accepted_per_agent[agent];
    ok &= on_topic[agent] == accepted_per_agent[agent];  // refused evidence never reached Kafka
    verdicts += static_cast<int>(vs.size());
    accepted += accepted_per_agent[agent];
    records += on_topic[agent];
  }
  Record("invariants over all probes",
         "verdicts == records on the topic == 202s, one per (agent, sequence)",
         fmt::format("{} verdicts, {} records, {} accepted", verdicts, records, accepted), ok);
}

}  // namespace attest::probes
