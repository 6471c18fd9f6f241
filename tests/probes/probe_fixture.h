// Fixture of the security probes: the whole pipeline an attacker faces,
// built from the other suites' fixtures rather than copies of them:
//  - tests/gateway/fixture.h (GatewayTest): PostgreSQL (a migrated database
//    per test), the pipeline topics under unique names on the run's Apache
//    Kafka, the test PKI, an in-process gateway;
//  - tests/registrar/fixture.h (RegistrarTest, through RegistrarSide): the
//    registrar's PKI, admin CA and admin token, an in-process registrar on
//    the same database;
//  - tests/worker/worker_fixture.h: an in-process attest-worker sharing the
//    gateway's token key, and a collector of the verdict topic.
// Each probe records a row (probe, expected, observed); the suite prints the
// table at the end (docs/security-probes.md holds one run's table).
//
// Thread-safety: test thread only.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "registrar/registrar.h"
#include "tests/gateway/fixture.h"
#include "tests/probes/probe_agent.h"
#include "tests/registrar/fixture.h"
#include "tests/worker/worker_fixture.h"
#include "verifier-workers/worker.h"

namespace attest::probes {

// Exposes the registrar fixture's suite resources (PKI, admin CA, token,
// Config/Start/Admin helpers) without running it as a test of its own.
class RegistrarSide : public registrar::testing::RegistrarTest {
 public:
  void TestBody() override {}
  static void Up() { SetUpTestSuite(); }
  static void Down() { TearDownTestSuite(); }
  using RegistrarTest::Admin;
  using RegistrarTest::Agent;
  using RegistrarTest::Config;
  using RegistrarTest::Start;
  static std::string Token() { return registrar::testing::kToken; }
  static const attest::testing::IssuedCert& ServerCert() { return *server_cert_; }
  static const attest::testing::IssuedCert& AdminCert() { return *admin_cert_; }
  static std::string CaFile() { return pki_->ca_cert().string(); }
};

struct ProbeRow {
  std::string probe;
  std::string expected;
  std::string observed;
  bool ok = false;
};

// "HTTP 403" etc. from a raw response ("" when none arrived).
std::string StatusOf(const std::string& raw_response);

class ProbeTest : public gateway::testing::GatewayTest {
 public:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

 protected:
  void SetUp() override;
  void TearDown() override;

  void StartWorker();
  void StopWorker();
  uint16_t registrar_port() const { return registrar_->port(); }

  // A registration row for `a` (what register + activate leave behind; the
  // soft AK cannot do TPM2_ActivateCredential) and its enrolment through the
  // registrar's admin API with the operator's token.
  void EnrolThroughRegistrar(const ProbeAgent& a, size_t allowed_entries);
  // A fresh challenge token for `uuid` (asserts 200).
  std::string TokenFor(const std::string& uuid);
  // POSTs evidence; remembers 202s (evidence id -> agent) for Invariants().
  httpclient::Response Submit(const std::string& path_uuid, const v1::Evidence& e);
  // The verdict for an accepted evidence id (waits up to 60 s).
  std::optional<v1::Verdict> VerdictFor(const std::string& agent, const std::string& evidence_id);
  // enrolments row: "state/sequence/ima_offset/quote_clock".
  std::string AgentState(const std::string& uuid);
  // A digest of registrations, policies and enrolments.
  std::string Snapshot();

  // Records a probe row and fails the test when !ok.
  void Record(const std::string& probe, const std::string& expected, const std::string& observed,
              bool ok);
  // Every accepted evidence has exactly one verdict (by evidence id, one per
  // (agent, sequence)), no agent has more verdicts than accepted evidence,
  // and the evidence topic holds exactly the accepted records.
  void CheckInvariants(const std::vector<std::string>& agents);

  static std::vector<ProbeRow>* rows_;
  static attest::testing::TempDir* worker_dir_;
  static worker::test::KeyFiles* worker_keys_;

  RegistrarSide registrar_side_;
  std::unique_ptr<registrar::Registrar> registrar_;
  const SystemClock clock_;  // outlives the worker
  metrics::Registry registry_;
  std::unique_ptr<worker::Worker> worker_;
  std::thread worker_thread_;
  std::unique_ptr<worker::test::Collector> collector_;
  std::map<std::string, std::string> accepted_;  // evidence id -> agent
};

}  // namespace attest::probes
