// Parser for the TCG PC Client Platform Firmware Profile event log in the
// crypto-agile format (as in /sys/kernel/security/tpm0/binary_bios_measurements):
// a TCG_PCR_EVENT header carrying the TCG_EfiSpecIDEvent ("Spec ID Event03"),
// then TCG_PCR_EVENT2 entries with one digest per declared bank.
//
// Contract: ParseEventLog never crashes or allocates beyond a bound fixed by
// the input size and ParseLimits; a log that is truncated, oversized or
// inconsistent yields an Error whose message names the byte offset and what
// was expected there. Event contents (UEFI variables, image loads, GPT, ...)
// are decoded best-effort: a content that does not decode keeps its raw
// bytes and says why in `decode_error`, because the framing, digests and
// replay stay valid; policy checks treat such an event as a failure.
//
// Pure code (no I/O, no clock); all types are plain values, thread-safe to
// share read-only.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "common/eventlog/types.h"

namespace attest::eventlog {

struct ParseLimits {
  size_t max_log_bytes = 64u << 20;   // whole log
  size_t max_event_bytes = 4u << 20;  // one event's data
  size_t max_events = 200000;         // events incl. the header
};

struct AlgorithmSize {
  uint16_t alg_id = 0;
  uint16_t digest_size = 0;
};

// TCG_EfiSpecIDEvent.
struct SpecIdEvent {
  uint32_t platform_class = 0;
  uint8_t spec_version_minor = 0;
  uint8_t spec_version_major = 0;
  uint8_t spec_errata = 0;
  uint8_t uintn_size = 0;
  std::vector<AlgorithmSize> algorithms;
  Bytes vendor_info;
};

struct Digest {
  uint16_t alg_id = 0;
  Bytes value;
};

// One EFI_SIGNATURE_DATA.
struct SignatureData {
  Guid owner{};
  Bytes data;  // DER certificate for X509 lists, the hash for SHA256 lists
};

// One EFI_SIGNATURE_LIST.
struct SignatureList {
  Guid type{};  // guid::kCertX509, guid::kCertSha256, ...
  std::vector<SignatureData> signatures;
};

// UEFI_VARIABLE_DATA (EV_EFI_VARIABLE_*).
struct UefiVariable {
  Guid vendor{};
  std::string name;  // UTF-8 from the UTF-16 UnicodeName
  Bytes data;
  // Set for PK, KEK, db, dbx (EFI_SIGNATURE_LIST contents).
  std::optional<std::vector<SignatureList>> signature_lists;
};

// UEFI_IMAGE_LOAD_EVENT (EV_EFI_BOOT_SERVICES_APPLICATION, ..._DRIVER).
struct ImageLoad {
  uint64_t location = 0;
  uint64_t length = 0;
  uint64_t link_time_address = 0;
  Bytes device_path;
  std::string device_path_text;  // readable rendering, e.g. "HD(1,GPT,...)/\EFI\fedora\shimx64.efi"
};

// UEFI_PLATFORM_FIRMWARE_BLOB(2).
struct FirmwareBlob {
  std::string description;  // BLOB2 only
  uint64_t base = 0;
  uint64_t length = 0;
};

struct GptPartition {
  Guid type{};
  Guid unique{};
  uint64_t first_lba = 0;
  uint64_t last_lba = 0;
  uint64_t attributes = 0;
  std::string name;
};

// UEFI_GPT_DATA.
struct GptData {
  Guid disk_guid{};
  std::vector<GptPartition> partitions;
};

struct Event {
  size_t index = 0;        // 0 is the Spec ID header, as tpm2_eventlog numbers them
  size_t offset = 0;       // byte offset of the event in the log
  size_t size = 0;         // bytes of the whole event structure
  size_t data_offset = 0;  // byte offset of the event data
  uint32_t pcr = 0;
  uint32_t type = 0;
  std::vector<Digest> digests;  // in log order; header: one sha1 digest
  Bytes data;

  // Decoded content (at most one group is set, by event type).
  std::optional<uint8_t> startup_locality;  // EV_NO_ACTION "StartupLocality"
  std::optional<std::string> text;          // S-CRTM version, EV_EFI_ACTION, EV_IPL, ...
  std::optional<FirmwareBlob> blob;
  std::optional<UefiVariable> variable;
  std::optional<ImageLoad> image;
  std::optional<GptData> gpt;
  std::optional<uint32_t> separator;  // the separator value (0 or 0xFFFFFFFF on error)
  std::string decode_error;           // why the content did not decode (empty = ok or raw)

  // Digest of the bank, or nullptr.
  const Digest* DigestFor(uint16_t alg_id) const;
};

struct EventLog {
  SpecIdEvent spec;
  std::vector<Event> events;  // events[0] is the header (Spec ID event)
};

Result<EventLog> ParseEventLog(std::span<const uint8_t> log, const ParseLimits& limits = {});

// Decodes the content of one event (used by the parser; exposed for tests
// that edit event bytes). Clears and sets the decoded fields of `event`.
void DecodeEventContent(Event& event);

// EFI device path rendering (best-effort; unknown nodes as "Node(t,s)").
std::string RenderDevicePath(std::span<const uint8_t> path);

}  // namespace attest::eventlog
