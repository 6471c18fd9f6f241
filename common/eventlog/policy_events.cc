#include "common/eventlog/policy_events.h"

#include <algorithm>
#include <string_view>

namespace attest::eventlog {
namespace policy_detail {
namespace {

constexpr const char* kKernelCmdlinePrefix = "kernel_cmdline: ";
constexpr const char* kGrubLinuxPrefixes[] = {"grub_cmd: linux ", "grub_cmd: linuxefi "};

}  // namespace

bool IsSecureBootVariable(const Event& e) {
  return e.pcr == kSecureBootPcr && e.type == ev::kEfiVariableDriverConfig && e.variable &&
         e.variable->vendor == guid::kEfiGlobalVariable && e.variable->name == "SecureBoot";
}

bool IsKeyVariable(const Event& e, const char* name) {
  if (e.pcr != kSecureBootPcr || e.type != ev::kEfiVariableDriverConfig || !e.variable ||
      e.variable->name != name)
    return false;
  const Guid& want = (std::string_view(name) == "db" || std::string_view(name) == "dbx")
                         ? guid::kImageSecurityDatabase
                         : guid::kEfiGlobalVariable;
  return e.variable->vendor == want;
}

// Read by PCR, not by type, so that relabelling a blob (say as EV_POST_CODE,
// or a driver) does not take it out of the check.
bool IsFirmwareCode(const Event& e) {
  if (e.index == 0 || e.type == ev::kNoAction) return false;
  return (e.pcr == kFirmwarePcr || e.pcr == kOptionRomPcr) && !DigestBoundToData(e.type);
}

// Code the boot manager ran, whatever type the log gives it.
bool IsBootApplication(const Event& e) {
  return e.index != 0 && e.pcr == kBootManagerPcr && e.type != ev::kNoAction &&
         !DigestBoundToData(e.type);
}

bool IsScrtmVersion(const Event& e) { return e.pcr == kFirmwarePcr && e.type == ev::kSCrtmVersion; }

bool Contains(const std::vector<RefEntry>& list, const std::string& v) {
  return std::any_of(list.begin(), list.end(), [&v](const RefEntry& e) { return e.value == v; });
}

void CmdlineEvents(const EventLog& log, std::vector<CmdlineEvent>& primary,
                   std::vector<CmdlineEvent>& fallback) {
  for (const Event& e : log.events) {
    if (e.pcr != kGrubCommandPcr || e.type != ev::kIpl || !e.text) continue;
    const std::string& t = *e.text;
    const std::string_view kernel(kKernelCmdlinePrefix);
    if (t.rfind(kernel, 0) == 0) primary.push_back({&e, t.substr(kernel.size())});
    for (const char* p : kGrubLinuxPrefixes) {
      if (t.rfind(p, 0) == 0) fallback.push_back({&e, t.substr(std::string_view(p).size())});
    }
  }
}

std::vector<CmdlineEvent> AllCmdlineEvents(const EventLog& log) {
  std::vector<CmdlineEvent> all, fallback;
  CmdlineEvents(log, all, fallback);
  all.insert(all.end(), fallback.begin(), fallback.end());
  return all;
}

}  // namespace policy_detail

std::string SignatureDigest(const SignatureList& list, const SignatureData& sig) {
  if (list.type == guid::kCertSha256 && sig.data.size() == 32) return ToHex(sig.data);
  auto h = HashBytes(alg::kSha256, sig.data);
  return h ? ToHex(*h) : std::string();
}

std::vector<std::pair<size_t, std::string>> KernelCmdlines(const EventLog& log) {
  std::vector<policy_detail::CmdlineEvent> primary, fallback;
  policy_detail::CmdlineEvents(log, primary, fallback);
  std::vector<std::pair<size_t, std::string>> out;
  for (auto& c : primary.empty() ? fallback : primary) {
    out.emplace_back(c.event->index, std::move(c.cmdline));
  }
  return out;
}

}  // namespace attest::eventlog
