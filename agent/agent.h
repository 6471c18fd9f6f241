// The push agent: registers its TPM identity with the registrars of the
// [[servers]] blocks it uses, then attests to each block's gateways on the
// schedule the gateways give (the steps and answers: agent/round.h).
//
// Blocks (agent/block_selector.h): verification_duplication = N of the M
// [[servers]] blocks are in use, preferred in file order; a block in use
// whose every attempt has failed for block_failover_seconds is replaced by
// the next spare block, which registers first; the block is retried and
// taken back once it accepts evidence again. Each block is independent: its
// own thread, registration record, challenge, quote, evidence, schedule and
// backoff, so a server that never answers delays only its own block; a
// block's addresses are never used for another block. Which blocks are in
// use and why is logged and written to <state_dir>/status.json
// (agent/status.h).
//
// On start every block in use asks for a challenge at once ("I am back").
//
// Time and the TPM are seams: every time read and timed wait (a block's
// next round, its backoff, Retry-After, block_failover_seconds,
// once_timeout_seconds, the status file's times) goes through the Clock
// given to Create, and the TPM is opened through the TpmOpener, so tests
// drive the agent with a ManualClock and a fake TPM without sleeping.
//
// Thread-safety: Run() on one thread (it starts one thread per block and
// joins them before it returns); Stop via the stop_token from any thread.
#pragma once

#include <memory>
#include <stop_token>

#include "agent/config.h"
#include "agent/tpm.h"
#include "common/base/clock.h"
#include "common/base/result.h"

namespace attest::agent {

struct RunOptions {
  // Return once N blocks have each had one evidence accepted (tests, cron).
  // A permanent error (4xx other than 404/408/429, TPM failures, a challenge
  // the TPM cannot quote, a second 404 after registering again) takes the
  // block out of this run and a spare in, without waiting for
  // block_failover_seconds. The run fails (errc::not_attested), naming every
  // block that failed and why, when N blocks can no longer attest or after
  // once_timeout_seconds.
  bool once = false;
};

class Agent {
 public:
  // Opens the state directory and the agent UUID; the TPM is opened by Run()
  // through `open_tpm`. `clock` must outlive the agent.
  static Result<std::unique_ptr<Agent>> Create(AgentConfig config, const Clock& clock,
                                               TpmOpener open_tpm = AgentTpm::Open);
  ~Agent();

  const std::string& uuid() const;

  // Runs until `stop` is requested (then returns Ok after the requests in
  // flight, each bounded by request_timeout_ms) or, with options.once, until
  // N blocks attested once.
  Result<void> Run(std::stop_token stop, RunOptions options = {});

 private:
  struct Impl;
  explicit Agent(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace attest::agent
