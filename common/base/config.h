// Typed access to a TOML configuration file. Every error names the file, the
// dotted key and the line, e.g.
//   "/etc/attest/worker.toml:12:1: key 'kafka.batch_size': expected an integer
//    in [1, 10000], got 0".
// Components parse their config once at start-up into their own immutable
// struct with this reader, then pass that struct around; nothing reads config
// later.
//
// Thread-safety: a ConfigFile is immutable after Load/Parse; const methods may
// be called from any thread.
#pragma once

#include <cstdint>
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
  // a cross-field check); falls back to "origin: key 'k': what".
  Error Invalid(std::string_view key, std::string_view what) const;

 private:
  ConfigFile(std::shared_ptr<const toml::table> root, std::string origin, std::string prefix);
  const toml::node* Find(std::string_view key) const;
  std::string Where(std::string_view key) const;

  std::shared_ptr<const toml::table> root_;
  std::string origin_;
  std::string prefix_;  // dotted path of root_ inside the file, for messages
};

}  // namespace attest
