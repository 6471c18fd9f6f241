// The addresses of one role (registrars or verifiers) of one [[servers]]
// block, with failover. Requests go to the current address (first chosen at
// random). An address that fails (not reached, 5xx, timeout) is marked. An
// answer below 500 clears the mark of the address that gave it; to a
// kIfNotReached request (evidence: a round's last request) it clears every
// mark. So a block whose gateways all answer challenges but fail evidence
// still runs out of unmarked addresses and backs off.
//
// Post() sends a request again to the block's other addresses, each once,
// the unmarked ones first, in random order:
//   - when the address was not reached (httpclient::IsConnectionFailure:
//     refused, DNS, TLS handshake, connect_timeout_ms, the proxy unable to
//     reach it), always: the request cannot have had an effect there;
//   - after a 5xx answer, a timeout (request_timeout_ms) or a broken
//     transfer, only for Resend::kIdempotent requests;
//   - never through a proxy that was just found unreachable (every address
//     behind it would fail the same way); direct (no_proxy) ones still are.
// Rotate() moves on after a failure the caller handles itself (a 5xx or a
// timeout of an evidence): to an unmarked address if there is one (then it
// returns true: retrying at once is fine), else it clears the marks and
// returns false: every address failed, back off. Never another block's
// addresses.
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

  // What Post may send again to another address after one failed.
  enum class Resend {
    // Only when the address was not reached. For evidence: a gateway that
    // answered 5xx ("outcome unknown") or timed out may have written it to
    // Kafka, and a second copy through another gateway would get a second
    // verdict (a replayed quote). The caller takes a new challenge instead.
    kIfNotReached,
    // Also after a 5xx, a timeout or a broken transfer: for requests that
    // may be repeated (challenges, registration, activation).
    kIdempotent,
  };

  // POST with failover (see above). An HTTP answer is a Response: the first
  // below 500, else the last 5xx; an error means no address answered (the
  // last address's error), or a failure Post does not resend after.
  // A stop requested on `stop` ends it (httpclient::errc::cancelled, no
  // failover).
  Result<httpclient::Response> Post(std::string_view path, std::string_view content_type,
                                    std::string_view body, Resend resend = Resend::kIfNotReached,
                                    std::stop_token stop = {});

  // Marks the current address failed and moves to another: true when it is
  // an unmarked one (retry now), false when every address has failed (marks
  // cleared; the caller backs off).
  bool Rotate();

 private:
  Result<httpclient::Client*> ClientFor(size_t index);

  std::vector<ServerAddress> addresses_;
  const AgentConfig* config_;
  std::mt19937_64* rng_;
  size_t current_ = 0;
  std::vector<bool> failed_;  // the marks
  std::vector<std::unique_ptr<httpclient::Client>> clients_;
};

}  // namespace attest::agent
