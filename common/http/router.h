// Router: method + path pattern -> handler. Patterns are absolute paths whose
// segments are literals or "{name}" parameters matching one non-empty
// segment: "/v1/agents/{uuid}/evidence". Matching is exact (no trailing-slash
// or percent-decoding magic); a literal beats a parameter in the same place.
//
// Thread-safety: build it with Add() before the server starts; Find() is then
// const and safe from any thread.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/base/result.h"
#include "common/http/message.h"

namespace attest::http {

class Router {
 public:
  struct Route {
    std::string method;   // "GET", "POST", ...
    std::string pattern;  // as given to Add()
    Handler handler;
    size_t index = 0;                   // position in routes(), stable
    std::vector<std::string> segments;  // "{x}" kept as "{x}"
  };

  struct Match {
    enum class Kind { kFound, kNotFound, kMethodNotAllowed };
    Kind kind = Kind::kNotFound;
    const Route* route = nullptr;  // kFound
    std::vector<std::pair<std::string, std::string>> params;
    std::string allow;  // kMethodNotAllowed: "GET, POST"
  };

  // Error (invalid_argument) for a malformed pattern or a duplicate
  // method+pattern.
  Result<void> Add(std::string method, std::string pattern, Handler handler);

  Match Find(std::string_view method, std::string_view path) const;

  const std::vector<Route>& routes() const { return routes_; }

  // Upper bound on segments considered; longer paths are 404.
  static constexpr size_t kMaxSegments = 32;

 private:
  std::vector<Route> routes_;
};

}  // namespace attest::http
