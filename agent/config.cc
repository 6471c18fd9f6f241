#include "agent/config.h"

#include <filesystem>
#include <fstream>
#include <map>

#include "common/base/errors.h"
#include "common/httpclient/client.h"

namespace attest::agent {
namespace {

// Reads one role's addresses of a [[servers]] block. A plain http:// address
// carries the agent's identity and evidence readable (and a registrar's
// credential challenge changeable) by anyone on the path: refused unless the
// operator says the network is trusted.
Result<std::vector<ServerAddress>> ParseAddresses(const ConfigFile& block, const char* key,
                                                  uint16_t default_port, bool trusted_network) {
  std::vector<std::string> texts;
  ATTEST_ASSIGN_OR_RETURN(texts, block.StringList(key, std::vector<std::string>{}));
  std::vector<ServerAddress> out;
  for (size_t i = 0; i < texts.size(); ++i) {
    auto a = ParseServerAddress(texts[i], default_port);
    if (!a.ok()) return block.Invalid(key, i, a.error().message);
    if (a->scheme == "http" && !trusted_network) {
      return block.Invalid(key, i,
                           "\"" + texts[i] +
                               "\" is plain http: refused unless trusted_network = true (set "
                               "it only when the network between this node and its servers is "
                               "trusted; use https otherwise)");
    }
    out.push_back(*a);
  }
  return out;
}

// Where an address was written: for the error about a second listing.
struct Listed {
  size_t block = 0;
  const char* key = nullptr;
  size_t element = 0;
  std::string location;
};

// A server listed twice, in one block or in two, is refused: two blocks are
// meant to be two independent backends (verification_duplication counts
// them), and a block that shares a server with another would send one
// node's evidence to the same backend twice and count it as two. Addresses
// are compared by host and port after normalisation (ServerAddress::Endpoint),
// whatever their scheme.
Result<void> CheckOverlaps(const std::vector<ConfigFile>& blocks,
                           const std::vector<ServerBlock>& parsed) {
  std::map<std::string, Listed> seen;  // role + endpoint -> first listing
  for (size_t b = 0; b < parsed.size(); ++b) {
    for (const char* key : {"registrars", "verifiers"}) {
      const auto& list =
          std::string_view(key) == "registrars" ? parsed[b].registrars : parsed[b].verifiers;
      for (size_t i = 0; i < list.size(); ++i) {
        const std::string endpoint = list[i].Endpoint();
        auto [it, inserted] = seen.try_emplace(std::string(key) + " " + endpoint,
                                               Listed{b, key, i, blocks[b].Locate(key, i)});
        if (inserted) continue;
        const Listed& first = it->second;
        const std::string where = blocks[first.block].Where(key) + "[" +
                                  std::to_string(first.element) + "] (" + first.location + ")";
        if (first.block == b) {
          return blocks[b].Invalid(key, i,
                                   "duplicate address: " + endpoint + " is already listed as " +
                                       where + "; list each server once");
        }
        return blocks[b].Invalid(
            key, i,
            "overlapping [[servers]] blocks: " + endpoint + " is also listed in block " +
                std::to_string(first.block) + " as " + where +
                "; each block must be its own backend (servers[" + std::to_string(first.block) +
                "] and servers[" + std::to_string(b) +
                "] would be the same backend counted twice by verification_duplication)");
      }
    }
  }
  return Ok();
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
  ATTEST_ASSIGN_OR_RETURN(c.tls.ca_file, f.String("tls.ca_file", c.tls.ca_file));
  ATTEST_ASSIGN_OR_RETURN(c.tls.client_cert, f.String("tls.client_cert", ""));
  ATTEST_ASSIGN_OR_RETURN(c.tls.client_key, f.String("tls.client_key", ""));
  ATTEST_ASSIGN_OR_RETURN(c.tls.proxy, f.String("proxy", ""));
  ATTEST_ASSIGN_OR_RETURN(c.tls.no_proxy, f.String("no_proxy", ""));
  if (auto v = httpclient::ValidateNoProxy(c.tls.no_proxy); !v) {
    return f.Invalid("no_proxy", v.error().message);
  }
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
    return f.Missing("servers", "at least one [[servers]] block is required");
  }
  for (const ConfigFile& b : blocks) {
    ServerBlock block;
    ATTEST_ASSIGN_OR_RETURN(block.registrars, ParseAddresses(b, "registrars", kDefaultRegistrarPort,
                                                             c.trusted_network));
    ATTEST_ASSIGN_OR_RETURN(block.verifiers,
                            ParseAddresses(b, "verifiers", kDefaultGatewayPort, c.trusted_network));
    if (block.verifiers.empty()) {
      return b.Has("verifiers")
                 ? b.Invalid("verifiers", "a [[servers]] block needs at least one verifier")
                 : b.Missing("verifiers", "a [[servers]] block needs at least one verifier");
    }
    c.servers.push_back(std::move(block));
  }
  if (auto r = CheckOverlaps(blocks, c.servers); !r) return r.error();
  ATTEST_ASSIGN_OR_RETURN(v, f.Int("verification_duplication", 1, 1, 64));
  if (v > static_cast<int64_t>(c.servers.size())) {
    return f.Invalid("verification_duplication", "is " + std::to_string(v) + " but only " +
                                                     std::to_string(c.servers.size()) +
                                                     " [[servers]] block(s) are configured");
  }
  c.verification_duplication = static_cast<int>(v);
  if (auto r = f.RejectUnknownKeys(); !r) return r.error();
  return c;
}

Result<AgentConfig> LoadAgentConfig(const std::string& path) {
  auto file = ConfigFile::Load(path);
  if (!file.ok()) return file.error();
  auto c = ParseAgentConfig(*file);
  if (!c.ok() || c->tls.ca_file.empty()) return c;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(c->tls.ca_file, ec) ||
      !std::ifstream(c->tls.ca_file).is_open()) {
    return file->Invalid("tls.ca_file",
                         "cannot read \"" + c->tls.ca_file + "\"" +
                             (file->Has("tls.ca_file") ? "" : " (the default)") +
                             ": set it to the PEM bundle of the CA that issued the servers' "
                             "certificates, or to \"\" to trust the system store");
  }
  return c;
}

}  // namespace attest::agent
