#include "common/eventlog/policy.h"

#include <openssl/x509.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <unordered_set>

#include "common/eventlog/errors.h"
#include "common/eventlog/pcr_usage.h"

namespace attest::eventlog {
namespace {

using json = nlohmann::json;
constexpr int kFormatVersion = 1;
constexpr size_t kMaxJsonDepth = 32;

constexpr const char* kKernelCmdlinePrefix = "kernel_cmdline: ";
constexpr const char* kGrubLinuxPrefixes[] = {"grub_cmd: linux ", "grub_cmd: linuxefi "};

// nlohmann's parser recurses per nesting level; refuse deep documents before
// parsing so hostile input cannot exhaust the stack.
bool DepthWithin(std::string_view text, size_t max_depth) {
  size_t depth = 0;
  bool in_string = false, escape = false;
  for (char c : text) {
    if (in_string) {
      if (escape)
        escape = false;
      else if (c == '\\')
        escape = true;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max_depth) return false;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return true;
}

Error Invalid(const std::string& what) {
  return MakeError(errc::policy_invalid, "measured-boot policy: " + what);
}

bool IsHexDigest(const std::string& s, size_t bytes) {
  return s.size() == bytes * 2 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// A list of strings or {"value"/"digest": ..., "note": ...} objects. Digests
// are normalised to lower case without "0x"; their size is checked when
// digest_bytes is non-zero.
Result<std::vector<RefEntry>> ParseEntries(const json& j, const std::string& key, bool digest,
                                           size_t digest_bytes) {
  if (!j.is_array()) return Invalid("\"" + key + "\" must be an array");
  std::vector<RefEntry> out;
  for (size_t i = 0; i < j.size(); ++i) {
    const json& item = j[i];
    const std::string path = key + "[" + std::to_string(i) + "]";
    RefEntry e;
    if (item.is_string()) {
      e.value = item.get<std::string>();
    } else if (item.is_object()) {
      const char* vkey = digest ? "digest" : "value";
      for (const auto& [k, v] : item.items()) {
        if (k != vkey && k != "note") return Invalid("unknown key \"" + k + "\" in " + path);
        if (!v.is_string()) return Invalid(path + "." + k + " must be a string");
      }
      if (!item.contains(vkey)) return Invalid(path + " lacks \"" + vkey + "\"");
      e.value = item[vkey].get<std::string>();
      if (item.contains("note")) e.note = item["note"].get<std::string>();
    } else {
      return Invalid(path + " must be a string or an object");
    }
    if (digest) {
      if (e.value.rfind("0x", 0) == 0 || e.value.rfind("0X", 0) == 0) e.value.erase(0, 2);
      std::transform(e.value.begin(), e.value.end(), e.value.begin(), [](char c) {
        return c >= 'A' && c <= 'F' ? static_cast<char>(c - 'A' + 'a') : c;
      });
      if (digest_bytes != 0 && !IsHexDigest(e.value, digest_bytes)) {
        return Invalid(path + " is not a " + std::to_string(digest_bytes * 2) +
                       "-digit hex digest");
      }
    }
    out.push_back(std::move(e));
  }
  return out;
}

json EntriesToJson(const std::vector<RefEntry>& entries, bool digest) {
  json arr = json::array();
  for (const auto& e : entries) {
    if (e.note.empty()) {
      arr.push_back(e.value);
    } else {
      arr.push_back(json{{digest ? "digest" : "value", e.value}, {"note", e.note}});
    }
  }
  return arr;
}

struct X509Deleter {
  void operator()(X509* x) const { X509_free(x); }
};

std::string CertSubject(const Bytes& der) {
  const unsigned char* p = der.data();
  std::unique_ptr<X509, X509Deleter> cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return "";
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert.get()), buf, sizeof buf);
  return buf;
}

bool Contains(const std::vector<RefEntry>& list, const std::string& v) {
  return std::any_of(list.begin(), list.end(), [&v](const RefEntry& e) { return e.value == v; });
}

void AddUnique(std::vector<RefEntry>& list, RefEntry e) {
  if (!Contains(list, e.value)) list.push_back(std::move(e));
}

// PCR 7: the Secure Boot policy (PFP 3.3.4.8). The same variable measured in
// any other PCR says nothing about Secure Boot and is never read.
constexpr uint32_t kSecureBootPcr = 7;
constexpr uint32_t kFirmwarePcr = 0;
constexpr uint32_t kOptionRomPcr = 2;
constexpr uint32_t kBootManagerPcr = 4;

bool IsSecureBootVariable(const Event& e) {
  return e.pcr == kSecureBootPcr && e.type == ev::kEfiVariableDriverConfig && e.variable &&
         e.variable->vendor == guid::kEfiGlobalVariable && e.variable->name == "SecureBoot";
}

// PCR 7 EV_EFI_VARIABLE_DRIVER_CONFIG event of PK/KEK/db/dbx.
bool IsKeyVariable(const Event& e, const char* name) {
  if (e.pcr != kSecureBootPcr || e.type != ev::kEfiVariableDriverConfig || !e.variable ||
      e.variable->name != name)
    return false;
  const Guid& want = (std::string_view(name) == "db" || std::string_view(name) == "dbx")
                         ? guid::kImageSecurityDatabase
                         : guid::kEfiGlobalVariable;
  return e.variable->vendor == want;
}

// Code measured by the firmware: every extended event of PCRs 0 and 2 whose
// digest is not the hash of its data (blobs, POST code, S-CRTM contents,
// option ROM drivers, ...). Read by PCR, not by type, so that relabelling a
// blob (say as EV_POST_CODE, or a driver) does not take it out of the check.
bool IsFirmwareCode(const Event& e) {
  if (e.index == 0 || e.type == ev::kNoAction) return false;
  return (e.pcr == kFirmwarePcr || e.pcr == kOptionRomPcr) && !DigestBoundToData(e.type);
}

// Every extended event of PCR 4 whose digest is not the hash of its data is
// code the boot manager ran, whatever type the log gives it.
bool IsBootApplication(const Event& e) {
  return e.index != 0 && e.pcr == kBootManagerPcr && e.type != ev::kNoAction &&
         !DigestBoundToData(e.type);
}

bool IsScrtmVersion(const Event& e) { return e.pcr == kFirmwarePcr && e.type == ev::kSCrtmVersion; }

// A GRUB command-line event in PCR 8 and its command line.
struct CmdlineEvent {
  const Event* event = nullptr;
  std::string cmdline;
};

// GRUB's kernel command lines: "kernel_cmdline: ..." events (primary) and
// "grub_cmd: linux ..." ones (fallback, as older GRUBs only log those).
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

// Every command line the log shows, both forms: a policy judges them all, so
// a second `linux` command cannot hide behind an allowed one.
std::vector<CmdlineEvent> AllCmdlineEvents(const EventLog& log) {
  std::vector<CmdlineEvent> all, fallback;
  CmdlineEvents(log, all, fallback);
  all.insert(all.end(), fallback.begin(), fallback.end());
  return all;
}

Failure MakeFailure(const std::string& component, const Event* e, std::string message,
                    std::map<std::string, std::string> ctx = {}) {
  if (e != nullptr) {
    ctx["event"] = std::to_string(e->index);
    message = "event " + std::to_string(e->index) + ": " + message;
  }
  return {"measured_boot.policy." + component, std::move(message), std::move(ctx)};
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
      out.push_back({"measured_boot.pcr_not_verified",
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

void CheckKeys(const EventLog& log, const char* var, const char* component,
               const std::optional<std::vector<RefEntry>>& allowed,
               const std::function<bool(const Event&)>& firmware_config, Reads& reads,
               std::vector<Failure>& out) {
  if (!allowed || !reads.Contents(component, kSecureBootPcr)) return;
  bool seen = false;
  for (const Event& e : log.events) {
    if (!IsKeyVariable(e, var) || !firmware_config(e)) continue;
    seen = true;
    if (!e.variable->signature_lists) {
      out.push_back(
          MakeFailure(component, &e,
                      std::string(var) + " is not a valid EFI_SIGNATURE_LIST: " + e.decode_error));
      continue;
    }
    for (const auto& list : *e.variable->signature_lists) {
      for (const auto& sig : list.signatures) {
        std::string d = SignatureDigest(list, sig);
        if (!Contains(*allowed, d)) {
          out.push_back(MakeFailure(component, &e,
                                    std::string(var) + " holds an entry the policy does not allow",
                                    {{"actual", d}, {"owner", GuidToString(sig.owner)}}));
        }
      }
    }
  }
  if (!seen && !allowed->empty()) {
    out.push_back(MakeFailure(component, nullptr,
                              std::string(var) + " was not measured (expected in PCR 7)"));
  }
}

}  // namespace

std::string SignatureDigest(const SignatureList& list, const SignatureData& sig) {
  if (list.type == guid::kCertSha256 && sig.data.size() == 32) return ToHex(sig.data);
  auto h = HashBytes(alg::kSha256, sig.data);
  return h ? ToHex(*h) : std::string();
}

std::vector<std::pair<size_t, std::string>> KernelCmdlines(const EventLog& log) {
  std::vector<CmdlineEvent> primary, fallback;
  CmdlineEvents(log, primary, fallback);
  std::vector<std::pair<size_t, std::string>> out;
  for (auto& c : primary.empty() ? fallback : primary) {
    out.emplace_back(c.event->index, std::move(c.cmdline));
  }
  return out;
}

Result<ReferenceState> ParseReferenceState(std::string_view text) {
  if (text.size() > kMaxPolicyBytes)
    return Invalid("document larger than " + std::to_string(kMaxPolicyBytes) + " bytes");
  if (!DepthWithin(text, kMaxJsonDepth))
    return Invalid("JSON nested deeper than " + std::to_string(kMaxJsonDepth));
  json j = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Invalid("not valid JSON");
  if (!j.is_object()) return Invalid("top level must be a JSON object");
  ReferenceState ref;
  if (!j.contains("version")) return Invalid("missing \"version\"");
  for (const auto& [key, v] : j.items()) {
    if (key == "version") {
      if (!v.is_number_integer() || v.get<int64_t>() != kFormatVersion) {
        return Invalid("\"version\" must be " + std::to_string(kFormatVersion));
      }
    } else if (key == "digest_alg") {
      auto a = v.is_string() ? HashAlgFromName(v.get<std::string>()) : std::nullopt;
      if (!a) return Invalid("\"digest_alg\" must be one of sha1, sha256, sha384, sha512, sm3_256");
      ref.digest_alg = *a;
    } else if (key == "secureboot") {
      if (!v.is_object()) return Invalid("\"secureboot\" must be an object");
      for (const auto& [k, b] : v.items()) {
        if (k != "required") return Invalid("unknown key \"secureboot." + k + "\"");
        if (!b.is_boolean()) return Invalid("\"secureboot.required\" must be a boolean");
        ref.secureboot_required = b.get<bool>();
      }
    } else if (key == "comment") {
      if (!v.is_string()) return Invalid("\"comment\" must be a string");
    } else {
      std::optional<std::vector<RefEntry>>* slot = nullptr;
      bool digest_of_alg = false, text_value = false;
      if (key == "pk")
        slot = &ref.pk;
      else if (key == "kek")
        slot = &ref.kek;
      else if (key == "db")
        slot = &ref.db;
      else if (key == "dbx_required")
        slot = &ref.dbx_required;
      else if (key == "scrtm_versions")
        slot = &ref.scrtm_versions, text_value = true;
      else if (key == "firmware_blobs")
        slot = &ref.firmware_blobs, digest_of_alg = true;
      else if (key == "boot_applications")
        slot = &ref.boot_applications, digest_of_alg = true;
      else if (key == "kernel_cmdlines")
        slot = &ref.kernel_cmdlines, text_value = true;
      else
        return Invalid("unknown key \"" + key + "\"");
      // Event digests are checked against digest_alg's size once it is known (below).
      auto entries = ParseEntries(v, key, !text_value, text_value || digest_of_alg ? 0 : 32);
      if (!entries) return entries.error();
      *slot = std::move(entries).value();
    }
  }
  // Firmware blob and boot application digests are in digest_alg's size.
  for (auto* list : {&ref.firmware_blobs, &ref.boot_applications}) {
    if (!*list) continue;
    const char* key = list == &ref.firmware_blobs ? "firmware_blobs" : "boot_applications";
    for (size_t i = 0; i < (*list)->size(); ++i) {
      const std::string& v = (**list)[i].value;
      if (!IsHexDigest(v, HashAlgSize(ref.digest_alg))) {
        return Invalid(std::string(key) + "[" + std::to_string(i) + "] is not a " +
                       HashAlgName(ref.digest_alg) + " digest (" +
                       std::to_string(HashAlgSize(ref.digest_alg) * 2) + " hex digits)");
      }
    }
  }
  return ref;
}

std::string SerializeReferenceState(const ReferenceState& ref) {
  json j = json::object();
  j["version"] = kFormatVersion;
  j["digest_alg"] = HashAlgName(ref.digest_alg);
  j["secureboot"] = json{{"required", ref.secureboot_required}};
  auto put = [&j](const char* key, const std::optional<std::vector<RefEntry>>& list, bool digest) {
    if (list) j[key] = EntriesToJson(*list, digest);
  };
  put("pk", ref.pk, true);
  put("kek", ref.kek, true);
  put("db", ref.db, true);
  put("dbx_required", ref.dbx_required, true);
  put("scrtm_versions", ref.scrtm_versions, false);
  put("firmware_blobs", ref.firmware_blobs, true);
  put("boot_applications", ref.boot_applications, true);
  put("kernel_cmdlines", ref.kernel_cmdlines, false);
  return j.dump(2, ' ', false, json::error_handler_t::replace) + "\n";
}

ReferenceState GenerateReferenceState(const EventLog& log) {
  ReferenceState ref;
  // sha256 when the log has it, else the first bank we can name in JSON.
  ref.digest_alg = alg::kSha256;
  if (std::none_of(log.spec.algorithms.begin(), log.spec.algorithms.end(),
                   [](const AlgorithmSize& a) { return a.alg_id == alg::kSha256; })) {
    for (const auto& a : log.spec.algorithms) {
      if (HashAlgSize(a.alg_id) != 0) {
        ref.digest_alg = a.alg_id;
        break;
      }
    }
  }
  ref.pk.emplace();
  ref.kek.emplace();
  ref.db.emplace();
  ref.dbx_required.emplace();
  ref.scrtm_versions.emplace();
  ref.firmware_blobs.emplace();
  ref.boot_applications.emplace();
  ref.kernel_cmdlines.emplace();
  const std::vector<bool> after = AfterSeparator(log);
  for (const Event& e : log.events) {
    const bool firmware_config = e.index < after.size() && !after[e.index];
    // The last measurement is the state at boot, as in CheckReferenceState.
    if (IsSecureBootVariable(e) && firmware_config) {
      ref.secureboot_required = e.variable->data == Bytes{1};
    }
    for (auto [var, list] : {std::pair{"PK", &ref.pk},
                             {"KEK", &ref.kek},
                             {"db", &ref.db},
                             {"dbx", &ref.dbx_required}}) {
      if (!IsKeyVariable(e, var) || !firmware_config || !e.variable->signature_lists) continue;
      for (const auto& sl : *e.variable->signature_lists) {
        for (const auto& sig : sl.signatures) {
          std::string note = sl.type == guid::kCertX509 ? CertSubject(sig.data) : std::string();
          AddUnique(**list, {SignatureDigest(sl, sig), note});
        }
      }
    }
    const Digest* d = e.DigestFor(ref.digest_alg);
    if (IsScrtmVersion(e) && e.text) AddUnique(*ref.scrtm_versions, {*e.text, ""});
    if (IsFirmwareCode(e) && d) {
      AddUnique(*ref.firmware_blobs,
                {ToHex(d->value), e.blob ? e.blob->description : EventTypeName(e.type)});
    }
    if (IsBootApplication(e) && d) {
      AddUnique(*ref.boot_applications,
                {ToHex(d->value), e.image ? e.image->device_path_text : ""});
    }
  }
  for (auto& c : AllCmdlineEvents(log)) AddUnique(*ref.kernel_cmdlines, {c.cmdline, ""});
  return ref;
}

std::vector<Failure> CheckReferenceState(const EventLog& log, const ReferenceState& ref,
                                         const VerifiedPcrs& verified) {
  std::vector<Failure> out = VerifyEventDigests(log);
  for (auto& f : CheckPcrUsage(log)) out.push_back(std::move(f));
  Reads reads(verified);
  // Secure Boot configuration counts only as the firmware measured it:
  // before PCR 7's separator (CheckPcrUsage fails any after it).
  const std::vector<bool> after = AfterSeparator(log);
  auto firmware_config = [&after](const Event& e) {
    return e.index < after.size() && !after[e.index];
  };

  if (ref.secureboot_required && reads.Contents("secureboot", kSecureBootPcr)) {
    const Event* sb = nullptr;
    for (const Event& e : log.events) {
      // The last measurement is the state at boot.
      if (IsSecureBootVariable(e) && firmware_config(e)) sb = &e;
    }
    if (sb == nullptr) {
      out.push_back(MakeFailure("secureboot_disabled", nullptr,
                                "no SecureBoot variable was measured in PCR 7"));
    } else if (sb->variable->data != Bytes{1}) {
      out.push_back(MakeFailure("secureboot_disabled", sb, "SecureBoot is not enabled",
                                {{"actual", ToHex(sb->variable->data)}, {"expected", "01"}}));
    }
  }
  CheckKeys(log, "PK", "pk", ref.pk, firmware_config, reads, out);
  CheckKeys(log, "KEK", "kek", ref.kek, firmware_config, reads, out);
  CheckKeys(log, "db", "db", ref.db, firmware_config, reads, out);

  if (ref.dbx_required && reads.Contents("dbx", kSecureBootPcr)) {
    std::unordered_set<std::string> present;
    const Event* dbx = nullptr;
    for (const Event& e : log.events) {
      if (!IsKeyVariable(e, "dbx") || !firmware_config(e)) continue;
      dbx = &e;
      if (!e.variable->signature_lists) {
        out.push_back(MakeFailure("dbx_missing", &e,
                                  "dbx is not a valid EFI_SIGNATURE_LIST: " + e.decode_error));
        continue;
      }
      for (const auto& list : *e.variable->signature_lists) {
        for (const auto& sig : list.signatures) present.insert(SignatureDigest(list, sig));
      }
    }
    for (const auto& want : *ref.dbx_required) {
      if (!present.count(want.value)) {
        out.push_back(MakeFailure("dbx_missing", dbx, "dbx lacks a required entry",
                                  {{"expected", want.value}}));
      }
    }
  }

  if (ref.firmware_blobs) reads.Digests("firmware_blob", kFirmwarePcr, ref.digest_alg);
  if (ref.boot_applications) reads.Digests("boot_application", kBootManagerPcr, ref.digest_alg);
  if (ref.scrtm_versions && reads.Contents("scrtm_version", kFirmwarePcr) &&
      !ref.scrtm_versions->empty() &&
      std::none_of(log.events.begin(), log.events.end(),
                   [&](const Event& e) { return IsScrtmVersion(e) && firmware_config(e); })) {
    // Required when listed: else relabelling it (as EV_POST_CODE) hides it.
    out.push_back(MakeFailure("scrtm_version", nullptr, "no S-CRTM version was measured in PCR 0"));
  }
  for (const Event& e : log.events) {
    if (e.type == ev::kEfiVariableDriverConfig && !e.variable && verified.Covers(e.pcr)) {
      out.push_back(
          MakeFailure("malformed_event", &e, "undecodable UEFI variable: " + e.decode_error));
    }
    if (IsScrtmVersion(e) && ref.scrtm_versions && verified.Covers(e.pcr)) {
      std::string v = e.text.value_or("");
      if (!Contains(*ref.scrtm_versions, v)) {
        out.push_back(MakeFailure("scrtm_version", &e,
                                  "S-CRTM version \"" + v + "\" is not allowed", {{"actual", v}}));
      }
    }
    const bool blob = IsFirmwareCode(e);
    const bool app = IsBootApplication(e);
    const std::optional<std::vector<RefEntry>>& list =
        blob ? ref.firmware_blobs : ref.boot_applications;
    if (!(blob || app) || !list) continue;
    const char* component = blob ? "firmware_blob" : "boot_application";
    if (!reads.Digests(component, e.pcr, ref.digest_alg)) continue;
    const Digest* d = e.DigestFor(ref.digest_alg);
    if (d == nullptr) {
      out.push_back(
          MakeFailure(component, &e, "no " + HashAlgName(ref.digest_alg) + " digest in the log"));
    } else if (!Contains(*list, ToHex(d->value))) {
      std::map<std::string, std::string> ctx{{"actual", ToHex(d->value)},
                                             {"bank", HashAlgName(ref.digest_alg)},
                                             {"pcr", std::to_string(e.pcr)},
                                             {"type", EventTypeName(e.type)}};
      std::string what = blob ? "firmware code" : "boot application";
      if (app && e.image) {
        ctx["path"] = e.image->device_path_text;
        what += " " + e.image->device_path_text;
      }
      out.push_back(MakeFailure(component, &e, what + " has a digest the policy does not allow",
                                std::move(ctx)));
    }
  }

  if (ref.kernel_cmdlines && reads.Contents("kernel_cmdline", kGrubCommandPcr)) {
    // Every event of PCR 8 is GRUB's text, bound to its digest: a command
    // line relabelled (another type, another tag) or shown over another
    // digest fails here.
    for (auto& f : CheckTextEvents(log, kGrubCommandPcr, ev::kIpl)) out.push_back(std::move(f));
    const auto cmdlines = AllCmdlineEvents(log);
    for (const auto& c : cmdlines) {
      const size_t index = c.event->index;
      if (!Contains(*ref.kernel_cmdlines, c.cmdline)) {
        out.push_back({"measured_boot.policy.kernel_cmdline",
                       "event " + std::to_string(index) + ": kernel command line is not allowed",
                       {{"event", std::to_string(index)}, {"actual", c.cmdline}}});
      }
    }
    if (cmdlines.empty() && !ref.kernel_cmdlines->empty()) {
      out.push_back(MakeFailure("kernel_cmdline", nullptr, "no kernel command line was measured"));
    }
  }
  reads.Report(out);
  return out;
}

}  // namespace attest::eventlog
