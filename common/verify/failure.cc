#include "common/verify/failure.h"

#include <nlohmann/json.hpp>

#include "common/base/escape.h"

namespace attest::verify {

std::string ContextJson(const Context& context) {
  nlohmann::json obj = nlohmann::json::object();
  for (const auto& d : context) {
    nlohmann::json& slot = obj[EscapeBytes(d.key)];
    std::visit(
        [&slot](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            slot = EscapeBytes(v);
          } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            slot = nlohmann::json::array();
            for (const auto& s : v) slot.push_back(EscapeBytes(s));
          } else {
            slot = v;
          }
        },
        d.value);
  }
  // Every string is valid UTF-8 by construction; `replace` is the backstop
  // that keeps dump() from throwing should that ever be broken.
  return obj.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace attest::verify
