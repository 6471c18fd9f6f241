#include "common/checks/failure.h"

#include <nlohmann/json.hpp>
#include <optional>

#include "common/base/escape.h"

namespace attest::checks {

namespace {

// Text beyond PATH_MAX is cut (the verdict must stay one Kafka message
// whatever an agent sends); `<key>_total` then gives the original size.
constexpr size_t kMaxTextBytes = 4096;
constexpr size_t kMaxListItems = 64;

std::string Text(const std::string& v) {
  return EscapeBytes(std::string_view(v).substr(0, kMaxTextBytes));
}

}  // namespace

std::string ContextJson(const Context& context) {
  nlohmann::json obj = nlohmann::json::object();
  for (const auto& d : context) {
    const std::string key = EscapeBytes(std::string_view(d.key).substr(0, kMaxTextBytes));
    nlohmann::json& slot = obj[key];
    std::optional<size_t> cut;
    std::visit(
        [&slot, &cut](const auto& v) {
          using T = std::decay_t<decltype(v)>;
          if constexpr (std::is_same_v<T, std::string>) {
            slot = Text(v);
            if (v.size() > kMaxTextBytes) cut = v.size();
          } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
            slot = nlohmann::json::array();
            for (size_t i = 0; i < v.size() && i < kMaxListItems; ++i) slot.push_back(Text(v[i]));
            if (v.size() > kMaxListItems) cut = v.size();
          } else if constexpr (std::is_same_v<T, std::vector<uint64_t>>) {
            slot = nlohmann::json::array();
            for (size_t i = 0; i < v.size() && i < kMaxListItems; ++i) slot.push_back(v[i]);
            if (v.size() > kMaxListItems) cut = v.size();
          } else {
            slot = v;
          }
        },
        d.value);
    if (cut) obj[key + "_total"] = *cut;
  }
  // Every string is valid UTF-8 by construction; `replace` is the backstop
  // that keeps dump() from throwing should that ever be broken.
  return obj.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace attest::checks
