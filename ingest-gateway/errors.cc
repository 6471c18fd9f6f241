#include "ingest-gateway/errors.h"

#include <string>

namespace attest::gateway {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.gateway"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::invalid_config:
        return "invalid gateway configuration";
      case errc::bad_request:
        return "bad request";
      case errc::unsupported_media_type:
        return "unsupported media type";
      case errc::unauthorized:
        return "invalid challenge token";
      case errc::forbidden:
        return "challenge token issued to another agent";
      case errc::not_found:
        return "agent not enrolled";
      case errc::too_early:
        return "too early";
      case errc::unavailable:
        return "dependency unavailable";
      case errc::internal:
        return "internal error";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

int HttpStatus(errc e) {
  switch (e) {
    case errc::bad_request:
      return 400;
    case errc::unsupported_media_type:
      return 415;
    case errc::unauthorized:
      return 401;
    case errc::forbidden:
      return 403;
    case errc::not_found:
      return 404;
    case errc::too_early:
      return 429;
    case errc::unavailable:
      return 503;
    default:
      return 500;
  }
}

}  // namespace attest::gateway
