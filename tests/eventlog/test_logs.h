// Test helpers: the shared UEFI test logs and byte-level edits of events.
#pragma once

#include <filesystem>
#include <string>

#include "common/eventlog/event_log.h"

namespace attest::eventlog::testing {

std::filesystem::path UefiDir();
// binary_bios_measurements (49 KB, sha1+sha256, locality 3, Secure Boot off).
Bytes KeylimeLog();
// mb_log.b64 decoded (19 KB, sha256, Secure Boot on, shim+GRUB+kernel).
Bytes MbLog();
EventLog ParseOrDie(const Bytes& log);

// Rewrites every digest of the event at `e` (as parsed from `log`) with the
// hash of its current data, as a firmware would have measured it.
void RecomputeDigests(Bytes& log, const Event& e);

}  // namespace attest::eventlog::testing
