// Error codes of the challenge-token module (common/token).
#pragma once

#include <system_error>

namespace attest::token {

enum class errc {
  ok = 0,
  invalid_key = 1,    // a key file is unreadable, too short, or two keys share an id
  malformed = 2,      // not a token of this version and size
  unknown_key = 3,    // made with a key this key set does not hold (rotated out)
  bad_mac = 4,        // the MAC does not verify: forged or altered
  other_agent = 5,    // issued to another agent
  expired = 6,        // older than the TTL
  not_yet_valid = 7,  // issued further in the future than the allowed clock skew
  rng_failed = 8,     // the random source failed
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace attest::token

template <>
struct std::is_error_code_enum<attest::token::errc> : std::true_type {};
