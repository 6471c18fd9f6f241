// A Keylime runtime policy (JSON format version 1): allowed file digests per
// path, exclude regexes, keyring and ima-buf digests, the IMA log's template
// hash algorithm and the tenant's signature verification keys. Parsed once,
// with hash maps and the exclude matcher built at load time, so looking an
// entry up costs one hash-map probe and no allocation.
//
// Excludes follow Keylime: each is a regex matched at the start of the path
// (Python re.match on "(e1)|(e2)|..."). std::regex is slow, so the common
// shapes are recognised at load time and matched as strings: "lit" and
// "lit.*" (prefix), "lit$" (exact), ".*lit$" (suffix), ".*lit" (contains).
// Any other regex runs only on paths that start with its literal prefix.
//
// Thread-safety: immutable after Parse/Build; const methods may be called
// from any thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <regex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/base/result.h"
#include "common/ima/hash.h"
#include "common/ima/log.h"

namespace attest::ima {

struct PolicyLimits {
  size_t max_bytes = 256 * 1024 * 1024;
  size_t max_excludes = 10'000;
  size_t max_exclude_length = 1024;
  size_t max_digests_per_name = 1024;
};

// The allowed digests of one name (raw bytes). Usually one or two.
class DigestList {
 public:
  bool Contains(std::span<const uint8_t> d) const;
  void Add(std::string raw);  // no duplicates kept
  const std::vector<std::string>& items() const { return items_; }

 private:
  std::vector<std::string> items_;
};

struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
using DigestMap = std::unordered_map<std::string, DigestList, StringHash, std::equal_to<>>;

class RuntimePolicy {
 public:
  RuntimePolicy();
  static Result<RuntimePolicy> Parse(std::string_view json, const PolicyLimits& limits = {});
  // Keylime's legacy allowlist: "hexdigest  path" per line, '#' comments.
  static Result<RuntimePolicy> FromAllowlist(std::string_view text,
                                             const PolicyLimits& limits = {});

  // Keylime-format JSON (keys sorted, digests as lowercase hex).
  std::string ToJson() const;

  const DigestList* FindDigests(std::string_view path) const { return Find(digests_, path); }
  const DigestList* FindKeyring(std::string_view name) const { return Find(keyrings_, name); }
  const DigestList* FindImaBuf(std::string_view name) const { return Find(ima_buf_, name); }
  bool Excluded(std::string_view path) const;
  bool KeyringIgnored(std::string_view keyring) const;

  HashAlg log_hash_alg() const { return log_hash_alg_; }
  const std::string& verification_keys() const { return verification_keys_; }
  const std::vector<std::string>& excludes() const { return excludes_; }
  const DigestMap& digests() const { return digests_; }
  int64_t release() const { return release_; }

  // Building (the generator, FromAllowlist).
  void AddDigest(std::string_view path, std::span<const uint8_t> digest);
  void AddKeyring(std::string_view name, std::span<const uint8_t> digest);
  void AddImaBuf(std::string_view name, std::span<const uint8_t> digest);
  void set_log_hash_alg(HashAlg alg) { log_hash_alg_ = alg; }
  Result<void> SetExcludes(std::vector<std::string> excludes, const PolicyLimits& limits = {});

 private:
  static const DigestList* Find(const DigestMap& m, std::string_view k) {
    auto it = m.find(k);
    return it == m.end() ? nullptr : &it->second;
  }

  int64_t release_ = 0;
  DigestMap digests_;
  DigestMap keyrings_;
  DigestMap ima_buf_;
  std::vector<std::string> excludes_;
  std::vector<std::string> ignored_keyrings_;
  HashAlg log_hash_alg_ = HashAlg::kSha1;
  std::string dm_policy_json_ = "null";  // kept verbatim; not evaluated
  std::string verification_keys_;
  // Exclude matcher.
  struct RegexExclude {
    std::string prefix;  // a path must start with it for the regex to match
    std::shared_ptr<const std::regex> regex;
  };
  std::vector<std::string> prefix_excludes_;
  std::vector<std::string> exact_excludes_;
  std::vector<std::string> suffix_excludes_;
  std::vector<std::string> contains_excludes_;
  std::vector<RegexExclude> regex_excludes_;
};

// Produces a policy that accepts `log`: every non-violation entry's digest
// under its path (ima-buf keys under "keyrings", other buffers under
// "ima-buf"), and log_hash_alg = the log's template-hash algorithm.
RuntimePolicy GeneratePolicy(const Log& log);

}  // namespace attest::ima
