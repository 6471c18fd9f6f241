// Typed access to a TOML configuration file. Every error names the file, the
// dotted key and the line, e.g.
//   "/etc/attest/worker.toml:12:1: key 'kafka.batch_size': expected an integer
//    in [1, 10000], got 0".
// Components parse their config once at start-up into their own immutable
// struct with this reader, then pass that struct around; nothing reads config
// later.
//
// Strictness: every key a parser asks for (through any getter, Has or
// TableList, present or not) is recorded, and RejectUnknownKeys, called by
// the parser once it has read everything, refuses any key of the file that
// no one asked for: a typo ("registrar" for "registrars") or a key in the
// wrong table is an error, never a silently ignored setting.
//
// Thread-safety: the document is immutable after Load/Parse; the record of
// asked keys is shared by a ConfigFile, its copies and its TableList
// elements, and guarded by a mutex: const methods may be called from any
// thread.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/base/result.h"

namespace toml {
inline namespace v3 {
class table;
class node;
}  // namespace v3
}  // namespace toml

namespace attest {

class ConfigFile {
 public:
  // Reads and parses `path`. A syntax error gives "path:line:col: message".
  static Result<ConfigFile> Load(const std::string& path);
  // Parses TOML text; `origin` names it in errors (a path or "<inline>").
  static Result<ConfigFile> Parse(std::string_view text, std::string origin);

  const std::string& origin() const { return origin_; }
  bool Has(std::string_view key) const;

  // Getters: absent key -> default (or missing_value error when no default);
  // wrong type or out of range -> invalid_value error naming file:line and key.
  Result<std::string> String(std::string_view key,
                             std::optional<std::string> fallback = std::nullopt) const;
  Result<int64_t> Int(std::string_view key, std::optional<int64_t> fallback = std::nullopt,
                      int64_t min = INT64_MIN, int64_t max = INT64_MAX) const;
  Result<double> Double(std::string_view key, std::optional<double> fallback = std::nullopt) const;
  Result<bool> Bool(std::string_view key, std::optional<bool> fallback = std::nullopt) const;
  Result<std::vector<std::string>> StringList(
      std::string_view key, std::optional<std::vector<std::string>> fallback = std::nullopt) const;
  // Element `index` of an array of tables (e.g. [[servers]]) as its own
  // ConfigFile whose errors still point at the original file and key.
  Result<std::vector<ConfigFile>> TableList(std::string_view key) const;

  // "origin:line:col: key 'k': what" for errors found by callers (for example
  // a cross-field check); falls back to "origin: key 'k': what". With
  // `element`, the location and the name are those of that element of the
  // array `key` ("key 'servers[0].verifiers[1]'").
  Error Invalid(std::string_view key, std::string_view what) const;
  Error Invalid(std::string_view key, size_t element, std::string_view what) const;
  // "origin: key 'k': what" (code missing_value) for a key that is absent or
  // empty where a value is needed; names a near-miss key of the same table,
  // if any ("is 'verifier' at agent.toml:3:1 a misspelling?").
  Error Missing(std::string_view key, std::string_view what) const;
  // "origin:line:col" of the key (or of element `element` of the array), or
  // just the origin when the key is absent.
  std::string Locate(std::string_view key, std::optional<size_t> element = std::nullopt) const;
  // The dotted name of `key` inside the file ("servers[1].verifiers").
  std::string Where(std::string_view key) const;

  // Refuses every key of the whole file (leaf or table, at any depth) that no
  // parser asked for through this ConfigFile, its copies or its TableList
  // elements. The error (code unknown_key) names each such key with its
  // "file:line:col", and says where a key belongs when its name is asked for
  // in another table ("'registrars' belongs in [[servers]]"), or which key was
  // meant when the name is one or two edits away from one asked for. Call it
  // after every getter: a key asked for later would be reported.
  Result<void> RejectUnknownKeys() const;

  // Every key asked for so far, dotted, elements of arrays of tables written
  // "servers[].registrars", with the default given to its getter as text:
  // strings bare, numbers and booleans as TOML writes them, lists as TOML
  // arrays ("[]"); nullopt for a required key or one only tested with Has.
  // For tests that compare the code's defaults with the documentation.
  std::map<std::string, std::optional<std::string>> AskedKeys() const;

 private:
  struct Tracker;
  ConfigFile(std::shared_ptr<const toml::table> root, std::string origin, std::string prefix,
             std::shared_ptr<Tracker> tracker);
  const toml::node* Find(std::string_view key) const;
  // Records `key` as asked for, with its default (if any) as text.
  void Ask(std::string_view key, std::optional<std::string> fallback) const;

  std::shared_ptr<const toml::table> root_;
  std::string origin_;
  std::string prefix_;                // dotted path of root_ inside the file, for messages
  std::shared_ptr<Tracker> tracker_;  // shared with copies and TableList elements
};

}  // namespace attest
