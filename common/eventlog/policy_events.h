// Internal to the reference-state code (policy.cc, policy_generate.cc): which
// events each reference-state component reads. Generation and checking must
// select the same events, so both use these predicates.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/eventlog/event_log.h"
#include "common/eventlog/policy.h"

namespace attest::eventlog::policy_detail {

// PCR 7: the Secure Boot policy (PFP 3.3.4.8). The same variable measured in
// any other PCR says nothing about Secure Boot and is never read.
inline constexpr uint32_t kSecureBootPcr = 7;
inline constexpr uint32_t kFirmwarePcr = 0;
inline constexpr uint32_t kOptionRomPcr = 2;
inline constexpr uint32_t kBootManagerPcr = 4;

// The PCR 7 EV_EFI_VARIABLE_DRIVER_CONFIG event of SecureBoot.
bool IsSecureBootVariable(const Event& e);
// PCR 7 EV_EFI_VARIABLE_DRIVER_CONFIG event of PK/KEK/db/dbx.
bool IsKeyVariable(const Event& e, const char* name);
// Code measured by the firmware: every extended event of PCRs 0 and 2 whose
// digest is not the hash of its data.
bool IsFirmwareCode(const Event& e);
// Every extended event of PCR 4 whose digest is not the hash of its data.
bool IsBootApplication(const Event& e);
bool IsScrtmVersion(const Event& e);

bool Contains(const std::vector<RefEntry>& list, const std::string& v);

// A GRUB command-line event in PCR 8 and its command line.
struct CmdlineEvent {
  const Event* event = nullptr;
  std::string cmdline;
};

// GRUB's kernel command lines: "kernel_cmdline: ..." events (primary) and
// "grub_cmd: linux ..." ones (fallback, as older GRUBs only log those).
void CmdlineEvents(const EventLog& log, std::vector<CmdlineEvent>& primary,
                   std::vector<CmdlineEvent>& fallback);
// Every command line the log shows, both forms: a policy judges them all, so
// a second `linux` command cannot hide behind an allowed one.
std::vector<CmdlineEvent> AllCmdlineEvents(const EventLog& log);

}  // namespace attest::eventlog::policy_detail
