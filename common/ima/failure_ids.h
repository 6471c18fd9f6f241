// The failure ids the IMA module reports (ima::Failure::id), Keylime's
// "component.sub.event" names, one catalogue: docs/verification.md
// ("Failure ids") lists each with when it is raised, and
// tests/verifier/failure_ids_test.cc checks that the two agree.
// const char* rather than string_view: ids initialise std::string members.
//
// Constants only; thread-safe.
#pragma once

namespace attest::ima::failure_id {

// The template hash does not match the template data.
inline constexpr const char* kTemplateHash = "ima.validation.ima_hash";
// An entry for another PCR than 10.
inline constexpr const char* kWrongPcr = "ima.validation.ima_pcr";
// A violation entry (only when configured to fail).
inline constexpr const char* kToMToU = "ima.validation.tomtou";
// The path is not in the runtime policy.
inline constexpr const char* kNotInAllowlist = "ima.validation.ima-ng.not_in_allowlist";
// The path is known, its digest not allowed.
inline constexpr const char* kHashNotInPolicy = "ima.validation.ima-ng.runtime_policy_hash";
// An ima-sig signature that no trusted key verifies.
inline constexpr const char* kInvalidSignature = "ima.validator.ima-sig.invalid_signature";
// An ima-sig signature header that does not parse.
inline constexpr const char* kMalformedSignature = "ima.validator.ima-sig.malformed_signature";
// An ima-buf key of an unsupported type.
inline constexpr const char* kInvalidKey = "ima.invalid_key";
// The replay never equals the quoted PCR 10.
inline constexpr const char* kPcrMismatch = "ima.pcr_mismatch";

}  // namespace attest::ima::failure_id
