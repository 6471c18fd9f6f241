// The load and verify stages of a batch (batch.h, step 2), with the caches
// they read: parsed AKs by agent and compiled policy versions by id.
//
// Contract: Prepare() opens the batch's transaction on the session given,
// loads its enrolled agents FOR UPDATE (an agent of the batch still
// committing on the other session is read after that commit), the AK public
// areas not cached under the same name and the policy versions not cached
// yet, then runs one verification job per agent on the pool (an agent's
// records in order, agents in parallel). Every record of an enrolled agent
// gets its outcome and disposition; the rows are updated in place. Nothing
// is written. Remember() puts the AKs a committed batch parsed into the
// cache (never before the commit: the entries Prepare found stay valid
// while it runs).
//
// Thread-safety: loop thread only; the verification jobs touch only their
// agent's row and records and `new_aks` (under a lock of the call).
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/base/result.h"
#include "verifier-workers/batch.h"
#include "verifier-workers/lru.h"
#include "verifier-workers/pool.h"
#include "verifier-workers/processor.h"
#include "verifier-workers/store_session.h"

namespace attest::worker {

class BatchPreparer {
 public:
  // `ctx` and `pool` must outlive the preparer.
  BatchPreparer(const Context* ctx, ThreadPool* pool, size_t policy_cache_size);

  // errc::database: the batch's transaction is closed and nothing verified.
  Result<void> Prepare(Batch& b, StoreSession& session, Clock::time_point now);
  void Remember(const Batch& b);

 private:
  // agent id -> (AK name, parsed key). The registrar writes an AK's name
  // with its public area, so an unchanged name is an unchanged key.
  using AkCacheEntry = std::pair<std::string, std::shared_ptr<const verifier::AttestationKey>>;
  struct AgentWork {
    std::vector<size_t> records;  // indexes into Batch::records, in order
    const AkCacheEntry* cached = nullptr;
    std::shared_ptr<const verifier::AttestationKey> ak;  // the cached key, if still registered
  };
  struct Plan {
    std::vector<std::string> agent_ids;  // first-seen order
    std::vector<uint8_t> have_ak;        // per agent_ids: its parsed AK is cached
    std::unordered_map<std::string, AgentWork> by_agent;
  };

  Plan Group(const Batch& b);
  Result<void> Load(Batch& b, Plan& plan);
  Result<void> LoadMissingPolicies(StoreTransaction& tx, const Batch& b);
  void Verify(Batch& b, const Plan& plan, Clock::time_point now);
  std::shared_ptr<const CachedPolicy> Policy(int64_t id);

  const Context* ctx_;
  ThreadPool* pool_;
  Lru<std::string, AkCacheEntry> aks_;
  Lru<int64_t, std::shared_ptr<const CachedPolicy>> policies_;
};

}  // namespace attest::worker
