#include "registrar/errors.h"

#include <string>

namespace attest::registrar {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.registrar"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::bad_request:
        return "bad request";
      case errc::unauthorized:
        return "unauthorized";
      case errc::forbidden:
        return "forbidden";
      case errc::not_found:
        return "not found";
      case errc::conflict:
        return "conflict";
      case errc::gone:
        return "gone";
      case errc::unsupported_media:
        return "unsupported media type";
      case errc::unavailable:
        return "unavailable";
      case errc::internal:
        return "internal error";
      case errc::config_error:
        return "configuration error";
    }
    return "unknown error";
  }
};

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

int HttpStatus(const Error& e) {
  if (e.code.category() != category()) return 500;
  switch (static_cast<errc>(e.code.value())) {
    case errc::ok:
      return 200;
    case errc::bad_request:
      return 400;
    case errc::unauthorized:
      return 401;
    case errc::forbidden:
      return 403;
    case errc::not_found:
      return 404;
    case errc::conflict:
      return 409;
    case errc::gone:
      return 410;
    case errc::unsupported_media:
      return 415;
    case errc::unavailable:
      return 503;
    case errc::internal:
    case errc::config_error:
      return 500;
  }
  return 500;
}

}  // namespace attest::registrar
