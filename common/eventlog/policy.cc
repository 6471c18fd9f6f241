// CheckReferenceState: a log judged against a reference state, one step per
// component. Parsing and generation are in policy_parse.cc and
// policy_generate.cc; the event predicates both use in policy_events.h.
#include "common/eventlog/policy.h"

#include <algorithm>
#include <map>
#include <optional>
#include <unordered_set>

#include "common/eventlog/failure_ids.h"
#include "common/eventlog/pcr_usage.h"
#include "common/eventlog/policy_events.h"

namespace attest::eventlog {
namespace {

using namespace policy_detail;

Failure MakeFailure(const char* id, const Event* e, std::string message,
                    std::map<std::string, std::string> ctx = {}) {
  if (e != nullptr) {
    ctx["event"] = std::to_string(e->index);
    message = "event " + std::to_string(e->index) + ": " + message;
  }
  return {id, std::move(message), std::move(ctx)};
}

// Which PCRs a decision may read, and one failure per (component, PCR) that it
// could not read because the quote did not cover it or the replay differed.
class Reads {
 public:
  explicit Reads(const VerifiedPcrs& verified) : verified_(verified) {}
  // Contents of events in `pcr` (bound to every bank's digest).
  bool Contents(const char* component, uint32_t pcr) {
    return Note(component, pcr, std::nullopt, verified_.Covers(pcr));
  }
  // Digests of `bank` in `pcr`.
  bool Digests(const char* component, uint32_t pcr, uint16_t bank) {
    return Note(component, pcr, bank, verified_.Covers(bank, pcr));
  }
  void Report(std::vector<Failure>& out) const {
    for (const auto& [key, bank] : missing_) {
      const auto& [component, pcr] = key;
      std::map<std::string, std::string> ctx{{"pcr", std::to_string(pcr)},
                                             {"component", component}};
      std::string what = "PCR " + std::to_string(pcr);
      if (bank) {
        ctx["bank"] = HashAlgName(*bank);
        what += " (" + HashAlgName(*bank) + ")";
      }
      out.push_back({failure_id::kPcrNotVerified,
                     what + " was not quoted or does not match the replay: the " + component +
                         " check cannot read it",
                     std::move(ctx)});
    }
  }

 private:
  bool Note(const char* component, uint32_t pcr, std::optional<uint16_t> bank, bool ok) {
    if (!ok) missing_.try_emplace({component, pcr}, bank);
    return ok;
  }
  const VerifiedPcrs& verified_;
  std::map<std::pair<std::string, uint32_t>, std::optional<uint16_t>> missing_;
};

// What every step reads: the log, the reference state, the PCRs it may read
// and whether an event was measured by the firmware (before its PCR's
// separator: CheckPcrUsage fails configuration after it).
struct CheckContext {
  CheckContext(const EventLog& l, const ReferenceState& r, const VerifiedPcrs& v)
      : log(l), ref(r), verified(v), reads(v), after(AfterSeparator(l)) {}
  bool FirmwareConfig(const Event& e) const { return e.index < after.size() && !after[e.index]; }

  const EventLog& log;
  const ReferenceState& ref;
  const VerifiedPcrs& verified;
  Reads reads;
  const std::vector<bool> after;
};

void CheckSecureBoot(CheckContext& c, std::vector<Failure>& out) {
  if (!c.ref.secureboot_required || !c.reads.Contents("secureboot", kSecureBootPcr)) return;
  const Event* sb = nullptr;
  for (const Event& e : c.log.events) {
    // The last measurement is the state at boot.
    if (IsSecureBootVariable(e) && c.FirmwareConfig(e)) sb = &e;
  }
  if (sb == nullptr) {
    out.push_back(MakeFailure(failure_id::kPolicySecurebootDisabled, nullptr,
                              "no SecureBoot variable was measured in PCR 7"));
  } else if (sb->variable->data != Bytes{1}) {
    out.push_back(MakeFailure(failure_id::kPolicySecurebootDisabled, sb,
                              "SecureBoot is not enabled",
                              {{"actual", ToHex(sb->variable->data)}, {"expected", "01"}}));
  }
}

// PK, KEK or db: every entry allowed, and the variable measured when the
// allowed list is not empty.
void CheckKeys(CheckContext& c, const char* var, const char* id, const char* component,
               const std::optional<std::vector<RefEntry>>& allowed, std::vector<Failure>& out) {
  if (!allowed || !c.reads.Contents(component, kSecureBootPcr)) return;
  bool seen = false;
  for (const Event& e : c.log.events) {
    if (!IsKeyVariable(e, var) || !c.FirmwareConfig(e)) continue;
    seen = true;
    if (!e.variable->signature_lists) {
      out.push_back(MakeFailure(
          id, &e, std::string(var) + " is not a valid EFI_SIGNATURE_LIST: " + e.decode_error));
      continue;
    }
    for (const auto& list : *e.variable->signature_lists) {
      for (const auto& sig : list.signatures) {
        std::string d = SignatureDigest(list, sig);
        if (!Contains(*allowed, d)) {
          out.push_back(MakeFailure(id, &e,
                                    std::string(var) + " holds an entry the policy does not allow",
                                    {{"actual", d}, {"owner", GuidToString(sig.owner)}}));
        }
      }
    }
  }
  if (!seen && !allowed->empty()) {
    out.push_back(
        MakeFailure(id, nullptr, std::string(var) + " was not measured (expected in PCR 7)"));
  }
}

void CheckDbx(CheckContext& c, std::vector<Failure>& out) {
  if (!c.ref.dbx_required || !c.reads.Contents("dbx", kSecureBootPcr)) return;
  std::unordered_set<std::string> present;
  const Event* dbx = nullptr;
  for (const Event& e : c.log.events) {
    if (!IsKeyVariable(e, "dbx") || !c.FirmwareConfig(e)) continue;
    dbx = &e;
    if (!e.variable->signature_lists) {
      out.push_back(MakeFailure(failure_id::kPolicyDbxMissing, &e,
                                "dbx is not a valid EFI_SIGNATURE_LIST: " + e.decode_error));
      continue;
    }
    for (const auto& list : *e.variable->signature_lists) {
      for (const auto& sig : list.signatures) present.insert(SignatureDigest(list, sig));
    }
  }
  for (const auto& want : *c.ref.dbx_required) {
    if (!present.count(want.value)) {
      out.push_back(MakeFailure(failure_id::kPolicyDbxMissing, dbx, "dbx lacks a required entry",
                                {{"expected", want.value}}));
    }
  }
}

// An S-CRTM version is required when the list is non-empty: else relabelling
// it (as EV_POST_CODE) hides it.
void CheckScrtmMeasured(CheckContext& c, std::vector<Failure>& out) {
  if (c.ref.scrtm_versions && c.reads.Contents("scrtm_version", kFirmwarePcr) &&
      !c.ref.scrtm_versions->empty() &&
      std::none_of(c.log.events.begin(), c.log.events.end(),
                   [&c](const Event& e) { return IsScrtmVersion(e) && c.FirmwareConfig(e); })) {
    out.push_back(MakeFailure(failure_id::kPolicyScrtmVersion, nullptr,
                              "no S-CRTM version was measured in PCR 0"));
  }
}

// A firmware blob (PCRs 0, 2) or boot application (PCR 4) digest against its list.
void CheckCodeDigest(CheckContext& c, const Event& e, std::vector<Failure>& out) {
  const bool blob = IsFirmwareCode(e);
  const bool app = IsBootApplication(e);
  const std::optional<std::vector<RefEntry>>& list =
      blob ? c.ref.firmware_blobs : c.ref.boot_applications;
  if (!(blob || app) || !list) return;
  const char* component = blob ? "firmware_blob" : "boot_application";
  const char* id = blob ? failure_id::kPolicyFirmwareBlob : failure_id::kPolicyBootApplication;
  if (!c.reads.Digests(component, e.pcr, c.ref.digest_alg)) return;
  const Digest* d = e.DigestFor(c.ref.digest_alg);
  if (d == nullptr) {
    out.push_back(
        MakeFailure(id, &e, "no " + HashAlgName(c.ref.digest_alg) + " digest in the log"));
  } else if (!Contains(*list, ToHex(d->value))) {
    std::map<std::string, std::string> ctx{{"actual", ToHex(d->value)},
                                           {"bank", HashAlgName(c.ref.digest_alg)},
                                           {"pcr", std::to_string(e.pcr)},
                                           {"type", EventTypeName(e.type)}};
    std::string what = blob ? "firmware code" : "boot application";
    if (app && e.image) {
      ctx["path"] = e.image->device_path_text;
      what += " " + e.image->device_path_text;
    }
    out.push_back(
        MakeFailure(id, &e, what + " has a digest the policy does not allow", std::move(ctx)));
  }
}

// One pass over the events: undecodable variables, S-CRTM versions and code
// digests, in log order.
void CheckEvents(CheckContext& c, std::vector<Failure>& out) {
  for (const Event& e : c.log.events) {
    if (e.type == ev::kEfiVariableDriverConfig && !e.variable && c.verified.Covers(e.pcr)) {
      out.push_back(MakeFailure(failure_id::kPolicyMalformedEvent, &e,
                                "undecodable UEFI variable: " + e.decode_error));
    }
    if (IsScrtmVersion(e) && c.ref.scrtm_versions && c.verified.Covers(e.pcr)) {
      std::string v = e.text.value_or("");
      if (!Contains(*c.ref.scrtm_versions, v)) {
        out.push_back(MakeFailure(failure_id::kPolicyScrtmVersion, &e,
                                  "S-CRTM version \"" + v + "\" is not allowed", {{"actual", v}}));
      }
    }
    CheckCodeDigest(c, e, out);
  }
}

void CheckKernelCmdlines(CheckContext& c, std::vector<Failure>& out) {
  if (!c.ref.kernel_cmdlines || !c.reads.Contents("kernel_cmdline", kGrubCommandPcr)) return;
  // Every event of PCR 8 is GRUB's text, bound to its digest: a command
  // line relabelled (another type, another tag) or shown over another
  // digest fails here.
  for (auto& f : CheckTextEvents(c.log, kGrubCommandPcr, ev::kIpl)) out.push_back(std::move(f));
  const auto cmdlines = AllCmdlineEvents(c.log);
  for (const auto& cmd : cmdlines) {
    const size_t index = cmd.event->index;
    if (!Contains(*c.ref.kernel_cmdlines, cmd.cmdline)) {
      out.push_back({failure_id::kPolicyKernelCmdline,
                     "event " + std::to_string(index) + ": kernel command line is not allowed",
                     {{"event", std::to_string(index)}, {"actual", cmd.cmdline}}});
    }
  }
  if (cmdlines.empty() && !c.ref.kernel_cmdlines->empty()) {
    out.push_back(MakeFailure(failure_id::kPolicyKernelCmdline, nullptr,
                              "no kernel command line was measured"));
  }
}

}  // namespace

std::vector<Failure> CheckReferenceState(const EventLog& log, const ReferenceState& ref,
                                         const VerifiedPcrs& verified) {
  std::vector<Failure> out = VerifyEventDigests(log);
  for (auto& f : CheckPcrUsage(log)) out.push_back(std::move(f));
  CheckContext c(log, ref, verified);
  CheckSecureBoot(c, out);
  CheckKeys(c, "PK", failure_id::kPolicyPk, "pk", ref.pk, out);
  CheckKeys(c, "KEK", failure_id::kPolicyKek, "kek", ref.kek, out);
  CheckKeys(c, "db", failure_id::kPolicyDb, "db", ref.db, out);
  CheckDbx(c, out);
  if (ref.firmware_blobs) c.reads.Digests("firmware_blob", kFirmwarePcr, ref.digest_alg);
  if (ref.boot_applications) c.reads.Digests("boot_application", kBootManagerPcr, ref.digest_alg);
  CheckScrtmMeasured(c, out);
  CheckEvents(c, out);
  CheckKernelCmdlines(c, out);
  c.reads.Report(out);
  return out;
}

}  // namespace attest::eventlog
