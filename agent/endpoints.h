// The addresses of one role (registrars or verifiers) of one [[servers]]
// block, with failover: requests go to the current address (first chosen at
// random); on a connection failure (httpclient::IsConnectionFailure) every
// other address of the same block is tried once, in random order, before the
// request fails. Rotate() moves on after a server error (5xx). Never another
// block's addresses.
//
// One httpclient::Client per address, created on first use and kept, so
// requests reuse their TLS connection (keep-alive).
//
// Thread-safety: none; one Endpoints per agent thread.
#pragma once

#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "agent/config.h"
#include "common/base/result.h"
#include "common/httpclient/client.h"

namespace attest::agent {

// httpclient options from the agent config for one server's base URL.
httpclient::ClientOptions ClientOptionsFor(const AgentConfig& config, const ServerAddress& addr);

class Endpoints {
 public:
  Endpoints(std::vector<ServerAddress> addresses, const AgentConfig& config, std::mt19937_64* rng);

  bool empty() const { return addresses_.empty(); }
  // Base URL of the address requests go to now.
  std::string current_url() const;

  // POST with failover over connection failures. An HTTP answer of any status
  // is a Response; an error means no address answered (or the transfer broke).
  Result<httpclient::Response> Post(std::string_view path, std::string_view content_type,
                                    std::string_view body);

  // Moves to another address of the block (random, not the current one when
  // there are several).
  void Rotate();

 private:
  Result<httpclient::Client*> ClientFor(size_t index);

  std::vector<ServerAddress> addresses_;
  const AgentConfig* config_;
  std::mt19937_64* rng_;
  size_t current_ = 0;
  std::vector<std::unique_ptr<httpclient::Client>> clients_;
};

}  // namespace attest::agent
