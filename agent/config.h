// The agent's configuration, parsed once at start-up from TOML into an
// immutable struct. See docs/configuration.md#agent for every key.
//
//   verification_duplication = 2   # attest to this many independent backends
//   [[servers]]                    # one block = one backend (shared DB + Kafka)
//   registrars = ["reg1.example.com", "https://reg2.example.com:8891"]
//   verifiers  = ["gw1.example.com:8881"]
//
// Within a block the agent picks an address at random and fails over to
// another of the same block; it never mixes blocks.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "agent/server_address.h"
#include "common/base/config.h"
#include "common/base/result.h"

namespace attest::agent {

// What an evidence carries besides its IMA part and UEFI log, at most: the
// quote (attest, signature, 24 PCR values of the largest bank), the
// challenge token, the capabilities and protobuf framing take under 8 KiB;
// the rest is room. The gateway's least body limit (kMinBodyBytes) is the
// default UEFI log limit plus this.
inline constexpr int64_t kEvidenceOverheadBytes = 64 * 1024;

struct ServerBlock {
  std::vector<ServerAddress> registrars;
  std::vector<ServerAddress> verifiers;  // ingest gateways
};

struct TlsClientOptions {
  // Trust anchors for the servers: the deployment's CA by default (a private
  // PKI trusts only what the operator issued); "" for the system store.
  std::string ca_file = "/etc/attest/ca.pem";
  std::string client_cert;  // optional client certificate (mTLS)
  std::string client_key;
  std::string proxy;              // "http://proxy:3128"; empty: HTTPS_PROXY/NO_PROXY env
  std::string no_proxy;           // "localhost,.internal"; empty: NO_PROXY env
  std::string pinned_public_key;  // "sha256//<base64>" (libcurl); empty: CA check only
};

struct AgentConfig {
  std::string uuid;  // empty: generated once and kept in state_dir
  std::string state_dir = "/var/lib/attest-agent";
  std::string tcti = "device:/dev/tpmrm0";
  std::string ek_type = "rsa";  // rsa | ecc
  std::string ak_type = "rsa";  // rsa | ecc
  // The IMA list and its format: "binary" (binary_runtime_measurements, the
  // default: it carries file names of any bytes) or "ascii" (a name with a
  // newline splits an entry there). The default ima_log follows the format.
  std::string ima_log_format = "binary";
  std::string ima_log = "/sys/kernel/security/ima/binary_runtime_measurements";
  std::string uefi_log = "/sys/kernel/security/tpm0/binary_bios_measurements";
  int verification_duplication = 1;
  std::vector<ServerBlock> servers;
  // A block in use whose every attempt has failed for this long (no evidence
  // accepted since its first failure) is replaced by a spare block, if any;
  // it keeps being retried and is taken back once it accepts evidence.
  int block_failover_seconds = 120;
  // --once gives up after this long, naming the blocks that failed and why.
  int once_timeout_seconds = 300;
  // http:// server addresses are refused unless the operator says the
  // network between agent and servers is trusted.
  bool trusted_network = false;
  TlsClientOptions tls;
  int connect_timeout_ms = 5000;
  int request_timeout_ms = 30000;
  int retry_initial_ms = 1000;  // exponential backoff with jitter
  int retry_max_ms = 60000;
  int64_t boot_time = 0;              // epoch seconds; 0: btime of /proc/stat
  int default_interval_seconds = 60;  // when the server names no interval
  // IMA list bytes per evidence; the gateway's limit (Challenge
  // max_evidence_bytes) may make a part smaller. A longer list goes in parts.
  // The defaults fit a default gateway even before that limit is applied:
  // ima_max_batch_bytes + uefi_log_max_bytes + kEvidenceOverheadBytes =
  // 2 MiB, the gateway's default server.max_body_bytes.
  int64_t ima_max_batch_bytes = (1 << 20) - kEvidenceOverheadBytes;
  int64_t uefi_log_max_bytes = 1 << 20;  // a larger UEFI log is not sent
};

// Reads and validates; errors name the file, the key and the line.
Result<AgentConfig> ParseAgentConfig(const ConfigFile& file);
// Also refuses a tls.ca_file that cannot be read: at start-up, not as a TLS
// error on every request.
Result<AgentConfig> LoadAgentConfig(const std::string& path);

}  // namespace attest::agent
