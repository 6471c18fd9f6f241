// The worker's configuration: parsed once from TOML at start-up into an
// immutable WorkerConfig. Example (defaults shown where there is one):
//
//   worker_id = "w1"                          # default: the host name + pid
//   backend_id = "attest-workers"             # the deployment, in verdicts and revocations;
//                                             # default: kafka.group_id
//   [kafka]
//   bootstrap_servers = "kafka1:9092"         # required
//   group_id = "attest-workers"
//   evidence_topic = "attestation.evidence"
//   verdict_topic = "attestation.verdicts"
//   revocation_topic = "attestation.revocations"
//   session_timeout_ms = 10000                # >= 3000 on the dev broker
//   startup_timeout_ms = 60000                # wait this long for Kafka at start (topic check)
//   properties = ["security.protocol=ssl"]    # extra librdkafka properties
//   [database]
//   conninfo = "host=db user=w1 dbname=attest"  # a login in role attest_worker
//   pool_size = 3                             # 2..64: 1 outbox relay + batches (2 pipeline)
//   [batch]
//   max_count = 500                           # evidence per transaction
//   max_time_ms = 20                          # wait at most this long to fill a batch
//   [verification]
//   threads = 2
//   policy_cache_size = 10000                 # compiled policy versions kept
//   uefi_log_max_rounds = 3                   # evidence without an asked-for UEFI log, then FAIL
//   [token]                                   # same keys and TTL as the gateways
//   key_files = ["/etc/attest/token.key"]
//   ttl_seconds = 120
//   max_skew_seconds = 5
//   [revocation]
//   signing_key_file = "/etc/attest/revocation.key"  # PEM, ECDSA P-256 or Ed25519
//   key_id = "rev-2024-1"
//   sign_verdicts = true                      # verdicts signed with the same key (headers)
//   [output]
//   encoding = "protobuf"                     # protobuf | json (verdicts and revocations)
//   [liveness]
//   sweep_period_ms = 1000
//   [shutdown]
//   batch_drain_timeout_ms = 5000             # on stop, retry the last batches this long
//   outbox_drain_timeout_ms = 10000           # then wait this long for their deliveries
//   [challenge]                               # the gateway's key, the same value
//   boot_time_tolerance_seconds = 2           # boot times closer than this are the same boot
//   [metrics]
//   listen = "127.0.0.1:9464"                 # /healthz and /metrics (plain HTTP); "" = off
//   [log]
//   level = "info"
//   format = "human"
//
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/base/boot_time.h"
#include "common/base/config.h"
#include "common/base/logging.h"
#include "common/base/result.h"

namespace attest::worker {

enum class Encoding { kProtobuf, kJson };

struct WorkerConfig {
  std::string worker_id;

  std::string kafka_bootstrap;
  std::string group_id = "attest-workers";
  std::string evidence_topic = "attestation.evidence";
  std::string verdict_topic = "attestation.verdicts";
  std::string revocation_topic = "attestation.revocations";
  std::chrono::milliseconds session_timeout{10'000};
  // At start the three topics are checked (common/kafka/topics.h); a cluster
  // that does not answer is retried until this, then the worker exits.
  std::chrono::milliseconds kafka_startup_timeout{60'000};
  std::map<std::string, std::string> kafka_properties;

  std::string database_conninfo;
  // PostgreSQL connections the worker opens: one for the outbox relay and
  // min(pool_size - 1, 2) for batches (claims and sweeps use the first).
  // With two, batch N+1 is loaded and verified while batch N commits; with
  // one, batches run one after the other.
  int database_pool_size = 3;

  size_t batch_max_count = 500;
  std::chrono::milliseconds batch_max_time{20};
  int verification_threads = 2;
  size_t policy_cache_size = 10'000;
  // Evidence in a row without the UEFI log it was asked for, then FAIL
  // (measured_boot.log_withheld).
  uint32_t uefi_log_max_rounds = 3;

  std::vector<std::string> token_key_files;
  std::chrono::milliseconds token_ttl{120'000};
  std::chrono::milliseconds token_max_skew{5'000};

  std::string revocation_key_file;
  std::string revocation_key_id;
  // Verdicts signed with the revocation key (signature in record headers).
  bool sign_verdicts = true;
  // Names the deployment in signed verdicts and revocations, so a consumer
  // of several backends keeps replay state per backend.
  std::string backend_id;

  Encoding encoding = Encoding::kProtobuf;
  std::chrono::milliseconds sweep_period{1'000};
  // On a graceful stop: how long the pending and in-flight batches are
  // retried (a failed attempt waits 250 ms), then how long the outbox relay
  // waits for the deliveries of what was committed.
  std::chrono::milliseconds batch_drain_timeout{5'000};
  std::chrono::milliseconds outbox_drain_timeout{10'000};
  // Boot times closer than this are the same boot; the gateway's key and
  // default (common/base/boot_time.h): both must agree on what a reboot is.
  std::chrono::seconds boot_time_tolerance = kDefaultBootTimeTolerance;

  std::string metrics_address;  // host:port, empty = no HTTP listener
  LogOptions log;
};

Result<WorkerConfig> LoadWorkerConfig(const std::string& path);
Result<WorkerConfig> ParseWorkerConfig(const ConfigFile& file);

}  // namespace attest::worker
