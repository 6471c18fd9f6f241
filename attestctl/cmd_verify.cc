// attestctl verify quote: offline verification of the files tpm2_quote writes.
//
//   attestctl verify quote --ak FILE --message FILE --signature FILE --pcrs FILE
//                          --nonce HEX [--hash-alg sha256]... [--json]
//
// --ak is a PEM SubjectPublicKeyInfo or a TPM2B_PUBLIC (detected); --message
// the TPMS_ATTEST (-m), --signature the TPMT_SIGNATURE (-s), --pcrs the PCR
// file (-o) of tpm2_quote. --hash-alg (repeatable) restricts the allowed
// signing/bank hash algorithms (default sha256, sha384, sha512). Prints the
// PCR values and the result. Exit codes: 0 pass, 1 verification failed,
// 2 unreadable or malformed input (one line naming the file).
#include <nlohmann/json.hpp>

#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "attestctl/command_registry.h"
#include "common/checks/failure_ids.h"
#include "common/checks/quote.h"
#include "common/tpm/pcr.h"
#include "common/tpm/tpm_crypto.h"

namespace attest::ctl {
namespace {

constexpr size_t kMaxFileBytes = 1u << 20;  // quote files are a few KiB

[[noreturn]] void BadInput(const std::string& file, const std::string& problem) {
  throw CommandError{kExitUsage, file + ": " + problem};
}

tpm::Bytes ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) BadInput(path, "cannot open file");
  tpm::Bytes data;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.insert(data.end(), buf, buf + in.gcount());
    if (data.size() > kMaxFileBytes) BadInput(path, "larger than 1 MiB");
  }
  if (in.bad()) BadInput(path, "read failed");
  return data;
}

struct QuoteArgs {
  std::string ak, message, signature, pcrs, nonce;
  std::vector<std::string> hash_algs;
  bool json = false;
};

int RunVerifyQuote(const QuoteArgs& a) {
  auto ak = tpm::LoadAkPublic(ReadBytes(a.ak));
  if (!ak) BadInput(a.ak, ak.error().message);
  auto pcr_file = tpm::ParseTpm2ToolsPcrFile(ReadBytes(a.pcrs));
  if (!pcr_file) BadInput(a.pcrs, pcr_file.error().message);
  auto nonce = tpm::FromHex(a.nonce);
  if (!nonce) throw CommandError{kExitUsage, "--nonce: not a hex string"};

  checks::QuoteInputs in;
  in.quote = ReadBytes(a.message);
  in.signature = ReadBytes(a.signature);
  in.ak_key = ak->pkey.get();
  in.nonce = std::move(*nonce);
  in.pcrs = pcr_file->values;
  for (const auto& name : a.hash_algs) {
    auto alg = tpm::HashAlgFromName(name);
    if (!alg) throw CommandError{kExitUsage, "--hash-alg: unknown algorithm " + name};
    in.allowed_hash_algs.push_back(*alg);
  }
  auto r = checks::VerifyQuote(in);
  // A file that does not parse is an input error, not a failed verification.
  for (const auto& f : r.failures) {
    if (f.event_id == checks::failure_id::kQuoteMalformed) {
      std::string err(f.Text("error"));
      bool sig = err.find("TPMT_SIGNATURE") != std::string::npos;
      BadInput(sig ? a.signature : a.message, err);
    }
  }

  if (a.json) {
    nlohmann::json pcrs = nlohmann::json::object();
    for (const auto& [bank, values] : in.pcrs) {
      auto& j = pcrs[tpm::HashAlgName(bank)];
      for (const auto& [pcr, v] : values) j[std::to_string(pcr)] = tpm::ToHex(v);
    }
    nlohmann::json failures = nlohmann::json::array();
    for (const auto& f : r.failures) {
      failures.push_back({{"event_id", f.event_id},
                          {"severity", checks::SeverityName(f.severity)},
                          {"context", nlohmann::json::parse(checks::ContextJson(f.context))}});
    }
    nlohmann::json out = {
        {"result", r.ok() ? "pass" : "fail"},
        {"failures", failures},
        {"pcrs", pcrs},
        {"selection", tpm::FormatSelection(r.pcr_selection)},
        {"hash_alg", tpm::HashAlgName(r.hash_alg)},
        {"clock",
         {{"clock", r.clock.clock},
          {"reset_count", r.clock.reset_count},
          {"restart_count", r.clock.restart_count},
          {"safe", r.clock.safe}}},
        {"firmware_version", r.firmware_version},
        {"qualified_signer", tpm::ToHex(r.qualified_signer)},
    };
    std::cout << out.dump(2) << "\n";
  } else {
    std::cout << "pcrs:\n";
    for (const auto& [bank, values] : in.pcrs) {
      std::cout << "  " << tpm::HashAlgName(bank) << ":\n";
      for (const auto& [pcr, v] : values) {
        std::cout << "    " << pcr << (pcr < 10 ? " " : "") << ": 0x" << tpm::ToHex(v) << "\n";
      }
    }
    std::cout << "clock: " << r.clock.clock << " resetCount: " << r.clock.reset_count
              << " restartCount: " << r.clock.restart_count
              << " safe: " << (r.clock.safe ? "yes" : "no") << "\n";
    for (const auto& f : r.failures) {
      std::cout << "FAIL " << f.event_id << " (" << checks::SeverityName(f.severity)
                << "): " << checks::ContextJson(f.context) << "\n";
    }
    std::cout << "result: " << (r.ok() ? "pass" : "fail") << "\n";
  }
  return r.ok() ? kExitPass : kExitFail;
}

const CommandRegistration kRegistration([](CLI::App& root) {
  CLI::App& group = Group(root, "verify", "Verify attestation evidence offline");
  auto args = std::make_shared<QuoteArgs>();
  CLI::App* cmd =
      group.add_subcommand("quote", "Verify a TPM quote made by tpm2_quote (-m, -s, -o files)");
  cmd->add_option("--ak", args->ak, "AK public key: PEM or TPM2B_PUBLIC")->required();
  cmd->add_option("--message", args->message, "TPMS_ATTEST (tpm2_quote -m)")->required();
  cmd->add_option("--signature", args->signature, "TPMT_SIGNATURE (tpm2_quote -s)")->required();
  cmd->add_option("--pcrs", args->pcrs, "PCR file (tpm2_quote -o)")->required();
  cmd->add_option("--nonce", args->nonce, "expected qualifying data, hex")->required();
  cmd->add_option("--hash-alg", args->hash_algs, "allowed hash algorithm (repeatable)");
  cmd->add_flag("--json", args->json, "print JSON");
  cmd->callback([args] { SetExitCode(RunVerifyQuote(*args)); });
});

}  // namespace
}  // namespace attest::ctl
