// The worker's SQL: agent rows, policy versions and the batch writes
// (enrolment state, history, outbox), with statements prepared once per
// connection. Bulk writes pass one array literal per column to unnest(), so
// a batch costs a fixed number of round trips (and no JSON on either side).
//
// The pipeline reaches these through StoreSession (store_session.h), which
// owns the connection and its transactions.
//
// Thread-safety: functions use only the transaction given (one thread).
#pragma once

#include <pqxx/pqxx>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "verifier-workers/processor.h"
#include "verifier-workers/store_types.h"

namespace attest::worker {

void PrepareStoreStatements(pqxx::connection_base& conn);

// Rows of the enrolled agents among `agent_ids` (lower-case UUIDs), keyed by
// agent id; `lock` takes FOR UPDATE locks on the enrolments rows. The AK's
// name always comes back; its public area only for agents whose
// `have_ak[i]` is 0 (the worker holds the parsed key of the others, keyed
// by name: the hex text of ~280 bytes per row was a third of the query).
// `have_ak` empty: no public areas at all. A state this worker does not
// know (a newer schema) is errc::unknown_value: the batch fails and is
// retried, the worker never guesses a state.
Result<std::map<std::string, AgentRow>> LoadAgents(pqxx::transaction_base& tx,
                                                   const std::vector<std::string>& agent_ids,
                                                   const std::vector<uint8_t>& have_ak, bool lock);
// Fills ak_public of the given rows (their AK changed under a cached name).
Result<void> LoadAkPublics(pqxx::transaction_base& tx, const std::vector<AgentRow*>& rows);

// A kind this worker does not know is errc::unknown_value (as for states).
Result<std::vector<PolicyRow>> LoadPolicies(pqxx::transaction_base& tx,
                                            const std::vector<int64_t>& ids);

// Writes the dirty rows, the history rows and the outbox rows; returns the
// outbox ids in the order of `outbox`. An attested row's last attestation
// becomes its `attested_at` (never earlier than the stored one) and its
// liveness deadline counts from there.
Result<std::vector<int64_t>> WriteResults(pqxx::transaction_base& tx,
                                          const std::vector<const AgentRow*>& rows,
                                          const std::vector<const HistoryRecord*>& history,
                                          const std::vector<const OutboxRecord*>& outbox,
                                          const std::string& worker_id);

// Agents of `partitions` whose liveness deadline is before their
// partition's seen-through time and not OFFLINE/FAILED, locked (SKIP
// LOCKED), at most `limit`. Candidates whose stored deadline (a lower bound,
// migration 016) passed but whose real one did not get the real one stored
// instead.
Result<std::vector<std::string>> LockOverdueAgents(pqxx::transaction_base& tx,
                                                   const std::vector<SweepPartition>& partitions,
                                                   int limit);

// Outbox rows of `partition` in id order, at most `limit`, id > after_id.
Result<std::vector<StoredOutbox>> LoadOutbox(pqxx::transaction_base& tx, int32_t partition,
                                             int64_t after_id, int limit);
Result<void> DeleteOutbox(pqxx::transaction_base& tx, const std::vector<int64_t>& ids);

// "{a,b}" array literals.
std::string TextArray(const std::vector<std::string>& items);
template <typename T>
std::string IntArray(const std::vector<T>& items) {
  std::string s = "{";
  for (size_t i = 0; i < items.size(); ++i) {
    if (i) s += ",";
    s += std::to_string(items[i]);
  }
  return s + "}";
}

}  // namespace attest::worker
