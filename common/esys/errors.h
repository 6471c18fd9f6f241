// Error codes of the esys module (the TPM side, tpm2-tss ESAPI). TSS2_RC values
// are translated at this edge into Error{code, "<what>: <Tss2_RC_Decode text>"}.
#pragma once

#include <tss2/tss2_common.h>

#include <string_view>
#include <system_error>

#include "common/base/result.h"

namespace attest::esys {

enum class errc {
  ok = 0,
  tss_error = 1,         // a tpm2-tss call or the TPM returned an error code
  tcti_error = 2,        // the TCTI could not be loaded or connected
  invalid_argument = 3,  // a caller-supplied value is out of range
  marshal_error = 4,     // bytes are not a valid marshalled TPM structure
  io_error = 5,          // a state file could not be read or written
  not_found = 6,         // e.g. no EK certificate in NV
  mismatch = 7,          // a TPM answer does not match what was asked
};

const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

// Error for a failed tpm2-tss call: `what` says which call and why it was made.
Error TssError(TSS2_RC rc, std::string_view what, errc code = errc::tss_error);

}  // namespace attest::esys

template <>
struct std::is_error_code_enum<attest::esys::errc> : std::true_type {};
