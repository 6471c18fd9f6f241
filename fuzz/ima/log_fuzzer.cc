// Fuzzes the IMA list parsers (ascii and binary) and the replay/check of
// whatever parses, including ima-sig signature and ima-buf key handling.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "common/ima/replay.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace attest::ima;
  std::string_view in(reinterpret_cast<const char*>(data), size);
  Limits limits;
  limits.max_entries = 10'000;
  for (auto parsed : {Parse(in, std::nullopt, limits), ParseBinary(in, HashAlg::kSha256, limits)}) {
    if (!parsed) continue;
    RuntimePolicy policy = GeneratePolicy(*parsed);
    Keyring keys;
    ReplayOptions opt;
    opt.policy = &policy;
    opt.keys = &keys;
    const HashAlg banks[] = {HashAlg::kSha1, HashAlg::kSha256};
    ReplayState st = ReplayState::Initial(banks);
    (void)Replay(st, parsed->entries, opt);
    // Round trips must parse again.
    std::string bin = WriteBinary(*parsed);
    if (!ParseBinary(bin, parsed->template_hash_alg, limits)) __builtin_trap();
  }
  return 0;
}
