#include "common/db/errors.h"

#include <string>

namespace attest::db {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.db"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::connection_failed:
        return "database connection failed";
      case errc::query_failed:
        return "database query failed";
      case errc::constraint_violation:
        return "database constraint violated";
      case errc::retryable:
        return "transaction must be retried";
      case errc::in_doubt:
        return "transaction outcome unknown";
      case errc::migration_failed:
        return "migration failed";
      case errc::checksum_mismatch:
        return "applied migration was modified";
      case errc::invalid_migrations:
        return "invalid migrations directory";
      case errc::usage_error:
        return "database API misuse";
      case errc::pool_full:
        return "database work queue is full";
      case errc::pool_timeout:
        return "timed out waiting for a database connection";
      case errc::pool_stopped:
        return "database pool is stopping";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

}  // namespace attest::db
