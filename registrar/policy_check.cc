#include "registrar/policy_check.h"

#include <nlohmann/json.hpp>

#include "common/checks/pcr_policy.h"
#include "common/eventlog/policy.h"
#include "common/ima/policy.h"
#include "registrar/errors.h"

namespace attest::registrar {

Result<void> ValidatePolicy(v1::PolicyKind kind, std::string_view body) {
  // Stored as jsonb objects (policies.body CHECK); the parsers check the rest.
  auto j = nlohmann::json::parse(body, nullptr, false);
  const char* name = kind == v1::POLICY_KIND_PCR             ? "PCR policy"
                     : kind == v1::POLICY_KIND_RUNTIME       ? "runtime policy"
                     : kind == v1::POLICY_KIND_MEASURED_BOOT ? "measured-boot policy"
                                                             : nullptr;
  if (!name) return MakeError(errc::bad_request, "policy kind is not specified");
  if (j.is_discarded() || !j.is_object()) {
    return MakeError(errc::bad_request, std::string(name) + ": not a JSON object");
  }
  switch (kind) {
    case v1::POLICY_KIND_PCR:
      if (auto r = checks::ParsePcrPolicy(body); !r) {
        return MakeError(errc::bad_request, std::string(name) + ": " + r.error().ToString());
      }
      break;
    case v1::POLICY_KIND_RUNTIME:
      if (auto r = ima::RuntimePolicy::Parse(body); !r) {
        return MakeError(errc::bad_request, std::string(name) + ": " + r.error().ToString());
      }
      break;
    case v1::POLICY_KIND_MEASURED_BOOT:
      if (auto r = eventlog::ParseReferenceState(body); !r) {
        return MakeError(errc::bad_request, std::string(name) + ": " + r.error().ToString());
      }
      break;
    default:
      break;
  }
  return Ok();
}

}  // namespace attest::registrar
