// Registrar configuration: parsed once from TOML into an immutable struct.
//
//   [server]        listen = "0.0.0.0", port = 8891, cert, key, io_threads = 2,
//                   max_body_bytes = 1048576
//   [database]      conninfo (or $ATTEST_DATABASE), pool_size = 4, queue_limit = 1024
//   [ek]            trust_store = DIR of PEM files, require_cert = true
//   [admin]         token_file and/or client_ca (PEM; enables optional mTLS),
//                   bulk_enrolment = false (POST /v1/admin/agents:bulk)
//   [kafka]         bootstrap_servers (required), evidence_topic = "attestation.evidence",
//                   properties = ["k=v", ...], startup_timeout_ms = 60000,
//                   evidence_partitions (optional cross-check: the count is read
//                   from the cluster at start; fills enrolments.partition)
//   [registration]  pending_ttl_seconds = 600, cleanup_interval_seconds = 60
//   [log]           format = "human" | "json", level = "info"
//
// See docs/registrar.md. Thread-safety: a plain value.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>

#include "common/base/config.h"
#include "common/base/result.h"

namespace attest::registrar {

struct RegistrarConfig {
  std::string listen_address = "0.0.0.0";  // an IP literal, unbracketed (ParseListenHost)
  uint16_t port = 8891;
  std::string tls_cert;
  std::string tls_key;
  int io_threads = 2;
  size_t max_body_bytes = 1 << 20;

  std::string db_conninfo;
  int db_pool_size = 4;          // worker threads, one connection each
  size_t db_queue_limit = 1024;  // queued requests beyond this get 503

  std::string ek_trust_store;  // directory of PEM certificates
  bool require_ek_cert = true;

  std::string admin_token_file;
  std::string admin_client_ca;
  // Bulk enrolment takes software identities on the admin's word (no EK
  // certificate, no credential activation): off unless a deployment that
  // needs it (attest-bench, trusted provisioning) turns it on.
  bool bulk_enrolment = false;

  // The evidence topic's partition count fills enrolments.partition
  // (kafka::PartitionFor): main() reads it from the cluster at start.
  std::string kafka_bootstrap;
  std::string kafka_evidence_topic = "attestation.evidence";
  std::map<std::string, std::string> kafka_properties;
  std::chrono::milliseconds kafka_startup_timeout{60'000};
  // kafka.evidence_partitions: when set (> 0), the count the operator expects;
  // the registrar refuses to start when the cluster's differs.
  int32_t expected_evidence_partitions = 0;

  std::chrono::seconds pending_ttl{600};
  std::chrono::seconds cleanup_interval{60};

  std::string log_format = "human";
  std::string log_level = "info";
};

// Reads and validates the configuration (every error names file, line, key).
// `env_conninfo` (from $ATTEST_DATABASE) is used when database.conninfo is absent.
Result<RegistrarConfig> ParseRegistrarConfig(const ConfigFile& file,
                                             const std::string& env_conninfo = "");
Result<RegistrarConfig> LoadRegistrarConfig(const std::string& path);

}  // namespace attest::registrar
