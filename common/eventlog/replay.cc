#include "common/eventlog/replay.h"

#include <algorithm>
#include <memory>

#include "common/eventlog/errors.h"
#include "common/eventlog/failure_ids.h"
#include "common/eventlog/hasher.h"

namespace attest::eventlog {
bool DigestBoundToData(uint32_t type) {
  switch (type) {
    case ev::kSeparator:
    case ev::kEfiVariableDriverConfig:
    case ev::kEfiVariableAuthority:
    case ev::kEfiAction:
    case ev::kEfiGptEvent:
    case ev::kSCrtmVersion:
      return true;
  }
  return false;
}

Result<Bytes> HashBytes(uint16_t alg_id, std::span<const uint8_t> data) {
  internal::Hasher hasher;
  if (!hasher.Supports(alg_id)) {
    return MakeError(errc::unsupported, "no digest implementation for " + HashAlgName(alg_id));
  }
  Bytes out;
  if (!hasher.Hash(alg_id, data, {}, out)) {
    return MakeError(errc::crypto_error, "OpenSSL digest failed for " + HashAlgName(alg_id));
  }
  return out;
}

Result<PcrValues> Replay(const EventLog& log) {
  internal::Hasher hasher;
  PcrValues out;
  std::optional<uint8_t> locality;
  bool pcr0_extended = false;
  for (const auto& a : log.spec.algorithms) {
    if (hasher.Supports(a.alg_id)) out[a.alg_id];
  }
  for (const Event& e : log.events) {
    if (e.index == 0) continue;  // the Spec ID header
    if (e.type == ev::kNoAction) {
      if (e.startup_locality) {
        if (locality) {
          return MakeError(errc::inconsistent, "event " + std::to_string(e.index) +
                                                   " (byte offset " + std::to_string(e.offset) +
                                                   "): second StartupLocality event");
        }
        if (pcr0_extended) {
          return MakeError(errc::inconsistent,
                           "event " + std::to_string(e.index) + " (byte offset " +
                               std::to_string(e.offset) +
                               "): StartupLocality event after PCR 0 was extended");
        }
        locality = *e.startup_locality;
        for (auto& [alg_id, bank] : out) {
          Bytes init(HashAlgSize(alg_id), 0);
          init.back() = *locality;
          bank[0] = std::move(init);
        }
      }
      continue;
    }
    if (e.pcr == 0) pcr0_extended = true;
    for (const Digest& d : e.digests) {
      auto bank = out.find(d.alg_id);
      if (bank == out.end()) continue;  // unknown algorithm: not replayed
      auto [it, fresh] = bank->second.try_emplace(e.pcr);
      if (fresh) it->second.assign(HashAlgSize(d.alg_id), 0);
      if (!hasher.Hash(d.alg_id, it->second, d.value, it->second)) {
        return MakeError(errc::crypto_error,
                         "OpenSSL digest failed while extending PCR " + std::to_string(e.pcr));
      }
    }
  }
  return out;
}

std::vector<Failure> ComparePcrs(const PcrValues& replayed, const PcrValues& quoted,
                                 const std::vector<uint32_t>& pcrs) {
  std::vector<Failure> failures;
  for (const auto& [alg_id, qbank] : quoted) {
    auto rbank = replayed.find(alg_id);
    if (rbank == replayed.end()) {
      failures.push_back(
          {failure_id::kBankNotInLog,
           "the quote has a " + HashAlgName(alg_id) + " bank that the event log does not carry",
           {{"bank", HashAlgName(alg_id)}}});
      continue;
    }
    for (const auto& [pcr, actual] : qbank) {
      if (std::find(pcrs.begin(), pcrs.end(), pcr) == pcrs.end()) continue;
      auto r = rbank->second.find(pcr);
      Bytes expected = r != rbank->second.end() ? r->second : Bytes(HashAlgSize(alg_id), 0);
      if (expected != actual) {
        failures.push_back({failure_id::kInvalidPcrPrefix + std::to_string(pcr),
                            "PCR " + std::to_string(pcr) + " (" + HashAlgName(alg_id) +
                                ") differs from the event log replay",
                            {{"bank", HashAlgName(alg_id)},
                             {"pcr", std::to_string(pcr)},
                             {"expected", ToHex(expected)},
                             {"actual", ToHex(actual)}}});
      }
    }
  }
  return failures;
}

std::vector<Failure> VerifyEventDigests(const EventLog& log) {
  std::vector<Failure> failures;
  internal::Hasher hasher;
  Bytes computed;
  for (const Event& e : log.events) {
    if (e.index == 0 || !DigestBoundToData(e.type)) continue;
    for (const Digest& d : e.digests) {
      if (!hasher.Supports(d.alg_id)) continue;
      bool ok = hasher.Hash(d.alg_id, e.data, {}, computed);
      if (!ok || computed != d.value) {
        failures.push_back({failure_id::kEventDigestMismatch,
                            "event " + std::to_string(e.index) + " (" + EventTypeName(e.type) +
                                ", PCR " + std::to_string(e.pcr) + "): " + HashAlgName(d.alg_id) +
                                " digest is not the hash of the event data",
                            {{"event", std::to_string(e.index)},
                             {"bank", HashAlgName(d.alg_id)},
                             {"expected", ok ? ToHex(computed) : ""},
                             {"actual", ToHex(d.value)}}});
        break;
      }
    }
  }
  return failures;
}

}  // namespace attest::eventlog
