// The push agent: registers its TPM identity with the registrars of the
// [[servers]] blocks it uses, then attests to each block's gateways on the
// schedule the gateways give.
//
// Blocks used: the first `verification_duplication` [[servers]] blocks of the
// config file, in file order. Each is independent: its own registration
// record, its own challenge, quote and evidence each round, its own schedule
// and backoff; a block's addresses are never used for another block.
//
// Per block and step, by HTTP answer:
//   2xx           next step (register -> activate -> challenge -> evidence);
//                 after 202 the next round is due after the interval the
//                 gateway gives (EvidenceAccepted, else Challenge, else
//                 default_interval_seconds).
//   429           wait Retry-After (503 with Retry-After likewise, on another
//                 address of the block).
//   404           on challenge/evidence: the backend lost the registration;
//                 register again (at once the first time, then with backoff).
//   5xx, no answer  another address of the block (connection failures try every
//                 address at once), exponential backoff with jitter
//                 (retry_initial_ms doubling up to retry_max_ms, 50-100%).
//   other 4xx     the problem detail is logged; backoff.
// On start every block asks for a challenge at once ("I am back").
//
// Thread-safety: Run() on one thread; Stop via the stop_token from any thread.
#pragma once

#include <memory>
#include <stop_token>

#include "agent/config.h"
#include "common/base/result.h"

namespace attest::agent {

struct RunOptions {
  // Return once every used block has had one evidence accepted (tests, cron).
  // Permanent errors (4xx other than 404/408/429, TPM failures, a challenge
  // the TPM cannot quote) end the run with that error instead of a backoff.
  bool once = false;
};

class Agent {
 public:
  // Opens the state directory and the agent UUID; the TPM is opened by Run().
  static Result<std::unique_ptr<Agent>> Create(AgentConfig config);
  ~Agent();

  const std::string& uuid() const;

  // Runs until `stop` is requested (then returns Ok after the request in
  // flight) or, with options.once, until every block attested once.
  Result<void> Run(std::stop_token stop, RunOptions options = {});

 private:
  struct Impl;
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace attest::agent
