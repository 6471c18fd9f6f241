// IMA measurement lists: the ascii format of
// /sys/kernel/security/ima/ascii_runtime_measurements and the binary format
// of binary_runtime_measurements, for the templates ima, ima-ng, ima-sig and
// ima-buf. Each parsed Entry keeps its template data byte for byte as the
// kernel hashes it, so the template hash can be recomputed and the entry
// replayed into any PCR bank.
//
// Parsing is pure (no I/O) and bounded: every length read from input is
// checked against Limits before anything is allocated.
//
// Thread-safety: plain value types and pure functions.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"
#include "common/ima/hash.h"

namespace attest::ima {

enum class Template : uint8_t { kIma, kImaNg, kImaSig, kImaBuf };
std::string_view TemplateName(Template t);

struct Limits {
  size_t max_entries = 10'000'000;
  size_t max_template_data = 64 * 1024;  // bytes of one entry's template data
  size_t max_path = 4096;                // bytes of a path (n-ng field)
  size_t max_line = 256 * 1024;          // one ascii line
};

// A byte range inside Entry::data.
struct Span32 {
  uint32_t off = 0;
  uint32_t len = 0;
};

struct Entry {
  uint32_t pcr = 10;
  Template tmpl = Template::kImaNg;
  Digest template_hash;  // as in the log; all zero for a violation (ToMToU)
  std::string data;      // template data exactly as hashed by the kernel
  Span32 digest_algo;    // e.g. "sha256" (empty for a digest without algo prefix)
  Span32 digest;         // the file-data digest (d / d-ng field)
  Span32 name;           // path or buffer name, without the trailing NUL
  Span32 sig;            // ima-sig signature (may be empty)
  Span32 buf;            // ima-buf buffer

  std::string_view Field(Span32 s) const { return std::string_view(data).substr(s.off, s.len); }
  std::string_view path() const { return Field(name); }
  std::string_view algo() const { return Field(digest_algo); }
  std::span<const uint8_t> file_digest() const { return AsBytes(Field(digest)); }
  std::span<const uint8_t> signature() const { return AsBytes(Field(sig)); }
  std::span<const uint8_t> buffer() const { return AsBytes(Field(buf)); }
  bool IsViolation() const { return template_hash.IsZero(); }
};

struct Log {
  HashAlg template_hash_alg = HashAlg::kSha1;  // the bank of the template-hash column
  std::vector<Entry> entries;
};

enum class Format { kAscii, kBinary };
// Binary lists start with a little-endian PCR index (a small number whose
// first byte is not an ascii digit); ascii lists start with its decimal form.
Format DetectFormat(std::string_view data);

// Parses an ascii list. `alg` fixes the template-hash bank; when absent it is
// inferred from the first entry's hash length (and every entry must agree).
// Errors name the line number (1-based).
Result<Log> ParseAscii(std::string_view text, std::optional<HashAlg> alg = std::nullopt,
                       const Limits& limits = {});
// Parses a binary list whose template digests are `alg` sized (sha1 in the
// kernel's legacy binary format). Errors name the entry index and offset.
Result<Log> ParseBinary(std::string_view data, HashAlg alg = HashAlg::kSha1,
                        const Limits& limits = {});
// Detects the format, then parses.
Result<Log> Parse(std::string_view data, std::optional<HashAlg> alg = std::nullopt,
                  const Limits& limits = {});

// Parses one ascii line (without the newline) into `out`, reusing its buffer.
Result<void> ParseAsciiLine(std::string_view line, HashAlg alg, const Limits& limits, Entry& out);

// Serialises entries in the kernel's binary format (little-endian).
std::string WriteBinary(const Log& log);
// Serialises entries in the kernel's ascii format.
std::string WriteAscii(const Log& log);

// Builds an entry from its parts (tests, generators). `sig_or_buf` is the
// signature for ima-sig and the buffer for ima-buf, ignored otherwise. The
// template hash is left zero; fill it with ComputeTemplateHash.
Result<Entry> MakeEntry(Template t, std::string_view digest_algo, std::span<const uint8_t> digest,
                        std::string_view name, std::span<const uint8_t> sig_or_buf = {},
                        const Limits& limits = {});

// The template hash as the kernel computes it (H over Entry::data).
inline Digest ComputeTemplateHash(Hasher& h, HashAlg alg, const Entry& e) {
  return h.Hash(alg, AsBytes(e.data));
}

}  // namespace attest::ima
