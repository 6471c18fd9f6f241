// The failure ids the eventlog module reports (Failure::id), one catalogue:
// docs/verification.md ("Failure ids") lists each with when it is raised, and
// tests/verifier/failure_ids_test.cc checks that the two agree.
// const char* rather than string_view: ids initialise std::string members
// and are concatenated with a PCR number (the *_pcr_ prefixes).
//
// Constants only; thread-safe.
#pragma once

namespace attest::eventlog::failure_id {

// Prefix of measured_boot.invalid_pcr_N: replayed PCR N != quoted PCR N.
inline constexpr const char* kInvalidPcrPrefix = "measured_boot.invalid_pcr_";
// A quoted bank the log does not carry.
inline constexpr const char* kBankNotInLog = "measured_boot.bank_not_in_log";
// A hash-bound event's content (or GRUB text) does not match its digest.
inline constexpr const char* kEventDigestMismatch = "measured_boot.event_digest_mismatch";
// An event of PCRs 0-7 whose type the PFP does not put in that PCR.
inline constexpr const char* kEventTypeNotAllowed = "measured_boot.event_type_not_allowed";
// Configuration measured after its PCR's separator (by the running OS).
inline constexpr const char* kEventAfterSeparator = "measured_boot.event_after_separator";
// A PCR (or bank) a reference-state check reads was not quoted or does not replay.
inline constexpr const char* kPcrNotVerified = "measured_boot.pcr_not_verified";

// Reference-state failures (docs/policies/measured-boot-policy.md).
// SecureBoot not measured in PCR 7, or not enabled.
inline constexpr const char* kPolicySecurebootDisabled = "measured_boot.policy.secureboot_disabled";
// PK holds an entry the policy does not allow, or was not measured.
inline constexpr const char* kPolicyPk = "measured_boot.policy.pk";
// KEK holds an entry the policy does not allow, or was not measured.
inline constexpr const char* kPolicyKek = "measured_boot.policy.kek";
// db holds an entry the policy does not allow, or was not measured.
inline constexpr const char* kPolicyDb = "measured_boot.policy.db";
// dbx lacks a required entry or is not a valid signature list.
inline constexpr const char* kPolicyDbxMissing = "measured_boot.policy.dbx_missing";
// S-CRTM version not allowed, or none measured.
inline constexpr const char* kPolicyScrtmVersion = "measured_boot.policy.scrtm_version";
// Firmware code (PCRs 0, 2) with a digest the policy does not allow.
inline constexpr const char* kPolicyFirmwareBlob = "measured_boot.policy.firmware_blob";
// A boot application (PCR 4) with a digest the policy does not allow.
inline constexpr const char* kPolicyBootApplication = "measured_boot.policy.boot_application";
// A kernel command line (PCR 8) the policy does not allow, or none measured.
inline constexpr const char* kPolicyKernelCmdline = "measured_boot.policy.kernel_cmdline";
// An undecodable UEFI variable event in a verified PCR.
inline constexpr const char* kPolicyMalformedEvent = "measured_boot.policy.malformed_event";

}  // namespace attest::eventlog::failure_id
