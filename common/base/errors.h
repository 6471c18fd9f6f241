// Error codes of the base module (configuration, files) and the pattern every
// other module copies: an `errc` enum, a category, and make_error_code found by
// ADL so `MakeError(errc::x, "...")` works.
#pragma once

#include <system_error>

namespace attest::base {

enum class errc {
  ok = 0,
  io_error = 1,       // a file could not be read or written
  parse_error = 2,    // a file is not valid in its format
  invalid_value = 3,  // a value is out of range or of the wrong type
  missing_value = 4,  // a required key is absent
  unknown_key = 5,    // a config key no parser reads (a typo, a key in the wrong table)
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace attest::base

template <>
struct std::is_error_code_enum<attest::base::errc> : std::true_type {};
