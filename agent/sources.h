// Where the evidence besides the quote comes from: the boot time
// (/proc/stat btime), the IMA measurement list (ascii format, read from an
// entry offset) and the UEFI event log (binary_bios_measurements).
//
// Securityfs files have no meaningful size, so everything is read in chunks
// with a byte bound. The IMA list is append-only within a boot: ImaReader
// remembers where the entries it has already counted end, so a round reads
// only what is new (plus what the gateway asks again).
//
// Thread-safety: none; one reader per agent thread.
#pragma once

#include <cstdint>
#include <string>

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
  void Reset() {
    cached_entries_ = 0;
    cached_bytes_ = 0;
  }

 private:
  std::string path_;
  size_t max_batch_bytes_;
  uint64_t cached_entries_ = 0;  // complete lines counted before cached_bytes_
  uint64_t cached_bytes_ = 0;
};

}  // namespace attest::agent
