// Reads agents' enrolment rows from PostgreSQL off the I/O threads: a
// db::Pool (common/db/pool.h) of threads, each with its own connection
// (opened lazily, reopened after a failure) and the lookup as a prepared
// statement. The gateway only reads (a login in role attest_gateway suffices).
//
// Lookup() queues the work and returns at once; the callback runs later on a
// pool thread with the row, nullopt (unknown agent) or an error (database
// unreachable: errc::unavailable). A full queue refuses the work (Lookup
// returns false) so a slow database shows as 503s, not as unbounded memory.
//
// Thread-safety: Lookup() may be called from any thread. The destructor
// stops the threads; queued lookups not yet run get errc::unavailable.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "common/base/result.h"
#include "common/db/pool.h"
#include "ingest-gateway/challenge.h"

namespace attest::gateway {

// The gateway's view of the enrolments (the contract of Lookup above), an
// interface so its handlers are unit-tested with a fake; EnrolmentStore is
// the PostgreSQL one.
class EnrolmentLookup {
 public:
  using Callback = std::function<void(Result<std::optional<EnrolmentRow>>)>;
  virtual ~EnrolmentLookup() = default;
  // `uuid` must be canonical. False when the lookup is refused at once (the
  // callback is then never called).
  virtual bool Lookup(std::string uuid, Callback callback) = 0;
};

class EnrolmentStore final : public EnrolmentLookup {
 public:
  EnrolmentStore(std::string conninfo, int pool_size, size_t max_queue);
  ~EnrolmentStore() override;
  EnrolmentStore(const EnrolmentStore&) = delete;
  EnrolmentStore& operator=(const EnrolmentStore&) = delete;

  // `uuid` must be canonical. False when the queue is full or the store stops.
  bool Lookup(std::string uuid, Callback callback) override;
  size_t queued() const;

  // The SQL of the lookup (for docs and tests).
  static const char* const kLookupSql;

 private:
  db::Pool pool_;
};

}  // namespace attest::gateway
