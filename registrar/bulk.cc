#include "registrar/bulk.h"

#include <openssl/sha.h>

#include <cctype>

#include <nlohmann/json.hpp>

#include "common/credential/credential.h"
#include "common/kafka/partitioner.h"
#include "common/tpm/marshal.h"
#include "common/tpm/tpm_crypto.h"
#include "registrar/codec.h"
#include "registrar/errors.h"
#include "registrar/policy_check.h"
#include "registrar/store.h"

namespace attest::registrar {
namespace {

Error Bad(const std::string& what) { return MakeError(errc::bad_request, what); }

Result<Bytes> FromHex(const std::string& hex, const std::string& field) {
  if (hex.empty() || hex.size() % 2 != 0 || hex.size() > 8192) {
    return Bad(field + ": expected 1..4096 bytes of hex");
  }
  Bytes out(hex.size() / 2);
  for (size_t i = 0; i < hex.size(); ++i) {
    char c = hex[i];
    int v = c >= '0' && c <= '9'   ? c - '0'
            : c >= 'a' && c <= 'f' ? c - 'a' + 10
            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                   : -1;
    if (v < 0) return Bad(field + ": not hex");
    out[i / 2] = static_cast<uint8_t>(out[i / 2] << 4 | v);
  }
  return out;
}

// The canonical hex of a checked EK TPM2B_PUBLIC.
Result<std::string> CheckEk(const std::string& hex, const std::string& field) {
  Bytes ek;
  ATTEST_ASSIGN_OR_RETURN(ek, FromHex(hex, field));
  auto pub = tpm::ParsePublic(ek);
  if (!pub) return Bad(field + ": " + pub.error().message);
  if (pub->publicArea.type != TPM2_ALG_RSA && pub->publicArea.type != TPM2_ALG_ECC) {
    return Bad(field + ": not an RSA or ECC key");
  }
  return tpm::ToHex(ek);
}

std::string DefaultName(const BulkInput& in) {
  uint8_t d[32];
  std::string all = in.runtime_policy + '\0' + in.pcr_policy;
  SHA256(reinterpret_cast<const uint8_t*>(all.data()), all.size(), d);
  return "bulk-" + tpm::ToHex(Bytes(d, d + 8));
}

// '{a,b,c}': elements are UUIDs, hex or integers (no quoting needed).
template <typename F>
std::string ArrayLiteral(const std::vector<BulkAgent>& agents, F field) {
  std::string s = "{";
  for (size_t i = 0; i < agents.size(); ++i) {
    if (i) s += ',';
    s += field(agents[i]);
  }
  return s + "}";
}

// One element of "agents" (`at` names it in errors): UUID, EK (its own or
// `default_ek`), AK checked as an attestation key, name and partition.
Result<BulkAgent> ParseBulkAgent(const nlohmann::json& a, const std::string& at,
                                 const std::string& default_ek, int evidence_partitions) {
  BulkAgent b;
  auto uuid = CanonicalUuid(a["uuid"].get<std::string>());
  if (!uuid) return Bad(at + ".uuid: " + uuid.error().message);
  b.uuid = *uuid;
  if (a.contains("ek_public")) {
    if (!a["ek_public"].is_string()) return Bad(at + ".ek_public: expected hex");
    ATTEST_ASSIGN_OR_RETURN(b.ek_hex,
                            CheckEk(a["ek_public"].get<std::string>(), at + ".ek_public"));
  } else if (default_ek.empty()) {
    return Bad(at + ": no ek_public (and no default ek_public)");
  } else {
    b.ek_hex = default_ek;
  }
  Bytes ak;
  ATTEST_ASSIGN_OR_RETURN(ak, FromHex(a["ak_public"].get<std::string>(), at + ".ak_public"));
  auto pub = tpm::ParsePublic(ak);
  if (!pub) return Bad(at + ".ak_public: " + pub.error().message);
  if (auto c = tpm::CheckAttestationKeyAttributes(pub->publicArea); !c) {
    return Bad(at + ".ak_public: " + c.error().message);
  }
  if (auto k = tpm::PublicToEvpPkey(pub->publicArea); !k) {
    return Bad(at + ".ak_public: " + k.error().message);
  }
  auto name = credential::ObjectName(ak);
  if (!name) return Bad(at + ".ak_public: " + name.error().message);
  b.ak_hex = tpm::ToHex(ak);
  b.name_hex = tpm::ToHex(*name);
  b.partition = kafka::PartitionFor(b.uuid, evidence_partitions);
  return b;
}

}  // namespace

Result<BulkInput> ParseBulkRequest(std::string_view body, int evidence_partitions) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Bad("body: not a JSON object");
  BulkInput in;
  auto str = [&](const char* key) -> Result<std::string> {
    if (!j.contains(key)) return std::string();
    if (!j[key].is_string()) return Bad(std::string(key) + ": expected a string");
    return j[key].get<std::string>();
  };
  std::string default_ek;
  ATTEST_ASSIGN_OR_RETURN(default_ek, str("ek_public"));
  if (!default_ek.empty()) ATTEST_ASSIGN_OR_RETURN(default_ek, CheckEk(default_ek, "ek_public"));
  ATTEST_ASSIGN_OR_RETURN(in.runtime_policy, str("runtime_policy"));
  ATTEST_ASSIGN_OR_RETURN(in.pcr_policy, str("pcr_policy"));
  ATTEST_ASSIGN_OR_RETURN(in.policy_name, str("policy_name"));
  if (!in.runtime_policy.empty()) {
    ATTEST_RETURN_IF_ERROR(ValidatePolicy(v1::POLICY_KIND_RUNTIME, in.runtime_policy));
  }
  if (!in.pcr_policy.empty()) {
    ATTEST_RETURN_IF_ERROR(ValidatePolicy(v1::POLICY_KIND_PCR, in.pcr_policy));
  }
  if (j.contains("interval_seconds")) {
    if (!j["interval_seconds"].is_number_unsigned() || j["interval_seconds"] < 1 ||
        j["interval_seconds"] > 86400) {
      return Bad("interval_seconds: expected 1..86400");
    }
    in.interval_seconds = j["interval_seconds"].get<uint32_t>();
  }
  if (j.contains("grace_factor")) {
    if (!j["grace_factor"].is_number() || !(j["grace_factor"] >= 1 && j["grace_factor"] <= 1000)) {
      return Bad("grace_factor: expected 1..1000");
    }
    in.grace_factor = j["grace_factor"].get<double>();
  }
  if (!in.policy_name.empty()) {
    if (in.policy_name.size() > 100) return Bad("policy_name: at most 100 characters");
    for (char c : in.policy_name) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
        return Bad("policy_name: only letters, digits, '-', '_' and '.'");
      }
    }
  }
  if (!j.contains("agents") || !j["agents"].is_array() || j["agents"].empty() ||
      j["agents"].size() > kBulkMaxAgents) {
    return Bad("agents: expected an array of 1.." + std::to_string(kBulkMaxAgents) + " agents");
  }
  in.agents.reserve(j["agents"].size());
  size_t i = 0;
  for (const auto& a : j["agents"]) {
    const std::string at = "agents[" + std::to_string(i++) + "]";
    if (!a.is_object() || !a.contains("uuid") || !a["uuid"].is_string() ||
        !a.contains("ak_public") || !a["ak_public"].is_string()) {
      return Bad(at + ": expected {\"uuid\", \"ak_public\"}");
    }
    BulkAgent b;
    ATTEST_ASSIGN_OR_RETURN(b, ParseBulkAgent(a, at, default_ek, evidence_partitions));
    in.agents.push_back(std::move(b));
  }
  if (in.policy_name.empty()) in.policy_name = DefaultName(in);
  return in;
}

Result<BulkOutcome> BulkEnrol(db::Connection& conn, const BulkInput& in) {
  return conn.Transact("bulk enrolment", [&](pqxx::work& tx) {
    BulkOutcome out;
    // A shared policy: version 1 of `name` when absent; the latest version
    // when its body is the same; else a new version.
    auto policy = [&](const char* kind, const std::string& body) -> int64_t {
      if (body.empty()) return 0;
      // Concurrent bulk requests with the same policy: one inserts it, the
      // others wait here and then find it.
      tx.exec_params("SELECT pg_advisory_xact_lock(hashtext($1))",
                     std::string("attest-bulk-policy:") + kind + ":" + in.policy_name);
      auto same = tx.exec_params(
          "SELECT policy_id FROM policies WHERE kind = $1::policy_kind AND name = $2 "
          "AND agent_id IS NULL AND body = $3::jsonb ORDER BY version DESC LIMIT 1",
          kind, in.policy_name, body);
      if (!same.empty()) return same[0][0].as<int64_t>();
      return tx
          .exec_params1(
              "INSERT INTO policies (kind, name, version, body, created_by) "
              "SELECT $1::policy_kind, $2, coalesce(max(version), 0) + 1, $3::jsonb, "
              "NULLIF($4, '') FROM policies WHERE kind = $1::policy_kind AND name = $2 "
              "RETURNING policy_id",
              kind, in.policy_name, body, in.actor)[0]
          .as<int64_t>();
    };
    out.runtime_policy_id = policy("runtime", in.runtime_policy);
    out.pcr_policy_id = policy("pcr", in.pcr_policy);
    auto r = tx.exec_params(
        "WITH t AS (SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], "
        "    $5::int[]) AS t(u, ek, ak, nm, p)), "
        "r AS (INSERT INTO registrations (agent_id, ek_public, ak_public, ak_name, state, "
        "    activated_at) "
        "  SELECT u, decode(ek, 'hex'), decode(ak, 'hex'), decode(nm, 'hex'), 'active', now() "
        "  FROM t ON CONFLICT (agent_id) DO NOTHING RETURNING agent_id) "
        "INSERT INTO enrolments (agent_id, pcr_policy_id, runtime_policy_id, interval_seconds, "
        "  grace_factor, partition) "
        "SELECT t.u, NULLIF($6::bigint, 0), NULLIF($7::bigint, 0), $8::int, $9::numeric, t.p "
        "FROM t JOIN r ON r.agent_id = t.u",
        ArrayLiteral(in.agents, [](const BulkAgent& a) { return a.uuid; }),
        ArrayLiteral(in.agents, [](const BulkAgent& a) { return a.ek_hex; }),
        ArrayLiteral(in.agents, [](const BulkAgent& a) { return a.ak_hex; }),
        ArrayLiteral(in.agents, [](const BulkAgent& a) { return a.name_hex; }),
        ArrayLiteral(in.agents, [](const BulkAgent& a) { return std::to_string(a.partition); }),
        out.pcr_policy_id, out.runtime_policy_id, static_cast<int>(in.interval_seconds),
        in.grace_factor);
    out.enrolled = static_cast<int64_t>(r.affected_rows());
    out.existing = static_cast<int64_t>(in.agents.size()) - out.enrolled;
    return out;
  });
}

std::string BulkOutcomeJson(const BulkOutcome& out) {
  nlohmann::json j = {{"enrolled", out.enrolled},
                      {"existing", out.existing},
                      {"runtime_policy_id", out.runtime_policy_id},
                      {"pcr_policy_id", out.pcr_policy_id}};
  return j.dump();
}

}  // namespace attest::registrar
