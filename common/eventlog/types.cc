#include "common/eventlog/types.h"

#include <cstdio>

#include "common/base/hex.h"

namespace attest::eventlog {

std::string HashAlgName(uint16_t alg_id) {
  switch (alg_id) {
    case alg::kSha1:
      return "sha1";
    case alg::kSha256:
      return "sha256";
    case alg::kSha384:
      return "sha384";
    case alg::kSha512:
      return "sha512";
    case alg::kSm3_256:
      return "sm3_256";
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "alg_0x%04x", alg_id);
  return buf;
}

std::optional<uint16_t> HashAlgFromName(std::string_view name) {
  for (uint16_t a : {alg::kSha1, alg::kSha256, alg::kSha384, alg::kSha512, alg::kSm3_256}) {
    if (HashAlgName(a) == name) return a;
  }
  return std::nullopt;
}

size_t HashAlgSize(uint16_t alg_id) {
  switch (alg_id) {
    case alg::kSha1:
      return 20;
    case alg::kSha256:
      return 32;
    case alg::kSha384:
      return 48;
    case alg::kSha512:
      return 64;
    case alg::kSm3_256:
      return 32;
  }
  return 0;
}

std::string EventTypeName(uint32_t type) {
  switch (type) {
    case ev::kPrebootCert:
      return "EV_PREBOOT_CERT";
    case ev::kPostCode:
      return "EV_POST_CODE";
    case 0x00000002:
      return "EV_UNUSED";
    case ev::kNoAction:
      return "EV_NO_ACTION";
    case ev::kSeparator:
      return "EV_SEPARATOR";
    case ev::kAction:
      return "EV_ACTION";
    case ev::kEventTag:
      return "EV_EVENT_TAG";
    case ev::kSCrtmContents:
      return "EV_S_CRTM_CONTENTS";
    case ev::kSCrtmVersion:
      return "EV_S_CRTM_VERSION";
    case ev::kCpuMicrocode:
      return "EV_CPU_MICROCODE";
    case ev::kPlatformConfigFlags:
      return "EV_PLATFORM_CONFIG_FLAGS";
    case ev::kTableOfDevices:
      return "EV_TABLE_OF_DEVICES";
    case ev::kCompactHash:
      return "EV_COMPACT_HASH";
    case ev::kIpl:
      return "EV_IPL";
    case ev::kIplPartitionData:
      return "EV_IPL_PARTITION_DATA";
    case ev::kNonhostCode:
      return "EV_NONHOST_CODE";
    case ev::kNonhostConfig:
      return "EV_NONHOST_CONFIG";
    case ev::kNonhostInfo:
      return "EV_NONHOST_INFO";
    case ev::kOmitBootDeviceEvents:
      return "EV_OMIT_BOOT_DEVICE_EVENTS";
    case ev::kEfiVariableDriverConfig:
      return "EV_EFI_VARIABLE_DRIVER_CONFIG";
    case ev::kEfiVariableBoot:
      return "EV_EFI_VARIABLE_BOOT";
    case ev::kEfiBootServicesApplication:
      return "EV_EFI_BOOT_SERVICES_APPLICATION";
    case ev::kEfiBootServicesDriver:
      return "EV_EFI_BOOT_SERVICES_DRIVER";
    case ev::kEfiRuntimeServicesDriver:
      return "EV_EFI_RUNTIME_SERVICES_DRIVER";
    case ev::kEfiGptEvent:
      return "EV_EFI_GPT_EVENT";
    case ev::kEfiAction:
      return "EV_EFI_ACTION";
    case ev::kEfiPlatformFirmwareBlob:
      return "EV_EFI_PLATFORM_FIRMWARE_BLOB";
    case ev::kEfiHandoffTables:
      return "EV_EFI_HANDOFF_TABLES";
    case ev::kEfiPlatformFirmwareBlob2:
      return "EV_EFI_PLATFORM_FIRMWARE_BLOB2";
    case ev::kEfiHandoffTables2:
      return "EV_EFI_HANDOFF_TABLES2";
    case ev::kEfiVariableBoot2:
      return "EV_EFI_VARIABLE_BOOT2";
    case ev::kEfiHcrtmEvent:
      return "EV_EFI_HCRTM_EVENT";
    case ev::kEfiVariableAuthority:
      return "EV_EFI_VARIABLE_AUTHORITY";
    case ev::kEfiSpdmFirmwareBlob:
      return "EV_EFI_SPDM_FIRMWARE_BLOB";
    case ev::kEfiSpdmFirmwareConfig:
      return "EV_EFI_SPDM_FIRMWARE_CONFIG";
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "EV_UNKNOWN_0x%08x", type);
  return buf;
}

namespace guid {
// EFI_GUID {Data1 (LE u32), Data2 (LE u16), Data3 (LE u16), Data4[8]}.
const Guid kEfiGlobalVariable = {0x61, 0xdf, 0xe4, 0x8b, 0xca, 0x93, 0xd2, 0x11,
                                 0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c};
const Guid kImageSecurityDatabase = {0xcb, 0xb2, 0x19, 0xd7, 0x3a, 0x3d, 0x96, 0x45,
                                     0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f};
const Guid kCertX509 = {0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a,
                        0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72};
const Guid kCertSha256 = {0x26, 0x16, 0xc4, 0xc1, 0x4c, 0x50, 0x92, 0x40,
                          0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28};
}  // namespace guid

std::string GuidToString(const Guid& g) {
  char buf[40];
  std::snprintf(buf, sizeof buf,
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", g[3], g[2],
                g[1], g[0], g[5], g[4], g[7], g[6], g[8], g[9], g[10], g[11], g[12], g[13], g[14],
                g[15]);
  return buf;
}

std::optional<Bytes> Base64Decode(std::string_view text) {
  Bytes out;
  out.reserve(text.size() / 4 * 3);
  uint32_t acc = 0;
  int bits = 0;
  size_t chars = 0, pad = 0;
  for (char c : text) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    int v;
    if (c >= 'A' && c <= 'Z')
      v = c - 'A';
    else if (c >= 'a' && c <= 'z')
      v = c - 'a' + 26;
    else if (c >= '0' && c <= '9')
      v = c - '0' + 52;
    else if (c == '+')
      v = 62;
    else if (c == '/')
      v = 63;
    else if (c == '=') {
      ++pad;
      ++chars;
      continue;
    } else {
      return std::nullopt;
    }
    if (pad > 0) return std::nullopt;  // data after padding
    ++chars;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  if (chars % 4 != 0 || pad > 2) return std::nullopt;
  return out;
}

std::optional<std::string> Utf16LeToUtf8(std::span<const uint8_t> bytes) {
  if (bytes.size() % 2 != 0) return std::nullopt;
  std::string out;
  auto put = [&out](uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    } else {
      out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
    }
  };
  for (size_t i = 0; i + 1 < bytes.size(); i += 2) {
    uint32_t u = bytes[i] | (bytes[i + 1] << 8);
    if (u == 0) break;
    if (u >= 0xD800 && u <= 0xDBFF && i + 3 < bytes.size()) {
      uint32_t lo = bytes[i + 2] | (bytes[i + 3] << 8);
      if (lo >= 0xDC00 && lo <= 0xDFFF) {
        put(0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00));
        i += 2;
        continue;
      }
    }
    put(u >= 0xD800 && u <= 0xDFFF ? 0xFFFD : u);
  }
  return out;
}

std::optional<std::string> AsciiText(std::span<const uint8_t> bytes) {
  size_t n = bytes.size();
  while (n > 0 && bytes[n - 1] == 0) --n;
  std::string out;
  out.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    uint8_t c = bytes[i];
    if ((c < 0x20 && c != '\n' && c != '\r' && c != '\t') || c >= 0x7F) return std::nullopt;
    out.push_back(static_cast<char>(c));
  }
  return out;
}

}  // namespace attest::eventlog
