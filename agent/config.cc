#include "agent/config.h"

#include "common/base/errors.h"

namespace attest::agent {
namespace {

Result<std::vector<ServerAddress>> ParseAddresses(const ConfigFile& block, const char* key,
                                                  uint16_t default_port) {
  std::vector<std::string> texts;
  ATTEST_ASSIGN_OR_RETURN(texts, block.StringList(key, std::vector<std::string>{}));
  std::vector<ServerAddress> out;
  for (const auto& t : texts) {
    auto a = ParseServerAddress(t, default_port);
    if (!a.ok()) return block.Invalid(key, a.error().message);
    out.push_back(*a);
  }
  return out;
}

Result<std::string> OneOf(const ConfigFile& f, const char* key, std::string fallback,
                          std::initializer_list<const char*> allowed) {
  std::string v;
  ATTEST_ASSIGN_OR_RETURN(v, f.String(key, fallback));
  for (const char* a : allowed) {
    if (v == a) return v;
  }
  std::string list;
  for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
  return f.Invalid(key, "must be one of " + list + ", got \"" + v + "\"");
}

constexpr const char* kImaDir = "/sys/kernel/security/ima/";

// A file named like one of the kernel's lists says its format: "ascii",
// "binary" or "" (some other name).
std::string_view FormatOfName(std::string_view path) {
  path.remove_prefix(path.rfind('/') + 1);  // npos + 1 == 0: no directory
  if (path.starts_with("ascii_runtime_measurements")) return "ascii";
  if (path.starts_with("binary_runtime_measurements")) return "binary";
  return "";
}

// Reading a list in the other format would send garbage and earn a FAIL
// every round, so a contradiction is refused at start-up. Before
// ima_log_format existed, ima_log named the ascii list: such a configuration
// (ima_log set, no format) keeps reading ascii unless the file is named like
// the binary list.
Result<void> ResolveImaFormat(const ConfigFile& f, AgentConfig& c) {
  const std::string_view named = FormatOfName(c.ima_log);
  if (!f.Has("ima_log_format")) {
    if (f.Has("ima_log")) c.ima_log_format = named == "binary" ? "binary" : "ascii";
    return Ok();
  }
  if (!named.empty() && named != c.ima_log_format) {
    return f.Invalid("ima_log", "names the kernel's " + std::string(named) +
                                    " list but ima_log_format is \"" + c.ima_log_format + "\"");
  }
  return Ok();
}

}  // namespace

Result<AgentConfig> ParseAgentConfig(const ConfigFile& f) {
  AgentConfig c;
  ATTEST_ASSIGN_OR_RETURN(c.uuid, f.String("uuid", ""));
  ATTEST_ASSIGN_OR_RETURN(c.state_dir, f.String("state_dir", c.state_dir));
  ATTEST_ASSIGN_OR_RETURN(c.tcti, f.String("tcti", c.tcti));
  ATTEST_ASSIGN_OR_RETURN(c.ek_type, OneOf(f, "ek_type", c.ek_type, {"rsa", "ecc"}));
  ATTEST_ASSIGN_OR_RETURN(c.ak_type, OneOf(f, "ak_type", c.ak_type, {"rsa", "ecc"}));
  ATTEST_ASSIGN_OR_RETURN(c.ima_log_format,
                          OneOf(f, "ima_log_format", c.ima_log_format, {"binary", "ascii"}));
  ATTEST_ASSIGN_OR_RETURN(c.ima_log, f.String("ima_log", std::string(kImaDir) + c.ima_log_format +
                                                             "_runtime_measurements"));
  if (auto r = ResolveImaFormat(f, c); !r) return r.error();
  ATTEST_ASSIGN_OR_RETURN(c.uefi_log, f.String("uefi_log", c.uefi_log));
  ATTEST_ASSIGN_OR_RETURN(c.tls.ca_file, f.String("tls.ca_file", ""));
  ATTEST_ASSIGN_OR_RETURN(c.tls.client_cert, f.String("tls.client_cert", ""));
  ATTEST_ASSIGN_OR_RETURN(c.tls.client_key, f.String("tls.client_key", ""));
  ATTEST_ASSIGN_OR_RETURN(c.tls.proxy, f.String("proxy", ""));
  ATTEST_ASSIGN_OR_RETURN(c.tls.no_proxy, f.String("no_proxy", ""));
  ATTEST_ASSIGN_OR_RETURN(c.tls.pinned_public_key, f.String("tls.pinned_public_key", ""));
  if (c.tls.client_cert.empty() != c.tls.client_key.empty()) {
    return f.Invalid(c.tls.client_cert.empty() ? "tls.client_key" : "tls.client_cert",
                     "tls.client_cert and tls.client_key must be set together");
  }
  int64_t v = 0;
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("connect_timeout_ms", c.connect_timeout_ms, 1, 600000));
  c.connect_timeout_ms = static_cast<int>(v);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("request_timeout_ms", c.request_timeout_ms, 1, 3600000));
  c.request_timeout_ms = static_cast<int>(v);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("retry_initial_ms", c.retry_initial_ms, 1, 3600000));
  c.retry_initial_ms = static_cast<int>(v);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("retry_max_ms", c.retry_max_ms, c.retry_initial_ms, 86400000));
  c.retry_max_ms = static_cast<int>(v);
  ATTEST_ASSIGN_OR_RETURN(c.boot_time, f.Int("boot_time", 0, 0, INT64_MAX));
  ATTEST_ASSIGN_OR_RETURN(v,
                          f.Int("default_interval_seconds", c.default_interval_seconds, 1, 86400));
  c.default_interval_seconds = static_cast<int>(v);
  ATTEST_ASSIGN_OR_RETURN(c.ima_max_batch_bytes,
                          f.Int("ima_max_batch_bytes", c.ima_max_batch_bytes, 4096, 1 << 30));
  ATTEST_ASSIGN_OR_RETURN(c.uefi_log_max_bytes,
                          f.Int("uefi_log_max_bytes", c.uefi_log_max_bytes, 1024, 1 << 30));

  ATTEST_ASSIGN_OR_RETURN(v, f.Int("block_failover_seconds", c.block_failover_seconds, 1, 86400));
  c.block_failover_seconds = static_cast<int>(v);
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("once_timeout_seconds", c.once_timeout_seconds, 1, 86400));
  c.once_timeout_seconds = static_cast<int>(v);
  ATTEST_ASSIGN_OR_RETURN(c.trusted_network, f.Bool("trusted_network", c.trusted_network));

  std::vector<ConfigFile> blocks;
  ATTEST_ASSIGN_OR_RETURN(blocks, f.TableList("servers"));
  if (blocks.empty()) {
    return MakeError(base::errc::missing_value,
                     f.origin() + ": at least one [[servers]] block is required");
  }
  for (const ConfigFile& b : blocks) {
    ServerBlock block;
    ATTEST_ASSIGN_OR_RETURN(block.registrars,
                            ParseAddresses(b, "registrars", kDefaultRegistrarPort));
    ATTEST_ASSIGN_OR_RETURN(block.verifiers, ParseAddresses(b, "verifiers", kDefaultGatewayPort));
    if (block.verifiers.empty()) {
      return b.Has("verifiers")
                 ? b.Invalid("verifiers", "a [[servers]] block needs at least one verifier")
                 : MakeError(base::errc::missing_value,
                             f.origin() + ": key 'servers[" + std::to_string(c.servers.size()) +
                                 "].verifiers': a [[servers]] block needs at least "
                                 "one verifier");
    }
    c.servers.push_back(std::move(block));
  }
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("verification_duplication", 1, 1, 64));
  if (v > static_cast<int64_t>(c.servers.size())) {
    return f.Invalid("verification_duplication", "is " + std::to_string(v) + " but only " +
                                                     std::to_string(c.servers.size()) +
                                                     " [[servers]] block(s) are configured");
  }
  c.verification_duplication = static_cast<int>(v);
  return c;
}

Result<AgentConfig> LoadAgentConfig(const std::string& path) {
  auto file = ConfigFile::Load(path);
  if (!file.ok()) return file.error();
  return ParseAgentConfig(*file);
}

}  // namespace attest::agent
