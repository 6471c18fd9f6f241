// Reading and writing the reference-state JSON document.
#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/eventlog/errors.h"
#include "common/eventlog/policy.h"

namespace attest::eventlog {
namespace {

using json = nlohmann::json;
constexpr int kFormatVersion = 1;
constexpr size_t kMaxJsonDepth = 32;

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

}  // namespace

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

}  // namespace attest::eventlog
