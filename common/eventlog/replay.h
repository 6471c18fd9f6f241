// Replay of a parsed event log into final PCR values per bank, comparison
// with quoted PCR values, and the binding of event contents to their digests.
//
// Pure code (OpenSSL digests only); thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "common/eventlog/event_log.h"

namespace attest::eventlog {

// bank (TPM_ALG_ID) -> PCR index -> value.
using PcrValues = std::map<uint16_t, std::map<uint32_t, Bytes>>;

// A verification failure, as carried into verdicts. `id` is stable
// ("measured_boot.invalid_pcr_7", "measured_boot.policy.db", ...); `context`
// holds machine-readable details (event index, bank, expected, actual).
struct Failure {
  std::string id;
  std::string message;
  std::map<std::string, std::string> context;
};

// Hash of `data` with a known TPM algorithm (sha1/256/384/512, sm3_256).
Result<Bytes> HashBytes(uint16_t alg_id, std::span<const uint8_t> data);

// Final PCR values for every bank of the log whose algorithm is known. Only
// PCRs the log extends appear (PCR 0 also when a StartupLocality event sets
// its initial value). PCRs start at zero; a StartupLocality EV_NO_ACTION
// event sets PCR 0's initial value to 00..0L (L = locality). EV_NO_ACTION
// events are never extended. Fails on an inconsistent log (a locality event
// after PCR 0 was extended, or a second one).
Result<PcrValues> Replay(const EventLog& log);

// PCRs whose values the measured-boot log determines (SRTM: 0-7).
inline const std::vector<uint32_t> kBootPcrs = {0, 1, 2, 3, 4, 5, 6, 7};

// Compares replayed values with quoted ones for every quoted bank and every
// quoted PCR in `pcrs`. A PCR the log does not extend is expected to be
// zero. A quoted bank the log lacks gives "measured_boot.bank_not_in_log";
// a differing PCR gives "measured_boot.invalid_pcr_N" (context: bank, pcr,
// expected = replayed, actual = quoted).
std::vector<Failure> ComparePcrs(const PcrValues& replayed, const PcrValues& quoted,
                                 const std::vector<uint32_t>& pcrs = kBootPcrs);

// Checks that each event whose digest the PC Client spec defines as the hash
// of its event data (EV_SEPARATOR, EV_EFI_VARIABLE_DRIVER_CONFIG,
// EV_EFI_VARIABLE_AUTHORITY, EV_EFI_ACTION, EV_EFI_GPT_EVENT,
// EV_S_CRTM_VERSION) has matching digests in every known bank, so that a
// policy judging event contents judges what was extended. Failure id
// "measured_boot.event_digest_mismatch" with the event index.
std::vector<Failure> VerifyEventDigests(const EventLog& log);

// True for the types VerifyEventDigests binds to their data. The digest of
// any other extended event measures something outside the log (code, a
// table, a blob), so only a policy can judge it.
bool DigestBoundToData(uint32_t type);

}  // namespace attest::eventlog
