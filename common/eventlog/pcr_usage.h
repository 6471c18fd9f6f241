// Where the TCG PC Client Platform Firmware Profile (PFP 1.06, section 10.4.1
// and the PCR usage tables of section 3.3.4) lets firmware put each event
// type, and which (bank, PCR) pairs of a log a decision may read.
//
// Why: a replay that matches the quote proves the *digests* in a PCR, not the
// event types or PCR indexes the log claims for them. A boot application in
// PCR 4 relabelled EV_POST_CODE replays to the same PCR 4, and a check that
// reads only EV_EFI_BOOT_SERVICES_APPLICATION events would not judge it. So
// every check reads only its own (type, PCR) pairs from PCRs the quote
// covered and the replay matched, and a type that does not belong in its PCR
// fails the log.
//
// Pure code; thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <vector>

#include "common/eventlog/event_log.h"
#include "common/eventlog/replay.h"

namespace attest::eventlog {

// PCRs whose event types the PFP governs (0-7); the OS owns 8 and above.
inline constexpr uint32_t kLastFirmwarePcr = 7;
// GRUB measures its commands and the kernel command line into PCR 8 (EV_IPL).
inline constexpr uint32_t kGrubCommandPcr = 8;

// True when the PFP allows `type` in firmware PCR `pcr` (0-7). EV_NO_ACTION
// (never extended) is allowed everywhere; PCRs above 7 allow any type.
bool EventTypeAllowedInPcr(uint32_t type, uint32_t pcr);

// "measured_boot.event_type_not_allowed" for each extended event of a type
// the PFP does not put in its PCR (0-7); context: event, pcr, type. And
// "measured_boot.event_after_separator" for configuration measured after
// its PCR's EV_SEPARATOR (EV_EFI_VARIABLE_DRIVER_CONFIG in PCRs 0-7, the
// S-CRTM in PCR 0): firmware measures those before it hands over to the OS,
// so one after the separator was extended from the running OS (root can
// extend PCR 7 with a "SecureBoot=01" of its own).
std::vector<Failure> CheckPcrUsage(const EventLog& log);

// Per event index: the event comes after the first EV_SEPARATOR of its PCR
// (PCRs 0-7 only; always false for other PCRs).
std::vector<bool> AfterSeparator(const EventLog& log);

// Every extended event of `pcr` is `type` with its text (after the first
// ": ", GRUB's "grub_cmd: " / "kernel_cmdline: " tags) hashing to each of
// its digests; "measured_boot.event_type_not_allowed" or
// "measured_boot.event_digest_mismatch" for each that is not. GRUB measures
// only such events into PCR 8; checking them all keeps a command line from
// hiding behind another type or tag.
std::vector<Failure> CheckTextEvents(const EventLog& log, uint32_t pcr, uint32_t type);

// The (bank, PCR) pairs whose replayed value equals the quoted one. Events in
// other PCRs are never read by a decision. Offline() is for checking a log
// without a quote (attestctl eventlog check): every PCR counts as verified,
// and the result says only that the log is self-consistent.
class VerifiedPcrs {
 public:
  static VerifiedPcrs Offline();
  // Pairs of `pcrs` quoted in a bank the log also carries, whose values match.
  static VerifiedPcrs FromReplay(const PcrValues& replayed, const PcrValues& quoted,
                                 const std::vector<uint32_t>& pcrs);

  void Add(uint16_t bank, uint32_t pcr) { banks_[bank].insert(pcr); }
  // Verified in at least one bank: the events' contents may be read (contents
  // are bound to the digests of every bank by VerifyEventDigests).
  bool Covers(uint32_t pcr) const;
  // Verified in this bank: its digests may be judged.
  bool Covers(uint16_t bank, uint32_t pcr) const;
  bool offline() const { return offline_; }

 private:
  bool offline_ = false;
  std::map<uint16_t, std::set<uint32_t>> banks_;
};

}  // namespace attest::eventlog
