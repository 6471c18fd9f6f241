// Vocabulary of the TCG PC Client Platform Firmware Profile event log: hash
// algorithm ids (TPM_ALG_ID), event types, UEFI GUIDs, and byte helpers
// (hex, base64, UTF-16LE, GUID text). All functions are pure and thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/hex.h"

namespace attest::eventlog {

using Bytes = std::vector<uint8_t>;
using Guid = std::array<uint8_t, 16>;  // as stored on the wire (EFI_GUID layout)

// TPM_ALG_ID values of the banks a PC Client log may carry.
namespace alg {
inline constexpr uint16_t kSha1 = 0x0004;
inline constexpr uint16_t kSha256 = 0x000B;
inline constexpr uint16_t kSha384 = 0x000C;
inline constexpr uint16_t kSha512 = 0x000D;
inline constexpr uint16_t kSm3_256 = 0x0012;
}  // namespace alg

// "sha1", "sha256", "sha384", "sha512", "sm3_256"; "alg_0x%04x" otherwise.
std::string HashAlgName(uint16_t alg_id);
std::optional<uint16_t> HashAlgFromName(std::string_view name);
// Digest size of a known algorithm, 0 when unknown.
size_t HashAlgSize(uint16_t alg_id);

// Event types (TCG PC Client PFP, section 10.4.1).
namespace ev {
inline constexpr uint32_t kPrebootCert = 0x00000000;
inline constexpr uint32_t kPostCode = 0x00000001;
inline constexpr uint32_t kNoAction = 0x00000003;
inline constexpr uint32_t kSeparator = 0x00000004;
inline constexpr uint32_t kAction = 0x00000005;
inline constexpr uint32_t kEventTag = 0x00000006;
inline constexpr uint32_t kSCrtmContents = 0x00000007;
inline constexpr uint32_t kSCrtmVersion = 0x00000008;
inline constexpr uint32_t kCpuMicrocode = 0x00000009;
inline constexpr uint32_t kPlatformConfigFlags = 0x0000000A;
inline constexpr uint32_t kTableOfDevices = 0x0000000B;
inline constexpr uint32_t kCompactHash = 0x0000000C;
inline constexpr uint32_t kIpl = 0x0000000D;
inline constexpr uint32_t kIplPartitionData = 0x0000000E;
inline constexpr uint32_t kNonhostCode = 0x0000000F;
inline constexpr uint32_t kNonhostConfig = 0x00000010;
inline constexpr uint32_t kNonhostInfo = 0x00000011;
inline constexpr uint32_t kOmitBootDeviceEvents = 0x00000012;
inline constexpr uint32_t kEfiVariableDriverConfig = 0x80000001;
inline constexpr uint32_t kEfiVariableBoot = 0x80000002;
inline constexpr uint32_t kEfiBootServicesApplication = 0x80000003;
inline constexpr uint32_t kEfiBootServicesDriver = 0x80000004;
inline constexpr uint32_t kEfiRuntimeServicesDriver = 0x80000005;
inline constexpr uint32_t kEfiGptEvent = 0x80000006;
inline constexpr uint32_t kEfiAction = 0x80000007;
inline constexpr uint32_t kEfiPlatformFirmwareBlob = 0x80000008;
inline constexpr uint32_t kEfiHandoffTables = 0x80000009;
inline constexpr uint32_t kEfiPlatformFirmwareBlob2 = 0x8000000A;
inline constexpr uint32_t kEfiHandoffTables2 = 0x8000000B;
inline constexpr uint32_t kEfiVariableBoot2 = 0x8000000C;
inline constexpr uint32_t kEfiHcrtmEvent = 0x80000010;
inline constexpr uint32_t kEfiVariableAuthority = 0x800000E0;
inline constexpr uint32_t kEfiSpdmFirmwareBlob = 0x800000E1;
inline constexpr uint32_t kEfiSpdmFirmwareConfig = 0x800000E2;
}  // namespace ev

// "EV_EFI_VARIABLE_DRIVER_CONFIG" etc.; "EV_UNKNOWN_0x%08x" otherwise.
std::string EventTypeName(uint32_t type);

// GUIDs the decoder and the policy need.
namespace guid {
extern const Guid kEfiGlobalVariable;      // 8be4df61-93ca-11d2-aa0d-00e098032b8c
extern const Guid kImageSecurityDatabase;  // d719b2cb-3d3a-4596-a3bc-dad00e67656f
extern const Guid kCertX509;               // a5c059a1-94e4-4aa7-87b5-ab155c2bf072
extern const Guid kCertSha256;             // c1c41626-504c-4092-aca9-41f936934328
}  // namespace guid

// Canonical text form "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx" (first three
// fields little-endian, as EFI_GUID is stored).
std::string GuidToString(const Guid& g);

// common/base/hex.h, kept under these names for their many callers.
// Lower-case hex, no prefix.
inline std::string ToHex(std::span<const uint8_t> bytes) { return HexEncode(bytes); }
// Accepts upper or lower case and an optional "0x" prefix; nullopt when the
// text is not an even number of hex digits.
inline std::optional<Bytes> FromHex(std::string_view text) {
  return HexDecode(text, HexPrefix::kAllow);
}

// Standard base64 (RFC 4648) with padding; ASCII whitespace is ignored.
// nullopt on any other character or a bad length.
std::optional<Bytes> Base64Decode(std::string_view text);

// UTF-16LE to UTF-8; unpaired surrogates become U+FFFD. A trailing NUL (and
// everything after it) is dropped. nullopt when the length is odd.
std::optional<std::string> Utf16LeToUtf8(std::span<const uint8_t> bytes);

// Bytes as text for display: printable ASCII is kept (trailing NULs dropped),
// anything else makes the whole value hex (nullopt).
std::optional<std::string> AsciiText(std::span<const uint8_t> bytes);

}  // namespace attest::eventlog
