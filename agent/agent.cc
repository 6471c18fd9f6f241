#include "agent/agent.h"

#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#include "agent/block_selector.h"
#include "agent/errors.h"
#include "agent/round.h"
#include "agent/state.h"
#include "agent/status.h"
#include "common/base/time_text.h"

namespace attest::agent {
namespace {

std::string Addresses(const ServerBlock& b) {
  std::string out;
  auto list = [&](const char* role, const std::vector<ServerAddress>& as) {
    if (as.empty()) return;
    out += std::string(out.empty() ? "" : "; ") + role;
    for (const auto& a : as) out += " " + a.Url();
  };
  list("registrars", b.registrars);
  list("verifiers", b.verifiers);
  return out;
}

}  // namespace

// One block: its connections (owned by its thread) and its schedule and
// status (guarded by Impl::mu).
struct BlockSlot {
  BlockSlot(size_t i, const AgentConfig& c, const StateStore& s) : conn(i, c, s) {}

  BlockConn conn;  // used only by this block's thread
  // Guarded by Impl::mu:
  Clock::MonotonicTime due;
  // Ends this block's sleep early (Impl::SleepLocked): requested when the
  // block is no longer runnable or its due time moved earlier.
  std::stop_source wake;
  bool given_up = false;      // --once: a permanent error took it out of this run
  std::string last_accepted;  // RFC 3339; set once evidence is accepted in this run
  std::string last_error;

  bool attested() const { return !last_accepted.empty(); }  // in this run (mu held)
};

struct Agent::Impl {
  Impl(AgentConfig c, StateStore s, std::string u, const Clock& clk, TpmOpener open_tpm)
      : config(std::move(c)),
        clock(clk),
        devices(config, std::move(s), std::move(u), std::move(open_tpm)),
        selector(config.servers.size(), static_cast<size_t>(config.verification_duplication),
                 std::chrono::seconds(config.block_failover_seconds)) {
    for (size_t i = 0; i < config.servers.size(); ++i) {
      blocks.push_back(std::make_unique<BlockSlot>(i, config, devices.state));
    }
  }

  const AgentConfig config;
  const Clock& clock;  // every time read and timed wait of the agent
  Devices devices;
  std::vector<std::unique_ptr<BlockSlot>> blocks;

  std::mutex mu;
  std::condition_variable_any cv;  // any change of the fields guarded by mu
  BlockSelector selector;          // guarded by mu
  bool once = false;               // set before the threads start
  std::stop_source once_wake;      // guarded by mu: ends Run's --once wait early

  const std::string& name(size_t i) const { return blocks[i]->conn.name; }

  // Whether block i has a step to run now or later (mu held).
  bool Runnable(size_t i) const {
    const BlockSlot& b = *blocks[i];
    if (once && (b.attested() || b.given_up)) return false;
    return selector.ShouldRun(i);
  }

  size_t Attested() const {
    return static_cast<size_t>(
        std::count_if(blocks.begin(), blocks.end(), [](const auto& b) { return b->attested(); }));
  }
  bool OnceDone() const { return Attested() >= selector.wanted(); }
  // No N blocks can attest in this run any more.
  bool OnceHopeless() const {
    size_t possible = static_cast<size_t>(std::count_if(
        blocks.begin(), blocks.end(), [](const auto& b) { return b->attested() || !b->given_up; }));
    return possible < selector.wanted();
  }

  // "2026-12-04T22:30:00Z" for the clock's wall time.
  std::string Stamp() const {
    return Rfc3339Utc(
        std::chrono::duration_cast<std::chrono::seconds>(clock.Now().time_since_epoch()).count());
  }

  // Sleeps on the clock until `deadline`, a stop, or another thread's
  // wake.request_stop() (mu held on entry and on return; released while
  // asleep). A wake requested after the lock is released still ends the
  // sleep: the token is taken first.
  void SleepLocked(std::unique_lock<std::mutex>& lock, std::stop_source& wake,
                   Clock::MonotonicTime deadline, const std::stop_token& stop) {
    wake = std::stop_source();
    std::stop_callback forward(stop, [w = wake]() mutable { w.request_stop(); });
    const std::stop_token token = wake.get_token();
    lock.unlock();
    clock.SleepUntil(deadline, token);
    lock.lock();
  }

  // Logs the selector's changes and schedules blocks put in use (mu held).
  void Apply(const std::vector<BlockChange>& changes) {
    for (const BlockChange& c : changes) {
      switch (c.kind) {
        case BlockChange::kDown:
          if (c.other) {
            spdlog::warn("{}: down ({}); {} takes its place", name(c.block), c.reason,
                         name(*c.other));
          } else {
            spdlog::warn("{}: down ({}); no spare block left: {} of {} block(s) serving",
                         name(c.block), c.reason, selector.Serving(), selector.wanted());
          }
          break;
        case BlockChange::kInUse:
          blocks[c.block]->due = clock.Monotonic();
          blocks[c.block]->wake.request_stop();
          if (c.other) {
            spdlog::info("{}: in use (replaces {})", name(c.block), name(*c.other));
          } else {
            spdlog::info("{}: in use", name(c.block));
          }
          break;
        case BlockChange::kSpare:
          spdlog::info("{}: spare again (a preferred block is back in use)", name(c.block));
          break;
        case BlockChange::kRecovered:
          spdlog::info("{}: recovered, evidence accepted again", name(c.block));
          break;
      }
    }
  }

  AgentStatus Status() const {  // mu held
    AgentStatus s;
    s.agent_uuid = devices.uuid;
    s.pid = ::getpid();
    s.updated = Stamp();
    s.verification_duplication = static_cast<int>(selector.wanted());
    for (size_t i = 0; i < blocks.size(); ++i) {
      const BlockSlot& b = *blocks[i];
      BlockStatus bs;
      bs.name = name(i);
      bs.addresses = Addresses(config.servers[i]);
      bs.in_use = selector.InUse(i);
      const BlockHealth h = selector.Health(i);
      bs.state = !bs.in_use && h != BlockHealth::kDown ? "spare" : BlockHealthName(h);
      bs.reason = b.given_up ? "given up in this --once run: " + b.last_error : selector.Reason(i);
      bs.last_accepted = b.last_accepted;
      bs.last_error = b.last_error;
      s.blocks.push_back(std::move(bs));
    }
    return s;
  }

  void WriteStatusFile() {  // mu held
    if (auto w = WriteStatus(devices.state.dir(), Status()); !w) {
      spdlog::warn("status file: {}", w.error().message);
    }
  }

  // What a step's outcome does to block i's schedule and to the selection
  // (mu held).
  void Record(size_t i, const Step& s) {
    BlockSlot& b = *blocks[i];
    BlockConn& c = b.conn;
    const auto now = clock.Monotonic();
    if (s.failed() && s.error.code == errc::stopped) return;
    if (s.failed()) b.last_error = s.error.message;
    std::vector<BlockChange> changes;
    switch (s.kind) {
      case Step::kContinue:
        b.due = now;
        break;
      case Step::kAccepted:
        c.failures = 0;
        c.not_found = 0;
        b.last_accepted = Stamp();
        changes = selector.OnAccepted(i);
        b.due = now + s.delay;
        break;
      case Step::kWait:
        b.due = now + s.delay;
        break;
      case Step::kReregister:
        ForgetRegistration(devices, c);
        // The first 404 re-registers at once; repeated ones (registered but
        // not enrolled) back off.
        if (once && c.not_found >= 1) {
          b.given_up = true;
          b.last_error += " (still unknown after registering again: not enrolled?)";
          changes = selector.GiveUp(i, b.last_error);
          break;
        }
        b.due = c.not_found++ == 0 ? now : now + Backoff(config, c);
        break;
      case Step::kPermanent:
        if (once) {
          b.given_up = true;
          changes = selector.GiveUp(i, b.last_error);
          break;
        }
        [[fallthrough]];
      case Step::kBackoff: {
        auto d = Backoff(config, c);
        spdlog::info("{}: next attempt in {} ms", c.name, d.count());
        b.due = now + d;
        break;
      }
    }
    if (s.failed() && !b.given_up) {
      auto more = selector.OnFailed(i, now, s.error.message);
      changes.insert(changes.end(), more.begin(), more.end());
    }
    Apply(changes);
    WriteStatusFile();
    // The sleepers this changed: blocks made spares or taken out of a --once
    // run, and Run's --once wait when the run is decided.
    for (size_t j = 0; j < blocks.size(); ++j) {
      if (j != i && !Runnable(j)) blocks[j]->wake.request_stop();
    }
    if (once && (OnceDone() || OnceHopeless())) once_wake.request_stop();
    cv.notify_all();
  }

  // Block i's thread: waits until the block is in use (or down, to be
  // retried) and due, runs a step without the lock, records it.
  void BlockLoop(size_t i, std::stop_token stop) {
    std::unique_lock lock(mu);
    for (;;) {
      cv.wait(lock, stop, [&] { return Runnable(i); });
      if (stop.stop_requested()) return;
      if (clock.Monotonic() < blocks[i]->due) {
        SleepLocked(lock, blocks[i]->wake, blocks[i]->due, stop);
        continue;  // re-evaluated: stopped, made a spare, or due
      }
      lock.unlock();
      Step s = RunStep(devices, blocks[i]->conn, stop);
      lock.lock();
      Record(i, s);
    }
  }

  // "servers[0] (registrars ...): why; servers[2]: ..." for a --once failure.
  std::string Failures() const {  // mu held
    std::string out;
    for (size_t i = 0; i < blocks.size(); ++i) {
      const BlockSlot& b = *blocks[i];
      if (b.attested()) continue;
      out += "; " + name(i) + " (" + Addresses(config.servers[i]) + "): ";
      if (!b.last_error.empty()) {
        out += b.last_error;
      } else if (!selector.InUse(i)) {
        out += "not tried (spare)";
      } else {
        out += "no answer yet";
      }
    }
    return out;
  }
};

Agent::Agent(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Agent::~Agent() = default;

const std::string& Agent::uuid() const { return impl_->devices.uuid; }

Result<std::unique_ptr<Agent>> Agent::Create(AgentConfig config, const Clock& clock,
                                             TpmOpener open_tpm) {
  auto state = StateStore::Open(config.state_dir);
  if (!state) return state.error();
  auto uuid = state->LoadOrCreateUuid(config.uuid);
  if (!uuid) return uuid.error();
  return std::unique_ptr<Agent>(
      new Agent(std::make_unique<Impl>(std::move(config), std::move(state).value(),
                                       std::move(uuid).value(), clock, std::move(open_tpm))));
}

Result<void> Agent::Run(std::stop_token stop, RunOptions options) {
  Impl& im = *impl_;
  const auto started = im.clock.Monotonic();
  std::stop_source inner;
  std::stop_callback forward(stop, [&] { inner.request_stop(); });
  {
    std::lock_guard lock(im.mu);
    im.once = options.once;
    if (options.once) {
      // A spare must get its chance within the run: a block failing for half
      // of once_timeout_seconds is replaced even if block_failover_seconds
      // is longer.
      im.selector.set_failover(std::min<std::chrono::milliseconds>(
          std::chrono::seconds(im.config.block_failover_seconds),
          std::chrono::milliseconds(int64_t{im.config.once_timeout_seconds} * 500)));
    }
    std::string used, spares;
    for (size_t i = 0; i < im.blocks.size(); ++i) {
      (im.selector.InUse(i) ? used : spares) += " " + im.name(i);
      im.blocks[i]->due = started;  // every block in use: "I am back" at once
    }
    spdlog::info("agent {} starting: verification_duplication {} of {} block(s); in use:{}{}{}",
                 im.devices.uuid, im.selector.wanted(), im.blocks.size(), used,
                 spares.empty() ? "" : "; spares:", spares);
    im.WriteStatusFile();
  }
  std::vector<std::jthread> threads;
  for (size_t i = 0; i < im.blocks.size(); ++i) {
    threads.emplace_back([&im, i, token = inner.get_token()] { im.BlockLoop(i, token); });
  }

  Result<void> result = Ok();
  {
    std::unique_lock lock(im.mu);
    if (options.once) {
      const auto deadline = started + std::chrono::seconds(im.config.once_timeout_seconds);
      while (!im.OnceDone() && !im.OnceHopeless() && !inner.stop_requested() &&
             im.clock.Monotonic() < deadline) {
        im.SleepLocked(lock, im.once_wake, deadline, inner.get_token());
      }
    } else {
      im.cv.wait(lock, inner.get_token(), [] { return false; });  // until stopped
    }
    if (options.once && !im.OnceDone() && !stop.stop_requested()) {
      const bool hopeless = im.OnceHopeless();
      result =
          MakeError(errc::not_attested,
                    "--once: " + std::to_string(im.Attested()) + " of " +
                        std::to_string(im.selector.wanted()) + " block(s) attested " +
                        (hopeless ? std::string("and no other block can")
                                  : "within once_timeout_seconds = " +
                                        std::to_string(im.config.once_timeout_seconds) + " s") +
                        im.Failures());
    }
  }
  inner.request_stop();
  for (auto& t : threads) t.join();
  {
    std::lock_guard lock(im.mu);
    im.WriteStatusFile();
  }
  spdlog::info("agent {} stopping", im.devices.uuid);
  return result;
}

}  // namespace attest::agent
