// Where the evidence besides the quote comes from: the boot time
// (/proc/stat btime), the IMA measurement list (ascii format, read from an
// entry offset) and the UEFI event log (binary_bios_measurements).
//
// Securityfs files have no meaningful size, so everything is read in chunks
// with a byte bound. The IMA list is append-only within a boot: ImaReader
// remembers the byte position of every 1024th entry, so a round reads only
// from near the requested offset (plus what is new), not the whole list.
//
// Thread-safety: none; one reader per agent thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "attest/v1/attestation.pb.h"
#include "common/base/result.h"

namespace attest::agent {

// Boot time in seconds since the epoch: `override_epoch` when non-zero, else
// the btime line of `proc_stat`.
Result<int64_t> BootTime(int64_t override_epoch, const std::string& proc_stat = "/proc/stat");

// Reads a whole file of at most `max_bytes`; a larger file is an error.
Result<std::string> ReadBounded(const std::string& path, size_t max_bytes);

class ImaReader {
 public:
  // `max_batch_bytes`: at most this much list text goes into one evidence;
  // the gateway's next offset continues where it stopped.
  ImaReader(std::string path, size_t max_batch_bytes)
      : path_(std::move(path)), max_batch_bytes_(max_batch_bytes) {}

  struct Snapshot {
    uint64_t total_entries = 0;  // entries in the list now
    v1::ImaEntries entries;      // from the requested offset, bounded
    bool available = false;      // false: the list could not be read (no IMA)
  };

  // Counts the list and collects the entries from `offset` on. A missing
  // file is not an error (no IMA on this machine): an empty snapshot.
  Result<Snapshot> Read(uint64_t offset);
  // Forgets the position cache (a new boot starts a new list).
  void Reset() { checkpoints_.clear(); }

  // Entries between checkpoints (byte positions remembered in the list).
  static constexpr uint64_t kCheckpoint = 1024;

 private:
  std::string path_;
  size_t max_batch_bytes_;
  std::vector<uint64_t> checkpoints_;  // [k]: byte where entry k * kCheckpoint starts
};

}  // namespace attest::agent
