// The failure ids VerifyEvidence reports itself (the checks it combines have
// their own catalogues: common/checks, common/eventlog, common/ima
// failure_ids.h), one catalogue: docs/verification.md ("Failure ids") lists
// each with when it is raised, and tests/verifier/failure_ids_test.cc checks
// that the two agree. const char* rather than string_view: ids initialise
// std::string members.
//
// Constants only; thread-safe.
#pragma once

namespace attest::verifier::failure_id {

// The UEFI log does not parse or replay.
inline constexpr const char* kBootLogMalformed = "measured_boot.log_malformed";
// A reference state is set but PCRs 0-7 are not quoted.
inline constexpr const char* kBootPcrsNotQuoted = "measured_boot.pcrs_not_quoted";
// PCRs 0-7 changed since the log was accepted, without a reboot.
inline constexpr const char* kBootPcrsChanged = "measured_boot.pcrs_changed";
// The UEFI log was asked for and not sent in uefi_log_max_rounds evidence in a row.
inline constexpr const char* kUefiLogWithheld = "measured_boot.log_withheld";
// The IMA list does not parse.
inline constexpr const char* kImaLogMalformed = "ima.log_malformed";
// The IMA list holds another number of entries than the evidence says.
inline constexpr const char* kImaEntryCountMismatch = "ima.entry_count_mismatch";
// IMA is checked but PCR 10 is not quoted in a supported bank.
inline constexpr const char* kImaPcrNotQuoted = "ima.pcr_not_quoted";
// A list sent in parts not anchored by a quote in time.
inline constexpr const char* kImaNotAnchored = "ima.not_anchored";
// Notice: a part of a list sent in parts, checked, not yet anchored.
inline constexpr const char* kImaCatchingUp = "ima.catching_up";

}  // namespace attest::verifier::failure_id
