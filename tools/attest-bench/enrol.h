// `attest-bench enrol`: makes N simulated agents (software AKs), registers
// and enrols them through the registrar's bulk admin path
// (POST /v1/admin/agents:bulk, registrar/bulk.h) with a shared runtime policy
// that allows the simulated IMA list (tools/simtpm/sim_ima.h), and writes the
// state file `run` uses.
//
// Thread-safety: RunEnrol is a blocking call using its own threads.
#pragma once

#include <cstdint>
#include <string>

#include "common/base/result.h"

namespace attest::bench {

enum class AkMode { kEcc, kRsa, kMix };

struct EnrolOptions {
  size_t agents = 100;
  std::string registrar_url;  // https://host:port
  std::string admin_token_file;
  std::string ca_file;
  AkMode ak = AkMode::kEcc;
  size_t rsa_keys = 1000;  // distinct RSA keys at most (shared round-robin beyond)
  std::string state_file;
  uint32_t interval_seconds = 10;
  double grace_factor = 100;
  uint32_t ima_pool = 256;
  size_t batch = 1000;      // agents per bulk request
  int parallel = 4;         // bulk requests in flight
  int keygen_threads = 0;   // 0: hardware concurrency
  std::string policy_name;  // empty: bulk-<hash>
};

struct EnrolReport {
  size_t agents = 0;
  size_t enrolled = 0;
  size_t existing = 0;
  double keygen_seconds = 0;
  double enrol_seconds = 0;
  double enrol_rate() const {
    return enrol_seconds > 0 ? static_cast<double>(agents) / enrol_seconds : 0;
  }
};

Result<EnrolReport> RunEnrol(const EnrolOptions& options);

std::string EnrolReportJson(const EnrolReport& r);

}  // namespace attest::bench
