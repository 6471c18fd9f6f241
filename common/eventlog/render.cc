#include "common/eventlog/render.h"

#include <cstdio>

#include "common/eventlog/policy.h"

namespace attest::eventlog {
namespace {

using json = nlohmann::json;

std::string Hex0x(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(v));
  return buf;
}

std::string SignatureTypeName(const Guid& g) {
  if (g == guid::kCertX509) return "x509";
  if (g == guid::kCertSha256) return "sha256";
  return GuidToString(g);
}

json VariableToJson(const UefiVariable& v) {
  json j{{"guid", GuidToString(v.vendor)}, {"name", v.name}, {"data", ToHex(v.data)}};
  if (v.signature_lists) {
    json lists = json::array();
    for (const auto& l : *v.signature_lists) {
      json sigs = json::array();
      for (const auto& s : l.signatures) {
        sigs.push_back({{"owner", GuidToString(s.owner)}, {"digest", SignatureDigest(l, s)}});
      }
      lists.push_back({{"type", SignatureTypeName(l.type)}, {"signatures", std::move(sigs)}});
    }
    j["signature_lists"] = std::move(lists);
  }
  return j;
}

}  // namespace

json EventToJson(const Event& e) {
  json j{{"index", e.index},  {"offset", e.offset},
         {"pcr", e.pcr},      {"type", EventTypeName(e.type)},
         {"type_id", e.type}, {"size", e.data.size()}};
  json digests = json::object();
  for (const auto& d : e.digests) digests[HashAlgName(d.alg_id)] = ToHex(d.value);
  j["digests"] = std::move(digests);
  bool decoded = false;
  if (e.startup_locality) j["startup_locality"] = *e.startup_locality, decoded = true;
  if (e.text) j["text"] = *e.text, decoded = true;
  if (e.separator) j["separator"] = Hex0x(*e.separator), decoded = true;
  if (e.blob) {
    j["blob"] = {{"base", Hex0x(e.blob->base)}, {"length", e.blob->length}};
    if (!e.blob->description.empty()) j["blob"]["description"] = e.blob->description;
    decoded = true;
  }
  if (e.variable) j["variable"] = VariableToJson(*e.variable), decoded = true;
  if (e.image) {
    j["image"] = {{"location", Hex0x(e.image->location)},
                  {"length", e.image->length},
                  {"link_time_address", Hex0x(e.image->link_time_address)},
                  {"device_path", e.image->device_path_text},
                  {"device_path_hex", ToHex(e.image->device_path)}};
    decoded = true;
  }
  if (e.gpt) {
    json parts = json::array();
    for (const auto& p : e.gpt->partitions) {
      parts.push_back({{"type", GuidToString(p.type)},
                       {"guid", GuidToString(p.unique)},
                       {"first_lba", p.first_lba},
                       {"last_lba", p.last_lba},
                       {"attributes", Hex0x(p.attributes)},
                       {"name", p.name}});
    }
    j["gpt"] = {{"disk_guid", GuidToString(e.gpt->disk_guid)}, {"partitions", std::move(parts)}};
    decoded = true;
  }
  if (!decoded || e.index == 0) j["data"] = ToHex(e.data);
  if (!e.decode_error.empty()) j["decode_error"] = e.decode_error;
  return j;
}

json EventLogToJson(const EventLog& log) {
  json algs = json::array();
  for (const auto& a : log.spec.algorithms) {
    algs.push_back({{"algorithm", HashAlgName(a.alg_id)}, {"digest_size", a.digest_size}});
  }
  json events = json::array();
  for (const auto& e : log.events) events.push_back(EventToJson(e));
  return {{"spec_id",
           {{"platform_class", log.spec.platform_class},
            {"spec_version", std::to_string(log.spec.spec_version_major) + "." +
                                 std::to_string(log.spec.spec_version_minor) + "." +
                                 std::to_string(log.spec.spec_errata)},
            {"uintn_size", log.spec.uintn_size},
            {"algorithms", std::move(algs)}}},
          {"events", std::move(events)}};
}

json PcrsToJson(const PcrValues& pcrs) {
  json banks = json::object();
  for (const auto& [alg_id, bank] : pcrs) {
    json b = json::object();
    for (const auto& [index, value] : bank) b[std::to_string(index)] = ToHex(value);
    banks[HashAlgName(alg_id)] = std::move(b);
  }
  return {{"pcrs", std::move(banks)}};
}

json FailuresToJson(const std::vector<Failure>& failures) {
  json arr = json::array();
  for (const auto& f : failures)
    arr.push_back({{"id", f.id}, {"message", f.message}, {"context", f.context}});
  return arr;
}

std::string EventSummary(const Event& e) {
  std::string s =
      "#" + std::to_string(e.index) + " PCR" + std::to_string(e.pcr) + " " + EventTypeName(e.type);
  for (const auto& d : e.digests) {
    if (d.alg_id == alg::kSha256) s += " sha256:" + ToHex(d.value);
  }
  if (e.index == 0) return s + " (Spec ID Event03)";
  if (e.startup_locality) s += " StartupLocality=" + std::to_string(*e.startup_locality);
  if (e.text) s += " \"" + *e.text + "\"";
  if (e.separator) s += " separator=" + Hex0x(*e.separator);
  if (e.blob) s += " blob base=" + Hex0x(e.blob->base) + " length=" + Hex0x(e.blob->length);
  if (e.variable) {
    s += " " + e.variable->name;
    if (e.variable->name == "SecureBoot") {
      s += " = " + ToHex(e.variable->data);
    } else if (e.variable->signature_lists) {
      size_t n = 0;
      for (const auto& l : *e.variable->signature_lists) n += l.signatures.size();
      s += " (" + std::to_string(n) + " signatures)";
    } else {
      s += " (" + std::to_string(e.variable->data.size()) + " bytes)";
    }
  }
  if (e.image)
    s += " " + (e.image->device_path_text.empty() ? "(no device path)" : e.image->device_path_text);
  if (e.gpt)
    s += " disk " + GuidToString(e.gpt->disk_guid) + ", " +
         std::to_string(e.gpt->partitions.size()) + " partitions";
  if (!e.decode_error.empty()) s += " [undecodable: " + e.decode_error + "]";
  return s;
}

}  // namespace attest::eventlog
