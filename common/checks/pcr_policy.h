// PCR policy: the allowed values of each PCR per bank, and its check against
// the PCR values of a verified quote. Pure; thread-safe (const use).
//
// JSON format (docs/policies/pcr-policy.md):
//   { "sha256": { "0": ["<hex digest>", ...], "7": ["..."] },
//     "sha384": { "10": ["..."] } }
// Bank names: sha1, sha256, sha384, sha512. PCR indices 0..23 as strings.
// Each PCR lists one or more allowed digests (hex, optional 0x, any case),
// each of the bank's digest length. An empty policy allows everything.
//
// Failures: "pcr_validation.invalid_pcr_N" (value not in the allowed list;
// context has expected and actual), "pcr_validation.missing_pcr_N" (the
// policy names a PCR the quote did not cover).
#pragma once

#include <map>
#include <set>
#include <string_view>
#include <system_error>

#include "common/base/result.h"
#include "common/checks/failure.h"
#include "common/tpm/pcr.h"

namespace attest::checks {

enum class pcr_policy_errc { ok = 0, invalid_policy = 1 };
const std::error_category& pcr_policy_category();
inline std::error_code make_error_code(pcr_policy_errc e) {
  return {static_cast<int>(e), pcr_policy_category()};
}

struct PcrPolicy {
  // bank -> PCR index -> allowed digests
  std::map<TPMI_ALG_HASH, std::map<uint32_t, std::set<tpm::Bytes>>> allowed;
};

Result<PcrPolicy> ParsePcrPolicy(std::string_view json_text);

// `values` must come from a quote that verified (VerifyQuote().ok()).
Failures CheckPcrPolicy(const PcrPolicy& policy, const tpm::PcrValues& values);

}  // namespace attest::checks

template <>
struct std::is_error_code_enum<attest::checks::pcr_policy_errc> : std::true_type {};
