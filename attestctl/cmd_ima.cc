// attestctl ima check: verifies an IMA measurement list (ascii or binary)
// against a Keylime runtime policy and signature keys, replays PCR 10.
// attestctl policy runtime-from-log: generates a Keylime runtime policy that
// accepts a known-good list.
#include <fstream>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "attestctl/command_registry.h"
#include "common/base/escape.h"
#include "common/ima/log.h"
#include "common/ima/policy.h"
#include "common/ima/replay.h"

namespace attest::ctl {
namespace {

constexpr size_t kMaxInputFile = 512 * 1024 * 1024;

std::string ReadInput(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw CommandError{kExitUsage, path + ": cannot open file"};
  std::string data;
  in.seekg(0, std::ios::end);
  auto size = in.tellg();
  if (size < 0) throw CommandError{kExitUsage, path + ": cannot read file"};
  if (static_cast<size_t>(size) > kMaxInputFile) {
    throw CommandError{kExitUsage, path + ": file larger than 512 MiB"};
  }
  data.resize(static_cast<size_t>(size));
  in.seekg(0);
  if (!in.read(data.data(), size)) throw CommandError{kExitUsage, path + ": cannot read file"};
  return data;
}

ima::Log LoadLog(const std::string& path) {
  auto log = ima::Parse(ReadInput(path));
  if (!log) throw CommandError{kExitUsage, path + ": " + log.error().message};
  return std::move(log).value();
}

struct CheckArgs {
  std::string log;
  std::string policy;
  std::vector<std::string> keys;
  std::string pcr10;
  bool json = false;
};

void RunCheck(const CheckArgs& args, bool keys_given) {
  ima::Log log = LoadLog(args.log);
  std::optional<ima::RuntimePolicy> policy;
  if (!args.policy.empty()) {
    std::string text = ReadInput(args.policy);
    size_t first = text.find_first_not_of(" \t\r\n");
    // A JSON runtime policy, or Keylime's legacy "digest path" allowlist.
    auto parsed = first != std::string::npos && text[first] == '{'
                      ? ima::RuntimePolicy::Parse(text)
                      : ima::RuntimePolicy::FromAllowlist(text);
    if (!parsed) throw CommandError{kExitUsage, args.policy + ": " + parsed.error().message};
    policy = std::move(parsed).value();
  }
  std::optional<ima::Keyring> keys;
  if (keys_given) {
    keys.emplace();
    for (const auto& k : args.keys) {
      if (k.empty()) continue;
      std::string data = ReadInput(k);
      if (auto r = keys->AddKeyData(ima::AsBytes(data), k); !r) {
        throw CommandError{kExitUsage, r.error().message};
      }
    }
  }
  if (policy && !policy->verification_keys().empty()) {
    if (!keys) keys.emplace();
    if (auto r = keys->AddVerificationKeys(policy->verification_keys()); !r) {
      throw CommandError{kExitUsage, args.policy + ": " + r.error().message};
    }
  }
  ima::ReplayOptions opt;
  opt.policy = policy ? &*policy : nullptr;
  opt.keys = keys ? &*keys : nullptr;
  ima::HashAlg bank = policy ? policy->log_hash_alg() : log.template_hash_alg;
  if (!args.pcr10.empty()) {
    std::string raw;
    auto alg = ima::FromHex(args.pcr10, raw) ? ima::HashFromSize(raw.size()) : std::nullopt;
    if (!alg) {
      throw CommandError{kExitUsage, "--pcr10: not a sha1/sha256/sha384/sha512 hex digest"};
    }
    bank = *alg;
    opt.expected_pcr = ima::Digest::From(ima::AsBytes(raw));
    opt.expected_bank = bank;
  }
  const ima::HashAlg banks[] = {ima::HashAlg::kSha1, ima::HashAlg::kSha256, ima::HashAlg::kSha384,
                                ima::HashAlg::kSha512};
  ima::ReplayState state = ima::ReplayState::Initial(banks);
  ima::ReplayOutcome out = ima::Replay(state, log.entries, opt);
  std::string pcr = ima::ToHex(*state.Pcr(bank));
  if (args.json) {
    nlohmann::json j;
    j["result"] = out.ok() ? "pass" : "fail";
    j["entries"] = log.entries.size();
    j["failures"] = nlohmann::json::array();
    for (const auto& f : out.failures) {
      j["failures"].push_back({{"id", f.id},
                               {"entry", f.entry},
                               {"path", EscapeBytes(f.path)},
                               {"message", EscapeBytes(f.message)}});
    }
    j["pcr10"] = {{"bank", std::string(ima::HashName(bank))}, {"value", pcr}};
    if (out.pcr_matched_at) j["pcr10"]["matched_at_entry"] = *out.pcr_matched_at;
    std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    for (const auto& f : out.failures) {
      // The path is the host's bytes: escaped as in verdicts (docs/soc.md).
      std::cout << "entry " << f.entry << ": " << f.id << ": " << EscapeBytes(f.path) << ": "
                << EscapeBytes(f.message) << "\n";
    }
    std::cout << "entries: " << log.entries.size() << "\n";
    std::cout << "pcr10 " << ima::HashName(bank) << ": " << pcr << "\n";
    std::cout << (out.ok() ? "PASS" : "FAIL") << "\n";
  }
  SetExitCode(out.ok() ? kExitPass : kExitFail);
}

const CommandRegistration kRegisterIma([](CLI::App& root) {
  CLI::App& ima = Group(root, "ima", "IMA measurement lists");
  auto args = std::make_shared<CheckArgs>();
  CLI::App* check = ima.add_subcommand(
      "check", "check an IMA measurement list against a runtime policy and replay PCR 10");
  check->add_option("--log", args->log, "measurement list (ascii or binary)")->required();
  check->add_option("--policy", args->policy, "Keylime runtime policy (JSON) or allowlist");
  CLI::Option* keys = check
                          ->add_option("--keys", args->keys,
                                       "PEM public keys or certificates for ima-sig "
                                       "(comma-separated; given but empty: no trusted keys)")
                          ->delimiter(',')
                          ->expected(0, -1);
  check->add_option("--pcr10", args->pcr10, "quoted PCR-10 value (hex) to match");
  check->add_flag("--json", args->json, "JSON output");
  check->callback([args, keys] { RunCheck(*args, keys->count() > 0); });

  CLI::App& policy = Group(root, "policy", "policies");
  auto log_path = std::make_shared<std::string>();
  CLI::App* gen = policy.add_subcommand(
      "runtime-from-log", "print a Keylime runtime policy that accepts a known-good IMA list");
  gen->add_option("--log", *log_path, "measurement list (ascii or binary)")->required();
  gen->callback([log_path] {
    ima::Log log = LoadLog(*log_path);
    std::cout << ima::GeneratePolicy(log).ToJson() << "\n";
    SetExitCode(kExitPass);
  });
});

}  // namespace
}  // namespace attest::ctl
