// The worker's database as its pipeline sees it: a StoreSession is one
// connection (statements prepared) and owns every transaction on it, so no
// database client type appears in the pipeline. The PostgreSQL
// implementation (pg_session.cc) runs the SQL of store.h and offsets.h and
// turns every client exception into an Error: errc::fenced for a lost
// partition (AdvanceOffset, CheckOwner), errc::database for the rest.
//
// Thread-safety: a session and its transactions are used by one thread at a
// time (the loop thread, or the commit thread for the batch it commits);
// at most one transaction per session is open. StorePool: loop thread only,
// except healthy() (any thread).
#pragma once

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "verifier-workers/processor.h"
#include "verifier-workers/store_types.h"

namespace attest::worker {

// One read-write transaction; the destructor rolls back unless Commit()
// succeeded. Errors leave it to be destroyed (rolled back).
class StoreTransaction {
 public:
  virtual ~StoreTransaction() = default;

  // The SQL of store.h (see there).
  virtual Result<std::map<std::string, AgentRow>> LoadAgents(
      const std::vector<std::string>& agent_ids, const std::vector<uint8_t>& have_ak,
      bool lock) = 0;
  virtual Result<void> LoadAkPublics(const std::vector<AgentRow*>& rows) = 0;
  virtual Result<std::vector<PolicyRow>> LoadPolicies(const std::vector<int64_t>& ids) = 0;
  virtual Result<std::vector<int64_t>> WriteResults(
      const std::vector<const AgentRow*>& rows, const std::vector<const HistoryRecord*>& history,
      const std::vector<const OutboxRecord*>& outbox, const std::string& worker_id) = 0;
  virtual Result<std::vector<std::string>> LockOverdueAgents(
      const std::vector<SweepPartition>& partitions, int limit) = 0;
  // The fencing of offsets.h: errc::fenced when another claim moved the row.
  virtual Result<void> AdvanceOffset(const OffsetKey& key, const Claim& expected,
                                     int64_t next_offset, const std::string& owner,
                                     std::optional<int64_t> log_end_offset) = 0;
  virtual Result<void> CheckOwner(const OffsetKey& key, int64_t epoch) = 0;
  virtual Result<void> Commit() = 0;
};

class StoreSession {
 public:
  virtual ~StoreSession() = default;
  // False once the connection broke (the pool then opens a new session).
  virtual bool is_open() const = 0;
  virtual Result<std::unique_ptr<StoreTransaction>> Begin() = 0;
  // In transactions of their own (offsets.h, store.h).
  virtual Result<Claim> ClaimPartition(const OffsetKey& key, const std::string& owner) = 0;
  virtual Result<std::vector<StoredOutbox>> LoadOutbox(int32_t partition, int64_t after_id,
                                                       int limit) = 0;
};

// A PostgreSQL session with the worker's statements prepared.
Result<std::unique_ptr<StoreSession>> OpenPostgresSession(const std::string& conninfo);

// The worker's batch sessions, by index (0 also serves claims and sweeps),
// each opened on first use and again after Drop().
class StorePool {
 public:
  using Opener = std::function<Result<std::unique_ptr<StoreSession>>()>;
  StorePool(Opener open, size_t size);

  size_t size() const { return sessions_.size(); }
  // errc::database when it cannot be opened.
  Result<StoreSession*> Session(size_t i = 0);
  // Closes session `i` (after an error on it); it is opened again on next use.
  void Drop(size_t i = 0);
  // The last open succeeded and nothing was dropped since (any thread).
  bool healthy() const { return healthy_.load(); }

 private:
  Opener open_;
  std::vector<std::unique_ptr<StoreSession>> sessions_;
  std::atomic<bool> healthy_{false};
};

}  // namespace attest::worker
