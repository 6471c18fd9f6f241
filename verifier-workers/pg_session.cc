// StoreSession on PostgreSQL (libpqxx): the only place the worker's pipeline
// meets a pqxx type. Each call runs the SQL of store.h / offsets.h, whose
// functions already turn exceptions into Results; what they do not cover
// (BEGIN, COMMIT) is guarded here.
#include "common/db/connection.h"
#include "verifier-workers/errors.h"
#include "verifier-workers/offsets.h"
#include "verifier-workers/store.h"
#include "verifier-workers/store_session.h"

namespace attest::worker {
namespace {

Error DbError(const Error& e) { return MakeError(errc::database, e.message); }

class PgTransaction final : public StoreTransaction {
 public:
  explicit PgTransaction(std::unique_ptr<pqxx::work> tx) : tx_(std::move(tx)) {}
  ~PgTransaction() override {
    // pqxx::work's destructor aborts an open transaction; it does not throw.
    tx_.reset();
  }

  Result<std::map<std::string, AgentRow>> LoadAgents(const std::vector<std::string>& agent_ids,
                                                     const std::vector<uint8_t>& have_ak,
                                                     bool lock) override {
    return worker::LoadAgents(*tx_, agent_ids, have_ak, lock);
  }
  Result<void> LoadAkPublics(const std::vector<AgentRow*>& rows) override {
    return worker::LoadAkPublics(*tx_, rows);
  }
  Result<std::vector<PolicyRow>> LoadPolicies(const std::vector<int64_t>& ids) override {
    return worker::LoadPolicies(*tx_, ids);
  }
  Result<std::vector<int64_t>> WriteResults(const std::vector<const AgentRow*>& rows,
                                            const std::vector<const HistoryRecord*>& history,
                                            const std::vector<const OutboxRecord*>& outbox,
                                            const std::string& worker_id) override {
    return worker::WriteResults(*tx_, rows, history, outbox, worker_id);
  }
  Result<std::vector<std::string>> LockOverdueAgents(const std::vector<SweepPartition>& partitions,
                                                     int limit) override {
    return worker::LockOverdueAgents(*tx_, partitions, limit);
  }
  Result<void> AdvanceOffset(const OffsetKey& key, const Claim& expected, int64_t next_offset,
                             const std::string& owner,
                             std::optional<int64_t> log_end_offset) override {
    return worker::AdvanceOffset(*tx_, key, expected, next_offset, owner, log_end_offset);
  }
  Result<void> CheckOwner(const OffsetKey& key, int64_t epoch) override {
    return worker::CheckOwner(*tx_, key, epoch);
  }
  Result<void> Commit() override {
    auto r = db::Guard("commit", [&] { tx_->commit(); });
    if (!r) return r.error();  // the client's code: in_doubt when COMMIT's answer was lost
    return Ok();
  }

 private:
  std::unique_ptr<pqxx::work> tx_;
};

class PgSession final : public StoreSession {
 public:
  explicit PgSession(db::Connection conn) : conn_(std::move(conn)) {}

  bool is_open() const override { return conn_.is_open(); }

  Result<std::unique_ptr<StoreTransaction>> Begin() override {
    auto tx = db::Guard("begin", [&] { return std::make_unique<pqxx::work>(conn_.raw()); });
    if (!tx) return DbError(tx.error());
    return std::unique_ptr<StoreTransaction>(new PgTransaction(std::move(*tx)));
  }

  Result<Claim> ClaimPartition(const OffsetKey& key, const std::string& owner) override {
    return worker::ClaimPartition(conn_.raw(), key, owner);
  }

  Result<std::vector<StoredOutbox>> LoadOutbox(int32_t partition, int64_t after_id,
                                               int limit) override {
    auto rows = db::Guard("outbox leftovers", [&] {
      pqxx::read_transaction tx(conn_.raw());
      auto r = worker::LoadOutbox(tx, partition, after_id, limit);
      if (!r) throw std::runtime_error(r.error().message);
      return std::move(*r);
    });
    if (!rows) return DbError(rows.error());
    return std::move(*rows);
  }

 private:
  db::Connection conn_;
};

}  // namespace

Result<std::unique_ptr<StoreSession>> OpenPostgresSession(const std::string& conninfo) {
  auto c = db::Connection::Open(conninfo);
  if (!c) return DbError(c.error());
  auto prepared = db::Guard("prepare statements", [&] {
    PrepareOffsetStatements(c->raw());
    PrepareStoreStatements(c->raw());
  });
  if (!prepared) return DbError(prepared.error());
  return std::unique_ptr<StoreSession>(new PgSession(std::move(*c)));
}

}  // namespace attest::worker
