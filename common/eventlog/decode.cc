// Best-effort decoding of event contents by event type. Any failure leaves
// the raw bytes in place and records the reason in Event::decode_error.
#include <cstdio>
#include <cstring>
#include <string>

#include "common/eventlog/event_log.h"
#include "common/eventlog/reader.h"

namespace attest::eventlog {
namespace {

using internal::Reader;

constexpr char kStartupLocality[16] = "StartupLocality";  // incl. the NUL
constexpr size_t kMaxSignatures = 100000;
constexpr size_t kMaxPartitions = 1024;

Guid ReadGuid(std::span<const uint8_t> s) {
  Guid g{};
  std::memcpy(g.data(), s.data(), g.size());
  return g;
}

bool TakeGuid(Reader& r, Guid* g) {
  std::span<const uint8_t> s;
  if (!r.Take(16, &s)) return false;
  *g = ReadGuid(s);
  return true;
}

std::string OffsetMsg(const Reader& r, const std::string& what) {
  return "at byte offset " + std::to_string(r.offset()) + ": " + what;
}

// EFI_SIGNATURE_LIST sequence (PK, KEK, db, dbx contents).
bool DecodeSignatureLists(std::span<const uint8_t> data, size_t base,
                          std::vector<SignatureList>* out, std::string* err) {
  Reader r(data, base);
  size_t total = 0;
  while (!r.done()) {
    SignatureList list;
    uint32_t list_size = 0, header_size = 0, sig_size = 0;
    size_t start = r.pos();
    if (!TakeGuid(r, &list.type) || !r.U32(&list_size) || !r.U32(&header_size) ||
        !r.U32(&sig_size)) {
      *err = OffsetMsg(r, "truncated EFI_SIGNATURE_LIST header (28 bytes)");
      return false;
    }
    if (list_size > data.size() - start || list_size < 28 || header_size > list_size - 28) {
      *err = OffsetMsg(r, "EFI_SIGNATURE_LIST size " + std::to_string(list_size) +
                              " inconsistent with header size " + std::to_string(header_size) +
                              " and the " + std::to_string(data.size() - start) + " bytes left");
      return false;
    }
    size_t body = list_size - 28 - header_size;
    if (sig_size < 16 || body % sig_size != 0) {
      *err =
          OffsetMsg(r, "EFI_SIGNATURE_LIST signature size " + std::to_string(sig_size) +
                           " does not divide the list body of " + std::to_string(body) + " bytes");
      return false;
    }
    r.Skip(header_size);
    size_t n = body / sig_size;
    total += n;
    if (total > kMaxSignatures) {
      *err = OffsetMsg(r, "more than " + std::to_string(kMaxSignatures) + " signatures");
      return false;
    }
    list.signatures.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      SignatureData sd;
      std::span<const uint8_t> d;
      TakeGuid(r, &sd.owner);  // bounds established above
      r.Take(sig_size - 16, &d);
      sd.data.assign(d.begin(), d.end());
      list.signatures.push_back(std::move(sd));
    }
    out->push_back(std::move(list));
  }
  return true;
}

bool DecodeVariable(Event& e, std::string* err) {
  Reader r(e.data, e.data_offset);
  UefiVariable v;
  uint64_t name_len = 0, data_len = 0;
  if (!TakeGuid(r, &v.vendor) || !r.U64(&name_len) || !r.U64(&data_len)) {
    *err = OffsetMsg(r, "truncated UEFI_VARIABLE_DATA header (32 bytes)");
    return false;
  }
  std::span<const uint8_t> name, data;
  if (name_len > r.remaining() / 2 || !r.Take(name_len * 2, &name)) {
    *err = OffsetMsg(r, "UnicodeNameLength " + std::to_string(name_len) + " exceeds the " +
                            std::to_string(r.remaining()) + " bytes left");
    return false;
  }
  size_t data_at = r.offset();
  if (!r.Take(data_len, &data)) {
    *err = OffsetMsg(r, "VariableDataLength " + std::to_string(data_len) + " exceeds the " +
                            std::to_string(r.remaining()) + " bytes left");
    return false;
  }
  v.name = Utf16LeToUtf8(name).value_or("");
  v.data.assign(data.begin(), data.end());
  bool global = v.vendor == guid::kEfiGlobalVariable;
  bool secdb = v.vendor == guid::kImageSecurityDatabase;
  if (e.type == ev::kEfiVariableDriverConfig && ((global && (v.name == "PK" || v.name == "KEK")) ||
                                                 (secdb && (v.name == "db" || v.name == "dbx")))) {
    std::vector<SignatureList> lists;
    if (!DecodeSignatureLists(data, data_at, &lists, err)) {
      *err = v.name + ": " + *err;
      e.variable = std::move(v);  // name and data stay available for the policy's message
      return false;
    }
    v.signature_lists = std::move(lists);
  }
  e.variable = std::move(v);
  return true;
}

bool DecodeImageLoad(Event& e, std::string* err) {
  Reader r(e.data, e.data_offset);
  ImageLoad img;
  uint64_t dp_len = 0;
  if (!r.U64(&img.location) || !r.U64(&img.length) || !r.U64(&img.link_time_address) ||
      !r.U64(&dp_len)) {
    *err = OffsetMsg(r, "truncated UEFI_IMAGE_LOAD_EVENT header (32 bytes)");
    return false;
  }
  std::span<const uint8_t> dp;
  if (!r.Take(dp_len, &dp)) {
    *err = OffsetMsg(r, "LengthOfDevicePath " + std::to_string(dp_len) + " exceeds the " +
                            std::to_string(r.remaining()) + " bytes left");
    return false;
  }
  img.device_path.assign(dp.begin(), dp.end());
  img.device_path_text = RenderDevicePath(dp);
  e.image = std::move(img);
  return true;
}

bool DecodeBlob(Event& e, bool v2, std::string* err) {
  Reader r(e.data, e.data_offset);
  FirmwareBlob b;
  if (v2) {
    uint8_t n = 0;
    std::span<const uint8_t> desc;
    if (!r.U8(&n) || !r.Take(n, &desc)) {
      *err = OffsetMsg(r, "truncated UEFI_PLATFORM_FIRMWARE_BLOB2 description");
      return false;
    }
    b.description = AsciiText(desc).value_or("0x" + ToHex(desc));
  }
  if (!r.U64(&b.base) || !r.U64(&b.length)) {
    *err = OffsetMsg(r, "truncated firmware blob (BlobBase, BlobLength: 16 bytes)");
    return false;
  }
  e.blob = std::move(b);
  return true;
}

bool DecodeGpt(Event& e, std::string* err) {
  Reader r(e.data, e.data_offset);
  std::span<const uint8_t> sig;
  uint32_t revision = 0, header_size = 0, crc = 0, reserved = 0, num_entries = 0, entry_size = 0,
           entries_crc = 0;
  uint64_t my_lba = 0, alt_lba = 0, first = 0, last = 0, entry_lba = 0, n_parts = 0;
  GptData gpt;
  if (!r.Take(8, &sig) || !r.U32(&revision) || !r.U32(&header_size) || !r.U32(&crc) ||
      !r.U32(&reserved) || !r.U64(&my_lba) || !r.U64(&alt_lba) || !r.U64(&first) || !r.U64(&last) ||
      !TakeGuid(r, &gpt.disk_guid) || !r.U64(&entry_lba) || !r.U32(&num_entries) ||
      !r.U32(&entry_size) || !r.U32(&entries_crc)) {
    *err = OffsetMsg(r, "truncated EFI_PARTITION_TABLE_HEADER (92 bytes)");
    return false;
  }
  if (std::memcmp(sig.data(), "EFI PART", 8) != 0) {
    *err = "GPT header signature is not \"EFI PART\"";
    return false;
  }
  // The header may be larger than the 92 bytes defined; UEFI_GPT_DATA embeds
  // exactly the 92-byte structure, so nothing is skipped here.
  if (!r.U64(&n_parts)) {
    *err = OffsetMsg(r, "truncated NumberOfPartitions");
    return false;
  }
  if (entry_size < 128 || n_parts > kMaxPartitions || n_parts * entry_size != r.remaining()) {
    *err =
        OffsetMsg(r, std::to_string(n_parts) + " partitions of " + std::to_string(entry_size) +
                         " bytes do not fill the " + std::to_string(r.remaining()) + " bytes left");
    return false;
  }
  for (uint64_t i = 0; i < n_parts; ++i) {
    std::span<const uint8_t> entry;
    r.Take(entry_size, &entry);
    Reader p(entry);
    GptPartition part;
    std::span<const uint8_t> name;
    TakeGuid(p, &part.type);
    TakeGuid(p, &part.unique);
    p.U64(&part.first_lba);
    p.U64(&part.last_lba);
    p.U64(&part.attributes);
    p.Take(72, &name);
    part.name = Utf16LeToUtf8(name).value_or("");
    gpt.partitions.push_back(std::move(part));
  }
  e.gpt = std::move(gpt);
  return true;
}

}  // namespace

void DecodeEventContent(Event& e) {
  e.startup_locality.reset();
  e.text.reset();
  e.blob.reset();
  e.variable.reset();
  e.image.reset();
  e.gpt.reset();
  e.separator.reset();
  e.decode_error.clear();
  std::string err;
  bool ok = true;
  switch (e.type) {
    case ev::kNoAction:
      if (e.data.size() == 17 && std::memcmp(e.data.data(), kStartupLocality, 16) == 0) {
        e.startup_locality = e.data[16];
      } else if (auto t = AsciiText(std::span(e.data).first(std::min<size_t>(e.data.size(), 16)))) {
        // Other EV_NO_ACTION events (e.g. "SP800-155 Event") start with a signature.
        e.text = *t;
      }
      break;
    case ev::kSCrtmVersion: {
      // Usually a UCS-2 string; some platforms log a GUID or bytes.
      auto u = e.data.size() % 2 == 0 && !e.data.empty() ? Utf16LeToUtf8(e.data) : std::nullopt;
      bool printable = u && !u->empty();
      if (printable) {
        for (char c : *u) printable = printable && static_cast<unsigned char>(c) >= 0x20;
      }
      e.text = printable ? *u : "0x" + ToHex(e.data);
      break;
    }
    case ev::kEfiPlatformFirmwareBlob:
    case ev::kPostCode:
      if (e.type == ev::kPostCode && e.data.size() != 16) {
        e.text = AsciiText(e.data);
        break;
      }
      ok = DecodeBlob(e, false, &err);
      break;
    case ev::kEfiPlatformFirmwareBlob2:
      ok = DecodeBlob(e, true, &err);
      break;
    case ev::kEfiVariableDriverConfig:
    case ev::kEfiVariableBoot:
    case ev::kEfiVariableBoot2:
    case ev::kEfiVariableAuthority:
      ok = DecodeVariable(e, &err);
      break;
    case ev::kEfiBootServicesApplication:
    case ev::kEfiBootServicesDriver:
    case ev::kEfiRuntimeServicesDriver:
      ok = DecodeImageLoad(e, &err);
      break;
    case ev::kSeparator:
      if (e.data.size() == 4) {
        e.separator = static_cast<uint32_t>(e.data[0] | e.data[1] << 8 | e.data[2] << 16) |
                      static_cast<uint32_t>(e.data[3]) << 24;
      } else {
        ok = false;
        err = "separator data is " + std::to_string(e.data.size()) + " bytes, expected 4";
      }
      break;
    case ev::kEfiAction:
    case ev::kAction:
    case ev::kIpl:
    case ev::kEventTag:
    case ev::kSCrtmContents:
      e.text = AsciiText(e.data);
      break;
    case ev::kEfiGptEvent:
      ok = DecodeGpt(e, &err);
      break;
    default:
      break;  // kept as raw bytes
  }
  if (!ok) e.decode_error = std::move(err);
}

std::string RenderDevicePath(std::span<const uint8_t> path) {
  Reader r(path);
  std::string out;
  auto append = [&out](const std::string& s) {
    if (!out.empty()) out += "/";
    out += s;
  };
  char buf[96];
  while (!r.done()) {
    uint8_t type = 0, sub = 0;
    uint16_t len = 0;
    if (!r.U8(&type) || !r.U8(&sub) || !r.U16(&len) || len < 4) {
      append("<malformed>");
      break;
    }
    std::span<const uint8_t> body;
    if (!r.Take(len - 4u, &body)) {
      append("<truncated>");
      break;
    }
    if (type == 0x7f && sub == 0xff) break;  // end of the whole path
    if (type == 0x7f) {
      append("|");
      continue;
    }
    if (type == 0x04 && sub == 0x04) {  // media: file path
      append(Utf16LeToUtf8(body).value_or("<bad file path>"));
    } else if (type == 0x04 && sub == 0x01 && body.size() >= 38) {  // media: hard drive
      uint32_t part = body[0] | body[1] << 8 | body[2] << 16 | static_cast<uint32_t>(body[3]) << 24;
      Guid sig = ReadGuid(body.subspan(20, 16));
      std::snprintf(buf, sizeof buf, "HD(%u,%s,%s)", part, body[37] == 2 ? "GPT" : "MBR",
                    body[37] == 2 ? GuidToString(sig).c_str() : "-");
      append(buf);
    } else if (type == 0x04 && sub == 0x06 && body.size() >= 16) {  // media: PIWG firmware file
      append("FvFile(" + GuidToString(ReadGuid(body)) + ")");
    } else if (type == 0x04 && sub == 0x07 && body.size() >= 16) {  // media: PIWG firmware volume
      append("Fv(" + GuidToString(ReadGuid(body)) + ")");
    } else if (type == 0x02 && sub == 0x01 && body.size() >= 8) {  // ACPI
      uint32_t uid = body[4] | body[5] << 8 | body[6] << 16 | static_cast<uint32_t>(body[7]) << 24;
      std::snprintf(buf, sizeof buf, "PciRoot(0x%x)", uid);
      append(buf);
    } else if (type == 0x01 && sub == 0x01 && body.size() >= 2) {  // hardware: PCI
      std::snprintf(buf, sizeof buf, "Pci(0x%x,0x%x)", body[1], body[0]);
      append(buf);
    } else {
      std::snprintf(buf, sizeof buf, "Node(0x%02x,0x%02x)", type, sub);
      append(buf);
    }
  }
  return out;
}

}  // namespace attest::eventlog
