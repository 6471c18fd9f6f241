// attestctl eventlog {show,replay,check} and attestctl policy mb-from-log:
// offline inspection of UEFI measured-boot logs and reference states.
//
//   attestctl eventlog show FILE [--json]      decoded events
//   attestctl eventlog replay FILE [--json]    final PCR values per bank
//   attestctl eventlog check --log FILE --policy FILE [--json]
//   attestctl policy mb-from-log --log FILE    reference state JSON of a known-good log
//
// Logs are binary (binary_bios_measurements) or base64 (Keylime's mb_log.b64);
// base64 is detected, or forced with --base64. Exit codes: 0 pass, 1 policy
// failed, 2 unreadable or malformed input (one line naming the file).
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <string>

#include "attestctl/command_registry.h"
#include "common/base/escape.h"
#include "common/eventlog/event_log.h"
#include "common/eventlog/policy.h"
#include "common/eventlog/render.h"
#include "common/eventlog/replay.h"

namespace attest::ctl {
namespace {

namespace el = attest::eventlog;

constexpr size_t kMaxFileBytes = 128u << 20;

[[noreturn]] void BadInput(const std::string& file, const std::string& problem) {
  throw CommandError{kExitUsage, file + ": " + problem};
}

std::string ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) BadInput(path, "cannot open file");
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < 0) BadInput(path, "cannot determine file size");
  if (static_cast<uint64_t>(size) > kMaxFileBytes) {
    BadInput(path, "file of " + std::to_string(size) + " bytes is larger than " +
                       std::to_string(kMaxFileBytes));
  }
  in.seekg(0);
  std::string data(static_cast<size_t>(size), '\0');
  if (size > 0 && !in.read(data.data(), size)) BadInput(path, "read failed");
  return data;
}

// A binary crypto-agile log starts with PCR 0, EV_NO_ACTION: 00000000 03000000.
bool StartsLikeLog(const el::Bytes& b) {
  static constexpr uint8_t kMagic[8] = {0, 0, 0, 0, 3, 0, 0, 0};
  return b.size() >= 8 && std::equal(kMagic, kMagic + 8, b.begin());
}

el::EventLog LoadLog(const std::string& path, bool force_base64) {
  std::string raw = ReadWholeFile(path);
  el::Bytes bytes(raw.begin(), raw.end());
  if (force_base64) {
    auto decoded = el::Base64Decode(raw);
    if (!decoded) BadInput(path, "not valid base64");
    bytes = std::move(*decoded);
  } else if (!StartsLikeLog(bytes)) {
    // Detection: base64 text whose decoding starts like a log.
    auto decoded = el::Base64Decode(raw);
    if (decoded && StartsLikeLog(*decoded)) bytes = std::move(*decoded);
  }
  auto log = el::ParseEventLog(bytes);
  if (!log) BadInput(path, log.error().ToString());
  return std::move(log).value();
}

void PrintJson(const nlohmann::json& j) {
  std::cout << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
}

struct LogArgs {
  std::string file;
  bool json = false;
  bool base64 = false;
};

void AddShow(CLI::App& group) {
  auto args = std::make_shared<LogArgs>();
  CLI::App* cmd = group.add_subcommand("show", "Decode and print the events of a UEFI event log");
  cmd->add_option("file", args->file, "event log (binary or base64)")->required();
  cmd->add_flag("--json", args->json, "print JSON");
  cmd->add_flag("--base64", args->base64, "the file is base64-encoded");
  cmd->callback([args] {
    el::EventLog log = LoadLog(args->file, args->base64);
    if (args->json) {
      PrintJson(el::EventLogToJson(log));
      return;
    }
    std::cout << "banks:";
    for (const auto& a : log.spec.algorithms) std::cout << " " << el::HashAlgName(a.alg_id);
    std::cout << "\nevents: " << log.events.size() << "\n";
    // Event data is the host's bytes: never raw on a terminal.
    for (const auto& e : log.events) std::cout << TerminalSafe(el::EventSummary(e)) << "\n";
  });
}

void AddReplay(CLI::App& group) {
  auto args = std::make_shared<LogArgs>();
  CLI::App* cmd = group.add_subcommand("replay", "Replay a UEFI event log into final PCR values");
  cmd->add_option("file", args->file, "event log (binary or base64)")->required();
  cmd->add_flag("--json", args->json, "print {\"pcrs\": {bank: {index: hex}}}");
  cmd->add_flag("--base64", args->base64, "the file is base64-encoded");
  cmd->callback([args] {
    el::EventLog log = LoadLog(args->file, args->base64);
    auto pcrs = el::Replay(log);
    if (!pcrs) BadInput(args->file, pcrs.error().ToString());
    if (args->json) {
      PrintJson(el::PcrsToJson(*pcrs));
      return;
    }
    for (const auto& [alg_id, bank] : *pcrs) {
      std::cout << el::HashAlgName(alg_id) << ":\n";
      for (const auto& [index, value] : bank) {
        std::printf("  %-2u : %s\n", index, el::ToHex(value).c_str());
      }
    }
  });
}

el::ReferenceState LoadPolicy(const std::string& path) {
  std::string text = ReadWholeFile(path);
  auto ref = el::ParseReferenceState(text);
  if (!ref) BadInput(path, ref.error().ToString());
  return std::move(ref).value();
}

void AddCheck(CLI::App& group) {
  struct Args {
    std::string log, policy;
    bool json = false, base64 = false;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd = group.add_subcommand(
      "check", "Check a UEFI event log against a measured-boot reference state");
  cmd->add_option("--log", args->log, "event log (binary or base64)")->required();
  cmd->add_option("--policy", args->policy, "reference state JSON")->required();
  cmd->add_flag("--json", args->json, "print {\"result\": ..., \"failures\": [...]}");
  cmd->add_flag("--base64", args->base64, "the log is base64-encoded");
  cmd->callback([args] {
    el::EventLog log = LoadLog(args->log, args->base64);
    el::ReferenceState ref = LoadPolicy(args->policy);
    std::vector<el::Failure> failures =
        el::CheckReferenceState(log, ref, el::VerifiedPcrs::Offline());
    SetExitCode(failures.empty() ? kExitPass : kExitFail);
    if (args->json) {
      PrintJson({{"result", failures.empty() ? "pass" : "fail"},
                 {"failures", el::FailuresToJson(failures)}});
      return;
    }
    if (failures.empty()) {
      std::cout << "PASS: " << args->log << " matches " << args->policy << "\n";
      return;
    }
    std::cout << "FAIL: " << failures.size() << " failure(s)\n";
    for (const auto& f : failures) {
      std::cout << "  " << f.id << ": " << EscapeBytes(f.message);
      for (const auto& [k, v] : f.context) {
        if (k != "event") std::cout << " " << k << "=" << EscapeBytes(v);
      }
      std::cout << "\n";
    }
  });
}

void AddMbFromLog(CLI::App& group) {
  auto args = std::make_shared<LogArgs>();
  CLI::App* cmd = group.add_subcommand(
      "mb-from-log", "Print a measured-boot reference state generated from a known-good log");
  cmd->add_option("--log", args->file, "event log (binary or base64)")->required();
  cmd->add_flag("--base64", args->base64, "the log is base64-encoded");
  cmd->callback([args] {
    el::EventLog log = LoadLog(args->file, args->base64);
    std::cout << el::SerializeReferenceState(el::GenerateReferenceState(log));
  });
}

const CommandRegistration kRegistration([](CLI::App& root) {
  CLI::App& eventlog = Group(root, "eventlog", "Inspect UEFI measured-boot event logs");
  AddShow(eventlog);
  AddReplay(eventlog);
  AddCheck(eventlog);
  CLI::App& policy = Group(root, "policy", "Manage policies");
  AddMbFromLog(policy);
});

}  // namespace
}  // namespace attest::ctl
