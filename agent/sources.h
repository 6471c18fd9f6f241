// Where the evidence besides the quote comes from: the boot time
// (/proc/stat btime), the IMA measurement list (binary or ascii format, read
// from an entry offset) and the UEFI event log (binary_bios_measurements).
//
// The binary list is the default because the kernel writes a file name into
// the ascii list as is: a name with a newline splits an entry there, while
// binary records are length-prefixed and carry any bytes.
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
#include <string_view>
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
  // `format`: IMA_LOG_FORMAT_ASCII (ascii_runtime_measurements lines) or
  // IMA_LOG_FORMAT_BINARY (binary_runtime_measurements records: u32 pcr |
  // template hash | u32 name length | name | u32 data length | data; the
  // "ima" template: 20-byte digest | u32 length | name). Binary u32 fields
  // are read little-endian, the layout the verifier parses (big-endian
  // machines boot with ima_canonical_fmt). The template hash is sha1 unless
  // the file name ends in _sha256, _sha384 or _sha512 (the per-bank lists of
  // newer kernels).
  // `max_batch_bytes`: at most this much of the list goes into one
  // evidence, in whole entries (the first one always goes); the gateway's
  // next offset continues where it stopped. An entry over 256 KiB is an
  // error.
  ImaReader(std::string path, v1::ImaLogFormat format, size_t max_batch_bytes);

  struct Snapshot {
    uint64_t total_entries = 0;  // entries in the list now
    v1::ImaEntries entries;      // from the requested offset, bounded
    bool available = false;      // false: the list could not be read (no IMA)
  };

  // Counts the list and collects the entries from `offset` on. A missing
  // file is not an error (no IMA on this machine): an empty snapshot.
  Result<Snapshot> Read(uint64_t offset) { return Read(offset, max_batch_bytes_); }
  // Same with a tighter bound for this evidence (the gateway's body limit
  // minus what else the evidence carries); never above max_batch_bytes.
  Result<Snapshot> Read(uint64_t offset, size_t max_bytes);
  // Forgets the position cache (a new boot starts a new list).
  void Reset() { checkpoints_.clear(); }

  // Entries between checkpoints (byte positions remembered in the list).
  static constexpr uint64_t kCheckpoint = 1024;

 private:
  // Length of the entry at the start of `buf`; 0 when `buf` holds only part
  // of it (the kernel is still writing, or the chunk ended). `index` names
  // the entry in errors.
  Result<size_t> EntryLength(std::string_view buf, uint64_t index) const;

  std::string path_;
  v1::ImaLogFormat format_;
  v1::HashAlgorithm binary_hash_;  // template hash of binary records
  size_t binary_hash_size_;
  size_t max_batch_bytes_;
  std::vector<uint64_t> checkpoints_;  // [k]: byte where entry k * kCheckpoint starts
};

}  // namespace attest::agent
