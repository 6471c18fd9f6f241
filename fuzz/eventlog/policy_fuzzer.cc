// libFuzzer target: the measured-boot reference-state JSON parser. Anything
// it accepts must serialize and parse back to the same document.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/eventlog/policy.h"

using namespace attest::eventlog;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto ref = ParseReferenceState(std::string_view(reinterpret_cast<const char*>(data), size));
  if (!ref) return 0;
  std::string text = SerializeReferenceState(*ref);
  auto again = ParseReferenceState(text);
  if (!again || SerializeReferenceState(*again) != text) std::abort();
  return 0;
}
