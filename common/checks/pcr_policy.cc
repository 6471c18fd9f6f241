#include "common/checks/pcr_policy.h"

#include <nlohmann/json.hpp>
#include <string>

#include "common/checks/failure_ids.h"

namespace attest::checks {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.verify.pcr_policy"; }
  std::string message(int c) const override { return c == 0 ? "ok" : "invalid PCR policy"; }
};

Error Invalid(const std::string& what) {
  return MakeError(pcr_policy_errc::invalid_policy, "PCR policy: " + what);
}

}  // namespace

const std::error_category& pcr_policy_category() {
  static const Category instance;
  return instance;
}

Result<PcrPolicy> ParsePcrPolicy(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return Invalid("not a JSON object");
  PcrPolicy policy;
  for (const auto& [bank_name, pcrs] : j.items()) {
    auto bank = tpm::HashAlgFromName(bank_name);
    if (!bank) return Invalid("unknown bank \"" + bank_name + "\"");
    if (!pcrs.is_object()) return Invalid(bank_name + ": not an object of PCRs");
    const size_t size = tpm::HashAlgDigestSize(*bank);
    for (const auto& [index, digests] : pcrs.items()) {
      if (index.empty() || index.size() > 2 ||
          index.find_first_not_of("0123456789") != std::string::npos || std::stoul(index) > 23) {
        return Invalid(bank_name + ": PCR \"" + index + "\" is not 0..23");
      }
      if (!digests.is_array() || digests.empty()) {
        return Invalid(bank_name + ":" + index + ": needs a non-empty array of hex digests");
      }
      auto& allowed = policy.allowed[*bank][static_cast<uint32_t>(std::stoul(index))];
      for (const auto& d : digests) {
        auto bytes = d.is_string() ? tpm::FromHex(d.get<std::string>()) : std::nullopt;
        if (!bytes || bytes->size() != size) {
          return Invalid(bank_name + ":" + index + ": " + d.dump() + " is not a " +
                         std::to_string(size) + "-byte hex digest");
        }
        allowed.insert(std::move(*bytes));
      }
    }
  }
  return policy;
}

Failures CheckPcrPolicy(const PcrPolicy& policy, const tpm::PcrValues& values) {
  Failures out;
  for (const auto& [bank, pcrs] : policy.allowed) {
    auto have = values.find(bank);
    for (const auto& [pcr, allowed] : pcrs) {
      const std::string n = std::to_string(pcr);
      const tpm::Bytes* v = nullptr;
      if (have != values.end()) {
        auto it = have->second.find(pcr);
        if (it != have->second.end()) v = &it->second;
      }
      if (v == nullptr) {
        out.push_back({failure_id::kPcrMissingPrefix + n, Severity::kCritical,
                       Context{{"message", "PCR in the policy is not in the quote"},
                               {"bank", tpm::HashAlgName(bank)},
                               {"pcr", pcr}}});
        continue;
      }
      if (!allowed.contains(*v)) {
        std::vector<std::string> expected;
        for (const auto& a : allowed) expected.push_back(tpm::ToHex(a));
        out.push_back({failure_id::kPcrInvalidPrefix + n, Severity::kCritical,
                       Context{{"message", "PCR value not allowed by the policy"},
                               {"bank", tpm::HashAlgName(bank)},
                               {"pcr", pcr},
                               {"expected", std::move(expected)},
                               {"actual", tpm::ToHex(*v)}}});
      }
    }
  }
  return out;
}

}  // namespace attest::checks
