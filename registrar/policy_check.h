// Validation of enrolment policies with the parsers the verifier workers
// use, so a policy the workers could not load is refused at enrolment (400
// with the parser's message) instead of failing every attestation later.
// Thread-safety: pure function.
#pragma once

#include <string_view>

#include "attest/v1/admin.pb.h"
#include "common/base/result.h"

namespace attest::registrar {

// errc::bad_request naming the policy kind and the parser's complaint.
Result<void> ValidatePolicy(v1::PolicyKind kind, std::string_view body);

}  // namespace attest::registrar
