#include "common/eventlog/pcr_usage.h"

#include <algorithm>
#include <initializer_list>

#include "common/eventlog/failure_ids.h"

namespace attest::eventlog {
namespace {

// Bit i set: the type is allowed in PCR i (0-7).
constexpr uint8_t Pcrs(std::initializer_list<uint32_t> pcrs) {
  uint8_t mask = 0;
  for (uint32_t p : pcrs) mask = static_cast<uint8_t>(mask | (1u << p));
  return mask;
}

// PFP 1.06, per event type. Types not listed are not firmware events and
// never belong in PCRs 0-7 (EV_IPL and EV_IPL_PARTITION_DATA are deprecated
// legacy-BIOS types; EV_EVENT_TAG belongs to the OS). PCR 4 admits no
// content-free type besides boot applications (no EV_COMPACT_HASH), so every
// code digest in it is a boot application the policy judges.
uint8_t AllowedPcrs(uint32_t type) {
  switch (type) {
    case ev::kPostCode:
    case ev::kSCrtmContents:
    case ev::kSCrtmVersion:
    case ev::kNonhostInfo:
    case ev::kEfiHcrtmEvent:
      return Pcrs({0});
    case ev::kSeparator:
      return Pcrs({0, 1, 2, 3, 4, 5, 6, 7});
    case ev::kAction:
      return Pcrs({1, 2, 3, 4, 5, 6});
    case ev::kCpuMicrocode:
    case ev::kPlatformConfigFlags:
    case ev::kTableOfDevices:
    case ev::kEfiVariableBoot:
    case ev::kEfiVariableBoot2:
    case ev::kEfiHandoffTables:
    case ev::kEfiHandoffTables2:
      return Pcrs({1});
    case ev::kCompactHash:
      return Pcrs({5, 6, 7});
    case ev::kNonhostCode:
    case ev::kEfiPlatformFirmwareBlob:
    case ev::kEfiPlatformFirmwareBlob2:
    case ev::kEfiSpdmFirmwareBlob:
      return Pcrs({0, 2});
    case ev::kNonhostConfig:
    case ev::kEfiSpdmFirmwareConfig:
      return Pcrs({1, 3});
    case ev::kOmitBootDeviceEvents:
      return Pcrs({4});
    case ev::kEfiVariableDriverConfig:
      return Pcrs({1, 3, 5, 7});
    case ev::kEfiBootServicesApplication:
      return Pcrs({2, 4});
    case ev::kEfiBootServicesDriver:
    case ev::kEfiRuntimeServicesDriver:
      return Pcrs({2});
    case ev::kEfiGptEvent:
      return Pcrs({5});
    case ev::kEfiAction:
      return Pcrs({1, 2, 3, 4, 5, 6, 7});
    case ev::kEfiVariableAuthority:
    case 0x800000E3:  // EV_EFI_SPDM_DEVICE_POLICY
    case 0x800000E4:  // EV_EFI_SPDM_DEVICE_AUTHORITY
      return Pcrs({7});
  }
  return 0;
}

bool ConfigurationBeforeSeparator(uint32_t type, uint32_t pcr) {
  return type == ev::kEfiVariableDriverConfig ||
         (pcr == 0 && (type == ev::kSCrtmVersion || type == ev::kSCrtmContents));
}

Failure EventFailure(const char* id, const Event& e, const std::string& what) {
  return {id,
          "event " + std::to_string(e.index) + ": " + EventTypeName(e.type) + " " + what,
          {{"event", std::to_string(e.index)},
           {"pcr", std::to_string(e.pcr)},
           {"type", EventTypeName(e.type)}}};
}

}  // namespace

bool EventTypeAllowedInPcr(uint32_t type, uint32_t pcr) {
  if (type == ev::kNoAction || pcr > kLastFirmwarePcr) return true;
  return (AllowedPcrs(type) >> pcr) & 1u;
}

std::vector<bool> AfterSeparator(const EventLog& log) {
  std::vector<bool> after(log.events.size(), false);
  bool seen[kLastFirmwarePcr + 1] = {};
  for (size_t i = 0; i < log.events.size(); ++i) {
    const Event& e = log.events[i];
    if (e.index == 0 || e.pcr > kLastFirmwarePcr) continue;
    after[i] = seen[e.pcr];
    if (e.type == ev::kSeparator) seen[e.pcr] = true;
  }
  return after;
}

std::vector<Failure> CheckPcrUsage(const EventLog& log) {
  std::vector<Failure> out;
  const std::vector<bool> after = AfterSeparator(log);
  for (size_t i = 0; i < log.events.size(); ++i) {
    const Event& e = log.events[i];
    if (e.index == 0) continue;
    if (!EventTypeAllowedInPcr(e.type, e.pcr)) {
      out.push_back(EventFailure(failure_id::kEventTypeNotAllowed, e,
                                 "does not belong in PCR " + std::to_string(e.pcr) +
                                     " (TCG PC Client Platform Firmware Profile)"));
    } else if (after[i] && ConfigurationBeforeSeparator(e.type, e.pcr)) {
      out.push_back(EventFailure(failure_id::kEventAfterSeparator, e,
                                 "measured after the separator of PCR " + std::to_string(e.pcr) +
                                     ": extended by the running OS, not by the firmware"));
    }
  }
  return out;
}

std::vector<Failure> CheckTextEvents(const EventLog& log, uint32_t pcr, uint32_t type) {
  std::vector<Failure> out;
  for (const Event& e : log.events) {
    if (e.index == 0 || e.pcr != pcr || e.type == ev::kNoAction) continue;
    if (e.type != type || !e.text) {
      out.push_back(EventFailure(
          failure_id::kEventTypeNotAllowed, e,
          "is not a text " + EventTypeName(type) + " event, in PCR " + std::to_string(pcr)));
      continue;
    }
    const std::string& t = *e.text;
    const size_t tag = t.find(": ");
    const std::string_view hashed =
        tag == std::string::npos ? std::string_view(t) : std::string_view(t).substr(tag + 2);
    const auto* data = reinterpret_cast<const uint8_t*>(hashed.data());
    bool bound = false;
    for (const Digest& d : e.digests) {
      auto h = HashBytes(d.alg_id, std::span<const uint8_t>(data, hashed.size()));
      if (!h) continue;  // not replayed either
      bound = *h == d.value;
      if (!bound) break;
    }
    if (!bound) {
      out.push_back(
          EventFailure(failure_id::kEventDigestMismatch, e, "text is not what was measured"));
    }
  }
  return out;
}

VerifiedPcrs VerifiedPcrs::Offline() {
  VerifiedPcrs v;
  v.offline_ = true;
  return v;
}

VerifiedPcrs VerifiedPcrs::FromReplay(const PcrValues& replayed, const PcrValues& quoted,
                                      const std::vector<uint32_t>& pcrs) {
  VerifiedPcrs v;
  for (const auto& [alg_id, qbank] : quoted) {
    auto rbank = replayed.find(alg_id);
    if (rbank == replayed.end()) continue;
    for (const auto& [pcr, actual] : qbank) {
      if (std::find(pcrs.begin(), pcrs.end(), pcr) == pcrs.end()) continue;
      auto r = rbank->second.find(pcr);
      const Bytes expected = r != rbank->second.end() ? r->second : Bytes(HashAlgSize(alg_id), 0);
      if (expected == actual) v.Add(alg_id, pcr);
    }
  }
  return v;
}

bool VerifiedPcrs::Covers(uint32_t pcr) const {
  if (offline_) return true;
  return std::any_of(banks_.begin(), banks_.end(),
                     [pcr](const auto& b) { return b.second.count(pcr) != 0; });
}

bool VerifiedPcrs::Covers(uint16_t bank, uint32_t pcr) const {
  if (offline_) return true;
  auto it = banks_.find(bank);
  return it != banks_.end() && it->second.count(pcr) != 0;
}

}  // namespace attest::eventlog
