// Fuzzes the runtime-policy parser (JSON and legacy allowlist), the exclude
// matcher and the verification-keys loader.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/ima/keyring.h"
#include "common/ima/policy.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attest::ima;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto policy = RuntimePolicy::Parse(in);
  if (policy) {
    (void)policy->Excluded("/usr/bin/bash");
    (void)policy->Excluded(in.substr(0, 256));
    (void)policy->FindDigests("boot_aggregate");
    Keyring keys;
    (void)keys.AddVerificationKeys(policy->verification_keys());
    auto again = RuntimePolicy::Parse(policy->ToJson());
    if (!again) __builtin_trap();
  }
  (void)RuntimePolicy::FromAllowlist(in);
  (void)KeyFromData({data, size});
  return 0;
}
