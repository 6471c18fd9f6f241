// One block's protocol steps: register (and activate) when the block has no
// registration for this identity, then one attestation round (challenge ->
// quote -> evidence), each answer turned into what the block does next.
//
// Per step, by HTTP answer:
//   2xx           next step (register -> activate -> challenge -> evidence);
//                 after 202 the next round is due after the interval the
//                 gateway gives (EvidenceAccepted, else Challenge, else
//                 default_interval_seconds).
//   429           wait Retry-After (503 with Retry-After likewise, on another
//                 address of the block, and it counts as a failure), at
//                 least the block's backoff, at most an hour (a 503:
//                 block_failover_seconds). A server's problem text is cut
//                 and made terminal-safe before the log and status.json.
//   404           on challenge/evidence: the backend lost the registration;
//                 register again.
//   5xx, no answer  another address of the block, then backoff.
//   other 4xx     permanent: the problem detail is logged.
//
// Thread-safety: each block's BlockConn belongs to the one thread that runs
// that block. Devices is shared by every block's thread; its members are
// guarded as annotated, and RunStep takes the locks itself.
#pragma once

#include <chrono>
#include <memory>
#include <mutex>
#include <random>
#include <stop_token>
#include <string>

#include "agent/config.h"
#include "agent/endpoints.h"
#include "agent/sources.h"
#include "agent/state.h"
#include "agent/tpm.h"
#include "common/base/result.h"

namespace attest::agent {

// What a block does next after a step.
struct Step {
  enum Kind {
    kContinue,    // go on with the next step now (registered)
    kAccepted,    // evidence accepted: next round after `delay`
    kWait,        // the server said when (Retry-After): after `delay`
    kBackoff,     // transient failure: exponential backoff
    kReregister,  // the backend lost the registration
    kPermanent,   // will not fix itself: backoff, or end a --once run
  };
  Kind kind = kContinue;
  std::chrono::milliseconds delay{0};
  Error error;  // set on every failure (kWait too when the server failed: 503)

  bool failed() const { return static_cast<bool>(error.code); }
  static Step Of(Kind k, std::chrono::milliseconds d = std::chrono::milliseconds(0)) {
    return Step{k, d, {}};
  }
  static Step Fail(Kind k, Error e, std::chrono::milliseconds d = std::chrono::milliseconds(0)) {
    return Step{k, d, std::move(e)};
  }
};

// What the blocks share: the TPM, the IMA list and the state file.
struct Devices {
  Devices(const AgentConfig& c, StateStore s, std::string u, TpmOpener open_tpm);

  const AgentConfig& config;
  const std::string uuid;
  const TpmOpener open_tpm;  // at the first step and after a TPM failure

  std::mutex tpm_mu;
  std::unique_ptr<AgentTpm> tpm;  // guarded by tpm_mu; null until opened, after a TPM failure
  // Guarded by tpm_mu: bumped at every open, so that a block whose TPM
  // operation failed resets only the TPM it used, and a block that finds the
  // TPM reopened by another retries instead of failing for good.
  uint64_t tpm_generation = 0;

  std::mutex ima_mu;
  ImaReader ima;  // guarded by ima_mu

  std::mutex state_mu;
  StateStore state;  // guarded by state_mu
};

// One [[servers]] block's connections and registration, owned by its thread.
struct BlockConn {
  BlockConn(size_t index, const AgentConfig& config, const StateStore& state);

  size_t index;
  std::string name;                      // "servers[0]", for logs
  std::string key;                       // StateStore key
  std::unique_ptr<std::mt19937_64> rng;  // address choice and jitter
  std::unique_ptr<Endpoints> registrars;
  std::unique_ptr<Endpoints> verifiers;
  BlockRecord record;
  int failures = 0;   // consecutive, for the backoff
  int not_found = 0;  // consecutive 404s on challenge/evidence
};

// Registers if needed, then runs one round.
Step RunStep(Devices& devices, BlockConn& block, const std::stop_token& stop);

// Exponential backoff with jitter for the block's next attempt; counts a
// failure.
std::chrono::milliseconds Backoff(const AgentConfig& config, BlockConn& block);

// Forgets the block's registration (a 404 said the backend lost it).
void ForgetRegistration(Devices& devices, BlockConn& block);

}  // namespace attest::agent
