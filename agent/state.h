// The agent's persistent state in its state directory (mode 0700):
//   uuid               the agent UUID when not configured (0600, made once)
//   ak.key             the AK (written by esys::LoadOrCreateAk, 0600)
//   registration.json  per [[servers]] block: registered with which UUID and
//                      AK, and the boot time last attested (0600)
// Files are written to a temp file, fsynced and renamed, so a crash leaves
// either the old or the new content.
//
// A block is keyed by its sorted registrar and verifier URLs: editing a
// block's addresses makes it a new block, which costs one idempotent
// re-registration and nothing else.
//
// Thread-safety: none; the agent's block threads share one StateStore under
// a mutex (Devices::state_mu).
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "agent/config.h"
#include "common/base/result.h"

namespace attest::agent {

struct BlockRecord {
  std::string uuid;            // the identity registered
  std::string ak_name_hex;     // the AK registered (its TPM name)
  bool registered = false;     // activation completed
  int64_t last_boot_time = 0;  // boot time (epoch s) of the last accepted evidence
};

// "r=<url>,<url>;v=<url>,..." with each list sorted.
std::string BlockKey(const ServerBlock& block);

// A random (version 4) UUID. The agent's UUID, configured or saved, must be
// canonical (lower case, common/base/uuid.h IsCanonicalUuid).
Result<std::string> NewUuid();

class StateStore {
 public:
  // Creates `dir` (0700) when absent and loads registration.json if present.
  static Result<StateStore> Open(const std::filesystem::path& dir);

  // `configured` when set (must be a valid UUID); else the saved one; else a
  // new one, saved before it is returned.
  Result<std::string> LoadOrCreateUuid(const std::string& configured);

  std::filesystem::path ak_path() const { return dir_ / "ak.key"; }
  const std::filesystem::path& dir() const { return dir_; }

  BlockRecord Get(const std::string& block_key) const;
  // Updates one block's record and rewrites registration.json.
  Result<void> Put(const std::string& block_key, const BlockRecord& record);

 private:
  explicit StateStore(std::filesystem::path dir) : dir_(std::move(dir)) {}
  Result<void> Load();

  std::filesystem::path dir_;
  std::map<std::string, BlockRecord> blocks_;
};

// Writes `data` to `path` atomically with mode 0600, through a new file at
// `path`.tmp (whatever was there, a link included, is removed first).
Result<void> WriteFileAtomic(const std::filesystem::path& path, const std::string& data);

}  // namespace attest::agent
