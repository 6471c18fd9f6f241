// Measured-boot reference state: what a machine's UEFI event log must show
// (Secure Boot on, allowed PK/KEK/db, required dbx entries, allowed firmware,
// boot applications and kernel command lines). The JSON format is documented
// in docs/policies/measured-boot-policy.md.
//
// A component that is absent from the document is not checked; a component
// that is present (even as an empty list) is enforced. The check judges
// event *contents*; it first verifies that the contents of hash-bound
// events match their digests (VerifyEventDigests), and the PCR replay
// (Replay + ComparePcrs) binds the digests to the quote. Callers need both.
//
// Pure code; thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "common/eventlog/event_log.h"
#include "common/eventlog/pcr_usage.h"
#include "common/eventlog/replay.h"

namespace attest::eventlog {

// One allowed value; `note` is informational (e.g. certificate subject,
// image path), never compared.
struct RefEntry {
  std::string value;  // lower-case hex digest, or text for S-CRTM versions / command lines
  std::string note;
};

struct ReferenceState {
  uint16_t digest_alg = alg::kSha256;  // bank of event digests for firmware blobs / boot apps
  bool secureboot_required = false;
  std::optional<std::vector<RefEntry>> pk;  // SHA-256 of each EFI_SIGNATURE_DATA payload (see docs)
  std::optional<std::vector<RefEntry>> kek;
  std::optional<std::vector<RefEntry>> db;
  std::optional<std::vector<RefEntry>> dbx_required;
  std::optional<std::vector<RefEntry>> scrtm_versions;
  std::optional<std::vector<RefEntry>> firmware_blobs;
  std::optional<std::vector<RefEntry>> boot_applications;
  std::optional<std::vector<RefEntry>> kernel_cmdlines;
};

inline constexpr size_t kMaxPolicyBytes = 16u << 20;

// Parses and validates a reference-state document (strict: unknown keys,
// wrong types or malformed digests are errors naming the JSON path).
Result<ReferenceState> ParseReferenceState(std::string_view json);
// Pretty-printed JSON (2-space indent, trailing newline).
std::string SerializeReferenceState(const ReferenceState& ref);

// A reference state that accepts exactly the given (known-good) log.
ReferenceState GenerateReferenceState(const EventLog& log);

// Failures of `log` against `ref` (empty = pass). Ids:
// measured_boot.policy.{secureboot_disabled, pk, kek, db, dbx_missing,
// scrtm_version, firmware_blob, boot_application, kernel_cmdline,
// malformed_event}, measured_boot.event_digest_mismatch,
// measured_boot.event_type_not_allowed (CheckPcrUsage) and
// measured_boot.pcr_not_verified (a component's PCR, or its bank, is not in
// `verified`); context "event" is the event index.
//
// Each component reads only its own (type, PCR) pairs, from PCRs in
// `verified` (docs/verification.md lists them): Secure Boot state, PK, KEK,
// db, dbx: EV_EFI_VARIABLE_DRIVER_CONFIG in PCR 7; S-CRTM version:
// EV_S_CRTM_VERSION in PCR 0; firmware_blobs: every code digest of PCR 0
// (any type whose digest is not the hash of its data) and blobs of PCR 2;
// boot_applications: every code digest of PCR 4; kernel_cmdlines: GRUB's
// EV_IPL events in PCR 8 whose text hashes to their digests. Digests are
// judged in ref.digest_alg, which must be a verified bank.
std::vector<Failure> CheckReferenceState(const EventLog& log, const ReferenceState& ref,
                                         const VerifiedPcrs& verified);

// The digest the policy uses for one signature: the hash itself for an
// EFI_CERT_SHA256 list entry, else the SHA-256 of the data (the DER cert).
std::string SignatureDigest(const SignatureList& list, const SignatureData& sig);

// Kernel command lines measured by GRUB into PCR 8 (EV_IPL "kernel_cmdline:
// ...", or "grub_cmd: linux ..." when the former is absent), with event
// indexes. Not checked against their digests: CheckReferenceState does that.
std::vector<std::pair<size_t, std::string>> KernelCmdlines(const EventLog& log);

}  // namespace attest::eventlog
