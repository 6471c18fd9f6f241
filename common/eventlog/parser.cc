// Framing of the log: the SHA-1 format header with the Spec ID event, then
// crypto-agile events. Content decoding lives in decode.cc.
#include <algorithm>
#include <cstring>
#include <string>

#include "common/eventlog/errors.h"
#include "common/eventlog/event_log.h"
#include "common/eventlog/reader.h"

namespace attest::eventlog {
namespace {

using internal::Reader;

constexpr size_t kMaxAlgorithms = 16;
constexpr size_t kMaxDigestSize = 64;  // TPM_MAX_DIGEST_BUFFER for SHA-512
constexpr char kSpecIdSignature[16] = "Spec ID Event03";

Error Truncated(size_t offset, const std::string& what, size_t need, size_t have) {
  return MakeError(errc::truncated, "byte offset " + std::to_string(offset) + ": expected " + what +
                                        " (" + std::to_string(need) + " bytes), only " +
                                        std::to_string(have) + " left");
}

Error At(errc code, size_t offset, const std::string& what) {
  return MakeError(code, "byte offset " + std::to_string(offset) + ": " + what);
}

std::string EventLabel(size_t index) { return "event " + std::to_string(index); }

Result<SpecIdEvent> ParseSpecId(std::span<const uint8_t> data, size_t base) {
  Reader r(data, base);
  std::span<const uint8_t> sig;
  if (!r.Take(16, &sig)) return Truncated(r.offset(), "Spec ID event signature", 16, r.remaining());
  if (std::memcmp(sig.data(), kSpecIdSignature, 16) != 0) {
    std::string got(reinterpret_cast<const char*>(sig.data()),
                    strnlen(reinterpret_cast<const char*>(sig.data()), 16));
    bool printable =
        std::all_of(got.begin(), got.end(), [](char c) { return c >= 0x20 && c < 0x7f; });
    if (got.rfind("Spec ID Event", 0) == 0) {
      return At(errc::unsupported, base,
                "Spec ID signature \"" + got +
                    "\": only the crypto-agile format (\"Spec ID Event03\") is supported");
    }
    return At(errc::malformed, base,
              "header event is not a Spec ID event: signature " +
                  (printable ? "\"" + got + "\"" : "0x" + ToHex(sig)) +
                  ", expected \"Spec ID Event03\"");
  }
  SpecIdEvent spec;
  uint32_t n = 0;
  if (!r.U32(&spec.platform_class) || !r.U8(&spec.spec_version_minor) ||
      !r.U8(&spec.spec_version_major) || !r.U8(&spec.spec_errata) || !r.U8(&spec.uintn_size)) {
    return Truncated(r.offset(), "Spec ID event fields", 8, r.remaining());
  }
  size_t n_at = r.offset();
  if (!r.U32(&n)) return Truncated(r.offset(), "Spec ID numberOfAlgorithms", 4, r.remaining());
  if (n == 0 || n > kMaxAlgorithms) {
    return At(errc::malformed, n_at,
              "Spec ID numberOfAlgorithms is " + std::to_string(n) + ", expected 1.." +
                  std::to_string(kMaxAlgorithms));
  }
  for (uint32_t i = 0; i < n; ++i) {
    AlgorithmSize a;
    size_t at = r.offset();
    if (!r.U16(&a.alg_id) || !r.U16(&a.digest_size)) {
      return Truncated(at, "Spec ID digest size entry " + std::to_string(i), 4,
                       data.size() - (at - base));
    }
    size_t known = HashAlgSize(a.alg_id);
    if (known != 0 && known != a.digest_size) {
      return At(errc::inconsistent, at,
                "Spec ID declares " + HashAlgName(a.alg_id) + " with digest size " +
                    std::to_string(a.digest_size) + ", expected " + std::to_string(known));
    }
    if (a.digest_size == 0 || a.digest_size > kMaxDigestSize) {
      return At(errc::malformed, at,
                "Spec ID digest size " + std::to_string(a.digest_size) + " for " +
                    HashAlgName(a.alg_id) + ", expected 1.." + std::to_string(kMaxDigestSize));
    }
    for (const auto& prev : spec.algorithms) {
      if (prev.alg_id == a.alg_id) {
        return At(errc::inconsistent, at, "Spec ID declares " + HashAlgName(a.alg_id) + " twice");
      }
    }
    spec.algorithms.push_back(a);
  }
  uint8_t vendor_size = 0;
  if (!r.U8(&vendor_size)) return Truncated(r.offset(), "Spec ID vendorInfoSize", 1, r.remaining());
  std::span<const uint8_t> vendor;
  if (!r.Take(vendor_size, &vendor))
    return Truncated(r.offset(), "Spec ID vendorInfo", vendor_size, r.remaining());
  spec.vendor_info.assign(vendor.begin(), vendor.end());
  if (!r.done()) {
    return At(errc::inconsistent, r.offset(),
              std::to_string(r.remaining()) +
                  " bytes after the Spec ID event's vendorInfo, expected none");
  }
  return spec;
}

// TCG_PCR_EVENT (SHA-1 format) carrying the Spec ID event.
Result<Event> ParseHeader(std::span<const uint8_t> log, Reader& r, const ParseLimits& limits,
                          SpecIdEvent* spec) {
  Event e;
  e.offset = r.offset();
  if (!r.U32(&e.pcr) || !r.U32(&e.type))
    return Truncated(e.offset, "TCG_PCR_EVENT header (PCR index, event type)", 8, r.remaining());
  if (e.pcr != 0) {
    return At(errc::malformed, e.offset,
              "header event PCR index is " + std::to_string(e.pcr) +
                  ", expected 0 (not a TCG event log; it starts with 0x" +
                  ToHex(log.first(std::min<size_t>(log.size(), 8))) + ")");
  }
  if (e.type != ev::kNoAction) {
    return At(errc::malformed, e.offset + 4,
              "header event type is " + EventTypeName(e.type) +
                  ", expected EV_NO_ACTION (not a TCG event log)");
  }
  std::span<const uint8_t> digest;
  if (!r.Take(20, &digest))
    return Truncated(r.offset(), "header event SHA-1 digest", 20, r.remaining());
  e.digests.push_back({alg::kSha1, Bytes(digest.begin(), digest.end())});
  uint32_t size = 0;
  size_t size_at = r.offset();
  if (!r.U32(&size)) return Truncated(size_at, "header event size", 4, r.remaining());
  if (size > limits.max_event_bytes) {
    return At(errc::too_large, size_at,
              "header event size " + std::to_string(size) + " exceeds limit " +
                  std::to_string(limits.max_event_bytes));
  }
  e.data_offset = r.offset();
  std::span<const uint8_t> data;
  if (!r.Take(size, &data))
    return Truncated(e.data_offset, "header event data", size, r.remaining());
  e.data.assign(data.begin(), data.end());
  e.size = r.offset() - e.offset;
  auto parsed = ParseSpecId(data, e.data_offset);
  if (!parsed) return parsed.error();
  *spec = std::move(parsed).value();
  return e;
}

// TCG_PCR_EVENT2.
Result<Event> ParseEvent2(Reader& r, const SpecIdEvent& spec, const ParseLimits& limits,
                          size_t index) {
  Event e;
  e.index = index;
  e.offset = r.offset();
  const std::string label = EventLabel(index);
  if (!r.U32(&e.pcr) || !r.U32(&e.type)) {
    return Truncated(e.offset, label + " header (PCR index, event type)", 8, r.remaining());
  }
  if (e.pcr > 23) {
    return At(errc::malformed, e.offset,
              label + " PCR index is " + std::to_string(e.pcr) + ", expected 0..23");
  }
  uint32_t count = 0;
  size_t count_at = r.offset();
  if (!r.U32(&count)) return Truncated(count_at, label + " digest count", 4, r.remaining());
  if (count != spec.algorithms.size()) {
    return At(errc::inconsistent, count_at,
              label + " has " + std::to_string(count) +
                  " digests, expected one per declared bank (" +
                  std::to_string(spec.algorithms.size()) + ")");
  }
  e.digests.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    size_t at = r.offset();
    uint16_t alg_id = 0;
    if (!r.U16(&alg_id))
      return Truncated(at, label + " digest " + std::to_string(i) + " algorithm", 2, r.remaining());
    auto decl = std::find_if(spec.algorithms.begin(), spec.algorithms.end(),
                             [alg_id](const AlgorithmSize& a) { return a.alg_id == alg_id; });
    if (decl == spec.algorithms.end()) {
      return At(errc::inconsistent, at,
                label + " carries a " + HashAlgName(alg_id) +
                    " digest, a bank the Spec ID event does not declare");
    }
    for (const auto& d : e.digests) {
      if (d.alg_id == alg_id)
        return At(errc::inconsistent, at,
                  label + " carries two " + HashAlgName(alg_id) + " digests");
    }
    std::span<const uint8_t> value;
    if (!r.Take(decl->digest_size, &value)) {
      return Truncated(r.offset(), label + " " + HashAlgName(alg_id) + " digest", decl->digest_size,
                       r.remaining());
    }
    e.digests.push_back({alg_id, Bytes(value.begin(), value.end())});
  }
  uint32_t size = 0;
  size_t size_at = r.offset();
  if (!r.U32(&size)) return Truncated(size_at, label + " event size", 4, r.remaining());
  if (size > limits.max_event_bytes) {
    return At(errc::too_large, size_at,
              label + " event size " + std::to_string(size) + " exceeds limit " +
                  std::to_string(limits.max_event_bytes));
  }
  e.data_offset = r.offset();
  std::span<const uint8_t> data;
  if (!r.Take(size, &data))
    return Truncated(e.data_offset, label + " event data", size, r.remaining());
  e.data.assign(data.begin(), data.end());
  e.size = r.offset() - e.offset;
  DecodeEventContent(e);
  return e;
}

}  // namespace

const Digest* Event::DigestFor(uint16_t alg_id) const {
  for (const auto& d : digests) {
    if (d.alg_id == alg_id) return &d;
  }
  return nullptr;
}

Result<EventLog> ParseEventLog(std::span<const uint8_t> log, const ParseLimits& limits) {
  if (log.empty())
    return MakeError(errc::truncated, "empty event log (0 bytes): expected a TCG_PCR_EVENT header");
  if (log.size() > limits.max_log_bytes) {
    return MakeError(errc::too_large, "event log of " + std::to_string(log.size()) +
                                          " bytes exceeds limit " +
                                          std::to_string(limits.max_log_bytes));
  }
  Reader r(log);
  EventLog out;
  auto header = ParseHeader(log, r, limits, &out.spec);
  if (!header) return header.error();
  out.events.push_back(std::move(header).value());
  while (!r.done()) {
    if (out.events.size() >= limits.max_events) {
      return At(errc::too_large, r.offset(),
                "more than " + std::to_string(limits.max_events) + " events");
    }
    auto e = ParseEvent2(r, out.spec, limits, out.events.size());
    if (!e) return e.error();
    out.events.push_back(std::move(e).value());
  }
  return out;
}

}  // namespace attest::eventlog
