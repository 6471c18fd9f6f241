#include "agent/binding.h"

#include <cstdio>

#include "common/protoconv/hash_alg.h"
#include "common/token/token.h"

namespace attest::agent {
namespace {

std::string ToHexMask(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%x", v);
  return buf;
}

}  // namespace

std::optional<std::string> SelectionMismatch(const v1::Challenge& challenge) {
  auto fields = token::Parse(challenge.token());
  if (!fields || !fields->binding) return std::nullopt;
  const token::Binding& bound = *fields->binding;
  uint32_t mask = 0;
  bool other_bank = false;
  for (const auto& sel : challenge.pcr_selection()) {
    if (protoconv::TpmHashAlg(sel.hash_algorithm()) != bound.pcr_bank) {
      other_bank = other_bank || sel.pcrs_size() > 0;
      continue;
    }
    for (uint32_t pcr : sel.pcrs()) mask |= pcr < 24 ? 1u << pcr : 0;
  }
  if (!other_bank && mask == bound.pcr_mask) return std::nullopt;
  return "the challenge asks for PCR mask 0x" + ToHexMask(mask) +
         (other_bank ? " (and another bank)" : "") + " but its token binds mask 0x" +
         ToHexMask(bound.pcr_mask) + " of bank 0x" + ToHexMask(bound.pcr_bank);
}

bool UefiLogAsked(const v1::Challenge& challenge) {
  if (challenge.uefi_log_requested()) return true;
  auto fields = token::Parse(challenge.token());
  return fields && fields->binding && fields->binding->uefi_log_requested;
}

}  // namespace attest::agent
