// Error codes of the verifier module (common/verifier): building the cached
// inputs of the verify entry point (AK, compiled policies). Verification
// itself never returns an Error: bad evidence is a verdict, not an error.
#pragma once

#include <system_error>

namespace attest::verifier {

enum class errc {
  ok = 0,
  invalid_key = 1,     // the AK does not parse or is not a usable attestation key
  invalid_policy = 2,  // a policy document does not parse or its keys are unusable
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

}  // namespace attest::verifier

template <>
struct std::is_error_code_enum<attest::verifier::errc> : std::true_type {};
