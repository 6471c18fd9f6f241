// Internal to common/base/config.cc: the names of a configuration file's
// keys. Which keys nobody asked for, what the author most likely meant
// (a near-miss name, or the same name in another table), and the guard
// against dotted chains deep enough to overflow toml++'s parser. Pure
// functions of their arguments, safe from any thread.
#pragma once

#include <toml++/toml.h>

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace attest::internal {

// Optimal string alignment distance (an adjacent transposition is one edit).
size_t EditDistance(std::string_view a, std::string_view b);
// Names this close are likely the same name mistyped.
bool NearMiss(std::string_view typed, std::string_view known);
// "servers[3].verifiers[1]" -> "servers[].verifiers[]".
std::string Generic(std::string_view key);

// A key of the file that no parser asked for.
struct UnknownKey {
  std::string key;  // full dotted key with indexes
  toml::source_region where;
  bool table = false;
  bool quoted = false;  // its name holds '.', '[' or ']' (a quoted key)
};

// Unknown keys listed in one error; the rest are counted.
inline constexpr size_t kMaxUnknownListed = 50;

// The keys of `doc` that are not in `asked` (full dotted keys with element
// indexes), in document order; a table nobody asked into is one entry.
std::vector<UnknownKey> FindUnknownKeys(
    const toml::table& doc, const std::map<std::string, std::optional<std::string>>& asked);

// Known names per generic table ("servers[]" -> {"registrars", ...}): the
// leaves asked for and the tables holding them.
using KnownNames = std::map<std::string, std::set<std::string>>;
KnownNames KnownNamesOf(const std::map<std::string, std::optional<std::string>>& asked);

// What the author of `u` most likely meant ("'port' belongs in [server]",
// "did you mean 'registrars'?"), or "" when nothing is close.
std::string UnknownKeyHint(const UnknownKey& u, const KnownNames& names);

// toml++ recurses once per level of nested tables while parsing, so a key
// of tens of thousands of dotted parts ("a.a.a...", 80 KB) overflows the
// stack. No configuration needs more than a few parts: a longer chain is
// refused before toml++ sees it. (Nested arrays and inline tables toml++
// bounds itself: TOML_MAX_NESTED_VALUES.)
inline constexpr size_t kMaxKeyParts = 32;
// "line:col" of the first chain of more than kMaxKeyParts dot-separated
// parts (bare or quoted, blanks around the dots allowed) outside strings
// and comments, or nullopt.
std::optional<std::string> TooDeepKey(std::string_view text);

}  // namespace attest::internal
