// A small keep-alive HTTPS load generator (Boost.Beast): `connections` TLS
// connections on `threads` I/O threads, each sending the same request again as
// soon as the previous answer arrived, for `duration`. Latency is measured
// per request (write start to full response).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace attest::bench {

struct LoadSpec {
  int port = 0;
  std::string method = "GET";
  std::string target = "/healthz";
  std::string content_type;
  std::string body;
  int connections = 32;
  int threads = 1;
  std::chrono::milliseconds duration{5000};
  std::chrono::milliseconds warmup{500};
};

struct LoadResult {
  uint64_t requests = 0;  // completed in the measured window
  uint64_t errors = 0;    // transport errors
  uint64_t unexpected_status = 0;
  int status_seen = 0;  // one status of a response, for messages
  double seconds = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(requests) / seconds : 0; }
};

// `expected_status`: responses with another status are counted as unexpected.
LoadResult RunLoad(const LoadSpec& spec, int expected_status);

}  // namespace attest::bench
