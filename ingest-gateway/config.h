// The gateway's configuration: parsed once from TOML at start-up into an
// immutable GatewayConfig. Example (defaults shown where there is one):
//
//   gateway_id = "gw1"                       # default: the host name
//   [server]
//   listen = "0.0.0.0:8881"
//   cert_file = "/etc/attest/gateway.pem"    # required
//   key_file = "/etc/attest/gateway.key"     # required
//   client_ca_file = ""                      # needed when client_auth is not "off"
//   client_auth = "off"                      # off | optional | required
//   io_threads = 2
//   max_body_bytes = 2097152                 # evidence body, >= 1 MiB + 64 KiB (kMinBodyBytes);
//                                            # + 64 KiB <= kafka.message_max_bytes
//   header_timeout_ms = 10000                # TLS handshake + request headers
//   request_timeout_ms = 30000               # request body, response write
//   idle_timeout_ms = 60000                  # keep-alive wait
//   drain_timeout_ms = 15000                 # SIGTERM: wait for in-flight requests
//   retry_after_seconds = 5                  # Retry-After of 503 answers
//   [token]
//   key_files = ["/etc/attest/token.key", "/etc/attest/token.prev.key"]  # current first
//   ttl_seconds = 120
//   max_skew_seconds = 5
//   [database]
//   conninfo = "host=db user=gw1 dbname=attest"   # a login in role attest_gateway
//   pool_size = 4
//   max_queue = 1000                          # pending lookups before 503
//   [kafka]
//   bootstrap_servers = "kafka1:9092"
//   topic = "attestation.evidence"
//   delivery_timeout_ms = 10000               # no ack by then: 503
//   linger_ms = 1                             # producer batching delay (latency vs. batch size)
//   message_max_bytes = 2162688               # producer message.max.bytes; the topic's
//                                             # max.message.bytes must be at least this
//   compression = "lz4"                       # none | gzip | snappy | lz4 | zstd
//   startup_timeout_ms = 60000                # wait this long for Kafka at start (topic check)
//   properties = ["security.protocol=ssl"]    # extra librdkafka properties
//   [challenge]
//   min_interval_fraction = 0.8               # earliest challenge: last + interval x this
//   pcr_bank = "sha256"                     # sha256 | sha384 | sha512 (sha1: refused)
//   pcrs = "0-8,10"                         # fewer: a warning (see kPolicyPcrMask)
//   quote_hash = "sha256"                   # sha256 | sha384 | sha512
//   boot_time_tolerance_seconds = 2           # boot times closer than this are the same boot
//   catch_up_interval_seconds = 2             # next round while an IMA list arrives in parts
//   [log]
//   level = "info"
//   format = "human"                          # human | json
//
// Thread-safety: plain values.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "attest/v1/common.pb.h"
#include "common/base/boot_time.h"
#include "common/base/config.h"
#include "common/base/logging.h"
#include "common/base/result.h"
#include "common/http/server.h"

namespace attest::gateway {

struct ChallengeConfig {
  double min_interval_fraction = 0.8;
  v1::HashAlgorithm pcr_bank = v1::HASH_ALGORITHM_SHA256;
  std::vector<uint32_t> pcrs = {0, 1, 2, 3, 4, 5, 6, 7, 8, 10};
  v1::HashAlgorithm quote_hash = v1::HASH_ALGORITHM_SHA256;
  // Same key and default in the worker: one rule for "a new boot" (IsNewBoot).
  std::chrono::seconds boot_time_tolerance = kDefaultBootTimeTolerance;
  // While the worker reports an IMA list arriving in parts (catching up), the
  // agent comes back after this instead of its interval.
  std::chrono::seconds catch_up_interval{2};
};

// What the envelope adds to an evidence body at most (ids, timestamps, the
// gateway id, framing): server.max_body_bytes + this must fit
// kafka.message_max_bytes, or a large evidence could never be written.
inline constexpr size_t kEnvelopeOverheadBytes = 64 * 1024;

// The least server.max_body_bytes (sent to agents as max_evidence_bytes): an
// agent's default uefi_log_max_bytes (1 MiB, agent/config.h) plus room for
// the quote, the agent's evidence reserve and IMA entries. Below it an
// honest agent leaves its UEFI log out, and the worker FAILs it
// (measured_boot.log_withheld).
inline constexpr size_t kMinBodyBytes = (1 << 20) + 64 * 1024;

struct GatewayConfig {
  std::string gateway_id;
  http::ServerOptions server;  // name/metrics prefix set by the parser
  std::chrono::milliseconds drain_timeout{15'000};
  std::chrono::seconds retry_after{5};

  std::vector<std::string> token_key_files;
  std::chrono::milliseconds token_ttl{120'000};
  std::chrono::milliseconds token_max_skew{5'000};

  std::string database_conninfo;
  int database_pool_size = 4;
  size_t database_max_queue = 1000;

  std::string kafka_bootstrap;
  std::string kafka_topic = "attestation.evidence";
  std::chrono::milliseconds kafka_delivery_timeout{10'000};
  std::chrono::milliseconds kafka_linger{1};
  size_t kafka_message_max_bytes = 2162688;  // librdkafka message.max.bytes
  std::string kafka_compression = "lz4";     // librdkafka compression.type
  // At start the evidence topic is checked (common/kafka/topics.h); a cluster
  // that does not answer is retried until this, then the gateway exits.
  std::chrono::milliseconds kafka_startup_timeout{60'000};
  std::map<std::string, std::string> kafka_properties;

  ChallengeConfig challenge;
  LogOptions log;
};

// Reads and validates a TOML file; errors name the file, line and key.
Result<GatewayConfig> LoadGatewayConfig(const std::string& path);
Result<GatewayConfig> ParseGatewayConfig(const ConfigFile& file);

// "0-7,10" -> {0..7, 10}; indexes 0..23, ascending, no duplicates.
Result<std::vector<uint32_t>> ParsePcrList(std::string_view text);
// "sha1" | "sha256" | "sha384" | "sha512" | "sm3_256".
Result<v1::HashAlgorithm> ParseHashAlgorithm(std::string_view text);
// The TPM_ALG_ID of a bank the verifier accepts by default (sha256, sha384,
// sha512), or 0 (sha1, sm3_256, unknown): what challenge.pcr_bank may be.
uint16_t TpmAlgOf(v1::HashAlgorithm alg);
// PCR indexes -> the token's mask (bit i = PCR i; indexes above 23 ignored).
uint32_t PcrMask(const std::vector<uint32_t>& pcrs);
// PCRs the verifier reads for the standard policies: 0-7 (measured boot), 8
// (GRUB's kernel command line, when the reference state judges it) and 10
// (IMA). A challenge without them makes agents with such policies REJECTED
// (challenge.insufficient_selection): the gateway warns at start.
inline constexpr uint32_t kPolicyPcrMask = 0x0005ff;

}  // namespace attest::gateway
